//! The phase runner: renders the selected phases in order (each seeing the files the earlier
//! ones planned), stops before the first phase this version cannot run, then either prints
//! the plans (`--dry-run`) or applies all file steps as one transaction.
//!
//! All rendering happens before the first write, so a bad input or a mismatching existing
//! certificate leaves the host exactly as it was; an apply error rolls the run back.

use std::time::Instant;

use time::OffsetDateTime;

use crate::apply::{Applier, Changes};
use crate::config::Config;
use crate::host::lock::HostLock;
use crate::host::observe::HostFacts;
use crate::host::{HostError, HostRoot};
use crate::paths;
use crate::phases::{self, Ctx, PhaseError, View};
use crate::plan::{FileKind, FileSpec, WritePolicy};
use crate::plan::{Overlay, PhasePlan, Severity, Step};
use crate::record::{InstallRecord, RECORD_PATH};

/// Which phases to run.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Selection {
    /// All of `init` (minus skipped phases).
    All,
    /// One phase, optionally one child (`certs`, `apiserver`).
    One(String, Option<String>),
}

/// Why a run ended early without an error.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Stop {
    /// The phase that was not run.
    pub phase: String,
    /// Why.
    pub reason: String,
}

/// The result of a run.
#[derive(Debug)]
pub struct Report {
    /// Plans of the rendered phases.
    pub plans: Vec<PhasePlan>,
    /// What changed on the host (zero for a dry run).
    pub changes: Changes,
    /// Where the run stopped, if it did not complete.
    pub stop: Option<Stop>,
    /// Preflight errors (a dry run reports them instead of stopping).
    pub preflight_errors: Vec<String>,
}

/// Errors of a run.
#[derive(Debug, thiserror::Error)]
pub enum WorkflowError {
    /// Unknown phase name.
    #[error("unknown phase {0:?}: run `kubeup init phase --help` for the list")]
    UnknownPhase(String),
    /// Unknown child of a phase.
    #[error("phase {phase} has no sub-phase {child:?}; it has: {children}")]
    UnknownChild {
        /// Phase.
        phase: String,
        /// Child asked for.
        child: String,
        /// The valid children.
        children: String,
    },
    /// A phase run explicitly that this version cannot run.
    #[error("phase {0} is not implemented in this version of kubeup")]
    NotImplemented(String),
    /// Preflight found errors (the warnings are shown with them).
    #[error("{}[preflight] some fatal errors occurred:\n{}\nfix them, or make a check non-fatal with --ignore-preflight-errors=<name>[,…] (or all)", warnings_block(.1), .0.join("\n"))]
    Preflight(Vec<String>, Vec<String>),
    /// A phase could not be rendered; nothing was written.
    #[error("error execution phase {phase}: {source}\nnothing on the host was changed")]
    Render {
        /// Phase.
        phase: String,
        /// Cause.
        #[source]
        source: PhaseError,
    },
    /// Applying failed; what this run had written was rolled back.
    #[error("error execution phase {phase}: {source}\n{}", rollback_note(.rollback_failures))]
    Apply {
        /// Phase.
        phase: String,
        /// Cause.
        #[source]
        source: HostError,
        /// What could not be undone.
        rollback_failures: Vec<String>,
    },
}

fn warnings_block(warnings: &[String]) -> String {
    warnings.iter().map(|w| format!("{w}\n")).collect()
}

fn rollback_note(failures: &[String]) -> String {
    if failures.is_empty() {
        "everything this run had written was rolled back; fix the cause and run the command again".into()
    } else {
        format!("rolling back failed for: {}; remove these by hand or run `kubeup reset`", failures.join("; "))
    }
}

/// Run `init` (or one of its phases).
pub fn run_init(
    cfg: &Config,
    facts: &HostFacts,
    root: &HostRoot,
    options: &phases::Options,
    selection: &Selection,
    dry_run: bool,
) -> Result<Report, WorkflowError> {
    run_phases(phases::INIT_PHASES, None, cfg, facts, root, options, selection, dry_run)
}

/// Run `join` (or one of its phases) with what discovery established.
#[allow(clippy::too_many_arguments)]
pub fn run_join(
    join: &phases::join::JoinInput,
    cfg: &Config,
    facts: &HostFacts,
    root: &HostRoot,
    options: &phases::Options,
    selection: &Selection,
    dry_run: bool,
) -> Result<Report, WorkflowError> {
    let list = if join.control_plane.is_some() { phases::join::CONTROL_PLANE_JOIN_PHASES } else { phases::join::JOIN_PHASES };
    run_phases(list, Some(join), cfg, facts, root, options, selection, dry_run)
}

