//! The kube-controller-manager static pod.

use std::collections::BTreeMap;

use k8s_openapi::api::core::v1::Pod;

use super::{build_pod, ca_cert_mounts, command, flags, host_mount, pki, probe, ProbeKind, StaticPod};
use crate::config::Config;
use crate::paths;

/// Secure port of the controller-manager.
pub const PORT: u16 = 10257;

/// kube-controller-manager's flags. In external-CA mode (no ca.key) the signing flags are empty,
/// as kubeadm does, so the controller-manager does not sign CSRs.
pub fn controller_manager_flags(cfg: &Config, external_ca: bool) -> BTreeMap<String, String> {
    let kubeconfig = paths::kubeconfig("controller-manager.conf").to_string();
    let mut f = flags([
        ("authentication-kubeconfig", kubeconfig.clone()),
        ("authorization-kubeconfig", kubeconfig.clone()),
        ("bind-address", "127.0.0.1".into()),
        ("client-ca-file", pki(cfg, "ca.crt")),
        ("cluster-name", cfg.cluster_name.clone()),
        ("cluster-signing-cert-file", if external_ca { String::new() } else { pki(cfg, "ca.crt") }),
        ("cluster-signing-key-file", if external_ca { String::new() } else { pki(cfg, "ca.key") }),
        ("controllers", "*,bootstrapsigner,tokencleaner".into()),
        ("kubeconfig", kubeconfig),
        ("leader-elect", "true".into()),
        ("requestheader-client-ca-file", pki(cfg, "front-proxy-ca.crt")),
        ("root-ca-file", pki(cfg, "ca.crt")),
        ("service-account-private-key-file", pki(cfg, "sa.key")),
        ("use-service-account-credentials", "true".into()),
    ]);
    if let Some(pod) = cfg.pod_subnet {
        f.insert("allocate-node-cidrs".into(), "true".into());
        f.insert("cluster-cidr".into(), pod.to_string());
        f.insert("service-cluster-ip-range".into(), cfg.service_subnet.to_string());
    }
    if cfg.version.facts().component_port_zero_flag {
        f.insert("port".into(), "0".into());
    }
    f
}

/// The kube-controller-manager Pod.
pub fn pod(cfg: &Config, ca_dirs: &[String], external_ca: bool) -> Pod {
    let mut mounts = ca_cert_mounts(ca_dirs);
    mounts.push(host_mount("k8s-certs", &cfg.cert_dir, true, "DirectoryOrCreate"));
    mounts.push(host_mount("kubeconfig", paths::kubeconfig("controller-manager.conf").as_str(), true, "FileOrCreate"));
    mounts.push(host_mount("flexvolume-dir", paths::FLEXVOLUME_DIR, false, "DirectoryOrCreate"));
    let port = i32::from(PORT);
    build_pod(
        cfg,
        StaticPod {
            name: "kube-controller-manager",
            image: cfg.image("kube-controller-manager"),
            command: command("kube-controller-manager", controller_manager_flags(cfg, external_ca), &cfg.controller_manager_extra_args),
            mounts,
            probes: (
                Some(probe(ProbeKind::Liveness, "127.0.0.1", port, "/healthz", "HTTPS")),
                None,
                Some(probe(ProbeKind::Startup, "127.0.0.1", port, "/healthz", "HTTPS")),
            ),
            requests: ("200m", None),
            annotations: BTreeMap::new(),
        },
    )
}
