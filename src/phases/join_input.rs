//! What discovery and the cluster told a joining node, and whether this host already is one of
//! its nodes: the input of `join`'s phases (its own module, so the phases that read it do not
//! depend on each other).
//!
//! Pure.

use super::{Ctx, PhaseError};
use crate::paths;

/// What discovery and the cluster told a joining node.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct JoinInput {
    /// The verified cluster CA (PEM).
    pub ca_pem: String,
    /// `bootstrap-kubelet.conf`: the API server, the CA and the bootstrap token.
    pub bootstrap_kubeconfig: String,
    /// The kubelet configuration from the cluster's ConfigMap, verbatim (as kubeadm writes it).
    pub kubelet_config: String,
    /// For a control-plane join: what it takes beyond a worker's.
    pub control_plane: Option<ControlPlaneInput>,
    /// For a worker: the node-local API proxy its kubelet talks through.
    pub api_proxy: Option<super::api_proxy::ApiProxyInput>,
}

/// A control-plane join's extra input.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ControlPlaneInput {
    /// The shared files from kubeadm-certs, decrypted: (path under the certificate directory,
    /// bytes, mode).
    pub shared: Vec<(String, Vec<u8>, u32)>,
    /// A member's etcd client URL, through which this node is added.
    pub etcd_endpoint: String,
}

/// Whether this host already is a node of the cluster being joined (kubelet.conf exists and
/// the CA on disk is the cluster's): a re-run then converges instead of refusing.
pub fn already_member(ctx: &Ctx) -> Result<bool, PhaseError> {
    match ctx.join {
        Some(j) => is_member(&ctx.view, &ctx.cfg.cert_dir, &j.ca_pem),
        None => Ok(false),
    }
}

/// Whether the host (seen through `view`) is a node of the cluster whose CA is `ca_pem`.
pub fn is_member(view: &super::View, cert_dir: &str, ca_pem: &str) -> Result<bool, PhaseError> {
    let path = crate::paths::HostPath::new(format!("{cert_dir}/ca.crt")).map_err(|e| PhaseError::Render { what: "ca.crt".into(), reason: e.to_string() })?;
    let ca = view.read(&path)?;
    Ok(view.exists(&paths::kubeconfig("kubelet.conf"))? && ca.as_deref() == Some(ca_pem.as_bytes()))
}
