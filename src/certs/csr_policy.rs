//! Which kubelet serving CSRs kubeup approves: a `kubernetes.io/kubelet-serving` request made by
//! the node itself (`system:node:<name>` in `system:nodes`), for a subject that is exactly that
//! node, with serving usages only, and only for DNS names and IP addresses that the Node object
//! already lists as its own. Everything else is denied with the reason; a request from a node
//! that has not registered yet waits.
//!
//! Why so strict: an approved serving certificate lets its holder impersonate a kubelet to the
//! API server (which verifies kubelets with the cluster CA). A node that could get a
//! certificate for another node's address could intercept `kubectl exec` and `logs` to it.
//!
//! Pure.

use std::collections::BTreeSet;
use std::net::IpAddr;

use k8s_openapi::api::certificates::v1::CertificateSigningRequest;
use k8s_openapi::api::core::v1::Node;
use x509_parser::prelude::*;

/// The signer of kubelet serving certificates.
pub const SIGNER: &str = "kubernetes.io/kubelet-serving";

/// The usages a serving certificate may ask for.
const SERVING_USAGES: [&str; 3] = ["digital signature", "key encipherment", "server auth"];

/// What to do with a CSR.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Verdict {
    /// Approve it.
    Approve,
    /// Deny it, with the reason.
    Deny(String),
    /// Decide later (the node has not registered yet).
    Wait(String),
    /// Not for kubeup to decide (another signer, or already decided).
    NotOurs,
}

/// The DNS names and IP addresses a CSR asks for, and whether it asks for anything else.
struct Requested {
    cn: Option<String>,
    orgs: Vec<String>,
    dns: Vec<String>,
    ips: Vec<IpAddr>,
    other: Vec<String>,
}

fn parse_request(pem_bytes: &[u8]) -> Result<Requested, String> {
    let (_, pem) = x509_parser::pem::parse_x509_pem(pem_bytes).map_err(|e| format!("not PEM: {e}"))?;
    if pem.label != "CERTIFICATE REQUEST" {
        return Err(format!("a {:?} PEM block, not a CERTIFICATE REQUEST", pem.label));
    }
    let (_, csr) = X509CertificationRequest::from_der(&pem.contents).map_err(|e| format!("not a PKCS#10 request: {e}"))?;
    csr.verify_signature().map_err(|_| "its signature does not verify".to_string())?;
    let subject = &csr.certification_request_info.subject;
    let strings = |it: &mut dyn Iterator<Item = &AttributeTypeAndValue>| -> Vec<String> { it.filter_map(|a| a.as_str().ok().map(str::to_string)).collect() };
    let mut r = Requested {
        cn: strings(&mut subject.iter_common_name()).into_iter().next(),
        orgs: strings(&mut subject.iter_organization()),
        dns: vec![],
        ips: vec![],
        other: vec![],
    };
    for ext in csr.requested_extensions().into_iter().flatten() {
        if let ParsedExtension::SubjectAlternativeName(san) = ext {
            for name in &san.general_names {
                match name {
                    GeneralName::DNSName(d) => r.dns.push(d.to_string()),
                    GeneralName::IPAddress(b) => match (<[u8; 4]>::try_from(*b), <[u8; 16]>::try_from(*b)) {
                        (Ok(a), _) => r.ips.push(IpAddr::from(a)),
                        (_, Ok(a)) => r.ips.push(IpAddr::from(a)),
                        _ => r.other.push("a malformed IP address".into()),
                    },
                    other => r.other.push(format!("{other}")),
                }
            }
        }
    }
    Ok(r)
}

/// Decide on `csr`; `node` is the Node named by its requester, if it exists.
pub fn decide(csr: &CertificateSigningRequest, node: Option<&Node>) -> Verdict {
    let spec = &csr.spec;
    if spec.signer_name != SIGNER {
        return Verdict::NotOurs;
    }
    let decided =
        csr.status.as_ref().and_then(|s| s.conditions.as_ref()).is_some_and(|c| c.iter().any(|c| matches!(c.type_.as_str(), "Approved" | "Denied" | "Failed")));
    if decided {
        return Verdict::NotOurs;
    }
    let user = spec.username.clone().unwrap_or_default();
    let node_name = match user.strip_prefix("system:node:") {
        Some(n) if !n.is_empty() && spec.groups.as_ref().is_some_and(|g| g.iter().any(|g| g == "system:nodes")) => n.to_string(),
        _ => {
            return Verdict::Deny(format!(
                "requested by {user:?}: kubelet serving certificates are requested by the node itself (system:node:<name> in group system:nodes)"
            ))
        }
    };
    let r = match parse_request(&spec.request.0) {
        Ok(r) => r,
        Err(e) => return Verdict::Deny(format!("the request cannot be read: {e}")),
    };
    if r.cn.as_deref() != Some(user.as_str()) || r.orgs != ["system:nodes"] {
        return Verdict::Deny(format!(
            "the subject is CN={:?} O={:?}; a serving certificate of {node_name} must be CN={user:?} O=[\"system:nodes\"]",
            r.cn.unwrap_or_default(),
            r.orgs
        ));
    }
    let usages: BTreeSet<&str> = spec.usages.iter().flatten().map(String::as_str).collect();
    if !usages.contains("server auth") || usages.iter().any(|u| !SERVING_USAGES.contains(u)) {
        return Verdict::Deny(format!("usages {usages:?} are not a serving certificate's (server auth, with digital signature and key encipherment at most)"));
    }
    if !r.other.is_empty() {
        return Verdict::Deny(format!("it asks for names other than DNS names and IP addresses: {}", r.other.join(", ")));
    }
    if r.dns.is_empty() && r.ips.is_empty() {
        return Verdict::Deny("it names no DNS name or IP address".into());
    }
    let Some(node) = node else { return Verdict::Wait(format!("Node {node_name} is not registered yet")) };
    let addresses = node.status.as_ref().and_then(|s| s.addresses.as_ref()).cloned().unwrap_or_default();
    let names: Vec<&str> =
        addresses.iter().filter(|a| matches!(a.type_.as_str(), "Hostname" | "InternalDNS" | "ExternalDNS")).map(|a| a.address.as_str()).collect();
    let ips: Vec<IpAddr> =
        addresses.iter().filter(|a| matches!(a.type_.as_str(), "InternalIP" | "ExternalIP")).filter_map(|a| a.address.parse().ok()).collect();
    if let Some(d) = r.dns.iter().find(|d| !names.contains(&d.as_str())) {
        return Verdict::Deny(format!("DNS name {d} is not an address of Node {node_name} (its names: {})", names.join(", ")));
    }
    if let Some(ip) = r.ips.iter().find(|ip| !ips.contains(ip)) {
        let list: Vec<String> = ips.iter().map(ToString::to_string).collect();
        return Verdict::Deny(format!("IP address {ip} is not an address of Node {node_name} (its addresses: {})", list.join(", ")));
    }
    Verdict::Approve
}