#[allow(clippy::too_many_arguments)]
fn run_phases(
    list: &'static [phases::PhaseDef],
    join: Option<&phases::join::JoinInput>,
    cfg: &Config,
    facts: &HostFacts,
    root: &HostRoot,
    options: &phases::Options,
    selection: &Selection,
    dry_run: bool,
) -> Result<Report, WorkflowError> {
    let phases: Vec<(&phases::PhaseDef, Option<String>)> = match selection {
        // `--skip-phases addon/coredns` (kubeadm's form) runs the phase's other children.
        Selection::All => list
            .iter()
            .filter(|p| !cfg.skip_phases.iter().any(|s| s == p.name))
            .flat_map(|p| {
                let skipped: Vec<&str> = cfg.skip_phases.iter().filter_map(|s| s.strip_prefix(p.name)?.strip_prefix('/')).collect();
                if skipped.is_empty() {
                    vec![(p, None)]
                } else {
                    p.children.iter().filter(|c| !skipped.contains(c)).map(|c| (p, Some(c.to_string()))).collect()
                }
            })
            .collect(),
        Selection::One(name, child) => {
            let def = phases::find_in(list, name).ok_or_else(|| WorkflowError::UnknownPhase(name.clone()))?;
            if let Some(c) = child {
                if !def.children.contains(&c.as_str()) {
                    return Err(WorkflowError::UnknownChild { phase: name.clone(), child: c.clone(), children: def.children.join(", ") });
                }
            }
            if def.render.is_none() {
                return Err(WorkflowError::NotImplemented(name.clone()));
            }
            vec![(def, child.clone())]
        }
    };

    let now = OffsetDateTime::now_utc();
    let mut overlay = Overlay::default();
    let mut plans = Vec::new();
    let mut stop = None;
    let mut preflight_errors = Vec::new();
    let mut preflight_warnings = Vec::new();
    for (def, child) in phases {
        let Some(render) = def.render else {
            stop = Some(Stop { phase: def.name.into(), reason: format!("phase {} is not implemented in this version of kubeup", def.name) });
            break;
        };
        let started = Instant::now();
        let ctx = Ctx { options, cfg, facts, now, view: View::new(root, &overlay), join };
        let plan = render(&ctx, child.as_deref()).map_err(|source| WorkflowError::Render { phase: phase_id(def.name, child.as_deref()), source })?;
        tracing::debug!(phase = def.name, ms = started.elapsed().as_millis() as u64, "rendered");
        overlay.add(&plan);
        for s in &plan.steps {
            match s {
                Step::Check { name, severity: Severity::Error, message } => preflight_errors.push(format!("\t[ERROR {name}]: {message}")),
                Step::Check { name, severity: Severity::Warning, message } => preflight_warnings.push(format!("\t[WARNING {name}]: {message}")),
                _ => {}
            }
        }
        plans.push(PhasePlan { phase: phase_id(def.name, child.as_deref()), plan });
        if !preflight_errors.is_empty() && !dry_run {
            return Err(WorkflowError::Preflight(preflight_errors, preflight_warnings));
        }
    }

    let mut changes = Changes::default();
    if !dry_run {
        changes = apply_plans(root, &plans)?;
    }
    Ok(Report { plans, changes, stop, preflight_errors })
}

/// Apply every plan's file steps as one transaction, holding the host lock. After each phase
/// the install record is rewritten inside the same transaction, so a run killed between phases
/// leaves a record of everything it created, and a rolled-back run leaves no record at all.
fn apply_plans(root: &HostRoot, plans: &[PhasePlan]) -> Result<Changes, WorkflowError> {
    let lock = HostLock::acquire(root).map_err(|source| WorkflowError::Apply { phase: "lock".into(), source, rollback_failures: vec![] })?;
    let mut record = InstallRecord::load(root).map_err(|source| WorkflowError::Apply { phase: "install record".into(), source, rollback_failures: vec![] })?;
    record.add_created(&[], &lock.created_dirs(root));
    let mut applier = Applier::new(root);
    let fault_after_phase = crate::test_hook!("KUBEUP_FAULT_AFTER_PHASE");
    for p in plans {
        let result = p.plan.steps.iter().try_for_each(|step| applier.apply(step)).and_then(|()| {
            let (files, dirs) = applier.take_created();
            record.add_created(&files, &dirs);
            let bytes = serde_json::to_vec_pretty(&record).unwrap_or_default();
            applier.apply(&Step::WriteFile(FileSpec {
                path: paths::known(RECORD_PATH),
                contents: bytes,
                mode: 0o600,
                policy: WritePolicy::Replace,
                kind: FileKind::Config,
            }))
        });
        if let Err(source) = result {
            let rollback_failures = applier.rollback();
            lock.discard();
            return Err(WorkflowError::Apply { phase: p.phase.clone(), source, rollback_failures });
        }
        if fault_after_phase.as_deref() == Some(p.phase.as_str()) {
            // Test hook: die like `kill -9` right after this phase, with no rollback.
            std::process::exit(137);
        }
    }
    Ok(applier.commit())
}

fn phase_id(name: &str, child: Option<&str>) -> String {
    match child {
        Some(c) => format!("{name}/{c}"),
        None => name.to_string(),
    }
}
