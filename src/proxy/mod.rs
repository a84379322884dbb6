//! EDGE: `kubeup api-proxy`, the node-local API load balancer of a worker node (container
//! `kubeup-api-proxy`).
//!
//! A worker's kubelet and kube-proxy talk to `https://127.0.0.1:<API port>`; this plain TCP
//! proxy passes each connection to one healthy control plane. TLS stays end to end (the API
//! servers' certificates carry 127.0.0.1), so the proxy holds no key and sees no request.
//!
//! Four independent tasks share one [`pool::Pool`] and never wait on each other's I/O:
//! - the listener: a new connection goes to a healthy backend (next one if the dial fails);
//! - the health checker: `/readyz` of every backend about every second ([`health`]); a
//!   backend that fails twice in a row gets no new connections and its connections are closed,
//!   so clients reconnect at once instead of waiting for TCP to notice a dead peer;
//! - the refresher: the list from the cluster ([`refresh`]), saved to the cache file;
//! - the status writer: `status.json` ([`state`]).

pub mod forward;
pub mod health;
pub mod pool;
pub mod refresh;
pub mod state;

use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use pool::Pool;

/// Why the proxy cannot run.
#[derive(Debug, thiserror::Error)]
pub enum ProxyError {
    /// The listen address cannot be bound.
    #[error("cannot listen on {address}: {source}")]
    Listen {
        /// The address.
        address: String,
        /// Why.
        source: std::io::Error,
    },
    /// The state directory cannot be used.
    #[error("state directory {path}: {source}")]
    State {
        /// The directory.
        path: String,
        /// Why.
        source: std::io::Error,
    },
    /// Neither a seed nor a cached backend.
    #[error("no backend: give --backend HOST:PORT (a control plane's API server), or start where the cache file {0} exists")]
    NoBackend(String),
}

/// How the proxy runs.
#[derive(Debug, Clone)]
pub struct ProxyArgs {
    /// `host:port` to listen on (`127.0.0.1:6443` on a worker).
    pub listen: String,
    /// Backends kept for good (the API server named at join).
    pub seeds: Vec<String>,
    /// The cache and status directory.
    pub state_dir: PathBuf,
    /// The kubeconfig whose credentials fetch the list (`/etc/kubernetes/kubelet.conf`).
    pub kubeconfig: PathBuf,
    /// How backends are checked.
    pub probe: health::Probe,
    /// Time between checks of one backend.
    pub check_interval: Duration,
    /// A check's (and a dial's) time limit.
    pub check_timeout: Duration,
    /// Time between refreshes of the list.
    pub refresh_interval: Duration,
}

/// Log a line to stderr with a time stamp (the container's log).
pub fn log(msg: &str) {
    let now = time::OffsetDateTime::now_utc().format(&time::format_description::well_known::Rfc3339).unwrap_or_default();
    eprintln!("{now} [api-proxy] {msg}");
}

/// A running proxy: its pool and the address it really listens on (port 0 picks one).
pub struct Running {
    /// The backends.
    pub pool: Arc<Pool>,
    /// The bound address.
    pub local: std::net::SocketAddr,
    tasks: Vec<tokio::task::JoinHandle<()>>,
}

impl Running {
    /// Stop every task (tests; the real proxy runs until it is killed).
    pub fn stop(self) {
        for t in self.tasks {
            t.abort();
        }
    }
}

