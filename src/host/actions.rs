//! EDGE: carrying out a [`HostAction`] with the host's own tools, check first, change only what
//! differs, each command an argument vector.

use std::time::{Duration, Instant};

use crate::host::exec::{HostExec, NOT_FOUND};
use crate::plan::HostAction;

/// Why a host action failed.
#[derive(Debug, thiserror::Error)]
pub enum ActionError {
    /// The command could not be started.
    #[error("cannot run `{command}` on the host: {source}")]
    Spawn {
        /// The command.
        command: String,
        /// Why.
        #[source]
        source: std::io::Error,
    },
    /// The command failed.
    #[error("`{command}` failed on the host (exit {code}){}", if .output.is_empty() { String::new() } else { format!(": {}", .output) })]
    Failed {
        /// The command.
        command: String,
        /// Exit code.
        code: i32,
        /// What it printed.
        output: String,
    },
}

fn line(argv: &[&str]) -> String {
    argv.join(" ")
}

fn run(exec: &HostExec, argv: &[&str]) -> Result<crate::host::exec::ExecOutput, ActionError> {
    exec.run(argv).map_err(|source| ActionError::Spawn { command: line(argv), source })
}

fn must(exec: &HostExec, argv: &[&str]) -> Result<(), ActionError> {
    let o = run(exec, argv)?;
    if o.ok() {
        Ok(())
    } else {
        let output = if o.code == NOT_FOUND { format!("{} is not installed on the host", argv[0]) } else { o.output };
        Err(ActionError::Failed { command: line(argv), code: o.code, output })
    }
}

/// Do the action; returns what was done, for people.
pub fn apply(exec: &HostExec, action: &HostAction) -> Result<String, ActionError> {
    match action {
        HostAction::LoadModule { name, loaded_when } => {
            if run(exec, &["test", "-e", loaded_when])?.ok() {
                return Ok(format!("module {name} already available"));
            }
            must(exec, &["modprobe", name])?;
            Ok(format!("module {name} loaded"))
        }
        HostAction::Sysctl { key, value } => {
            let now = run(exec, &["sysctl", "-n", key])?;
            if now.ok() && now.output.trim() == value {
                return Ok(format!("{key} already {value}"));
            }
            must(exec, &["sysctl", "-q", "-w", &format!("{key}={value}")])?;
            Ok(format!("{key} set to {value}"))
        }
        HostAction::SharedMount { dir } => {
            let mounted = run(exec, &["mountpoint", "-q", dir])?.ok();
            if !mounted {
                must(exec, &["mount", "--bind", dir, dir])?;
            }
            must(exec, &["mount", "--make-rshared", dir])?;
            Ok(format!("{dir} is a shared mount{}", if mounted { "" } else { " (bound onto itself)" }))
        }
        HostAction::EnableUnit { unit, restart } => {
            must(exec, &["systemctl", "daemon-reload"])?;
            must(exec, &["systemctl", "enable", unit])?;
            if *restart {
                must(exec, &["systemctl", "restart", unit])?;
            }
            Ok(format!("systemd unit {unit} enabled{}", if *restart { " and (re)started" } else { "" }))
        }
        HostAction::DisableUnit { unit } => {
            must(exec, &["systemctl", "disable", "--now", unit])?;
            Ok(format!("systemd unit {unit} stopped and disabled"))
        }
        HostAction::Unmount { mount_point } => {
            if run(exec, &["umount", mount_point])?.ok() {
                return Ok(format!("unmounted {mount_point}"));
            }
            must(exec, &["umount", "-l", mount_point])?;
            Ok(format!("unmounted {mount_point} (lazily: it was busy)"))
        }
        // kubeadm's reset warns and goes on when the runtime's pods cannot be removed.
        HostAction::RemovePods { socket } => Ok(remove_pods(exec, socket).unwrap_or_else(|e| format!("warning: the pods of {socket} were not removed: {e}"))),
        HostAction::RestartContainer { socket, namespace, name } => crate::host::cri::restart(exec, socket, namespace, name, Duration::from_secs(120)),
        HostAction::RemoveBridgeNetwork => {
            use crate::objects::pod_network::{BRIDGE_DEVICE, ROUTE_PROTO};
            // Either may already be gone; only a failure to run `ip` at all is an error.
            run(exec, &["ip", "link", "del", BRIDGE_DEVICE])?;
            run(exec, &["ip", "route", "flush", "proto", &ROUTE_PROTO.to_string()])?;
            Ok(format!("the bridge network's bridge {BRIDGE_DEVICE} and its routes (protocol {ROUTE_PROTO:#x}) removed"))
        }
    }
}

/// How long reset waits for the CRI runtime to report no running container.
const PODS_GONE: Duration = Duration::from_secs(20);

/// Remove every pod of the CRI runtime at `socket` with the host's crictl, or ctr where crictl
/// is missing, then wait until no container runs: nothing may write to the host any more when
/// reset starts removing files.
fn remove_pods(exec: &HostExec, socket: &str) -> Result<String, ActionError> {
    let endpoint = format!("unix://{socket}");
    let t = Duration::from_secs(60);
    let timed = |argv: &[&str]| exec.run_timeout(argv, t).map_err(|source| ActionError::Spawn { command: line(argv), source });
    let crictl = ["crictl", "--runtime-endpoint", endpoint.as_str(), "--timeout", "10s", "rmp", "-fa"];
    let o = timed(&crictl)?;
    let via = if o.ok() {
        "crictl"
    } else if o.code != NOT_FOUND {
        return Err(ActionError::Failed { command: line(&crictl), code: o.code, output: o.output });
    } else if !socket.contains("containerd") {
        return Err(ActionError::Failed { command: line(&crictl), code: o.code, output: "crictl is not installed on the host".into() });
    } else {
        let ctr = |args: &[&str]| {
            let mut argv = vec!["ctr", "--address", socket, "-n", "k8s.io"];
            argv.extend_from_slice(args);
            timed(&argv)
        };
        let ids = ctr(&["containers", "ls", "-q"])?;
        if !ids.ok() {
            let output = if ids.code == NOT_FOUND { "neither crictl nor ctr is installed on the host".into() } else { ids.output };
            return Err(ActionError::Failed { command: format!("ctr --address {socket} -n k8s.io containers ls -q"), code: ids.code, output });
        }
        for id in ids.output.split_whitespace() {
            let _ = ctr(&["tasks", "kill", "-s", "SIGKILL", id]);
            let _ = ctr(&["tasks", "rm", "-f", id]);
            let _ = ctr(&["containers", "rm", id]);
        }
        "ctr"
    };
    let started = Instant::now();
    loop {
        let running = if via == "crictl" {
            run(exec, &["crictl", "--runtime-endpoint", &endpoint, "--timeout", "5s", "ps", "-q"])?
        } else {
            run(exec, &["ctr", "--address", socket, "-n", "k8s.io", "tasks", "ls", "-q"])?
        };
        if running.ok() && running.output.trim().is_empty() {
            return Ok(format!("pods in the CRI runtime at {socket} removed ({via})"));
        }
        if started.elapsed() >= PODS_GONE {
            return Err(ActionError::Failed {
                command: format!("{via} (remove every pod at {socket})"),
                code: running.code,
                output: format!("containers still ran after {} s", PODS_GONE.as_secs()),
            });
        }
        std::thread::sleep(Duration::from_millis(250));
    }
}
