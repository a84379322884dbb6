//! Kubernetes versions kubeup can install, and the one table of what differs between their minors.
//!
//! Pure. Every renderer that emits a version-dependent flag, field, label or image tag asks
//! [`MinorFacts`] instead of comparing version numbers itself, so supporting a new minor is one
//! new row in [`MINORS`] and nothing else.

use std::fmt;
use std::str::FromStr;

/// The newest stable release known when this kubeup was built; the default for `--kubernetes-version`.
/// Nothing is looked up online (kubeadm's `stable-1` lookup breaks air-gapped installs).
pub const DEFAULT_KUBERNETES_VERSION: &str = "v1.37.2";

/// The oldest minor kubeup installs.
pub const MIN_MINOR: u32 = 20;

/// A Kubernetes release, `v1.MINOR.PATCH` (an optional pre-release suffix such as `-rc.1` is kept).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct KubeVersion {
    /// Minor release, e.g. 20 for v1.20.2.
    pub minor: u32,
    /// Patch release, e.g. 2 for v1.20.2.
    pub patch: u32,
    /// Pre-release suffix without the dash, e.g. `rc.1`; empty for a release.
    pub pre: String,
}

/// Why a version string was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum VersionError {
    /// Not of the form vX.Y.Z.
    #[error("{0:?} is not a Kubernetes version: expected the form v1.MINOR.PATCH, e.g. {DEFAULT_KUBERNETES_VERSION}")]
    Unparseable(String),
    /// Parsed, but kubeup has no facts for it.
    #[error("Kubernetes {0} is not supported: kubeup installs v1.{MIN_MINOR}.0 up to v1.{max}.x", max = newest_minor())]
    OutOfRange(String),
}

impl KubeVersion {
    /// The per-minor facts for this version (always present: construction checks the range).
    pub fn facts(&self) -> &'static MinorFacts {
        // Invariant: `FromStr` only accepts minors that have a row in MINORS.
        MINORS.iter().find(|m| m.minor == self.minor).unwrap_or(&MINORS[MINORS.len() - 1])
    }

    /// The image tag Kubernetes publishes for this version (`v1.20.2`).
    pub fn tag(&self) -> String {
        self.to_string()
    }
}

impl fmt::Display for KubeVersion {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "v1.{}.{}", self.minor, self.patch)?;
        if !self.pre.is_empty() {
            write!(f, "-{}", self.pre)?;
        }
        Ok(())
    }
}

impl FromStr for KubeVersion {
    type Err = VersionError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let bad = || VersionError::Unparseable(s.to_string());
        let rest = s.trim().strip_prefix('v').unwrap_or(s.trim());
        let (core, pre) = match rest.split_once('-') {
            Some((core, pre)) if !pre.is_empty() => (core, pre.to_string()),
            Some(_) => return Err(bad()),
            None => (rest, String::new()),
        };
        let parts: Vec<&str> = core.split('.').collect();
        let [major, minor, patch] = parts.as_slice() else {
            return Err(bad());
        };
        let num = |p: &str| -> Result<u32, VersionError> {
            if p.is_empty() || !p.bytes().all(|b| b.is_ascii_digit()) || (p.len() > 1 && p.starts_with('0')) {
                return Err(bad());
            }
            p.parse().map_err(|_| bad())
        };
        let (major, minor, patch) = (num(major)?, num(minor)?, num(patch)?);
        if major != 1 || minor < MIN_MINOR || minor > newest_minor() {
            return Err(VersionError::OutOfRange(s.to_string()));
        }
        Ok(KubeVersion { minor, patch, pre })
    }
}

/// The newest minor with a row in [`MINORS`].
pub fn newest_minor() -> u32 {
    MINORS[MINORS.len() - 1].minor
}

