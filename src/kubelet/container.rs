//! The kubelet container, as data: image, command, namespaces, mounts with propagation,
//! privileges, restart policy and labels. The Docker layer creates it from this; the systemd
//! unit is derived from it too, so the two can never disagree.

use std::collections::BTreeMap;

use serde::Serialize;
use sha2::{Digest, Sha256};

use crate::config::Config;
use crate::paths;

/// Label every kubeup-managed container carries.
pub const LABEL_COMPONENT: &str = "io.kubeup.component";
/// Label holding the hash of everything that shapes the container; a change recreates it.
pub const LABEL_CONFIG_HASH: &str = "io.kubeup.config-hash";
/// Name of the kubelet container, after the container prefix (`kubeup-kubelet`).
pub const KUBELET_CONTAINER_SUFFIX: &str = "kubelet";

/// Mount propagation.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Propagation {
    /// Mounts flow both ways (the kubelet's volume mounts must reach the host).
    Rshared,
    /// Host mounts flow in, none flow out.
    Rslave,
}

/// A bind mount.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct BindMount {
    /// Host path.
    pub source: String,
    /// Container path.
    pub target: String,
    /// Read-only.
    pub read_only: bool,
    /// Propagation, if not private.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub propagation: Option<Propagation>,
}

/// A container kubeup runs on the host through Docker.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ContainerSpec {
    /// Container name.
    pub name: String,
    /// Image reference.
    pub image: String,
    /// Arguments after the image's entrypoint.
    pub args: Vec<String>,
    /// Labels (including the config hash).
    pub labels: BTreeMap<String, String>,
    /// Bind mounts.
    pub mounts: Vec<BindMount>,
    /// Share the host's PID, network, UTS and cgroup namespaces.
    pub host_namespaces: bool,
    /// Ask for full privilege (the Docker layer falls back to the capabilities the host can
    /// grant and says so).
    pub privileged: bool,
    /// Docker restart policy (`unless-stopped`, or `no` when systemd supervises).
    pub restart_policy: String,
    /// json-file log rotation: max size and number of files.
    pub log_rotation: (String, u32),
}

fn bind(path: &str, read_only: bool, propagation: Option<Propagation>) -> BindMount {
    BindMount { source: path.into(), target: path.into(), read_only, propagation }
}

/// The kubelet container for this node (recipe of `containerized-kubelet.md` §8.3).
/// `kubelet_config` is the rendered config.yaml; it is part of the hash so that a changed
/// configuration recreates the container.
/// `can_receive(path)` tells whether a host path lies on a shared or slave mount: Docker refuses
/// `rslave` for any other source, so such mounts fall back to private propagation.
pub fn kubelet_container(
    cfg: &Config,
    name: &str,
    flags: &BTreeMap<String, String>,
    kubelet_config: &[u8],
    has_machine_id: bool,
    can_receive: impl Fn(&str) -> bool,
) -> ContainerSpec {
    let mut mounts = vec![
        bind(paths::KUBELET_DIR, false, Some(Propagation::Rshared)),
        bind("/var/lib/containerd", false, Some(Propagation::Rslave)),
        bind("/var/lib/docker", false, Some(Propagation::Rslave)),
        bind("/run", false, Some(Propagation::Rslave)),
        bind("/var/log", false, Some(Propagation::Rslave)),
        bind("/dev", false, Some(Propagation::Rslave)),
        bind("/sys", false, Some(Propagation::Rslave)),
        // Writable: a joining node's kubelet writes kubelet.conf here at the end of its TLS
        // bootstrap, as kubeadm's host kubelet does.
        bind(paths::KUBERNETES_DIR, false, None),
        bind(paths::CNI_CONF_DIR, true, None),
        bind(paths::CNI_BIN_DIR, true, None),
        bind("/var/lib/cni", false, None),
        bind("/lib/modules", true, None),
        bind("/etc/machine-id", true, None),
        bind("/usr/libexec/kubernetes/kubelet-plugins", false, Some(Propagation::Rslave)),
    ];
    for m in &mut mounts {
        if m.propagation == Some(Propagation::Rslave) && !can_receive(&m.source) {
            m.propagation = None;
        }
    }
    if !has_machine_id {
        mounts.retain(|m| m.source != "/etc/machine-id");
    }
    let args: Vec<String> = flags.iter().map(|(k, v)| format!("--{k}={v}")).collect();
    let mut spec = ContainerSpec {
        name: name.into(),
        image: cfg.kubelet_image.clone(),
        args,
        labels: BTreeMap::from([(LABEL_COMPONENT.to_string(), "kubelet".to_string())]),
        mounts,
        host_namespaces: true,
        privileged: true,
        restart_policy: "unless-stopped".into(),
        log_rotation: ("50m".into(), 3),
    };
    let mut h = Sha256::new();
    h.update(serde_json::to_vec(&spec).unwrap_or_default());
    h.update(kubelet_config);
    spec.labels.insert(LABEL_CONFIG_HASH.into(), crate::digest::hex(&h.finalize()));
    spec
}
