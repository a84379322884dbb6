//! The API proxy's backends: which API servers exist, which answer, how many connections each
//! carries, and the signal that closes the connections pinned to one.
//!
//! Why a `std::sync::Mutex` and no async lock: every critical section is a few field updates.
//! No await, no dial and no file write happen while it is held, so a refresh, a health report
//! and a new connection can never wait on one another's I/O (k3s#10506 deadlocked on a lock held
//! across I/O). Closing the pinned connections is a `watch` send, which never blocks.

use std::sync::{Arc, Mutex, MutexGuard};
use std::time::SystemTime;

use serde::{Deserialize, Serialize};
use tokio::sync::watch;

/// Consecutive failed checks (or dials) after which a backend is unhealthy: one slow answer
/// does not cut every connection of a busy API server, two in a row do.
pub const FAILS_TO_UNHEALTHY: u32 = 2;

/// What the proxy knows about a backend's health.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Health {
    /// Not checked yet: eligible, after the healthy ones (a start from the cache must not wait
    /// a whole check round before the kubelet can connect).
    Unknown,
    /// The last check passed.
    Healthy,
    /// [`FAILS_TO_UNHEALTHY`] checks in a row failed: no new connections, pinned ones closed.
    Unhealthy,
}

/// One backend as the status file shows it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct BackendStatus {
    /// `host:port`.
    pub address: String,
    /// Its health.
    pub health: Health,
    /// Connections open through it now.
    pub active: usize,
    /// Connections made through it since the proxy started.
    pub total: u64,
    /// Given on the command line (kept even when the cluster no longer lists it, as k3s keeps
    /// its configured server: the last way back to the cluster).
    pub seed: bool,
    /// The last failure, if the last check failed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_error: Option<String>,
    /// Seconds since the Unix epoch of the last health change.
    pub since: u64,
}

struct Backend {
    id: u64,
    address: String,
    health: Health,
    fails: u32,
    active: usize,
    total: u64,
    seed: bool,
    last_error: Option<String>,
    since: SystemTime,
    /// Bumped when the backend turns unhealthy; every connection pinned to it watches this.
    close: watch::Sender<u64>,
}

impl Backend {
    fn new(id: u64, address: String, seed: bool) -> Backend {
        let (close, _) = watch::channel(0);
        Backend { id, address, health: Health::Unknown, fails: 0, active: 0, total: 0, seed, last_error: None, since: SystemTime::now(), close }
    }
}

#[derive(Default)]
struct Inner {
    backends: Vec<Backend>,
    next_id: u64,
    cursor: usize,
}

/// The backend set, shared by the listener, the health checker and the refresher.
#[derive(Default)]
pub struct Pool {
    inner: Mutex<Inner>,
}

/// A connection's claim on a backend: counts as active until dropped, and tells when the
/// backend was declared unhealthy or removed.
pub struct Lease {
    /// The backend's id (stable while it stays in the list).
    pub id: u64,
    /// `host:port` to dial.
    pub address: String,
    generation: u64,
    closed: watch::Receiver<u64>,
    pool: Arc<Pool>,
}

impl Lease {
    /// Resolves when the connection must end: its backend turned unhealthy or left the list.
    pub async fn closed(&mut self) {
        loop {
            if *self.closed.borrow_and_update() != self.generation {
                return;
            }
            if self.closed.changed().await.is_err() {
                return;
            }
        }
    }
}

impl Drop for Lease {
    fn drop(&mut self) {
        let mut inner = self.pool.lock();
        if let Some(b) = inner.backends.iter_mut().find(|b| b.id == self.id) {
            b.active = b.active.saturating_sub(1);
        }
    }
}

fn dedup(addresses: impl IntoIterator<Item = String>) -> Vec<String> {
    let mut out: Vec<String> = Vec::new();
    for a in addresses {
        if !a.is_empty() && !out.contains(&a) {
            out.push(a);
        }
    }
    out
}

