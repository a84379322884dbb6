//! EDGE (read-only): the facts about the machine that rendering and preflight take as input.
//!
//! Gathered once, then passed around as plain data, so every renderer and check is pure and
//! testable with hand-made facts.

use std::net::{IpAddr, TcpListener};
use std::path::{Path, PathBuf};

use super::HostRoot;
use crate::config::HostDefaults;
use crate::paths::{self, HostPath};

pub use crate::facts::{HostFacts, CA_CERT_DIRS, CRI_SOCKETS};

/// Whether `host_path` (as the host sees it) lies on a shared mount in `mountinfo`.
pub fn shared(mountinfo: &str, host_path: &str) -> Option<bool> {
    crate::mountinfo::propagation_of(mountinfo, host_path).map(|m| m.shared)
}

/// Read the facts. `proc_dir` is `/proc` except in tests.
pub fn observe(root: &HostRoot, proc_dir: &Path) -> HostFacts {
    let read = |p: &str| std::fs::read_to_string(proc_dir.join(p)).ok();
    let addresses = interface_addresses();
    let default_route_address = default_route_address(&read("net/route").unwrap_or_default());
    let exists = |p: &str| HostPath::new(p).ok().and_then(|hp| root.exists(&hp).ok()).unwrap_or(false);
    HostFacts {
        busy_ports: busy_ports(&PORTS),
        defaults: HostDefaults {
            hostname: read("sys/kernel/hostname").map(|h| h.trim().to_string()).filter(|h| !h.is_empty()),
            address: default_route_address.or_else(|| addresses.iter().copied().find(|a| a.is_ipv4() && !a.is_loopback())),
            cgroup_driver: None,
            cri_socket: None,
            kubeup_image: None,
        },
        ca_cert_dirs: CA_CERT_DIRS.iter().filter(|d| exists(d)).map(|d| d.to_string()).collect(),
        systemd: exists(paths::SYSTEMD_RUNTIME_DIR),
        resolv_conf: exists("/run/systemd/resolve/resolv.conf").then(|| "/run/systemd/resolve/resolv.conf".to_string()),
        euid: nix::unistd::geteuid().as_raw(),
        cpus: std::thread::available_parallelism().map(|n| n.get()).unwrap_or(1),
        mem_mib: read("meminfo").and_then(|m| parse_meminfo_total_kib(&m)).map(|k| k / 1024).unwrap_or(0),
        swap_entries: read("swaps").map(|s| s.lines().skip(1).filter(|l| !l.trim().is_empty()).count()).unwrap_or(0),
        ip_forward: read("sys/net/ipv4/ip_forward").map(|s| s.trim().to_string()),
        bridge_nf_call_iptables: read("sys/net/bridge/bridge-nf-call-iptables").map(|s| s.trim().to_string()),
        kubelet_dir_shared: None,
        cri_sockets: CRI_SOCKETS.iter().filter(|s| answers(root, s)).map(|s| s.to_string()).collect(),
        host_mountinfo: None,
        hosts_file: HostPath::new("/etc/hosts").ok().and_then(|p| root.read(&p).ok().flatten()).map(|b| String::from_utf8_lossy(&b).into_owned()),
        docker: None,
        default_route_address,
        addresses,
    }
}

/// Whether a unix socket in the host root accepts connections.
fn answers(root: &HostRoot, socket: &str) -> bool {
    HostPath::new(socket).ok().and_then(|p| root.resolve(&p).ok()).is_some_and(|p| std::os::unix::net::UnixStream::connect(p).is_ok())
}

fn parse_meminfo_total_kib(meminfo: &str) -> Option<u64> {
    meminfo.lines().find_map(|l| l.strip_prefix("MemTotal:")).and_then(|v| v.split_whitespace().next()).and_then(|v| v.parse().ok())
}

/// All interface addresses (no traffic is sent: this reads the kernel's interface list).
fn interface_addresses() -> Vec<IpAddr> {
    let Ok(addrs) = nix::ifaddrs::getifaddrs() else { return Vec::new() };
    let mut out = Vec::new();
    for a in addrs {
        let Some(sa) = a.address else { continue };
        if let Some(v4) = sa.as_sockaddr_in() {
            out.push(IpAddr::V4(v4.ip()));
        } else if let Some(v6) = sa.as_sockaddr_in6() {
            out.push(IpAddr::V6(v6.ip()));
        }
    }
    out
}

/// The IPv4 address of the interface that carries the default route (kubeadm's choice of
/// advertise address), from `/proc/net/route`.
fn default_route_address(route_table: &str) -> Option<IpAddr> {
    let iface = route_table.lines().skip(1).find_map(|l| {
        let cols: Vec<&str> = l.split_whitespace().collect();
        (cols.len() > 2 && cols[1] == "00000000").then(|| cols[0].to_string())
    })?;
    let addrs = nix::ifaddrs::getifaddrs().ok()?;
    for a in addrs {
        if a.interface_name == iface {
            if let Some(v4) = a.address.as_ref().and_then(|s| s.as_sockaddr_in()) {
                return Some(IpAddr::V4(v4.ip()));
            }
        }
    }
    None
}

/// Whether a TCP port can be bound on all addresses right now (kubeadm's port check).
pub fn port_free(port: u16) -> bool {
    TcpListener::bind(("0.0.0.0", port)).is_ok()
}

/// The ports kubeadm's preflight checks (etcd client and peer, the kubelet, the
/// controller-manager, the scheduler, the default API server port); another API server port is
/// checked with [`busy_ports`] once the configuration names it.
pub const PORTS: [u16; 6] = [2379, 2380, 10250, 10257, 10259, 6443];

/// The ports among `ports` that cannot be bound right now.
pub fn busy_ports(ports: &[u16]) -> Vec<u16> {
    ports.iter().copied().filter(|p| !port_free(*p)).collect()
}

/// `/proc`, or the directory named by `KUBEUP_PROC_DIR` (tests give a fake one).
pub fn proc_dir() -> PathBuf {
    crate::test_hook!("KUBEUP_PROC_DIR").map(PathBuf::from).unwrap_or_else(|| PathBuf::from("/proc"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn meminfo_total() {
        assert_eq!(parse_meminfo_total_kib("MemTotal:       24607892 kB\nMemFree: 1 kB\n"), Some(24607892));
        assert_eq!(parse_meminfo_total_kib("nothing"), None);
    }
}
