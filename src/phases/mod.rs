//! kubeadm's `init` phases, each a small module that renders a [`Plan`] from the config, the host
//! facts and what already exists on the host (seen through [`View`]).
//!
//! Pure: phases read through the view and return data; nothing here writes. The workflow
//! runner applies the plans (or prints them for `--dry-run`).

pub mod addon;
pub mod api_proxy;
pub mod cert_renewer;
pub mod certs;
pub mod control_plane;
pub mod control_plane_config;
pub mod etcd;
pub mod join;
pub mod join_input;
pub mod kubeconfig;
pub mod kubelet_start;
pub mod node_ready;
pub mod preflight;
pub mod prepare_host;
pub mod view;

use time::OffsetDateTime;

use crate::config::Config;
use crate::facts::HostFacts;
use crate::manifests::MANAGED_BY_ANNOTATION;
use crate::paths::HostPath;
use crate::pki::PkiError;
use crate::plan::{FileKind, Plan, Step, WritePolicy};

pub use view::{HostFiles, ReadError, View};

/// How this run was asked to treat the host.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Options {
    /// Apply host fixes (modules, sysctls, shared mount); `--no-host-fixes` only reports.
    pub host_fixes: bool,
    /// Where the host root is on the Docker host / in the host's mount namespace (`/` in
    /// production; the scratch directory in tests).
    pub host_prefix: std::path::PathBuf,
    /// Name prefix of the containers kubeup creates (`kubeup` → `kubeup-kubelet`).
    pub container_prefix: String,
    /// The host process whose namespaces host commands enter (1 in production); kubeup's own
    /// long-running containers (the certificate renewer) are told the same.
    pub host_pid: u32,
}

impl Default for Options {
    fn default() -> Self {
        Options { host_fixes: true, host_prefix: "/".into(), container_prefix: "kubeup".into(), host_pid: 1 }
    }
}

impl Options {
    /// A host path as the host itself sees it.
    pub fn host_source(&self, host_path: &str) -> String {
        self.host_prefix.join(host_path.trim_start_matches('/')).to_string_lossy().into_owned()
    }
}

/// What every phase gets.
pub struct Ctx<'a> {
    /// Run options.
    pub options: &'a Options,
    /// The resolved configuration.
    pub cfg: &'a Config,
    /// Facts about the host.
    pub facts: &'a HostFacts,
    /// The current time (certificate validity).
    pub now: OffsetDateTime,
    /// Existing and planned files.
    pub view: View<'a>,
    /// What discovery established, when this run is a `join`.
    pub join: Option<&'a join_input::JoinInput>,
}

