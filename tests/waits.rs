//! wait-control-plane's waits and diagnoses. The API server is the in-process TEST DOUBLE
//! (tests/common/apiserver.rs); the crash-looping kubelet is a real container on this machine's
//! Docker (labelled io.kubeup.test=<id>, removed at the end).

mod common;
use common::*;
use kubeup::cluster::health::Probe;
use kubeup::host::HostRoot;
use kubeup::plan::WaitTarget;
use std::path::Path;
use std::time::{Duration, Instant};

async fn probe_for(root: &Path, admin: bool) -> (HostRoot, Option<kube::Client>) {
    let host_root = HostRoot::open(root).unwrap();
    let client = if admin {
        let text = std::fs::read_to_string(host(root, "/etc/kubernetes/admin.conf")).unwrap();
        Some(kubeup::cluster::client::client_from_kubeconfig(&text, "admin.conf").await.unwrap())
    } else {
        None
    };
    (host_root, client)
}

fn static_pod_log(root: &Path, component: &str, text: &str) {
    let dir = root.join(format!("var/log/pods/kube-system_{component}-cp-1_0123/{component}"));
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(dir.join("0.log"), text).unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn readiness_is_noticed_within_250_ms_of_the_flip() {
    let (root, server, _port) = prepared("v1.37.2");
    let (host_root, admin) = probe_for(root.path(), true).await;
    let probe = Probe { root: &host_root, docker: None, kubelet: "none".into(), admin, cert_dir: "/etc/kubernetes/pki".into(), node_name: "cp-1".into() };
    let mut lags = Vec::new();
    for _ in 0..3 {
        let flip = Instant::now() + Duration::from_millis(700);
        server.state.lock().unwrap().ready_at = Some(flip);
        probe.wait(WaitTarget::ApiServer, Duration::from_secs(10)).await.unwrap();
        let noticed = Instant::now();
        assert!(noticed >= flip, "ready was reported before the flip");
        lags.push(noticed - flip);
    }
    assert!(lags.iter().all(|l| *l < Duration::from_millis(250)), "noticed after {lags:?}");
}

async fn diagnosis(target: WaitTarget, setup: impl FnOnce(&Path)) -> String {
    let (root, server, _port) = prepared("v1.37.2");
    server.state.lock().unwrap().ready_at = Some(Instant::now() + Duration::from_secs(3600));
    setup(root.path());
    let (host_root, admin) = probe_for(root.path(), true).await;
    let probe = Probe { root: &host_root, docker: None, kubelet: "none".into(), admin, cert_dir: "/etc/kubernetes/pki".into(), node_name: "cp-1".into() };
    probe.wait(target, Duration::from_secs(1)).await.unwrap_err()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_apiserver_that_exited_with_a_certificate_error_is_diagnosed() {
    let d = diagnosis(WaitTarget::ApiServer, |r| {
        static_pod_log(
            r,
            "kube-apiserver",
            "E1121 storage_decorator.go] transport: authentication handshake failed: x509: certificate signed by unknown authority\n",
        )
    })
    .await;
    assert!(
        d.contains("waiting for kube-apiserver's /readyz") && d.contains("static pod kube-apiserver") && d.contains("likely cause: certificate error"),
        "{d}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_port_conflict_is_diagnosed() {
    let d = diagnosis(WaitTarget::ApiServer, |r| {
        static_pod_log(r, "kube-apiserver", "failed to listen on 0.0.0.0:6443: listen tcp 0.0.0.0:6443: bind: address already in use\n")
    })
    .await;
    assert!(d.contains("waiting for kube-apiserver's /readyz") && d.contains("likely cause: port conflict"), "{d}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_unhealthy_etcd_is_diagnosed() {
    // Nothing answers as etcd on 127.0.0.1:2379 here; its log says why.
    let d = diagnosis(WaitTarget::Etcd, |r| static_pod_log(r, "etcd", "etcdmain: open /var/lib/etcd/member/snap/db: permission denied\n")).await;
    assert!(
        d.contains("waiting for etcd's /health") && d.contains("static pod etcd") && d.contains("likely cause: a file or directory is not accessible"),
        "{d}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_crash_looping_kubelet_container_is_diagnosed() {
    let id = format!("{:08x}", std::process::id() ^ (Instant::now().elapsed().subsec_nanos()));
    let label = format!("io.kubeup.test={id}");
    let tag = format!("kubeup-test/crashing-kubelet:{id}");
    let name = format!("kubeup-test-{id}-kubelet");
    struct Cleanup(String, String);
    impl Drop for Cleanup {
        fn drop(&mut self) {
            let _ = std::process::Command::new("docker").args(["rm", "-f", &self.0]).output();
            let _ = std::process::Command::new("docker").args(["rmi", "-f", &self.1]).output();
        }
    }
    let _cleanup = Cleanup(name.clone(), tag.clone());
    let ctx = tempfile::tempdir().unwrap();
    let (ok, out) = tool(
        "gcc",
        &["-Os", "-static", "-o", ctx.path().join("kubelet").to_str().unwrap(), concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures/crashing-kubelet.c")],
    );
    assert!(ok, "{out}");
    std::fs::write(ctx.path().join("Dockerfile"), "FROM scratch\nCOPY kubelet /kubelet\nENTRYPOINT [\"/kubelet\"]\n").unwrap();
    let o =
        std::process::Command::new("docker").env("DOCKER_BUILDKIT", "0").args(["build", "-q", "-t", &tag, "--label", &label]).arg(ctx.path()).output().unwrap();
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let (ok, out) = tool("docker", &["run", "-d", "--name", &name, "--label", &label, "--restart", "always", &tag]);
    assert!(ok, "{out}");
    let rt = kubeup::runtime::Runtime::connect(Path::new("/var/run/docker.sock")).await.unwrap();
    let root = tempfile::tempdir().unwrap();
    let host_root = HostRoot::open(root.path()).unwrap();
    let probe =
        Probe { root: &host_root, docker: Some(&rt), kubelet: name.clone(), admin: None, cert_dir: "/etc/kubernetes/pki".into(), node_name: "cp-1".into() };
    // Running now and then between restarts: the stage that catches it is the steady-running one.
    let mut d = String::new();
    let started = Instant::now();
    while started.elapsed() < Duration::from_secs(30) {
        match probe.wait(WaitTarget::KubeletContainer, Duration::from_secs(30)).await {
            Err(e) => {
                d = e;
                break;
            }
            Ok(_) => tokio::time::sleep(Duration::from_millis(300)).await,
        }
    }
    assert!(d.contains("waiting for the kubelet container running steadily") && d.contains("restarted"), "{d}");
    assert!(d.contains("running with swap on is not supported") && d.contains("likely cause: swap is on"), "{d}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_serving_certificate_without_the_address_is_diagnosed_from_the_servers_answer() {
    // The API server is reached by a name its certificate lacks (as with a wrong SAN).
    let (root, _server, _port) = prepared("v1.37.2");
    let text = std::fs::read_to_string(host(root.path(), "/etc/kubernetes/admin.conf")).unwrap().replace("https://127.0.0.1:", "https://localhost:");
    let admin = Some(kubeup::cluster::client::client_from_kubeconfig(&text, "admin.conf").await.unwrap());
    let host_root = HostRoot::open(root.path()).unwrap();
    let probe = Probe { root: &host_root, docker: None, kubelet: "none".into(), admin, cert_dir: "/etc/kubernetes/pki".into(), node_name: "cp-1".into() };
    let d = probe.wait(WaitTarget::ApiServer, Duration::from_secs(1)).await.unwrap_err();
    assert!(d.contains("last answer:") && d.contains("localhost") && d.contains("likely cause: certificate error"), "{d}");
}
