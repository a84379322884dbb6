//! kubeadm's certificate table (`phases/certs/certlist.go`) as data: which CA signs what, with
//! which subject, usages and SANs. The `certs` phase walks it in kubeadm's order.

use super::{Identity, San, Usage};
use crate::config::Config;

/// A certificate authority.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CaSpec {
    /// Phase child name (`ca`, `front-proxy-ca`, `etcd-ca`).
    pub phase: &'static str,
    /// Base file name relative to the cert dir, without extension.
    pub file: &'static str,
    /// Subject CN.
    pub cn: &'static str,
}

/// A leaf certificate.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CertSpec {
    /// Phase child name (`apiserver`, `etcd-server` …).
    pub phase: &'static str,
    /// Base file name relative to the cert dir, without extension.
    pub file: &'static str,
    /// The CA that signs it (its `phase`).
    pub ca: &'static str,
    /// Subject, usages, SANs.
    pub identity: Identity,
}

/// The three CAs.
pub const CAS: [CaSpec; 3] = [
    CaSpec { phase: "ca", file: "ca", cn: "kubernetes" },
    CaSpec { phase: "front-proxy-ca", file: "front-proxy-ca", cn: "front-proxy-ca" },
    CaSpec { phase: "etcd-ca", file: "etcd/ca", cn: "etcd-ca" },
];

/// The phase child that makes the service-account key pair.
pub const SA_PHASE: &str = "sa";

/// kubeadm's phase order of `init phase certs`: each CA is followed by its leaves.
pub const PHASE_ORDER: [&str; 11] = [
    "ca",
    "apiserver",
    "apiserver-kubelet-client",
    "front-proxy-ca",
    "front-proxy-client",
    "etcd-ca",
    "etcd-server",
    "etcd-peer",
    "etcd-healthcheck-client",
    "apiserver-etcd-client",
    SA_PHASE,
];

fn dedup(mut sans: Vec<San>) -> Vec<San> {
    let mut seen = Vec::new();
    sans.retain(|s| {
        if seen.contains(s) {
            false
        } else {
            seen.push(s.clone());
            true
        }
    });
    sans
}

/// The leaf certificates for this node's configuration.
pub fn leaves(cfg: &Config) -> Vec<CertSpec> {
    let facts = cfg.version.facts();
    let node = San::Dns(cfg.node_name.clone());
    let adv = San::Ip(cfg.advertise_address);

    let mut apiserver_sans = vec![
        node.clone(),
        San::Dns("kubernetes".into()),
        San::Dns("kubernetes.default".into()),
        San::Dns("kubernetes.default.svc".into()),
        San::Dns(format!("kubernetes.default.svc.{}", cfg.dns_domain)),
        San::Ip(cfg.apiserver_service_ip()),
        adv.clone(),
        // Not in kubeadm's list: `https://127.0.0.1:<port>` is how a worker reaches the API through
        // its api-proxy and how kube-proxy reaches it on every node (phases::api_proxy).
        San::Ip(std::net::Ipv4Addr::LOCALHOST.into()),
    ];
    if let Some(ep) = &cfg.control_plane_endpoint {
        apiserver_sans.push(San::parse(&ep.host));
    }
    apiserver_sans.extend(cfg.apiserver_cert_sans.iter().map(|s| San::parse(s)));

    let etcd_base = vec![
        node,
        San::Dns("localhost".into()),
        adv,
        San::Ip("127.0.0.1".parse().unwrap_or(cfg.advertise_address)),
        San::Ip(std::net::Ipv6Addr::LOCALHOST.into()),
    ];
    let mut etcd_server = etcd_base.clone();
    etcd_server.extend(cfg.etcd_server_cert_sans.iter().map(|s| San::parse(s)));
    let mut etcd_peer = etcd_base;
    etcd_peer.extend(cfg.etcd_peer_cert_sans.iter().map(|s| San::parse(s)));

    let masters = facts.etcd_clients_in_masters.then(|| "system:masters".to_string());
    let leaf = |phase, file, ca, cn: String, org: Option<String>, usages: Vec<Usage>, sans: Vec<San>| CertSpec {
        phase,
        file,
        ca,
        identity: Identity { cn, orgs: org.into_iter().collect(), usages, sans: dedup(sans) },
    };
    vec![
        leaf("apiserver", "apiserver", "ca", "kube-apiserver".into(), None, vec![Usage::ServerAuth], apiserver_sans),
        leaf(
            "apiserver-kubelet-client",
            "apiserver-kubelet-client",
            "ca",
            "kube-apiserver-kubelet-client".into(),
            Some(facts.admin_group.to_string()),
            vec![Usage::ClientAuth],
            vec![],
        ),
        leaf("front-proxy-client", "front-proxy-client", "front-proxy-ca", "front-proxy-client".into(), None, vec![Usage::ClientAuth], vec![]),
        leaf("etcd-server", "etcd/server", "etcd-ca", cfg.node_name.clone(), None, vec![Usage::ServerAuth, Usage::ClientAuth], etcd_server),
        leaf("etcd-peer", "etcd/peer", "etcd-ca", cfg.node_name.clone(), None, vec![Usage::ServerAuth, Usage::ClientAuth], etcd_peer),
        leaf(
            "etcd-healthcheck-client",
            "etcd/healthcheck-client",
            "etcd-ca",
            "kube-etcd-healthcheck-client".into(),
            masters.clone(),
            vec![Usage::ClientAuth],
            vec![],
        ),
        leaf("apiserver-etcd-client", "apiserver-etcd-client", "etcd-ca", "kube-apiserver-etcd-client".into(), masters, vec![Usage::ClientAuth], vec![]),
    ]
}

/// The CA with this phase name.
pub fn ca(phase: &str) -> Option<&'static CaSpec> {
    CAS.iter().find(|c| c.phase == phase)
}
