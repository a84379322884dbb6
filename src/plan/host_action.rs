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
    /// `systemctl disable --now UNIT` (reset).
    DisableUnit {
        /// Unit name.
        unit: String,
    },
    /// `umount MOUNT_POINT`, lazily if it is busy (reset).
    Unmount {
        /// The mount point as the host sees it.
        mount_point: String,
    },
    /// Remove every pod of the CRI runtime at `socket` (crictl, or ctr where crictl is
    /// missing) and wait until no container runs (reset).
    RemovePods {
        /// The CRI socket as the host sees it.
        socket: String,
    },
    /// Stop the running container `name` of a pod in `namespace` through the CRI at `socket`
    /// (crictl, or ctr), and wait until the kubelet runs a new one (it then reads renewed files).
    RestartContainer {
        /// The CRI socket as the host sees it.
        socket: String,
        /// The pod's namespace.
        namespace: String,
        /// The container's name.
        name: String,
    },
    /// Remove the bridge network's bridge `kubeup0` and kubeup's routes (protocol 0x4b) (reset).
    RemoveBridgeNetwork,
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
            HostAction::DisableUnit { unit } => vec![v(&["systemctl", "disable", "--now", unit])],
            HostAction::Unmount { mount_point } => vec![v(&["umount", mount_point]), v(&["umount", "-l", mount_point])],
            HostAction::RemovePods { socket } => vec![
                v(&["crictl", "--runtime-endpoint", &format!("unix://{socket}"), "--timeout", "10s", "rmp", "-fa"]),
                v(&["ctr", "--address", socket, "-n", "k8s.io", "tasks", "kill", "-s", "SIGKILL", "<each container>"]),
            ],
            HostAction::RestartContainer { socket, namespace, name } => vec![
                v(&[
                    "crictl",
                    "--runtime-endpoint",
                    &format!("unix://{socket}"),
                    "ps",
                    "-q",
                    "--state",
                    "running",
                    "--namespace",
                    namespace,
                    "--name",
                    &format!("^{name}$"),
                ]),
                v(&["crictl", "--runtime-endpoint", &format!("unix://{socket}"), "stop", "--timeout", "30", "<each running container>"]),
            ],
            HostAction::RemoveBridgeNetwork => {
                use crate::objects::pod_network::{BRIDGE_DEVICE, ROUTE_PROTO};
                vec![v(&["ip", "link", "del", BRIDGE_DEVICE]), v(&["ip", "route", "flush", "proto", &ROUTE_PROTO.to_string()])]
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
