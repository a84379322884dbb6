//! Carrying out plans: the [`executor`] runs every step of a run against the [`edges`] it is
//! given — the host, the container runtime, the Kubernetes API, etcd — journals each change and,
//! on a failure, rolls back what it may ([`journal`]). [`real`] adapts `host/`, `runtime/` and
//! `cluster/` to those edges; [`fake`] records instead (unit tests, and one test hook);
//! [`environment`] gathers the host's facts and builds a run's real edges; [`images`] loads
//! bundles and copies images into the CRI runtime.
//!
//! Commands reach the machine only through this module.

pub mod edges;
pub mod environment;
pub mod executor;
#[cfg(any(test, feature = "test-hooks"))]
pub mod fake;
pub mod files;
pub mod images;
pub mod journal;
pub mod real;

/// The certificate renewer's API calls (Lease, Events, kubelet serving CSRs).
pub use crate::cluster::renewal::{RenewerApi, LEASE as RENEWAL_LEASE};
pub use edges::{EdgeError, Edges};
pub use environment::{EdgeSet, Environment, HostAccess, RunSettings};
pub use executor::{BestEffort, ExecError, Executor, Outcome};
pub use files::Changes;

#[cfg(test)]
mod tests;
