//! What `init` and `join` print: the plans (in full for a dry run, secrets never), what changed,
//! what each phase did, the texts meant for the person (the join command), preflight findings a
//! dry run would stop at, and how long it took. `-o json` prints the same as one object.

use std::time::Duration;

use crate::apply::Changes;
use crate::output::{say, Output};
use crate::plan::{self, PhasePlan, Step};

/// What a run produced, for printing.
pub struct Report<'a> {
    /// `init` or `join`.
    pub what: &'a str,
    /// The rendered plans.
    pub plans: &'a [PhasePlan],
    /// Whether nothing was executed.
    pub dry_run: bool,
    /// File counts (zero for a dry run).
    pub changes: Changes,
    /// What the phases did, for people.
    pub notes: &'a [String],
    /// Preflight errors a dry run reports instead of stopping.
    pub preflight_errors: &'a [String],
    /// Time since the command started.
    pub elapsed: Duration,
}

impl<'a> Report<'a> {
    /// The report of a rendered run.
    pub fn of(what: &'a str, rendered: &'a crate::workflow::Rendered, dry_run: bool, notes: &'a [String], started: std::time::Instant) -> Report<'a> {
        Report {
            what,
            plans: &rendered.plans,
            dry_run,
            changes: Changes::default(),
            notes,
            preflight_errors: &rendered.preflight_errors,
            elapsed: started.elapsed(),
        }
    }

    /// With what executing changed.
    pub fn changed(mut self, changes: Changes) -> Self {
        self.changes = changes;
        self
    }
}

/// Print a report.
pub fn print(r: &Report, output: Output) {
    match output {
        Output::Json => {
            let mut v = plan::to_json(r.plans);
            v["dryRun"] = r.dry_run.into();
            v["changes"] = serde_json::to_value(r.changes).unwrap_or_default();
            v["preflightErrors"] = serde_json::to_value(r.preflight_errors).unwrap_or_default();
            v["notes"] = serde_json::to_value(r.notes).unwrap_or_default();
            v["elapsedMs"] = (r.elapsed.as_millis() as u64).into();
            say(&format!("{v:#}\n"));
        }
        Output::Text => {
            say(&plan::to_text(r.plans, r.dry_run));
            let c = r.changes;
            if r.dry_run {
                say("[dryrun] nothing was changed on the host\n");
            } else {
                say(&format!(
                    "[{}] {} files created, {} replaced, {} modes fixed, {} unchanged, {} directories created\n",
                    r.what, c.created, c.replaced, c.mode_fixed, c.unchanged, c.dirs_created
                ));
            }
            for n in r.notes {
                say(&format!("{n}\n"));
            }
            if !r.dry_run {
                for p in r.plans {
                    for step in &p.plan.steps {
                        if let Step::Say { text, .. } = step {
                            say(&format!("{text}\n"));
                        }
                    }
                }
            }
            if !r.preflight_errors.is_empty() {
                say(&format!("[preflight] a real run would stop here:\n{}\n", r.preflight_errors.join("\n")));
            }
            say(&format!("[{}] took {} ms\n", r.what, r.elapsed.as_millis()));
        }
    }
}
