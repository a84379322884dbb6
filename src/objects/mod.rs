//! The API objects kubeup creates, rendered as data from k8s-openapi types with kubeadm's exact
//! names (kubeadm.md §5), so kubeadm's own tools work against a kubeup cluster. The cluster
//! layer (`cluster/`) applies them; nothing here talks to anything.
//!
//! Pure.
//!
//! - [`cluster`]: bootstrap tokens, cluster-info, kubeadm-config and the kubelet's ConfigMap,
//!   kubeadm-certs;
//! - [`rbac`]: kubeadm's roles and bindings, and the helpers every RBAC object here is built with;
//! - [`kube_proxy`], [`coredns`]: the `addon` phase;
//! - [`pod_network`]: flannel, kubeup's bridge network, or a user's manifest;
//! - [`workloads`]: the pieces pods are built from.

pub mod cluster;
pub mod coredns;
pub mod kube_proxy;
pub mod pod_network;
pub mod rbac;
pub mod workloads;

use std::collections::BTreeMap;

use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;
use serde::Serialize;

/// The group of the default node token.
pub const DEFAULT_NODE_TOKEN_GROUP: &str = "system:bootstrappers:kubeadm:default-node-token";

/// Any typed object as JSON (k8s-openapi serializes apiVersion and kind itself).
pub fn json<T: Serialize>(obj: &T) -> serde_json::Value {
    serde_json::to_value(obj).unwrap_or_default()
}

/// Labels from pairs.
pub fn labels(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
    pairs.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect()
}

/// Metadata: name, namespace (cluster-scoped: `None`) and labels.
pub fn meta(name: &str, ns: Option<&str>, l: &[(&str, &str)]) -> ObjectMeta {
    ObjectMeta { name: Some(name.into()), namespace: ns.map(str::to_string), labels: (!l.is_empty()).then(|| labels(l)), ..Default::default() }
}
