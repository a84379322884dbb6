//! The commands, each a thin flow: resolve the configuration → render the run (`workflow`) →
//! execute it with the executor against the real edges (`apply`) or print it (`--dry-run`) →
//! report. They take plain requests (the command line builds them) and never touch the host,
//! Docker or the cluster except through `apply`.

pub mod certs;
pub mod images;
pub mod init;
pub mod join;
pub mod kubeconfig;
pub mod renewer;
mod report;
pub mod reset;
pub mod token;

use std::collections::BTreeMap;

use crate::apply::{EdgeError, Environment, ExecError, HostAccess, RunSettings};
use crate::output::exit;
use crate::workflow::WorkflowError;

/// Why a command failed: one message for people, and the exit code of its class.
#[derive(Debug, thiserror::Error)]
pub enum CommandError {
    /// Bad usage: a flag, an argument, a combination (nothing was changed).
    #[error("{0}")]
    Usage(String),
    /// The configuration is invalid (nothing was changed).
    #[error(transparent)]
    Config(#[from] crate::config::ConfigError),
    /// The run could not be rendered, or preflight failed (nothing was changed).
    #[error(transparent)]
    Workflow(#[from] WorkflowError),
    /// Reset refused its directories (nothing was changed).
    #[error(transparent)]
    Reset(#[from] crate::reset::ResetError),
    /// A step failed while the run was carried out (with what was done and rolled back).
    #[error(transparent)]
    Exec(Box<ExecError>),
    /// The machine or the cluster refused an operation outside a run.
    #[error(transparent)]
    Edge(Box<EdgeError>),
    /// Discovery refused the cluster (nothing was changed).
    #[error("[discovery] {0}\nnothing on this host was changed")]
    Discovery(#[from] crate::join::discovery::DiscoveryError),
    /// Reading the cluster before a join failed (nothing was changed).
    #[error("[{phase}] {reason}\nnothing on this host was changed")]
    BeforeJoin {
        /// The stage.
        phase: &'static str,
        /// What failed and why.
        reason: String,
    },
    /// The cluster or the node refused what was asked (a token that exists, a file missing).
    #[error("{0}")]
    Refused(String),
    /// Some steps of a best-effort run (reset) failed.
    #[error("{what} could not do everything:\n  {}", .failed.join("\n  "))]
    Incomplete {
        /// The command.
        what: &'static str,
        /// The steps that failed.
        failed: Vec<String>,
    },
}

impl From<ExecError> for CommandError {
    fn from(e: ExecError) -> Self {
        CommandError::Exec(Box::new(e))
    }
}

impl From<EdgeError> for CommandError {
    fn from(e: EdgeError) -> Self {
        CommandError::Edge(Box::new(e))
    }
}

impl CommandError {
    /// The process exit code for this error.
    pub fn exit_code(&self) -> u8 {
        match self {
            CommandError::Usage(_) | CommandError::Config(_) | CommandError::Reset(_) => exit::USAGE,
            CommandError::Workflow(WorkflowError::Preflight(..)) => exit::PREFLIGHT,
            CommandError::Workflow(WorkflowError::UnknownPhase(_) | WorkflowError::UnknownChild { .. }) => exit::USAGE,
            _ => exit::FAILED,
        }
    }
}

/// What `init` and `join` share beyond the host: dry run, output, host fixes, image bundle.
#[derive(Debug, Clone)]
pub struct NodeOptions {
    /// Print the plan; change nothing.
    pub dry_run: bool,
    /// Output format.
    pub output: crate::output::Output,
    /// `--no-host-fixes`.
    pub no_host_fixes: bool,
    /// `--image-bundle`.
    pub image_bundle: Option<std::path::PathBuf>,
    /// `--image-bundle-sha256`.
    pub image_bundle_sha256: Option<String>,
}

/// The host flags every host command shares, as plain settings.
#[derive(Debug, Clone)]
pub struct HostRequest {
    /// How the host is reached.
    pub access: HostAccess,
    /// Name prefix of the containers kubeup creates.
    pub container_prefix: String,
    /// Extra `KEY=VALUE` labels for them.
    pub container_labels: Vec<String>,
}

impl HostRequest {
    /// The extra container labels, checked.
    pub fn labels(&self) -> Result<BTreeMap<String, String>, CommandError> {
        self.container_labels
            .iter()
            .map(|l| {
                l.split_once('=')
                    .map(|(k, v)| (k.to_string(), v.to_string()))
                    .ok_or_else(|| CommandError::Usage(format!("--container-label {l:?} must be KEY=VALUE")))
            })
            .collect()
    }

    /// The kubelet container's name.
    pub fn kubelet_container(&self) -> String {
        format!("{}-{}", self.container_prefix, crate::kubelet::container::KUBELET_CONTAINER_SUFFIX)
    }

    /// The settings the edges of a run on node `node_name` need.
    pub fn run_settings(&self, cert_dir: &str, node_name: &str) -> Result<RunSettings, CommandError> {
        Ok(RunSettings {
            container_labels: self.labels()?,
            kubelet_container: self.kubelet_container(),
            cert_dir: cert_dir.into(),
            node_name: node_name.into(),
        })
    }
}

/// Carry out rendered plans on the host: hold the host lock, build the run's real edges and let
/// the executor run them. A failed run that rolled everything back also drops what taking the
/// lock created.
pub async fn execute(
    env: &Environment,
    host: &HostRequest,
    cert_dir: &str,
    node_name: &str,
    plans: &[crate::plan::PhasePlan],
) -> Result<crate::apply::Outcome, CommandError> {
    let lock = env.lock()?;
    let mut edges = env.edges(&host.run_settings(cert_dir, node_name)?);
    let mut executor = crate::apply::Executor::new(edges.edges())?;
    executor.add_created_dirs(&env.lock_dirs(&lock));
    match executor.run(plans).await {
        Ok(outcome) => Ok(outcome),
        Err(e) => {
            if e.scope == crate::apply::journal::RollbackScope::Everything {
                lock.discard();
            }
            Err(e.into())
        }
    }
}

/// Gather the environment, refusing a `docker run` line that lacks a flag kubeup needs
/// (unless the run is dry).
pub async fn environment(host: &HostRequest, dry_run: bool, command: &str) -> Result<Environment, CommandError> {
    let mut env = gather(host, dry_run, command).await?;
    if dry_run {
        // A dry run of init may happen anywhere (the README's first look); an absent Docker is
        // not an error there. A join's dry run still reports it: it is about this very host.
        if let Some(Err(e)) = &env.facts.docker {
            tracing::warn!("{e}");
            env.facts.docker = None;
        }
    }
    Ok(env)
}

/// [`environment`] for a command whose dry run still checks Docker.
pub async fn gather(host: &HostRequest, dry_run: bool, command: &str) -> Result<Environment, CommandError> {
    let env = Environment::gather(&host.access).await.map_err(|e| CommandError::Usage(e.to_string()))?;
    if !env.installer_problems.is_empty() && !dry_run {
        return Err(CommandError::Usage(format!("{}\nthe full command is: {} {command}", env.installer_problems.join("\n"), crate::join_command::DOCKER_RUN)));
    }
    Ok(env)
}