/// Which flag spelling etcd understands for the two options kubeadm always sets.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EtcdFlagStyle {
    /// etcd 3.4: kubeadm passed neither corruption check nor progress notifications.
    Plain,
    /// etcd 3.5 (kubeadm 1.22–1.24): `--experimental-initial-corrupt-check=true`.
    CorruptCheck,
    /// etcd 3.5 (kubeadm 1.25–1.33): also `--experimental-watch-progress-notify-interval=5s`.
    CorruptCheckAndProgress,
    /// etcd 3.6: `--feature-gates=InitialCorruptCheck=true --watch-progress-notify-interval=5s`.
    FeatureGates,
}

impl MinorFacts {
    /// The etcd flag spelling for the etcd image actually used (`etcd_tag`, e.g. `3.5.24-0`):
    /// etcd 3.6 and newer get the feature-gate spelling, older etcd the `--experimental-*` one
    /// this minor's kubeadm uses for etcd 3.5 (kubeadm #133023). An unreadable tag keeps the
    /// minor's own spelling.
    pub fn etcd_flag_style(&self, etcd_tag: &str) -> EtcdFlagStyle {
        let Some((major, minor)) = etcd_major_minor(etcd_tag) else { return self.etcd_flags };
        match (self.etcd_flags, (major, minor) >= (3, 6)) {
            (_, true) => EtcdFlagStyle::FeatureGates,
            (EtcdFlagStyle::FeatureGates, false) => EtcdFlagStyle::CorruptCheckAndProgress,
            (style, false) => style,
        }
    }
}

/// `(major, minor)` of an etcd image tag such as `3.5.24-0` or `v3.6.5`.
pub fn etcd_major_minor(tag: &str) -> Option<(u32, u32)> {
    let mut parts = tag.trim_start_matches('v').split(['.', '-']);
    Some((parts.next()?.parse().ok()?, parts.next()?.parse().ok()?))
}

/// The HTTP paths the probes of a static pod use (etcd's metrics listener, the scheduler).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct EtcdProbePaths {
    /// Liveness probe path.
    pub liveness: &'static str,
    /// Readiness probe path, if kubeadm sets a readiness probe for that minor.
    pub readiness: Option<&'static str>,
    /// Startup probe path.
    pub startup: &'static str,
}

