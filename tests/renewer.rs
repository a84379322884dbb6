//! The certificate renewer (`kubeup certs renewer`) against the test API server, on a scratch
//! root whose certificates live 16 seconds: it approves only the honest kubelet serving CSR and
//! denies the attacks with their reasons; it renews what is due, keeping each identity, records
//! an Event and releases the renewal Lease; it waits while another control plane holds the
//! Lease; and it warns about a CA in its last year. (The test API server is a test double: the
//! real renewer on a real cluster is proven by scripts/e2e/run.)

mod common;
use common::apiserver::TestApiServer;
use common::*;

use std::process::Stdio;
use std::time::{Duration, Instant};

use serde_json::{json, Value};

fn rfc3339(t: time::OffsetDateTime) -> String {
    t.format(&time::format_description::well_known::Rfc3339).unwrap()
}

/// A scratch control-plane node whose leaf certificates live `validity`, renewed at half-life.
fn node(validity: &str) -> (tempfile::TempDir, TestApiServer) {
    let root = tempfile::tempdir().unwrap();
    let port = free_port();
    let cfg = root.path().join("kubeup.yaml");
    std::fs::write(
        &cfg,
        format!("apiVersion: kubeup.io/v1alpha1\nkind: Configuration\ncertificateValidityPeriod: {validity}\ncaCertificateValidityPeriod: 8760h\ncertificateRenewal:\n  renewAfterPercent: 50\n"),
    )
    .unwrap();
    let r = init(root.path(), &["--config", cfg.to_str().unwrap(), "--apiserver-bind-port", &port.to_string(), "--kubernetes-version", "v1.20.2"]);
    assert_eq!(r.code, 0, "{}{}", r.stdout, r.stderr);
    let server = TestApiServer::for_root(root.path(), port);
    server.add_node("cp-1", "127.0.0.1", true);
    server.add_node("node2", "172.29.1.12", true);
    (root, server)
}

fn lease(server: &TestApiServer, holder: &str, renewed: time::OffsetDateTime) {
    server.store(
        "coordination.k8s.io",
        "kube-system",
        "leases",
        json!({ "apiVersion": "coordination.k8s.io/v1", "kind": "Lease", "metadata": { "name": "kubeup-certificate-renewal", "namespace": "kube-system" },
                "spec": { "holderIdentity": holder, "leaseDurationSeconds": 600, "renewTime": rfc3339(renewed) } }),
    );
}

fn request(cn: &str, sans: &[&str]) -> String {
    let mut p = rcgen::CertificateParams::new(sans.iter().map(|s| s.to_string()).collect::<Vec<_>>()).unwrap();
    p.distinguished_name = rcgen::DistinguishedName::new();
    p.distinguished_name.push(rcgen::DnType::OrganizationName, "system:nodes");
    p.distinguished_name.push(rcgen::DnType::CommonName, cn);
    let key = rcgen::KeyPair::generate_for(&rcgen::PKCS_ECDSA_P256_SHA256).unwrap();
    use base64::Engine as _;
    base64::engine::general_purpose::STANDARD.encode(p.serialize_request(&key).unwrap().pem().unwrap())
}

fn csr(server: &TestApiServer, name: &str, user: &str, groups: &[&str], request: String) {
    server.store(
        "certificates.k8s.io",
        "",
        "certificatesigningrequests",
        json!({ "apiVersion": "certificates.k8s.io/v1", "kind": "CertificateSigningRequest", "metadata": { "name": name },
                "spec": { "signerName": "kubernetes.io/kubelet-serving", "username": user, "groups": groups, "request": request,
                          "usages": ["digital signature", "key encipherment", "server auth"] } }),
    );
}

fn renewer(root: &std::path::Path) -> (KillOnDrop, std::path::PathBuf) {
    let log = root.join("renewer.log");
    let child = kubeup()
        .args(["certs", "renewer", "--node-name", "cp-1", "--host-root", root.to_str().unwrap(), "--host-pid", NO_SUCH_PID, "--csr-interval", "200ms"])
        .stdout(Stdio::null())
        .stderr(std::fs::File::create(&log).unwrap())
        .spawn()
        .unwrap();
    (KillOnDrop(child), log)
}

fn serial(root: &std::path::Path, f: &str) -> String {
    tool("openssl", &["x509", "-noout", "-serial", "-in", host(root, &format!("/etc/kubernetes/pki/{f}")).to_str().unwrap()]).1
}

