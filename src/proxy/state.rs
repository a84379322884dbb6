//! The API proxy's two files in its state directory (`/var/lib/kubeup/api-proxy` on the host,
//! removed by `kubeup reset` with the rest of `/var/lib/kubeup`):
//!
//! - `backends.json`, the last list the cluster gave: a restarted proxy (a reboot, a new image)
//!   starts from it, so it knows every control plane even when the one named at join is gone;
//! - `status.json`, rewritten about every second: what `kubeup api-proxy --status` prints. A
//!   file and not a socket: it can be read with `cat` on the host, and a hung proxy shows as a
//!   stale time rather than as a status command that hangs too.
//!
//! Both are written to a temporary file and renamed, so a reader never sees half of one.

use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use super::pool::{BackendStatus, Health};

/// The cache file's name.
pub const CACHE_FILE: &str = "backends.json";
/// The status file's name.
pub const STATUS_FILE: &str = "status.json";
/// A status older than this means the proxy is not running (or hangs).
pub const STALE_SECS: u64 = 10;

/// `backends.json`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Cache {
    /// `host:port` of each API server the cluster listed.
    pub backends: Vec<String>,
}

/// `status.json`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Status {
    /// Where the proxy listens.
    pub listen: String,
    /// Seconds since the Unix epoch when this was written.
    pub updated: u64,
    /// The last refresh of the list from the cluster: when and what happened.
    #[serde(default)]
    pub last_refresh: Option<Refresh>,
    /// The backends.
    pub backends: Vec<BackendStatus>,
}

/// One refresh of the backend list.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Refresh {
    /// Seconds since the Unix epoch.
    pub at: u64,
    /// `ok: N backends` or the error.
    pub result: String,
}

/// Seconds since the Unix epoch, now.
pub fn now_secs() -> u64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map(|d| d.as_secs()).unwrap_or(0)
}

/// Write `value` as JSON to `dir/name` atomically (temporary file, then rename).
pub fn write_json<T: Serialize>(dir: &Path, name: &str, value: &T) -> std::io::Result<()> {
    let bytes = serde_json::to_vec_pretty(value).map_err(std::io::Error::other)?;
    let tmp: PathBuf = dir.join(format!(".{name}.tmp"));
    std::fs::write(&tmp, bytes)?;
    std::fs::rename(&tmp, dir.join(name))
}

/// The cached list, or an empty one when there is none. A damaged cache is ignored (it is only
/// a head start), and the reason returned for the log.
pub fn read_cache(dir: &Path) -> (Cache, Option<String>) {
    match std::fs::read(dir.join(CACHE_FILE)) {
        Ok(bytes) => match serde_json::from_slice(&bytes) {
            Ok(c) => (c, None),
            Err(e) => (Cache::default(), Some(format!("{} is not a backend list ({e}); ignored", dir.join(CACHE_FILE).display()))),
        },
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => (Cache::default(), None),
        Err(e) => (Cache::default(), Some(format!("cannot read {}: {e}; ignored", dir.join(CACHE_FILE).display()))),
    }
}

/// The status file.
pub fn read_status(dir: &Path) -> std::io::Result<Status> {
    let bytes = std::fs::read(dir.join(STATUS_FILE))?;
    serde_json::from_slice(&bytes).map_err(std::io::Error::other)
}

/// The status as a table, with a warning when it is stale.
pub fn render_status(s: &Status, now: u64) -> String {
    let mut out = format!("api-proxy on {} (status written {} s ago)\n", s.listen, now.saturating_sub(s.updated));
    if now.saturating_sub(s.updated) > STALE_SECS {
        out.push_str("WARNING: the status is stale: the proxy is not running or hangs (docker logs kubeup-api-proxy)\n");
    }
    match &s.last_refresh {
        Some(r) => out.push_str(&format!("last refresh from the cluster: {} s ago: {}\n", now.saturating_sub(r.at), r.result)),
        None => out.push_str("last refresh from the cluster: none yet (the node's kubelet.conf is needed)\n"),
    }
    out.push_str(&format!("{:<40} {:<10} {:>7} {:>9} {:>8}  {}\n", "BACKEND", "HEALTH", "ACTIVE", "TOTAL", "SINCE", "LAST ERROR"));
    for b in &s.backends {
        let health = match b.health {
            Health::Healthy => "healthy",
            Health::Unhealthy => "unhealthy",
            Health::Unknown => "unknown",
        };
        let name = if b.seed { format!("{} (seed)", b.address) } else { b.address.clone() };
        out.push_str(&format!(
            "{:<40} {:<10} {:>7} {:>9} {:>7}s  {}\n",
            name,
            health,
            b.active,
            b.total,
            now.saturating_sub(b.since),
            b.last_error.as_deref().unwrap_or("")
        ));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cache_round_trip_and_damage() {
        let dir = tempfile::tempdir().unwrap();
        assert_eq!(read_cache(dir.path()), (Cache::default(), None));
        let c = Cache { backends: vec!["10.0.0.1:6443".into(), "[fd00::2]:6443".into()] };
        write_json(dir.path(), CACHE_FILE, &c).unwrap();
        assert_eq!(read_cache(dir.path()).0, c);
        std::fs::write(dir.path().join(CACHE_FILE), b"{not json").unwrap();
        let (c, why) = read_cache(dir.path());
        assert!(c.backends.is_empty() && why.is_some());
    }

    #[test]
    fn status_table_says_when_stale() {
        let s = Status { listen: "127.0.0.1:6443".into(), updated: 100, last_refresh: None, backends: vec![] };
        assert!(!render_status(&s, 101).contains("stale"));
        assert!(render_status(&s, 100 + STALE_SECS + 1).contains("stale"));
    }
}
