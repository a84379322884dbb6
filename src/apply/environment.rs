//! Where kubeup runs and how it reaches the host: the host root, the facts observed there,
//! Docker, how host paths map to the Docker host, how host commands run, and what the
//! installer's own `docker run` line lacks. It builds the real [`Edges`] of a run, so that the
//! commands never touch `host/`, `runtime/` or `cluster/` themselves.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use crate::facts::HostFacts;
use crate::host::exec::HostExec;
use crate::host::lock::HostLock;
use crate::host::observe;
use crate::host::HostRoot;
use crate::phases::HostFiles;
use crate::runtime::privileges::Privileges;
use crate::runtime::{self, HostMapping, Runtime};

use super::edges::{ClusterEdge, EdgeError, Edges, EtcdEdge, HostEdge, RuntimeEdge};
use super::real::{RealCluster, RealEtcd, RealHost, RealRuntime};

/// How kubeup reaches the host (the command line's host flags, as plain settings).
#[derive(Debug, Clone)]
pub struct HostAccess {
    /// Where the host's `/` is.
    pub host_root: PathBuf,
    /// The Docker API socket.
    pub docker_socket: PathBuf,
    /// The process whose namespaces host commands enter.
    pub host_pid: u32,
}

/// Everything known about where kubeup runs.
pub struct Environment {
    root: HostRoot,
    /// Facts about the host, for rendering and preflight.
    pub facts: HostFacts,
    docker: Option<Runtime>,
    mapping: HostMapping,
    exec: HostExec,
    /// What the `docker run` line lacks, if kubeup runs in a container.
    pub installer_problems: Vec<String>,
    host_pid: u32,
}

fn ns_of(proc_dir: &Path, pid: &str, ns: &str) -> Option<PathBuf> {
    std::fs::read_link(proc_dir.join(pid).join("ns").join(ns)).ok()
}

impl Environment {
    /// Gather the environment. Docker being unreachable is recorded, not fatal (dry runs and
    /// preflight report it).
    pub async fn gather(access: &HostAccess) -> Result<Environment, EdgeError> {
        let root = HostRoot::open(&access.host_root)?;
        let proc_dir = observe::proc_dir();
        let mut facts = observe::observe(&root, &proc_dir);
        let docker = Runtime::connect(&access.docker_socket).await;
        let own_mountinfo = std::fs::read_to_string(proc_dir.join("self/mountinfo")).unwrap_or_default();
        let own_id = runtime::own_container_id(&own_mountinfo);
        let mut installer_problems = Vec::new();
        if own_id.is_some() {
            let target = access.host_pid.to_string();
            if ns_of(&proc_dir, "self", "pid") == ns_of(&proc_dir, &target, "pid") && std::process::id() <= 1 {
                installer_problems.push("the installer does not see the host's processes: add --pid=host to `docker run`".into());
            } else if ns_of(&proc_dir, "self", "net") != ns_of(&proc_dir, &target, "net") {
                installer_problems.push("the installer is not in the host's network namespace: add --net=host to `docker run`".into());
            }
            let status = std::fs::read_to_string(proc_dir.join("self/status")).unwrap_or_default();
            let eff = status.lines().find_map(|l| l.strip_prefix("CapEff:")).and_then(|v| u64::from_str_radix(v.trim(), 16).ok()).unwrap_or(0);
            if eff & (1 << 21) == 0 {
                installer_problems.push("the installer lacks CAP_SYS_ADMIN: add --privileged to `docker run`".into());
            }
        }
        let mapping = match &docker {
            Ok(rt) => runtime::host_mapping(Some(rt), root.dir(), own_id.as_deref()).await?,
            // Without Docker (the kubeup-cert-renewer container has no socket), the host root's
            // own bind mount says where it comes from: `-v /:/host` shows `/`. Host commands
            // entered through nsenter need that view of paths.
            Err(_) => {
                let own = std::fs::read_to_string(proc_dir.join("self/mountinfo")).unwrap_or_default();
                let root_dir = root.dir().to_string_lossy().into_owned();
                let prefix = match crate::mountinfo::bind_root_of(&own, &root_dir) {
                    Some(source) if root_dir != "/" => PathBuf::from(source),
                    _ => root.dir().to_path_buf(),
                };
                HostMapping { prefix }
            }
        };
        let exec = HostExec::choose(access.host_pid, &proc_dir, root.dir());
        let host_mountinfo = std::fs::read_to_string(proc_dir.join(access.host_pid.to_string()).join("mountinfo")).ok();
        facts.kubelet_dir_shared = host_mountinfo.as_deref().and_then(|mi| observe::shared(mi, &mapping.source(crate::paths::KUBELET_DIR)));
        facts.host_mountinfo = host_mountinfo;
        facts.docker = Some(match &docker {
            Ok(rt) => rt.facts().await.map_err(|e| e.to_string()),
            Err(e) => Err(e.to_string()),
        });
        facts.defaults.cri_socket = facts.cri_sockets.first().map(|s| format!("unix://{s}"));
        if let (Ok(rt), Some(id)) = (&docker, own_id.as_deref()) {
            facts.defaults.kubeup_image = rt.container_image(id).await.ok().flatten();
        }
        if let Some(Ok(d)) = &facts.docker {
            facts.defaults.cgroup_driver = Some(d.cgroup_driver.clone()).filter(|d| d == "systemd" || d == "cgroupfs");
        }
        Ok(Environment { root, facts, docker: docker.ok(), mapping, exec, installer_problems, host_pid: access.host_pid })
    }

