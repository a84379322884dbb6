//! Reading kubeadm's own config files (`kubeadm.k8s.io/v1beta3` and `v1beta4`
//! `InitConfiguration` + `ClusterConfiguration`), for the fields kubeup supports.
//!
//! Pure. Every struct denies unknown fields, so a field kubeup would silently ignore is an
//! error naming it instead. v1beta3 writes `extraArgs` as a map, v1beta4 as a list of
//! `{name, value}`; both are accepted.

use std::collections::BTreeMap;
use std::net::IpAddr;

use serde::Deserialize;

use super::{from_value, ApiServerSettings, Cidr, ComponentSettings, EtcdSettings, GoDuration, Networking, NodeSettings, Settings, TokenSettings};
use crate::version::KubeVersion;

/// `extraArgs` in either spelling.
#[derive(Debug, Deserialize)]
#[serde(untagged)]
enum ExtraArgs {
    Map(BTreeMap<String, String>),
    List(Vec<Arg>),
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct Arg {
    name: String,
    value: String,
}

impl ExtraArgs {
    fn into_map(self) -> BTreeMap<String, String> {
        match self {
            ExtraArgs::Map(m) => m,
            // v1beta4 allows duplicates; the last one wins, as with kubeadm's flag building.
            ExtraArgs::List(l) => l.into_iter().map(|a| (a.name, a.value)).collect(),
        }
    }
}

fn args(a: Option<ExtraArgs>) -> BTreeMap<String, String> {
    a.map(ExtraArgs::into_map).unwrap_or_default()
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct InitConfiguration {
    #[allow(dead_code)]
    api_version: String,
    #[allow(dead_code)]
    kind: String,
    #[serde(default)]
    bootstrap_tokens: Vec<TokenSettings>,
    #[serde(default)]
    node_registration: NodeRegistration,
    #[serde(default, rename = "localAPIEndpoint")]
    local_api_endpoint: LocalApiEndpoint,
    #[serde(default)]
    skip_phases: Vec<String>,
    /// v1beta4 `timeouts`; read so kubeadm's printed defaults load.
    #[serde(default)]
    #[allow(dead_code)]
    timeouts: Option<BTreeMap<String, GoDuration>>,
}

/// `nodeRegistration` of InitConfiguration and JoinConfiguration.
#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub(super) struct NodeRegistration {
    pub(super) name: Option<String>,
    pub(super) cri_socket: Option<String>,
    kubelet_extra_args: Option<ExtraArgs>,
    #[serde(default)]
    pub(super) ignore_preflight_errors: Vec<String>,
    /// Accepted for compatibility; kubeup never pulls (images come from bundles or the runtime).
    #[allow(dead_code)]
    image_pull_policy: Option<String>,
    #[allow(dead_code)]
    image_pull_serial: Option<bool>,
    /// kubeadm prints `taints: null`; other values are not supported yet.
    pub(super) taints: Option<Vec<serde_json::Value>>,
}

impl NodeRegistration {
    /// `kubeletExtraArgs` in either spelling, as a map.
    pub(super) fn kubelet_extra_args(&mut self) -> BTreeMap<String, String> {
        args(self.kubelet_extra_args.take())
    }

