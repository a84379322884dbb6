//! The attacks on `kubeup join`'s CA pin, performed: an attacker who holds a leaked bootstrap
//! token (worker tokens are shared widely) and intercepts the join connection serves its own
//! cluster-info, signed with that token. Each attack must end with a non-zero exit, a message
//! naming the reason, a byte-identical joining root, and the token never sent to the attacker.
//! The same harness with the real CA's certificate passes, so the refusals are not an accident
//! of the harness.

mod common;
use common::hostile::{cluster_info_body, kubeconfig, openssl_pin, pki, Hostile, Pki};
use common::*;
use std::sync::Arc;

const TOKEN: &str = "abcdef.0123456789abcdef";

/// The attacker answers cluster-info with `body` and 404 to everything else.
fn attacker(serving: &Pki, body: String) -> Hostile {
    attacker_with(serving, move |_| body.clone())
}

/// The attacker answers cluster-info with what `body` makes of its own server URLs
/// (`https://127.0.0.1:<tls port>`, `http://127.0.0.1:<http port>`), as the real attack did:
/// cluster-info names the attacker itself.
fn attacker_with(serving: &Pki, body: impl Fn(&(String, String)) -> String + Send + Sync + 'static) -> Hostile {
    let urls = Arc::new(std::sync::Mutex::new((String::new(), String::new())));
    let u = urls.clone();
    let h = Hostile::start(
        serving,
        Arc::new(
            move |path: &str| {
                if path == "/api/v1/namespaces/kube-public/configmaps/cluster-info" {
                    (200, body(&u.lock().unwrap()))
                } else {
                    (404, "{}".into())
                }
            },
        ),
    );
    *urls.lock().unwrap() = (format!("https://127.0.0.1:{}", h.tls_port), format!("http://127.0.0.1:{}", h.http_port));
    h
}

fn join(node: &std::path::Path, args: &[&str]) -> Run {
    let mut c = kubeup();
    c.env("KUBEUP_DISCOVERY_INTERVAL_MS", "100");
    c.arg("join").args(args).args(["--host-root", node.to_str().unwrap(), "--host-pid", NO_SUCH_PID, "--node-name", "worker-1", "--discovery-timeout", "3s"]);
    Run::from(c.output().unwrap())
}

/// A join against the attacker that must be refused for `reason`, leaving the node untouched
/// and the token unsent.
fn refused(h: &Hostile, extra: &[&str], reason: &str) {
    let node = tempfile::tempdir().unwrap();
    std::fs::create_dir_all(node.path().join("etc")).unwrap();
    let before = snapshot(node.path());
    let ep = format!("127.0.0.1:{}", h.tls_port);
    let mut args = vec![ep.as_str(), "--token", TOKEN];
    args.extend_from_slice(extra);
    let r = join(node.path(), &args);
    assert_eq!(r.code, 1, "stdout:\n{}\nstderr:\n{}", r.stdout, r.stderr);
    assert!(r.stderr.contains(reason), "expected {reason:?} in:\n{}", r.stderr);
    assert_eq!(snapshot(node.path()), before, "the joining host was changed");
    for req in h.requests() {
        assert!(!req.contains("Bearer"), "the token was sent to the attacker: {req}");
        assert!(req.starts_with("tls GET /api/v1/namespaces/kube-public/configmaps/cluster-info"), "unexpected request to the attacker: {req}");
    }
}

#[test]
fn a_plain_http_server_in_cluster_info_is_refused() {
    // The first confirmed bypass: cluster-info names http://attacker, the verified fetch went
    // there without TLS, so the pinned CA was never used.
    let (real, evil) = (pki("real-cluster-ca"), pki("attacker-ca"));
    let pin = openssl_pin(&real.ca_pem);
    let body = Arc::new(std::sync::Mutex::new(String::new()));
    let b = body.clone();
    let h =
        Hostile::start(&evil, Arc::new(move |path: &str| if path.ends_with("/cluster-info") { (200, b.lock().unwrap().clone()) } else { (404, "{}".into()) }));
    *body.lock().unwrap() = cluster_info_body(&kubeconfig(&format!("http://127.0.0.1:{}", h.http_port), &real.ca_pem), TOKEN);
    refused(&h, &["--discovery-token-ca-cert-hash", &pin], "is not an https:// URL");
}

