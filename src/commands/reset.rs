//! `kubeup reset`: observe the node, render reset's plans, confirm, then carry them out best
//! effort (everything that can be undone is, and what could not be is named).

use std::io::IsTerminal;

use super::{gather, CommandError, HostRequest};
use crate::apply::Executor;
use crate::output::{say, Output};
use crate::plan;
use crate::reset::{self, ResetOptions};

/// What `reset` is asked.
#[derive(Debug, Clone)]
pub struct ResetRequest {
    /// How the host is reached.
    pub host: HostRequest,
    /// What to remove.
    pub options: ResetOptions,
    /// Do not ask for confirmation.
    pub force: bool,
    /// Print the plan; remove nothing.
    pub dry_run: bool,
    /// Output format.
    pub output: Output,
}

/// Run `reset`.
pub async fn reset(req: ResetRequest) -> Result<(), CommandError> {
    reset::check_dirs(&req.options)?;
    let env = gather(&req.host, true, "reset").await?;
    let facts = env.reset_facts(&req.options).await?;
    let plans = reset::render(&facts, &req.options)?;
    if req.output == Output::Json {
        let mut v = plan::to_json(&plans);
        v["dryRun"] = req.dry_run.into();
        say(&format!("{v:#}\n"));
    }
    if req.dry_run {
        if req.output == Output::Text {
            say(&plan::to_text(&plans, false));
            say("[dryrun] nothing was changed on the host\n");
        }
        return Ok(());
    }
    if !req.force {
        if !std::io::stdin().is_terminal() {
            return Err(CommandError::Usage(
                "reset removes this node's Kubernetes state; confirm interactively or pass --force (see --dry-run for the list)".into(),
            ));
        }
        say(&plan::to_text(&plans, false));
        say("[reset] Are you sure you want to proceed? [y/N]: ");
        let mut answer = String::new();
        let _ = std::io::stdin().read_line(&mut answer);
        if !matches!(answer.trim(), "y" | "Y" | "yes") {
            return Err(CommandError::Usage("aborted; nothing was changed".into()));
        }
    }
    let _lock = env.lock()?;
    let run = req.host.run_settings(&req.options.cert_dir, "")?;
    let mut edges = env.edges(&run);
    let outcome = Executor::new(edges.edges())?.run_best_effort(&plans).await;
    if req.output == Output::Text {
        say(&plan::to_text(&plans, false));
        for n in &outcome.notes {
            say(&format!("{n}\n"));
        }
    }
    if outcome.failed.is_empty() {
        say("[reset] done\n");
        Ok(())
    } else {
        Err(CommandError::Incomplete { what: "reset", failed: outcome.failed })
    }
}
