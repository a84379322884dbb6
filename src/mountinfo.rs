//! Mount propagation of a path, read from a process's `mountinfo` text.
//!
//! Pure: the text is read by the edges (`host::observe`, `reset`).
//!
//! The kubelet container mounts `/var/lib/kubelet` rshared; Docker refuses that (or volumes
//! silently never reach the host) unless the host path lies on a shared mount.

/// Propagation of the mount that holds a path.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MountPropagation {
    /// Mount point holding the path.
    pub mount_point: String,
    /// Whether it is shared (`shared:N` in the optional fields).
    pub shared: bool,
    /// Whether it receives propagation from a peer group (`master:N`).
    pub slave: bool,
}

/// Find the mount holding `path` (the longest mount-point prefix; the last one wins for
/// stacked mounts) in `mountinfo` text.
pub fn propagation_of(mountinfo: &str, path: &str) -> Option<MountPropagation> {
    let mut best: Option<MountPropagation> = None;
    for line in mountinfo.lines() {
        let fields: Vec<&str> = line.split(' ').collect();
        if fields.len() < 7 {
            continue;
        }
        let mp = unescape(fields[4]);
        let holds = path == mp || mp == "/" || path.starts_with(&format!("{}/", mp.trim_end_matches('/')));
        if !holds {
            continue;
        }
        let optional: Vec<&&str> = fields[6..].iter().take_while(|f| **f != "-").collect();
        let shared = optional.iter().any(|f| f.starts_with("shared:"));
        let slave = optional.iter().any(|f| f.starts_with("master:"));
        if best.as_ref().is_none_or(|b| mp.len() >= b.mount_point.len()) {
            best = Some(MountPropagation { mount_point: mp, shared, slave });
        }
    }
    best
}

/// The directory a bind mount at exactly `mount_point` shows (mountinfo's 4th field, the path
/// inside its file system): `/` for `-v /:/host`. The last mount there wins (stacked mounts).
pub fn bind_root_of(mountinfo: &str, mount_point: &str) -> Option<String> {
    mountinfo.lines().rev().find_map(|line| {
        let fields: Vec<&str> = line.split(' ').collect();
        (fields.len() >= 7 && unescape(fields[4]) == mount_point).then(|| unescape(fields[3]))
    })
}

/// mountinfo escapes space, tab, newline and backslash as octal.
pub fn unescape(s: &str) -> String {
    s.replace("\\040", " ").replace("\\011", "\t").replace("\\012", "\n").replace("\\134", "\\")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_source_directory_of_a_bind_mount() {
        let mi = "600 500 0:52 / / rw - overlay overlay rw\n\
                  601 600 0:52 / /host rw,relatime - overlay overlay rw\n\
                  602 600 8:1 /srv/scratch\\040root /scratch rw - ext4 /dev/sda1 rw\n";
        assert_eq!(bind_root_of(mi, "/host").as_deref(), Some("/"));
        assert_eq!(bind_root_of(mi, "/scratch").as_deref(), Some("/srv/scratch root"));
        assert_eq!(bind_root_of(mi, "/elsewhere"), None);
    }

    const INFO: &str = "22 1 8:1 / / rw,relatime shared:1 - ext4 /dev/sda1 rw\n\
30 22 0:5 / /var/lib/kubelet rw,relatime - tmpfs tmpfs rw\n\
31 22 0:6 / /var/lib/kubelet/pods/x rw shared:9 - tmpfs tmpfs rw\n\
32 22 0:7 / /srv/with\\040space rw master:1 - tmpfs tmpfs rw\n";

    #[test]
    fn finds_the_holding_mount() {
        assert_eq!(propagation_of(INFO, "/etc/kubernetes").unwrap(), MountPropagation { mount_point: "/".into(), shared: true, slave: false });
        assert_eq!(propagation_of(INFO, "/var/lib/kubelet").unwrap(), MountPropagation { mount_point: "/var/lib/kubelet".into(), shared: false, slave: false });
        assert!(propagation_of(INFO, "/var/lib/kubelet/pods/x/y").unwrap().shared);
        assert!(!propagation_of(INFO, "/var/lib/kubeletx").unwrap().mount_point.contains("kubelet"));
        assert_eq!(propagation_of(INFO, "/srv/with space/a").unwrap().mount_point, "/srv/with space");
    }
}
