//! The printed forms of plans: text for people (configuration files and manifests in full for a
//! dry run) and JSON for machines. Secrets never appear: private keys and kubeconfigs are
//! redacted, and so are Secrets' data.

use std::fmt::Write as _;

use serde::Serialize;

use super::{object_ref, ApplyMode, FileKind, HostAction, PhasePlan, Severity, Step, WaitTarget, WritePolicy};
use crate::kubelet::container::ContainerSpec;
use crate::paths::HostPath;

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
        host_action: &'a HostAction,
    },
    Wait {
        target: WaitTarget,
        timeout_secs: u64,
    },
    ApplyObject {
        object: serde_json::Value,
        mode: ApplyMode,
    },
    ApplyOwned {
        object: serde_json::Value,
        owner: &'a str,
    },
    EtcdAddLearner {
        endpoint: &'a str,
        peer_url: &'a str,
    },
    EtcdPromote {
        endpoint: &'a str,
        peer_url: &'a str,
    },
    MarkNode {
        name: &'a str,
        labels: &'a [String],
        taints: &'a [String],
        #[serde(skip_serializing_if = "std::collections::BTreeMap::is_empty")]
        annotations: &'a std::collections::BTreeMap<String, String>,
    },
    Say {
        text: &'a str,
    },
    KubeletFinalize,
    RemoveFile {
        path: &'a HostPath,
        reason: &'a str,
    },
    RemoveContainer {
        name: &'a str,
    },
    ClearDir {
        path: &'a HostPath,
        after_unmounts: bool,
    },
    RemoveDir {
        path: &'a HostPath,
    },
    EtcdLeave {
        endpoint: &'a str,
        peer_url: &'a str,
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
            sha256: crate::digest::sha256_hex(&f.contents),
            contents: if f.kind.is_secret() { None } else { Some(String::from_utf8_lossy(&f.contents).into_owned()) },
            redacted: f.kind.is_secret(),
        },
        Step::Keep { path, reason } => StepView::Keep { path, reason },
        Step::RunContainer(c) => StepView::RunContainer { container: c },
        Step::HostCommand { summary, action } => StepView::HostCommand { summary, host_action: action },
        Step::Wait { target, timeout_secs } => StepView::Wait { target: *target, timeout_secs: *timeout_secs },
        Step::ApplyObject { object, mode } => StepView::ApplyObject { object: redact_object(object), mode: *mode },
        Step::ApplyOwned { object, owner } => StepView::ApplyOwned { object: redact_object(object), owner },
        Step::EtcdAddLearner { endpoint, peer_url } => StepView::EtcdAddLearner { endpoint, peer_url },
        Step::EtcdPromote { endpoint, peer_url } => StepView::EtcdPromote { endpoint, peer_url },
        Step::MarkNode { name, labels, taints, annotations } => StepView::MarkNode { name, labels, taints, annotations },
        Step::Say { text, secret } => StepView::Say { text: if *secret { "<redacted: holds a bootstrap token>" } else { text } },
        Step::KubeletFinalize => StepView::KubeletFinalize,
        Step::RemoveFile { path, reason } => StepView::RemoveFile { path, reason },
        Step::RemoveContainer { name } => StepView::RemoveContainer { name },
        Step::ClearDir { path, after_unmounts } => StepView::ClearDir { path, after_unmounts: *after_unmounts },
        Step::RemoveDir { path, .. } => StepView::RemoveDir { path },
        Step::EtcdLeave { endpoint, peer_url } => StepView::EtcdLeave { endpoint, peer_url },
        Step::Check { name, severity, message } => StepView::Check { name, severity: *severity, message },
    }
}

/// Secrets' data never appear in a printed plan.
fn redact_object(o: &serde_json::Value) -> serde_json::Value {
    let mut o = o.clone();
    if o["kind"] == "Secret" {
        if let Some(data) = o.get_mut("data").and_then(|d| d.as_object_mut()) {
            for v in data.values_mut() {
                *v = "<redacted>".into();
            }
        }
    }
    o
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
                Step::HostCommand { summary, action } => writeln!(out, "{tag} on the host: {summary} (`{}`)", action.display()),
                Step::Wait { target, timeout_secs } => writeln!(out, "{tag} wait for {} (up to {timeout_secs} s)", target.describe()),
                Step::ApplyObject { object, mode } => {
                    let verb = match mode {
                        ApplyMode::Apply => "apply",
                        ApplyMode::CreateIfAbsent => "create if absent",
                        ApplyMode::CreateOnce => "create once (never re-created)",
                    };
                    writeln!(out, "{tag} {verb} {}", object_ref(object))
                }
                Step::ApplyOwned { object, owner } => writeln!(out, "{tag} apply {} (owned by Secret kube-system/{owner})", object_ref(object)),
                Step::EtcdAddLearner { endpoint, peer_url } => writeln!(out, "{tag} add {peer_url} to etcd as a learner (through {endpoint})"),
                Step::EtcdPromote { endpoint, peer_url } => writeln!(out, "{tag} promote etcd learner {peer_url} to a voting member (through {endpoint})"),
                Step::MarkNode { name, labels, taints, annotations } => {
                    let notes: Vec<String> = annotations.iter().map(|(k, v)| format!("{k}={v}")).collect();
                    let notes = if notes.is_empty() { String::new() } else { format!(" annotations {}", notes.join(",")) };
                    writeln!(out, "{tag} mark node {name}: labels {} taints {}{notes}", labels.join(","), taints.join(","))
                }
                Step::Say { .. } => Ok(()),
                Step::RemoveFile { path, reason } => writeln!(out, "{tag} remove {path} ({reason})"),
                Step::RemoveContainer { name } => writeln!(out, "{tag} remove container {name}"),
                Step::ClearDir { path, .. } => writeln!(out, "{tag} remove everything in {path}"),
                Step::RemoveDir { path, .. } => writeln!(out, "{tag} remove directory {path} (if empty)"),
                Step::EtcdLeave { peer_url, .. } => writeln!(out, "{tag} remove etcd member {peer_url} (unless it is the last)"),
                Step::KubeletFinalize => writeln!(out, "{tag} point kubelet.conf at /var/lib/kubelet/pki/kubelet-client-current.pem once the kubelet wrote it"),
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
