//! kubeconfigs checked with the real `kubectl`: each parses, and admin.conf completes a TLS
//! handshake with client-certificate auth against a server using apiserver.crt that requires
//! client certificates signed by ca.crt (`openssl s_server -Verify`).

mod common;
use common::*;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

#[test]
fn kubectl_parses_every_kubeconfig() {
    let root = tempfile::tempdir().unwrap();
    let r = init(root.path(), &[]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    for (file, user) in [
        ("admin.conf", "kubernetes-admin"),
        ("super-admin.conf", "kubernetes-super-admin"),
        ("kubelet.conf", "system:node:cp-1"),
        ("controller-manager.conf", "system:kube-controller-manager"),
        ("scheduler.conf", "system:kube-scheduler"),
    ] {
        let path = host(root.path(), &format!("/etc/kubernetes/{file}"));
        let (ok, out) = tool(
            "kubectl",
            &["--kubeconfig", path.to_str().unwrap(), "config", "view", "-o", "jsonpath={.users[0].name} {.clusters[0].cluster.server} {.current-context}"],
        );
        assert!(ok, "{file}: {out}");
        assert_eq!(out.trim(), format!("{user} https://127.0.0.1:6443 {user}@kubernetes"), "{file}");
    }
}

#[test]
fn admin_conf_authenticates_with_its_client_certificate() {
    let root = tempfile::tempdir().unwrap();
    let port = free_port();
    let r = init(root.path(), &["--apiserver-bind-port", &port.to_string()]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    let pki = host(root.path(), "/etc/kubernetes/pki");
    let www = tempfile::tempdir().unwrap();
    // `openssl s_server -WWW` serves files by request path; kubectl asks for `/version?timeout=3s`.
    std::fs::write(www.path().join("version?timeout=3s"), br#"{"major":"1","minor":"37","gitVersion":"v1.37.2"}"#).unwrap();
    let _server = KillOnDrop(
        Command::new("openssl")
            .args(["s_server", "-quiet", "-WWW", "-accept", &port.to_string(), "-Verify", "1", "-verify_return_error"])
            .args(["-cert", pki.join("apiserver.crt").to_str().unwrap(), "-key", pki.join("apiserver.key").to_str().unwrap()])
            .args(["-CAfile", pki.join("ca.crt").to_str().unwrap()])
            .current_dir(www.path())
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap(),
    );
    let admin = host(root.path(), "/etc/kubernetes/admin.conf");
    let deadline = Instant::now() + Duration::from_secs(10);
    let out = loop {
        let (ok, out) = tool("kubectl", &["--kubeconfig", admin.to_str().unwrap(), "--request-timeout=3s", "get", "--raw", "/version"]);
        if ok || Instant::now() > deadline {
            break out;
        }
        std::thread::sleep(Duration::from_millis(100));
    };
    assert!(out.contains("\"gitVersion\":\"v1.37.2\""), "kubectl with admin.conf should complete the mutual-TLS request: {out}");

    // A client certificate from another CA is refused by the same server.
    let other = tempfile::tempdir().unwrap();
    let (k, c) = (other.path().join("o.key"), other.path().join("o.crt"));
    let (ok, out) = tool(
        "openssl",
        &[
            "req",
            "-x509",
            "-newkey",
            "ec",
            "-pkeyopt",
            "ec_paramgen_curve:prime256v1",
            "-nodes",
            "-subj",
            "/CN=intruder",
            "-days",
            "1",
            "-keyout",
            k.to_str().unwrap(),
            "-out",
            c.to_str().unwrap(),
        ],
    );
    assert!(ok, "{out}");
    let (ok, out) = tool(
        "kubectl",
        &[
            "--kubeconfig",
            admin.to_str().unwrap(),
            "--client-certificate",
            c.to_str().unwrap(),
            "--client-key",
            k.to_str().unwrap(),
            "--request-timeout=3s",
            "get",
            "--raw",
            "/version",
        ],
    );
    assert!(!ok && !out.contains("gitVersion"), "a foreign client certificate must be refused: {out}");
}
