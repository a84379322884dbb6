//! The edges a plan is carried out against, as traits: the host (files, commands, mounts), the
//! container runtime, the Kubernetes API, etcd. Each has the real implementation (`real.rs`,
//! wrapping `host/`, `runtime/`, `cluster/`) and a recording fake (`fake.rs`) that unit tests
//! drive, with a failure injectable at any call.
//!
//! The asynchronous edges return boxed futures so that a command can choose its edges at run
//! time (the real ones, or the fakes a test hook selects) behind `dyn`.

use std::time::Duration;

use futures_util::future::LocalBoxFuture;

use crate::kubelet::container::ContainerSpec;
use crate::paths::HostPath;
use crate::plan::{ApplyMode, HostAction, WaitTarget};

/// Why an edge operation failed. Each message names the object and, where there is one, the fix.
#[derive(Debug, thiserror::Error)]
pub enum EdgeError {
    /// The host root: a file, a directory, a refused overwrite.
    #[error(transparent)]
    Host(#[from] crate::host::HostError),
    /// A host command.
    #[error(transparent)]
    Command(#[from] crate::host::actions::ActionError),
    /// Removing something without following links.
    #[error(transparent)]
    Remove(#[from] crate::host::remove::RemoveError),
    /// The container runtime.
    #[error(transparent)]
    Runtime(#[from] crate::runtime::RuntimeError),
    /// The Kubernetes API.
    #[error(transparent)]
    Cluster(#[from] crate::cluster::client::ClusterError),
    /// etcd.
    #[error(transparent)]
    Etcd(#[from] crate::cluster::etcd::EtcdError),
    /// A wait that timed out or failed, with its diagnosis.
    #[error("{0}")]
    Wait(String),
    /// Something the edge cannot do here (Docker unreachable and the like), with the fix.
    #[error("{0}")]
    Unavailable(String),
    /// A failure a test injected.
    #[error("injected failure at {0}")]
    Injected(String),
}

pub use crate::plan::{Applied, ContainerOutcome};

/// The host: its files (below the host root, never following links it did not make) and its
/// commands (in its namespaces).
pub trait HostEdge {
    /// A file's bytes, if it exists.
    fn read(&self, path: &HostPath) -> Result<Option<Vec<u8>>, EdgeError>;
    /// `Some(true)` for a directory, `Some(false)` for anything else, `None` if absent.
    fn kind(&self, path: &HostPath) -> Result<Option<bool>, EdgeError>;
    /// Permission bits.
    fn mode(&self, path: &HostPath) -> Result<u32, EdgeError>;
    /// Set permission bits.
    fn set_mode(&mut self, path: &HostPath, mode: u32) -> Result<(), EdgeError>;
    /// Create one directory (its parent exists).
    fn mkdir(&mut self, path: &HostPath, mode: u32) -> Result<(), EdgeError>;
    /// Write a file atomically with exactly this mode.
    fn write(&mut self, path: &HostPath, bytes: &[u8], mode: u32) -> Result<(), EdgeError>;
    /// Remove a file or link (never what a link points to). Whether it existed.
    fn remove_file(&mut self, path: &HostPath) -> Result<bool, EdgeError>;
    /// Remove a directory if it is empty. Whether it was removed.
    fn remove_dir(&mut self, path: &HostPath) -> Result<bool, EdgeError>;
    /// Drop kubeup's own view of a mount at `path` (the host already unmounted it).
    fn detach_own_mount(&mut self, path: &HostPath) -> Result<(), EdgeError>;
    /// Remove everything below a directory (it stays), never following a link, never entering
    /// another file system; what could not be removed is in the report.
    fn clear_dir(&mut self, path: &HostPath) -> Result<crate::host::remove::TreeReport, EdgeError>;
    /// Carry out a host action; returns what was done, for people.
    fn run(&mut self, action: &HostAction) -> Result<String, EdgeError>;
    /// How host commands are run, for people.
    fn describe(&self) -> String;
}

/// The container runtime that runs the kubelet (Docker).
pub trait RuntimeEdge {
    /// Create, keep or recreate a container (by its configuration hash).
    fn ensure_container<'a>(&'a self, spec: &'a ContainerSpec) -> LocalBoxFuture<'a, Result<ContainerOutcome, EdgeError>>;
    /// Remove a container by name; whether it existed.
    fn remove_container<'a>(&'a self, name: &'a str) -> LocalBoxFuture<'a, Result<bool, EdgeError>>;
    /// What privilege containers get here, for people.
    fn describe_privileges(&self) -> String;
}

/// The Kubernetes API, and the waits for the node's components.
pub trait ClusterEdge {
    /// Apply an object as `mode` says.
    fn apply<'a>(&'a self, object: &'a serde_json::Value, mode: ApplyMode) -> LocalBoxFuture<'a, Result<Applied, EdgeError>>;
    /// Server-side apply an object owned by Secret kube-system/`owner`.
    fn apply_owned<'a>(&'a self, object: &'a serde_json::Value, owner: &'a str) -> LocalBoxFuture<'a, Result<Applied, EdgeError>>;
    /// Delete an object; whether it existed.
    fn delete<'a>(&'a self, object: &'a serde_json::Value) -> LocalBoxFuture<'a, Result<bool, EdgeError>>;
    /// Sign cluster-info for a bootstrap token at once.
    fn sign_cluster_info<'a>(&'a self, token: &'a crate::token::BootstrapToken) -> LocalBoxFuture<'a, Result<(), EdgeError>>;
    /// The cluster's bootstrap token Secrets.
    fn bootstrap_tokens(&self) -> LocalBoxFuture<'_, Result<Vec<k8s_openapi::api::core::v1::Secret>, EdgeError>>;
    /// Label, taint and annotate a Node once it registered; whether anything changed.
    fn mark_node<'a>(
        &'a self,
        name: &'a str,
        labels: &'a [String],
        taints: &'a [String],
        annotations: &'a std::collections::BTreeMap<String, String>,
    ) -> LocalBoxFuture<'a, Result<bool, EdgeError>>;
    /// Wait for a component; how long it took, or [`EdgeError::Wait`] with the diagnosis.
    fn wait(&self, target: WaitTarget, timeout: Duration) -> LocalBoxFuture<'_, Result<Duration, EdgeError>>;
}

/// etcd's membership.
pub trait EtcdEdge {
    /// Add `peer_url` as a learner through `endpoint`; the member id.
    fn add_learner<'a>(&'a self, endpoint: &'a str, peer_url: &'a str) -> LocalBoxFuture<'a, Result<String, EdgeError>>;
    /// Promote the learner `peer_url` once it caught up.
    fn promote<'a>(&'a self, endpoint: &'a str, peer_url: &'a str) -> LocalBoxFuture<'a, Result<(), EdgeError>>;
    /// Remove the member `peer_url`; what was done, for people.
    fn remove_member<'a>(&'a self, endpoint: &'a str, peer_url: &'a str) -> LocalBoxFuture<'a, Result<String, EdgeError>>;
}

/// The four edges of one run.
pub struct Edges<'e> {
    /// The host.
    pub host: &'e mut dyn HostEdge,
    /// The container runtime.
    pub runtime: &'e dyn RuntimeEdge,
    /// The Kubernetes API.
    pub cluster: &'e dyn ClusterEdge,
    /// etcd.
    pub etcd: &'e dyn EtcdEdge,
}