/// Everything that differs between Kubernetes minors, for the parts kubeup renders.
///
/// Sources: kubeadm's `constants.go` and `phases/*` per release branch, recorded with a citation
/// per fact in `tests/facts/kubeadm-facts.json`; `tests/kubeadm_facts.rs` renders every minor and
/// checks it against that table. Image tags are those of the newest patch release found on the
/// minor's own release branch.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MinorFacts {
    /// Kubernetes minor (1.`minor`).
    pub minor: u32,
    /// Tag of `registry.k8s.io/etcd` kubeadm deploys.
    pub etcd_tag: &'static str,
    /// etcd flag spelling (follows the etcd minor).
    pub etcd_flags: EtcdFlagStyle,
    /// Probe paths on etcd's metrics port.
    pub etcd_probes: EtcdProbePaths,
    /// CoreDNS image path below the repository and its tag.
    pub coredns_image: (&'static str, &'static str),
    /// Tag of the pause (sandbox) image.
    pub pause_tag: &'static str,
    /// Node labels `mark-control-plane` sets.
    pub control_plane_labels: &'static [&'static str],
    /// Taints (key, effect NoSchedule) `mark-control-plane` sets.
    pub control_plane_taints: &'static [&'static str],
    /// The group admin.conf and apiserver-kubelet-client carry: `kubeadm:cluster-admins` from 1.29
    /// (bound to cluster-admin by a ClusterRoleBinding), `system:masters` before.
    pub admin_group: &'static str,
    /// Whether `super-admin.conf` (O=system:masters) exists (1.29+).
    pub super_admin_conf: bool,
    /// Whether the etcd client certs carry O=system:masters (kubeadm ≤1.28).
    pub etcd_clients_in_masters: bool,
    /// Whether kubeadm sets kube-apiserver's `--insecure-port=0` (≤1.21; dropped by kubeadm #102121).
    pub apiserver_insecure_port_flag: bool,
    /// Whether kube-controller-manager and kube-scheduler get `--port=0` (≤1.22).
    pub component_port_zero_flag: bool,
    /// Whether kube-apiserver gets a readiness probe on `/readyz` (every supported minor: since 1.19).
    pub apiserver_readiness_probe: bool,
    /// Whether kubeadm passes `--container-runtime=remote` for a CRI endpoint (<1.26, kubeadm #112000).
    pub kubelet_container_runtime_flag: bool,
    /// Whether kubeadm passes `--pod-infra-container-image` (until 1.34; removed in 1.35).
    pub kubelet_pod_infra_flag: bool,
    /// Whether kubeadm passes it only for the dockershim socket (1.20; from 1.21 always).
    pub kubelet_pod_infra_flag_dockershim_only: bool,
    /// Whether the kubelet still has the built-in dockershim (≤1.23), so `cri-dockerd` is not needed.
    pub dockershim: bool,
    /// The kubeadm config API the `kubeadm-config` ConfigMap holds: v1beta4 (1.31+), v1beta3
    /// (1.22–1.30) or v1beta2 (older).
    pub kubeadm_api: &'static str,
    /// Whether static pods get `seccompProfile: RuntimeDefault` (kubeadm 1.22+).
    pub static_pod_seccomp: bool,
    /// Name of the kubelet's ConfigMap (`kubelet-config-1.20` until 1.23, `kubelet-config` after).
    pub kubelet_config_map: &'static str,
    /// Whether the control-plane kubelet.conf points at the local API server
    /// (ControlPlaneKubeletLocalMode, on by default from 1.33) instead of the shared endpoint.
    pub kubelet_local_mode: bool,
    /// kube-scheduler's probe paths: `/healthz` until 1.31, then `/livez` for liveness and
    /// startup and `/readyz` for readiness (kubeadm #126945, 1.32).
    pub scheduler_probes: EtcdProbePaths,
    /// Whether the static pods name their probe port `probe-port` and the probes use the name
    /// (kubeadm #132776, 1.34).
    pub named_probe_port: bool,
    /// Whether kubeadm writes `cache 30 { disable success|denial <domain> }` (kubeadm #128359,
    /// 1.32); the `disable` option needs CoreDNS 1.9.4 or newer.
    pub coredns_cache_disable: bool,
    /// Whether the `system:coredns` ClusterRole grants `get` on nodes (removed by kubeadm #117521, 1.28).
    pub coredns_nodes_get: bool,
    /// Whether the `system:coredns` ClusterRole may list and watch EndpointSlices (1.22+).
    pub coredns_endpointslices: bool,
    /// Whether CoreDNS' probes use named container ports `liveness-probe`/`readiness-probe` (1.34).
    pub coredns_named_probe_ports: bool,
    /// Whether CoreDNS drops capability `ALL` (1.29+) rather than kubeadm's older lower-case `all`.
    pub coredns_drop_upper: bool,
    /// Whether CoreDNS tolerates the old `node-role.kubernetes.io/master` taint (until 1.25).
    pub coredns_master_toleration: bool,
    /// Whether CoreDNS' pods prefer distinct nodes (pod anti-affinity, kubeadm #110593, 1.25).
    pub coredns_anti_affinity: bool,
    /// Whether kube-proxy also carries the `CriticalAddonsOnly` toleration (until 1.21).
    pub kube_proxy_critical_addons_toleration: bool,
    /// Whether the node's CRI endpoint lives in `/var/lib/kubelet/instance-config.yaml`, merged
    /// into the node's own kubelet config (NodeLocalCRISocket, 1.34); before, it is the
    /// kubelet flag `--container-runtime-endpoint` in kubeadm-flags.env.
    pub cri_socket_in_instance_config: bool,
    /// Whether kubeadm annotates the Node with `kubeadm.alpha.kubernetes.io/cri-socket` (until 1.33).
    pub cri_socket_annotation: bool,
    /// Whether the kubelet refuses cgroup v1 hosts by default (`failCgroupV1`, 1.35).
    pub kubelet_fails_cgroup_v1: bool,
}

