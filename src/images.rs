//! Every image a node needs for a configuration (`kubeup images list`), and so what an
//! air-gapped bundle must hold.
//!
//! Pure.

use crate::config::Config;

/// Images of a control-plane node, in a stable order: the control plane's, then the pod
/// network's.
pub fn required(cfg: &Config) -> Vec<String> {
    let (coredns_path, coredns_tag) = cfg.version.facts().coredns_image;
    let mut v = vec![
        cfg.image("kube-apiserver"),
        cfg.image("kube-controller-manager"),
        cfg.image("kube-scheduler"),
        cfg.image("kube-proxy"),
        cfg.etcd_image(),
        cfg.pause_image(),
        format!("{}/{coredns_path}:{coredns_tag}", cfg.image_repository),
        cfg.kubelet_image.clone(),
    ];
    v.extend(crate::objects::pod_network::images(cfg));
    v
}

/// Where a bundle's images go on one node.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Placement {
    /// Images Docker runs itself (the kubelet container's); every other image of the bundle is
    /// for pods, so for the CRI runtime's store.
    pub docker: Vec<String>,
    /// Images no pod of this node runs (the control plane's, on a worker): loaded nowhere.
    pub not_here: Vec<String>,
}

/// The placement for a node: the kubelet image into Docker; on a worker, the control-plane
/// images nowhere (its static pods exist only on control-plane nodes).
pub fn placement(cfg: &Config, control_plane: bool) -> Placement {
    let not_here = if control_plane {
        Vec::new()
    } else {
        vec![cfg.image("kube-apiserver"), cfg.image("kube-controller-manager"), cfg.image("kube-scheduler"), cfg.etcd_image()]
    };
    Placement { docker: vec![cfg.kubelet_image.clone()], not_here }
}
