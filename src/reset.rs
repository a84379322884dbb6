//! `kubeup reset`: undo `init` exactly. Containers kubeup created and the pods the kubelet
//! started are removed, mounts under /var/lib/kubelet unmounted, the files and directories in
//! the install record removed, plus kubeadm's own reset list (manifests, kubeconfigs, PKI,
//! kubelet state). etcd data is kept unless `--remove-etcd-data`. What cannot be removed is
//! reported, not hidden.

use std::collections::BTreeSet;

use crate::host::exec::HostExec;
use crate::host::{HostError, HostRoot};
use crate::paths::{self, HostPath};
use crate::record::{InstallRecord, STATE_DIR};
use crate::runtime::{ContainerInfo, Runtime};

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
        let mut seen = BTreeSet::new();
        let mut found: Vec<ContainerInfo> = Vec::new();
        for name in record.containers.iter() {
            if let Ok(Some(c)) = rt.find_by_name(name).await {
                found.push(c);
            }
        }
        // Pods the kubelet started through Docker (dockershim / cri-dockerd mode).
        if let Ok(pods) = rt.list_labelled("io.kubernetes.pod.namespace").await {
            if !found.is_empty() || !record.files.is_empty() {
                found.extend(pods);
            }
        }
        for c in found {
            if seen.insert(c.id.clone()) {
                plan.containers.push((c.name, c.id));
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
        .filter(|mp| mp.starts_with(&format!("{kubelet_dir}/")) || (*mp == kubelet_dir && is_self_bind(mountinfo, mp)))
        .map(str::to_string)
        .collect();
    mounts.sort_by_key(|m| std::cmp::Reverse(m.len()));
    mounts.dedup();
    plan.unmount_kubelet_dir = mounts.contains(&kubelet_dir);
    plan.unmounts = mounts;
    for sock in crate::host::observe::CRI_SOCKETS.iter().filter(|s| !s.contains("cri-dockerd")) {
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
    let entries: Vec<Vec<&str>> = mountinfo.lines().map(|l| l.split(' ').collect()).filter(|f: &Vec<&str>| f.len() > 4).collect();
    let Some(top) = entries.iter().rposition(|f| f[4] == mp) else { return false };
    let below =
        entries[..top].iter().filter(|f| f[4] == "/" || mp.starts_with(&format!("{}/", f[4].trim_end_matches('/'))) || f[4] == mp).max_by_key(|f| f[4].len());
    let Some(parent) = below else { return false };
    let rel = if parent[4] == mp { "" } else { mp.strip_prefix(parent[4].trim_end_matches('/')).unwrap_or(mp) };
    let expected = format!("{}{rel}", parent[3].trim_end_matches('/'));
    entries[top][2] == parent[2] && entries[top][3] == expected
}

/// Carry out the plan; returns what could not be done, and notices about best-effort steps.
pub async fn execute(plan: &ResetPlan, root: &HostRoot, rt: Option<&Runtime>, exec: &HostExec) -> (Vec<String>, Vec<String>) {
    let mut failed = Vec::new();
    let mut notices = Vec::new();
    for unit in &plan.units {
        match exec.run(&format!("systemctl disable --now {unit}")) {
            Ok(o) if o.code == 0 => {}
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
    // Pods the kubelet started through containerd's CRI are not Docker containers: remove
    // them with the host's crictl or ctr, against the socket the kubelet used. This is best
    // effort and never fails the reset; the result is reported.
    if let Some(sock) = &plan.cri_socket {
        let script = format!(
            "if command -v crictl >/dev/null 2>&1; then timeout 30 crictl --runtime-endpoint unix://{sock} --timeout 5s rmp -fa; \
             elif command -v ctr >/dev/null 2>&1; then ids=$(timeout 5 ctr --address {sock} -n k8s.io containers ls -q) || exit 4; for c in $ids; do \
             ctr --address {sock} -n k8s.io tasks kill -s SIGKILL $c; ctr --address {sock} -n k8s.io tasks rm -f $c; ctr --address {sock} -n k8s.io containers rm $c; done; \
             else exit 3; fi"
        );
        match exec.run(&script) {
            Ok(o) if o.code == 0 => notices.push(format!("pods in the CRI runtime at {sock} removed")),
            Ok(o) if o.code == 3 => notices.push(format!("pods in the CRI runtime at {sock} were not removed: neither crictl nor ctr is on the host")),
            Ok(o) if o.code == 4 => notices.push(format!("pods in the CRI runtime at {sock} were not removed: the runtime did not answer within 5 s")),
            Ok(o) => notices.push(format!("pods in the CRI runtime at {sock} could not be removed: {}", o.output)),
            Err(e) => notices.push(format!("pods in the CRI runtime at {sock} could not be removed: {e}")),
        }
    }
    if plan.bridge_network {
        let script = format!("ip link del kubeup0 2>/dev/null; ip route flush proto {} 2>/dev/null; true", crate::network::netlink::KUBEUP_PROTO);
        match exec.run(&script) {
            Ok(_) => notices.push("the bridge network's bridge kubeup0 and its routes (proto 0x4b) removed".into()),
            Err(e) => notices.push(format!("the bridge network's bridge kubeup0 and routes could not be removed: {e}")),
        }
    }
    for mp in &plan.unmounts {
        match exec.run(&format!("umount '{mp}' || umount -l '{mp}'")) {
            Ok(o) if o.code == 0 => {}
            Ok(o) => failed.push(format!("unmount {mp}: {}", o.output)),
            Err(e) => failed.push(format!("unmount {mp}: {e}")),
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
                failed.push(format!("unmount {m} in kubeup's own mount namespace: {e}"));
            }
        }
    }
    for f in &plan.files {
        let Ok(p) = HostPath::new(f.clone()) else { continue };
        // The parent is resolved inside the root; the entry itself is removed as it is: a
        // symlink (a ConfigMap volume's `..data`) goes, never what it points to.
        let name = p.components().next_back().unwrap_or_default().to_string();
        match root.resolve(&p.parent()).map(|dir| std::fs::remove_file(dir.join(&name))) {
            Ok(Ok(())) => {}
            Ok(Err(e)) if e.kind() == std::io::ErrorKind::NotFound => {}
            Ok(Err(e)) => failed.push(format!("remove {f}: {e}")),
            Err(e) => failed.push(format!("remove {f}: {e}")),
        }
    }
    for d in &plan.dirs {
        let Ok(p) = HostPath::new(d.clone()) else { continue };
        if let Ok(real) = root.resolve(&p) {
            match std::fs::remove_dir(&real) {
                Ok(()) => {}
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
                // Created by kubeup but since filled by someone else (the kubelet's plugin
                // registrations, a user's files): kept, and said so.
                Err(e) if e.raw_os_error() == Some(nix::libc::ENOTEMPTY) => notices.push(format!("kept directory {d}: it holds files kubeup did not create")),
                Err(e) => failed.push(format!("remove directory {d}: {e}")),
            }
        }
    }
    (failed, notices)
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
