//! EDGE: secure discovery of a cluster (kubeadm's token discovery, kubeadm.md §6). The joining
//! node trusts nothing it is told until it has proven it:
//!
//! 1. `kube-public/cluster-info` is fetched from `https://<the endpoint the user typed>` without
//!    checking the server's certificate, and verified by [`cluster_info::verify`]: signed with
//!    the token's secret, exactly one cluster with an `https://` server, every CA certificate
//!    pinned.
//! 2. It is fetched AGAIN from the same endpoint over TLS whose only trust roots are the pinned
//!    certificates, and must be byte-identical. Only then is the cluster "discovered".
//!
//! Every later request of `join` uses [`super::api::pinned`] with the same bundle. Nothing is
//! written to the host during discovery.

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use k8s_openapi::api::core::v1::ConfigMap;

use super::api::{self, FetchError};
use super::cluster_info::{self, ClusterInfoError};
use crate::pki::ca_bundle::CaBundle;
use crate::token::BootstrapToken;

/// Why discovery failed. Every message names the reason and what to do.
#[derive(Debug, thiserror::Error)]
pub enum DiscoveryError {
    /// A `--discovery-token-ca-cert-hash` is not `sha256:<64 hex>`.
    #[error("malformed --discovery-token-ca-cert-hash {0:?}: expected sha256:<64 hex digits>, as printed by `kubeup init` or `kubeup token create --print-join-command`")]
    MalformedPin(String),
    /// Neither pins nor the explicit opt-out were given.
    #[error("no --discovery-token-ca-cert-hash given: pass the hash printed by `kubeup init` (or, insecurely, --discovery-token-unsafe-skip-ca-verification)")]
    NoPins,
    /// The endpoint is not usable.
    #[error("the endpoint {endpoint:?} cannot be used: {reason}")]
    Endpoint {
        /// Endpoint.
        endpoint: String,
        /// Why.
        reason: String,
    },
    /// The signature for this token id never appeared.
    #[error("cluster-info at {endpoint} has no signature for token id {id:?} after {secs} s: the token is invalid for this cluster or has expired; create one with `kubeup token create --print-join-command` on a control-plane node")]
    NoSignature {
        /// Endpoint.
        endpoint: String,
        /// Token id.
        id: String,
        /// How long kubeup waited.
        secs: u64,
    },
    /// The signature does not match the token's secret.
    #[error("cluster-info at {endpoint} is signed for token id {id:?}, but not with this token's secret: the token is wrong, or someone between this node and the cluster altered cluster-info; check the token")]
    BadSignature {
        /// Endpoint.
        endpoint: String,
        /// Token id.
        id: String,
    },
    /// A CA certificate matches no pin.
    #[error("the cluster CA served at {endpoint} has public key hash {actual} ({subject}), which matches none of the --discovery-token-ca-cert-hash values ({pins}): this is not the cluster you expect (or someone is in between); check the hash on the control-plane node")]
    PinMismatch {
        /// Endpoint.
        endpoint: String,
        /// The certificate's hash.
        actual: String,
        /// Its subject.
        subject: String,
        /// The pins given.
        pins: String,
    },
    /// The server could not be reached in time.
    #[error("cannot reach the API server at {endpoint} within {secs} s: {reason}; check the address and that port {port} is open")]
    Unreachable {
        /// Endpoint.
        endpoint: String,
        /// Port.
        port: String,
        /// Seconds waited.
        secs: u64,
        /// Last error.
        reason: String,
    },
    /// cluster-info is malformed or refused.
    #[error("cluster-info at {endpoint} is refused: {reason}")]
    Malformed {
        /// Endpoint.
        endpoint: String,
        /// What is wrong.
        reason: String,
    },
    /// The verified fetch returned something else than the unverified one.
    #[error("cluster-info at {endpoint} changed between the unverified and the verified fetch: refusing to trust it; run join again")]
    Changed {
        /// Endpoint.
        endpoint: String,
    },
    /// The verified fetch failed.
    #[error("cannot fetch cluster-info from {url} over TLS verified with the pinned CA: {reason}; the server does not hold a certificate of the pinned CA for this address (someone may be in between)")]
    Verified {
        /// The URL.
        url: String,
        /// The error.
        reason: String,
    },
    /// A discovery file could not be used.
    #[error("--discovery-file {path}: {reason}")]
    File {
        /// The file.
        path: String,
        /// What is wrong.
        reason: String,
    },
}

