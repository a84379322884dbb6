//! How much privilege a container can get on this host.
//!
//! `--privileged` asks Docker for every capability; on a host whose capability bounding set
//! lacks one (e.g. CAP_SYS_RESOURCE inside some VMs and nested containers) the start fails with
//! "unable to apply caps". kubeup reads the bounding set first and, where it is reduced, asks
//! for everything the host can grant instead: all capabilities but the missing ones, seccomp and
//! AppArmor unconfined, all devices. It says which it chose.

use bollard::models::HostConfig;

/// Linux capability names by number (`include/uapi/linux/capability.h`).
pub const CAP_NAMES: [&str; 41] = [
    "CHOWN",
    "DAC_OVERRIDE",
    "DAC_READ_SEARCH",
    "FOWNER",
    "FSETID",
    "KILL",
    "SETGID",
    "SETUID",
    "SETPCAP",
    "LINUX_IMMUTABLE",
    "NET_BIND_SERVICE",
    "NET_BROADCAST",
    "NET_ADMIN",
    "NET_RAW",
    "IPC_LOCK",
    "IPC_OWNER",
    "SYS_MODULE",
    "SYS_RAWIO",
    "SYS_CHROOT",
    "SYS_PTRACE",
    "SYS_PACCT",
    "SYS_ADMIN",
    "SYS_BOOT",
    "SYS_NICE",
    "SYS_RESOURCE",
    "SYS_TIME",
    "SYS_TTY_CONFIG",
    "MKNOD",
    "LEASE",
    "AUDIT_WRITE",
    "AUDIT_CONTROL",
    "SETFCAP",
    "MAC_OVERRIDE",
    "MAC_ADMIN",
    "SYSLOG",
    "WAKE_ALARM",
    "BLOCK_SUSPEND",
    "AUDIT_READ",
    "PERFMON",
    "BPF",
    "CHECKPOINT_RESTORE",
];

/// The highest capability number every supported Docker (API 1.41) knows: CAP_AUDIT_READ.
pub const DOCKER_KNOWN_LAST_CAP: u32 = 37;

/// The privilege a container gets.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
#[serde(tag = "mode", rename_all = "kebab-case")]
pub enum Privileges {
    /// `--privileged`.
    Full,
    /// Everything but the capabilities missing from the host's bounding set.
    Reduced {
        /// Capability names (without `CAP_`) the host cannot grant.
        missing: Vec<String>,
    },
}

impl Privileges {
    /// Decide from `/proc/self/status` (`CapBnd`) and `/proc/sys/kernel/cap_last_cap`.
    pub fn from_proc(status: &str, cap_last_cap: &str) -> Privileges {
        let bnd = status.lines().find_map(|l| l.strip_prefix("CapBnd:")).and_then(|v| u64::from_str_radix(v.trim(), 16).ok());
        let last: u32 = cap_last_cap.trim().parse().unwrap_or(40);
        let Some(bnd) = bnd else { return Privileges::Full };
        // Capabilities newer than CAP_AUDIT_READ (37) are unknown to Docker 20.10, which refuses
        // to drop what it does not know and never grants them anyway.
        let missing: Vec<String> = (0..=last.min(DOCKER_KNOWN_LAST_CAP))
            .filter(|c| bnd & (1u64 << c) == 0)
            .map(|c| CAP_NAMES.get(c as usize).map(|n| n.to_string()).unwrap_or(format!("CAP_{c}")))
            .collect();
        if missing.is_empty() {
            Privileges::Full
        } else {
            Privileges::Reduced { missing }
        }
    }

    /// Read this process's view (run where Docker runs, or with `--pid=host` next to it).
    pub fn detect(proc_dir: &std::path::Path) -> Privileges {
        let status = std::fs::read_to_string(proc_dir.join("self/status")).unwrap_or_default();
        let last = std::fs::read_to_string(proc_dir.join("sys/kernel/cap_last_cap")).unwrap_or_default();
        Privileges::from_proc(&status, &last)
    }

    /// Set the host config's privilege fields.
    pub fn apply(&self, host: &mut HostConfig) {
        match self {
            Privileges::Full => host.privileged = Some(true),
            Privileges::Reduced { missing } => {
                host.privileged = Some(false);
                host.cap_add = Some(vec!["ALL".into()]);
                host.cap_drop = Some(missing.clone());
                host.security_opt = Some(vec!["seccomp=unconfined".into(), "apparmor=unconfined".into(), "label=disable".into()]);
                host.device_cgroup_rules = Some(vec!["a *:* rwm".into()]);
            }
        }
    }

    /// One sentence for the output.
    pub fn describe(&self) -> String {
        match self {
            Privileges::Full => "privileged".into(),
            Privileges::Reduced { missing } => format!(
                "not --privileged: this host's capability bounding set lacks {}; granted every other capability, seccomp and AppArmor unconfined, all devices",
                missing.iter().map(|c| format!("CAP_{c}")).collect::<Vec<_>>().join(", ")
            ),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn full_and_reduced_bounding_sets() {
        assert_eq!(Privileges::from_proc("CapBnd:\t000001ffffffffff\n", "40"), Privileges::Full);
        // CAP_SYS_RESOURCE (24) missing, as on this machine.
        let p = Privileges::from_proc("CapBnd:\t000001fffeffffff\n", "40");
        assert_eq!(p, Privileges::Reduced { missing: vec!["SYS_RESOURCE".into()] });
        let mut h = HostConfig::default();
        p.apply(&mut h);
        assert_eq!(h.privileged, Some(false));
        assert_eq!(h.cap_drop, Some(vec!["SYS_RESOURCE".to_string()]));
        assert!(p.describe().contains("CAP_SYS_RESOURCE"));
    }
}
