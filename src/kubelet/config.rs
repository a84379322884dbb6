//! `/var/lib/kubelet/config.yaml` (KubeletConfiguration v1beta1) as kubeadm writes it, plus the
//! kubelet's command-line flags. k8s-openapi has no KubeletConfiguration, so the fields kubeup
//! sets are typed here.

use std::collections::BTreeMap;

use serde::Serialize;

use crate::config::Config;
use crate::paths;

/// The fields of KubeletConfiguration kubeup sets.
#[derive(Debug, Clone, Serialize, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct KubeletConfiguration {
    api_version: &'static str,
    kind: &'static str,
    authentication: Authentication,
    authorization: Authorization,
    cgroup_driver: String,
    #[serde(rename = "clusterDNS")]
    cluster_dns: Vec<String>,
    cluster_domain: String,
    healthz_bind_address: &'static str,
    healthz_port: u16,
    read_only_port: u16,
    #[serde(skip_serializing_if = "Option::is_none")]
    resolv_conf: Option<String>,
    rotate_certificates: bool,
    /// Serving certificates signed by the cluster CA through CSRs that kubeup's renewer checks
    /// and approves (kubeup's `certificateRenewal.kubeletServingCertificates`).
    #[serde(rename = "serverTLSBootstrap", skip_serializing_if = "std::ops::Not::not")]
    server_tls_bootstrap: bool,
    static_pod_path: &'static str,
}

#[derive(Debug, Clone, Serialize, PartialEq)]
#[serde(rename_all = "camelCase")]
struct Authentication {
    anonymous: Enabled,
    webhook: Webhook,
    x509: X509,
}

#[derive(Debug, Clone, Serialize, PartialEq)]
struct Enabled {
    enabled: bool,
}

#[derive(Debug, Clone, Serialize, PartialEq)]
#[serde(rename_all = "camelCase")]
struct Webhook {
    enabled: bool,
    #[serde(rename = "cacheTTL")]
    cache_ttl: &'static str,
}

#[derive(Debug, Clone, Serialize, PartialEq)]
#[serde(rename_all = "camelCase")]
struct X509 {
    #[serde(rename = "clientCAFile")]
    client_ca_file: String,
}

#[derive(Debug, Clone, Serialize, PartialEq)]
#[serde(rename_all = "camelCase")]
struct Authorization {
    mode: &'static str,
    webhook: AuthzWebhook,
}

#[derive(Debug, Clone, Serialize, PartialEq)]
#[serde(rename_all = "camelCase")]
struct AuthzWebhook {
    #[serde(rename = "cacheAuthorizedTTL")]
    cache_authorized_ttl: &'static str,
    #[serde(rename = "cacheUnauthorizedTTL")]
    cache_unauthorized_ttl: &'static str,
}

/// The healthz endpoint `init` waits on.
pub const HEALTHZ_PORT: u16 = 10248;
/// The kubelet API port.
pub const KUBELET_PORT: u16 = 10250;

/// Build the cluster-wide kubelet configuration (the kubelet ConfigMap; every node starts from
/// it). It holds nothing of one node: the CRI endpoint is per node, as kubeadm keeps it.
/// `resolv_conf` is set when the host runs systemd-resolved (its stub resolver at 127.0.0.53 is
/// useless inside pods).
pub fn kubelet_configuration(cfg: &Config, resolv_conf: Option<&str>) -> KubeletConfiguration {
    KubeletConfiguration {
        api_version: "kubelet.config.k8s.io/v1beta1",
        kind: "KubeletConfiguration",
        authentication: Authentication {
            anonymous: Enabled { enabled: false },
            webhook: Webhook { enabled: true, cache_ttl: "0s" },
            x509: X509 { client_ca_file: format!("{}/ca.crt", cfg.cert_dir) },
        },
        authorization: Authorization { mode: "Webhook", webhook: AuthzWebhook { cache_authorized_ttl: "0s", cache_unauthorized_ttl: "0s" } },
        cgroup_driver: cfg.cgroup_driver.clone(),
        cluster_dns: vec![cfg.dns_service_ip().to_string()],
        cluster_domain: cfg.dns_domain.clone(),
        healthz_bind_address: "127.0.0.1",
        healthz_port: HEALTHZ_PORT,
        read_only_port: 0,
        resolv_conf: resolv_conf.map(str::to_string),
        rotate_certificates: true,
        server_tls_bootstrap: cfg.renewal.kubelet_serving_certificates,
        static_pod_path: paths::MANIFESTS_DIR,
    }
}

/// kubeadm's `/var/lib/kubelet/instance-config.yaml` (1.34+): the part of the kubelet
/// configuration that belongs to this node alone.
#[derive(Debug, Clone, Serialize, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct InstanceConfiguration {
    api_version: &'static str,
    kind: &'static str,
    container_runtime_endpoint: String,
}

/// This node's instance configuration, for the minors whose kubeadm keeps the CRI endpoint there.
pub fn instance_configuration(cfg: &Config) -> Option<InstanceConfiguration> {
    cfg.version.facts().cri_socket_in_instance_config.then(|| InstanceConfiguration {
        api_version: "kubelet.config.k8s.io/v1beta1",
        kind: "KubeletConfiguration",
        container_runtime_endpoint: cfg.cri_socket.clone(),
    })
}

