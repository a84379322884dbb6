//! Phase `etcd` (`etcd local`): the data directory and the etcd static pod manifest.

use super::{managed_file, Ctx, PhaseError};
use crate::manifests::{self, MANIFEST_MODE};
use crate::paths::{self, HostPath};
use crate::plan::{FileKind, Plan, Step};

/// Render the etcd manifest.
pub fn render(ctx: &Ctx, _only: Option<&str>) -> Result<Plan, PhaseError> {
    let data_dir = HostPath::new(ctx.cfg.etcd_data_dir.clone()).map_err(|e| PhaseError::Render { what: "etcd.dataDir".into(), reason: e.to_string() })?;
    let yaml = manifests::to_yaml(&manifests::etcd::pod(ctx.cfg)).map_err(|reason| PhaseError::Render { what: "etcd manifest".into(), reason })?;
    Ok(Plan {
        steps: vec![
            Step::EnsureDir { path: data_dir, mode: 0o700 },
            Step::EnsureDir { path: paths::known(paths::MANIFESTS_DIR), mode: 0o700 },
            managed_file(&ctx.view, paths::manifest("etcd"), yaml, MANIFEST_MODE, FileKind::Manifest)?,
        ],
    })
}
