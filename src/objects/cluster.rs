//! The cluster's own objects `init` creates: bootstrap tokens, `cluster-info`, kubeadm-config
//! and the kubelet's ConfigMap, and `kubeadm-certs` (kubeadm.md §5), with kubeadm's exact names.
//!
//! Pure.

use std::collections::BTreeMap;

use k8s_openapi::api::core::v1::{ConfigMap, Secret};
use k8s_openapi::ByteString;

use crate::config::Config;
use crate::token::BootstrapToken;

fn meta(name: &str, ns: Option<&str>) -> k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta {
    super::meta(name, ns, &[])
}

/// Secret `kube-system/bootstrap-token-<id>`.
pub fn bootstrap_token_secret(token: &BootstrapToken, expiration: Option<&str>, description: &str, groups: &[String]) -> Secret {
    let mut data: BTreeMap<String, ByteString> = BTreeMap::new();
    let mut put = |k: &str, v: &str| {
        data.insert(k.into(), ByteString(v.as_bytes().to_vec()));
    };
    put("token-id", token.id());
    put("token-secret", token.secret());
    put("usage-bootstrap-signing", "true");
    put("usage-bootstrap-authentication", "true");
    put("auth-extra-groups", &groups.join(","));
    put("description", description);
    if let Some(exp) = expiration {
        put("expiration", exp);
    }
    Secret {
        metadata: meta(&format!("bootstrap-token-{}", token.id()), Some("kube-system")),
        type_: Some("bootstrap.kubernetes.io/token".into()),
        data: Some(data),
        ..Default::default()
    }
}

/// Keep only the given usages (`signing`, `authentication`) of a token Secret; empty = both.
pub fn restrict_usages(secret: &mut Secret, usages: &[String]) {
    if let Some(data) = secret.data.as_mut() {
        for (usage, key) in [("signing", "usage-bootstrap-signing"), ("authentication", "usage-bootstrap-authentication")] {
            if !usages.is_empty() && !usages.iter().any(|u| u == usage) {
                data.remove(key);
            }
        }
    }
}

/// The Secret kubeadm calls "a proxy for managing TTL for the kubeadm-certs secret": a token
/// with no usage and a 2-hour expiration, owner of `kubeadm-certs` so that the garbage collector
/// deletes the certificates when the token cleaner deletes it.
pub fn certs_owner_token(token: &BootstrapToken, expiration: &str) -> Secret {
    let mut s = bootstrap_token_secret(token, Some(expiration), "Proxy for managing TTL for the kubeadm-certs secret", &[]);
    if let Some(data) = s.data.as_mut() {
        data.remove("usage-bootstrap-signing");
        data.remove("usage-bootstrap-authentication");
        data.remove("auth-extra-groups");
    }
    s
}

/// Secret `kube-system/kubeadm-certs` with the encrypted shared files (data key → bytes).
pub fn kubeadm_certs(encrypted: BTreeMap<String, Vec<u8>>) -> Secret {
    Secret {
        metadata: meta("kubeadm-certs", Some("kube-system")),
        type_: Some("Opaque".into()),
        data: Some(encrypted.into_iter().map(|(k, v)| (k, ByteString(v))).collect()),
        ..Default::default()
    }
}

/// The kubeconfig inside cluster-info: one cluster named "" with the server and the CA only.
pub fn cluster_info_kubeconfig(server: &str, ca_pem: &str) -> Result<String, String> {
    use crate::kubeconfig::{build, Ca, Parts};
    crate::yaml::to_string(&build(Parts { cluster: "", server, ca: Ca::Data(ca_pem), user: None, context: None, namespace: None }))
}

/// ConfigMap `kube-public/cluster-info`, signed for each token at once.
pub fn cluster_info(kubeconfig: &str, tokens: &[&BootstrapToken]) -> ConfigMap {
    let mut data = BTreeMap::from([("kubeconfig".to_string(), kubeconfig.to_string())]);
    for t in tokens {
        data.insert(format!("jws-kubeconfig-{}", t.id()), crate::jws::detached_signature(kubeconfig, t.id(), t.secret()));
    }
    ConfigMap { metadata: meta("cluster-info", Some("kube-public")), data: Some(data), ..Default::default() }
}