#[test]
fn the_verified_fetch_goes_to_the_typed_endpoint_with_the_pinned_ca_only() {
    // cluster-info names an https server and the real CA (which matches the pin), but the
    // attacker has no certificate of that CA: the second fetch must fail TLS verification.
    let (real, evil) = (pki("real-cluster-ca"), pki("attacker-ca"));
    let pin = openssl_pin(&real.ca_pem);
    let h = attacker(&evil, cluster_info_body(&kubeconfig("https://127.0.0.1:6443", &real.ca_pem), TOKEN));
    refused(&h, &["--discovery-token-ca-cert-hash", &pin], "over TLS verified with the pinned CA");
}

#[test]
fn a_ca_blob_that_two_pem_readers_read_differently_is_refused() {
    // The second confirmed bypass: "x -----BEGIN…<attacker CA>…<real CA>" was pinned as the real
    // CA by one reader and trusted as the attacker's by the other.
    let (real, evil) = (pki("real-cluster-ca"), pki("attacker-ca"));
    let pin = openssl_pin(&real.ca_pem);
    let blob = format!("x {}{}", evil.ca_pem, real.ca_pem);
    let h = attacker_with(&evil, move |(tls, _)| cluster_info_body(&kubeconfig(tls, &blob), TOKEN));
    refused(&h, &["--discovery-token-ca-cert-hash", &pin], "is not part of a PEM CERTIFICATE block");
}

#[test]
fn every_certificate_in_the_ca_bundle_must_be_pinned() {
    let (real, evil) = (pki("real-cluster-ca"), pki("attacker-ca"));
    let pin = openssl_pin(&real.ca_pem);
    for bundle in [format!("{}{}", real.ca_pem, evil.ca_pem), format!("{}{}", evil.ca_pem, real.ca_pem)] {
        let h = attacker_with(&evil, move |(tls, _)| cluster_info_body(&kubeconfig(tls, &bundle), TOKEN));
        refused(&h, &["--discovery-token-ca-cert-hash", &pin], "attacker-ca");
    }
}

#[test]
fn more_than_one_cluster_is_refused() {
    let (real, evil) = (pki("real-cluster-ca"), pki("attacker-ca"));
    let pin = openssl_pin(&real.ca_pem);
    let one = kubeconfig("https://127.0.0.1:6443", &real.ca_pem);
    let two = one.replace(
        "clusters:\n",
        &format!("clusters:\n- name: second\n  cluster:\n    server: https://127.0.0.1:1\n    certificate-authority-data: {}\n", {
            use base64::Engine as _;
            base64::engine::general_purpose::STANDARD.encode(&evil.ca_pem)
        }),
    );
    let h = attacker(&evil, cluster_info_body(&two, TOKEN));
    refused(&h, &["--discovery-token-ca-cert-hash", &pin], "exactly one is required");
}

#[test]
fn an_oversized_answer_is_not_read() {
    let (real, evil) = (pki("real-cluster-ca"), pki("attacker-ca"));
    let pin = openssl_pin(&real.ca_pem);
    let mut kc = kubeconfig("https://127.0.0.1:6443", &real.ca_pem);
    kc.push_str(&format!("# {}\n", "x".repeat(2 * 1024 * 1024)));
    let h = attacker(&evil, cluster_info_body(&kc, TOKEN));
    refused(&h, &["--discovery-token-ca-cert-hash", &pin], "larger than 1024 KiB");
}

#[test]
fn pins_are_checked_even_with_the_unsafe_skip_flag() {
    let (real, evil) = (pki("real-cluster-ca"), pki("attacker-ca"));
    let pin = openssl_pin(&real.ca_pem);
    let h = attacker(&evil, cluster_info_body(&kubeconfig(&format!("https://127.0.0.1:{}", 6443), &evil.ca_pem), TOKEN));
    refused(
        &h,
        &["--discovery-token-ca-cert-hash", &pin, "--discovery-token-unsafe-skip-ca-verification"],
        "matches none of the --discovery-token-ca-cert-hash values",
    );
}

