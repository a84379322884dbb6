//! The API objects `init` creates, built from k8s-openapi types with kubeadm's exact names
//! (kubeadm.md §5), so kubeadm's own `join` works against a kubeup cluster.
//!
//! Pure.

use std::collections::BTreeMap;

use k8s_openapi::api::core::v1::{ConfigMap, Secret};
use k8s_openapi::api::rbac::v1::{ClusterRole, ClusterRoleBinding, PolicyRule, Role, RoleBinding, RoleRef, Subject};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;
use k8s_openapi::ByteString;
use serde::Serialize;

use crate::config::Config;
use crate::token::BootstrapToken;

/// The group of the default node token.
pub const DEFAULT_NODE_TOKEN_GROUP: &str = "system:bootstrappers:kubeadm:default-node-token";

fn meta(name: &str, namespace: Option<&str>) -> ObjectMeta {
    ObjectMeta { name: Some(name.into()), namespace: namespace.map(str::to_string), ..Default::default() }
}

/// Any typed object as JSON (k8s-openapi serializes apiVersion and kind itself).
pub fn json<T: Serialize>(obj: &T) -> serde_json::Value {
    serde_json::to_value(obj).unwrap_or_default()
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

/// Role and RoleBinding `kubeadm:kubeadm-certs`: joining nodes' token may read kubeadm-certs.
pub fn kubeadm_certs_rbac() -> [serde_json::Value; 2] {
    role_and_binding(
        "kubeadm:kubeadm-certs",
        "kube-system",
        vec![rule("", &["secrets"], &["get"], &["kubeadm-certs"])],
        vec![subject("Group", DEFAULT_NODE_TOKEN_GROUP)],
    )
}

fn rule(api_group: &str, resources: &[&str], verbs: &[&str], names: &[&str]) -> PolicyRule {
    PolicyRule {
        api_groups: Some(vec![api_group.into()]),
        resources: Some(resources.iter().map(|s| s.to_string()).collect()),
        verbs: verbs.iter().map(|s| s.to_string()).collect(),
        resource_names: (!names.is_empty()).then(|| names.iter().map(|s| s.to_string()).collect()),
        ..Default::default()
    }
}

fn subject(kind: &str, name: &str) -> Subject {
    Subject { kind: kind.into(), name: name.into(), api_group: (kind != "ServiceAccount").then(|| "rbac.authorization.k8s.io".into()), namespace: None }
}

fn role_ref(kind: &str, name: &str) -> RoleRef {
    RoleRef { api_group: "rbac.authorization.k8s.io".into(), kind: kind.into(), name: name.into() }
}

fn crb(name: &str, role: &str, subjects: Vec<Subject>) -> serde_json::Value {
    json(&ClusterRoleBinding { metadata: meta(name, None), role_ref: role_ref("ClusterRole", role), subjects: Some(subjects) })
}

fn role_and_binding(name: &str, ns: &str, rules: Vec<PolicyRule>, subjects: Vec<Subject>) -> [serde_json::Value; 2] {
    [
        json(&Role { metadata: meta(name, Some(ns)), rules: Some(rules) }),
        json(&RoleBinding { metadata: meta(name, Some(ns)), role_ref: role_ref("Role", name), subjects: Some(subjects) }),
    ]
}

/// ClusterRoleBinding `kubeadm:cluster-admins` (v1.29+: admin.conf's group → cluster-admin).
pub fn admin_binding() -> serde_json::Value {
    crb("kubeadm:cluster-admins", "cluster-admin", vec![subject("Group", "kubeadm:cluster-admins")])
}

/// kubeadm's RBAC for joining nodes, in the order kubeadm creates it.
pub fn bootstrap_rbac(cfg: &Config) -> Vec<serde_json::Value> {
    let facts = cfg.version.facts();
    let group = subject("Group", DEFAULT_NODE_TOKEN_GROUP);
    let nodes = subject("Group", "system:nodes");
    let mut v = Vec::new();
    if facts.admin_group == "kubeadm:cluster-admins" {
        v.push(admin_binding());
    }
    v.push(crb("kubeadm:kubelet-bootstrap", "system:node-bootstrapper", vec![group.clone()]));
    v.push(crb("kubeadm:node-autoapprove-bootstrap", "system:certificates.k8s.io:certificatesigningrequests:nodeclient", vec![group.clone()]));
    v.push(crb("kubeadm:node-autoapprove-certificate-rotation", "system:certificates.k8s.io:certificatesigningrequests:selfnodeclient", vec![nodes.clone()]));
    v.push(json(&ClusterRole { metadata: meta("kubeadm:get-nodes", None), rules: Some(vec![rule("", &["nodes"], &["get"], &[])]), ..Default::default() }));
    v.push(crb("kubeadm:get-nodes", "kubeadm:get-nodes", vec![group.clone()]));
    v.extend(role_and_binding(
        "kubeadm:nodes-kubeadm-config",
        "kube-system",
        vec![rule("", &["configmaps"], &["get"], &["kubeadm-config"])],
        vec![group.clone(), nodes.clone()],
    ));
    let kubelet_cm = facts.kubelet_config_map;
    v.extend(role_and_binding(&format!("kubeadm:{kubelet_cm}"), "kube-system", vec![rule("", &["configmaps"], &["get"], &[kubelet_cm])], vec![group, nodes]));
    v.extend(role_and_binding(
        "kubeadm:bootstrap-signer-clusterinfo",
        "kube-public",
        vec![rule("", &["configmaps"], &["get"], &["cluster-info"])],
        vec![subject("User", "system:anonymous")],
    ));
    v
}

/// The kubeconfig inside cluster-info: one cluster named "" with the server and the CA only.
pub fn cluster_info_kubeconfig(server: &str, ca_pem: &str) -> Result<String, String> {
    use base64::Engine as _;
    let kc = kube::config::Kubeconfig {
        api_version: Some("v1".into()),
        kind: Some("Config".into()),
        clusters: vec![kube::config::NamedCluster {
            name: String::new(),
            cluster: Some(kube::config::Cluster {
                server: Some(server.into()),
                certificate_authority_data: Some(base64::engine::general_purpose::STANDARD.encode(ca_pem)),
                ..Default::default()
            }),
            ..Default::default()
        }],
        ..Default::default()
    };
    crate::yaml::to_string(&kc)
}

/// ConfigMap `kube-public/cluster-info`, signed for each token at once.
pub fn cluster_info(kubeconfig: &str, tokens: &[&BootstrapToken]) -> ConfigMap {
    let mut data = BTreeMap::from([("kubeconfig".to_string(), kubeconfig.to_string())]);
    for t in tokens {
        data.insert(format!("jws-kubeconfig-{}", t.id()), crate::jws::detached_signature(kubeconfig, t.id(), t.secret()));
    }
    ConfigMap { metadata: meta("cluster-info", Some("kube-public")), data: Some(data), ..Default::default() }
}

/// The ClusterConfiguration kubeadm uploads (in the kubeadm API version of this minor).
pub fn cluster_configuration(cfg: &Config) -> serde_json::Value {
    let mut networking = serde_json::json!({ "serviceSubnet": cfg.service_subnet.to_string(), "dnsDomain": cfg.dns_domain });
    if let Some(p) = cfg.pod_subnet {
        networking["podSubnet"] = p.to_string().into();
    }
    let mut v = serde_json::json!({
        "apiVersion": cfg.version.facts().kubeadm_api,
        "kind": "ClusterConfiguration",
        "kubernetesVersion": cfg.version.to_string(),
        "clusterName": cfg.cluster_name,
        "certificatesDir": cfg.cert_dir,
        "imageRepository": cfg.image_repository,
        "networking": networking,
        "etcd": { "local": { "dataDir": cfg.etcd_data_dir } },
        "apiServer": { "certSANs": cfg.apiserver_cert_sans },
        "controllerManager": {},
        "scheduler": {},
        "dns": {},
    });
    if let Some(ep) = &cfg.control_plane_endpoint {
        v["controlPlaneEndpoint"] = format!("{}:{}", ep.host, ep.port).into();
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
