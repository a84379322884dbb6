//! EDGE: the Kubernetes API and the node's health endpoints.
//!
//! The objects themselves are rendered by `objects/` (pure); this module applies them
//! (server-side apply, retried like kubeadm's: every 500 ms for up to a minute on transient
//! errors), probes the control plane's health endpoints for the waits, and talks to etcd.

pub mod client;
pub mod etcd;
pub mod health;
pub mod renewal;
