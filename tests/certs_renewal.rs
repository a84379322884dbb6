//! `certs check-expiration` and `certs renew` on a PKI that `init` laid down on a scratch root,
//! checked with the real openssl: a renewed certificate keeps its subject, groups, SANs and
//! usages, gets a new key and serial, still verifies against its CA; the old files are backed
//! up; an external CA's certificates are never touched; the restarts follow what was renewed.

mod common;
use common::*;

use std::path::Path;

fn run(args: &[&str]) -> Run {
    Run::from(kubeup().args(args).output().unwrap())
}

fn pki(root: &Path, f: &str) -> String {
    host(root, &format!("/etc/kubernetes/pki/{f}")).to_str().unwrap().to_string()
}

/// openssl's view of a certificate file: subject, SANs, usages, and serial.
fn describe(file: &str) -> (String, String) {
    let (ok, stable) = tool("openssl", &["x509", "-noout", "-subject", "-ext", "subjectAltName,extendedKeyUsage,keyUsage", "-in", file]);
    assert!(ok, "{file}: {stable}");
    let (ok, serial) = tool("openssl", &["x509", "-noout", "-serial", "-in", file]);
    assert!(ok);
    (stable, serial)
}

/// The client certificate a kubeconfig embeds, written to a file next to it.
fn embedded(root: &Path, conf: &str) -> String {
    let text = std::fs::read_to_string(host(root, &format!("/etc/kubernetes/{conf}"))).unwrap();
    let line = text.lines().find(|l| l.trim_start().starts_with("client-certificate-data:")).unwrap();
    use base64::Engine as _;
    let pem = base64::engine::general_purpose::STANDARD.decode(line.split_once(':').unwrap().1.trim()).unwrap();
    let out = root.join(format!("{conf}.crt"));
    std::fs::write(&out, pem).unwrap();
    out.to_str().unwrap().to_string()
}

fn initialised() -> tempfile::TempDir {
    let root = tempfile::tempdir().unwrap();
    let r = init(root.path(), &["--kubernetes-version", "v1.30.4"]);
    assert_eq!(r.code, 0, "{}{}", r.stdout, r.stderr);
    root
}

fn renew(root: &Path, extra: &[&str]) -> Run {
    let mut args = vec!["certs", "renew", "--host-root", root.to_str().unwrap(), "--host-pid", NO_SUCH_PID];
    args.extend_from_slice(extra);
    run(&args)
}

