//! The real edges: the host root and the host's own tools (`host/`), Docker (`runtime/`), the
//! Kubernetes API and the waits (`cluster/`), etcd's gateway (`cluster/etcd.rs`). Each adapts an
//! edge module to the trait the executor drives.

use std::cell::RefCell;
use std::collections::BTreeMap;
use std::time::Duration;

use futures_util::future::LocalBoxFuture;
use futures_util::FutureExt as _;

use crate::cluster::{client, etcd::Etcd, health};
use crate::host::exec::HostExec;
use crate::host::remove::{Outcome, Remover};
use crate::host::{HostError, HostRoot};
use crate::kubelet::container::ContainerSpec;
use crate::paths::HostPath;
use crate::plan::{ApplyMode, HostAction, WaitTarget};
use crate::runtime::privileges::Privileges;
use crate::runtime::{HostMapping, Runtime};

use super::edges::{Applied, ClusterEdge, ContainerOutcome, EdgeError, EtcdEdge, HostEdge, RuntimeEdge};

/// The host through its root directory and its namespaces.
pub struct RealHost {
    /// The host root.
    pub root: HostRoot,
    /// How host commands run.
    pub exec: HostExec,
}

impl RealHost {
    fn io<'p>(op: &'static str, path: &'p HostPath) -> impl FnOnce(std::io::Error) -> EdgeError + 'p {
        move |source| HostError::Io { op, path: path.clone(), source }.into()
    }

    fn remover(&self) -> Result<Remover, EdgeError> {
        Ok(Remover::open(self.root.dir())?)
    }
}

impl HostEdge for RealHost {
    fn read(&self, path: &HostPath) -> Result<Option<Vec<u8>>, EdgeError> {
        Ok(self.root.read(path)?)
    }
    fn kind(&self, path: &HostPath) -> Result<Option<bool>, EdgeError> {
        Ok(std::fs::metadata(self.root.resolve(path)?).ok().map(|m| m.is_dir()))
    }
    fn mode(&self, path: &HostPath) -> Result<u32, EdgeError> {
        crate::host::fs::mode_of(&self.root.resolve(path)?).map_err(Self::io("stat", path))
    }
    fn set_mode(&mut self, path: &HostPath, mode: u32) -> Result<(), EdgeError> {
        crate::host::fs::set_mode(&self.root.resolve(path)?, mode).map_err(Self::io("chmod", path))
    }
    fn mkdir(&mut self, path: &HostPath, mode: u32) -> Result<(), EdgeError> {
        crate::host::fs::mkdir(&self.root.resolve(path)?, mode).map_err(Self::io("create directory", path))
    }
    fn write(&mut self, path: &HostPath, bytes: &[u8], mode: u32) -> Result<(), EdgeError> {
        crate::host::fs::atomic_write(&self.root.resolve(path)?, bytes, mode).map_err(Self::io("write", path))
    }
    fn remove_file(&mut self, path: &HostPath) -> Result<bool, EdgeError> {
        Ok(self.remover()?.remove_file(path)? == Outcome::Removed)
    }
    fn remove_dir(&mut self, path: &HostPath) -> Result<bool, EdgeError> {
        Ok(self.remover()?.remove_dir_if_empty(path)? == Outcome::Removed)
    }
    fn detach_own_mount(&mut self, path: &HostPath) -> Result<(), EdgeError> {
        let real = self.root.resolve(path)?;
        let target = real.to_string_lossy().into_owned();
        let own = std::fs::read_to_string("/proc/self/mountinfo").unwrap_or_default();
        if own.lines().filter_map(|l| l.split(' ').nth(4)).map(crate::mountinfo::unescape).any(|m| m == target) {
            let _ = nix::mount::umount2(real.as_path(), nix::mount::MntFlags::MNT_DETACH);
        }
        Ok(())
    }
    fn clear_dir(&mut self, path: &HostPath) -> Result<crate::host::remove::TreeReport, EdgeError> {
        // kubeup's own mount namespace may hold copies of mounts below the directory (a container
        // started while they existed gets them with its -v /:/host): detach those first, or the
        // directories stay busy.
        let real = self.root.resolve(path)?;
        let prefix = real.to_string_lossy().into_owned();
        let own = std::fs::read_to_string("/proc/self/mountinfo").unwrap_or_default();
        let mut mounts: Vec<String> =
            own.lines().filter_map(|l| l.split(' ').nth(4)).map(crate::mountinfo::unescape).filter(|m| m.starts_with(&format!("{prefix}/"))).collect();
        mounts.sort_by_key(|m| std::cmp::Reverse(m.len()));
        for m in mounts {
            let _ = nix::mount::umount2(m.as_str(), nix::mount::MntFlags::MNT_DETACH);
        }
        Ok(self.remover()?.clear_dir(path)?)
    }
    fn run(&mut self, action: &HostAction) -> Result<String, EdgeError> {
        Ok(crate::host::actions::apply(&self.exec, action)?)
    }
    fn describe(&self) -> String {
        self.exec.describe()
    }
}

