//! What a plan asks of the host's own tools, as data. Each action is a few argument vectors
//! (never a shell script with paths spliced in); the executor runs them in the host's
//! namespaces and checks before it changes, so a re-run changes nothing.

use serde::Serialize;

/// One host action.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "kind", rename_all = "kebab-case")]
pub enum HostAction {
    /// `modprobe NAME` unless `loaded_when` exists (a module built in or already loaded).
    LoadModule {
        /// Module name.
        name: String,
        /// A path on the host that exists once the module is available.
        loaded_when: String,
    },
    /// `sysctl -w KEY=VALUE` unless `sysctl -n KEY` already prints VALUE.
    Sysctl {
        /// Key.
        key: String,
        /// Wanted value.
        value: String,
    },
    /// Make `dir` a mount point (a bind mount onto itself) if it is none, then rshared.
    SharedMount {
        /// The directory as the host sees it.
        dir: String,
    },
    /// `systemctl daemon-reload`, `systemctl enable UNIT`, and `systemctl restart UNIT` if asked.
    EnableUnit {
        /// Unit name.
        unit: String,
        /// Also (re)start it now.
        restart: bool,
    },
}

impl HostAction {
    /// The commands the action may run, in order, for printing (the executor skips the changes
    /// a check shows are not needed).
    pub fn commands(&self) -> Vec<Vec<String>> {
        let v = |a: &[&str]| a.iter().map(|s| s.to_string()).collect::<Vec<_>>();
        match self {
            HostAction::LoadModule { name, loaded_when } => vec![v(&["test", "-e", loaded_when]), v(&["modprobe", name])],
            HostAction::Sysctl { key, value } => vec![v(&["sysctl", "-n", key]), v(&["sysctl", "-q", "-w", &format!("{key}={value}")])],
            HostAction::SharedMount { dir } => vec![v(&["mountpoint", "-q", dir]), v(&["mount", "--bind", dir, dir]), v(&["mount", "--make-rshared", dir])],
            HostAction::EnableUnit { unit, restart } => {
                let mut c = vec![v(&["systemctl", "daemon-reload"]), v(&["systemctl", "enable", unit])];
                if *restart {
                    c.push(v(&["systemctl", "restart", unit]));
                }
                c
            }
        }
    }

    /// The commands as one line for people (each argument quoted only where needed).
    pub fn display(&self) -> String {
        self.commands().iter().map(|c| c.iter().map(|a| quote(a)).collect::<Vec<_>>().join(" ")).collect::<Vec<_>>().join("; ")
    }
}

fn quote(a: &str) -> String {
    if !a.is_empty() && a.bytes().all(|b| b.is_ascii_alphanumeric() || b"/._-=:,+@%".contains(&b)) {
        a.to_string()
    } else {
        format!("'{}'", a.replace('\'', r"'\''"))
    }
}