#[test]
fn the_honest_path_through_the_same_harness_is_verified() {
    // The server holds a certificate of the pinned CA: discovery succeeds, over TLS both times.
    let real = pki("real-cluster-ca");
    let pin = openssl_pin(&real.ca_pem);
    let h2 = attacker(&real, cluster_info_body(&kubeconfig("https://127.0.0.1:6443", &real.ca_pem), TOKEN));
    let node = tempfile::tempdir().unwrap();
    let ep = format!("127.0.0.1:{}", h2.tls_port);
    let r = join(node.path(), &["phase", "discovery", &ep, "--token", TOKEN, "--discovery-token-ca-cert-hash", &pin]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert!(r.stdout.contains(&pin), "{}", r.stdout);
    let reqs = h2.requests();
    assert_eq!(reqs.len(), 2, "one unverified and one verified fetch: {reqs:?}");
    assert!(reqs.iter().all(|r| r.starts_with("tls GET")), "{reqs:?}");
}

#[test]
fn a_discovery_file_uses_its_current_context_and_https_only() {
    let real = pki("real-cluster-ca");
    let dir = tempfile::tempdir().unwrap();
    let node = tempfile::tempdir().unwrap();
    let before = snapshot(node.path());
    let write = |name: &str, text: &str| {
        let p = dir.path().join(name);
        std::fs::write(&p, text).unwrap();
        p.to_str().unwrap().to_string()
    };
    let http = write("http.conf", &kubeconfig("http://127.0.0.1:6443", &real.ca_pem));
    let r = join(node.path(), &["--discovery-file", &http, "--token", TOKEN]);
    assert_eq!(r.code, 1, "{}", r.stderr);
    assert!(r.stderr.contains("is not an https:// URL"), "{}", r.stderr);
    let dangling = write("ctx.conf", &kubeconfig("https://127.0.0.1:6443", &real.ca_pem).replace("current-context: \"\"", "current-context: elsewhere"));
    let r = join(node.path(), &["--discovery-file", &dangling, "--token", TOKEN]);
    assert_eq!(r.code, 1, "{}", r.stderr);
    assert!(r.stderr.contains("current-context \"elsewhere\" is not defined"), "{}", r.stderr);
    assert_eq!(snapshot(node.path()), before);
}

#[test]
fn join_secrets_can_come_from_a_kubeadm_join_configuration() {
    // The token and pin in a file, not on the command line: the same refusal proves they were read.
    let (real, evil) = (pki("real-cluster-ca"), pki("attacker-ca"));
    let pin = openssl_pin(&real.ca_pem);
    let h = attacker(&evil, cluster_info_body(&kubeconfig("https://127.0.0.1:6443", &evil.ca_pem), TOKEN));
    let dir = tempfile::tempdir().unwrap();
    let cfg = dir.path().join("join.yaml");
    std::fs::write(
        &cfg,
        format!(
            "apiVersion: kubeadm.k8s.io/v1beta4\nkind: JoinConfiguration\ndiscovery:\n  bootstrapToken:\n    token: {TOKEN}\n    apiServerEndpoint: 127.0.0.1:{}\n    caCertHashes: [\"{pin}\"]\n",
            h.tls_port
        ),
    )
    .unwrap();
    let node = tempfile::tempdir().unwrap();
    let r = join(node.path(), &["--config", cfg.to_str().unwrap()]);
    assert_eq!(r.code, 1, "{}", r.stderr);
    assert!(r.stderr.contains("matches none of the --discovery-token-ca-cert-hash values"), "{}", r.stderr);
    let bad = dir.path().join("bad.yaml");
    std::fs::write(&bad, "apiVersion: kubeadm.k8s.io/v1beta4\nkind: JoinConfiguration\ndiscovery:\n  bootstrapToken:\n    tokn: x\n").unwrap();
    let r = join(node.path(), &["--config", bad.to_str().unwrap()]);
    assert_eq!(r.code, 2, "{}", r.stderr);
    assert!(r.stderr.contains("field discovery.bootstrapToken"), "{}", r.stderr);
}
