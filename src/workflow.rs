//! The phase runner: selects the phases of a run (`init`, `init phase X [child]`,
//! `--skip-phases`, `join`) and renders them in order, each seeing the files the earlier ones
//! planned. Everything is rendered before anything is executed, so a bad input or a mismatching
//! existing certificate leaves the host exactly as it was; the executor (`apply`) then carries
//! the plans out, or `--dry-run` prints them.
//!
//! Pure.

use time::OffsetDateTime;

use crate::config::Config;
use crate::facts::HostFacts;
use crate::phases::{self, Ctx, HostFiles, PhaseError, View};
use crate::plan::{Overlay, PhasePlan, Severity, Step};

/// Which phases to run.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Selection {
    /// All of them (minus skipped phases).
    All,
    /// One phase, optionally one child (`certs`, `apiserver`).
    One(String, Option<String>),
}

impl Selection {
    /// Whether the run includes the phase `name`.
    pub fn includes(&self, name: &str) -> bool {
        match self {
            Selection::All => true,
            Selection::One(p, _) => p == name,
        }
    }
}

/// The rendered plans of a run.
#[derive(Debug)]
pub struct Rendered {
    /// Plans of the rendered phases, in order.
    pub plans: Vec<PhasePlan>,
    /// Preflight errors (a dry run reports them instead of stopping).
    pub preflight_errors: Vec<String>,
}

/// Why a run could not be rendered.
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
}

fn warnings_block(warnings: &[String]) -> String {
    warnings.iter().map(|w| format!("{w}\n")).collect()
}

/// What a run renders from.
pub struct Inputs<'a> {
    /// The configuration.
    pub cfg: &'a Config,
    /// The host's facts.
    pub facts: &'a HostFacts,
    /// The host's files.
    pub files: &'a dyn HostFiles,
    /// Run options.
    pub options: &'a phases::Options,
    /// What discovery established (join only).
    pub join: Option<&'a phases::join_input::JoinInput>,
}

/// Render `init` (or one of its phases).
pub fn render_init(inputs: &Inputs, selection: &Selection, dry_run: bool) -> Result<Rendered, WorkflowError> {
    render(phases::INIT_PHASES, inputs, selection, dry_run)
}

/// Render `join` (or one of its phases) with what discovery established.
pub fn render_join(inputs: &Inputs, selection: &Selection, dry_run: bool) -> Result<Rendered, WorkflowError> {
    let control_plane = inputs.join.is_some_and(|j| j.control_plane.is_some());
    let list = if control_plane { phases::join::CONTROL_PLANE_JOIN_PHASES } else { phases::join::JOIN_PHASES };
    render(list, inputs, selection, dry_run)
}

fn selected(list: &'static [phases::PhaseDef], cfg: &Config, selection: &Selection) -> Result<Vec<(&'static phases::PhaseDef, Option<String>)>, WorkflowError> {
    Ok(match selection {
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
            vec![(def, child.clone())]
        }
    })
}

fn render(list: &'static [phases::PhaseDef], inputs: &Inputs, selection: &Selection, dry_run: bool) -> Result<Rendered, WorkflowError> {
    let now = OffsetDateTime::now_utc();
    let mut overlay = Overlay::default();
    let mut plans = Vec::new();
    let mut preflight_errors = Vec::new();
    let mut preflight_warnings = Vec::new();
    for (def, child) in selected(list, inputs.cfg, selection)? {
        let ctx = Ctx { options: inputs.options, cfg: inputs.cfg, facts: inputs.facts, now, view: View::new(inputs.files, &overlay), join: inputs.join };
        let plan = (def.render)(&ctx, child.as_deref()).map_err(|source| WorkflowError::Render { phase: phase_id(def.name, child.as_deref()), source })?;
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
    Ok(Rendered { plans, preflight_errors })
}

fn phase_id(name: &str, child: Option<&str>) -> String {
    match child {
        Some(c) => format!("{name}/{c}"),
        None => name.to_string(),
    }
}