/// Docker, with how the host root maps to the Docker host and what privilege it can grant.
pub struct RealRuntime {
    /// The engine, when reachable.
    pub docker: Option<Runtime>,
    /// Host paths as the Docker host sees them.
    pub mapping: HostMapping,
    /// What `privileged` becomes here.
    pub privileges: Privileges,
    /// Extra labels for every container (`--container-label`).
    pub labels: BTreeMap<String, String>,
}

impl RealRuntime {
    fn docker(&self) -> Result<&Runtime, EdgeError> {
        self.docker.as_ref().ok_or_else(|| {
            EdgeError::Unavailable(
                "Docker is not reachable, so no container can start: run the installer with -v /var/run/docker.sock:/var/run/docker.sock".into(),
            )
        })
    }
}

impl RuntimeEdge for RealRuntime {
    fn ensure_container<'a>(&'a self, spec: &'a ContainerSpec) -> LocalBoxFuture<'a, Result<ContainerOutcome, EdgeError>> {
        async move { Ok(self.docker()?.ensure_container(spec, &self.mapping, &self.privileges, &self.labels).await?) }.boxed_local()
    }
    fn remove_container<'a>(&'a self, name: &'a str) -> LocalBoxFuture<'a, Result<bool, EdgeError>> {
        async move {
            let docker = self.docker()?;
            match docker.find_by_name(name).await? {
                // Only what kubeup made: its label says so.
                Some(c) if c.labels.get(crate::runtime::LABEL_MANAGED).map(String::as_str) == Some("true") => {
                    docker.remove(&c.id).await?;
                    Ok(true)
                }
                _ => Ok(false),
            }
        }
        .boxed_local()
    }
    fn describe_privileges(&self) -> String {
        self.privileges.describe()
    }
}

/// The Kubernetes API through admin.conf, and the waits of this node's components.
pub struct RealCluster {
    /// The host root (kubeconfigs, PKI, static pod logs).
    pub root: HostRoot,
    /// Docker, for the kubelet container's state and logs in waits and diagnoses.
    pub docker: Option<Runtime>,
    /// The kubelet container's name.
    pub kubelet: String,
    /// The certificate directory.
    pub cert_dir: String,
    /// This node's name.
    pub node_name: String,
    admin: RefCell<Option<kube::Client>>,
}

impl RealCluster {
    /// The cluster edge of a node.
    pub fn new(root: HostRoot, docker: Option<Runtime>, kubelet: String, cert_dir: String, node_name: String) -> RealCluster {
        RealCluster { root, docker, kubelet, cert_dir, node_name, admin: RefCell::new(None) }
    }

    fn kubeconfig(&self, file: &str) -> Result<Option<String>, EdgeError> {
        let Some(bytes) = self.root.read(&crate::paths::kubeconfig(file))? else { return Ok(None) };
        String::from_utf8(bytes).map(Some).map_err(|_| HostError::Conflict { path: crate::paths::kubeconfig(file), reason: "is not UTF-8 text".into() }.into())
    }

    /// The admin client, made when the first API step needs it (admin.conf exists by then).
    /// From v1.29 admin.conf's group `kubeadm:cluster-admins` is powerless until its binding
    /// exists; as kubeadm does, that one binding is made first with super-admin.conf.
    async fn admin(&self) -> Result<kube::Client, EdgeError> {
        if let Some(c) = self.admin.borrow().as_ref() {
            return Ok(c.clone());
        }
        let text = self.kubeconfig("admin.conf")?.ok_or_else(|| {
            EdgeError::Unavailable(
                "/etc/kubernetes/admin.conf does not exist on this host: run this on a control-plane node set up by kubeup (or `kubeup init phase kubeconfig admin` first)".into(),
            )
        })?;
        let c = client::client_from_kubeconfig(&text, "/etc/kubernetes/admin.conf").await?;
        if let Some(super_admin) = self.kubeconfig("super-admin.conf")? {
            let cert = crate::kubeconfig::read_existing(&text).ok().and_then(|a| a.client_cert_pem);
            if cert.as_deref().map(crate::pki::subject_orgs).unwrap_or_default().iter().any(|o| o == "kubeadm:cluster-admins") {
                let sa = client::client_from_kubeconfig(&super_admin, "/etc/kubernetes/super-admin.conf").await?;
                client::apply(&sa, &crate::objects::rbac::admin_binding(), false).await?;
            }
        }
        *self.admin.borrow_mut() = Some(c.clone());
        Ok(c)
    }
}

