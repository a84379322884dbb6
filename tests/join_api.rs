//! `kubeup join` against the in-process TEST DOUBLE of the API server: discovery round trip,
//! the worker's files, and the security cases, each of which must fail with a message naming
//! the reason and write nothing to the joining host. (The real join is in scripts/e2e/run.)

mod common;
use common::apiserver::Faults;
use common::*;
use std::path::Path;

const VERSION: &str = "v1.37.2";

/// A cluster initialised against the test server: (root, server, port, token, CA hash).
fn cluster() -> (tempfile::TempDir, common::apiserver::TestApiServer, u16, String, String) {
    let (root, server, port) = prepared(VERSION);
    let r = api_init(root.path(), port, VERSION, &[]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    let token = kept_token(root.path(), "/var/lib/kubeup/bootstrap-token");
    let (ok, hash) = tool(
        "sh",
        &[
            "-c",
            &format!(
                "openssl x509 -pubkey -noout -in {} | openssl pkey -pubin -outform der | sha256sum | cut -d' ' -f1",
                host(root.path(), "/etc/kubernetes/pki/ca.crt").display()
            ),
        ],
    );
    assert!(ok, "{hash}");
    (root, server, port, token, format!("sha256:{}", hash.trim()))
}

fn join(node: &Path, args: &[&str]) -> Run {
    let mut c = kubeup();
    c.env("KUBEUP_DISCOVERY_INTERVAL_MS", "100");
    c.arg("join").args(args).args(["--host-root", node.to_str().unwrap(), "--host-pid", NO_SUCH_PID, "--node-name", "worker-1"]);
    Run::from(c.output().unwrap())
}

/// Run a join that must fail, and require that the joining host is untouched.
fn refused(args: &[&str], code: i32, reason: &str) {
    let node = tempfile::tempdir().unwrap();
    std::fs::create_dir_all(node.path().join("etc")).unwrap();
    let before = snapshot(node.path());
    let r = join(node.path(), args);
    assert_eq!(r.code, code, "stdout:\n{}\nstderr:\n{}", r.stdout, r.stderr);
    assert!(r.stderr.contains(reason), "expected {reason:?} in:\n{}", r.stderr);
    assert_eq!(snapshot(node.path()), before, "the joining host was changed");
}

#[test]
fn discovery_prints_the_verified_server_and_ca_and_writes_nothing() {
    let (_root, _server, port, token, hash) = cluster();
    let node = tempfile::tempdir().unwrap();
    let ep = format!("127.0.0.1:{port}");
    let r = join(node.path(), &["phase", "discovery", &ep, "--token", &token, "--discovery-token-ca-cert-hash", &hash]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert!(r.stdout.contains(&format!("API server https://127.0.0.1:{port}")) && r.stdout.contains(&hash), "{}", r.stdout);
    assert!(std::fs::read_dir(node.path()).unwrap().next().is_none(), "discovery wrote to the host");
}

#[test]
fn a_worker_gets_the_ca_the_bootstrap_kubeconfig_and_the_clusters_kubelet_config() {
    let (root, server, port, token, hash) = cluster();
    let node = tempfile::tempdir().unwrap();
    let ep = format!("127.0.0.1:{port}");
    // KUBEUP_SKIP_EFFECTS: the files for real; the kubelet container recorded, not run. The
    // bootstrap wait is skipped: it ends by removing the bootstrap kubeconfig checked here.
    let r = join(node.path(), &[&ep, "--token", &token, "--discovery-token-ca-cert-hash", &hash, "--skip-phases", "preflight,kubelet-wait-bootstrap"]);
    assert_eq!(r.code, 0, "stdout:\n{}\nstderr:\n{}", r.stdout, r.stderr);
    let read = |r: &Path, p: &str| std::fs::read_to_string(host(r, p)).unwrap();
    assert_eq!(read(node.path(), "/etc/kubernetes/pki/ca.crt"), read(root.path(), "/etc/kubernetes/pki/ca.crt"));
    let cm = server.state.lock().unwrap().get("", "kube-system", "configmaps", "kubelet-config").unwrap()["data"]["kubelet"].as_str().unwrap().to_string();
    // The cluster's kubelet configuration with this node's own CRI socket merged in (1.34+,
    // kubeadm's instance-config.yaml), never another node's.
    let mut want: serde_json::Value = serde_saphyr::from_str(&cm).unwrap();
    assert!(want.get("containerRuntimeEndpoint").is_none(), "the ConfigMap holds no node's socket: {cm}");
    want["containerRuntimeEndpoint"] = "unix:///run/containerd/containerd.sock".into();
    let got: serde_json::Value = serde_saphyr::from_str(&read(node.path(), "/var/lib/kubelet/config.yaml")).unwrap();
    assert_eq!(got, want);
    assert!(read(node.path(), "/var/lib/kubelet/instance-config.yaml").contains("containerRuntimeEndpoint: unix:///run/containerd/containerd.sock"));
    let boot = host(node.path(), "/etc/kubernetes/bootstrap-kubelet.conf");
    let (ok, view) = tool(
        "kubectl",
        &["--kubeconfig", boot.to_str().unwrap(), "config", "view", "--raw", "-o", "jsonpath={.clusters[0].cluster.server} {.users[0].user.token}"],
    );
    assert!(ok, "{view}");
    // The kubelet talks through the node-local API proxy (on the API port, on loopback), which
    // is started before it and knows the API server discovery verified.
    assert_eq!(view, format!("https://127.0.0.1:6443 {token}"));
    let proxy_at = r.stdout.find("[api-proxy] container kubeup-api-proxy created").expect(&r.stdout);
    assert!(proxy_at < r.stdout.find("[kubelet-start] container kubeup-kubelet").expect(&r.stdout), "{}", r.stdout);
    let record = read(node.path(), "/var/lib/kubeup/install-record.json");
    assert!(record.contains("kubeup-api-proxy"), "reset must find the proxy: {record}");
    use std::os::unix::fs::PermissionsExt;
    assert_eq!(std::fs::metadata(&boot).unwrap().permissions().mode() & 0o777, 0o600);
    assert!(!host(node.path(), "/etc/kubernetes/pki/ca.key").exists(), "a worker must not get the CA key");
    // The bootstrap token read the cluster's config through kubeadm's RBAC, not as an admin.
    let log = server.state.lock().unwrap().log.clone();
    assert!(log.iter().any(|l| l.contains("GET /api/v1/namespaces/kube-system/configmaps/kubelet-config -> 200 (system:bootstrap:")), "{log:#?}");
}

#[test]
fn a_ready_node_of_the_same_name_is_not_taken_over() {
    let (_root, server, port, token, hash) = cluster();
    server.add_node("worker-1", "192.0.2.20", true);
    let ep = format!("127.0.0.1:{port}");
    refused(&[&ep, "--token", &token, "--discovery-token-ca-cert-hash", &hash], 1, "a Ready node named worker-1 already exists");
}

#[test]
fn a_server_with_another_ca_than_the_pin_is_refused() {
    let (_root, _server, _port, _token, hash_a) = cluster();
    let (_root_b, _server_b, port_b, token_b, _hash_b) = cluster();
    let ep = format!("127.0.0.1:{port_b}");
    refused(&[&ep, "--token", &token_b, "--discovery-token-ca-cert-hash", &hash_a], 1, "matches none of the --discovery-token-ca-cert-hash values");
}

#[test]
fn a_signature_made_with_another_secret_is_refused() {
    let (_root, _server, port, token, hash) = cluster();
    let forged = format!("{}.{}", &token[..6], "0123456789abcdef");
    let ep = format!("127.0.0.1:{port}");
    refused(&[&ep, "--token", &forged, "--discovery-token-ca-cert-hash", &hash], 1, "not with this token's secret");
}

#[test]
fn a_missing_signature_is_waited_for_until_the_timeout() {
    let (_root, _server, port, _token, hash) = cluster();
    let ep = format!("127.0.0.1:{port}");
    let started = std::time::Instant::now();
    refused(
        &[&ep, "--token", "zzzzzz.0123456789abcdef", "--discovery-token-ca-cert-hash", &hash, "--discovery-timeout", "2s"],
        1,
        "has no signature for token id \"zzzzzz\"",
    );
    assert!(started.elapsed() >= std::time::Duration::from_secs(2), "gave up before the timeout");
}

#[test]
fn content_changed_between_the_two_fetches_is_refused() {
    let (_root, server, port, token, hash) = cluster();
    let original =
        server.state.lock().unwrap().get("", "kube-public", "configmaps", "cluster-info").unwrap()["data"]["kubeconfig"].as_str().unwrap().to_string();
    server.faults(Faults { tamper_cluster_info: Some(original.replace("127.0.0.1", "127.0.0.2")), ..Default::default() });
    let ep = format!("127.0.0.1:{port}");
    refused(&[&ep, "--token", &token, "--discovery-token-ca-cert-hash", &hash], 1, "changed between the unverified and the verified fetch");
}

#[test]
fn malformed_tokens_and_hashes_are_refused_before_anything_is_contacted() {
    let pin = format!("sha256:{}", "a".repeat(64));
    refused(&["127.0.0.1:1", "--token", "ABCDEF.0123456789abcdef", "--discovery-token-ca-cert-hash", &pin], 2, "expected the format [a-z0-9]{6}.[a-z0-9]{16}");
    refused(&["127.0.0.1:1", "--token", "abcdef.0123456789abcdef", "--discovery-token-ca-cert-hash", "sha256:1234"], 2, "expected sha256:<64 hex digits>");
    refused(&["127.0.0.1:1", "--token", "abcdef.0123456789abcdef"], 1, "no --discovery-token-ca-cert-hash given");
}

#[test]
fn an_unreachable_endpoint_is_named_after_the_timeout() {
    let port = free_port();
    let pin = format!("sha256:{}", "a".repeat(64));
    refused(
        &[&format!("127.0.0.1:{port}"), "--token", "abcdef.0123456789abcdef", "--discovery-token-ca-cert-hash", &pin, "--discovery-timeout", "1s"],
        1,
        "cannot reach the API server at 127.0.0.1",
    );
}

#[test]
fn a_json_plan_of_join_is_json_alone_on_stdout() {
    let (_root, _server, port, token, hash) = cluster();
    let node = tempfile::tempdir().unwrap();
    let ep = format!("127.0.0.1:{port}");
    let r = join(node.path(), &[&ep, "--token", &token, "--discovery-token-ca-cert-hash", &hash, "--dry-run", "-o", "json"]);
    assert_eq!(r.code, 0, "stdout:\n{}\nstderr:\n{}", r.stdout, r.stderr);
    let v: serde_json::Value = serde_json::from_str(&r.stdout).unwrap_or_else(|e| panic!("stdout is not JSON ({e}):\n{}", r.stdout));
    assert!(v.is_object(), "{v}");
    assert!(r.stderr.contains("[discovery] cluster-info verified"), "{}", r.stderr);
}
