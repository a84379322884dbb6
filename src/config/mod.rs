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
mod file;
pub mod join_config;
pub mod kubeadm;
mod layer;
pub mod net;
pub mod renewal;
mod resolved;
mod validate;

use std::collections::BTreeMap;
use std::net::IpAddr;

use serde::{Deserialize, Serialize};

pub use duration::GoDuration;
pub(crate) use file::from_value;
pub use file::{load_file, parse_text};
pub use net::Cidr;
pub use resolved::{merge_json, Config, Endpoint, PodNetwork, DEFAULT_KUBEUP_IMAGE};
pub use validate::is_bootstrap_group;

use crate::token::BootstrapToken;
use crate::version::KubeVersion;

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
    /// Certificate renewal and kubelet serving certificates (kubeup only).
    #[serde(default, skip_serializing_if = "renewal::CertificateRenewal::is_empty")]
    pub certificate_renewal: renewal::CertificateRenewal,
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