const ETCD_PROBES_OLD: EtcdProbePaths = EtcdProbePaths { liveness: "/health", readiness: None, startup: "/health" };
const ETCD_PROBES_SERIALIZABLE: EtcdProbePaths =
    EtcdProbePaths { liveness: "/health?exclude=NOSPACE&serializable=true", readiness: None, startup: "/health?serializable=false" };
const ETCD_PROBES_LIVEZ: EtcdProbePaths = EtcdProbePaths { liveness: "/livez", readiness: Some("/readyz"), startup: "/readyz" };
const SCHEDULER_PROBES_HEALTHZ: EtcdProbePaths = EtcdProbePaths { liveness: "/healthz", readiness: None, startup: "/healthz" };
const SCHEDULER_PROBES_LIVEZ: EtcdProbePaths = EtcdProbePaths { liveness: "/livez", readiness: Some("/readyz"), startup: "/livez" };

const LABELS_MASTER_AND_CP_ONLY: &[&str] = &["node-role.kubernetes.io/master", "node-role.kubernetes.io/control-plane"];
const LABELS_MASTER_AND_CP: &[&str] =
    &["node-role.kubernetes.io/master", "node-role.kubernetes.io/control-plane", "node.kubernetes.io/exclude-from-external-load-balancers"];
const LABELS_CP: &[&str] = &["node-role.kubernetes.io/control-plane", "node.kubernetes.io/exclude-from-external-load-balancers"];
const TAINTS_MASTER: &[&str] = &["node-role.kubernetes.io/master"];
const TAINTS_BOTH: &[&str] = &["node-role.kubernetes.io/master", "node-role.kubernetes.io/control-plane"];
const TAINTS_CP: &[&str] = &["node-role.kubernetes.io/control-plane"];

macro_rules! minor {
    ($minor:expr, $etcd:expr, $style:ident, $probes:expr, $coredns:expr, $pause:expr) => {
        MinorFacts {
            minor: $minor,
            etcd_tag: $etcd,
            etcd_flags: EtcdFlagStyle::$style,
            etcd_probes: $probes,
            coredns_image: $coredns,
            pause_tag: $pause,
            control_plane_labels: if $minor <= 20 {
                LABELS_MASTER_AND_CP_ONLY
            } else if $minor <= 23 {
                LABELS_MASTER_AND_CP
            } else {
                LABELS_CP
            },
            control_plane_taints: if $minor <= 23 {
                TAINTS_MASTER
            } else if $minor == 24 {
                TAINTS_BOTH
            } else {
                TAINTS_CP
            },
            admin_group: if $minor >= 29 { "kubeadm:cluster-admins" } else { "system:masters" },
            super_admin_conf: $minor >= 29,
            etcd_clients_in_masters: $minor <= 28,
            apiserver_insecure_port_flag: $minor <= 21,
            component_port_zero_flag: $minor <= 22,
            apiserver_readiness_probe: true,
            kubelet_container_runtime_flag: $minor < 26,
            kubelet_pod_infra_flag: $minor < 35,
            kubelet_pod_infra_flag_dockershim_only: $minor <= 20,
            dockershim: $minor <= 23,
            kubeadm_api: if $minor >= 31 {
                "kubeadm.k8s.io/v1beta4"
            } else if $minor >= 22 {
                "kubeadm.k8s.io/v1beta3"
            } else {
                "kubeadm.k8s.io/v1beta2"
            },
            static_pod_seccomp: $minor >= 22,
            kubelet_config_map: match $minor {
                20 => "kubelet-config-1.20",
                21 => "kubelet-config-1.21",
                22 => "kubelet-config-1.22",
                23 => "kubelet-config-1.23",
                _ => "kubelet-config",
            },
            kubelet_local_mode: $minor >= 33,
            scheduler_probes: if $minor >= 32 { SCHEDULER_PROBES_LIVEZ } else { SCHEDULER_PROBES_HEALTHZ },
            named_probe_port: $minor >= 34,
            coredns_cache_disable: $minor >= 32,
            coredns_nodes_get: $minor <= 27,
            coredns_endpointslices: $minor >= 22,
            coredns_named_probe_ports: $minor >= 34,
            coredns_drop_upper: $minor >= 29,
            coredns_master_toleration: $minor <= 25,
            coredns_anti_affinity: $minor >= 25,
            kube_proxy_critical_addons_toleration: $minor <= 21,
            cri_socket_in_instance_config: $minor >= 34,
            cri_socket_annotation: $minor <= 33,
            kubelet_fails_cgroup_v1: $minor >= 35,
        }
    };
}

