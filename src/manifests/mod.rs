//! Static pod manifests of the control plane, built from k8s-openapi types exactly as kubeadm
//! builds them (`phases/controlplane`, `phases/etcd`, `util/staticpod`).
//!
//! Pure. Version differences come from [`crate::version::MinorFacts`]; host differences (which
//! CA-certificate directories exist) come from [`crate::facts::HostFacts`].

pub mod apiserver;
pub mod controller_manager;
pub mod etcd;
pub mod scheduler;

use std::collections::BTreeMap;

use k8s_openapi::api::core::v1::{
    Container, ContainerPort, HTTPGetAction, HostPathVolumeSource, Pod, PodSecurityContext, PodSpec, Probe, ResourceRequirements, SeccompProfile, Volume,
    VolumeMount,
};
use k8s_openapi::apimachinery::pkg::api::resource::Quantity;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;
use k8s_openapi::apimachinery::pkg::util::intstr::IntOrString;

use crate::config::Config;

/// Annotation marking a manifest as written by kubeup, so a re-run may converge it while a
/// manifest from another tool is refused by preflight.
pub const MANAGED_BY_ANNOTATION: &str = "kubeup.io/managed-by";

/// Mode of manifest files and of their directory (kubeadm: 0600 / 0700).
pub const MANIFEST_MODE: u32 = 0o600;

/// A hostPath volume and where the container mounts it.
#[derive(Debug, Clone)]
pub struct HostMount {
    /// Volume name.
    pub name: String,
    /// Path on the host.
    pub host_path: String,
    /// Path in the container.
    pub mount_path: String,
    /// Read-only mount.
    pub read_only: bool,
    /// hostPath type.
    pub kind: &'static str,
}

/// A hostPath mount with the same path inside and out.
pub fn host_mount(name: &str, path: &str, read_only: bool, kind: &'static str) -> HostMount {
    HostMount { name: name.into(), host_path: path.into(), mount_path: path.into(), read_only, kind }
}

/// kubeadm's CA-certificate mounts: `/etc/ssl/certs` always, plus the distribution CA
/// directories that exist on this host.
pub fn ca_cert_mounts(existing_dirs: &[String]) -> Vec<HostMount> {
    let mut v = vec![host_mount("ca-certs", "/etc/ssl/certs", true, "DirectoryOrCreate")];
    for d in existing_dirs {
        v.push(host_mount(&d.trim_start_matches('/').replace('/', "-"), d, true, "DirectoryOrCreate"));
    }
    v
}

/// `--flag=value` list from kubeup's defaults overridden by the user's extra args, sorted by
/// flag name as kubeadm's `BuildArgumentListFromMap`.
pub fn command(binary: &str, defaults: BTreeMap<String, String>, extra: &BTreeMap<String, String>) -> Vec<String> {
    let mut merged = defaults;
    merged.extend(extra.iter().map(|(k, v)| (k.clone(), v.clone())));
    std::iter::once(binary.to_string()).chain(merged.into_iter().map(|(k, v)| format!("--{k}={v}"))).collect()
}

/// A flag map from pairs.
pub fn flags<const N: usize>(pairs: [(&str, String); N]) -> BTreeMap<String, String> {
    pairs.into_iter().map(|(k, v)| (k.to_string(), v)).collect()
}

/// Which probe, with kubeadm's timings.
#[derive(Debug, Clone, Copy)]
pub enum ProbeKind {
    /// initialDelay 10, timeout 15, period 10, failures 8.
    Liveness,
    /// period 1, timeout 15, failures 3.
    Readiness,
    /// initialDelay 10, timeout 15, period 10, failures 24 (4 minutes).
    Startup,
}

/// The name kubeadm gives the probed container port from 1.34 (`constants.ProbePort`).
pub const PROBE_PORT_NAME: &str = "probe-port";

/// An HTTP(S) GET probe.
pub fn probe(kind: ProbeKind, host: &str, port: i32, path: &str, scheme: &str) -> Probe {
    let (delay, period, failures) = match kind {
        ProbeKind::Liveness => (Some(10), 10, 8),
        ProbeKind::Readiness => (None, 1, 3),
        ProbeKind::Startup => (Some(10), 10, 24),
    };
    Probe {
        http_get: Some(HTTPGetAction {
            host: Some(host.to_string()),
            path: Some(path.to_string()),
            port: IntOrString::Int(port),
            scheme: Some(scheme.to_string()),
            ..Default::default()
        }),
        initial_delay_seconds: delay,
        timeout_seconds: Some(15),
        period_seconds: Some(period),
        failure_threshold: Some(failures),
        ..Default::default()
    }
}

/// Everything that differs between the four static pods.
pub struct StaticPod {
    /// Component name (pod name, container name, `component` label).
    pub name: &'static str,
    /// Image reference.
    pub image: String,
    /// Full command.
    pub command: Vec<String>,
    /// hostPath mounts.
    pub mounts: Vec<HostMount>,
    /// Probes: liveness, readiness, startup.
    pub probes: (Option<Probe>, Option<Probe>, Option<Probe>),
    /// Resource requests (cpu, optional memory).
    pub requests: (&'static str, Option<&'static str>),
    /// Extra annotations.
    pub annotations: BTreeMap<String, String>,
}