impl ClusterEdge for RealCluster {
    fn apply<'a>(&'a self, object: &'a serde_json::Value, mode: ApplyMode) -> LocalBoxFuture<'a, Result<Applied, EdgeError>> {
        async move { Ok(client::apply(&self.admin().await?, object, mode != ApplyMode::Apply).await?) }.boxed_local()
    }
    fn apply_owned<'a>(&'a self, object: &'a serde_json::Value, owner: &'a str) -> LocalBoxFuture<'a, Result<Applied, EdgeError>> {
        async move { Ok(client::apply_owned(&self.admin().await?, object, owner).await?) }.boxed_local()
    }
    fn delete<'a>(&'a self, object: &'a serde_json::Value) -> LocalBoxFuture<'a, Result<bool, EdgeError>> {
        async move { Ok(client::delete(&self.admin().await?, object).await?) }.boxed_local()
    }
    fn sign_cluster_info<'a>(&'a self, token: &'a crate::token::BootstrapToken) -> LocalBoxFuture<'a, Result<(), EdgeError>> {
        async move { Ok(client::sign_cluster_info(&self.admin().await?, token).await?) }.boxed_local()
    }
    fn bootstrap_tokens(&self) -> LocalBoxFuture<'_, Result<Vec<k8s_openapi::api::core::v1::Secret>, EdgeError>> {
        async move { Ok(client::bootstrap_tokens(&self.admin().await?).await?) }.boxed_local()
    }
    fn mark_node<'a>(
        &'a self,
        name: &'a str,
        labels: &'a [String],
        taints: &'a [String],
        annotations: &'a std::collections::BTreeMap<String, String>,
    ) -> LocalBoxFuture<'a, Result<bool, EdgeError>> {
        async move {
            // A worker has no admin.conf: it annotates its own Node with the kubelet's credentials,
            // which the Node authorizer allows (as kubeadm join does).
            let client = if labels.is_empty() && taints.is_empty() && self.kubeconfig("admin.conf")?.is_none() {
                crate::cluster::health::kubelet_client(&self.root).await.ok_or_else(|| {
                    EdgeError::Unavailable("/etc/kubernetes/kubelet.conf is missing or unusable: the kubelet's TLS bootstrap did not finish".into())
                })?
            } else {
                self.admin().await?
            };
            Ok(client::mark_node(&client, name, labels, taints, annotations, Duration::from_secs(240)).await?)
        }
        .boxed_local()
    }
    fn wait(&self, target: WaitTarget, timeout: Duration) -> LocalBoxFuture<'_, Result<Duration, EdgeError>> {
        async move {
            let admin = match target {
                WaitTarget::ApiServer => Some(self.admin().await?),
                // A control-plane node may read its Node as the admin (a worker has no admin.conf).
                WaitTarget::NodeReady => self.admin().await.ok(),
                _ => None,
            };
            let probe = health::Probe {
                root: &self.root,
                docker: self.docker.as_ref(),
                kubelet: self.kubelet.clone(),
                admin,
                cert_dir: self.cert_dir.clone(),
                node_name: self.node_name.clone(),
            };
            probe.wait(target, timeout).await.map_err(EdgeError::Wait)
        }
        .boxed_local()
    }
}

/// etcd's gateway, with a client certificate of the etcd CA on this host.
pub struct RealEtcd {
    /// The host root.
    pub root: HostRoot,
    /// The certificate directory.
    pub cert_dir: String,
}

impl RealEtcd {
    fn connect(&self, endpoint: &str) -> Result<Etcd, EdgeError> {
        let read = |f: &str| -> Result<String, EdgeError> {
            let p =
                HostPath::new(format!("{}/{f}", self.cert_dir)).map_err(|e| HostError::Conflict { path: crate::paths::known("/"), reason: e.to_string() })?;
            let b = self.root.read(&p)?.ok_or_else(|| HostError::Conflict { path: p.clone(), reason: "does not exist".into() })?;
            Ok(String::from_utf8_lossy(&b).into_owned())
        };
        let ca = crate::pki::CertPair { cert_pem: read("etcd/ca.crt")?, key_pem: read("etcd/ca.key")? };
        Ok(Etcd::connect(endpoint, &ca)?)
    }
}

impl EtcdEdge for RealEtcd {
    fn add_learner<'a>(&'a self, endpoint: &'a str, peer_url: &'a str) -> LocalBoxFuture<'a, Result<String, EdgeError>> {
        async move { Ok(self.connect(endpoint)?.add_learner(peer_url).await?) }.boxed_local()
    }
    fn promote<'a>(&'a self, endpoint: &'a str, peer_url: &'a str) -> LocalBoxFuture<'a, Result<(), EdgeError>> {
        async move { Ok(self.connect(endpoint)?.promote(peer_url, Duration::from_secs(120)).await?) }.boxed_local()
    }
    fn remove_member<'a>(&'a self, endpoint: &'a str, peer_url: &'a str) -> LocalBoxFuture<'a, Result<String, EdgeError>> {
        async move { Ok(self.connect(endpoint)?.remove(peer_url).await?) }.boxed_local()
    }
}