impl Pool {
    /// A pool of `seeds` (kept for good) and `cached` (a previous run's list, replaced by the
    /// first refresh).
    pub fn new(seeds: &[String], cached: &[String]) -> Arc<Pool> {
        let pool = Arc::new(Pool::default());
        {
            let mut inner = pool.lock();
            for (address, seed) in dedup(seeds.iter().chain(cached).cloned()).into_iter().map(|a| {
                let seed = seeds.contains(&a);
                (a, seed)
            }) {
                let id = inner.next_id;
                inner.next_id += 1;
                inner.backends.push(Backend::new(id, address, seed));
            }
        }
        pool
    }

    /// The lock; a poisoned lock is still used: every section leaves the data consistent.
    fn lock(&self) -> MutexGuard<'_, Inner> {
        self.inner.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Replace the discovered part of the list with `discovered`; seeds stay. A backend that
    /// stays keeps its health and connections; one that leaves has its connections closed (its
    /// watch sender is dropped). Returns whether the list changed.
    pub fn replace(&self, discovered: &[String]) -> bool {
        let wanted = dedup(discovered.iter().cloned());
        let mut inner = self.lock();
        let before: Vec<String> = inner.backends.iter().map(|b| b.address.clone()).collect();
        inner.backends.retain(|b| b.seed || wanted.contains(&b.address));
        for a in wanted {
            if !inner.backends.iter().any(|b| b.address == a) {
                let id = inner.next_id;
                inner.next_id += 1;
                inner.backends.push(Backend::new(id, a, false));
            }
        }
        let after: Vec<String> = inner.backends.iter().map(|b| b.address.clone()).collect();
        before != after
    }

    /// Every backend's address, for the health checker.
    pub fn addresses(&self) -> Vec<String> {
        self.lock().backends.iter().map(|b| b.address.clone()).collect()
    }

    /// The backends that are not seeds (what the cache file keeps).
    pub fn discovered(&self) -> Vec<String> {
        self.lock().backends.iter().filter(|b| !b.seed).map(|b| b.address.clone()).collect()
    }

    /// Choose a backend for a new connection, round robin, skipping `exclude` (backends that
    /// already failed this connection): the healthy ones first, then the unchecked ones, and
    /// when none of those is left every backend (fail open: a proxy that refuses everything
    /// because its checks are wrong would take the node down by itself).
    pub fn pick(self: &Arc<Self>, exclude: &[u64]) -> Option<Lease> {
        let mut inner = self.lock();
        let n = inner.backends.len();
        let start = inner.cursor;
        let candidates = |want: Option<Health>, inner: &Inner| -> Option<usize> {
            (0..n).map(|i| (start + i) % n).find(|&i| {
                let b = &inner.backends[i];
                !exclude.contains(&b.id) && want.is_none_or(|h| b.health == h)
            })
        };
        let i = candidates(Some(Health::Healthy), &inner).or_else(|| candidates(Some(Health::Unknown), &inner)).or_else(|| candidates(None, &inner))?;
        inner.cursor = (i + 1) % n.max(1);
        let b = &mut inner.backends[i];
        b.active += 1;
        b.total += 1;
        let closed = b.close.subscribe();
        let generation = *closed.borrow();
        Some(Lease { id: b.id, address: b.address.clone(), generation, closed, pool: Arc::clone(self) })
    }

    /// Record a check (or dial) of `address`: `Ok` makes it healthy at once; the
    /// [`FAILS_TO_UNHEALTHY`]th failure in a row makes it unhealthy and closes its connections.
    /// Returns the new health when it changed.
    pub fn report(&self, address: &str, result: Result<(), String>) -> Option<Health> {
        let mut inner = self.lock();
        let b = inner.backends.iter_mut().find(|b| b.address == address)?;
        let before = b.health;
        match result {
            Ok(()) => {
                b.fails = 0;
                b.last_error = None;
                b.health = Health::Healthy;
            }
            Err(e) => {
                b.fails = b.fails.saturating_add(1);
                b.last_error = Some(e);
                if b.fails >= FAILS_TO_UNHEALTHY {
                    b.health = Health::Unhealthy;
                }
            }
        }
        if b.health == before {
            return None;
        }
        b.since = SystemTime::now();
        if b.health == Health::Unhealthy {
            // Never blocks: it only wakes the watchers.
            b.close.send_modify(|g| *g += 1);
        }
        Some(b.health)
    }

