//! EDGE: running a command in the host's namespaces.
//!
//! A few steps must happen on the host itself, not in kubeup's container: changing mount
//! propagation, `systemctl`, `modprobe`, `sysctl`, `ctr`. kubeup enters the mount, UTS, IPC and
//! network namespaces of a target process (the host's PID 1 by default, `--host-pid` to choose
//! another) in the forked child of `std::process::Command`, just before `exec`.
//!
//! Why there: `setns(CLONE_NEWNS)` fails with EINVAL in a multi-threaded process (tokio's
//! runtime), but the child between `fork` and `exec` is single-threaded. Everything the child
//! needs (namespace fds, the chroot path as a C string) is prepared in the parent; the child only
//! makes raw syscalls, which allocate nothing and take no lock (a forked child of a
//! multi-threaded process must not). Where entering is not permitted, kubeup falls back to
//! `chroot` into the host root, which reaches the host's binaries and kernel-wide settings but
//! not its mount table, and says so.
//!
//! Commands are argument vectors: a path or an image name is one argument, never text spliced
//! into a shell script. They run as `/bin/sh -c 'exec "$@"' sh ARGV…` so the program is looked
//! up on the host's PATH after the namespaces were entered (exit 127: not installed).

use std::ffi::CString;
use std::fs::File;
use std::io::Read;
use std::os::fd::{AsRawFd, OwnedFd};
use std::os::unix::ffi::OsStrExt;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

/// PATH for host commands (the installer image itself has none).
const HOST_PATH: &str = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";

/// How long a host command may run unless the caller says otherwise.
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(120);

/// The exit code of a program the host does not have.
pub const NOT_FOUND: i32 = 127;

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

impl ExecOutput {
    /// Exit 0.
    pub fn ok(&self) -> bool {
        self.code == 0
    }
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

    /// Run `argv` on the host, with [`DEFAULT_TIMEOUT`].
    pub fn run<S: AsRef<str>>(&self, argv: &[S]) -> std::io::Result<ExecOutput> {
        self.run_timeout(argv, DEFAULT_TIMEOUT)
    }

    /// Run `argv` on the host; kill it after `timeout` (exit -1, said in the output).
    pub fn run_timeout<S: AsRef<str>>(&self, argv: &[S], timeout: Duration) -> std::io::Result<ExecOutput> {
        if argv.is_empty() {
            return Err(std::io::Error::new(std::io::ErrorKind::InvalidInput, "empty command"));
        }
        let mut cmd = Command::new("/bin/sh");
        cmd.args(["-c", "exec \"$@\"", "sh"]).args(argv.iter().map(|a| a.as_ref()));
        cmd.env_clear().env("PATH", HOST_PATH).env("LC_ALL", "C").stdin(Stdio::null()).stdout(Stdio::piped()).stderr(Stdio::piped());
        // Held until the child has been spawned (the child inherits the descriptors).
        let _keep: Vec<OwnedFd> = match self {
            HostExec::Nsenter { pid, proc_dir } => {
                let fds: Vec<(OwnedFd, nix::sched::CloneFlags)> = NAMESPACES
                    .iter()
                    .map(|(name, flag)| File::open(proc_dir.join(format!("{pid}/ns/{name}"))).map(|f| (OwnedFd::from(f), *flag)))
                    .collect::<std::io::Result<_>>()?;
                let raw: [(i32, i32); 4] = [
                    (fds[0].0.as_raw_fd(), fds[0].1.bits()),
                    (fds[1].0.as_raw_fd(), fds[1].1.bits()),
                    (fds[2].0.as_raw_fd(), fds[2].1.bits()),
                    (fds[3].0.as_raw_fd(), fds[3].1.bits()),
                ];
                // SAFETY: runs in the forked child before exec; only raw setns syscalls over a
                // fixed-size array copied into the closure: no allocation, no lock.
                unsafe {
                    cmd.pre_exec(move || {
                        for (fd, flag) in raw {
                            if nix::libc::setns(fd, flag) != 0 {
                                return Err(std::io::Error::last_os_error());
                            }
                        }
                        Ok(())
                    });
                }
                fds.into_iter().map(|(fd, _)| fd).collect()
            }
            HostExec::Chroot { root } => {
                let root = CString::new(root.as_os_str().as_bytes()).map_err(|e| std::io::Error::new(std::io::ErrorKind::InvalidInput, e))?;
                // SAFETY: chroot and chdir on C strings made in the parent: raw syscalls only.
                unsafe {
                    cmd.pre_exec(move || {
                        if nix::libc::chroot(root.as_ptr()) != 0 || nix::libc::chdir(c"/".as_ptr()) != 0 {
                            return Err(std::io::Error::last_os_error());
                        }
                        Ok(())
                    });
                }
                Vec::new()
            }
        };
        let mut child = cmd.spawn()?;
        let drain = |r: Option<Box<dyn Read + Send>>| {
            std::thread::spawn(move || {
                let mut buf = Vec::new();
                if let Some(mut r) = r {
                    let _ = r.read_to_end(&mut buf);
                }
                buf
            })
        };
        let out = drain(child.stdout.take().map(|s| Box::new(s) as Box<dyn Read + Send>));
        let err = drain(child.stderr.take().map(|s| Box::new(s) as Box<dyn Read + Send>));
        let started = Instant::now();
        let mut timed_out = false;
        let status = loop {
            if let Some(s) = child.try_wait()? {
                break s;
            }
            if started.elapsed() >= timeout {
                let _ = child.kill();
                timed_out = true;
                break child.wait()?;
            }
            std::thread::sleep(Duration::from_millis(20));
        };
        let mut text = String::from_utf8_lossy(&out.join().unwrap_or_default()).into_owned();
        text.push_str(&String::from_utf8_lossy(&err.join().unwrap_or_default()));
        if timed_out {
            text.push_str(&format!("\n(killed after {} s)", timeout.as_secs()));
        }
        Ok(ExecOutput { code: if timed_out { -1 } else { status.code().unwrap_or(-1) }, output: text.trim().to_string() })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn arguments_are_never_parsed_by_a_shell() {
        // Chroot into "/" needs CAP_SYS_CHROOT; where it is missing the test cannot run.
        let exec = HostExec::Chroot { root: PathBuf::from("/") };
        let tricky = "it's $(touch /tmp/kubeup-should-not-exist) `x` ; \\040 \"q\"";
        match exec.run(&["printf", "%s", tricky]) {
            Ok(o) => {
                assert_eq!(o.output, tricky);
                assert!(!Path::new("/tmp/kubeup-should-not-exist").exists());
            }
            Err(e) => eprintln!("skipped: {e}"),
        }
    }

    #[test]
    fn a_missing_program_and_a_timeout_are_told_apart() {
        let exec = HostExec::Chroot { root: PathBuf::from("/") };
        if let Ok(o) = exec.run(&["kubeup-no-such-program"]) {
            assert_eq!(o.code, NOT_FOUND);
            let o = exec.run_timeout(&["sleep", "5"], Duration::from_millis(200)).unwrap();
            assert_eq!(o.code, -1);
            assert!(o.output.contains("killed after"), "{}", o.output);
        }
    }
}
