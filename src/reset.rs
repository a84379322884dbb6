//! `kubeup reset`: undo `init` exactly. Containers kubeup created and the pods the kubelet
//! started are removed, mounts under /var/lib/kubelet unmounted, the files and directories in
//! the install record removed, plus kubeadm's own reset list (manifests, kubeconfigs, PKI,
//! kubelet state). etcd data is kept unless `--remove-etcd-data`. What cannot be removed is
//! reported, not hidden.

use std::collections::BTreeSet;

use crate::host::exec::HostExec;
use crate::host::remove::{Outcome, Remover};
use crate::host::{HostError, HostRoot};
use crate::paths::{self, HostPath};
use crate::record::{InstallRecord, STATE_DIR};
use crate::runtime::Runtime;

/// kubeadm's kubeconfig files removed by reset.
const KUBECONFIGS: [&str; 6] = ["admin.conf", "super-admin.conf", "kubelet.conf", "bootstrap-kubelet.conf", "controller-manager.conf", "scheduler.conf"];

/// What reset will do.
#[derive(Debug, Default, Clone, serde::Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ResetPlan {
    /// Containers to remove (name, id).
    pub containers: Vec<(String, String)>,
    /// systemd units to disable.
    pub units: Vec<String>,
    /// Mount points to unmount (host paths as the host sees them), deepest first.
    pub unmounts: Vec<String>,
    /// Files to remove.
    pub files: Vec<String>,
    /// Directories to remove if empty, deepest first.
    pub dirs: Vec<String>,
    /// The CRI socket (as the host sees it) whose pods are removed, if one exists.
    pub cri_socket: Option<String>,
    /// What is kept, and why.
    pub kept: Vec<String>,
    /// The bridge pod network's traces on this node (its bridge and its routes) are removed.
    pub bridge_network: bool,
    /// /var/lib/kubelet itself is unmounted (it is prepare-host's bind mount onto itself).
    pub unmount_kubelet_dir: bool,
}

/// Reset options.
#[derive(Debug, Clone)]
pub struct ResetOptions {
    /// Also delete the etcd data directory's contents.
    pub remove_etcd_data: bool,
    /// Certificate directory.
    pub cert_dir: String,
    /// etcd data directory.
    pub etcd_data_dir: String,
    /// Where the host root is on the host (for mount points and unit paths).
    pub host_prefix: std::path::PathBuf,
}

fn walk_files(root: &HostRoot, dir: &HostPath, out: &mut BTreeSet<String>, dirs: &mut BTreeSet<String>) {
    let Ok(real) = root.resolve(dir) else { return };
    let Ok(entries) = std::fs::read_dir(real) else { return };
    for e in entries.flatten() {
        let name = e.file_name().to_string_lossy().into_owned();
        let Ok(child) = dir.join(&name) else { continue };
        match e.file_type() {
            Ok(t) if t.is_dir() => {
                dirs.insert(child.to_string());
                walk_files(root, &child, out, dirs);
            }
            Ok(_) => {
                out.insert(child.to_string());
            }
            Err(_) => {}
        }
    }
}

