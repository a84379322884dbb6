//! Day-2 certificates: what this node's PKI holds and when it expires (`certs check-expiration`),
//! renewing it (`certs renew`, and the long-running renewer), and which kubelet serving CSRs may
//! be approved.
//!
//! Pure: everything here reads files through [`HostFiles`](crate::host_files::HostFiles) and returns
//! data or plans; the executor and the renewer's edge carry them out.

pub mod csr_policy;
pub mod inventory;
pub mod renew;
pub mod settings;
pub mod table;

use crate::manifests::Component;

/// Where a renewable certificate lives.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Source {
    /// `<cert dir>/<base>.crt` and `.key`.
    Pair(&'static str),
    /// A kubeconfig under /etc/kubernetes with an embedded client certificate.
    Kubeconfig(&'static str),
}

/// One certificate kubeadm (and kubeup) can renew, by kubeadm's name.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Renewable {
    /// kubeadm's name (`apiserver`, `admin.conf` …).
    pub name: &'static str,
    /// Its files.
    pub source: Source,
    /// The CA that signs it (`ca`, `etcd-ca`, `front-proxy-ca`).
    pub ca: &'static str,
    /// The static pods that read it only at start, and so must restart to use a renewed one.
    /// The API server reloads its serving certificate and etcd its server and peer
    /// certificates on every handshake: neither restarts for those.
    pub restarts: &'static [Component],
}

/// kubeadm's renewable certificates in kubeadm's order (`certs renew --help`), plus
/// super-admin.conf where the node has one (kubeadm ≥1.29).
pub const RENEWABLE: [Renewable; 11] = [
    Renewable { name: "admin.conf", source: Source::Kubeconfig("admin.conf"), ca: "ca", restarts: &[] },
    Renewable { name: "apiserver", source: Source::Pair("apiserver"), ca: "ca", restarts: &[] },
    Renewable { name: "apiserver-etcd-client", source: Source::Pair("apiserver-etcd-client"), ca: "etcd-ca", restarts: &[Component::ApiServer] },
    Renewable { name: "apiserver-kubelet-client", source: Source::Pair("apiserver-kubelet-client"), ca: "ca", restarts: &[Component::ApiServer] },
    Renewable { name: "controller-manager.conf", source: Source::Kubeconfig("controller-manager.conf"), ca: "ca", restarts: &[Component::ControllerManager] },
    Renewable { name: "etcd-healthcheck-client", source: Source::Pair("etcd/healthcheck-client"), ca: "etcd-ca", restarts: &[] },
    Renewable { name: "etcd-peer", source: Source::Pair("etcd/peer"), ca: "etcd-ca", restarts: &[] },
    Renewable { name: "etcd-server", source: Source::Pair("etcd/server"), ca: "etcd-ca", restarts: &[] },
    Renewable { name: "front-proxy-client", source: Source::Pair("front-proxy-client"), ca: "front-proxy-ca", restarts: &[Component::ApiServer] },
    Renewable { name: "scheduler.conf", source: Source::Kubeconfig("scheduler.conf"), ca: "ca", restarts: &[Component::Scheduler] },
    Renewable { name: "super-admin.conf", source: Source::Kubeconfig("super-admin.conf"), ca: "ca", restarts: &[] },
];

/// A renewable certificate by name.
pub fn renewable(name: &str) -> Option<&'static Renewable> {
    RENEWABLE.iter().find(|r| r.name == name)
}

/// The names `certs renew` accepts.
pub fn names() -> Vec<&'static str> {
    RENEWABLE.iter().map(|r| r.name).collect()
}
