//! `init`'s API flows against the in-process TEST DOUBLE of the API server
//! (tests/common/apiserver.rs): the object set (golden), re-runs that change nothing, retries
//! of transient failures, a permanent failure's message, and the readiness wait. This is not a
//! cluster; scripts/e2e/run proves the real one.

mod common;
use common::apiserver::Faults;
use common::*;
use std::path::Path;

fn golden(name: &str, actual: &str) {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/golden").join(name);
    if std::env::var_os("UPDATE_GOLDEN").is_some() {
        std::fs::write(&path, actual).unwrap();
        return;
    }
    let expected = std::fs::read_to_string(&path).unwrap_or_default();
    assert_eq!(expected, actual, "{name} differs (UPDATE_GOLDEN=1 to accept)");
}

fn object_set_and_rerun(version: &str, tag: &str) {
    let (root, server, port) = prepared(version);
    let r = api_init(root.path(), port, version, &[]);
    assert_eq!(r.code, 0, "stdout:\n{}\nstderr:\n{}", r.stdout, r.stderr);
    golden(&format!("objects-{tag}.txt"), &(server.object_set().join("\n") + "\n"));
    // cluster-info is signed at once for the token kubeup keeps, and readable anonymously only now.
    let token = kept_token(root.path(), "/var/lib/kubeup/bootstrap-token");
    let id = token.split('.').next().unwrap().to_string();
    {
        let s = server.state.lock().unwrap();
        let ci = s.get("", "kube-public", "configmaps", "cluster-info").unwrap();
        assert!(ci["data"][format!("jws-kubeconfig-{id}")].as_str().unwrap().contains(".."));
        let node = s.get("", "", "nodes", "cp-1").unwrap();
        assert!(node["spec"]["taints"].to_string().contains("NoSchedule"), "{node}");
    }
    let rv_before = server.state.lock().unwrap().rv;
    let again = api_init(root.path(), port, version, &[]);
    assert_eq!(again.code, 0, "{}", again.stderr);
    assert_eq!(server.state.lock().unwrap().rv, rv_before, "a re-run changed objects:\n{}", again.stdout);
    assert!(!again.stdout.lines().any(|l| l.contains("API objects:") && (l.contains("created") || l.contains("updated"))), "{}", again.stdout);
    assert!(again.stdout.contains("node cp-1 already marked"), "{}", again.stdout);
}

#[test]
fn init_creates_kubeadms_object_set_and_a_rerun_changes_nothing_v1_20() {
    object_set_and_rerun("v1.20.2", "v1.20");
}

#[test]
fn init_creates_kubeadms_object_set_and_a_rerun_changes_nothing_default() {
    object_set_and_rerun("v1.37.2", "default");
}

#[test]
fn transient_failures_are_retried_and_init_completes() {
    let (root, server, port) = prepared("v1.37.2");
    server.faults(Faults { fail_next: 3, drop_next: 2, delay: std::time::Duration::from_millis(20), ..Default::default() });
    let r = api_init(root.path(), port, "v1.37.2", &[]);
    assert_eq!(r.code, 0, "stdout:\n{}\nstderr:\n{}", r.stdout, r.stderr);
    let log = server.state.lock().unwrap().log.clone();
    assert!(log.iter().filter(|l| l.contains("-> 500")).count() == 3 && log.iter().filter(|l| l.contains("dropped")).count() == 2, "{log:#?}");
    assert!(server.object_set().iter().any(|o| o.starts_with("DaemonSet kube-system/kube-proxy")));
}

#[test]
fn a_slow_server_is_waited_for() {
    let (root, server, port) = prepared("v1.37.2");
    server.faults(Faults { delay: std::time::Duration::from_millis(150), ..Default::default() });
    let r = api_init(root.path(), port, "v1.37.2", &["--skip-phases", "preflight,prepare-host,kubelet-start,wait-control-plane,cert-renewer,addon"]);
    assert_eq!(r.code, 0, "{}", r.stderr);
}

#[test]
fn a_permanent_failure_names_the_object_and_the_http_error() {
    let (root, server, port) = prepared("v1.37.2");
    server.faults(Faults { permanent: Some(("/configmaps/kubeadm-config".into(), 422)), ..Default::default() });
    let r = api_init(root.path(), port, "v1.37.2", &[]);
    assert_eq!(r.code, 1, "{}", r.stdout);
    assert!(r.stderr.contains("ConfigMap kube-system/kubeadm-config") && r.stderr.contains("HTTP 422"), "{}", r.stderr);
    assert_eq!(r.stderr.matches("error").count(), 1, "one message: {}", r.stderr);
}