/// Work out the plan from the install record, the host root, Docker and the host's mounts.
pub async fn plan(root: &HostRoot, rt: Option<&Runtime>, mountinfo: &str, opts: &ResetOptions) -> Result<ResetPlan, HostError> {
    let record = InstallRecord::load(root)?;
    let mut plan = ResetPlan::default();
    if let Some(rt) = rt {
        // Only containers kubeup made (its label); pods go through the CRI below, never Docker.
        for name in record.containers.iter() {
            if let Ok(Some(c)) = rt.find_by_name(name).await {
                if c.labels.get(crate::runtime::LABEL_MANAGED).map(String::as_str) == Some("true") {
                    plan.containers.push((c.name, c.id));
                } else {
                    plan.kept.push(format!("container {name}: it does not carry kubeup's label {}=true, so it is not kubeup's", crate::runtime::LABEL_MANAGED));
                }
            }
        }
    } else {
        plan.kept.push("containers: Docker is not reachable, so no container was looked up".into());
    }
    for unit in ["kubeup-kubelet.service", "var-lib-kubelet.mount"] {
        if root
            .exists(&paths::known("/etc/systemd/system").join(unit).map_err(|e| HostError::Conflict { path: paths::known("/etc"), reason: e.to_string() })?)?
        {
            plan.units.push(unit.to_string());
        }
    }
    let kubelet_dir = opts.host_prefix.join(paths::KUBELET_DIR.trim_start_matches('/')).to_string_lossy().into_owned();
    // Mounts under /var/lib/kubelet (pod volumes), as kubeadm's reset, and /var/lib/kubelet
    // itself only where it is bound onto itself (prepare-host's shared bind mount). Another
    // mount there (a disk, a volume) is the host's own: unmounting it would hide its data, and
    // the next kubelet would not find its root file system's device.
    let mut mounts: Vec<String> = mountinfo
        .lines()
        .filter_map(|l| l.split(' ').nth(4))
        .filter(|mp| {
            let mp = crate::host::mounts::unescape(mp);
            mp.starts_with(&format!("{kubelet_dir}/")) || (mp == kubelet_dir && is_self_bind(mountinfo, &mp))
        })
        .map(crate::host::mounts::unescape)
        .collect();
    mounts.sort_by_key(|m| std::cmp::Reverse(m.len()));
    mounts.dedup();
    plan.unmount_kubelet_dir = mounts.contains(&kubelet_dir);
    plan.unmounts = mounts;
    for sock in crate::host::observe::CRI_SOCKETS.iter() {
        if root.exists(&paths::known(sock))? {
            plan.cri_socket = Some(opts.host_prefix.join(sock.trim_start_matches('/')).to_string_lossy().into_owned());
            break;
        }
    }

    let mut files: BTreeSet<String> = record.files.iter().cloned().collect();
    let mut dirs: BTreeSet<String> = record.dirs.iter().cloned().collect();
    // The bridge network's CNI config is kubeup's own (its agent wrote it); other networks'
    // configs are left, as kubeadm leaves them.
    let conflist = paths::known(paths::CNI_CONF_DIR)
        .join(crate::cluster::pod_network::BRIDGE_CONFLIST)
        .map_err(|e| HostError::Conflict { path: paths::known(paths::CNI_CONF_DIR), reason: e.to_string() })?;
    if root.exists(&conflist)? {
        files.insert(conflist.to_string());
        plan.bridge_network = true;
    }
    for k in KUBECONFIGS {
        let p = paths::kubeconfig(k);
        if root.exists(&p)? {
            files.insert(p.to_string());
        }
    }
    let etcd = opts.etcd_data_dir.clone();
    for dir in [paths::MANIFESTS_DIR.to_string(), opts.cert_dir.clone(), paths::KUBELET_DIR.to_string(), STATE_DIR.to_string()] {
        if let Ok(d) = HostPath::new(dir) {
            walk_files(root, &d, &mut files, &mut dirs);
        }
    }
    if opts.remove_etcd_data {
        if let Ok(d) = HostPath::new(etcd.clone()) {
            walk_files(root, &d, &mut files, &mut dirs);
        }
    } else if root.dir_has_entries(&HostPath::new(etcd.clone()).unwrap_or(paths::known("/var/lib/etcd")))? {
        // An empty data directory kubeup created holds no data and goes like the rest.
        let inside = |p: &String| p == &etcd || p.starts_with(&format!("{etcd}/"));
        plan.kept.push(format!("{etcd}: etcd data is kept (pass --remove-etcd-data to delete it)"));
        files.retain(|p| !inside(p));
        dirs.retain(|p| !inside(p));
    }
    dirs.insert(STATE_DIR.to_string());
    plan.files = files.into_iter().collect();
    let mut dirs: Vec<String> = dirs.into_iter().collect();
    dirs.sort_by_key(|d| std::cmp::Reverse(d.matches('/').count()));
    plan.dirs = dirs;
    Ok(plan)
}

/// Whether the (last) mount at `mp` binds a directory of its parent file system onto itself:
/// same device as the mount below it, and a root that is that mount's root plus the path.
fn is_self_bind(mountinfo: &str, mp: &str) -> bool {
    let entries: Vec<Vec<String>> =
        mountinfo.lines().map(|l| l.split(' ').map(crate::host::mounts::unescape).collect()).filter(|f: &Vec<String>| f.len() > 4).collect();
    let Some(top) = entries.iter().rposition(|f| f[4] == mp) else { return false };
    let below =
        entries[..top].iter().filter(|f| f[4] == "/" || mp.starts_with(&format!("{}/", f[4].trim_end_matches('/'))) || f[4] == mp).max_by_key(|f| f[4].len());
    let Some(parent) = below else { return false };
    let rel = if parent[4] == mp { "" } else { mp.strip_prefix(parent[4].trim_end_matches('/')).unwrap_or(mp) };
    let expected = format!("{}{rel}", parent[3].trim_end_matches('/'));
    entries[top][2] == parent[2] && entries[top][3] == expected
}

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

