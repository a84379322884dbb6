//! The PKI `init` lays down, checked with the real `openssl`.

mod common;
use common::*;

#[test]
fn every_certificate_verifies_and_carries_kubeadms_subjects_sans_and_usages() {
    let root = tempfile::tempdir().unwrap();
    let r = init(root.path(), &["--apiserver-cert-extra-sans", "extra.example.com,198.51.100.7", "--control-plane-endpoint", "cp.example.com:6443"]);
    assert_eq!(r.code, 0, "init on a scratch root (effects recorded, not run): {}{}", r.stdout, r.stderr);
    let pki = host(root.path(), "/etc/kubernetes/pki");
    let p = |f: &str| pki.join(f).to_str().unwrap().to_string();
    let chains = [
        ("ca.crt", "apiserver.crt"),
        ("ca.crt", "apiserver-kubelet-client.crt"),
        ("front-proxy-ca.crt", "front-proxy-client.crt"),
        ("etcd/ca.crt", "etcd/server.crt"),
        ("etcd/ca.crt", "etcd/peer.crt"),
        ("etcd/ca.crt", "etcd/healthcheck-client.crt"),
        ("etcd/ca.crt", "apiserver-etcd-client.crt"),
    ];
    for (ca, leaf) in chains {
        let (ok, out) = tool("openssl", &["verify", "-CAfile", &p(ca), &p(leaf)]);
        assert!(ok && out.contains(": OK"), "{leaf} against {ca}: {out}");
        // A leaf must not verify against another CA.
        let other = if ca == "ca.crt" { "etcd/ca.crt" } else { "ca.crt" };
        let (ok, _) = tool("openssl", &["verify", "-CAfile", &p(other), &p(leaf)]);
        assert!(!ok, "{leaf} must not verify against {other}");
    }
    let text = |f: &str| tool("openssl", &["x509", "-noout", "-text", "-in", &p(f)]).1;

    let api = text("apiserver.crt");
    for want in [
        "Subject: CN = kube-apiserver",
        "DNS:cp-1",
        "DNS:kubernetes",
        "DNS:kubernetes.default",
        "DNS:kubernetes.default.svc",
        "DNS:kubernetes.default.svc.cluster.local",
        "IP Address:10.96.0.1",
        "IP Address:127.0.0.1",
        "DNS:cp.example.com",
        "DNS:extra.example.com",
        "IP Address:198.51.100.7",
        "TLS Web Server Authentication",
        "Digital Signature, Key Encipherment",
        "CA:FALSE",
        "ASN1 OID: prime256v1",
    ] {
        assert!(api.contains(want), "apiserver.crt lacks {want:?}:\n{api}");
    }
    let ca = text("ca.crt");
    for want in ["Subject: CN = kubernetes", "CA:TRUE", "Certificate Sign", "DNS:kubernetes"] {
        assert!(ca.contains(want), "ca.crt lacks {want:?}:\n{ca}");
    }
    let expect = [
        ("apiserver-kubelet-client.crt", "Subject: O = kubeadm:cluster-admins, CN = kube-apiserver-kubelet-client", "TLS Web Client Authentication"),
        ("front-proxy-client.crt", "Subject: CN = front-proxy-client", "TLS Web Client Authentication"),
        ("etcd/server.crt", "Subject: CN = cp-1", "TLS Web Server Authentication, TLS Web Client Authentication"),
        ("etcd/peer.crt", "Subject: CN = cp-1", "TLS Web Server Authentication, TLS Web Client Authentication"),
        ("etcd/healthcheck-client.crt", "Subject: CN = kube-etcd-healthcheck-client", "TLS Web Client Authentication"),
        ("apiserver-etcd-client.crt", "Subject: CN = kube-apiserver-etcd-client", "TLS Web Client Authentication"),
        ("front-proxy-ca.crt", "Subject: CN = front-proxy-ca", "CA:TRUE"),
        ("etcd/ca.crt", "Subject: CN = etcd-ca", "CA:TRUE"),
    ];
    for (f, subject, usage) in expect {
        let t = text(f);
        assert!(t.contains(subject) && t.contains(usage), "{f}: want {subject:?} and {usage:?}:\n{t}");
    }
    let etcd = text("etcd/server.crt");
    for want in ["DNS:cp-1", "DNS:localhost", "IP Address:127.0.0.1", "IP Address:0:0:0:0:0:0:0:1"] {
        assert!(etcd.contains(want), "etcd/server.crt lacks {want:?}");
    }
    // Validity: CA 10 years, leaves 1 year.
    let days = |f: &str| {
        let (_, out) = tool("openssl", &["x509", "-noout", "-enddate", "-in", &p(f)]);
        let (ok, _) = tool("openssl", &["x509", "-noout", "-checkend", &(366 * 86400).to_string(), "-in", &p(f)]);
        (out, ok)
    };
    assert!(days("ca.crt").1, "CA must outlive 366 days");
    assert!(!days("apiserver.crt").1, "leaf must expire within 366 days");
    let (ok, _) = tool("openssl", &["x509", "-noout", "-checkend", &(364 * 86400).to_string(), "-in", &p("apiserver.crt")]);
    assert!(ok, "leaf must be valid for about a year");
    // The SA key pair belongs together.
    let (_, a) = tool("openssl", &["pkey", "-in", &p("sa.key"), "-pubout"]);
    assert_eq!(a.trim(), std::fs::read_to_string(pki.join("sa.pub")).unwrap().trim());
}

#[test]
fn old_versions_put_admin_and_etcd_clients_in_system_masters() {
    let root = tempfile::tempdir().unwrap();
    let r = init(root.path(), &["--kubernetes-version", "v1.20.2"]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    let t = tool("openssl", &["x509", "-noout", "-subject", "-in", host(root.path(), "/etc/kubernetes/pki/apiserver-kubelet-client.crt").to_str().unwrap()]).1;
    assert!(t.contains("O = system:masters"), "{t}");
    let t = tool("openssl", &["x509", "-noout", "-subject", "-in", host(root.path(), "/etc/kubernetes/pki/etcd/healthcheck-client.crt").to_str().unwrap()]).1;
    assert!(t.contains("O = system:masters"), "{t}");
    assert!(!host(root.path(), "/etc/kubernetes/super-admin.conf").exists(), "super-admin.conf arrived in 1.29");
}
