//! The configuration of a node: what the user asked for (file and flags) and the resolved,
//! validated [`Config`] every renderer reads.
//!
//! Pure, except that [`HostDefaults`] (hostname, an address of this machine) are gathered by the
//! caller and passed in, so rendering for another machine works the same way.
//!
//! Layering: kubeadm v1beta4 defaults < config file < command-line flags. The file is either
//! kubeup's own document (`apiVersion: kubeup.io/v1alpha1`, `kind: Configuration`, see
//! [`Settings`]) or kubeadm's `InitConfiguration` + `ClusterConfiguration` (v1beta3/v1beta4, see
//! [`kubeadm`]); both land in the same [`Settings`].

pub mod duration;
pub mod join_config;
pub mod kubeadm;
pub mod net;
mod validate;

use std::collections::BTreeMap;
use std::net::IpAddr;
use std::path::Path;
use std::time::Duration;

use serde::{Deserialize, Serialize};

pub use duration::GoDuration;
pub use net::Cidr;
pub use validate::is_bootstrap_group;

use crate::token::BootstrapToken;
use crate::version::{KubeVersion, DEFAULT_KUBERNETES_VERSION};

/// apiVersion of kubeup's own configuration document.
pub const KUBEUP_API_VERSION: &str = "kubeup.io/v1alpha1";
/// Default CRI endpoint (containerd's CRI, as on Flatcar and with Docker ≥ 20.10's containerd).
pub const DEFAULT_CRI_SOCKET: &str = "unix:///run/containerd/containerd.sock";
/// Repository of the kubelet image kubeup starts (built from `images/kubelet`).
pub const DEFAULT_KUBELET_IMAGE_REPOSITORY: &str = "kubeup/kubelet";

macro_rules! serde_via_str {
    ($t:ty) => {
        impl Serialize for $t {
            fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
                s.collect_str(self)
            }
        }
        impl<'de> Deserialize<'de> for $t {
            fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
                let s = String::deserialize(d)?;
                s.parse().map_err(serde::de::Error::custom)
            }
        }
    };
}
serde_via_str!(Cidr);
serde_via_str!(KubeVersion);
serde_via_str!(BootstrapToken);

/// Everything a user can set, all optional: one layer of configuration (a file, or the flags).
/// This is also the schema of kubeup's own config document.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Settings {
    /// Always `kubeup.io/v1alpha1` in a file.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub api_version: Option<String>,
    /// Always `Configuration` in a file.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub kind: Option<String>,
    /// Kubernetes release to install.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub kubernetes_version: Option<KubeVersion>,
    /// Name of the cluster in kubeconfigs and the controller-manager.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cluster_name: Option<String>,
    /// Shared `host[:port]` of the API server (load balancer or DNS name) for HA.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub control_plane_endpoint: Option<String>,
    /// Registry and path prefix of the control-plane images.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub image_repository: Option<String>,
    /// Where the PKI lives on the host.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub certificates_dir: Option<String>,
    /// Key algorithm: only `ECDSA-P256` (see [`validate`]).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub encryption_algorithm: Option<String>,
    /// Lifetime of leaf certificates.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub certificate_validity_period: Option<GoDuration>,
    /// Lifetime of CA certificates.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ca_certificate_validity_period: Option<GoDuration>,
    /// Cluster networking.
    #[serde(default, skip_serializing_if = "Networking::is_empty")]
    pub networking: Networking,
    /// This node.
    #[serde(default, skip_serializing_if = "NodeSettings::is_empty")]
    pub node: NodeSettings,
    /// kube-apiserver.
    #[serde(default, skip_serializing_if = "ApiServerSettings::is_empty")]
    pub api_server: ApiServerSettings,
    /// kube-controller-manager.
    #[serde(default, skip_serializing_if = "ComponentSettings::is_empty")]
    pub controller_manager: ComponentSettings,
    /// kube-scheduler.
    #[serde(default, skip_serializing_if = "ComponentSettings::is_empty")]
    pub scheduler: ComponentSettings,
    /// The local (stacked) etcd.
    #[serde(default, skip_serializing_if = "EtcdSettings::is_empty")]
    pub etcd: EtcdSettings,
    /// Bootstrap tokens `init` creates (default: one random token, 24 h).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub bootstrap_tokens: Vec<TokenSettings>,
    /// Preflight check names to demote to warnings (`all` for every check).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub ignore_preflight_errors: Vec<String>,
    /// Phases `init` skips.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub skip_phases: Vec<String>,
    /// Upload the shared control-plane certificates (encrypted) for control-plane joins.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub upload_certs: Option<bool>,
    /// The key that encrypts them (64 hex characters; generated when absent).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub certificate_key: Option<String>,
    /// kubeup's own image, run by the `bridge` pod network's DaemonSet (default: the image this
    /// installer runs as).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub kubeup_image: Option<String>,
    /// Fields of kube-proxy's KubeProxyConfiguration that override kubeup's (kubeadm's)
    /// defaults; a kubeadm config file's `KubeProxyConfiguration` document lands here.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub kube_proxy: Option<serde_json::Value>,
}