#[test]
fn check_expiration_lists_kubeadms_certificates_and_cas() {
    let root = initialised();
    let r = run(&["certs", "check-expiration", "--host-root", root.path().to_str().unwrap()]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    for name in [
        "admin.conf",
        "apiserver",
        "apiserver-etcd-client",
        "apiserver-kubelet-client",
        "controller-manager.conf",
        "etcd-healthcheck-client",
        "etcd-peer",
        "etcd-server",
        "front-proxy-client",
        "scheduler.conf",
        "super-admin.conf",
    ] {
        assert!(r.stdout.lines().any(|l| l.starts_with(&format!("{name} "))), "{name} missing:\n{}", r.stdout);
    }
    assert!(r.stdout.contains("CERTIFICATE AUTHORITY   EXPIRES"), "{}", r.stdout);
    let json = run(&["certs", "check-expiration", "-o", "json", "--host-root", root.path().to_str().unwrap()]);
    let v: serde_json::Value = serde_json::from_str(&json.stdout).unwrap();
    assert_eq!(v["certificates"].as_array().unwrap().len(), 11);
    assert_eq!(v["certificateAuthorities"].as_array().unwrap().len(), 3);
    // A year, less kubeadm's five minutes of backdating.
    let left = v["certificates"][1]["residualTimeSeconds"].as_i64().unwrap();
    assert!((365 * 86_400 - 400..=365 * 86_400).contains(&left), "{left}");
    // No control plane here: one clear message.
    let empty = tempfile::tempdir().unwrap();
    let r = run(&["certs", "check-expiration", "--host-root", empty.path().to_str().unwrap()]);
    assert_ne!(r.code, 0);
    assert!(r.stderr.contains("run this on a control-plane node"), "{}", r.stderr);
}

#[test]
fn renewal_keeps_identity_changes_key_and_serial_and_backs_up() {
    let root = initialised();
    let r = root.path();
    let leaves = [
        "apiserver.crt",
        "apiserver-kubelet-client.crt",
        "apiserver-etcd-client.crt",
        "front-proxy-client.crt",
        "etcd/server.crt",
        "etcd/peer.crt",
        "etcd/healthcheck-client.crt",
    ];
    let before: Vec<(String, String)> = leaves.iter().map(|f| describe(&pki(r, f))).collect();
    let keys_before: Vec<Vec<u8>> = leaves.iter().map(|f| std::fs::read(pki(r, &f.replace(".crt", ".key"))).unwrap()).collect();
    let admin_before = describe(&embedded(r, "admin.conf"));
    let ca_before = std::fs::read(pki(r, "ca.crt")).unwrap();
    let originals: Vec<Vec<u8>> = leaves.iter().map(|f| std::fs::read(pki(r, f)).unwrap()).collect();

    let out = renew(r, &["all"]);
    assert_eq!(out.code, 0, "{}{}", out.stdout, out.stderr);
    for (i, f) in leaves.iter().enumerate() {
        let (stable, serial) = describe(&pki(r, f));
        assert_eq!(stable, before[i].0, "{f}: subject, SANs or usages changed");
        assert_ne!(serial, before[i].1, "{f} was not renewed");
        assert_ne!(std::fs::read(pki(r, &f.replace(".crt", ".key"))).unwrap(), keys_before[i], "{f}'s key was kept");
        let ca = if f.starts_with("etcd/") || f.contains("etcd-client") {
            "etcd/ca.crt"
        } else if f.starts_with("front") {
            "front-proxy-ca.crt"
        } else {
            "ca.crt"
        };
        let (ok, v) = tool("openssl", &["verify", "-CAfile", &pki(r, ca), &pki(r, f)]);
        assert!(ok, "{f} does not verify against {ca}: {v}");
    }
    let admin_after = describe(&embedded(r, "admin.conf"));
    assert_eq!(admin_after.0, admin_before.0);
    assert_ne!(admin_after.1, admin_before.1);
    assert_eq!(std::fs::read(pki(r, "ca.crt")).unwrap(), ca_before, "a CA was touched");
    // The old files, byte for byte, in one backup directory.
    let backups: Vec<_> = std::fs::read_dir(host(r, "/var/lib/kubeup/backup")).unwrap().collect();
    assert_eq!(backups.len(), 1);
    let dir = backups[0].as_ref().unwrap().path();
    for (i, f) in leaves.iter().enumerate() {
        assert_eq!(std::fs::read(dir.join("etc/kubernetes/pki").join(f)).unwrap(), originals[i], "backup of {f}");
    }
    assert!(out.stdout.contains("admin.conf was renewed"), "{}", out.stdout);
}

#[test]
fn an_external_ca_is_never_renewed() {
    let root = initialised();
    let r = root.path();
    std::fs::rename(pki(r, "ca.key"), r.join("ca.key.offline")).unwrap();
    let before = std::fs::read(pki(r, "apiserver.crt")).unwrap();
    let out = renew(r, &["apiserver"]);
    assert_ne!(out.code, 0);
    assert!(out.stdout.contains("apiserver skipped: its CA (ca) has no key on this node"), "{}", out.stdout);
    assert!(out.stderr.contains("managed externally"), "{}", out.stderr);
    assert_eq!(std::fs::read(pki(r, "apiserver.crt")).unwrap(), before);
    // `all` renews what the node's own CAs sign, and nothing signed by the external one.
    let out = renew(r, &["all"]);
    assert_eq!(out.code, 0, "{}", out.stderr);
    assert_eq!(std::fs::read(pki(r, "apiserver.crt")).unwrap(), before);
    assert!(out.stdout.contains("renewed apiserver-etcd-client"), "{}", out.stdout);
    let table = run(&["certs", "check-expiration", "--host-root", r.to_str().unwrap()]).stdout;
    let line = table.lines().find(|l| l.starts_with("apiserver ")).unwrap();
    assert!(line.contains(" yes ") && line.contains("no (external CA)"), "{line}");
}

#[test]
fn bad_names_are_usage_errors_and_a_dry_run_changes_nothing() {
    let root = initialised();
    let r = root.path();
    let out = renew(r, &["apiserverr"]);
    assert_eq!(out.code, 2, "{}", out.stderr);
    assert!(out.stderr.contains("\"apiserverr\" is not a certificate kubeup renews") && out.stderr.contains("etcd-peer"), "{}", out.stderr);
    let out = renew(r, &["all", "apiserver"]);
    assert_eq!(out.code, 2);
    let out = renew(r, &[]);
    assert_eq!(out.code, 2);
    let before = snapshot(r);
    let out = renew(r, &["all", "--dry-run"]);
    assert_eq!(out.code, 0, "{}", out.stderr);
    assert!(out.stdout.contains("[dryrun] nothing was changed"), "{}", out.stdout);
    assert_eq!(snapshot(r), before, "a dry run changed the host");
}

#[test]
fn only_the_components_that_read_a_renewed_file_at_start_restart() {
    let root = initialised();
    let r = root.path();
    // A CRI socket that answers, so that restarts are planned.
    std::fs::create_dir_all(host(r, "/run/containerd")).unwrap();
    let _sock = std::os::unix::net::UnixListener::bind(host(r, "/run/containerd/containerd.sock")).unwrap();
    let plan = |name: &str| {
        let out = renew(r, &[name, "--dry-run", "-o", "json"]);
        assert_eq!(out.code, 0, "{}", out.stderr);
        let v: serde_json::Value = serde_json::from_str(&out.stdout).unwrap();
        let restarts: Vec<String> = v["phases"]
            .as_array()
            .unwrap()
            .iter()
            .flat_map(|p| p["steps"].as_array().unwrap().clone())
            .filter_map(|s| s["host_action"]["name"].as_str().map(str::to_string))
            .collect();
        restarts
    };
    // The API server reloads its serving certificate; etcd reloads its own on every handshake.
    assert!(plan("apiserver").is_empty());
    assert!(plan("etcd-server").is_empty());
    assert_eq!(plan("apiserver-etcd-client"), ["kube-apiserver"]);
    assert_eq!(plan("controller-manager.conf"), ["kube-controller-manager"]);
    assert_eq!(plan("all"), ["kube-apiserver", "kube-controller-manager", "kube-scheduler"]);
}
