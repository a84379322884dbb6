//! `kubeup join --control-plane` with two scratch host roots as two nodes: the API side is the
//! in-process TEST DOUBLE (tests/common/apiserver.rs), etcd is Debian's real etcd 3.4 run with
//! each node's rendered command line (node 1 on 127.0.0.1, node 2 on 127.0.0.2). Proves the
//! shared material arrives byte-identical, node 2 gets its own leaf certificates, its etcd
//! manifest names both members, and the learner-add/promote flow works on real etcd.

mod common;
use common::*;
use k8s_openapi::api::core::v1::Pod;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

const VERSION: &str = "v1.20.2";

/// Start etcd with the command line of `root`'s etcd manifest, paths mapped into the root.
fn start_etcd(root: &Path) -> KillOnDrop {
    let r = root.to_str().unwrap();
    let manifest = std::fs::read_to_string(host(root, "/etc/kubernetes/manifests/etcd.yaml")).unwrap();
    let pod: Pod = serde_saphyr::from_str(&manifest).unwrap();
    let cmd = pod.spec.unwrap().containers[0].command.clone().unwrap();
    let args: Vec<String> = cmd[1..]
        .iter()
        .filter(|a| !a.starts_with("--listen-metrics-urls"))
        .map(|a| a.replace("=/etc/kubernetes", &format!("={r}/etc/kubernetes")).replace("=/var/lib/etcd", &format!("={r}/var/lib/etcd")))
        .collect();
    let log = std::fs::File::create(root.join("etcd.log")).unwrap();
    KillOnDrop(
        Command::new("etcd").args(&args).stdin(Stdio::null()).stdout(log.try_clone().unwrap()).stderr(log).spawn().expect("etcd (etcd-server) is required"),
    )
}

fn etcdctl(root: &Path, endpoint: &str, args: &[&str]) -> (bool, String) {
    let pki = |f: &str| host(root, &format!("/etc/kubernetes/pki/{f}")).to_str().unwrap().to_string();
    let mut all = vec!["--endpoints", endpoint, "--dial-timeout", "2s", "--command-timeout", "5s"];
    let (ca, cert, key) = (pki("etcd/ca.crt"), pki("apiserver-etcd-client.crt"), pki("apiserver-etcd-client.key"));
    all.extend(["--cacert", &ca, "--cert", &cert, "--key", &key]);
    all.extend(args);
    tool("etcdctl", &all)
}

fn wait_for(what: &str, mut f: impl FnMut() -> (bool, String)) -> String {
    let deadline = Instant::now() + Duration::from_secs(40);
    loop {
        let (ok, out) = f();
        if ok {
            return out;
        }
        assert!(Instant::now() < deadline, "{what}: {out}");
        std::thread::sleep(Duration::from_millis(300));
    }
}

