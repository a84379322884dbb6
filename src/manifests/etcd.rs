//! The local etcd static pod (`phases/etcd/local.go`).

use std::collections::BTreeMap;

use k8s_openapi::api::core::v1::Pod;

use super::{build_pod, command, flags, host_mount, pki, probe, url_host, ProbeKind, StaticPod};
use crate::config::Config;
use crate::version::EtcdFlagStyle;

/// Client port.
pub const CLIENT_PORT: u16 = 2379;
/// Peer port.
pub const PEER_PORT: u16 = 2380;
/// Metrics/health port (plain HTTP on etcd's localhost address).
pub const METRICS_PORT: u16 = 2381;

/// The loopback address etcd serves clients, metrics and probes on: `::1` when the advertise
/// address is IPv6, else `127.0.0.1` (kubeadm's `etcdLocalhostAddress`, phases/etcd/local.go).
/// The API server's `--etcd-servers` uses the same address.
pub fn localhost(cfg: &Config) -> std::net::IpAddr {
    if cfg.advertise_address.is_ipv6() {
        std::net::Ipv6Addr::LOCALHOST.into()
    } else {
        std::net::Ipv4Addr::LOCALHOST.into()
    }
}

/// `https://<localhost>:2379`, the client URL of this node's own etcd member.
pub fn local_client_url(cfg: &Config) -> String {
    format!("https://{}:{CLIENT_PORT}", url_host(&localhost(cfg)))
}

/// `--initial-cluster`: this node alone for a new cluster, else every member of the cluster it
/// joins (names and peer URLs from etcd's member list, this node last).
fn initial_cluster(cfg: &Config, own_peer: &str) -> String {
    if cfg.etcd_initial_cluster.is_empty() {
        return format!("{}={own_peer}", cfg.node_name);
    }
    cfg.etcd_initial_cluster.iter().map(|(name, url)| format!("{name}={url}")).collect::<Vec<_>>().join(",")
}

/// The etcd flags of this node's member.
pub fn etcd_flags(cfg: &Config) -> BTreeMap<String, String> {
    let adv = url_host(&cfg.advertise_address);
    let client = format!("https://{adv}:{CLIENT_PORT}");
    let peer = format!("https://{adv}:{PEER_PORT}");
    // With a loopback advertise address (single-node and two-roots-on-one-machine test setups)
    // kubeadm would list a loopback URL twice, or bind another member's 127.0.0.1, and etcd
    // would fail to start.
    let listen_client = if cfg.advertise_address.is_loopback() { client.clone() } else { format!("{},{client}", local_client_url(cfg)) };
    let mut f = flags([
        ("name", cfg.node_name.clone()),
        ("advertise-client-urls", client),
        ("listen-client-urls", listen_client),
        ("listen-peer-urls", peer.clone()),
        ("initial-advertise-peer-urls", peer.clone()),
        ("initial-cluster", initial_cluster(cfg, &peer)),
        ("data-dir", cfg.etcd_data_dir.clone()),
        ("cert-file", pki(cfg, "etcd/server.crt")),
        ("key-file", pki(cfg, "etcd/server.key")),
        ("trusted-ca-file", pki(cfg, "etcd/ca.crt")),
        ("client-cert-auth", "true".into()),
        ("peer-cert-file", pki(cfg, "etcd/peer.crt")),
        ("peer-key-file", pki(cfg, "etcd/peer.key")),
        ("peer-trusted-ca-file", pki(cfg, "etcd/ca.crt")),
        ("peer-client-cert-auth", "true".into()),
        ("snapshot-count", "10000".into()),
        ("listen-metrics-urls", format!("http://{}:{METRICS_PORT}", url_host(&localhost(cfg)))),
    ]);
    if !cfg.etcd_initial_cluster.is_empty() {
        // A member joining a running cluster (added as a learner first).
        f.insert("initial-cluster-state".into(), "existing".into());
    }
    // The spelling follows the etcd that runs (an `etcd.imageTag` override may be another minor).
    let style = cfg.version.facts().etcd_flag_style(&cfg.etcd_image_tag);
    if matches!(style, EtcdFlagStyle::CorruptCheck | EtcdFlagStyle::CorruptCheckAndProgress) {
        f.insert("experimental-initial-corrupt-check".into(), "true".into());
    }
    if style == EtcdFlagStyle::CorruptCheckAndProgress {
        f.insert("experimental-watch-progress-notify-interval".into(), "5s".into());
    }
    if style == EtcdFlagStyle::FeatureGates {
        f.insert("feature-gates".into(), "InitialCorruptCheck=true".into());
        f.insert("watch-progress-notify-interval".into(), "5s".into());
    }
    f
}

/// The etcd Pod.
pub fn pod(cfg: &Config) -> Pod {
    let paths = cfg.version.facts().etcd_probes;
    let port = i32::from(METRICS_PORT);
    let host = localhost(cfg).to_string();
    build_pod(
        cfg,
        StaticPod {
            name: "etcd",
            image: cfg.etcd_image(),
            command: command("etcd", etcd_flags(cfg), &cfg.etcd_extra_args),
            mounts: vec![
                host_mount("etcd-data", &cfg.etcd_data_dir, false, "DirectoryOrCreate"),
                host_mount("etcd-certs", &pki(cfg, "etcd"), false, "DirectoryOrCreate"),
            ],
            probes: (
                Some(probe(ProbeKind::Liveness, &host, port, paths.liveness, "HTTP")),
                paths.readiness.map(|p| probe(ProbeKind::Readiness, &host, port, p, "HTTP")),
                Some(probe(ProbeKind::Startup, &host, port, paths.startup, "HTTP")),
            ),
            requests: ("100m", Some("100Mi")),
            annotations: BTreeMap::from([(
                "kubeadm.kubernetes.io/etcd.advertise-client-urls".to_string(),
                format!("https://{}:{CLIENT_PORT}", url_host(&cfg.advertise_address)),
            )]),
        },
    )
}
