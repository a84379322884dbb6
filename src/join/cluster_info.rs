//! The trust decision of token discovery, as a pure function: given the data of a
//! `kube-public/cluster-info` ConfigMap fetched over an UNVERIFIED connection, the bootstrap
//! token and the CA pins, either everything in it is proven or it is refused.
//!
//! Order matters and is kubeadm's (discovery/token/token.go), made stricter:
//! 1. the detached JWS `jws-kubeconfig-<id>` must be the HMAC of the kubeconfig text with the
//!    token's secret — checked on the raw text, before any YAML is parsed;
//! 2. the kubeconfig holds exactly one cluster, whose server is `https://`;
//! 3. its `certificate-authority-data` is parsed once ([`CaBundle`]) and EVERY certificate in it
//!    must match a pin (kubeadm accepts a bundle if any one matches; kubeup trusts only what it
//!    pinned), unless the user opted out with no pins at all.
//!
//! Fuzzed in `tests/discovery_fuzz.rs`: nothing unsigned or unpinned is ever accepted.

use std::collections::BTreeMap;

use base64::engine::general_purpose::STANDARD as B64;
use base64::Engine as _;

use crate::pki::ca_bundle::{CaBundle, CaBundleError};
use crate::token::BootstrapToken;

/// Why a cluster-info was refused (the fetching layer adds the endpoint).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ClusterInfoError {
    /// No `kubeconfig` key.
    #[error("it has no kubeconfig key")]
    NoKubeconfig,
    /// No signature for this token id (yet).
    #[error("it has no signature for token id {0:?}")]
    NoSignature(String),
    /// The signature is not this token's.
    #[error("it is signed for token id {0:?}, but not with this token's secret")]
    BadSignature(String),
    /// The signed kubeconfig does not parse.
    #[error("its kubeconfig does not parse: {0}")]
    Kubeconfig(String),
    /// Not exactly one cluster.
    #[error("its kubeconfig names {0} clusters; exactly one is required")]
    ClusterCount(usize),
    /// The server is not https.
    #[error("its server {0:?} is not an https:// URL; kubeup only talks to the cluster over TLS verified with the pinned CA")]
    NotHttps(String),
    /// No CA data.
    #[error("its kubeconfig has no certificate-authority-data")]
    NoCa,
    /// The CA data is not base64.
    #[error("its certificate-authority-data is not base64")]
    CaNotBase64,
    /// The CA data is not a strict PEM bundle of CA certificates.
    #[error("its certificate-authority-data is refused: {0}")]
    Ca(#[from] CaBundleError),
    /// A certificate that matches no pin.
    #[error("its CA certificate {subject} has public key hash {actual}, which matches none of the --discovery-token-ca-cert-hash values ({pins})")]
    Unpinned {
        /// Subject of the unpinned certificate.
        subject: String,
        /// Its hash.
        actual: String,
        /// The pins given.
        pins: String,
    },
}

impl ClusterInfoError {
    /// Whether waiting may help (the signer has not signed for a new token yet).
    pub fn is_transient(&self) -> bool {
        matches!(self, ClusterInfoError::NoSignature(_))
    }
}

/// What a verified cluster-info proves.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VerifiedClusterInfo {
    /// The signed kubeconfig text, byte for byte (the verified re-fetch must match it).
    pub kubeconfig: String,
    /// Its one cluster's name.
    pub cluster_name: String,
    /// Its server (https), what the kubelet's bootstrap kubeconfig names.
    pub server: String,
    /// Its CA bundle, every certificate pinned (unless the user opted out).
    pub ca: CaBundle,
}