#[test]
fn a_second_control_plane_node_gets_the_shared_pki_its_own_certs_and_joins_etcd() {
    // A SAN the user asked for on init must reach every control plane (issue #14, row 8).
    let sans = ["--apiserver-cert-extra-sans", "api.example.test"];
    let (root_a, _server, port) = prepared_with(VERSION, &sans);
    let r = api_init(root_a.path(), port, VERSION, &["--upload-certs", sans[0], sans[1]]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    let line = r.stdout.lines().find(|l| l.contains("--control-plane --certificate-key")).expect("a control-plane join command").to_string();
    let key = line.rsplit(' ').next().unwrap().to_string();
    let words: Vec<&str> = line.split_whitespace().collect();
    let at = |flag: &str| words[words.iter().position(|w| *w == flag).unwrap() + 1].to_string();
    let (token, hash) = (at("--token"), at("--discovery-token-ca-cert-hash"));
    assert_eq!(at("--certificate-key"), key);

    let _etcd_a = start_etcd(root_a.path());
    wait_for("etcd on node 1", || etcdctl(root_a.path(), "https://127.0.0.1:2379", &["endpoint", "health"]));

    // Node 2 joins with the printed command's flags (files only: no containers here).
    let root_b = tempfile::tempdir().unwrap();
    let mut c = kubeup();
    c.env("KUBEUP_ETCD_ENDPOINT", "https://127.0.0.1:2379");
    c.args(["join", &format!("127.0.0.1:{port}"), "--token", &token, "--discovery-token-ca-cert-hash", &hash, "--control-plane", "--certificate-key", &key]);
    c.args([
        "--host-root",
        root_b.path().to_str().unwrap(),
        "--host-pid",
        NO_SUCH_PID,
        "--node-name",
        "cp-2",
        "--apiserver-advertise-address",
        "127.0.0.2",
        "--skip-phases",
        "preflight",
    ]);
    let j = Run::from(c.output().unwrap());
    assert_eq!(j.code, 0, "stdout:\n{}\nstderr:\n{}", j.stdout, j.stderr);

    let read = |root: &Path, f: &str| std::fs::read(host(root, &format!("/etc/kubernetes/pki/{f}"))).unwrap();
    for f in ["ca.crt", "ca.key", "front-proxy-ca.crt", "front-proxy-ca.key", "sa.pub", "sa.key", "etcd/ca.crt", "etcd/ca.key"] {
        assert_eq!(read(root_a.path(), f), read(root_b.path(), f), "{f} must be the cluster's, byte for byte");
    }
    for f in ["apiserver.key", "etcd/server.key", "etcd/peer.key", "apiserver-etcd-client.key", "front-proxy-client.key"] {
        assert_ne!(read(root_a.path(), f), read(root_b.path(), f), "{f} must be node 2's own");
    }
    let crt = host(root_b.path(), "/etc/kubernetes/pki/apiserver.crt");
    let (_, text) = tool("openssl", &["x509", "-noout", "-text", "-in", crt.to_str().unwrap()]);
    assert!(text.contains("IP Address:127.0.0.2") && text.contains("DNS:cp-2"), "{text}");
    assert!(text.contains("DNS:api.example.test"), "the user's certSANs travel in kubeadm-config to node 2: {text}");
    // kubeadm's CreateJoinControlPlaneKubeConfigFiles: admin, controller-manager and scheduler
    // only; the kubelet bootstraps its own credentials (issue #14, row 7).
    for f in ["admin.conf", "controller-manager.conf", "scheduler.conf"] {
        assert!(host(root_b.path(), &format!("/etc/kubernetes/{f}")).exists(), "{f} on node 2");
    }
    for f in ["super-admin.conf", "kubelet.conf"] {
        assert!(!host(root_b.path(), &format!("/etc/kubernetes/{f}")).exists(), "{f} must not be made on a joining control plane");
    }
    assert!(j.stdout.contains("TLS bootstrap"), "the kubelet's TLS bootstrap is awaited: {}", j.stdout);
    let ca = host(root_b.path(), "/etc/kubernetes/pki/ca.crt");
    let (ok, v) = tool("openssl", &["verify", "-CAfile", ca.to_str().unwrap(), crt.to_str().unwrap()]);
    assert!(ok, "{v}");
    let manifest = std::fs::read_to_string(host(root_b.path(), "/etc/kubernetes/manifests/etcd.yaml")).unwrap();
    assert!(manifest.contains("--initial-cluster=cp-1=https://127.0.0.1:2380,cp-2=https://127.0.0.2:2380"), "{manifest}");
    assert!(manifest.contains("--initial-cluster-state=existing"), "{manifest}");
    assert!(host(root_b.path(), "/etc/kubernetes/manifests/kube-apiserver.yaml").exists());
    assert!(j.stdout.contains("add https://127.0.0.2:2380 to etcd as a learner"), "{}", j.stdout);

    // The etcd side of the join, as its effects run it, on the real etcd: learner, start, promote.
    let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
    let _in_runtime = rt.enter();
    let pair = kubeup::pki::CertPair {
        cert_pem: String::from_utf8(read(root_b.path(), "etcd/ca.crt")).unwrap(),
        key_pem: String::from_utf8(read(root_b.path(), "etcd/ca.key")).unwrap(),
    };
    let etcd = kubeup::cluster::etcd::Etcd::connect("https://127.0.0.1:2379", &pair).unwrap();
    rt.block_on(etcd.add_learner("https://127.0.0.2:2380")).unwrap();
    let list = etcdctl(root_a.path(), "https://127.0.0.1:2379", &["member", "list"]).1;
    assert!(list.lines().any(|l| l.contains("https://127.0.0.2:2380") && l.trim_end().ends_with("true")), "a learner: {list}");
    let _etcd_b = start_etcd(root_b.path());
    rt.block_on(etcd.promote("https://127.0.0.2:2380", Duration::from_secs(40))).unwrap();
    let list = wait_for("two voting members", || {
        let (ok, out) = etcdctl(root_a.path(), "https://127.0.0.1:2379", &["member", "list"]);
        (ok && out.lines().filter(|l| l.contains("started") && l.trim_end().ends_with("false")).count() == 2, out)
    });
    assert!(list.contains("cp-1") && list.contains("cp-2"), "{list}");
    wait_for("node 2's etcd serves", || etcdctl(root_b.path(), "https://127.0.0.2:2379", &["endpoint", "health"]));

    // reset on node 2 leaves etcd; the last member is never removed.
    let said = rt.block_on(etcd.remove("https://127.0.0.2:2380")).unwrap();
    assert!(said.contains("removed"), "{said}");
    let said = rt.block_on(etcd.remove("https://127.0.0.1:2380")).unwrap();
    assert!(said.contains("last member; kept"), "{said}");
    let list = etcdctl(root_a.path(), "https://127.0.0.1:2379", &["member", "list"]).1;
    assert!(list.contains("cp-1") && !list.contains("cp-2"), "{list}");
}