/// `extraArgs` as the kubeadm API of this minor spells it: a list of `{name, value}` in v1beta4,
/// a map before.
fn extra_args(cfg: &Config, args: &BTreeMap<String, String>) -> serde_json::Value {
    if cfg.version.facts().kubeadm_api.ends_with("v1beta4") {
        args.iter().map(|(name, value)| serde_json::json!({ "name": name, "value": value })).collect()
    } else {
        serde_json::json!(args)
    }
}

/// A component section: `{}` or `{extraArgs: …}`.
fn component(cfg: &Config, args: &BTreeMap<String, String>) -> serde_json::Value {
    let mut c = serde_json::json!({});
    if !args.is_empty() {
        c["extraArgs"] = extra_args(cfg, args);
    }
    c
}

/// The ClusterConfiguration kubeadm uploads (in the kubeadm API version of this minor), with
/// everything of the cluster the user set: a joining control plane renders from it, and
/// kubeadm's own tools read it.
pub fn cluster_configuration(cfg: &Config) -> serde_json::Value {
    let mut networking = serde_json::json!({ "serviceSubnet": cfg.service_subnet.to_string(), "dnsDomain": cfg.dns_domain });
    if let Some(p) = cfg.pod_subnet {
        networking["podSubnet"] = p.to_string().into();
    }
    let mut etcd = serde_json::json!({ "dataDir": cfg.etcd_data_dir });
    if cfg.etcd_image_tag != cfg.version.facts().etcd_tag {
        etcd["imageTag"] = cfg.etcd_image_tag.clone().into();
    }
    for (key, sans) in [("serverCertSANs", &cfg.etcd_server_cert_sans), ("peerCertSANs", &cfg.etcd_peer_cert_sans)] {
        if !sans.is_empty() {
            etcd[key] = serde_json::json!(sans);
        }
    }
    if !cfg.etcd_extra_args.is_empty() {
        etcd["extraArgs"] = extra_args(cfg, &cfg.etcd_extra_args);
    }
    let mut api_server = component(cfg, &cfg.apiserver_extra_args);
    api_server["certSANs"] = serde_json::json!(cfg.apiserver_cert_sans);
    let mut v = serde_json::json!({
        "apiVersion": cfg.version.facts().kubeadm_api,
        "kind": "ClusterConfiguration",
        "kubernetesVersion": cfg.version.to_string(),
        "clusterName": cfg.cluster_name,
        "certificatesDir": cfg.cert_dir,
        "imageRepository": cfg.image_repository,
        "networking": networking,
        "etcd": { "local": etcd },
        "apiServer": api_server,
        "controllerManager": component(cfg, &cfg.controller_manager_extra_args),
        "scheduler": component(cfg, &cfg.scheduler_extra_args),
        "dns": {},
    });
    if let Some(ep) = &cfg.control_plane_endpoint {
        v["controlPlaneEndpoint"] = format!("{}:{}", ep.host, ep.port).into();
    }
    if cfg.version.facts().kubeadm_api.ends_with("v1beta4") {
        v["certificateValidityPeriod"] = crate::config::GoDuration(cfg.cert_validity).to_string().into();
        v["caCertificateValidityPeriod"] = crate::config::GoDuration(cfg.ca_validity).to_string().into();
    }
    v
}

/// ConfigMaps `kube-system/kubeadm-config` and the kubelet's (kubeadm-compatible keys).
pub fn config_maps(cfg: &Config, kubelet_config_yaml: &str) -> Result<[ConfigMap; 2], String> {
    let cc = crate::yaml::to_string(&cluster_configuration(cfg))?;
    Ok([
        ConfigMap {
            metadata: meta("kubeadm-config", Some("kube-system")),
            data: Some(BTreeMap::from([("ClusterConfiguration".into(), cc)])),
            ..Default::default()
        },
        ConfigMap {
            metadata: meta(cfg.version.facts().kubelet_config_map, Some("kube-system")),
            data: Some(BTreeMap::from([("kubelet".into(), kubelet_config_yaml.to_string())])),
            ..Default::default()
        },
    ])
}
