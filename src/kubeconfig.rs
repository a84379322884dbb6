//! kubeconfig files kubeup writes (admin, super-admin, kubelet, controller-manager,
//! scheduler), built as kube's `Kubeconfig` structs with the CA and client credentials embedded,
//! as kubeadm writes them.
//!
//! Pure (apart from key generation for the client certificates).

use base64::engine::general_purpose::STANDARD as B64;
use base64::Engine as _;
use kube::config::{AuthInfo, Cluster, Context, Kubeconfig, NamedAuthInfo, NamedCluster, NamedContext};

use crate::config::{Config, Endpoint};
use crate::pki::{Identity, Usage};

/// One kubeconfig file kubeup writes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KubeconfigSpec {
    /// Phase child name (`admin`, `super-admin`, `kubelet`, `controller-manager`, `scheduler`).
    pub phase: &'static str,
    /// File name under /etc/kubernetes.
    pub file: &'static str,
    /// User name in the file = client certificate CN.
    pub user: String,
    /// Client certificate O.
    pub org: Option<String>,
    /// API server it talks to.
    pub server: Endpoint,
}

impl KubeconfigSpec {
    /// The client certificate identity.
    pub fn identity(&self) -> Identity {
        Identity { cn: self.user.clone(), orgs: self.org.clone().into_iter().collect(), usages: vec![Usage::ClientAuth], sans: vec![] }
    }
}

/// kubeadm's kubeconfig set for a control-plane node (`phases/kubeconfig`).
pub fn specs(cfg: &Config) -> Vec<KubeconfigSpec> {
    let facts = cfg.version.facts();
    let mut v = vec![KubeconfigSpec {
        phase: "admin",
        file: "admin.conf",
        user: "kubernetes-admin".into(),
        org: Some(facts.admin_group.into()),
        server: cfg.cluster_endpoint(),
    }];
    if facts.super_admin_conf {
        v.push(KubeconfigSpec {
            phase: "super-admin",
            file: "super-admin.conf",
            user: "kubernetes-super-admin".into(),
            org: Some("system:masters".into()),
            server: cfg.cluster_endpoint(),
        });
    }
    v.push(KubeconfigSpec {
        phase: "kubelet",
        file: "kubelet.conf",
        user: format!("system:node:{}", cfg.node_name),
        org: Some("system:nodes".into()),
        // From 1.33 kubeadm points the control-plane kubelet at its own API server (KEP-4471),
        // so it never depends on a load balancer routing back to a not-yet-ready node.
        server: if facts.kubelet_local_mode { cfg.local_endpoint() } else { cfg.cluster_endpoint() },
    });
    v.push(KubeconfigSpec {
        phase: "controller-manager",
        file: "controller-manager.conf",
        user: "system:kube-controller-manager".into(),
        org: None,
        server: cfg.local_endpoint(),
    });
    v.push(KubeconfigSpec { phase: "scheduler", file: "scheduler.conf", user: "system:kube-scheduler".into(), org: None, server: cfg.local_endpoint() });
    v
}

/// A kubeconfig with embedded CA and client certificate/key.
pub fn with_client_cert(cluster: &str, server: &str, ca_pem: &str, user: &str, cert_pem: &str, key_pem: &str) -> Kubeconfig {
    let auth = AuthInfo { client_certificate_data: Some(B64.encode(cert_pem)), client_key_data: Some(B64.encode(key_pem).into()), ..Default::default() };
    build(cluster, server, ca_pem, user, auth)
}

fn build(cluster: &str, server: &str, ca_pem: &str, user: &str, auth: AuthInfo) -> Kubeconfig {
    let context = format!("{user}@{cluster}");
    Kubeconfig {
        api_version: Some("v1".into()),
        kind: Some("Config".into()),
        clusters: vec![NamedCluster {
            name: cluster.into(),
            cluster: Some(Cluster { server: Some(server.into()), certificate_authority_data: Some(B64.encode(ca_pem)), ..Default::default() }),
            ..Default::default()
        }],
        auth_infos: vec![NamedAuthInfo { name: user.into(), auth_info: Some(auth), ..Default::default() }],
        contexts: vec![NamedContext {
            name: context.clone(),
            context: Some(Context { cluster: cluster.into(), user: Some(user.into()), ..Default::default() }),
            ..Default::default()
        }],
        current_context: Some(context),
        ..Default::default()
    }
}

/// Serialize a kubeconfig as YAML.
pub fn to_yaml(kc: &Kubeconfig) -> Result<String, String> {
    crate::yaml::to_string(kc)
}

/// What an existing kubeconfig file holds, for deciding whether to keep it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Existing {
    /// CA PEM of the current context's cluster.
    pub ca_pem: String,
    /// Server URL.
    pub server: String,
    /// Embedded client certificate PEM, if any.
    pub client_cert_pem: Option<String>,
}

/// Read the current context's cluster CA, server and client certificate.
pub fn read_existing(text: &str) -> Result<Existing, String> {
    let kc = Kubeconfig::from_yaml(text).map_err(|e| format!("not a kubeconfig: {e}"))?;
    let ctx_name = kc.current_context.clone().ok_or("no current-context")?;
    let ctx = kc.contexts.iter().find(|c| c.name == ctx_name).and_then(|c| c.context.clone()).ok_or("current context not found")?;
    let cluster = kc.clusters.iter().find(|c| c.name == ctx.cluster).and_then(|c| c.cluster.clone()).ok_or("cluster of the current context not found")?;
    let decode = |s: &str| B64.decode(s.trim()).ok().and_then(|b| String::from_utf8(b).ok());
    let ca_pem = cluster.certificate_authority_data.as_deref().and_then(decode).ok_or("no embedded certificate-authority-data")?;
    let user = ctx.user.unwrap_or_default();
    let client_cert_pem =
        kc.auth_infos.iter().find(|a| a.name == user).and_then(|a| a.auth_info.as_ref()).and_then(|a| a.client_certificate_data.as_deref()).and_then(decode);
    Ok(Existing { ca_pem, server: cluster.server.unwrap_or_default(), client_cert_pem })
}
