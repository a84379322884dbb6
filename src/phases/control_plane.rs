//! Phase `control-plane`: kube-apiserver, kube-controller-manager and kube-scheduler manifests.

use super::{managed_file, Ctx, PhaseError};
use crate::manifests::{self, MANIFEST_MODE};
use crate::paths::{self, HostPath};
use crate::plan::{FileKind, Plan, Step};

/// Render the manifests, or one (`control-plane apiserver`).
pub fn render(ctx: &Ctx, only: Option<&str>) -> Result<Plan, PhaseError> {
    let cfg = ctx.cfg;
    let dirs = &ctx.facts.ca_cert_dirs;
    let key = |f: &str| HostPath::new(format!("{}/{f}", cfg.cert_dir)).map_err(|e| PhaseError::Render { what: f.to_string(), reason: e.to_string() });
    // External-CA mode: the controller-manager must not be told to sign with a key that is absent.
    let external_ca = ctx.view.read(&key("ca.crt")?)?.is_some() && ctx.view.read(&key("ca.key")?)?.is_none();
    let mut plan = Plan { steps: vec![Step::EnsureDir { path: paths::known(paths::MANIFESTS_DIR), mode: 0o700 }] };
    let pods = [
        ("apiserver", "kube-apiserver", manifests::apiserver::pod(cfg, dirs)),
        ("controller-manager", "kube-controller-manager", manifests::controller_manager::pod(cfg, dirs, external_ca)),
        ("scheduler", "kube-scheduler", manifests::scheduler::pod(cfg)),
    ];
    for (child, component, pod) in pods {
        if only.is_some_and(|o| o != child) {
            continue;
        }
        let yaml = manifests::to_yaml(&pod).map_err(|reason| PhaseError::Render { what: format!("{component} manifest"), reason })?;
        plan.steps.push(managed_file(&ctx.view, paths::manifest(component), yaml, MANIFEST_MODE, FileKind::Manifest)?);
    }
    Ok(plan)
}