/// One row per supported minor, oldest first.
pub static MINORS: &[MinorFacts] = &[
    minor!(20, "3.4.13-0", Plain, ETCD_PROBES_OLD, ("coredns", "1.7.0"), "3.2"),
    minor!(21, "3.4.13-0", Plain, ETCD_PROBES_OLD, ("coredns/coredns", "v1.8.0"), "3.4.1"),
    minor!(22, "3.5.0-0", CorruptCheck, ETCD_PROBES_OLD, ("coredns/coredns", "v1.8.4"), "3.5"),
    minor!(23, "3.5.1-0", CorruptCheck, ETCD_PROBES_OLD, ("coredns/coredns", "v1.8.6"), "3.6"),
    minor!(24, "3.5.3-0", CorruptCheck, ETCD_PROBES_OLD, ("coredns/coredns", "v1.8.6"), "3.7"),
    minor!(25, "3.5.4-0", CorruptCheckAndProgress, ETCD_PROBES_SERIALIZABLE, ("coredns/coredns", "v1.9.3"), "3.8"),
    minor!(26, "3.5.5-0", CorruptCheckAndProgress, ETCD_PROBES_SERIALIZABLE, ("coredns/coredns", "v1.9.3"), "3.9"),
    minor!(27, "3.5.7-0", CorruptCheckAndProgress, ETCD_PROBES_SERIALIZABLE, ("coredns/coredns", "v1.10.1"), "3.9"),
    minor!(28, "3.5.10-0", CorruptCheckAndProgress, ETCD_PROBES_SERIALIZABLE, ("coredns/coredns", "v1.10.1"), "3.9"),
    minor!(29, "3.5.10-0", CorruptCheckAndProgress, ETCD_PROBES_SERIALIZABLE, ("coredns/coredns", "v1.11.1"), "3.9"),
    minor!(30, "3.5.15-0", CorruptCheckAndProgress, ETCD_PROBES_SERIALIZABLE, ("coredns/coredns", "v1.11.1"), "3.9"),
    minor!(31, "3.5.24-0", CorruptCheckAndProgress, ETCD_PROBES_LIVEZ, ("coredns/coredns", "v1.11.1"), "3.10"),
    minor!(32, "3.5.24-0", CorruptCheckAndProgress, ETCD_PROBES_LIVEZ, ("coredns/coredns", "v1.11.3"), "3.10"),
    minor!(33, "3.5.24-0", CorruptCheckAndProgress, ETCD_PROBES_LIVEZ, ("coredns/coredns", "v1.12.0"), "3.10"),
    minor!(34, "3.6.5-0", FeatureGates, ETCD_PROBES_LIVEZ, ("coredns/coredns", "v1.12.1"), "3.10.1"),
    minor!(35, "3.6.6-0", FeatureGates, ETCD_PROBES_LIVEZ, ("coredns/coredns", "v1.12.4"), "3.10.1"),
    minor!(36, "3.6.8-0", FeatureGates, ETCD_PROBES_LIVEZ, ("coredns/coredns", "v1.14.2"), "3.10.2"),
    minor!(37, "3.7.0-0", FeatureGates, ETCD_PROBES_LIVEZ, ("coredns/coredns", "v1.14.6"), "3.10.2"),
];

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_every_supported_minor_and_refuses_outside() {
        for m in MIN_MINOR..=newest_minor() {
            let v: KubeVersion = format!("v1.{m}.3").parse().unwrap();
            assert_eq!(v.facts().minor, m);
            assert_eq!(v.to_string(), format!("v1.{m}.3"));
        }
        assert!(matches!("v1.19.16".parse::<KubeVersion>(), Err(VersionError::OutOfRange(_))));
        assert!(matches!(format!("v1.{}.0", newest_minor() + 1).parse::<KubeVersion>(), Err(VersionError::OutOfRange(_))));
        assert!(matches!("v2.20.0".parse::<KubeVersion>(), Err(VersionError::OutOfRange(_))));
        for bad in ["", "latest", "stable-1", "v1.20", "1.20.x", "v1.20.02", "v1.20.2-", "v1..2"] {
            assert!(matches!(bad.parse::<KubeVersion>(), Err(VersionError::Unparseable(_))), "{bad}");
        }
        assert_eq!("1.30.0-rc.1".parse::<KubeVersion>().unwrap().to_string(), "v1.30.0-rc.1");
    }

    #[test]
    fn default_version_is_the_newest_row() {
        let v: KubeVersion = DEFAULT_KUBERNETES_VERSION.parse().unwrap();
        assert_eq!(v.minor, newest_minor());
    }

    #[test]
    fn table_is_contiguous_and_follows_known_landmarks() {
        for (i, row) in MINORS.iter().enumerate() {
            assert_eq!(row.minor, MIN_MINOR + i as u32);
        }
        let f = |m: u32| &MINORS[(m - MIN_MINOR) as usize];
        assert_eq!(f(20).etcd_flags, EtcdFlagStyle::Plain);
        assert_eq!(f(34).etcd_flags, EtcdFlagStyle::FeatureGates);
        assert!(f(25).kubelet_container_runtime_flag && !f(26).kubelet_container_runtime_flag);
        assert_eq!(f(24).control_plane_taints.len(), 2);
        assert_eq!(f(28).admin_group, "system:masters");
        assert_eq!(f(29).admin_group, "kubeadm:cluster-admins");
    }

    #[test]
    fn etcd_flags_follow_the_etcd_image_not_the_minor() {
        let f = |m: u32| &MINORS[(m - MIN_MINOR) as usize];
        assert_eq!(f(34).etcd_flag_style("3.5.24-0"), EtcdFlagStyle::CorruptCheckAndProgress);
        assert_eq!(f(37).etcd_flag_style("v3.5.21"), EtcdFlagStyle::CorruptCheckAndProgress);
        assert_eq!(f(30).etcd_flag_style("3.6.5-0"), EtcdFlagStyle::FeatureGates);
        assert_eq!(f(23).etcd_flag_style("3.5.1-0"), EtcdFlagStyle::CorruptCheck);
        assert_eq!(f(20).etcd_flag_style("3.4.13-0"), EtcdFlagStyle::Plain);
        assert_eq!(f(34).etcd_flag_style("custom"), EtcdFlagStyle::FeatureGates);
        for row in MINORS {
            assert_eq!(row.etcd_flag_style(row.etcd_tag), row.etcd_flags, "v1.{}: its own etcd gets its own spelling", row.minor);
        }
    }

    #[test]
    fn the_corefile_cache_disable_option_only_meets_coredns_that_has_it() {
        // CoreDNS added `cache { disable … }` in 1.9.4 (coredns#5540): older images reject the Corefile.
        for row in MINORS.iter().filter(|r| r.coredns_cache_disable) {
            let v: Vec<u32> = row.coredns_image.1.trim_start_matches('v').split('.').filter_map(|p| p.parse().ok()).collect();
            assert!(v >= vec![1, 9, 4], "v1.{} writes `disable` for CoreDNS {}", row.minor, row.coredns_image.1);
        }
    }
}
