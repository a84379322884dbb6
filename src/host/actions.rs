//! EDGE: carrying out a [`HostAction`] with the host's own tools, check first, change only what
//! differs, each command an argument vector.

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
    }
}