/// Build the Pod kubeadm would write for `p`.
pub fn build_pod(cfg: &Config, p: StaticPod) -> Pod {
    let mut mounts = p.mounts;
    mounts.sort_by(|a, b| a.name.cmp(&b.name));
    let mut annotations = p.annotations;
    annotations.insert(MANAGED_BY_ANNOTATION.into(), "kubeup".into());
    let mut requests = BTreeMap::from([("cpu".to_string(), Quantity(p.requests.0.into()))]);
    if let Some(mem) = p.requests.1 {
        requests.insert("memory".into(), Quantity(mem.into()));
    }
    let (mut liveness, mut readiness, mut startup) = p.probes;
    // From 1.34 kubeadm declares the probed port as a named container port and the probes use
    // the name (kubeadm #132776).
    let mut ports = None;
    if cfg.version.facts().named_probe_port {
        let probes = [&mut liveness, &mut readiness, &mut startup];
        let port = probes.iter().find_map(|p| p.as_ref().and_then(|p| p.http_get.as_ref()).map(|h| h.port.clone()));
        if let Some(IntOrString::Int(number)) = port {
            for action in probes.into_iter().flatten().filter_map(|p| p.http_get.as_mut()) {
                action.port = IntOrString::String(PROBE_PORT_NAME.into());
            }
            ports =
                Some(vec![ContainerPort { name: Some(PROBE_PORT_NAME.into()), container_port: number, protocol: Some("TCP".into()), ..Default::default() }]);
        }
    }
    Pod {
        metadata: ObjectMeta {
            name: Some(p.name.into()),
            namespace: Some("kube-system".into()),
            labels: Some(BTreeMap::from([("component".into(), p.name.into()), ("tier".into(), "control-plane".into())])),
            annotations: Some(annotations),
            ..Default::default()
        },
        spec: Some(PodSpec {
            containers: vec![Container {
                name: p.name.into(),
                image: Some(p.image),
                image_pull_policy: Some("IfNotPresent".into()),
                command: Some(p.command),
                ports,
                liveness_probe: liveness,
                readiness_probe: readiness,
                startup_probe: startup,
                resources: Some(ResourceRequirements { requests: Some(requests), ..Default::default() }),
                volume_mounts: Some(
                    mounts
                        .iter()
                        .map(|m| VolumeMount {
                            name: m.name.clone(),
                            mount_path: m.mount_path.clone(),
                            read_only: m.read_only.then_some(true),
                            ..Default::default()
                        })
                        .collect(),
                ),
                ..Default::default()
            }],
            host_network: Some(true),
            priority: Some(2_000_001_000),
            priority_class_name: Some("system-node-critical".into()),
            security_context: Some(if cfg.version.facts().static_pod_seccomp {
                PodSecurityContext { seccomp_profile: Some(SeccompProfile { type_: "RuntimeDefault".into(), ..Default::default() }), ..Default::default() }
            } else {
                PodSecurityContext::default()
            }),
            volumes: Some(
                mounts
                    .iter()
                    .map(|m| Volume {
                        name: m.name.clone(),
                        host_path: Some(HostPathVolumeSource { path: m.host_path.clone(), type_: Some(m.kind.into()) }),
                        ..Default::default()
                    })
                    .collect(),
            ),
            ..Default::default()
        }),
        status: None,
    }
}

/// A URL host part: IPv6 addresses in brackets.
pub fn url_host(ip: &std::net::IpAddr) -> String {
    match ip {
        std::net::IpAddr::V6(a) => format!("[{a}]"),
        std::net::IpAddr::V4(a) => a.to_string(),
    }
}

/// A path in the certificate directory.
pub fn pki(cfg: &Config, file: &str) -> String {
    format!("{}/{file}", cfg.cert_dir)
}

/// Serialize a manifest.
pub fn to_yaml(pod: &Pod) -> Result<String, String> {
    crate::yaml::to_string(pod)
}

/// A static-pod component of the control plane.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, serde::Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Component {
    /// etcd.
    Etcd,
    /// kube-apiserver.
    ApiServer,
    /// kube-controller-manager.
    ControllerManager,
    /// kube-scheduler.
    Scheduler,
}

impl Component {
    /// Every component in kubeadm's upgrade order.
    pub const ALL: [Component; 4] = [Component::Etcd, Component::ApiServer, Component::ControllerManager, Component::Scheduler];

    /// The static pod's (and its container's) name: `kube-apiserver`, `etcd` …
    pub fn name(self) -> &'static str {
        match self {
            Component::Etcd => "etcd",
            Component::ApiServer => "kube-apiserver",
            Component::ControllerManager => "kube-controller-manager",
            Component::Scheduler => "kube-scheduler",
        }
    }

    /// The manifest's path on the host.
    pub fn manifest(self) -> String {
        format!("{}/{}.yaml", crate::paths::MANIFESTS_DIR, self.name())
    }

    /// The wait that says it is healthy.
    pub fn health(self) -> crate::plan::WaitTarget {
        use crate::plan::WaitTarget;
        match self {
            Component::Etcd => WaitTarget::Etcd,
            Component::ApiServer => WaitTarget::ApiServer,
            Component::ControllerManager => WaitTarget::ControllerManager,
            Component::Scheduler => WaitTarget::Scheduler,
        }
    }
}
