//! Attacks on the kubelet serving CSR approver's policy: every request below is one a
//! compromised node (or a user) could make to obtain a certificate the API server would trust
//! as another kubelet. Only the honest request is approved.

use k8s_openapi::api::certificates::v1::{
    CertificateSigningRequest, CertificateSigningRequestCondition, CertificateSigningRequestSpec, CertificateSigningRequestStatus,
};
use k8s_openapi::api::core::v1::{Node, NodeAddress, NodeStatus};
use k8s_openapi::ByteString;
use kubeup::certs::csr_policy::{decide, Verdict, SIGNER};
use rcgen::{CertificateParams, DistinguishedName, DnType, KeyPair, SanType};

fn request(cn: &str, orgs: &[&str], sans: &[&str]) -> Vec<u8> {
    let mut p = CertificateParams::default();
    let mut dn = DistinguishedName::new();
    for o in orgs {
        dn.push(DnType::OrganizationName, *o);
    }
    dn.push(DnType::CommonName, cn);
    p.distinguished_name = dn;
    p.subject_alt_names = sans
        .iter()
        .map(|s| match (s.strip_prefix("email:"), s.parse()) {
            (Some(e), _) => SanType::Rfc822Name(e.to_string().try_into().unwrap()),
            (None, Ok(ip)) => SanType::IpAddress(ip),
            (None, Err(_)) => SanType::DnsName(s.to_string().try_into().unwrap()),
        })
        .collect();
    let key = KeyPair::generate_for(&rcgen::PKCS_ECDSA_P256_SHA256).unwrap();
    p.serialize_request(&key).unwrap().pem().unwrap().into_bytes()
}

fn csr(user: &str, groups: &[&str], usages: &[&str], req: Vec<u8>) -> CertificateSigningRequest {
    CertificateSigningRequest {
        spec: CertificateSigningRequestSpec {
            signer_name: SIGNER.into(),
            username: Some(user.into()),
            groups: Some(groups.iter().map(|g| g.to_string()).collect()),
            usages: Some(usages.iter().map(|u| u.to_string()).collect()),
            request: ByteString(req),
            ..Default::default()
        },
        ..Default::default()
    }
}

const NODE: &str = "system:node:node2";
const NODES: [&str; 2] = ["system:nodes", "system:authenticated"];
const USAGES: [&str; 3] = ["digital signature", "key encipherment", "server auth"];

fn honest() -> CertificateSigningRequest {
    csr(NODE, &NODES, &USAGES, request(NODE, &["system:nodes"], &["node2", "172.29.1.12"]))
}

fn node2() -> Node {
    let addr = |t: &str, a: &str| NodeAddress { type_: t.into(), address: a.into() };
    Node {
        metadata: Default::default(),
        status: Some(NodeStatus { addresses: Some(vec![addr("InternalIP", "172.29.1.12"), addr("Hostname", "node2")]), ..Default::default() }),
        ..Default::default()
    }
}

fn denied(c: &CertificateSigningRequest, why: &str) {
    match decide(c, Some(&node2())) {
        Verdict::Deny(reason) => assert!(reason.contains(why), "denied for {reason:?}, expected a reason containing {why:?}"),
        other => panic!("expected a denial containing {why:?}, got {other:?}"),
    }
}

#[test]
fn the_nodes_own_request_for_its_own_addresses_is_approved() {
    assert_eq!(decide(&honest(), Some(&node2())), Verdict::Approve);
    // ECDSA keys need no key encipherment: a subset of the serving usages is fine.
    let c = csr(NODE, &NODES, &["digital signature", "server auth"], request(NODE, &["system:nodes"], &["172.29.1.12"]));
    assert_eq!(decide(&c, Some(&node2())), Verdict::Approve);
}

#[test]
fn an_extra_name_or_another_nodes_address_is_denied() {
    denied(&csr(NODE, &NODES, &USAGES, request(NODE, &["system:nodes"], &["node2", "evil.example.com"])), "evil.example.com");
    denied(&csr(NODE, &NODES, &USAGES, request(NODE, &["system:nodes"], &["node2", "172.29.1.13"])), "172.29.1.13");
    denied(&csr(NODE, &NODES, &USAGES, request(NODE, &["system:nodes"], &["node3"])), "node3");
    denied(&csr(NODE, &NODES, &USAGES, request(NODE, &["system:nodes"], &["node2", "email:root@node2"])), "other than DNS names");
    denied(&csr(NODE, &NODES, &USAGES, request(NODE, &["system:nodes"], &[])), "no DNS name or IP");
}

#[test]
fn a_foreign_requester_is_denied() {
    // A user (even a cluster admin) asking for a kubelet's certificate.
    denied(&csr("kubernetes-admin", &["system:masters"], &USAGES, request(NODE, &["system:nodes"], &["node2"])), "requested by");
    // A node name without the nodes group (e.g. a bootstrap token user named like a node).
    denied(&csr(NODE, &["system:bootstrappers"], &USAGES, request(NODE, &["system:nodes"], &["node2"])), "requested by");
    // node3 asking for node2's certificate.
    let c = csr("system:node:node3", &NODES, &USAGES, request(NODE, &["system:nodes"], &["node2"]));
    match decide(&c, None) {
        Verdict::Deny(r) => assert!(r.contains("subject"), "{r}"),
        other => panic!("{other:?}"),
    }
    denied(&csr(NODE, &NODES, &USAGES, request(NODE, &["system:masters"], &["node2"])), "subject");
}

#[test]
fn a_wrong_usage_is_denied() {
    let req = || request(NODE, &["system:nodes"], &["node2"]);
    denied(&csr(NODE, &NODES, &["digital signature", "key encipherment", "client auth"], req()), "usages");
    denied(&csr(NODE, &NODES, &["digital signature", "server auth", "client auth"], req()), "usages");
    denied(&csr(NODE, &NODES, &["server auth", "cert sign"], req()), "usages");
}

#[test]
fn garbage_is_denied_and_foreign_or_decided_requests_are_left_alone() {
    denied(&csr(NODE, &NODES, &USAGES, b"-----BEGIN CERTIFICATE REQUEST-----\nAAAA\n-----END CERTIFICATE REQUEST-----\n".to_vec()), "cannot be read");
    let mut other_signer = honest();
    other_signer.spec.signer_name = "kubernetes.io/kube-apiserver-client".into();
    assert_eq!(decide(&other_signer, Some(&node2())), Verdict::NotOurs);
    let mut decided = honest();
    decided.status = Some(CertificateSigningRequestStatus {
        conditions: Some(vec![CertificateSigningRequestCondition { type_: "Denied".into(), status: "True".into(), ..Default::default() }]),
        ..Default::default()
    });
    assert_eq!(decide(&decided, Some(&node2())), Verdict::NotOurs);
    assert!(matches!(decide(&honest(), None), Verdict::Wait(_)));
}
