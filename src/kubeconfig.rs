//! kubeconfig files kubeup writes (admin, super-admin, kubelet, controller-manager,
//! scheduler), built as kube's `Kubeconfig` structs with the CA and client credentials embedded,
//! as kubeadm writes them.
//!
//! Pure (apart from key generation for the client certificates).

use base64::engine::general_purpose::STANDARD as B64;
use base64::Engine as _;
pub use kube::config::AuthInfo;
use kube::config::{Cluster, Context, Kubeconfig, NamedAuthInfo, NamedCluster, NamedContext};

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

/// Where a kubeconfig's cluster CA comes from.
#[derive(Debug, Clone, Copy)]
pub enum Ca<'a> {
    /// Embedded as `certificate-authority-data` (PEM).
    Data(&'a str),
    /// A file path (`certificate-authority`), as in-cluster kubeconfigs do.
    File(&'a str),
}

/// The one kubeconfig builder: a cluster, optionally a user with its credentials, and the
/// context joining them (`user@cluster`, or `context` when given). Every kubeconfig kubeup
/// writes or publishes is made here.
pub struct Parts<'a> {
    /// Cluster name.
    pub cluster: &'a str,
    /// API server URL.
    pub server: &'a str,
    /// The cluster CA.
    pub ca: Ca<'a>,
    /// User name and credentials; `None` for a kubeconfig with no user (cluster-info).
    pub user: Option<(&'a str, AuthInfo)>,
    /// Context name (default `user@cluster`).
    pub context: Option<&'a str>,
    /// The context's namespace.
    pub namespace: Option<&'a str>,
}

/// Build a kubeconfig from its parts.
pub fn build(p: Parts) -> Kubeconfig {
    let (certificate_authority_data, certificate_authority) = match p.ca {
        Ca::Data(pem) => (Some(B64.encode(pem)), None),
        Ca::File(path) => (None, Some(path.to_string())),
    };
    let mut kc = Kubeconfig {
        api_version: Some("v1".into()),
        kind: Some("Config".into()),
        clusters: vec![NamedCluster {
            name: p.cluster.into(),
            cluster: Some(Cluster { server: Some(p.server.into()), certificate_authority_data, certificate_authority, ..Default::default() }),
            ..Default::default()
        }],
        ..Default::default()
    };
    if let Some((user, auth)) = p.user {
        let context = p.context.map(str::to_string).unwrap_or_else(|| format!("{user}@{}", p.cluster));
        kc.auth_infos = vec![NamedAuthInfo { name: user.into(), auth_info: Some(auth), ..Default::default() }];
        kc.contexts = vec![NamedContext {
            name: context.clone(),
            context: Some(Context { cluster: p.cluster.into(), user: Some(user.into()), namespace: p.namespace.map(str::to_string), ..Default::default() }),
            ..Default::default()
        }];
        kc.current_context = Some(context);
    }
    kc
}

/// A kubeconfig with embedded CA and client certificate/key.
pub fn with_client_cert(cluster: &str, server: &str, ca_pem: &str, user: &str, cert_pem: &str, key_pem: &str) -> Kubeconfig {
    let auth = AuthInfo { client_certificate_data: Some(B64.encode(cert_pem)), client_key_data: Some(B64.encode(key_pem).into()), ..Default::default() };
    build(Parts { cluster, server, ca: Ca::Data(ca_pem), user: Some((user, auth)), context: None, namespace: None })
}

/// The kubelet's rotating client certificate and key, written by the kubelet itself.
pub const KUBELET_CLIENT_CURRENT: &str = "/var/lib/kubelet/pki/kubelet-client-current.pem";

/// kubeadm's kubelet-finalize as a transformation: kubelet.conf with its users pointing at
/// [`KUBELET_CLIENT_CURRENT`] instead of an embedded certificate that would expire; `None` when
/// it already does.
pub fn point_at_rotating_cert(kubelet_conf: &str) -> Result<Option<String>, String> {
    let mut kc = Kubeconfig::from_yaml(kubelet_conf).map_err(|e| format!("is not a kubeconfig: {e}"))?;
    let mut changed = false;
    for a in &mut kc.auth_infos {
        if let Some(auth) = &mut a.auth_info {
            if auth.client_certificate.as_deref() != Some(KUBELET_CLIENT_CURRENT) {
                auth.client_certificate_data = None;
                auth.client_key_data = None;
                auth.client_certificate = Some(KUBELET_CLIENT_CURRENT.into());
                auth.client_key = Some(KUBELET_CLIENT_CURRENT.into());
                changed = true;
            }
        }
    }
    if changed {
        to_yaml(&kc).map(Some)
    } else {
        Ok(None)
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