    /// A host root only, for the commands that read a node's files and talk to its cluster
    /// (`token`, `kubeconfig user`): no Docker, no host commands.
    pub fn local(host_root: &Path) -> Result<Environment, EdgeError> {
        let root = HostRoot::open(host_root)?;
        let exec = HostExec::Chroot { root: root.dir().to_path_buf() };
        let mapping = HostMapping { prefix: root.dir().to_path_buf() };
        Ok(Environment { root, facts: HostFacts::default(), docker: None, mapping, exec, installer_problems: vec![], host_pid: 0 })
    }

    /// The host's files, for rendering.
    pub fn files(&self) -> &dyn HostFiles {
        &self.root
    }

    /// Where the host root is as the host (and Docker) sees it: `/` in production.
    pub fn host_prefix(&self) -> PathBuf {
        self.mapping.prefix.clone()
    }

    /// A host path as the host sees it.
    pub fn host_source(&self, host_path: &str) -> String {
        self.mapping.source(host_path)
    }

    /// Whether Docker answers.
    pub fn has_docker(&self) -> bool {
        self.docker.is_some()
    }

    /// Add a port to the preflight port checks (the configured API server port).
    pub fn check_port(&mut self, port: u16) {
        if !observe::PORTS.contains(&port) {
            self.facts.busy_ports.extend(observe::busy_ports(&[port]));
        }
    }

    /// The host process's mount table (reset's unmounts).
    pub fn host_mountinfo(&self) -> String {
        std::fs::read_to_string(observe::proc_dir().join(self.host_pid.to_string()).join("mountinfo")).unwrap_or_default()
    }

    /// Take the host lock (one kubeup at a time per host).
    pub fn lock(&self) -> Result<HostLock, EdgeError> {
        Ok(HostLock::acquire(&self.root)?)
    }

    /// Directories the lock created, for the install record.
    pub fn lock_dirs(&self, lock: &HostLock) -> Vec<crate::paths::HostPath> {
        lock.created_dirs(&self.root)
    }

    /// The Docker engine, for the image edges.
    pub(super) fn docker(&self) -> Option<&Runtime> {
        self.docker.as_ref()
    }

    /// The host root, for the image edges.
    pub(super) fn root(&self) -> &HostRoot {
        &self.root
    }

    /// How host commands run, for the image edges.
    pub(super) fn exec(&self) -> &HostExec {
        &self.exec
    }

    /// How host paths map onto the Docker host, for the image edges.
    pub(super) fn mapping(&self) -> &HostMapping {
        &self.mapping
    }

    /// The cluster through this node's admin.conf (`token`, `kubeconfig user`).
    pub fn cluster(&self, cert_dir: &str) -> Box<dyn ClusterEdge> {
        Box::new(RealCluster::new(self.root.clone(), self.docker.clone(), String::new(), cert_dir.to_string(), String::new()))
    }