fn wait_for(what: &str, limit: Duration, mut ok: impl FnMut() -> bool) {
    let t = Instant::now();
    while !ok() {
        assert!(t.elapsed() < limit, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(100));
    }
}

fn condition(server: &TestApiServer, name: &str) -> Value {
    server.object("certificates.k8s.io", "", "certificatesigningrequests", name).unwrap()["status"]["conditions"][0].clone()
}

#[test]
fn approves_the_honest_csr_denies_the_attacks_and_renews_what_is_due() {
    let (root, server) = node("16s");
    let r = root.path();
    // A Lease another control plane held long ago: expired, so it does not block.
    lease(&server, "cp-2", time::OffsetDateTime::now_utc() - time::Duration::hours(1));
    csr(&server, "honest", "system:node:node2", &["system:nodes", "system:authenticated"], request("system:node:node2", &["node2", "172.29.1.12"]));
    csr(&server, "extra-san", "system:node:node2", &["system:nodes"], request("system:node:node2", &["node2", "kubernetes.default.svc"]));
    csr(&server, "other-node", "system:node:node2", &["system:nodes"], request("system:node:cp-1", &["cp-1", "127.0.0.1"]));
    csr(&server, "not-a-node", "kubernetes-admin", &["system:masters"], request("system:node:node2", &["node2"]));
    let before = serial(r, "apiserver.crt");
    let subject =
        tool("openssl", &["x509", "-noout", "-subject", "-ext", "subjectAltName", "-in", host(r, "/etc/kubernetes/pki/apiserver.crt").to_str().unwrap()]).1;
    let (_renewer, log) = renewer(r);

    wait_for("every CSR decided", Duration::from_secs(10), || {
        ["honest", "extra-san", "other-node", "not-a-node"].iter().all(|n| !condition(&server, n).is_null())
    });
    assert_eq!(condition(&server, "honest")["type"], "Approved");
    for (name, why) in [("extra-san", "kubernetes.default.svc"), ("other-node", "subject"), ("not-a-node", "requested by")] {
        let c = condition(&server, name);
        assert_eq!(c["type"], "Denied", "{name}: {c}");
        assert!(c["message"].as_str().unwrap().contains(why), "{name}: {c}");
    }

    wait_for("the renewal at half-life", Duration::from_secs(25), || serial(r, "apiserver.crt") != before);
    let after =
        tool("openssl", &["x509", "-noout", "-subject", "-ext", "subjectAltName", "-in", host(r, "/etc/kubernetes/pki/apiserver.crt").to_str().unwrap()]).1;
    assert_eq!(after, subject, "the renewed certificate's identity changed");
    wait_for("the Event of the renewal", Duration::from_secs(5), || {
        server.objects("events").iter().any(|e| e["reason"] == "CertificatesRenewed" && e["involvedObject"]["name"] == "cp-1")
    });
    let events = server.objects("events");
    let renewed = events.iter().find(|e| e["reason"] == "CertificatesRenewed").unwrap();
    assert!(renewed["message"].as_str().unwrap().contains("apiserver-etcd-client"), "{renewed}");
    assert!(events.iter().any(|e| e["reason"] == "CertificateAuthorityExpiring" && e["type"] == "Warning"), "no warning about the one-year CA: {events:?}");
    wait_for("the Lease released", Duration::from_secs(5), || {
        server.object("coordination.k8s.io", "kube-system", "leases", "kubeup-certificate-renewal").unwrap()["spec"]["holderIdentity"].is_null()
    });
    let text = std::fs::read_to_string(&log).unwrap();
    assert!(text.contains("approved honest") && text.contains("denied extra-san") && text.contains("renewed admin.conf"), "{text}");
}

#[test]
fn waits_while_another_control_plane_holds_the_lease() {
    let (root, server) = node("16s");
    let r = root.path();
    lease(&server, "cp-2", time::OffsetDateTime::now_utc());
    let before = serial(r, "apiserver.crt");
    let (_renewer, log) = renewer(r);
    // Due after 8 s; nothing may be renewed while cp-2 renews.
    std::thread::sleep(Duration::from_secs(13));
    assert_eq!(serial(r, "apiserver.crt"), before, "renewed while another control plane held the Lease");
    let text = std::fs::read_to_string(&log).unwrap();
    assert!(text.contains("but cp-2 is renewing"), "{text}");
}