/// This node's `/var/lib/kubelet/config.yaml`: the cluster's kubelet configuration (YAML, as in
/// the ConfigMap) with this node's instance configuration merged in, as kubeadm merges
/// `instance-config.yaml` on init and join.
pub fn node_kubelet_config(cfg: &Config, cluster_yaml: &str) -> Result<String, String> {
    let Some(instance) = instance_configuration(cfg) else { return Ok(cluster_yaml.to_string()) };
    let mut merged: serde_json::Value = serde_saphyr::from_str(cluster_yaml).map_err(|e| format!("the cluster's kubelet configuration does not parse: {e}"))?;
    let instance = serde_json::to_value(&instance).map_err(|e| e.to_string())?;
    crate::config::merge_json(&mut merged, &instance);
    crate::yaml::to_string(&merged)
}

/// What decides the address the kubelet picks for itself when it has no `--node-ip`.
#[derive(Debug, Clone, Copy, Default)]
pub struct NodeAddressFacts<'a> {
    /// The host's `/etc/hosts` (the kubelet resolves its hostname first).
    pub hosts_file: Option<&'a str>,
    /// The address of the default-route interface (the kubelet's fallback).
    pub default_address: Option<std::net::IpAddr>,
}

/// The first non-loopback address `/etc/hosts` gives `name`.
fn hosts_address(hosts_file: &str, name: &str) -> Option<std::net::IpAddr> {
    hosts_file.lines().find_map(|line| {
        let mut words = line.split('#').next()?.split_whitespace();
        let ip: std::net::IpAddr = words.next()?.parse().ok()?;
        (!ip.is_loopback() && words.any(|w| w.eq_ignore_ascii_case(name))).then_some(ip)
    })
}

/// Why this node's kubelet gets `--node-ip`, if it needs it. kubeadm never sets it: the kubelet
/// then takes the address its hostname resolves to, else that of the default-route interface
/// (and both families on a dual-stack node). kubeup sets it only when that choice would not be
/// the advertise address. A `node-ip` in `kubeletExtraArgs` is the user's and always wins.
pub fn node_ip_reason(cfg: &Config, host: NodeAddressFacts) -> Option<String> {
    if cfg.kubelet_extra_args.contains_key("node-ip") {
        return None;
    }
    let adv = cfg.advertise_address;
    let name = cfg.kubelet_extra_args.get("hostname-override").unwrap_or(&cfg.node_name);
    let (chosen, how) = match host.hosts_file.and_then(|h| hosts_address(h, name)) {
        Some(a) => (Some(a), format!("/etc/hosts resolves {name} to {a}")),
        None => (host.default_address, "the address of the default-route interface".to_string()),
    };
    match chosen {
        Some(a) if a == adv => None,
        Some(a) => Some(format!("--node-ip={adv}: the kubelet would register {a} ({how}), not the advertise address")),
        None => Some(format!("--node-ip={adv}: this host has no address the kubelet would choose by itself")),
    }
}

/// The kubelet's flags (kubeadm's `kubeadm-flags.env` plus the drop-in's kubeconfig/config
/// flags), then the user's `kubeletExtraArgs`, sorted by name. `host` decides whether
/// `--node-ip` is needed ([`node_ip_reason`]).
pub fn kubelet_flags(cfg: &Config, hostname: Option<&str>, host: NodeAddressFacts) -> BTreeMap<String, String> {
    let facts = cfg.version.facts();
    let mut f: BTreeMap<String, String> = BTreeMap::new();
    f.insert("bootstrap-kubeconfig".into(), paths::kubeconfig("bootstrap-kubelet.conf").to_string());
    f.insert("kubeconfig".into(), paths::kubeconfig("kubelet.conf").to_string());
    f.insert("config".into(), paths::KUBELET_CONFIG.into());
    if node_ip_reason(cfg, host).is_some() {
        f.insert("node-ip".into(), cfg.advertise_address.to_string());
    }
    // The CRI endpoint is this node's: a flag in kubeadm-flags.env until 1.33, then in
    // instance-config.yaml (merged into config.yaml).
    if !facts.cri_socket_in_instance_config {
        f.insert("container-runtime-endpoint".into(), cfg.cri_socket.clone());
    }
    if facts.kubelet_container_runtime_flag {
        f.insert("container-runtime".into(), "remote".into());
    }
    if facts.kubelet_pod_infra_flag && (!facts.kubelet_pod_infra_flag_dockershim_only || cfg.cri_socket.contains("dockershim")) {
        f.insert("pod-infra-container-image".into(), cfg.pause_image());
    }
    if hostname.map(str::to_lowercase).as_deref() != Some(cfg.node_name.as_str()) {
        f.insert("hostname-override".into(), cfg.node_name.clone());
    }
    f.extend(cfg.kubelet_extra_args.iter().map(|(k, v)| (k.clone(), v.clone())));
    f
}

/// `/var/lib/kubelet/kubeadm-flags.env`, kept for tools that read it (kubeadm upgrade, support
/// scripts): the flags kubeadm itself would have put there.
pub fn kubeadm_flags_env(flags: &BTreeMap<String, String>) -> String {
    let own = ["bootstrap-kubeconfig", "kubeconfig", "config"];
    let args: Vec<String> = flags.iter().filter(|(k, _)| !own.contains(&k.as_str())).map(|(k, v)| format!("--{k}={v}")).collect();
    format!("KUBELET_KUBEADM_ARGS=\"{}\"\n", args.join(" "))
}