/// A phase failed to render.
#[derive(Debug, thiserror::Error)]
pub enum PhaseError {
    /// PKI problem.
    #[error(transparent)]
    Pki(#[from] PkiError),
    /// Reading the host failed.
    #[error(transparent)]
    Read(#[from] ReadError),
    /// Something could not be built.
    #[error("{what} {reason}")]
    Render {
        /// The object.
        what: String,
        /// The problem and the fix.
        reason: String,
    },
}

/// A phase's renderer: the context and an optional sub-phase name to a plan.
pub type RenderFn = fn(&Ctx, Option<&str>) -> Result<Plan, PhaseError>;

/// One of kubeadm's init phases.
pub struct PhaseDef {
    /// kubeadm's phase name.
    pub name: &'static str,
    /// One line of help.
    pub summary: &'static str,
    /// Sub-phases (`certs/apiserver`), runnable alone.
    pub children: &'static [&'static str],
    /// The renderer.
    pub render: RenderFn,
}

/// `init`'s phases in kubeadm's order (kubelet-start after the manifests, as kubeadm ≥1.28).
pub static INIT_PHASES: &[PhaseDef] = &[
    PhaseDef { name: "preflight", summary: "Run pre-flight checks", children: &[], render: preflight::render },
    PhaseDef {
        name: "prepare-host",
        summary: "Load kernel modules, set sysctls and make /var/lib/kubelet shared, persistently (kubeup only; --no-host-fixes to skip)",
        children: &[],
        render: prepare_host::render,
    },
    PhaseDef { name: "certs", summary: "Certificate generation", children: &CERT_CHILDREN, render: certs::render },
    PhaseDef {
        name: "kubeconfig",
        summary: "Generate all kubeconfig files necessary to establish the control plane and the admin kubeconfig file",
        children: &["admin", "super-admin", "kubelet", "controller-manager", "scheduler"],
        render: kubeconfig::render,
    },
    PhaseDef { name: "etcd", summary: "Generate static Pod manifest file for local etcd", children: &["local"], render: etcd::render },
    PhaseDef {
        name: "control-plane",
        summary: "Generate all static Pod manifest files necessary to establish the control plane",
        children: &["apiserver", "controller-manager", "scheduler"],
        render: control_plane::render,
    },
    PhaseDef { name: "kubelet-start", summary: "Write kubelet settings and (re)start the kubelet container", children: &[], render: kubelet_start::render },
    PhaseDef { name: "wait-control-plane", summary: "Wait for the control plane to start", children: &[], render: control_plane_config::wait },
    PhaseDef {
        name: "upload-config",
        summary: "Upload the kubeadm and kubelet configuration to ConfigMaps",
        children: &["kubeadm", "kubelet"],
        render: control_plane_config::upload_config,
    },
    PhaseDef {
        name: "upload-certs",
        summary: "Upload certificates to kubeadm-certs (only with --upload-certs)",
        children: &[],
        render: control_plane_config::upload_certs,
    },
    PhaseDef { name: "mark-control-plane", summary: "Mark a node as a control-plane", children: &[], render: control_plane_config::mark_control_plane },
    PhaseDef {
        name: "bootstrap-token",
        summary: "Generates bootstrap tokens used to join a node to a cluster",
        children: &[],
        render: control_plane_config::bootstrap_token,
    },
    PhaseDef {
        name: "kubelet-finalize",
        summary: "Updates settings relevant to the kubelet after TLS bootstrap",
        children: &["enable-client-cert-rotation"],
        render: control_plane_config::kubelet_finalize,
    },
    PhaseDef {
        name: "cert-renewer",
        summary: "Start the certificate renewer, which also approves verified kubelet serving certificates (kubeup only)",
        children: &[],
        render: cert_renewer::render,
    },
    PhaseDef {
        name: "addon",
        summary: "Install required addons for passing conformance tests, and the pod network",
        children: &["coredns", "kube-proxy", "pod-network"],
        render: addon::render,
    },
    PhaseDef {
        name: "wait-node-ready",
        summary: "Wait until this node is Ready with its pod network (kubeup only)",
        children: &[],
        render: node_ready::render,
    },
    PhaseDef {
        name: "show-join-command",
        summary: "Show the join command for control-plane and worker node",
        children: &[],
        render: control_plane_config::show_join_command,
    },
];

const CERT_CHILDREN: [&str; 11] = crate::pki::certlist::PHASE_ORDER;

/// A phase by name.
pub fn find(name: &str) -> Option<&'static PhaseDef> {
    INIT_PHASES.iter().find(|p| p.name == name)
}

/// A phase of `list` by name.
pub fn find_in(list: &'static [PhaseDef], name: &str) -> Option<&'static PhaseDef> {
    list.iter().find(|p| p.name == name)
}

/// Plan a manifest-like file that kubeup converges on re-runs — unless the existing file was
/// not written by kubeup, which is refused rather than overwritten.
pub fn managed_file(view: &View, path: HostPath, contents: String, mode: u32, kind: FileKind) -> Result<Step, PhaseError> {
    if let Some(existing) = view.read(&path)? {
        if existing == contents.as_bytes() {
            return Ok(Step::Keep { path, reason: "already up to date".into() });
        }
        if kind == FileKind::Manifest && !String::from_utf8_lossy(&existing).contains(MANAGED_BY_ANNOTATION) {
            return Err(PhaseError::Render {
                what: path.to_string(),
                reason:
                    "exists and was not written by kubeup (another installer's control plane?): kubeup will not replace it; run `kubeup reset` or move it away"
                        .into(),
            });
        }
    }
    Ok(Step::WriteFile(crate::plan::FileSpec { path, contents: contents.into_bytes(), mode, policy: WritePolicy::Replace, kind }))
}