/// What discovery established.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Discovered {
    /// The API server URL from the signed cluster-info (what the kubelet will talk to).
    pub server: String,
    /// The verified URL later requests of `join` go to (the endpoint the user typed).
    pub api_url: String,
    /// The cluster's name in cluster-info.
    pub cluster_name: String,
    /// The pinned CA bundle (the only trust roots of every later request).
    pub ca: CaBundle,
    /// The pins of its certificates, for people.
    pub ca_hash: String,
}

impl Discovered {
    /// The CA as kubeup writes it (canonical PEM of the pinned certificates).
    pub fn ca_pem(&self) -> String {
        self.ca.to_pem()
    }
}

/// Parse and check the pins (`sha256:<hex>`, lower-cased as kubeadm does).
pub fn parse_pins(pins: &[String]) -> Result<Vec<String>, DiscoveryError> {
    pins.iter()
        .map(|p| {
            let lower = p.trim().to_ascii_lowercase();
            match lower.strip_prefix("sha256:") {
                Some(hex) if hex.len() == 64 && hex.bytes().all(|b| b.is_ascii_hexdigit()) => Ok(lower),
                _ => Err(DiscoveryError::MalformedPin(p.clone())),
            }
        })
        .collect()
}

/// How discovery is asked to run.
#[derive(Debug, Clone)]
pub struct TokenDiscovery {
    /// `host:port` of the API server, as the user typed it.
    pub endpoint: String,
    /// The bootstrap token.
    pub token: BootstrapToken,
    /// CA pins (already parsed). Always checked when given, also with `skip_ca_verification`.
    pub pins: Vec<String>,
    /// `--discovery-token-unsafe-skip-ca-verification`: allowed to have no pins.
    pub skip_ca_verification: bool,
    /// `--discovery-timeout`.
    pub timeout: Duration,
    /// Poll interval while the signature is missing (kubeadm: 5 s).
    pub interval: Duration,
}

fn data_of(cm: ConfigMap) -> BTreeMap<String, String> {
    cm.data.unwrap_or_default()
}

fn refused(endpoint: &str, e: ClusterInfoError, token: &BootstrapToken) -> DiscoveryError {
    match e {
        ClusterInfoError::BadSignature(id) => DiscoveryError::BadSignature { endpoint: endpoint.into(), id },
        ClusterInfoError::Unpinned { subject, actual, pins } => DiscoveryError::PinMismatch { endpoint: endpoint.into(), actual, subject, pins },
        ClusterInfoError::NoSignature(_) => DiscoveryError::NoSignature { endpoint: endpoint.into(), id: token.id().into(), secs: 0 },
        other => DiscoveryError::Malformed { endpoint: endpoint.into(), reason: other.to_string() },
    }
}

