//! Well-known paths on the host, as [`HostPath`]s, in one place (kubeadm's `constants`).
//!
//! Pure. Nothing in rendering or applying spells `/etc/kubernetes` except this file; the
//! certificate directory comes from the config (`certificatesDir`).

use std::fmt;

/// An absolute path on the host, as the host sees it (`/etc/kubernetes/admin.conf`), checked to
/// have no `.`/`..`/empty components. It is joined onto the host root only by `host::HostRoot`.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, serde::Serialize)]
#[serde(transparent)]
pub struct HostPath(String);

/// Why a string is not a host path.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0:?} is not an absolute host path without '.', '..' or empty components")]
pub struct HostPathError(pub String);

impl HostPath {
    /// Check and wrap an absolute path.
    pub fn new(p: impl Into<String>) -> Result<Self, HostPathError> {
        let p = p.into();
        let trimmed = p.strip_suffix('/').filter(|t| !t.is_empty()).unwrap_or(&p);
        let ok = trimmed.starts_with('/') && (trimmed == "/" || trimmed[1..].split('/').all(|c| !c.is_empty() && c != "." && c != ".."));
        if ok {
            Ok(HostPath(trimmed.to_string()))
        } else {
            Err(HostPathError(p))
        }
    }

    /// The path as the host sees it.
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// A child path; `name` may contain `/` but no `.`/`..` components.
    pub fn join(&self, name: &str) -> Result<HostPath, HostPathError> {
        HostPath::new(format!("{}/{}", self.0.trim_end_matches('/'), name))
    }

    /// The parent directory (the root is its own parent).
    pub fn parent(&self) -> HostPath {
        match self.0.rfind('/') {
            Some(0) | None => HostPath("/".into()),
            Some(i) => HostPath(self.0[..i].to_string()),
        }
    }

    /// The components below the root.
    pub fn components(&self) -> impl DoubleEndedIterator<Item = &str> {
        self.0.split('/').filter(|c| !c.is_empty())
    }
}

impl fmt::Display for HostPath {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// `/etc/kubernetes`: kubeconfigs and the manifest directory.
pub const KUBERNETES_DIR: &str = "/etc/kubernetes";
/// Static pod manifests the kubelet runs.
pub const MANIFESTS_DIR: &str = "/etc/kubernetes/manifests";
/// The kubelet's state directory.
pub const KUBELET_DIR: &str = "/var/lib/kubelet";
/// The kubelet's configuration file.
pub const KUBELET_CONFIG: &str = "/var/lib/kubelet/config.yaml";
/// The node's own part of the kubelet configuration (kubeadm's NodeLocalCRISocket, 1.34+).
pub const KUBELET_INSTANCE_CONFIG: &str = "/var/lib/kubelet/instance-config.yaml";
/// kubeadm's kubelet flags file (kept for tools that read it).
pub const KUBELET_FLAGS_ENV: &str = "/var/lib/kubelet/kubeadm-flags.env";
/// The systemd unit kubeup installs on systemd hosts.
pub const KUBELET_UNIT: &str = "/etc/systemd/system/kubeup-kubelet.service";
/// Marker that the host runs systemd (what `sd_booted()` checks).
pub const SYSTEMD_RUNTIME_DIR: &str = "/run/systemd/system";
/// CNI configuration and plugin directories the kubelet container mounts.
pub const CNI_CONF_DIR: &str = "/etc/cni/net.d";
/// CNI plugin binaries.
pub const CNI_BIN_DIR: &str = "/opt/cni/bin";
/// Flexvolume plugin directory kubeadm mounts into the controller-manager.
pub const FLEXVOLUME_DIR: &str = "/usr/libexec/kubernetes/kubelet-plugins/volume/exec";

/// A well-known path constant as a [`HostPath`].
pub fn known(p: &'static str) -> HostPath {
    // Invariant: every constant above is a valid absolute path (tested below).
    HostPath(p.to_string())
}

/// A kubeconfig file under `/etc/kubernetes`.
pub fn kubeconfig(file: &str) -> HostPath {
    HostPath(format!("{KUBERNETES_DIR}/{file}"))
}

/// A static pod manifest.
pub fn manifest(component: &str) -> HostPath {
    HostPath(format!("{MANIFESTS_DIR}/{component}.yaml"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn constants_are_valid_host_paths() {
        for p in [
            KUBERNETES_DIR,
            MANIFESTS_DIR,
            KUBELET_DIR,
            KUBELET_CONFIG,
            KUBELET_FLAGS_ENV,
            KUBELET_INSTANCE_CONFIG,
            KUBELET_UNIT,
            SYSTEMD_RUNTIME_DIR,
            CNI_CONF_DIR,
            CNI_BIN_DIR,
            FLEXVOLUME_DIR,
        ] {
            assert_eq!(HostPath::new(p).unwrap(), known(p));
        }
    }

    #[test]
    fn refuses_relative_and_dot_paths() {
        for bad in ["", "etc", "/etc/../x", "/etc/./x", "/etc//x", "../x"] {
            assert!(HostPath::new(bad).is_err(), "{bad}");
        }
        assert_eq!(HostPath::new("/etc/kubernetes/").unwrap().as_str(), "/etc/kubernetes");
        assert_eq!(known("/etc/kubernetes").parent().as_str(), "/etc");
        assert_eq!(known("/etc").parent().as_str(), "/");
        assert!(known("/etc").join("../x").is_err());
    }
}
