//! EDGE: running a command in the host's namespaces.
//!
//! A few steps must happen on the host itself, not in kubeup's container: changing mount
//! propagation, `systemctl`, `modprobe`, `sysctl --system`. kubeup enters the mount, UTS, IPC
//! and network namespaces of a target process (the host's PID 1 by default, `--host-pid` to
//! choose another) in the forked child of `std::process::Command`, just before `exec`.
//!
//! Why there: `setns(CLONE_NEWNS)` fails with EINVAL in a multi-threaded process (tokio's
//! runtime), but the child between `fork` and `exec` is single-threaded. The namespace files
//! are opened in the parent; the child only makes raw `setns` calls (async-signal-safe).
//! Where entering is not permitted, kubeup falls back to `chroot` into the host root, which
//! reaches the host's binaries and kernel-wide settings but not its mount table, and says so.

use std::fs::File;
use std::os::fd::{AsRawFd, OwnedFd};
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::Command;

/// PATH for host commands (the installer image itself has none).
const HOST_PATH: &str = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";

/// How host commands are run.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum HostExec {
    /// Enter the namespaces of this process.
    Nsenter {
        /// Target PID (as seen by kubeup).
        pid: u32,
        /// /proc directory to find it in.
        proc_dir: PathBuf,
    },
    /// chroot into the host root (mounts made there stay in kubeup's own mount namespace).
    Chroot {
        /// The host root.
        root: PathBuf,
    },
}

/// The result of a host command.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ExecOutput {
    /// Exit status (or -1 if killed).
    pub code: i32,
    /// stdout + stderr.
    pub output: String,
}

const NAMESPACES: [(&str, nix::sched::CloneFlags); 4] = [
    ("mnt", nix::sched::CloneFlags::CLONE_NEWNS),
    ("uts", nix::sched::CloneFlags::CLONE_NEWUTS),
    ("ipc", nix::sched::CloneFlags::CLONE_NEWIPC),
    ("net", nix::sched::CloneFlags::CLONE_NEWNET),
];

impl HostExec {
    /// Choose: enter `pid`'s namespaces if its namespace files can be opened, else chroot.
    pub fn choose(pid: u32, proc_dir: &Path, root: &Path) -> HostExec {
        if File::open(proc_dir.join(format!("{pid}/ns/mnt"))).is_ok() {
            HostExec::Nsenter { pid, proc_dir: proc_dir.to_path_buf() }
        } else {
            HostExec::Chroot { root: root.to_path_buf() }
        }
    }

    /// One sentence saying how host commands run.
    pub fn describe(&self) -> String {
        match self {
            HostExec::Nsenter { pid, .. } => format!("host commands run in the namespaces of process {pid} (nsenter)"),
            HostExec::Chroot { root } => format!("host commands run chrooted into {} (the host's namespaces cannot be entered)", root.display()),
        }
    }

    /// Run `sh -c <script>` on the host.
    pub fn run(&self, script: &str) -> std::io::Result<ExecOutput> {
        let mut cmd = Command::new("/bin/sh");
        cmd.args(["-c", script]).env_clear().env("PATH", HOST_PATH).env("LC_ALL", "C");
        match self {
            HostExec::Nsenter { pid, proc_dir } => {
                let fds: Vec<(OwnedFd, nix::sched::CloneFlags)> = NAMESPACES
                    .iter()
                    .map(|(name, flag)| File::open(proc_dir.join(format!("{pid}/ns/{name}"))).map(|f| (OwnedFd::from(f), *flag)))
                    .collect::<std::io::Result<_>>()?;
                let raw: Vec<(i32, i32)> = fds.iter().map(|(fd, flag)| (fd.as_raw_fd(), flag.bits())).collect();
                // SAFETY: runs in the forked child before exec; only raw setns syscalls, no
                // allocation or locks. The fds stay open in the parent until spawn returns.
                unsafe {
                    cmd.pre_exec(move || {
                        for (fd, flag) in &raw {
                            if nix::libc::setns(*fd, *flag) != 0 {
                                return Err(std::io::Error::last_os_error());
                            }
                        }
                        Ok(())
                    });
                }
                let out = cmd.output();
                drop(fds);
                out.map(into_output)
            }
            HostExec::Chroot { root } => {
                let root = root.clone();
                // SAFETY: chroot and chdir are raw syscalls, safe between fork and exec.
                unsafe {
                    cmd.pre_exec(move || {
                        std::os::unix::fs::chroot(&root)?;
                        std::env::set_current_dir("/")
                    });
                }
                cmd.output().map(into_output)
            }
        }
    }
}

fn into_output(o: std::process::Output) -> ExecOutput {
    ExecOutput {
        code: o.status.code().unwrap_or(-1),
        output: format!("{}{}", String::from_utf8_lossy(&o.stdout), String::from_utf8_lossy(&o.stderr)).trim().to_string(),
    }
}
