//! Phase `cert-renewer` (kubeup only): on a control-plane node, the renewal settings file and the
//! long-running `kubeup-cert-renewer` container, which renews certificates before they expire
//! and approves verified kubelet serving certificates (see `certs::csr_policy`).
//!
//! Why a container and not a static pod: it must run when the control plane does not — a node
//! switched off past its certificates' expiry recovers only if something renews them before the
//! API server is needed — and Docker's restart policy starts it at boot with the kubelet.

use std::collections::BTreeMap;

use super::{managed_file, Ctx, PhaseError};
use crate::certs::settings::{RenewalSettings, SETTINGS_PATH};
use crate::kubelet::container::{BindMount, ContainerSpec, LABEL_COMPONENT, LABEL_CONFIG_HASH};
use crate::paths;
use crate::plan::{FileKind, Plan, Step};

/// The renewer container's name suffix (`kubeup-cert-renewer`).
pub const RENEWER_SUFFIX: &str = "cert-renewer";

/// The settings the renewer reads.
pub fn settings(ctx: &Ctx) -> RenewalSettings {
    let r = ctx.cfg.renewal;
    RenewalSettings {
        automatic: r.automatic,
        renew_after_percent: r.renew_after_percent,
        check_interval_secs: r.check_interval_secs,
        validity_secs: ctx.cfg.cert_validity.as_secs(),
        approve_kubelet_serving: r.kubelet_serving_certificates,
    }
}

/// The renewer container: kubeup's own image running `certs renewer`, with the host's root and
/// its namespaces. No Docker socket: renewing needs none (components restart through the CRI),
/// and a long-running process should hold no more than it uses.
pub fn container(ctx: &Ctx) -> ContainerSpec {
    let name = format!("{}-{RENEWER_SUFFIX}", ctx.options.container_prefix);
    let bind = |source: &str, target: &str| BindMount { source: source.into(), target: target.into(), read_only: false, propagation: None };
    let mut spec = ContainerSpec {
        name,
        image: ctx.cfg.kubeup_image.clone(),
        args: vec![
            "certs".into(),
            "renewer".into(),
            format!("--node-name={}", ctx.cfg.node_name),
            format!("--cert-dir={}", ctx.cfg.cert_dir),
            "--host-root=/host".into(),
            format!("--container-prefix={}", ctx.options.container_prefix),
            format!("--host-pid={}", ctx.options.host_pid),
        ],
        labels: BTreeMap::from([(LABEL_COMPONENT.to_string(), RENEWER_SUFFIX.to_string())]),
        mounts: vec![bind("/", "/host")],
        host_namespaces: true,
        privileged: true,
        restart_policy: "unless-stopped".into(),
        log_rotation: ("10m".into(), 3),
    };
    let hash = crate::digest::hex(&<sha2::Sha256 as sha2::Digest>::digest(serde_json::to_vec(&spec).unwrap_or_default()));
    spec.labels.insert(LABEL_CONFIG_HASH.into(), hash);
    spec
}

/// Render the phase.
pub fn render(ctx: &Ctx, _only: Option<&str>) -> Result<Plan, PhaseError> {
    let s = settings(ctx);
    let mut steps = vec![managed_file(&ctx.view, paths::known(SETTINGS_PATH), String::from_utf8_lossy(&s.to_bytes()).into_owned(), 0o644, FileKind::Config)?];
    if !s.automatic && !s.approve_kubelet_serving {
        steps.push(Step::Say {
            text: "[cert-renewer] automatic renewal and kubelet serving certificates are off: no renewer runs here; use `kubeup certs renew`".into(),
            secret: false,
        });
        return Ok(Plan { steps });
    }
    steps.push(Step::RunContainer(Box::new(container(ctx))));
    Ok(Plan { steps })
}
