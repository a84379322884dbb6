//! Layering [`Settings`]: the defaults, then a file, then the flags; each later layer's values
//! win, field by field (maps merged key by key, lists replaced when given).
//!
//! Pure.

use std::collections::BTreeMap;

use std::time::Duration;

use super::{merge_json, EtcdSettings, GoDuration, Networking, NodeSettings, Settings, DEFAULT_CRI_SOCKET, KUBEUP_API_VERSION};
use crate::version::DEFAULT_KUBERNETES_VERSION;

/// Replace `a` with `b` where `b` is set.
fn over<T: Clone>(a: &mut Option<T>, b: &Option<T>) {
    if b.is_some() {
        a.clone_from(b);
    }
}

fn over_vec<T: Clone>(a: &mut Vec<T>, b: &[T]) {
    if !b.is_empty() {
        a.clear();
        a.extend_from_slice(b);
    }
}

fn over_map(a: &mut BTreeMap<String, String>, b: &BTreeMap<String, String>) {
    a.extend(b.iter().map(|(k, v)| (k.clone(), v.clone())));
}

impl Settings {
    /// Lay `top` (e.g. the flags) over `self` (e.g. the file): every field `top` sets wins; extra
    /// args are merged key by key.
    pub fn overlay(mut self, top: &Settings) -> Settings {
        over(&mut self.kubernetes_version, &top.kubernetes_version);
        over(&mut self.cluster_name, &top.cluster_name);
        over(&mut self.control_plane_endpoint, &top.control_plane_endpoint);
        over(&mut self.image_repository, &top.image_repository);
        over(&mut self.certificates_dir, &top.certificates_dir);
        over(&mut self.encryption_algorithm, &top.encryption_algorithm);
        over(&mut self.certificate_validity_period, &top.certificate_validity_period);
        over(&mut self.ca_certificate_validity_period, &top.ca_certificate_validity_period);
        over(&mut self.networking.service_subnet, &top.networking.service_subnet);
        over(&mut self.networking.pod_subnet, &top.networking.pod_subnet);
        over(&mut self.networking.dns_domain, &top.networking.dns_domain);
        over(&mut self.node.name, &top.node.name);
        over(&mut self.node.advertise_address, &top.node.advertise_address);
        over(&mut self.node.bind_port, &top.node.bind_port);
        over(&mut self.node.cri_socket, &top.node.cri_socket);
        over(&mut self.node.cgroup_driver, &top.node.cgroup_driver);
        over(&mut self.node.kubelet_image, &top.node.kubelet_image);
        over_map(&mut self.node.kubelet_extra_args, &top.node.kubelet_extra_args);
        over_vec(&mut self.api_server.cert_sans, &top.api_server.cert_sans);
        over_map(&mut self.api_server.extra_args, &top.api_server.extra_args);
        over_map(&mut self.controller_manager.extra_args, &top.controller_manager.extra_args);
        over_map(&mut self.scheduler.extra_args, &top.scheduler.extra_args);
        over(&mut self.etcd.data_dir, &top.etcd.data_dir);
        over(&mut self.etcd.image_tag, &top.etcd.image_tag);
        over_vec(&mut self.etcd.server_cert_sans, &top.etcd.server_cert_sans);
        over_vec(&mut self.etcd.peer_cert_sans, &top.etcd.peer_cert_sans);
        over_map(&mut self.etcd.extra_args, &top.etcd.extra_args);
        over_vec(&mut self.bootstrap_tokens, &top.bootstrap_tokens);
        over_vec(&mut self.ignore_preflight_errors, &top.ignore_preflight_errors);
        over_vec(&mut self.skip_phases, &top.skip_phases);
        over(&mut self.networking.pod_network, &top.networking.pod_network);
        over(&mut self.kubeup_image, &top.kubeup_image);
        over(&mut self.upload_certs, &top.upload_certs);
        over(&mut self.certificate_key, &top.certificate_key);
        self.certificate_renewal.overlay(&top.certificate_renewal);
        if let (Some(base), Some(top)) = (&mut self.kube_proxy, &top.kube_proxy) {
            merge_json(base, top);
        } else if top.kube_proxy.is_some() {
            self.kube_proxy = top.kube_proxy.clone();
        }
        self
    }

    /// kubeadm v1beta4's defaults (plus kubeup's choices where kubeadm has none), as a layer.
    /// Node name and advertise address are host-specific and left out.
    pub fn defaults() -> Settings {
        Settings {
            api_version: Some(KUBEUP_API_VERSION.into()),
            kind: Some("Configuration".into()),
            kubernetes_version: DEFAULT_KUBERNETES_VERSION.parse().ok(),
            cluster_name: Some("kubernetes".into()),
            image_repository: Some("registry.k8s.io".into()),
            certificates_dir: Some("/etc/kubernetes/pki".into()),
            encryption_algorithm: Some("ECDSA-P256".into()),
            certificate_validity_period: Some(GoDuration(Duration::from_secs(8760 * 3600))),
            ca_certificate_validity_period: Some(GoDuration(Duration::from_secs(87600 * 3600))),
            networking: Networking {
                service_subnet: "10.96.0.0/12".parse().ok(),
                pod_subnet: None,
                dns_domain: Some("cluster.local".into()),
                pod_network: Some("flannel".into()),
            },
            node: NodeSettings { bind_port: Some(6443), cri_socket: Some(DEFAULT_CRI_SOCKET.into()), ..Default::default() },
            etcd: EtcdSettings { data_dir: Some("/var/lib/etcd".into()), ..Default::default() },
            ..Default::default()
        }
    }
}
