//! What kubeup knows about the host before it plans: gathered once by the edges
//! (`host::observe`, Docker), then passed to every renderer and check as plain data, so they
//! are pure and testable with hand-made facts.

use std::net::IpAddr;

use crate::config::HostDefaults;

/// What Docker says about itself, for preflight and the cgroup-driver default.
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize)]
pub struct DockerFacts {
    /// Engine version.
    pub version: String,
    /// API version the engine speaks.
    pub api_version: String,
    /// `cgroupfs` or `systemd`.
    pub cgroup_driver: String,
    /// `1` or `2`.
    pub cgroup_version: String,
}

/// Distribution CA-certificate directories kubeadm mounts into the control plane when present.
pub const CA_CERT_DIRS: [&str; 5] =
    ["/etc/pki/ca-trust", "/etc/pki/tls/certs", "/etc/ca-certificates", "/usr/share/ca-certificates", "/usr/local/share/ca-certificates"];

/// What kubeup knows about the host before planning.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct HostFacts {
    /// Hostname and an address, for config defaults.
    pub defaults: HostDefaults,
    /// Every address configured on this machine's interfaces.
    pub addresses: Vec<IpAddr>,
    /// CA directories present on the host.
    pub ca_cert_dirs: Vec<String>,
    /// The host runs systemd.
    pub systemd: bool,
    /// Whether the host's /etc/hosts names this host (kubeadm's Hostname check, without DNS).
    pub hosts_file: Option<String>,
    /// The IPv4 address of the interface with the default route, if there is one (the kubelet's
    /// fallback for its node address).
    pub default_route_address: Option<IpAddr>,
    /// The host's resolv.conf for pods when systemd-resolved runs.
    pub resolv_conf: Option<String>,
    /// Effective user id of kubeup.
    pub euid: u32,
    /// CPUs available.
    pub cpus: usize,
    /// Total memory in MiB.
    pub mem_mib: u64,
    /// Lines of /proc/swaps after the header.
    pub swap_entries: usize,
    /// Content of /proc/sys/net/ipv4/ip_forward.
    pub ip_forward: Option<String>,
    /// Content of /proc/sys/net/bridge/bridge-nf-call-iptables (None: br_netfilter not loaded).
    pub bridge_nf_call_iptables: Option<String>,
    /// Whether the host's kubelet directory (or the mount that will hold it) is shared, as seen
    /// in the host process's mountinfo; None when it cannot be read.
    pub kubelet_dir_shared: Option<bool>,
    /// CRI sockets present in the host root (containerd's, cri-dockerd's).
    pub cri_sockets: Vec<String>,
    /// The host process's mount table (filled in by the caller), for propagation decisions.
    pub host_mountinfo: Option<String>,
    /// What Docker said, or why it could not be asked (filled in by the caller).
    pub docker: Option<Result<DockerFacts, String>>,
    /// TCP ports that could not be bound when kubeup looked (kubeadm's port checks).
    pub busy_ports: Vec<u16>,
}

/// Well-known CRI sockets, in kubeadm's order of preference.
pub const CRI_SOCKETS: [&str; 3] = ["/run/containerd/containerd.sock", "/run/crio/crio.sock", "/run/cri-dockerd.sock"];