    /// Taints other than none are not supported; the error names the field.
    pub(super) fn check_taints(&self, what: &str) -> Result<(), String> {
        if self.taints.as_ref().is_some_and(|t| !t.is_empty()) {
            return Err(format!("{what}: field nodeRegistration.taints: only null or [] is supported"));
        }
        Ok(())
    }
}

/// `localAPIEndpoint` of InitConfiguration and JoinConfiguration's controlPlane.
#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub(super) struct LocalApiEndpoint {
    pub(super) advertise_address: Option<IpAddr>,
    pub(super) bind_port: Option<u16>,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct ClusterConfiguration {
    #[allow(dead_code)]
    api_version: String,
    #[allow(dead_code)]
    kind: String,
    kubernetes_version: Option<KubeVersion>,
    cluster_name: Option<String>,
    control_plane_endpoint: Option<String>,
    image_repository: Option<String>,
    certificates_dir: Option<String>,
    encryption_algorithm: Option<String>,
    certificate_validity_period: Option<GoDuration>,
    ca_certificate_validity_period: Option<GoDuration>,
    #[serde(default)]
    networking: KubeadmNetworking,
    #[serde(default)]
    api_server: KubeadmApiServer,
    #[serde(default)]
    controller_manager: KubeadmComponent,
    #[serde(default)]
    scheduler: KubeadmComponent,
    #[serde(default)]
    etcd: KubeadmEtcd,
    /// `dns: {}` and `proxy: {}` as kubeadm prints them; add-on settings come later.
    #[allow(dead_code)]
    dns: Option<Empty>,
    #[allow(dead_code)]
    proxy: Option<Empty>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct Empty {}

#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct KubeadmNetworking {
    service_subnet: Option<Cidr>,
    pod_subnet: Option<Cidr>,
    dns_domain: Option<String>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct KubeadmApiServer {
    #[serde(default, rename = "certSANs")]
    cert_sans: Vec<String>,
    extra_args: Option<ExtraArgs>,
    /// v1beta3; the wait phase takes its own timeouts.
    #[allow(dead_code)]
    timeout_for_control_plane: Option<GoDuration>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct KubeadmComponent {
    extra_args: Option<ExtraArgs>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct KubeadmEtcd {
    local: Option<KubeadmLocalEtcd>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct KubeadmLocalEtcd {
    data_dir: Option<String>,
    image_tag: Option<String>,
    #[serde(default, rename = "serverCertSANs")]
    server_cert_sans: Vec<String>,
    #[serde(default, rename = "peerCertSANs")]
    peer_cert_sans: Vec<String>,
    extra_args: Option<ExtraArgs>,
}

/// Map kubeadm documents `(apiVersion, kind, body)` onto one [`Settings`] layer.
pub(super) fn to_settings(docs: Vec<(String, String, serde_json::Value)>) -> Result<Settings, String> {
    let mut init: Option<InitConfiguration> = None;
    let mut cluster: Option<ClusterConfiguration> = None;
    for (api, kind, doc) in docs {
        if api != "kubeadm.k8s.io/v1beta3" && api != "kubeadm.k8s.io/v1beta4" {
            return Err(format!("{api} is not supported: kubeup reads kubeadm.k8s.io/v1beta3 and v1beta4 (convert with `kubeadm config migrate`)"));
        }
        match kind.as_str() {
            "InitConfiguration" if init.is_none() => init = Some(from_value(doc, "InitConfiguration")?),
            "ClusterConfiguration" if cluster.is_none() => cluster = Some(from_value(doc, "ClusterConfiguration")?),
            "InitConfiguration" | "ClusterConfiguration" => return Err(format!("more than one {kind} document")),
            other => return Err(format!("kubeadm kind {other:?} is not supported by `kubeup init`: expected InitConfiguration and/or ClusterConfiguration")),
        }
    }
    let mut s = Settings::default();
    if let Some(mut i) = init {
        i.node_registration.check_taints("InitConfiguration")?;
        let kubelet_extra_args = i.node_registration.kubelet_extra_args();
        s.bootstrap_tokens = i.bootstrap_tokens;
        s.skip_phases = i.skip_phases;
        s.ignore_preflight_errors = i.node_registration.ignore_preflight_errors;
        s.node = NodeSettings {
            name: i.node_registration.name,
            advertise_address: i.local_api_endpoint.advertise_address,
            bind_port: i.local_api_endpoint.bind_port,
            cri_socket: i.node_registration.cri_socket,
            kubelet_extra_args,
            ..Default::default()
        };
    }
    if let Some(c) = cluster {
        s.kubernetes_version = c.kubernetes_version;
        s.cluster_name = c.cluster_name;
        s.control_plane_endpoint = c.control_plane_endpoint;
        s.image_repository = c.image_repository;
        s.certificates_dir = c.certificates_dir;
        s.encryption_algorithm = c.encryption_algorithm;
        s.certificate_validity_period = c.certificate_validity_period;
        s.ca_certificate_validity_period = c.ca_certificate_validity_period;
        s.networking = Networking {
            service_subnet: c.networking.service_subnet,
            pod_subnet: c.networking.pod_subnet,
            dns_domain: c.networking.dns_domain,
            pod_network: None,
        };
        s.api_server = ApiServerSettings { cert_sans: c.api_server.cert_sans, extra_args: args(c.api_server.extra_args) };
        s.controller_manager = ComponentSettings { extra_args: args(c.controller_manager.extra_args) };
        s.scheduler = ComponentSettings { extra_args: args(c.scheduler.extra_args) };
        let local = c.etcd.local.unwrap_or_default();
        s.etcd = EtcdSettings {
            data_dir: local.data_dir,
            image_tag: local.image_tag,
            server_cert_sans: local.server_cert_sans,
            peer_cert_sans: local.peer_cert_sans,
            extra_args: args(local.extra_args),
        };
    }
    Ok(s)
}

/// Read ClusterConfiguration (any kubeadm API version: only stable fields are used).
pub fn settings_from_cluster_configuration(cluster_configuration: &str) -> Result<Settings, String> {
    let v: serde_json::Value = serde_saphyr::from_str(cluster_configuration).map_err(|e| format!("ClusterConfiguration does not parse: {e}"))?;
    let s = |k: &str| v.get(k).and_then(|x| x.as_str()).map(str::to_string);
    let net = |k: &str| v.get("networking").and_then(|n| n.get(k)).and_then(|x| x.as_str()).map(str::to_string);
    let mut out = Settings {
        kubernetes_version: s("kubernetesVersion").map(|x| x.parse()).transpose().map_err(|e| format!("kubernetesVersion: {e}"))?,
        cluster_name: s("clusterName"),
        control_plane_endpoint: s("controlPlaneEndpoint"),
        image_repository: s("imageRepository"),
        certificates_dir: s("certificatesDir"),
        ..Default::default()
    };
    out.networking.service_subnet = net("serviceSubnet").map(|x| x.parse()).transpose().map_err(|e| format!("networking.serviceSubnet: {e}"))?;
    out.networking.pod_subnet = net("podSubnet").map(|x| x.parse()).transpose().map_err(|e| format!("networking.podSubnet: {e}"))?;
    out.networking.dns_domain = net("dnsDomain");
    // The pod network is the cluster's business; a worker installs none.
    out.networking.pod_network = Some("none".into());
    // What a further control plane must render like the first: its SANs, flags and etcd.
    // Lenient: a kubeadm-made cluster may hold fields kubeup does not use.
    let at = |path: &[&str]| path.iter().try_fold(&v, |x, k| x.get(*k)).filter(|x| !x.is_null());
    let strings = |path: &[&str]| -> Vec<String> {
        at(path).and_then(|x| x.as_array()).map(|a| a.iter().filter_map(|s| s.as_str().map(str::to_string)).collect()).unwrap_or_default()
    };
    let extra = |path: &[&str]| -> Result<BTreeMap<String, String>, String> {
        at(path)
            .map(|x| serde_json::from_value::<ExtraArgs>(x.clone()).map(ExtraArgs::into_map).map_err(|e| format!("{}: {e}", path.join("."))))
            .transpose()
            .map(Option::unwrap_or_default)
    };
    let duration = |key: &str| -> Result<Option<GoDuration>, String> {
        at(&[key]).map(|x| serde_json::from_value::<GoDuration>(x.clone()).map_err(|e| format!("{key}: {e}"))).transpose()
    };
    out.certificate_validity_period = duration("certificateValidityPeriod")?;
    out.ca_certificate_validity_period = duration("caCertificateValidityPeriod")?;
    out.api_server = ApiServerSettings { cert_sans: strings(&["apiServer", "certSANs"]), extra_args: extra(&["apiServer", "extraArgs"])? };
    out.controller_manager = ComponentSettings { extra_args: extra(&["controllerManager", "extraArgs"])? };
    out.scheduler = ComponentSettings { extra_args: extra(&["scheduler", "extraArgs"])? };
    out.etcd = EtcdSettings {
        data_dir: at(&["etcd", "local", "dataDir"]).and_then(|x| x.as_str()).map(str::to_string),
        image_tag: at(&["etcd", "local", "imageTag"]).and_then(|x| x.as_str()).map(str::to_string),
        server_cert_sans: strings(&["etcd", "local", "serverCertSANs"]),
        peer_cert_sans: strings(&["etcd", "local", "peerCertSANs"]),
        extra_args: extra(&["etcd", "local", "extraArgs"])?,
    };
    Ok(out)
}
