//! A plan: what a phase wants done, as plain data. Rendering produces it, `apply` executes it,
//! `--dry-run` prints it.
//!
//! Pure. Secret file contents (private keys, kubeconfigs with embedded keys) are redacted in
//! every printed form.

use std::collections::BTreeMap;
use std::fmt::Write as _;

use serde::Serialize;
use sha2::{Digest, Sha256};

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
    /// A command to run in the host's namespaces (mount propagation, systemctl, modprobe).
    HostCommand {
        /// What it does, for people.
        summary: String,
        /// `sh -c` script.
        script: String,
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

/// JSON shape of a step (`-o json`).
#[derive(Serialize)]
#[serde(tag = "action", rename_all = "kebab-case")]
enum StepView<'a> {
    EnsureDir {
        path: &'a HostPath,
        mode: String,
    },
    WriteFile {
        path: &'a HostPath,
        mode: String,
        policy: WritePolicy,
        kind: FileKind,
        size: usize,
        sha256: String,
        #[serde(skip_serializing_if = "Option::is_none")]
        contents: Option<String>,
        redacted: bool,
    },
    Keep {
        path: &'a HostPath,
        reason: &'a str,
    },
    RunContainer {
        container: &'a ContainerSpec,
    },
    HostCommand {
        summary: &'a str,
        script: &'a str,
    },
    Check {
        name: &'a str,
        severity: Severity,
        message: &'a str,
    },
}

fn view(step: &Step) -> StepView<'_> {
    match step {
        Step::EnsureDir { path, mode } => StepView::EnsureDir { path, mode: format!("{mode:04o}") },
        Step::WriteFile(f) => StepView::WriteFile {
            path: &f.path,
            mode: format!("{:04o}", f.mode),
            policy: f.policy,
            kind: f.kind,
            size: f.contents.len(),
            sha256: hex(&Sha256::digest(&f.contents)),
            contents: if f.kind.is_secret() { None } else { Some(String::from_utf8_lossy(&f.contents).into_owned()) },
            redacted: f.kind.is_secret(),
        },
        Step::Keep { path, reason } => StepView::Keep { path, reason },
        Step::RunContainer(c) => StepView::RunContainer { container: c },
        Step::HostCommand { summary, script } => StepView::HostCommand { summary, script },
        Step::Check { name, severity, message } => StepView::Check { name, severity: *severity, message },
    }
}

/// Lower-case hex.
pub fn hex(bytes: &[u8]) -> String {
    bytes.iter().fold(String::with_capacity(bytes.len() * 2), |mut s, b| {
        let _ = write!(s, "{b:02x}");
        s
    })
}

/// The plans as JSON: `{"phases":[{"phase":…,"steps":[…]}]}`.
pub fn to_json(plans: &[PhasePlan]) -> serde_json::Value {
    let phases: Vec<serde_json::Value> =
        plans.iter().map(|p| serde_json::json!({"phase": p.phase, "steps": p.plan.steps.iter().map(view).collect::<Vec<_>>()})).collect();
    serde_json::json!({ "phases": phases })
}

/// The plans for people: one line per step; configuration files and manifests in full,
/// secrets never.
pub fn to_text(plans: &[PhasePlan], show_contents: bool) -> String {
    let mut out = String::new();
    for p in plans {
        for step in &p.plan.steps {
            let tag = format!("[{}]", p.phase);
            let _ = match step {
                Step::EnsureDir { path, mode } => writeln!(out, "{tag} ensure directory {path} ({mode:04o})"),
                Step::WriteFile(f) => {
                    let what = if f.kind.is_secret() { ", contents redacted" } else { "" };
                    let r = writeln!(out, "{tag} write {} ({:04o}, {} bytes, {}{what})", f.path, f.mode, f.contents.len(), policy_word(f.policy));
                    if show_contents && matches!(f.kind, FileKind::Manifest | FileKind::Config) {
                        for line in String::from_utf8_lossy(&f.contents).lines() {
                            let _ = writeln!(out, "    {line}");
                        }
                    }
                    r
                }
                Step::Keep { path, reason } => writeln!(out, "{tag} keep {path}: {reason}"),
                Step::RunContainer(c) => writeln!(out, "{tag} run container {} from image {}", c.name, c.image),
                Step::HostCommand { summary, script } => writeln!(out, "{tag} on the host: {summary} (`{script}`)"),
                Step::Check { name, severity, message } => match severity {
                    Severity::Ok => writeln!(out, "{tag} [OK {name}] {message}"),
                    Severity::Warning => writeln!(out, "{tag} [WARNING {name}]: {message}"),
                    Severity::Error => writeln!(out, "{tag} [ERROR {name}]: {message}"),
                },
            };
        }
    }
    out
}

fn policy_word(p: WritePolicy) -> &'static str {
    match p {
        WritePolicy::CreateOnly => "create only",
        WritePolicy::Replace => "replace if changed",
    }
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