/// Refuse a `--cert-dir` or `--etcd-data-dir` whose removal would take the host with it.
pub fn check_dirs(opts: &ResetOptions) -> Result<(), String> {
    for (flag, dir) in [("--cert-dir", &opts.cert_dir), ("--etcd-data-dir", &opts.etcd_data_dir)] {
        let p = HostPath::new(dir.clone()).map_err(|e| format!("{flag} {dir:?}: {e}"))?;
        let normal = format!("/{}", p.components().collect::<Vec<_>>().join("/"));
        if FORBIDDEN_DIRS.contains(&normal.as_str()) {
            return Err(format!(
                "{flag} {dir} would make reset delete everything in {normal}: pass the directory kubeup used (default {})",
                if flag == "--cert-dir" { "/etc/kubernetes/pki" } else { "/var/lib/etcd" }
            ));
        }
    }
    Ok(())
}

/// Carry out the plan; returns what could not be done, and notices about best-effort steps.
///
/// Order matters: first everything that could write to the host stops (systemd units, the
/// kubelet container, then every pod through the CRI, checked gone), then mounts go, then files
/// are removed with [`Remover`], which never follows a symlink. `/var/lib/kubelet` is not
/// cleaned when a mount below it could not be unmounted (kubeadm does the same).
pub async fn execute(plan: &ResetPlan, root: &HostRoot, rt: Option<&Runtime>, exec: &HostExec, opts: &ResetOptions) -> (Vec<String>, Vec<String>) {
    let mut failed = Vec::new();
    let mut notices = Vec::new();
    for unit in &plan.units {
        match exec.run(&["systemctl", "disable", "--now", unit]) {
            Ok(o) if o.ok() => {}
            Ok(o) => failed.push(format!("systemctl disable --now {unit}: {}", o.output)),
            Err(e) => failed.push(format!("systemctl disable --now {unit}: {e}")),
        }
    }
    if let Some(rt) = rt {
        for (name, id) in &plan.containers {
            if let Err(e) = rt.remove(id).await {
                failed.push(format!("container {name}: {e}"));
            }
        }
    }
    if let Some(sock) = &plan.cri_socket {
        notices.push(remove_pods(exec, sock));
    }
    if plan.bridge_network {
        let del = exec.run(&["ip", "link", "del", "kubeup0"]);
        let flush = exec.run(&["ip", "route", "flush", "proto", &crate::network::netlink::KUBEUP_PROTO.to_string()]);
        match (del, flush) {
            (Ok(_), Ok(_)) => notices.push("the bridge network's bridge kubeup0 and its routes (proto 0x4b) removed".into()),
            (Err(e), _) | (_, Err(e)) => notices.push(format!("the bridge network's bridge kubeup0 and routes could not be removed: {e}")),
        }
    }
    let mut unmount_failed = false;
    for mp in &plan.unmounts {
        let ok = matches!(exec.run(&["umount", mp]), Ok(o) if o.ok()) || matches!(exec.run(&["umount", "-l", mp]), Ok(o) if o.ok());
        if !ok {
            unmount_failed = true;
            failed.push(format!("unmount {mp}: still mounted"));
        }
    }
    // kubeup's own mount namespace may hold copies of those mounts (a container started while
    // they existed gets them with its -v /:/host); detach them here too, or the directory stays busy.
    let own = std::fs::read_to_string("/proc/self/mountinfo").unwrap_or_default();
    if let Ok(kubelet_dir) = root.resolve(&paths::known(paths::KUBELET_DIR)) {
        let prefix = kubelet_dir.to_string_lossy().into_owned();
        let mut own_mounts: Vec<&str> = own
            .lines()
            .filter_map(|l| l.split(' ').nth(4))
            .filter(|m| m.starts_with(&format!("{prefix}/")) || (plan.unmount_kubelet_dir && *m == prefix))
            .collect();
        own_mounts.sort_by_key(|m| std::cmp::Reverse(m.len()));
        for m in own_mounts {
            if let Err(e) = nix::mount::umount2(m, nix::mount::MntFlags::MNT_DETACH) {
                unmount_failed = true;
                failed.push(format!("unmount {m} in kubeup's own mount namespace: {e}"));
            }
        }
    }
    let remover = match Remover::open(root.dir()) {
        Ok(r) => r,
        Err(e) => {
            failed.push(e.to_string());
            return (failed, notices);
        }
    };
    // Whole directories kubeadm's reset empties, walked now that nothing writes to them.
    let mut trees = vec![paths::MANIFESTS_DIR.to_string(), opts.cert_dir.clone(), STATE_DIR.to_string()];
    if unmount_failed {
        notices.push(format!("{} was not cleaned: a mount below it could not be removed; reboot and run reset again", paths::KUBELET_DIR));
    } else {
        trees.push(paths::KUBELET_DIR.to_string());
    }
    if opts.remove_etcd_data {
        trees.push(opts.etcd_data_dir.clone());
    }
    for t in &trees {
        let Ok(dir) = HostPath::new(t.clone()) else { continue };
        match remover.clear_dir(&dir) {
            Ok(report) => {
                failed.extend(report.failed);
                for m in report.mount_points {
                    notices.push(format!("kept {m}: another file system is mounted there"));
                }
            }
            Err(e) => failed.push(e.to_string()),
        }
    }
    let in_cleared = |f: &str| trees.iter().any(|t| f.starts_with(&format!("{}/", t.trim_end_matches('/'))));
    let kubelet_prefix = format!("{}/", paths::KUBELET_DIR);
    for f in plan.files.iter().filter(|f| !in_cleared(f)) {
        if unmount_failed && f.starts_with(&kubelet_prefix) {
            continue;
        }
        let Ok(p) = HostPath::new(f.clone()) else { continue };
        if let Err(e) = remover.remove_file(&p) {
            failed.push(e.to_string());
        }
    }
    for d in &plan.dirs {
        let Ok(p) = HostPath::new(d.clone()) else { continue };
        match remover.remove_dir_if_empty(&p) {
            Ok(Outcome::NotEmpty) => notices.push(format!("kept directory {d}: it holds files kubeup did not create")),
            Ok(_) => {}
            Err(e) => failed.push(e.to_string()),
        }
    }
    // The bridge network's agent was stopped above; a config it wrote in its last moment would
    // make the next pod network use a dead bridge. Checked once more.
    if plan.bridge_network {
        let conflist = format!("{}/{}", paths::CNI_CONF_DIR, crate::cluster::pod_network::BRIDGE_CONFLIST);
        if let Ok(p) = HostPath::new(conflist.clone()) {
            if let Ok(Outcome::Removed) = remover.remove_file(&p) {
                notices.push(format!("{conflist} had been written again after its removal; removed again"));
            }
        }
    }
    (failed, notices)
}

