//! The resolved, validated configuration of one node: what every renderer reads.
//!
//! Pure.

use std::collections::BTreeMap;
use std::net::IpAddr;
use std::time::Duration;

use super::{Cidr, TokenSettings};
use crate::version::KubeVersion;

/// Where the API server is reached: host (IP or DNS name) and port.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Endpoint {
    /// IP address or DNS name.
    pub host: String,
    /// TCP port.
    pub port: u16,
}

impl Endpoint {
    /// `https://host:port` (IPv6 hosts bracketed).
    pub fn url(&self) -> String {
        match self.host.parse::<IpAddr>() {
            Ok(IpAddr::V6(_)) => format!("https://[{}]:{}", self.host, self.port),
            _ => format!("https://{}:{}", self.host, self.port),
        }
    }
}

/// The resolved, validated configuration of one control-plane node.
#[derive(Debug, Clone, PartialEq)]
pub struct Config {
    /// Kubernetes release.
    pub version: KubeVersion,
    /// Cluster name.
    pub cluster_name: String,
    /// Shared API endpoint, if configured.
    pub control_plane_endpoint: Option<Endpoint>,
    /// Image registry prefix.
    pub image_repository: String,
    /// PKI directory on the host (absolute).
    pub cert_dir: String,
    /// Leaf certificate lifetime.
    pub cert_validity: Duration,
    /// CA certificate lifetime.
    pub ca_validity: Duration,
    /// Certificate renewal and kubelet serving certificates.
    pub renewal: super::renewal::Renewal,
    /// Service cluster IP range.
    pub service_subnet: Cidr,
    /// Pod IP range, if any.
    pub pod_subnet: Option<Cidr>,
    /// Cluster DNS domain.
    pub dns_domain: String,
    /// Node name.
    pub node_name: String,
    /// Advertise address of this node.
    pub advertise_address: IpAddr,
    /// API server port.
    pub bind_port: u16,
    /// CRI endpoint URL.
    pub cri_socket: String,
    /// Cgroup driver of the kubelet.
    pub cgroup_driver: String,
    /// Kubelet container image.
    pub kubelet_image: String,
    /// Extra kubelet flags.
    pub kubelet_extra_args: BTreeMap<String, String>,
    /// Extra API server SANs.
    pub apiserver_cert_sans: Vec<String>,
    /// Extra flags per component.
    pub apiserver_extra_args: BTreeMap<String, String>,
    /// Extra flags of the controller-manager.
    pub controller_manager_extra_args: BTreeMap<String, String>,
    /// Extra flags of the scheduler.
    pub scheduler_extra_args: BTreeMap<String, String>,
    /// etcd data directory on the host.
    pub etcd_data_dir: String,
    /// etcd image tag.
    pub etcd_image_tag: String,
    /// Extra etcd serving SANs.
    pub etcd_server_cert_sans: Vec<String>,
    /// Extra etcd peer SANs.
    pub etcd_peer_cert_sans: Vec<String>,
    /// Extra etcd flags.
    pub etcd_extra_args: BTreeMap<String, String>,
    /// Bootstrap tokens for later phases.
    pub bootstrap_tokens: Vec<TokenSettings>,
    /// Preflight errors to ignore (lower-case).
    pub ignore_preflight_errors: Vec<String>,
    /// Phases to skip.
    pub skip_phases: Vec<String>,
    /// The pod network `addon` installs.
    pub pod_network: PodNetwork,
    /// `upload-certs` uploads the shared certificates.
    pub upload_certs: bool,
    /// The certificate key given (else generated once and kept on the host).
    pub certificate_key: Option<String>,
    /// For a joining control-plane node: the etcd members it joins (name, peer URL), itself
    /// last; empty for the first node.
    pub etcd_initial_cluster: Vec<(String, String)>,
    /// kubeup's own image (the `bridge` network agent).
    pub kubeup_image: String,
    /// KubeProxyConfiguration fields over kubeup's defaults (an object, or null).
    pub kube_proxy_overrides: serde_json::Value,
}

/// The pod network `init` installs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PodNetwork {
    /// flannel (VXLAN), the usual choice; its images come from ghcr.io/flannel-io.
    Flannel,
    /// A bridge + host-local CNI config per node and routes between nodes on one L2 subnet,
    /// kept by kubeup's own image as a DaemonSet: no extra image needed.
    Bridge,
    /// None: install your own (nodes stay NotReady until one exists).
    None,
    /// The objects of a manifest file (YAML or JSON, several documents).
    Manifest(String),
}

impl std::fmt::Display for PodNetwork {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            PodNetwork::Flannel => f.write_str("flannel"),
            PodNetwork::Bridge => f.write_str("bridge"),
            PodNetwork::None => f.write_str("none"),
            PodNetwork::Manifest(p) => f.write_str(p),
        }
    }
}

/// Default image of kubeup itself when it does not run in a container.
pub const DEFAULT_KUBEUP_IMAGE: &str = "kubeup:latest";

/// Merge `top` into `base` (objects recursively; anything else replaced).
pub fn merge_json(base: &mut serde_json::Value, top: &serde_json::Value) {
    match (base, top) {
        (serde_json::Value::Object(b), serde_json::Value::Object(t)) => {
            for (k, v) in t {
                match b.get_mut(k) {
                    Some(existing) => merge_json(existing, v),
                    None => {
                        b.insert(k.clone(), v.clone());
                    }
                }
            }
        }
        (b, t) => *b = t.clone(),
    }
}

impl Config {
    /// The API server URL clients outside this node use (admin.conf, cluster-info): the
    /// control-plane endpoint if set, else this node's advertise address.
    pub fn cluster_endpoint(&self) -> Endpoint {
        self.control_plane_endpoint.clone().unwrap_or_else(|| self.local_endpoint())
    }

    /// This node's own API server (controller-manager.conf, scheduler.conf, kubelet.conf).
    pub fn local_endpoint(&self) -> Endpoint {
        Endpoint { host: self.advertise_address.to_string(), port: self.bind_port }
    }

    /// First IP of the service range: the `kubernetes` Service, a SAN of the API server cert.
    pub fn apiserver_service_ip(&self) -> IpAddr {
        // Invariant: validation guarantees the service subnet has at least 10 addresses.
        self.service_subnet.nth(1).unwrap_or(self.service_subnet.network())
    }

    /// Tenth IP of the service range: the cluster DNS Service.
    pub fn dns_service_ip(&self) -> IpAddr {
        self.service_subnet.nth(10).unwrap_or(self.service_subnet.network())
    }

    /// Full reference of a control-plane image, e.g. `registry.k8s.io/kube-apiserver:v1.20.2`.
    pub fn image(&self, component: &str) -> String {
        format!("{}/{}:{}", self.image_repository, component, self.version.tag())
    }

    /// etcd image reference.
    pub fn etcd_image(&self) -> String {
        format!("{}/etcd:{}", self.image_repository, self.etcd_image_tag)
    }

    /// pause image reference.
    pub fn pause_image(&self) -> String {
        format!("{}/pause:{}", self.image_repository, self.version.facts().pause_tag)
    }
}