/// Verify cluster-info's data. `pins` are parsed pins; empty only when the user opted out of CA
/// verification (the caller refuses empty pins otherwise).
pub fn verify(data: &BTreeMap<String, String>, token: &BootstrapToken, pins: &[String]) -> Result<VerifiedClusterInfo, ClusterInfoError> {
    let text = data.get("kubeconfig").ok_or(ClusterInfoError::NoKubeconfig)?;
    let key = format!("jws-kubeconfig-{}", token.id());
    let sig = data.get(&key).ok_or_else(|| ClusterInfoError::NoSignature(token.id().into()))?;
    if !crate::jws::verify(text, sig, token.id(), token.secret()) {
        return Err(ClusterInfoError::BadSignature(token.id().into()));
    }
    // Signed by someone who holds the token. From here on the content is the cluster's word
    // (or a token holder's): still checked, since worker tokens are widely shared.
    let (cluster_name, server, ca) = parse_kubeconfig(text)?;
    if !pins.is_empty() {
        if let Some(c) = ca.unpinned(pins).first() {
            return Err(ClusterInfoError::Unpinned { subject: c.subject.clone(), actual: c.pin.clone(), pins: pins.join(", ") });
        }
    }
    Ok(VerifiedClusterInfo { kubeconfig: text.clone(), cluster_name, server, ca })
}

/// The one cluster of a kubeconfig (the current context's, if it names one): its name, https
/// server and strictly parsed CA bundle.
pub fn parse_kubeconfig(text: &str) -> Result<(String, String, CaBundle), ClusterInfoError> {
    let kc = kube::config::Kubeconfig::from_yaml(text).map_err(|e| ClusterInfoError::Kubeconfig(e.to_string()))?;
    let named = match kc.current_context.as_deref().filter(|c| !c.is_empty()) {
        Some(current) => {
            let ctx = kc
                .contexts
                .iter()
                .find(|c| c.name == current)
                .and_then(|c| c.context.as_ref())
                .ok_or_else(|| ClusterInfoError::Kubeconfig(format!("current-context {current:?} is not defined")))?;
            kc.clusters
                .iter()
                .find(|c| c.name == ctx.cluster)
                .ok_or_else(|| ClusterInfoError::Kubeconfig(format!("context {current:?} names cluster {:?}, which is not defined", ctx.cluster)))?
        }
        None if kc.clusters.len() == 1 => &kc.clusters[0],
        None => return Err(ClusterInfoError::ClusterCount(kc.clusters.len())),
    };
    if kc.clusters.len() != 1 {
        return Err(ClusterInfoError::ClusterCount(kc.clusters.len()));
    }
    let cluster = named.cluster.as_ref().ok_or(ClusterInfoError::ClusterCount(0))?;
    let server = cluster.server.clone().unwrap_or_default();
    if !is_https_url(&server) {
        return Err(ClusterInfoError::NotHttps(server));
    }
    let data = cluster.certificate_authority_data.as_deref().ok_or(ClusterInfoError::NoCa)?;
    let pem = B64.decode(data.trim()).map_err(|_| ClusterInfoError::CaNotBase64)?;
    let pem = String::from_utf8(pem).map_err(|_| ClusterInfoError::Ca(CaBundleError::Stray { line: 1, what: "bytes that are not UTF-8".into() }))?;
    Ok((named.name.clone(), server, CaBundle::parse_ca_pem(&pem)?))
}

/// `https://host[:port][/path]` with a non-empty host and nothing a URL parser could read as
/// another scheme or user info.
pub fn is_https_url(url: &str) -> bool {
    let Some(rest) = url.strip_prefix("https://") else { return false };
    let authority = rest.split('/').next().unwrap_or("");
    !authority.is_empty() && !authority.contains('@') && url.parse::<http::Uri>().is_ok_and(|u| u.scheme_str() == Some("https") && u.host().is_some())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_https_urls_with_a_host_pass() {
        for good in ["https://10.0.0.1:6443", "https://[fd00::1]:6443", "https://api.example.com", "https://h:1/p"] {
            assert!(is_https_url(good), "{good}");
        }
        for bad in ["http://10.0.0.1:6443", "HTTPS://x", "https://", "https://user@evil:6443", "ftp://x", "https:/x", "unix:///run/x.sock", ""] {
            assert!(!is_https_url(bad), "{bad}");
        }
    }
}
