//! `kubeup reset`, rendered as plans like every other command (kubeadm's reset phases
//! `remove-etcd-member` and `cleanup-node`) from what was observed on the node ([`ResetFacts`]).
//!
//! The order is the point: first everything that could write to the host stops — systemd
//! units, kubeup's containers, every pod through the CRI (checked gone) — then the bridge
//! network and the mounts go, and only then are directories emptied, with the executor's
//! no-follow removal. `/var/lib/kubelet` is skipped when an unmount failed (kubeadm does the
//! same). What kubeup removes is exactly what the install record lists plus kubeadm's reset
//! list; etcd data is kept unless asked.
//!
//! Pure.

use std::collections::BTreeSet;

use crate::paths::{self, HostPath};
use crate::plan::{HostAction, PhasePlan, Plan, Severity, Step};
use crate::record::{InstallRecord, STATE_DIR};

/// kubeadm's kubeconfig files removed by reset.
pub const KUBECONFIGS: [&str; 6] = ["admin.conf", "super-admin.conf", "kubelet.conf", "bootstrap-kubelet.conf", "controller-manager.conf", "scheduler.conf"];

/// Directories reset must never clear: `/` and the file system's own top-level directories
/// (a `--cert-dir /etc` would otherwise empty the host's /etc).
const FORBIDDEN_DIRS: &[&str] = &[
    "/",
    "/bin",
    "/boot",
    "/dev",
    "/etc",
    "/home",
    "/lib",
    "/lib32",
    "/lib64",
    "/media",
    "/mnt",
    "/opt",
    "/proc",
    "/root",
    "/run",
    "/sbin",
    "/srv",
    "/sys",
    "/tmp",
    "/usr",
    "/usr/bin",
    "/usr/lib",
    "/usr/local",
    "/usr/sbin",
    "/usr/share",
    "/var",
    "/var/lib",
    "/var/log",
    "/var/run",
    "/etc/kubernetes",
];

/// What reset is asked to do.
#[derive(Debug, Clone)]
pub struct ResetOptions {
    /// Also delete the etcd data directory's contents.
    pub remove_etcd_data: bool,
    /// Certificate directory.
    pub cert_dir: String,
    /// etcd data directory.
    pub etcd_data_dir: String,
}

/// Why reset refuses to start.
#[derive(Debug, thiserror::Error)]
#[error("{flag} {dir}: {reason}\nnothing was changed")]
pub struct ResetError {
    /// The flag.
    pub flag: &'static str,
    /// Its value.
    pub dir: String,
    /// Why.
    pub reason: String,
}

/// What was observed on the node before reset.
#[derive(Debug, Clone, Default)]
pub struct ResetFacts {
    /// The install record.
    pub record: InstallRecord,
    /// The record's containers that exist, and whether each carries kubeup's label.
    pub containers: Vec<(String, bool)>,
    /// Whether Docker could be asked.
    pub docker_reachable: bool,
    /// kubeup's systemd units that exist.
    pub units: Vec<String>,
    /// Mount points under /var/lib/kubelet as the host sees them, deepest first (and
    /// /var/lib/kubelet itself where it is prepare-host's bind mount onto itself).
    pub unmounts: Vec<String>,
    /// CRI sockets present, as the host sees them.
    pub cri_sockets: Vec<String>,
    /// The kubelet directory itself is among the unmounts (prepare-host's bind mount).
    pub kubelet_dir_unmounted: bool,
    /// The bridge network's CNI config exists.
    pub bridge_network: bool,
    /// kubeadm's kubeconfig files that exist.
    pub kubeconfigs: Vec<String>,
    /// The etcd data directory holds something.
    pub etcd_data: bool,
    /// This node's etcd peer URL, from its etcd manifest (a stacked control-plane node).
    pub etcd_peer_url: Option<String>,
}

/// Refuse a `--cert-dir` or `--etcd-data-dir` whose removal would take the host with it.
pub fn check_dirs(opts: &ResetOptions) -> Result<(), ResetError> {
    for (flag, dir) in [("--cert-dir", &opts.cert_dir), ("--etcd-data-dir", &opts.etcd_data_dir)] {
        let p = HostPath::new(dir.clone()).map_err(|e| ResetError { flag, dir: dir.clone(), reason: e.to_string() })?;
        let normal = format!("/{}", p.components().collect::<Vec<_>>().join("/"));
        if FORBIDDEN_DIRS.contains(&normal.as_str()) {
            let default = if flag == "--cert-dir" { "/etc/kubernetes/pki" } else { "/var/lib/etcd" };
            return Err(ResetError {
                flag,
                dir: dir.clone(),
                reason: format!("would make reset delete everything in {normal}: pass the directory kubeup used (default {default})"),
            });
        }
    }
    Ok(())
}

fn host_path(p: &str) -> Option<HostPath> {
    HostPath::new(p.to_string()).ok()
}

