//! A plan: what a phase wants done, as plain data. Rendering produces it, `apply` executes it,
//! `--dry-run` prints it.
//!
//! Pure. Secret file contents (private keys, kubeconfigs with embedded keys) are redacted in
//! every printed form.

use std::collections::BTreeMap;

use serde::Serialize;

pub mod host_action;
pub mod outcome;
mod print;

pub use host_action::HostAction;
pub use outcome::{Applied, ContainerOutcome};
pub use print::{to_json, to_text};

use crate::kubelet::container::ContainerSpec;
use crate::paths::HostPath;

/// What to do when a file already exists.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum WritePolicy {
    /// Write only if absent; an existing file with other content is an error (keys, certs).
    CreateOnly,
    /// Converge: replace when the content differs (manifests, kubelet config).
    Replace,
}

/// What a file holds; decides redaction and how it is shown.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum FileKind {
    /// A private key.
    PrivateKey,
    /// A public key.
    PublicKey,
    /// A PEM certificate.
    Certificate,
    /// A kubeconfig (embeds a client key).
    Kubeconfig,
    /// A static pod manifest.
    Manifest,
    /// Another configuration file.
    Config,
}

impl FileKind {
    /// Whether the contents must never be printed.
    pub fn is_secret(self) -> bool {
        matches!(self, FileKind::PrivateKey | FileKind::Kubeconfig)
    }
}

/// A file to lay down on the host.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FileSpec {
    /// Where.
    pub path: HostPath,
    /// Exact bytes.
    pub contents: Vec<u8>,
    /// Permission bits.
    pub mode: u32,
    /// Existing-file policy.
    pub policy: WritePolicy,
    /// What it is.
    pub kind: FileKind,
}

/// One step of a plan.
#[derive(Debug, Clone, PartialEq)]
pub enum Step {
    /// Make sure a directory exists with this mode (parents get 0755).
    EnsureDir {
        /// Directory.
        path: HostPath,
        /// Mode for a directory this step creates (an existing one is left alone).
        mode: u32,
    },
    /// Write a file.
    WriteFile(FileSpec),
    /// An existing file that already matches; nothing to do (shown so re-runs are explainable).
    Keep {
        /// File.
        path: HostPath,
        /// Why it is kept.
        reason: String,
    },
    /// Create (or keep) and start a container.
    RunContainer(Box<ContainerSpec>),
    /// Something the host's own tools must do (mount propagation, systemctl, modprobe, sysctl).
    HostCommand {
        /// What it does, for people.
        summary: String,
        /// The action, as argument vectors.
        action: HostAction,
    },
    /// Wait until something on the node is healthy.
    Wait {
        /// What.
        target: WaitTarget,
        /// Give up after this many seconds (then diagnose).
        timeout_secs: u64,
    },
    /// Create or update (server-side apply) an API object, as `mode` says.
    ApplyObject {
        /// The object (apiVersion, kind, metadata, …).
        object: serde_json::Value,
        /// Apply, create if absent, or create once ever.
        mode: ApplyMode,
    },
    /// Server-side apply an object owned by Secret kube-system/`owner` (its ownerReference
    /// needs the owner's uid, known only in the cluster): kubeadm-certs, owned by its TTL token.
    ApplyOwned {
        /// The object.
        object: serde_json::Value,
        /// Name of the owning Secret in kube-system.
        owner: String,
    },
    /// Add this node to the etcd cluster as a learner (control-plane join), before its etcd starts.
    EtcdAddLearner {
        /// An existing member's client URL.
        endpoint: String,
        /// This node's peer URL.
        peer_url: String,
    },
    /// Promote this node's etcd learner once it has caught up.
    EtcdPromote {
        /// A member's client URL.
        endpoint: String,
        /// This node's peer URL.
        peer_url: String,
    },
    /// Label and taint a Node (waiting for it to register first).
    MarkNode {
        /// Node name.
        name: String,
        /// Labels to set (value "").
        labels: Vec<String>,
        /// Taints to add (effect NoSchedule).
        taints: Vec<String>,
        /// Annotations to set (kubeadm's `kubeadm.alpha.kubernetes.io/cri-socket` up to 1.33).
        annotations: std::collections::BTreeMap<String, String>,
    },
    /// Remove a file once the waits before it succeeded (the bootstrap kubeconfig after the TLS
    /// bootstrap); an effect, not part of the file transaction.
    RemoveFile {
        /// File.
        path: HostPath,
        /// Why it can go.
        reason: String,
    },
    /// Point kubelet.conf at the kubelet's rotating client certificate, once the kubelet has
    /// written `/var/lib/kubelet/pki/kubelet-client-current.pem` (kubeadm's kubelet-finalize).
    KubeletFinalize,
    /// Remove a container kubeup made (only one carrying kubeup's label).
    RemoveContainer {
        /// Container name.
        name: String,
    },
    /// Empty a directory without following links or entering other file systems.
    ClearDir {
        /// The directory (it stays).
        path: HostPath,
        /// Skip it when an unmount of this run failed (a mount may still hold pod data there).
        after_unmounts: bool,
    },
    /// Remove a directory if it is empty.
    RemoveDir {
        /// The directory.
        path: HostPath,
        /// It was a mount point the host unmounted in this run: kubeup's own view of that mount
        /// (its `-v /:/host`) is dropped too, or the directory stays busy.
        unmounted: bool,
    },
    /// Remove this node's etcd member, unless it is the cluster's last.
    EtcdLeave {
        /// The member asked (this node's own).
        endpoint: String,
        /// This node's peer URL.
        peer_url: String,
    },
    /// Text for the person running init (the join command).
    Say {
        /// The text.
        text: String,
        /// Contains a secret (shown only after a real run, never in a dry run's plan).
        secret: bool,
    },
    /// A result of a check (preflight): shown, and fatal if `error` and not ignored.
    Check {
        /// kubeadm-style check name.
        name: String,
        /// Severity after `--ignore-preflight-errors`.
        severity: Severity,
        /// What was found and how to fix it.
        message: String,
    },
}

