//! The kube-scheduler static pod.

use std::collections::BTreeMap;

use k8s_openapi::api::core::v1::Pod;

use super::{build_pod, command, flags, host_mount, probe, ProbeKind, StaticPod};
use crate::config::Config;
use crate::paths;

/// Secure port of the scheduler.
pub const PORT: u16 = 10259;

/// kube-scheduler's flags.
pub fn scheduler_flags(cfg: &Config) -> BTreeMap<String, String> {
    let kubeconfig = paths::kubeconfig("scheduler.conf").to_string();
    let mut f = flags([
        ("authentication-kubeconfig", kubeconfig.clone()),
        ("authorization-kubeconfig", kubeconfig.clone()),
        ("bind-address", "127.0.0.1".into()),
        ("kubeconfig", kubeconfig),
        ("leader-elect", "true".into()),
    ]);
    if cfg.version.facts().component_port_zero_flag {
        f.insert("port".into(), "0".into());
    }
    f
}

/// The kube-scheduler Pod.
pub fn pod(cfg: &Config) -> Pod {
    let port = i32::from(PORT);
    let paths = cfg.version.facts().scheduler_probes;
    build_pod(
        cfg,
        StaticPod {
            name: "kube-scheduler",
            image: cfg.image("kube-scheduler"),
            command: command("kube-scheduler", scheduler_flags(cfg), &cfg.scheduler_extra_args),
            mounts: vec![host_mount("kubeconfig", paths::kubeconfig("scheduler.conf").as_str(), true, "FileOrCreate")],
            probes: (
                Some(probe(ProbeKind::Liveness, "127.0.0.1", port, paths.liveness, "HTTPS")),
                paths.readiness.map(|p| probe(ProbeKind::Readiness, "127.0.0.1", port, p, "HTTPS")),
                Some(probe(ProbeKind::Startup, "127.0.0.1", port, paths.startup, "HTTPS")),
            ),
            requests: ("100m", None),
            annotations: BTreeMap::new(),
        },
    )
}
