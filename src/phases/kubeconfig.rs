//! Phase `kubeconfig`: admin, super-admin, kubelet, controller-manager and scheduler
//! kubeconfigs. An existing file is kept if it trusts the same CA and holds the expected user;
//! otherwise it is an error, never a silent overwrite.

use super::{Ctx, PhaseError};
use crate::kubeconfig::{self, KubeconfigSpec};
use crate::paths::{self, HostPath};
use crate::pki::{self, CertPair, PkiError};
use crate::plan::{FileKind, Plan, Step, WritePolicy};

/// The kubeconfigs a joining control-plane node writes itself.
pub const JOIN_CONTROL_PLANE_KUBECONFIGS: [&str; 3] = ["admin.conf", "controller-manager.conf", "scheduler.conf"];

/// kubeconfig file mode.
pub const KUBECONFIG_MODE: u32 = 0o600;

fn same_cert(a: &str, b: &str) -> bool {
    match (pki::parse_pem_cert(a), pki::parse_pem_cert(b)) {
        (Ok(a), Ok(b)) => a.der == b.der,
        _ => false,
    }
}

fn check_existing(ctx: &Ctx, spec: &KubeconfigSpec, text: &str, ca_cert: &str) -> Option<String> {
    let existing = match kubeconfig::read_existing(text) {
        Ok(e) => e,
        Err(e) => return Some(e),
    };
    if !same_cert(&existing.ca_pem, ca_cert) {
        return Some("its certificate-authority-data is not the cluster CA".into());
    }
    if let Some(cert) = existing.client_cert_pem {
        let parsed = match pki::parse_pem_cert(&cert) {
            Ok(p) => p,
            Err(e) => return Some(format!("client certificate: {e}")),
        };
        if let Some(m) = pki::check_cert(&cert, &parsed, Some(&spec.identity()), Some(ca_cert), ctx.now) {
            return Some(format!("client certificate: {m}"));
        }
    }
    None
}

/// Render the kubeconfigs, or one (`kubeconfig admin`).
pub fn render(ctx: &Ctx, only: Option<&str>) -> Result<Plan, PhaseError> {
    let mut plan = Plan { steps: vec![Step::EnsureDir { path: paths::known(paths::KUBERNETES_DIR), mode: 0o755 }] };
    let ca_crt = HostPath::new(format!("{}/ca.crt", ctx.cfg.cert_dir)).map_err(|e| PhaseError::Render { what: "ca.crt".into(), reason: e.to_string() })?;
    let ca_key = HostPath::new(format!("{}/ca.key", ctx.cfg.cert_dir)).map_err(|e| PhaseError::Render { what: "ca.key".into(), reason: e.to_string() })?;
    let ca_cert = ctx.view.read_text(&ca_crt)?.ok_or_else(|| PkiError::MissingCa { ca: "ca.crt".into(), phase: "ca".into() })?;
    let ca_key = ctx.view.read_text(&ca_key)?;
    let mut specs = kubeconfig::specs(ctx.cfg);
    if ctx.join.is_some() {
        // kubeadm's CreateJoinControlPlaneKubeConfigFiles: a joining control plane gets admin,
        // controller-manager and scheduler only. super-admin.conf stays on the first node, and
        // the kubelet gets its credentials by TLS bootstrap like any joining node.
        specs.retain(|s| JOIN_CONTROL_PLANE_KUBECONFIGS.contains(&s.file));
    }
    if let Some(o) = only {
        if !specs.iter().any(|s| s.phase == o) {
            return Err(PhaseError::Render { what: format!("kubeconfig {o}"), reason: format!("is not made for Kubernetes {}", ctx.cfg.version) });
        }
    }
    for spec in specs.iter().filter(|s| only.is_none_or(|o| o == s.phase)) {
        let file = paths::kubeconfig(spec.file);
        if let Some(text) = ctx.view.read_text(&file)? {
            if let Some(problem) = check_existing(ctx, spec, &text, &ca_cert) {
                return Err(PhaseError::Render {
                    what: file.to_string(),
                    reason: format!("exists but does not match: {problem}. kubeup does not overwrite it: move it away to have it regenerated"),
                });
            }
            plan.steps.push(Step::Keep { path: file, reason: "existing kubeconfig trusts the cluster CA; reused".into() });
            continue;
        }
        let Some(ca_key) = &ca_key else {
            return Err(PkiError::ExternalCaMissingLeaf { file: file.to_string(), ca: "ca.crt".into() }.into());
        };
        let ca = CertPair { cert_pem: ca_cert.clone(), key_pem: ca_key.clone() };
        let client = pki::issue_leaf(&spec.identity(), &ca, ctx.cfg.cert_validity, ctx.now)?;
        let kc = kubeconfig::with_client_cert(&ctx.cfg.cluster_name, &spec.server.url(), &ca_cert, &spec.user, &client.cert_pem, &client.key_pem);
        let yaml = kubeconfig::to_yaml(&kc).map_err(|reason| PhaseError::Render { what: file.to_string(), reason })?;
        plan.write(file, yaml, KUBECONFIG_MODE, WritePolicy::CreateOnly, FileKind::Kubeconfig);
    }
    Ok(plan)
}
