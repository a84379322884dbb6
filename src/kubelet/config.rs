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
    #[serde(skip_serializing_if = "Option::is_none")]
    container_runtime_endpoint: Option<String>,
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

/// Build the kubelet configuration. `resolv_conf` is set when the host runs systemd-resolved
/// (its stub resolver at 127.0.0.53 is useless inside pods).
pub fn kubelet_configuration(cfg: &Config, resolv_conf: Option<&str>) -> KubeletConfiguration {
    let facts = cfg.version.facts();
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
        container_runtime_endpoint: facts.kubelet_runtime_endpoint_in_config.then(|| cfg.cri_socket.clone()),
        healthz_bind_address: "127.0.0.1",
        healthz_port: HEALTHZ_PORT,
        read_only_port: 0,
        resolv_conf: resolv_conf.map(str::to_string),
        rotate_certificates: true,
        server_tls_bootstrap: cfg.renewal.kubelet_serving_certificates,
        static_pod_path: paths::MANIFESTS_DIR,
    }
}

/// The kubelet's flags (kubeadm's `kubeadm-flags.env` plus the drop-in's kubeconfig/config
/// flags), then the user's `kubeletExtraArgs`, sorted by name.
pub fn kubelet_flags(cfg: &Config, hostname: Option<&str>) -> BTreeMap<String, String> {
    let facts = cfg.version.facts();
    let mut f: BTreeMap<String, String> = BTreeMap::new();
    f.insert("bootstrap-kubeconfig".into(), paths::kubeconfig("bootstrap-kubelet.conf").to_string());
    f.insert("kubeconfig".into(), paths::kubeconfig("kubelet.conf").to_string());
    f.insert("config".into(), paths::KUBELET_CONFIG.into());
    f.insert("node-ip".into(), cfg.advertise_address.to_string());
    if !facts.kubelet_runtime_endpoint_in_config {
        f.insert("container-runtime-endpoint".into(), cfg.cri_socket.clone());
    }
    if facts.kubelet_container_runtime_flag {
        f.insert("container-runtime".into(), "remote".into());
    }
    if facts.kubelet_pod_infra_flag {
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