/// How long reset waits for the CRI runtime to report no running container.
const PODS_GONE_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(20);

/// Remove every pod of the CRI runtime at `sock` (as the host sees it) with the host's crictl,
/// or ctr where crictl is missing, then wait until no container runs. Best effort: the result is
/// a notice.
fn remove_pods(exec: &HostExec, sock: &str) -> String {
    use crate::host::exec::NOT_FOUND;
    let endpoint = format!("unix://{sock}");
    let t = std::time::Duration::from_secs(60);
    let crictl = exec.run_timeout(&["crictl", "--runtime-endpoint", &endpoint, "--timeout", "10s", "rmp", "-fa"], t);
    let via = match crictl {
        Ok(o) if o.ok() => "crictl",
        Ok(o) if o.code != NOT_FOUND => return format!("pods in the CRI runtime at {sock} could not be removed with crictl: {}", o.output),
        Err(e) => return format!("pods in the CRI runtime at {sock} could not be removed: {e}"),
        Ok(_) if !sock.contains("containerd") => return format!("pods in the CRI runtime at {sock} were not removed: crictl is not on the host"),
        Ok(_) => {
            let ctr = |args: &[&str]| {
                let mut argv = vec!["ctr", "--address", sock, "-n", "k8s.io"];
                argv.extend_from_slice(args);
                exec.run_timeout(&argv, t)
            };
            let ids = match ctr(&["containers", "ls", "-q"]) {
                Ok(o) if o.ok() => o.output,
                Ok(o) if o.code == NOT_FOUND => return format!("pods in the CRI runtime at {sock} were not removed: neither crictl nor ctr is on the host"),
                Ok(o) => return format!("pods in the CRI runtime at {sock} could not be listed: {}", o.output),
                Err(e) => return format!("pods in the CRI runtime at {sock} could not be listed: {e}"),
            };
            for id in ids.split_whitespace() {
                let _ = ctr(&["tasks", "kill", "-s", "SIGKILL", id]);
                let _ = ctr(&["tasks", "rm", "-f", id]);
                let _ = ctr(&["containers", "rm", id]);
            }
            "ctr"
        }
    };
    let started = std::time::Instant::now();
    loop {
        let running = if via == "crictl" {
            exec.run(&["crictl", "--runtime-endpoint", &endpoint, "--timeout", "5s", "ps", "-q"])
        } else {
            exec.run(&["ctr", "--address", sock, "-n", "k8s.io", "tasks", "ls", "-q"])
        };
        match running {
            Ok(o) if o.ok() && o.output.trim().is_empty() => return format!("pods in the CRI runtime at {sock} removed ({via})"),
            _ if started.elapsed() >= PODS_GONE_TIMEOUT => {
                return format!("pods in the CRI runtime at {sock} were removed with {via}, but containers still ran after {} s", PODS_GONE_TIMEOUT.as_secs())
            }
            _ => std::thread::sleep(std::time::Duration::from_millis(250)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::is_self_bind;

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
    }
}