/// Render reset's plans.
pub fn render(facts: &ResetFacts, opts: &ResetOptions) -> Result<Vec<PhasePlan>, ResetError> {
    check_dirs(opts)?;
    let mut plans = Vec::new();
    if let Some(peer_url) = &facts.etcd_peer_url {
        // kubeadm's reset on a control-plane node: leave etcd first, while it still runs.
        // etcd's loopback is ::1 on an IPv6 control plane (its peer URL is then bracketed).
        let localhost = if peer_url.contains('[') { "[::1]" } else { "127.0.0.1" };
        let endpoint = format!("https://{localhost}:{}", crate::manifests::etcd::CLIENT_PORT);
        plans.push(PhasePlan { phase: "remove-etcd-member".into(), plan: Plan { steps: vec![Step::EtcdLeave { endpoint, peer_url: peer_url.clone() }] } });
    }
    let mut steps = Vec::new();
    for unit in &facts.units {
        steps.push(Step::HostCommand { summary: format!("stop and disable {unit}"), action: HostAction::DisableUnit { unit: unit.clone() } });
    }
    if !facts.docker_reachable {
        steps.push(Step::Check {
            name: "Containers".into(),
            severity: Severity::Warning,
            message: "Docker is not reachable, so no container was looked up".into(),
        });
    }
    for (name, labelled) in &facts.containers {
        if *labelled {
            steps.push(Step::RemoveContainer { name: name.clone() });
        } else {
            let message = format!("container {name} is kept: it does not carry kubeup's label io.kubeup.managed=true, so it is not kubeup's");
            steps.push(Step::Check { name: "Containers".into(), severity: Severity::Warning, message });
        }
    }
    for socket in &facts.cri_sockets {
        steps.push(Step::HostCommand {
            summary: format!("remove every pod of the CRI runtime at {socket}"),
            action: HostAction::RemovePods { socket: socket.clone() },
        });
    }
    if facts.bridge_network {
        steps.push(Step::HostCommand { summary: "remove the bridge network's bridge and routes".into(), action: HostAction::RemoveBridgeNetwork });
    }
    for mp in &facts.unmounts {
        steps.push(Step::HostCommand { summary: format!("unmount {mp}"), action: HostAction::Unmount { mount_point: mp.clone() } });
    }
    // Whole directories kubeadm's reset empties, once nothing writes to them.
    let etcd = opts.etcd_data_dir.clone();
    let mut trees =
        vec![(paths::MANIFESTS_DIR.to_string(), false), (opts.cert_dir.clone(), false), (STATE_DIR.to_string(), false), (paths::KUBELET_DIR.to_string(), true)];
    if opts.remove_etcd_data {
        trees.push((etcd.clone(), false));
    } else if facts.etcd_data {
        steps.push(Step::Keep {
            path: host_path(&etcd).unwrap_or(paths::known("/var/lib/etcd")),
            reason: "etcd data is kept (pass --remove-etcd-data to delete it)".into(),
        });
    }
    for (dir, after_unmounts) in &trees {
        if let Some(path) = host_path(dir) {
            steps.push(Step::ClearDir { path, after_unmounts: *after_unmounts });
        }
    }
    let inside = |f: &str, d: &str| f == d || f.starts_with(&format!("{}/", d.trim_end_matches('/')));
    let conflist = format!("{}/{}", paths::CNI_CONF_DIR, crate::objects::pod_network::BRIDGE_CONFLIST);
    let mut files: BTreeSet<String> = facts.record.files.iter().cloned().collect();
    files.extend(facts.kubeconfigs.iter().map(|k| paths::kubeconfig(k).to_string()));
    if facts.bridge_network {
        files.insert(conflist.clone());
    }
    // The etcd data directory goes with the rest when it holds nothing (kubeup made it empty).
    let keep_etcd = facts.etcd_data && !opts.remove_etcd_data;
    let cleared = |f: &str| trees.iter().any(|(d, _)| inside(f, d));
    let kept = |f: &str| cleared(f) || (keep_etcd && inside(f, &etcd));
    for f in files.iter().filter(|f| !kept(f)) {
        if let Some(path) = host_path(f) {
            steps.push(Step::RemoveFile { path, reason: "made by kubeup or kubeadm's reset list".into() });
        }
    }
    let mut dirs: Vec<String> =
        facts.record.dirs.iter().filter(|d| !keep_etcd || !inside(d, &etcd)).cloned().chain(std::iter::once(STATE_DIR.to_string())).collect();
    dirs.sort_by_key(|d| std::cmp::Reverse(d.matches('/').count()));
    dirs.dedup();
    for d in dirs {
        if let Some(path) = host_path(&d) {
            let unmounted = facts.kubelet_dir_unmounted && d == paths::KUBELET_DIR;
            steps.push(Step::RemoveDir { path, unmounted });
        }
    }
    if facts.bridge_network {
        // The bridge agent was stopped above; a config it wrote in its last moment would make
        // the next pod network use a dead bridge.
        if let Some(path) = host_path(&conflist) {
            steps.push(Step::RemoveFile { path, reason: "it had been written again after its removal".into() });
        }
    }
    plans.push(PhasePlan { phase: "cleanup-node".into(), plan: Plan { steps } });
    Ok(plans)
}

