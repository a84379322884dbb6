//! A run killed between any two file writes (no rollback, as SIGKILL leaves it) completes when
//! run again, with a PKI that verifies — also when it died between a private key and its
//! certificate. And the state such a kill can leave never resembles one a user makes on purpose:
//! a CA certificate without its key (external-CA mode) is kept as external, not regenerated.

mod common;
use common::*;

fn verify(root: &std::path::Path) {
    let pki = host(root, "/etc/kubernetes/pki");
    for (ca, leaf) in [
        ("ca.crt", "apiserver.crt"),
        ("front-proxy-ca.crt", "front-proxy-client.crt"),
        ("etcd/ca.crt", "etcd/peer.crt"),
        ("etcd/ca.crt", "apiserver-etcd-client.crt"),
    ] {
        let (ok, out) = tool("openssl", &["verify", "-CAfile", pki.join(ca).to_str().unwrap(), pki.join(leaf).to_str().unwrap()]);
        assert!(ok, "{leaf} against {ca}: {out}");
    }
}

#[test]
fn a_run_killed_after_any_write_of_the_pki_completes_when_run_again() {
    // The PKI, the kubeconfigs and the first manifests: well past the last certificate.
    for n in 1..=36 {
        let root = tempfile::tempdir().unwrap();
        let killed = init_with_env(root.path(), &[], &[("KUBEUP_DIE_AFTER_WRITES", &n.to_string())]);
        assert_eq!(killed.code, 137, "write {n}: the run was not killed: {}", killed.stderr);
        let again = init(root.path(), &[]);
        assert_eq!(again.code, 0, "killed after write {n}, the re-run failed: {}", again.stderr);
        verify(root.path());
    }
}

#[test]
fn a_ca_whose_key_was_taken_away_stays_external_and_is_never_regenerated() {
    let root = tempfile::tempdir().unwrap();
    assert_eq!(init(root.path(), &[]).code, 0);
    let ca = host(root.path(), "/etc/kubernetes/pki/front-proxy-ca.crt");
    let before = std::fs::read(&ca).unwrap();
    std::fs::rename(host(root.path(), "/etc/kubernetes/pki/front-proxy-ca.key"), root.path().join("offline.key")).unwrap();
    let again = init(root.path(), &[]);
    assert_eq!(again.code, 0, "{}", again.stderr);
    assert_eq!(std::fs::read(&ca).unwrap(), before, "the CA was regenerated");
    assert!(!host(root.path(), "/etc/kubernetes/pki/front-proxy-ca.key").exists(), "a CA key appeared");
    assert!(again.stdout.contains("external CA"), "{}", again.stdout);
}
