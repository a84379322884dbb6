//! `kubeup kubeconfig user` checked with the real kubectl and openssl, and the token commands'
//! handling of malformed input. (Token create/list/delete against a real API server run in
//! scripts/e2e/run.)

mod common;
use common::*;

#[test]
fn kubeconfig_user_is_signed_by_the_cluster_ca_and_carries_cn_and_orgs() {
    let root = tempfile::tempdir().unwrap();
    assert_eq!(init(root.path(), &[]).code, 0);
    let out = tempfile::tempdir().unwrap();
    let file = out.path().join("alice.conf");
    let r = Run::from(
        kubeup()
            .args(["kubeconfig", "user", "--client-name", "alice", "--org", "dev", "--org", "ops", "--validity-period", "48h"])
            .args(["--host-root", root.path().to_str().unwrap(), "--output-file", file.to_str().unwrap()])
            .output()
            .unwrap(),
    );
    assert_eq!(r.code, 0, "{}", r.stderr);
    let (ok, view) = tool(
        "kubectl",
        &[
            "--kubeconfig",
            file.to_str().unwrap(),
            "config",
            "view",
            "--raw",
            "-o",
            "jsonpath={.users[0].name} {.clusters[0].cluster.server} {.users[0].user.client-certificate-data}",
        ],
    );
    assert!(ok, "{view}");
    let mut parts = view.split_whitespace();
    assert_eq!(parts.next(), Some("alice"));
    assert_eq!(parts.next(), Some("https://127.0.0.1:6443"));
    use base64::Engine as _;
    let cert = base64::engine::general_purpose::STANDARD.decode(parts.next().unwrap()).unwrap();
    let cert_file = out.path().join("alice.crt");
    std::fs::write(&cert_file, cert).unwrap();
    let ca = host(root.path(), "/etc/kubernetes/pki/ca.crt");
    let (ok, v) = tool("openssl", &["verify", "-CAfile", ca.to_str().unwrap(), cert_file.to_str().unwrap()]);
    assert!(ok && v.contains(": OK"), "{v}");
    let (_, subject) = tool("openssl", &["x509", "-noout", "-subject", "-in", cert_file.to_str().unwrap()]);
    assert!(subject.contains("O = dev") && subject.contains("O = ops") && subject.contains("CN = alice"), "{subject}");
    let (_, text) = tool("openssl", &["x509", "-noout", "-text", "-in", cert_file.to_str().unwrap()]);
    assert!(text.contains("TLS Web Client Authentication"), "{text}");
    let (still_valid, _) = tool("openssl", &["x509", "-noout", "-checkend", &(47 * 3600).to_string(), "-in", cert_file.to_str().unwrap()]);
    let (valid_later, _) = tool("openssl", &["x509", "-noout", "-checkend", &(49 * 3600).to_string(), "-in", cert_file.to_str().unwrap()]);
    assert!(still_valid && !valid_later, "validity period of 48h");
    use std::os::unix::fs::PermissionsExt;
    assert_eq!(std::fs::metadata(&file).unwrap().permissions().mode() & 0o777, 0o600);
    let r = Run::from(
        kubeup()
            .args(["kubeconfig", "user", "--client-name", "bob", "--org", "a", "--org", "b", "--org", "c", "--host-root", root.path().to_str().unwrap()])
            .output()
            .unwrap(),
    );
    assert_eq!(r.code, 1);
    assert!(r.stderr.contains("at most 2"), "{}", r.stderr);
}

#[test]
fn token_commands_refuse_malformed_tokens_with_the_format() {
    let r = Run::from(kubeup().args(["token", "generate"]).output().unwrap());
    assert_eq!(r.code, 0);
    assert!(r.stdout.trim().parse::<kubeup::token::BootstrapToken>().is_ok(), "{}", r.stdout);
    let root = tempfile::tempdir().unwrap();
    let r = Run::from(kubeup().args(["token", "create", "not-a-token", "--host-root", root.path().to_str().unwrap()]).output().unwrap());
    assert_eq!(r.code, 2);
    assert!(r.stderr.contains("[a-z0-9]{6}.[a-z0-9]{16}"), "{}", r.stderr);
    let r = Run::from(kubeup().args(["token", "delete", "ABC", "--host-root", root.path().to_str().unwrap()]).output().unwrap());
    assert_eq!(r.code, 2);
    assert!(r.stderr.contains("[a-z0-9]{6}.[a-z0-9]{16}"), "{}", r.stderr);
    let r = Run::from(kubeup().args(["token", "list", "--host-root", root.path().to_str().unwrap()]).output().unwrap());
    assert_eq!(r.code, 1);
    assert!(r.stderr.contains("admin.conf does not exist on this host"), "{}", r.stderr);
}

#[test]
fn certificate_keys_are_generated_and_checked() {
    let r = Run::from(kubeup().args(["certs", "certificate-key"]).output().unwrap());
    assert_eq!(r.code, 0);
    let key = r.stdout.trim();
    assert!(key.len() == 64 && key.bytes().all(|b| b.is_ascii_hexdigit()), "{key}");
    let again = Run::from(kubeup().args(["certs", "certificate-key"]).output().unwrap());
    assert_ne!(again.stdout.trim(), key, "keys are random");
    let root = tempfile::tempdir().unwrap();
    let r = init(root.path(), &["--upload-certs", "--certificate-key", "abc"]);
    assert_eq!(r.code, 2, "{}", r.stderr);
    assert!(r.stderr.contains("certificateKey") && r.stderr.contains("64 hexadecimal characters"), "{}", r.stderr);
    let r = Run::from(kubeup().args(["join", "127.0.0.1:6443", "--token", "abcdef.0123456789abcdef", "--control-plane"]).output().unwrap());
    assert_eq!(r.code, 2);
    assert!(r.stderr.contains("--control-plane needs --certificate-key"), "{}", r.stderr);
}