/// Token discovery: returns the verified cluster facts, or why not.
pub async fn discover(d: &TokenDiscovery) -> Result<Discovered, DiscoveryError> {
    if d.pins.is_empty() && !d.skip_ca_verification {
        return Err(DiscoveryError::NoPins);
    }
    let endpoint = d.endpoint.clone();
    let url = api::endpoint_url(&endpoint).map_err(|e| DiscoveryError::Endpoint { endpoint: endpoint.clone(), reason: e.to_string() })?;
    let port = endpoint.rsplit(':').next().filter(|p| p.bytes().all(|b| b.is_ascii_digit())).unwrap_or("6443").to_string();
    let client =
        api::unverified(&url).map_err(|e| DiscoveryError::Unreachable { endpoint: endpoint.clone(), port: port.clone(), secs: 0, reason: e.to_string() })?;
    let path = api::paths::config_map("kube-public", "cluster-info");
    let started = Instant::now();
    let verified = loop {
        let waited = started.elapsed();
        let last = match api::get::<ConfigMap>(&client, &path).await {
            Ok(Some(cm)) => match cluster_info::verify(&data_of(cm), &d.token, &d.pins) {
                Ok(v) => break v,
                Err(e) if e.is_transient() => {
                    if waited >= d.timeout {
                        return Err(DiscoveryError::NoSignature { endpoint, id: d.token.id().into(), secs: d.timeout.as_secs() });
                    }
                    tracing::info!("cluster-info has no signature for token id {} yet; retrying", d.token.id());
                    None
                }
                Err(e) => return Err(refused(&endpoint, e, &d.token)),
            },
            Ok(None) if waited >= d.timeout => {
                return Err(DiscoveryError::Malformed {
                    endpoint,
                    reason: "kube-public/cluster-info does not exist (is this a kubeadm/kubeup cluster?)".into(),
                })
            }
            Ok(None) => None,
            Err(FetchError::TooLarge) => return Err(DiscoveryError::Malformed { endpoint, reason: FetchError::TooLarge.to_string() }),
            Err(e) => Some(e),
        };
        if let Some(e) = last {
            if waited >= d.timeout {
                return Err(DiscoveryError::Unreachable { endpoint, port, secs: d.timeout.as_secs(), reason: e.to_string() });
            }
            tracing::info!("cluster-info cannot be fetched yet ({e}); retrying");
        }
        tokio::time::sleep(d.interval.min(d.timeout.saturating_sub(started.elapsed())).max(Duration::from_millis(50))).await;
    };
    if d.pins.is_empty() {
        tracing::warn!(
            "the cluster CA was NOT verified (--discovery-token-unsafe-skip-ca-verification): anyone who knows the token could impersonate the cluster"
        );
    }
    // Second fetch: the same endpoint, TLS verified with the certificates just pinned only.
    let secure = api::pinned(&url, &verified.ca, None).map_err(|e| DiscoveryError::Verified { url: url.clone(), reason: e.to_string() })?;
    let again = api::get::<ConfigMap>(&secure, &path)
        .await
        .map_err(|e| DiscoveryError::Verified { url: url.clone(), reason: e.to_string() })?
        .ok_or_else(|| DiscoveryError::Verified { url: url.clone(), reason: "cluster-info no longer exists".into() })?;
    if data_of(again).get("kubeconfig") != Some(&verified.kubeconfig) {
        return Err(DiscoveryError::Changed { endpoint });
    }
    let ca_hash = verified.ca.pins().join(",");
    Ok(Discovered { server: verified.server, api_url: url, cluster_name: verified.cluster_name, ca: verified.ca, ca_hash })
}

/// `--discovery-file` (a kubeconfig file with the server and the CA): the file is the user's
/// out-of-band proof, as in kubeadm. Its current context's cluster (or its only cluster) is
/// used; the server must be https and the CA a strict PEM bundle of CA certificates.
pub fn from_file(path: &str) -> Result<Discovered, DiscoveryError> {
    let err = |reason: String| DiscoveryError::File { path: path.into(), reason };
    if path.starts_with("https://") || path.starts_with("http://") {
        return Err(err("discovery from a URL is not supported by this version of kubeup: download the file and pass its path".into()));
    }
    let meta = std::fs::metadata(path).map_err(|e| err(format!("cannot be read: {e}")))?;
    if meta.len() > api::MAX_BODY as u64 {
        return Err(err(format!("is larger than {} KiB: it is not a discovery kubeconfig", api::MAX_BODY / 1024)));
    }
    let text = std::fs::read_to_string(path).map_err(|e| err(format!("cannot be read: {e}")))?;
    let (cluster_name, server, ca) = cluster_info::parse_kubeconfig(&text).map_err(|e| err(e.to_string()))?;
    let ca_hash = ca.pins().join(",");
    Ok(Discovered { api_url: server.clone(), server, cluster_name, ca, ca_hash })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pins_are_checked_for_form() {
        let good = format!("sha256:{}", "A".repeat(64));
        assert_eq!(parse_pins(std::slice::from_ref(&good)).unwrap(), vec![good.to_lowercase()]);
        for bad in ["sha256:abc", "md5:0000", &"a".repeat(64), &format!("sha256:{}", "g".repeat(64))] {
            let e = parse_pins(&[bad.to_string()]).unwrap_err().to_string();
            assert!(e.contains("expected sha256:<64 hex digits>"), "{e}");
        }
    }
}
