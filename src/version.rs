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

/// The HTTP paths of etcd's metrics listener that the probes of the etcd static pod use.
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
/// Sources: kubeadm's `constants.go` and `phases/*` per release branch (see
/// `shared/reference/kubeadm.md`). Rows for 1.36 and 1.37 carry 1.35's component versions
/// forward: their etcd/CoreDNS/pause tags were not verified against kubeadm and can be
/// overridden in the config (`etcd.imageTag`, `dns.imageTag`).
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
    /// Whether kube-apiserver still has `--insecure-port` and kubeadm sets it to 0 (≤1.23).
    pub apiserver_insecure_port_flag: bool,
    /// Whether kube-controller-manager and kube-scheduler get `--port=0` (≤1.22).
    pub component_port_zero_flag: bool,
    /// Whether kube-apiserver gets a readiness probe on `/readyz` (1.21+).
    pub apiserver_readiness_probe: bool,
    /// Whether the kubelet needs `--container-runtime=remote` for a CRI endpoint (<1.27; flag removed in 1.27).
    pub kubelet_container_runtime_flag: bool,
    /// Whether KubeletConfiguration has `containerRuntimeEndpoint` (1.27+); before, it is a flag.
    pub kubelet_runtime_endpoint_in_config: bool,
    /// Whether the kubelet accepts `--pod-infra-container-image` (removed in 1.35).
    pub kubelet_pod_infra_flag: bool,
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
}

const ETCD_PROBES_OLD: EtcdProbePaths = EtcdProbePaths { liveness: "/health", readiness: None, startup: "/health" };
const ETCD_PROBES_SERIALIZABLE: EtcdProbePaths =
    EtcdProbePaths { liveness: "/health?exclude=NOSPACE&serializable=true", readiness: None, startup: "/health?serializable=false" };
const ETCD_PROBES_LIVEZ: EtcdProbePaths = EtcdProbePaths { liveness: "/livez", readiness: Some("/readyz"), startup: "/readyz" };

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
            control_plane_labels: if $minor <= 23 { LABELS_MASTER_AND_CP } else { LABELS_CP },
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
            apiserver_insecure_port_flag: $minor <= 23,
            component_port_zero_flag: $minor <= 22,
            apiserver_readiness_probe: $minor >= 21,
            kubelet_container_runtime_flag: $minor < 27,
            kubelet_runtime_endpoint_in_config: $minor >= 27,
            kubelet_pod_infra_flag: $minor < 35,
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
        }
    };
}

/// One row per supported minor, oldest first.
pub static MINORS: &[MinorFacts] = &[
    minor!(20, "3.4.13-0", Plain, ETCD_PROBES_OLD, ("coredns", "1.7.0"), "3.2"),
    minor!(21, "3.4.13-0", Plain, ETCD_PROBES_OLD, ("coredns/coredns", "v1.8.0"), "3.4.1"),
    minor!(22, "3.5.6-0", CorruptCheck, ETCD_PROBES_SERIALIZABLE, ("coredns/coredns", "v1.8.4"), "3.5"),
    minor!(23, "3.5.6-0", CorruptCheck, ETCD_PROBES_SERIALIZABLE, ("coredns/coredns", "v1.8.6"), "3.6"),
    minor!(24, "3.5.6-0", CorruptCheck, ETCD_PROBES_SERIALIZABLE, ("coredns/coredns", "v1.8.6"), "3.7"),
    minor!(25, "3.5.6-0", CorruptCheckAndProgress, ETCD_PROBES_SERIALIZABLE, ("coredns/coredns", "v1.9.3"), "3.8"),
    minor!(26, "3.5.6-0", CorruptCheckAndProgress, ETCD_PROBES_SERIALIZABLE, ("coredns/coredns", "v1.9.3"), "3.9"),
    minor!(27, "3.5.7-0", CorruptCheckAndProgress, ETCD_PROBES_SERIALIZABLE, ("coredns/coredns", "v1.10.1"), "3.9"),
    minor!(28, "3.5.9-0", CorruptCheckAndProgress, ETCD_PROBES_SERIALIZABLE, ("coredns/coredns", "v1.10.1"), "3.9"),
    minor!(29, "3.5.10-0", CorruptCheckAndProgress, ETCD_PROBES_SERIALIZABLE, ("coredns/coredns", "v1.11.1"), "3.9"),
    minor!(30, "3.5.12-0", CorruptCheckAndProgress, ETCD_PROBES_SERIALIZABLE, ("coredns/coredns", "v1.11.3"), "3.9"),
    minor!(31, "3.5.15-0", CorruptCheckAndProgress, ETCD_PROBES_SERIALIZABLE, ("coredns/coredns", "v1.11.3"), "3.10"),
    minor!(32, "3.5.16-0", CorruptCheckAndProgress, ETCD_PROBES_LIVEZ, ("coredns/coredns", "v1.11.3"), "3.10"),
    minor!(33, "3.5.21-0", CorruptCheckAndProgress, ETCD_PROBES_LIVEZ, ("coredns/coredns", "v1.12.0"), "3.10"),
    minor!(34, "3.6.4-0", FeatureGates, ETCD_PROBES_LIVEZ, ("coredns/coredns", "v1.12.1"), "3.10.1"),
    minor!(35, "3.6.6-0", FeatureGates, ETCD_PROBES_LIVEZ, ("coredns/coredns", "v1.13.1"), "3.10.1"),
    minor!(36, "3.6.6-0", FeatureGates, ETCD_PROBES_LIVEZ, ("coredns/coredns", "v1.13.1"), "3.10.1"),
    minor!(37, "3.6.6-0", FeatureGates, ETCD_PROBES_LIVEZ, ("coredns/coredns", "v1.13.1"), "3.10.1"),
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
        assert!(f(26).kubelet_container_runtime_flag && !f(27).kubelet_container_runtime_flag);
        assert_eq!(f(24).control_plane_taints.len(), 2);
        assert_eq!(f(28).admin_group, "system:masters");
        assert_eq!(f(29).admin_group, "kubeadm:cluster-admins");
    }
}