/// `networking` section.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Networking {
    /// Range of Service cluster IPs.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub service_subnet: Option<Cidr>,
    /// Range of pod IPs; when set the controller-manager allocates node pod CIDRs from it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pod_subnet: Option<Cidr>,
    /// The pod network `init` installs: `flannel` (default), `bridge`, `none`, or the path of
    /// a manifest file.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pod_network: Option<String>,
    /// Cluster DNS domain.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub dns_domain: Option<String>,
}

/// `node` section: what is specific to the machine being set up.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct NodeSettings {
    /// Node name (default: the host's hostname, lower-cased).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// Address the API server and etcd advertise (default: an address of this host).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub advertise_address: Option<IpAddr>,
    /// API server port.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub bind_port: Option<u16>,
    /// CRI endpoint the kubelet uses.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cri_socket: Option<String>,
    /// Cgroup driver of the kubelet (`systemd` or `cgroupfs`); must match the runtime's.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cgroup_driver: Option<String>,
    /// Image of the kubelet container.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub kubelet_image: Option<String>,
    /// Extra kubelet flags (`name: value`), after kubeup's own.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub kubelet_extra_args: BTreeMap<String, String>,
}

/// `apiServer` section.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct ApiServerSettings {
    /// Extra Subject Alternative Names (IPs or DNS names) for the API server certificate.
    #[serde(default, rename = "certSANs", skip_serializing_if = "Vec::is_empty")]
    pub cert_sans: Vec<String>,
    /// Extra flags, overriding kubeup's.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub extra_args: BTreeMap<String, String>,
}

/// `controllerManager` / `scheduler` section.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct ComponentSettings {
    /// Extra flags, overriding kubeup's.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub extra_args: BTreeMap<String, String>,
}

/// `etcd` section (local, stacked etcd only).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct EtcdSettings {
    /// Data directory on the host.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub data_dir: Option<String>,
    /// etcd image tag (default: the one kubeadm pins for the Kubernetes minor).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub image_tag: Option<String>,
    /// Extra SANs of etcd's serving certificate.
    #[serde(default, rename = "serverCertSANs", skip_serializing_if = "Vec::is_empty")]
    pub server_cert_sans: Vec<String>,
    /// Extra SANs of etcd's peer certificate.
    #[serde(default, rename = "peerCertSANs", skip_serializing_if = "Vec::is_empty")]
    pub peer_cert_sans: Vec<String>,
    /// Extra flags, overriding kubeup's.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub extra_args: BTreeMap<String, String>,
}

/// One bootstrap token (kubeadm's `bootstrapTokens[]`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct TokenSettings {
    /// The token; random when absent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub token: Option<BootstrapToken>,
    /// Human description stored in the Secret.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    /// Time to live (`0` = never expires).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ttl: Option<GoDuration>,
    /// `signing`, `authentication`.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub usages: Vec<String>,
    /// Extra groups, each `system:bootstrappers:…`.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub groups: Vec<String>,
}

macro_rules! impl_is_empty {
    ($($t:ty),*) => {$(
        impl $t {
            /// Whether nothing in the section is set (used to keep printed configs short).
            pub fn is_empty(&self) -> bool {
                *self == Self::default()
            }
        }
    )*};
}
impl_is_empty!(Networking, NodeSettings, ApiServerSettings, ComponentSettings, EtcdSettings);

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

/// A configuration problem, naming the field (or flag) and what would be accepted.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ConfigError {
    /// The file could not be read.
    #[error("cannot read config file {path}: {reason}")]
    Unreadable {
        /// File given with --config.
        path: String,
        /// OS error.
        reason: String,
    },
    /// The file is not valid YAML/JSON or does not match the schema.
    #[error("config file {path}: {reason}")]
    Malformed {
        /// File given with --config.
        path: String,
        /// Parser message, naming the field where possible.
        reason: String,
    },
    /// A value is invalid.
    #[error("invalid configuration: {field}: {reason}")]
    Invalid {
        /// Field path (`networking.podSubnet`) or flag.
        field: String,
        /// What is wrong and what would be accepted.
        reason: String,
    },
}

/// Facts about the machine used as defaults: gathered by the caller (see `host::observe`).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct HostDefaults {
    /// The host's hostname.
    pub hostname: Option<String>,
    /// An address of the host (that of the default-route interface if any).
    pub address: Option<IpAddr>,
    /// The image this installer runs as, when it runs in a container.
    pub kubeup_image: Option<String>,
    /// The container runtime's cgroup driver, when known (Docker's `info`).
    pub cgroup_driver: Option<String>,
    /// The CRI socket found answering on the host (containerd's, CRI-O's or cri-dockerd's).
    pub cri_socket: Option<String>,
}

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