    /// The real edges of a run on this host.
    pub fn edges(&self, run: &RunSettings) -> EdgeSet {
        let host: Box<dyn HostEdge> = Box::new(RealHost { root: self.root.clone(), exec: self.exec.clone() });
        let docker = || self.docker.clone();
        let runtime: Box<dyn RuntimeEdge> = Box::new(RealRuntime {
            docker: docker(),
            mapping: self.mapping.clone(),
            privileges: Privileges::detect(&observe::proc_dir()),
            labels: run.container_labels.clone(),
        });
        let cluster: Box<dyn ClusterEdge> =
            Box::new(RealCluster::new(self.root.clone(), docker(), run.kubelet_container.clone(), run.cert_dir.clone(), run.node_name.clone()));
        let etcd: Box<dyn EtcdEdge> = Box::new(RealEtcd { root: self.root.clone(), cert_dir: run.cert_dir.clone() });
        #[cfg(feature = "test-hooks")]
        if crate::test_hook!("KUBEUP_SKIP_EFFECTS").is_some() {
            // Test hook: the real files on a scratch root; every other effect recorded, not done.
            use super::fake::{FakeCluster, FakeEtcd, FakeRuntime, Log, RecordActions};
            return EdgeSet {
                host: Box::new(RecordActions { inner: host, log: Log::default() }),
                runtime: Box::new(FakeRuntime::default()),
                cluster: Box::new(FakeCluster::recording()),
                etcd: Box::new(FakeEtcd::default()),
            };
        }
        EdgeSet { host, runtime, cluster, etcd }
    }
}

impl Environment {
    /// What reset needs to know about the node (read before anything is stopped).
    pub async fn reset_facts(&self, opts: &crate::reset::ResetOptions) -> Result<crate::reset::ResetFacts, EdgeError> {
        use crate::paths::{self, HostPath};
        let record = match self.root.read(&paths::known(crate::record::RECORD_PATH))? {
            None => crate::record::InstallRecord::default(),
            Some(b) => crate::record::InstallRecord::parse(&b).map_err(EdgeError::Unavailable)?,
        };
        let mut containers = Vec::new();
        if let Some(rt) = &self.docker {
            for name in &record.containers {
                if let Some(c) = rt.find_by_name(name).await? {
                    containers.push((c.name, c.labels.get(runtime::LABEL_MANAGED).map(String::as_str) == Some("true")));
                }
            }
        }
        let exists = |p: &str| HostPath::new(p.to_string()).ok().is_some_and(|hp| self.root.exists(&hp).unwrap_or(false));
        let units =
            ["kubeup-kubelet.service", "var-lib-kubelet.mount"].iter().filter(|u| exists(&format!("/etc/systemd/system/{u}"))).map(|u| u.to_string()).collect();
        let cri_sockets = crate::facts::CRI_SOCKETS.iter().filter(|s| exists(s)).map(|s| self.mapping.source(s)).collect();
        let conflist = format!("{}/{}", paths::CNI_CONF_DIR, crate::objects::pod_network::BRIDGE_CONFLIST);
        let kubeconfigs = crate::reset::KUBECONFIGS.iter().filter(|k| exists(paths::kubeconfig(k).as_str())).map(|k| k.to_string()).collect();
        let etcd_data = HostPath::new(opts.etcd_data_dir.clone()).ok().is_some_and(|d| self.root.dir_has_entries(&d).unwrap_or(false));
        let etcd_peer_url = self.root.read(&paths::manifest("etcd")).ok().flatten().and_then(|m| {
            String::from_utf8_lossy(&m).split_whitespace().find_map(|w| w.trim_matches('"').strip_prefix("--initial-advertise-peer-urls=").map(str::to_string))
        });
        let unmounts = crate::reset::kubelet_mounts(&self.host_mountinfo(), &self.mapping.source(paths::KUBELET_DIR));
        let kubelet_dir_unmounted = unmounts.contains(&self.mapping.source(paths::KUBELET_DIR));
        Ok(crate::reset::ResetFacts {
            record,
            kubelet_dir_unmounted,
            containers,
            docker_reachable: self.docker.is_some(),
            units,
            unmounts,
            cri_sockets,
            bridge_network: exists(&conflist),
            kubeconfigs,
            etcd_data,
            etcd_peer_url,
        })
    }
}

/// What the edges of one run need to know about it.
#[derive(Debug, Clone, Default)]
pub struct RunSettings {
    /// Extra labels for every container (`--container-label`).
    pub container_labels: BTreeMap<String, String>,
    /// The kubelet container's name.
    pub kubelet_container: String,
    /// The certificate directory.
    pub cert_dir: String,
    /// This node's name.
    pub node_name: String,
}

/// The edges of a run, owned.
pub struct EdgeSet {
    host: Box<dyn HostEdge>,
    runtime: Box<dyn RuntimeEdge>,
    cluster: Box<dyn ClusterEdge>,
    etcd: Box<dyn EtcdEdge>,
}

impl EdgeSet {
    /// Borrow them for an executor.
    pub fn edges(&mut self) -> Edges<'_> {
        Edges { host: self.host.as_mut(), runtime: self.runtime.as_ref(), cluster: self.cluster.as_ref(), etcd: self.etcd.as_ref() }
    }
}