    /// What the status file shows.
    pub fn status(&self) -> Vec<BackendStatus> {
        self.lock()
            .backends
            .iter()
            .map(|b| BackendStatus {
                address: b.address.clone(),
                health: b.health,
                active: b.active,
                total: b.total,
                seed: b.seed,
                last_error: b.last_error.clone(),
                since: b.since.duration_since(SystemTime::UNIX_EPOCH).map(|d| d.as_secs()).unwrap_or(0),
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn s(v: &[&str]) -> Vec<String> {
        v.iter().map(|x| x.to_string()).collect()
    }

    #[test]
    fn healthy_first_then_unknown_then_any() {
        let pool = Pool::new(&s(&["a:1"]), &s(&["b:1", "c:1"]));
        pool.report("b:1", Ok(()));
        for _ in 0..3 {
            assert_eq!(pool.pick(&[]).map(|l| l.address.clone()).as_deref(), Some("b:1"));
        }
        pool.report("b:1", Err("x".into()));
        pool.report("b:1", Err("x".into()));
        let picked: Vec<String> = (0..4).filter_map(|_| pool.pick(&[]).map(|l| l.address.clone())).collect();
        assert!(picked.iter().all(|a| a != "b:1"), "{picked:?}");
        for a in ["a:1", "c:1"] {
            pool.report(a, Err("down".into()));
            pool.report(a, Err("down".into()));
        }
        assert!(pool.pick(&[]).is_some(), "fail open when every backend is unhealthy");
    }

    #[test]
    fn exclude_ends_the_search() {
        let pool = Pool::new(&s(&["a:1", "b:1"]), &[]);
        let first = pool.pick(&[]).map(|l| l.id).unwrap();
        let second = pool.pick(&[first]).map(|l| l.id).unwrap();
        assert_ne!(first, second);
        assert!(pool.pick(&[first, second]).is_none());
    }

    #[test]
    fn one_failure_is_not_enough_and_success_recovers() {
        let pool = Pool::new(&s(&["a:1"]), &[]);
        assert_eq!(pool.report("a:1", Err("slow".into())), None);
        assert_eq!(pool.status()[0].health, Health::Unknown);
        assert_eq!(pool.report("a:1", Err("slow".into())), Some(Health::Unhealthy));
        assert_eq!(pool.report("a:1", Ok(())), Some(Health::Healthy));
        assert_eq!(pool.status()[0].last_error, None);
    }

    #[test]
    fn leases_count_connections() {
        let pool = Pool::new(&s(&["a:1"]), &[]);
        let l1 = pool.pick(&[]).unwrap();
        let l2 = pool.pick(&[]).unwrap();
        assert_eq!(pool.status()[0].active, 2);
        drop(l1);
        drop(l2);
        let st = &pool.status()[0];
        assert_eq!((st.active, st.total), (0, 2));
    }

    #[tokio::test]
    async fn unhealthy_and_removed_backends_close_their_leases() {
        let pool = Pool::new(&s(&["a:1"]), &s(&["b:1"]));
        pool.report("a:1", Ok(()));
        let mut on_a = pool.pick(&[]).unwrap();
        let mut on_b = pool.pick(&[on_a.id]).unwrap();
        assert_eq!(on_b.address, "b:1");
        pool.report("a:1", Err("gone".into()));
        pool.report("a:1", Err("gone".into()));
        tokio::time::timeout(std::time::Duration::from_secs(1), on_a.closed()).await.expect("pinned lease closed");
        assert!(pool.replace(&s(&["c:1"])));
        tokio::time::timeout(std::time::Duration::from_secs(1), on_b.closed()).await.expect("removed backend's lease closed");
        assert_eq!(pool.addresses(), s(&["a:1", "c:1"]), "the seed stays, b left, c came");
        assert_eq!(pool.discovered(), s(&["c:1"]));
        assert!(!pool.replace(&s(&["c:1"])));
    }
}