/// How an API object is applied.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum ApplyMode {
    /// Server-side apply: create, or converge to this content.
    Apply,
    /// Create when absent; an existing object is left as it is.
    CreateIfAbsent,
    /// Create only if this host never created it before (the install record remembers): a
    /// bootstrap token that expired or was deleted is not brought back by a re-run.
    CreateOnce,
}

/// What a wait step waits for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum WaitTarget {
    /// The kubelet container runs and does not restart.
    KubeletContainer,
    /// `http://127.0.0.1:10248/healthz`.
    KubeletHealthz,
    /// etcd `/health` with the healthcheck client certificate.
    Etcd,
    /// kube-apiserver `/readyz` with the admin credentials.
    ApiServer,
    /// kube-controller-manager `/healthz`.
    ControllerManager,
    /// kube-scheduler `/healthz`.
    Scheduler,
    /// The kubelet's TLS bootstrap: `/etc/kubernetes/kubelet.conf` written by the kubelet.
    TlsBootstrap,
    /// This node's Node object Ready (read with the kubelet's own credentials).
    NodeReady,
}

impl WaitTarget {
    /// For people.
    pub fn describe(self) -> &'static str {
        match self {
            WaitTarget::KubeletContainer => "the kubelet container running steadily",
            WaitTarget::KubeletHealthz => "the kubelet's /healthz (127.0.0.1:10248)",
            WaitTarget::Etcd => "etcd's /health (127.0.0.1:2379, client certificate)",
            WaitTarget::ApiServer => "kube-apiserver's /readyz (admin credentials)",
            WaitTarget::ControllerManager => "kube-controller-manager's /healthz (127.0.0.1:10257)",
            WaitTarget::Scheduler => "kube-scheduler's /healthz (127.0.0.1:10259)",
            WaitTarget::TlsBootstrap => "the kubelet's TLS bootstrap (/etc/kubernetes/kubelet.conf)",
            WaitTarget::NodeReady => "the node to register and become Ready",
        }
    }
}

/// `Kind namespace/name` of an object.
pub fn object_ref(o: &serde_json::Value) -> String {
    let kind = o["kind"].as_str().unwrap_or("?");
    let name = o["metadata"]["name"].as_str().unwrap_or("?");
    match o["metadata"]["namespace"].as_str() {
        Some(ns) => format!("{kind} {ns}/{name}"),
        None => format!("{kind} {name}"),
    }
}

/// Severity of a check result.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Severity {
    /// Passed.
    Ok,
    /// Reported, not fatal.
    Warning,
    /// Fatal unless ignored.
    Error,
}

/// A phase's plan.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Plan {
    /// Steps in order.
    pub steps: Vec<Step>,
}

impl Plan {
    /// Files the plan writes, in order.
    pub fn files(&self) -> impl Iterator<Item = &FileSpec> {
        self.steps.iter().filter_map(|s| match s {
            Step::WriteFile(f) => Some(f),
            _ => None,
        })
    }

    /// Add a file.
    pub fn write(&mut self, path: HostPath, contents: impl Into<Vec<u8>>, mode: u32, policy: WritePolicy, kind: FileKind) {
        self.steps.push(Step::WriteFile(FileSpec { path, contents: contents.into(), mode, policy, kind }));
    }
}

/// A phase's plan with its name, for printing.
#[derive(Debug, Clone)]
pub struct PhasePlan {
    /// Phase id (`certs/apiserver` style where it applies).
    pub phase: String,
    /// The plan.
    pub plan: Plan,
}

/// Files planned so far in this run, so later phases see earlier phases' output (the CA for
/// kubeconfigs) before anything is written — the same in a dry run and a real run.
#[derive(Debug, Default, Clone)]
pub struct Overlay {
    files: BTreeMap<HostPath, Vec<u8>>,
}

impl Overlay {
    /// Record a plan's files.
    pub fn add(&mut self, plan: &Plan) {
        for f in plan.files() {
            self.files.insert(f.path.clone(), f.contents.clone());
        }
    }

    /// A planned file's contents.
    pub fn get(&self, p: &HostPath) -> Option<&[u8]> {
        self.files.get(p).map(Vec::as_slice)
    }
}
