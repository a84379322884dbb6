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
