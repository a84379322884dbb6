//! `kubeup api-proxy`, the node-local API load balancer (src/proxy), against real TCP backends
//! on loopback addresses (127.0.0.2, 127.0.0.3, …: distinct hosts as the proxy sees them) and
//! against two TLS test doubles of the API server (tests/common/apiserver.rs) for the real
//! `/readyz` check and the list refresh. The real cluster's failover is scripts/e2e/ha.

mod common;

use std::net::SocketAddr;
use std::path::Path;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use kubeup::proxy::health::Probe;
use kubeup::proxy::pool::Health;
use kubeup::proxy::{self, state, ProxyArgs, Running};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

/// A backend that greets every connection with its name and then holds it open, silent.
struct Backend {
    addr: SocketAddr,
    accept: tokio::task::JoinHandle<()>,
    conns: Arc<Mutex<Vec<TcpStream>>>,
}

impl Backend {
    async fn start(ip: &str, name: &'static str) -> Backend {
        let l = TcpListener::bind((ip, 0)).await.unwrap();
        let addr = l.local_addr().unwrap();
        let conns: Arc<Mutex<Vec<TcpStream>>> = Arc::default();
        let held = Arc::clone(&conns);
        let accept = tokio::spawn(async move {
            while let Ok((mut s, _)) = l.accept().await {
                let _ = s.write_all(format!("{name}\n").as_bytes()).await;
                held.lock().unwrap().push(s);
            }
        });
        Backend { addr, accept, conns }
    }

    /// The machine is gone and its peers see RSTs: no listener, every connection closed.
    fn kill(&self) {
        self.accept.abort();
        self.conns.lock().unwrap().clear();
    }

    /// The server stops accepting, but the connections it had stay open and silent (a hung
    /// API server, or a peer whose FIN never arrives): only the proxy can end them.
    fn hang(&self) {
        self.accept.abort();
    }
}

fn args(seeds: &[SocketAddr], dir: &Path, probe: Probe, kubeconfig: &Path) -> ProxyArgs {
    ProxyArgs {
        listen: "127.0.0.1:0".into(),
        seeds: seeds.iter().map(|a| a.to_string()).collect(),
        state_dir: dir.to_path_buf(),
        kubeconfig: kubeconfig.to_path_buf(),
        probe,
        check_interval: Duration::from_millis(100),
        check_timeout: Duration::from_millis(300),
        refresh_interval: Duration::from_millis(200),
    }
}

/// The name of the backend a new connection through the proxy reaches.
async fn reach(proxy: SocketAddr) -> Option<String> {
    let mut s = TcpStream::connect(proxy).await.ok()?;
    let mut buf = [0u8; 32];
    let n = tokio::time::timeout(Duration::from_secs(3), s.read(&mut buf)).await.ok()?.ok()?;
    (n > 0).then(|| String::from_utf8_lossy(&buf[..n]).trim().to_string())
}

fn health(p: &Running, addr: &str) -> Option<Health> {
    p.pool.status().into_iter().find(|b| b.address == addr).map(|b| b.health)
}