/// Whether the (last) mount at `mp` binds a directory of its parent file system onto itself:
/// same device as the mount below it, and a root that is that mount's root plus the path.
pub fn is_self_bind(mountinfo: &str, mp: &str) -> bool {
    let entries: Vec<Vec<String>> =
        mountinfo.lines().map(|l| l.split(' ').map(crate::mountinfo::unescape).collect()).filter(|f: &Vec<String>| f.len() > 4).collect();
    let Some(top) = entries.iter().rposition(|f| f[4] == mp) else { return false };
    let below =
        entries[..top].iter().filter(|f| f[4] == "/" || mp.starts_with(&format!("{}/", f[4].trim_end_matches('/'))) || f[4] == mp).max_by_key(|f| f[4].len());
    let Some(parent) = below else { return false };
    let rel = if parent[4] == mp { "" } else { mp.strip_prefix(parent[4].trim_end_matches('/')).unwrap_or(mp) };
    let expected = format!("{}{rel}", parent[3].trim_end_matches('/'));
    entries[top][2] == parent[2] && entries[top][3] == expected
}

/// The mounts reset removes: everything under the kubelet directory (pod volumes, as
/// kubeadm's reset), deepest first, and the directory itself only where it is bound onto itself
/// (prepare-host's shared bind mount). Another mount there (a disk, a volume) is the host's own:
/// unmounting it would hide its data.
pub fn kubelet_mounts(mountinfo: &str, kubelet_dir: &str) -> Vec<String> {
    let mut mounts: Vec<String> = mountinfo
        .lines()
        .filter_map(|l| l.split(' ').nth(4))
        .map(crate::mountinfo::unescape)
        .filter(|mp| mp.starts_with(&format!("{kubelet_dir}/")) || (mp == kubelet_dir && is_self_bind(mountinfo, mp)))
        .collect();
    mounts.sort_by_key(|m| std::cmp::Reverse(m.len()));
    mounts.dedup();
    mounts
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_self_bind_is_told_from_the_hosts_own_mounts() {
        // prepare-host's bind of /var/lib/kubelet onto itself on the root file system.
        let bind = "20 1 8:1 / / rw - ext4 /dev/sda1 rw\n30 20 8:1 /var/lib/kubelet /var/lib/kubelet rw shared:5 - ext4 /dev/sda1 rw\n";
        assert!(is_self_bind(bind, "/var/lib/kubelet"));
        // Inside a tmpfs scratch root.
        let tmp = "20 1 8:1 / / rw - ext4 /dev/sda1 rw\n25 20 0:40 / /tmp rw - tmpfs tmpfs rw\n31 25 0:40 /x/var/lib/kubelet /tmp/x/var/lib/kubelet rw - tmpfs tmpfs rw\n";
        assert!(is_self_bind(tmp, "/tmp/x/var/lib/kubelet"));
        // A disk of its own, and a Docker volume.
        let disk = "20 1 8:1 / / rw - ext4 /dev/sda1 rw\n30 20 8:17 / /var/lib/kubelet rw - ext4 /dev/sdb1 rw\n";
        assert!(!is_self_bind(disk, "/var/lib/kubelet"));
        let volume = "20 1 0:50 / / rw - overlay overlay rw\n30 20 8:1 /var/lib/docker/volumes/v/_data /var/lib/kubelet rw - ext4 /dev/sda1 rw\n";
        assert!(!is_self_bind(volume, "/var/lib/kubelet"));
        // Escaped paths (a space) are compared unescaped.
        let spaced = "20 1 8:1 / / rw - ext4 /dev/sda1 rw\n31 20 8:1 /a\\040b/var/lib/kubelet /a\\040b/var/lib/kubelet rw - ext4 /dev/sda1 rw\n";
        assert_eq!(kubelet_mounts(spaced, "/a b/var/lib/kubelet"), vec!["/a b/var/lib/kubelet".to_string()]);
    }

    #[test]
    fn everything_that_writes_stops_before_anything_is_removed() {
        let facts = ResetFacts {
            containers: vec![("kubeup-kubelet".into(), true), ("someone-else".into(), false)],
            docker_reachable: true,
            units: vec!["kubeup-kubelet.service".into()],
            unmounts: vec!["/var/lib/kubelet/pods/p/volumes/v".into()],
            cri_sockets: vec!["/run/containerd/containerd.sock".into()],
            bridge_network: true,
            ..Default::default()
        };
        let opts = ResetOptions { remove_etcd_data: false, cert_dir: "/etc/kubernetes/pki".into(), etcd_data_dir: "/var/lib/etcd".into() };
        let plans = render(&facts, &opts).unwrap();
        let steps = &plans.last().unwrap().plan.steps;
        let first_removal = steps.iter().position(|s| matches!(s, Step::ClearDir { .. } | Step::RemoveFile { .. })).unwrap();
        let last_stop = steps.iter().rposition(|s| matches!(s, Step::HostCommand { .. } | Step::RemoveContainer { .. })).unwrap();
        assert!(last_stop < first_removal, "{steps:#?}");
        assert!(!steps.iter().any(|s| matches!(s, Step::RemoveContainer { name } if name == "someone-else")));
        assert!(matches!(steps.last(), Some(Step::RemoveFile { .. })), "the bridge config is checked once more at the end");
    }
}