/// Read a config file (YAML or JSON; kubeup's document or kubeadm's multi-document file).
pub fn load_file(path: &Path) -> Result<Settings, ConfigError> {
    let shown = path.display().to_string();
    let text = std::fs::read_to_string(path).map_err(|e| ConfigError::Unreadable { path: shown.clone(), reason: e.to_string() })?;
    parse_text(&text).map_err(|reason| ConfigError::Malformed { path: shown, reason })
}

/// Parse config text; the error names the document and field.
pub fn parse_text(text: &str) -> Result<Settings, String> {
    let docs: Vec<serde_json::Value> = if text.trim_start().starts_with('{') {
        vec![serde_json::from_str(text).map_err(|e| format!("not valid JSON: {e}"))?]
    } else {
        serde_saphyr::from_multiple(text).map_err(|e| format!("not valid YAML: {e}"))?
    };
    let docs: Vec<serde_json::Value> = docs.into_iter().filter(|d| !d.is_null()).collect();
    if docs.is_empty() {
        return Err("the file holds no configuration document".into());
    }
    let mut kubeup_doc = None;
    let mut kubeadm_docs = Vec::new();
    let mut kube_proxy: Option<serde_json::Value> = None;
    for doc in docs {
        let api = doc.get("apiVersion").and_then(|v| v.as_str()).unwrap_or_default().to_string();
        let kind = doc.get("kind").and_then(|v| v.as_str()).unwrap_or_default().to_string();
        match api.as_str() {
            KUBEUP_API_VERSION if kind == "Configuration" => {
                if kubeup_doc.is_some() {
                    return Err("more than one kubeup Configuration document".into());
                }
                kubeup_doc = Some(from_value::<Settings>(doc, "Configuration")?);
            }
            a if a.starts_with("kubeadm.k8s.io/") => kubeadm_docs.push((api, kind, doc)),
            "kubeproxy.config.k8s.io/v1alpha1" if kind == "KubeProxyConfiguration" => {
                let mut doc = doc;
                if let Some(o) = doc.as_object_mut() {
                    o.remove("apiVersion");
                    o.remove("kind");
                }
                kube_proxy = Some(doc);
            }
            "" => return Err("a document has no apiVersion: expected kubeup.io/v1alpha1 (kind Configuration) or kubeadm.k8s.io/v1beta3|v1beta4".into()),
            _ => {
                return Err(format!(
                    "document {api}/{kind} is not supported: expected {KUBEUP_API_VERSION} Configuration, kubeadm.k8s.io/v1beta3|v1beta4 InitConfiguration/ClusterConfiguration, or kubeproxy.config.k8s.io/v1alpha1 KubeProxyConfiguration"
                ))
            }
        }
    }
    let from_kubeadm = if kubeadm_docs.is_empty() { None } else { Some(kubeadm::to_settings(kubeadm_docs)?) };
    let mut settings = match (kubeup_doc, from_kubeadm) {
        (Some(_), Some(_)) => return Err("mixes kubeup's Configuration with kubeadm documents: use one or the other".into()),
        (Some(s), None) | (None, Some(s)) => s,
        (None, None) if kube_proxy.is_some() => Settings::default(),
        (None, None) => return Err("the file holds no configuration document".into()),
    };
    if let Some(kp) = kube_proxy {
        if !kp.is_object() {
            return Err("KubeProxyConfiguration: expected a mapping of fields".into());
        }
        settings.kube_proxy = Some(kp);
    }
    Ok(settings)
}

/// Deserialize one document with the failing field's path in the message.
pub(crate) fn from_value<T: serde::de::DeserializeOwned>(doc: serde_json::Value, what: &str) -> Result<T, String> {
    serde_path_to_error::deserialize(doc).map_err(|e| {
        let path = e.path().to_string();
        let inner = e.into_inner().to_string();
        let hint = if inner.contains("unknown field") { " (misspelled, or a field kubeup does not support)" } else { "" };
        if path == "." {
            format!("{what}: {inner}{hint}")
        } else {
            format!("{what}: field {path}: {inner}{hint}")
        }
    })
}

/// Defaults < `file` < `flags`, resolved against the host and validated.
pub fn resolve(file: Option<Settings>, flags: &Settings, host: &HostDefaults) -> Result<Config, ConfigError> {
    let mut layered = Settings::defaults();
    if let Some(file) = file {
        layered = layered.overlay(&file);
    }
    validate::resolve(layered.overlay(flags), host)
}

#[cfg(test)]
mod tests;