async fn until(what: &str, limit: Duration, mut f: impl FnMut() -> bool) -> Duration {
    let t0 = Instant::now();
    while !f() {
        assert!(t0.elapsed() < limit, "{what}: not within {limit:?}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    t0.elapsed()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn new_connections_fail_over_at_once_when_a_backend_dies() {
    let (b1, b2) = (Backend::start("127.0.0.2", "b1").await, Backend::start("127.0.0.3", "b2").await);
    let dir = tempfile::tempdir().unwrap();
    let p = proxy::start(args(&[b1.addr, b2.addr], dir.path(), Probe::Connect, &dir.path().join("none"))).await.unwrap();
    let mut seen = Vec::new();
    for _ in 0..4 {
        seen.push(reach(p.local).await.expect("a connection through the proxy"));
    }
    assert!(seen.contains(&"b1".to_string()) && seen.contains(&"b2".to_string()), "round robin over both: {seen:?}");

    b1.kill();
    let t0 = Instant::now();
    // Not one new connection fails: a refused dial goes on to the next backend.
    for i in 0..20 {
        assert_eq!(reach(p.local).await.as_deref(), Some("b2"), "connection {i} after the kill");
    }
    let b1s = b1.addr.to_string();
    until("b1 marked unhealthy", Duration::from_secs(3), || health(&p, &b1s) == Some(Health::Unhealthy)).await;
    eprintln!("b1 unhealthy {:?} after the kill", t0.elapsed());
    let before = p.pool.status().iter().find(|b| b.address == b1s).unwrap().total;
    for _ in 0..10 {
        assert_eq!(reach(p.local).await.as_deref(), Some("b2"));
    }
    assert_eq!(p.pool.status().iter().find(|b| b.address == b1s).unwrap().total, before, "an unhealthy backend gets no new connection");
    p.stop();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn connections_pinned_to_a_backend_that_turns_unhealthy_are_closed() {
    let (b1, b2) = (Backend::start("127.0.0.4", "b1").await, Backend::start("127.0.0.5", "b2").await);
    let dir = tempfile::tempdir().unwrap();
    let p = proxy::start(args(&[b1.addr, b2.addr], dir.path(), Probe::Connect, &dir.path().join("none"))).await.unwrap();
    // A connection that landed on b1.
    let mut pinned = loop {
        let mut s = TcpStream::connect(p.local).await.unwrap();
        let mut buf = [0u8; 3];
        s.read_exact(&mut buf).await.unwrap();
        if &buf == b"b1\n" {
            break s;
        }
    };
    b1.hang();
    let t0 = Instant::now();
    let mut buf = [0u8; 8];
    // Without the proxy this read would wait forever: b1 holds the socket open and silent.
    let n = tokio::time::timeout(Duration::from_secs(5), pinned.read(&mut buf)).await.expect("the pinned connection was closed").unwrap_or(0);
    assert_eq!(n, 0, "closed, not answered");
    eprintln!("pinned connection closed {:?} after b1 hung", t0.elapsed());
    assert_eq!(health(&p, &b1.addr.to_string()), Some(Health::Unhealthy));
    assert_eq!(reach(p.local).await.as_deref(), Some("b2"), "the client's reconnect lands on the healthy backend");
    p.stop();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn refreshing_the_list_while_connections_flow_never_blocks_them() {
    let b1 = Backend::start("127.0.0.6", "b1").await;
    let b2 = Backend::start("127.0.0.7", "b2").await;
    let b3 = Backend::start("127.0.0.8", "b3").await;
    let dir = tempfile::tempdir().unwrap();
    let p = proxy::start(args(&[b1.addr], dir.path(), Probe::Connect, &dir.path().join("none"))).await.unwrap();
    let pool = Arc::clone(&p.pool);
    let (a2, a3) = (b2.addr.to_string(), b3.addr.to_string());
    // Refreshes and health reports as fast as they go, from a thread of their own.
    let stop = Arc::new(std::sync::atomic::AtomicBool::new(false));
    let churn = {
        let (pool, stop) = (Arc::clone(&pool), Arc::clone(&stop));
        std::thread::spawn(move || {
            let mut n = 0u64;
            while !stop.load(std::sync::atomic::Ordering::Relaxed) {
                let list = if n.is_multiple_of(2) { vec![a2.clone()] } else { vec![a2.clone(), a3.clone()] };
                pool.replace(&list);
                pool.report(&a3, if n.is_multiple_of(3) { Err("flap".into()) } else { Ok(()) });
                let _ = pool.status();
                n += 1;
            }
            n
        })
    };
    let local = p.local;
    // A connection that lands on b3 may be closed on purpose (b3 leaves the list and flaps);
    // none may hang, and those on b1 and b2 must get through.
    let clients: Vec<_> = (0..8)
        .map(|_| {
            tokio::spawn(async move {
                let mut ok = 0;
                for _ in 0..25 {
                    let mut s = TcpStream::connect(local).await.expect("the proxy accepts");
                    let mut buf = [0u8; 8];
                    match tokio::time::timeout(Duration::from_secs(5), s.read(&mut buf)).await {
                        Ok(Ok(n)) if n > 0 => ok += 1,
                        Ok(_) => {}
                        Err(_) => panic!("a connection hung during refreshes"),
                    }
                }
                ok
            })
        })
        .collect();
    let all = tokio::time::timeout(Duration::from_secs(30), futures_util::future::join_all(clients)).await.expect("no deadlock: 200 connections within 30 s");
    let ok: usize = all.into_iter().map(|c| c.unwrap()).sum();
    assert!(ok >= 100, "only {ok} of 200 connections got through while the list changed");
    stop.store(true, std::sync::atomic::Ordering::Relaxed);
    let rounds = churn.join().unwrap();
    assert!(rounds > 100, "the refresher ran concurrently ({rounds} rounds)");
    // The backends hold their ends open (the proxy passes half-closes on, as TCP should);
    // once they close, every connection ends and releases its count.
    for b in [&b1, &b2, &b3] {
        b.kill();
    }
    until("every count released", Duration::from_secs(5), || pool.status().iter().map(|b| b.active).sum::<usize>() == 0).await;
    p.stop();
}

/// Two TLS API server doubles with the cluster's serving certificate: the real `/readyz`
/// check, the list from `default/kubernetes` fetched through the proxy, the cache file, and a
/// restart from it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn readyz_decides_health_and_the_list_comes_from_the_cluster_and_survives_a_restart() {
    let (root, a, _) = tokio::task::spawn_blocking(|| common::prepared("v1.37.2")).await.unwrap();
    let b = common::apiserver::TestApiServer::for_root(root.path(), 0);
    let (aa, ba) = (format!("127.0.0.1:{}", a.port), format!("127.0.0.1:{}", b.port));
    let endpoints = serde_json::json!({
        "apiVersion": "v1", "kind": "Endpoints",
        "metadata": { "name": "kubernetes", "namespace": "default" },
        "subsets": [{ "addresses": [{ "ip": "127.0.0.1" }], "ports": [{ "name": "https", "port": b.port, "protocol": "TCP" }] }],
    });
    a.store("", "default", "endpoints", endpoints.clone());
    b.store("", "default", "endpoints", endpoints);
    let ca = common::host(root.path(), "/etc/kubernetes/pki/ca.crt");
    // system:masters: the double has no RBAC bindings here (a node's own credentials may
    // `get` Endpoints on a real cluster: the system:node rules).
    let admin = common::host(root.path(), "/etc/kubernetes/super-admin.conf");
    let dir = tempfile::tempdir().unwrap();
    let seed: SocketAddr = aa.parse().unwrap();
    let p = proxy::start(args(&[seed], dir.path(), Probe::Readyz { ca_file: ca.clone() }, &admin)).await.unwrap();

    // The seed answers /readyz with 200 over TLS checked against the cluster CA.
    until("seed healthy", Duration::from_secs(5), || health(&p, &aa) == Some(Health::Healthy)).await;
    // The refresh, through the proxy itself, adds the server the cluster lists, and saves it.
    until("b learned from the cluster", Duration::from_secs(10), || health(&p, &ba) == Some(Health::Healthy)).await;
    let cache = state::read_cache(dir.path()).0;
    assert_eq!(cache.backends, vec![ba.clone()], "the cache keeps what the cluster listed");
    until("status file", Duration::from_secs(3), || state::read_status(dir.path()).is_ok_and(|s| s.backends.len() == 2 && s.last_refresh.is_some())).await;

    // Not ready (HTTP 500 on /readyz) means unhealthy, and no new connection goes there.
    a.state.lock().unwrap().ready_at = Some(Instant::now() + Duration::from_secs(3600));
    until("a unhealthy on 500", Duration::from_secs(5), || health(&p, &aa) == Some(Health::Unhealthy)).await;
    let before = p.pool.status().iter().find(|s| s.address == aa).unwrap().total;
    for _ in 0..6 {
        TcpStream::connect(p.local).await.unwrap();
    }
    tokio::time::sleep(Duration::from_millis(200)).await;
    assert_eq!(p.pool.status().iter().find(|s| s.address == aa).unwrap().total, before);
    p.stop();

    // A restart with no seed at all starts from the cache alone.
    let p2 = proxy::start(args(&[], dir.path(), Probe::Readyz { ca_file: ca }, &admin)).await.unwrap();
    assert_eq!(p2.pool.addresses(), vec![ba.clone()]);
    until("cached backend healthy", Duration::from_secs(5), || health(&p2, &ba) == Some(Health::Healthy)).await;
    p2.stop();
    let dir2 = tempfile::tempdir().unwrap();
    assert!(proxy::start(args(&[], dir2.path(), Probe::Connect, &admin)).await.is_err(), "no seed and no cache: refused");
    drop((a, b));
}
