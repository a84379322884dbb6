//! EDGE: the Kubernetes API and the node's health endpoints.
//!
//! `objects` builds the API objects (pure); this module applies them (server-side apply,
//! retried like kubeadm's: every 500 ms for up to a minute on transient errors) and probes the
//! control plane's health endpoints for `wait-control-plane`.

pub mod addons;
pub mod client;
pub mod etcd;
pub mod health;
pub mod objects;
pub mod pod_network;