#[test]
fn v1_29_and_newer_bind_the_admin_group_with_super_admin_first() {
    let (root, server, port) = prepared("v1.37.2");
    let r = api_init(root.path(), port, "v1.37.2", &["--skip-phases", "preflight,prepare-host,kubelet-start,wait-control-plane,cert-renewer,addon"]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    let log = server.state.lock().unwrap().log.clone();
    let first_write = log.iter().find(|l| l.starts_with("PATCH") || l.starts_with("POST")).unwrap();
    assert!(first_write.contains("clusterrolebindings/kubeadm:cluster-admins") && first_write.contains("(kubernetes-super-admin)"), "{log:#?}");
    assert!(log.iter().filter(|l| l.contains("(kubernetes-admin)")).all(|l| !l.contains("-> 403")), "{log:#?}");
}

fn printed_key(stdout: &str) -> String {
    let line = stdout.lines().find(|l| l.contains("--control-plane --certificate-key")).unwrap_or_else(|| panic!("no control-plane join line:\n{stdout}"));
    line.rsplit(' ').next().unwrap().to_string()
}

#[test]
fn a_deleted_default_token_is_not_recreated() {
    let (root, server, port) = prepared("v1.37.2");
    let r = api_init(root.path(), port, "v1.37.2", &[]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    let id = kept_token(root.path(), "/var/lib/kubeup/bootstrap-token").split('.').next().unwrap().to_string();
    let name = format!("bootstrap-token-{id}");
    let secret = server.state.lock().unwrap().get("", "kube-system", "secrets", &name).cloned().expect("the default token exists");
    // Its expiration is the one kept with the token when it was made.
    let kept = std::fs::read_to_string(host(root.path(), "/var/lib/kubeup/bootstrap-token")).unwrap();
    let expires = kept.lines().find_map(|l| l.strip_prefix("expires: ")).expect("the expiration is kept with the token");
    let b64 = base64::Engine::decode(&base64::engine::general_purpose::STANDARD, secret["data"]["expiration"].as_str().unwrap()).unwrap();
    assert_eq!(String::from_utf8(b64).unwrap(), expires);
    // An admin deletes the token (it leaked); a re-run of init must not bring it back.
    server.state.lock().unwrap().objects.remove(&("".to_string(), "kube-system".to_string(), "secrets".to_string(), name.clone()));
    let again = api_init(root.path(), port, "v1.37.2", &[]);
    assert_eq!(again.code, 0, "{}", again.stderr);
    assert!(server.state.lock().unwrap().get("", "kube-system", "secrets", &name).is_none(), "the deleted token was recreated:\n{}", again.stdout);
    assert!(again.stdout.contains("kept (made by an earlier run; never made again)"), "{}", again.stdout);
}

#[test]
fn an_expired_default_token_is_not_revived() {
    let (root, server, port) = prepared("v1.37.2");
    // The token kubeup made expired (a re-run a day later, say): init neither re-creates nor
    // signs nor prints it, and says how to make a new one.
    let file = host(root.path(), "/var/lib/kubeup/bootstrap-token");
    let token = kept_token(root.path(), "/var/lib/kubeup/bootstrap-token");
    std::fs::write(&file, format!("{token}\nexpires: 2001-01-01T00:00:00Z\n")).unwrap();
    let r = api_init(root.path(), port, "v1.37.2", &[]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    let id = token.split('.').next().unwrap();
    let s = server.state.lock().unwrap();
    assert!(s.get("", "kube-system", "secrets", &format!("bootstrap-token-{id}")).is_none(), "the expired token was created");
    assert!(s.get("", "kube-public", "configmaps", "cluster-info").unwrap()["data"].get(format!("jws-kubeconfig-{id}")).is_none());
    assert!(!r.stdout.contains(&token), "{}", r.stdout);
    assert!(r.stdout.contains("expired at 2001-01-01T00:00:00Z") && r.stdout.contains("kubeup token create --print-join-command"), "{}", r.stdout);
}

#[test]
fn upload_certs_encrypts_the_shared_files_as_kubeadm_does() {
    let (root, server, port) = prepared("v1.37.2");
    let r = api_init(root.path(), port, "v1.37.2", &["--upload-certs"]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    let key = printed_key(&r.stdout);
    // Never on disk; a fresh key for every upload (kubeadm), unless one is given.
    assert!(!host(root.path(), "/var/lib/kubeup/certificate-key").exists());
    let again = api_init(root.path(), port, "v1.37.2", &["--upload-certs"]);
    assert_eq!(again.code, 0, "{}", again.stderr);
    assert_ne!(printed_key(&again.stdout), key, "a re-run reused the certificate key");
    let r = api_init(root.path(), port, "v1.37.2", &["--upload-certs", "--certificate-key", &key]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert_eq!(printed_key(&r.stdout), key);
    let s = server.state.lock().unwrap();
    let secret = s.get("", "kube-system", "secrets", "kubeadm-certs").unwrap().clone();
    let owner = secret["metadata"]["ownerReferences"][0].clone();
    let owner_secret = s.get("", "kube-system", "secrets", owner["name"].as_str().unwrap()).unwrap().clone();
    drop(s);
    assert_eq!(owner["uid"], owner_secret["metadata"]["uid"], "kubeadm-certs is owned by its TTL token");
    let b64 =
        |v: &serde_json::Value| String::from_utf8(base64::Engine::decode(&base64::engine::general_purpose::STANDARD, v.as_str().unwrap()).unwrap()).unwrap();
    assert_eq!(b64(&owner_secret["data"]["description"]), "Proxy for managing TTL for the kubeadm-certs secret");
    assert!(owner_secret["data"].get("usage-bootstrap-authentication").is_none(), "the TTL token must not authenticate anyone");
    // An independent AES-256-GCM implementation (Python's cryptography) reads kubeadm's layout:
    // 12-byte nonce, then ciphertext and tag, no associated data.
    let files = [
        ("ca.crt", "ca.crt"),
        ("ca.key", "ca.key"),
        ("front-proxy-ca.crt", "front-proxy-ca.crt"),
        ("front-proxy-ca.key", "front-proxy-ca.key"),
        ("sa.pub", "sa.pub"),
        ("sa.key", "sa.key"),
        ("etcd-ca.crt", "etcd/ca.crt"),
        ("etcd-ca.key", "etcd/ca.key"),
    ];
    for (data_key, file) in files {
        let script = "import base64,sys\nfrom cryptography.hazmat.primitives.ciphers.aead import AESGCM\nd=base64.b64decode(sys.argv[2])\nsys.stdout.buffer.write(AESGCM(bytes.fromhex(sys.argv[1])).decrypt(d[:12], d[12:], None))";
        let (ok, plain) = tool("python3", &["-c", script, &key, secret["data"][data_key].as_str().unwrap()]);
        assert!(ok, "{data_key}: {plain}");
        assert_eq!(plain, std::fs::read_to_string(host(root.path(), &format!("/etc/kubernetes/pki/{file}"))).unwrap(), "{data_key}");
    }
}

#[test]
fn init_ends_only_when_this_node_is_ready() {
    let (root, server, port) = prepared("v1.37.2");
    // The kubelet registered the Node, but its network is not up yet.
    server.add_node("cp-1", "127.0.0.1", false);
    let flip = {
        let state = server.state.clone();
        std::thread::spawn(move || {
            // Far longer than the rest of init takes against the test server (about 1 s).
            std::thread::sleep(std::time::Duration::from_secs(8));
            let mut s = state.lock().unwrap();
            let key = (String::new(), String::new(), "nodes".to_string(), "cp-1".to_string());
            let node = s.objects.get_mut(&key).expect("node cp-1");
            node["status"]["conditions"][0]["status"] = "True".into();
            std::time::Instant::now()
        })
    };
    let r = api_init(root.path(), port, "v1.37.2", &[]);
    let done = std::time::Instant::now();
    let ready_at = flip.join().unwrap();
    assert_eq!(r.code, 0, "stdout:\n{}\nstderr:\n{}", r.stdout, r.stderr);
    assert!(done >= ready_at, "init returned before node cp-1 was Ready:\n{}", r.stdout);
    assert!(r.stdout.contains("[wait-node-ready]"), "{}", r.stdout);
}

#[test]
fn without_a_pod_network_init_says_the_node_waits_for_one() {
    let (root, server, port) = prepared("v1.37.2");
    server.add_node("cp-1", "127.0.0.1", false);
    let r =
        api_init(root.path(), port, "v1.37.2", &["--skip-phases", "preflight,prepare-host,kubelet-start,wait-control-plane,cert-renewer,addon/pod-network"]);
    assert_eq!(r.code, 0, "stdout:\n{}\nstderr:\n{}", r.stdout, r.stderr);
    assert!(r.stdout.contains("becomes Ready once you install one"), "{}", r.stdout);
}
