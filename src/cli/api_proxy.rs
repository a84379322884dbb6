//! `kubeup api-proxy`: the flags of the node-local API load balancer (`crate::proxy`), and
//! `--status`, which prints what the running proxy last wrote to its status file.

use std::path::PathBuf;
use std::time::Duration;

use clap::Args;

use crate::commands::CommandError;
use crate::output::say;

/// Where the proxy keeps its cache and status on the host.
pub const DEFAULT_STATE_DIR: &str = "/var/lib/kubeup/api-proxy";

/// `kubeup api-proxy`.
#[derive(Debug, Args)]
pub struct ApiProxyFlags {
    /// Print the running proxy's backends, their health and connection counts, then exit
    /// (`docker exec kubeup-api-proxy kubeup api-proxy --status`, or `--state-dir /host/var/lib/kubeup/api-proxy` from the installer image).
    #[arg(long)]
    pub status: bool,
    /// Address to listen on. On a worker it is the API server's port on loopback, so that
    /// `https://127.0.0.1:6443` means "the API" on every node (see README, "HA").
    #[arg(long, value_name = "HOST:PORT", default_value = "127.0.0.1:6443")]
    pub listen: String,
    /// An API server (`host:port`) always kept in the list; repeat for several.
    #[arg(long = "backend", value_name = "HOST:PORT")]
    pub backends: Vec<String>,
    /// Cache and status directory.
    #[arg(long, value_name = "DIR", default_value = DEFAULT_STATE_DIR)]
    pub state_dir: PathBuf,
    /// The kubeconfig whose credentials read the API server list (the node's own).
    #[arg(long, value_name = "FILE", default_value = "/etc/kubernetes/kubelet.conf")]
    pub kubeconfig: PathBuf,
    /// The cluster CA that the API servers' certificates are checked against.
    #[arg(long, value_name = "FILE", default_value = "/etc/kubernetes/pki/ca.crt")]
    pub ca_file: PathBuf,
    /// Health check: `readyz` (GET /readyz over TLS) or `tcp` (connect only).
    #[arg(long, value_name = "KIND", default_value = "readyz", value_parser = ["readyz", "tcp"])]
    pub health_check: String,
    /// Milliseconds between two checks of a backend.
    #[arg(long, value_name = "MS", default_value_t = 1000)]
    pub check_interval_ms: u64,
    /// Milliseconds a check or a dial may take.
    #[arg(long, value_name = "MS", default_value_t = 1000)]
    pub check_timeout_ms: u64,
    /// Seconds between refreshes of the list from the cluster.
    #[arg(long, value_name = "SECONDS", default_value_t = 10)]
    pub refresh_interval: u64,
}

/// Run the proxy, or print its status.
pub fn run(f: ApiProxyFlags) -> Result<(), CommandError> {
    use crate::proxy::{self, state};
    if f.status {
        let s = state::read_status(&f.state_dir)
            .map_err(|e| CommandError::Refused(format!("no status in {}: {e} (is the api-proxy running on this node?)", f.state_dir.display())))?;
        say(&state::render_status(&s, state::now_secs()));
        return Ok(());
    }
    let probe = match f.health_check.as_str() {
        "tcp" => proxy::health::Probe::Connect,
        _ => proxy::health::Probe::Readyz { ca_file: f.ca_file },
    };
    let args = proxy::ProxyArgs {
        listen: f.listen,
        seeds: f.backends,
        state_dir: f.state_dir,
        kubeconfig: f.kubeconfig,
        probe,
        check_interval: Duration::from_millis(f.check_interval_ms.max(100)),
        check_timeout: Duration::from_millis(f.check_timeout_ms.max(100)),
        refresh_interval: Duration::from_secs(f.refresh_interval.max(1)),
    };
    super::block_on(async move { proxy::run(args).await.map_err(|e| CommandError::Refused(e.to_string())) })
}