/// Start the proxy's tasks and return at once.
pub async fn start(args: ProxyArgs) -> Result<Running, ProxyError> {
    std::fs::create_dir_all(&args.state_dir).map_err(|source| ProxyError::State { path: args.state_dir.display().to_string(), source })?;
    let (cache, why) = state::read_cache(&args.state_dir);
    if let Some(why) = why {
        log(&why);
    }
    if args.seeds.is_empty() && cache.backends.is_empty() {
        return Err(ProxyError::NoBackend(args.state_dir.join(state::CACHE_FILE).display().to_string()));
    }
    let pool = Pool::new(&args.seeds, &cache.backends);
    let listener = tokio::net::TcpListener::bind(&args.listen).await.map_err(|source| ProxyError::Listen { address: args.listen.clone(), source })?;
    let local = listener.local_addr().map_err(|source| ProxyError::Listen { address: args.listen.clone(), source })?;
    log(&format!("listening on {local}; backends {:?} (seeds {:?}, cached {:?})", pool.addresses(), args.seeds, cache.backends));
    let last_refresh: Arc<Mutex<Option<state::Refresh>>> = Arc::default();
    let tasks = vec![
        tokio::spawn(forward::serve(listener, Arc::clone(&pool), args.check_timeout)),
        tokio::spawn(check_loop(Arc::clone(&pool), args.clone())),
        tokio::spawn(refresh_loop(Arc::clone(&pool), args.clone(), local.to_string(), Arc::clone(&last_refresh))),
        tokio::spawn(status_loop(Arc::clone(&pool), args.state_dir.clone(), local.to_string(), last_refresh)),
    ];
    Ok(Running { pool, local, tasks })
}

/// Run until killed.
pub async fn run(args: ProxyArgs) -> Result<(), ProxyError> {
    let running = start(args).await?;
    // The tasks never end on their own. As a container's PID 1 the process must handle
    // SIGTERM itself (the default action does not apply to PID 1), or `docker stop` waits 10 s.
    match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
        Ok(mut term) => {
            tokio::select! {
                _ = term.recv() => {}
                _ = tokio::signal::ctrl_c() => {}
            }
        }
        Err(_) => {
            let _ = tokio::signal::ctrl_c().await;
        }
    }
    log("stopping");
    running.stop();
    Ok(())
}

/// Every backend checked at once each round, then a pause: a dead backend's timeout does not
/// delay the others' checks.
async fn check_loop(pool: Arc<Pool>, args: ProxyArgs) {
    loop {
        let addresses = pool.addresses();
        let checks = addresses.iter().map(|a| args.probe.check(a, args.check_timeout));
        let results = futures_util::future::join_all(checks).await;
        for (a, r) in addresses.iter().zip(results) {
            let err = r.as_ref().err().cloned();
            if let Some(h) = pool.report(a, r) {
                match err {
                    Some(e) => log(&format!("backend {a} is now {h:?}: {e}; its connections are closed and it gets no new ones")),
                    None => log(&format!("backend {a} is now {h:?}")),
                }
            }
        }
        tokio::time::sleep(args.check_interval).await;
    }
}

async fn refresh_loop(pool: Arc<Pool>, args: ProxyArgs, via: String, last: Arc<Mutex<Option<state::Refresh>>>) {
    let mut last_error: Option<String> = None;
    loop {
        let result = match refresh::fetch(&args.kubeconfig, &via, args.check_timeout * 5).await {
            Ok(list) => {
                if pool.replace(&list) {
                    log(&format!("backends from the cluster: {list:?}; now {:?}", pool.addresses()));
                }
                let cache = state::Cache { backends: pool.discovered() };
                if let Err(e) = state::write_json(&args.state_dir, state::CACHE_FILE, &cache) {
                    log(&format!("cannot write the cache file: {e}"));
                }
                last_error = None;
                format!("ok: {} backends", list.len())
            }
            Err(e) => {
                if last_error.as_ref() != Some(&e) {
                    log(&format!("cannot refresh the backends (keeping {:?}): {e}", pool.addresses()));
                    last_error = Some(e.clone());
                }
                e
            }
        };
        if let Ok(mut l) = last.lock() {
            *l = Some(state::Refresh { at: state::now_secs(), result });
        }
        tokio::time::sleep(args.refresh_interval).await;
    }
}

async fn status_loop(pool: Arc<Pool>, dir: PathBuf, listen: String, last: Arc<Mutex<Option<state::Refresh>>>) {
    loop {
        let last_refresh = last.lock().ok().and_then(|l| l.clone());
        let status = state::Status { listen: listen.clone(), updated: state::now_secs(), last_refresh, backends: pool.status() };
        if let Err(e) = state::write_json(&dir, state::STATUS_FILE, &status) {
            log(&format!("cannot write the status file: {e}"));
        }
        tokio::time::sleep(Duration::from_secs(1)).await;
    }
}
