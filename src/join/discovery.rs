//! EDGE: secure discovery of a cluster (kubeadm's token discovery, kubeadm.md §6). The joining
//! node trusts nothing it is told until it has checked two things:
//!
//! 1. `kube-public/cluster-info`, fetched without trusting the server's certificate, carries
//!    `jws-kubeconfig-<token-id>`, the detached JWS of its kubeconfig made with the token's
//!    secret: only someone who knows the token could have made it.
//! 2. The CA in that kubeconfig hashes (sha256 of its SubjectPublicKeyInfo) to one of the pins
//!    the user copied from the control-plane node: a server with another CA is refused.
//!
//! Then it fetches cluster-info again over TLS verified with that CA and requires the same
//! kubeconfig, byte for byte. Nothing is written to the host during discovery.

use std::time::{Duration, Instant};

use base64::engine::general_purpose::STANDARD as B64;
use base64::Engine as _;
use k8s_openapi::api::core::v1::ConfigMap;
use kube::api::Api;
use kube::Client;

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
    /// The CA does not match any pin.
    #[error("the cluster CA served at {endpoint} has public key hash {actual}, which matches none of the --discovery-token-ca-cert-hash values ({pins}): this is not the cluster you expect (or someone is in between); check the hash on the control-plane node")]
    PinMismatch {
        /// Endpoint.
        endpoint: String,
        /// The CA's hash.
        actual: String,
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
    /// cluster-info is malformed.
    #[error("cluster-info at {endpoint} is malformed: {reason}")]
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
    #[error("cannot fetch cluster-info from {server} over TLS verified with the pinned CA: {reason}")]
    Verified {
        /// Server from cluster-info.
        server: String,
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
    /// The API server URL from cluster-info (what the kubelet will talk to).
    pub server: String,
    /// The cluster CA (PEM).
    pub ca_pem: String,
    /// Its `sha256:` public key hash.
    pub ca_hash: String,
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
    /// `host:port` of the API server.
    pub endpoint: String,
    /// The bootstrap token.
    pub token: BootstrapToken,
    /// CA pins (already parsed); empty only with `skip_ca_verification`.
    pub pins: Vec<String>,
    /// `--discovery-token-unsafe-skip-ca-verification`.
    pub skip_ca_verification: bool,
    /// `--discovery-timeout`.
    pub timeout: Duration,
    /// Poll interval while the signature is missing (kubeadm: 5 s; tests: shorter).
    pub interval: Duration,
}

/// A client that does not check the server's certificate (step 1 only: everything it returns
/// is verified before use). kube needs some root store; an empty one is given, since the
/// verifier is replaced.
fn insecure_client(url: &str) -> Result<Client, String> {
    let mut cfg = kube::Config::new(url.parse().map_err(|e| format!("{url} is not a URL: {e}"))?);
    cfg.accept_invalid_certs = true;
    cfg.root_cert = Some(vec![]);
    cfg.connect_timeout = Some(Duration::from_secs(5));
    cfg.read_timeout = Some(Duration::from_secs(10));
    Client::try_from(cfg).map_err(|e| e.to_string())
}

/// A client that trusts exactly `ca_pem`, optionally with a bearer token.
pub fn pinned_client(url: &str, ca_pem: &str, token: Option<&BootstrapToken>) -> Result<Client, String> {
    let mut cfg = kube::Config::new(url.parse().map_err(|e| format!("{url} is not a URL: {e}"))?);
    let der = pem::parse(ca_pem).map_err(|e| format!("the CA is not PEM: {e}"))?.contents().to_vec();
    cfg.root_cert = Some(vec![der]);
    cfg.connect_timeout = Some(Duration::from_secs(5));
    cfg.read_timeout = Some(Duration::from_secs(10));
    if let Some(t) = token {
        cfg.auth_info.token = Some(format!("{}.{}", t.id(), t.secret()).into());
    }
    Client::try_from(cfg).map_err(|e| e.to_string())
}

/// The kubeconfig inside cluster-info: its text, server and CA.
fn parse_cluster_info(cm: &ConfigMap, endpoint: &str) -> Result<(String, String, String), DiscoveryError> {
    let bad = |reason: &str| DiscoveryError::Malformed { endpoint: endpoint.into(), reason: reason.into() };
    let text = cm.data.as_ref().and_then(|d| d.get("kubeconfig")).ok_or_else(|| bad("it has no kubeconfig key"))?.clone();
    let kc = kube::config::Kubeconfig::from_yaml(&text).map_err(|e| bad(&format!("its kubeconfig does not parse: {e}")))?;
    let cluster = kc.clusters.first().and_then(|c| c.cluster.clone()).ok_or_else(|| bad("its kubeconfig names no cluster"))?;
    let server = cluster.server.ok_or_else(|| bad("its kubeconfig has no server"))?;
    let ca_data = cluster.certificate_authority_data.ok_or_else(|| bad("its kubeconfig has no certificate-authority-data"))?;
    let ca_pem = String::from_utf8(B64.decode(ca_data.trim()).map_err(|_| bad("certificate-authority-data is not base64"))?)
        .map_err(|_| bad("certificate-authority-data is not PEM text"))?;
    Ok((text, server, ca_pem))
}

fn url_of(endpoint: &str) -> String {
    if endpoint.starts_with("https://") {
        endpoint.to_string()
    } else {
        format!("https://{endpoint}")
    }
}

/// Token discovery: returns the verified cluster facts, or why not.
pub async fn discover(d: &TokenDiscovery) -> Result<Discovered, DiscoveryError> {
    if d.pins.is_empty() && !d.skip_ca_verification {
        return Err(DiscoveryError::NoPins);
    }
    let url = url_of(&d.endpoint);
    let endpoint = d.endpoint.clone();
    let port = endpoint.rsplit(':').next().unwrap_or("6443").to_string();
    let client = insecure_client(&url).map_err(|reason| DiscoveryError::Unreachable { endpoint: endpoint.clone(), port: port.clone(), secs: 0, reason })?;
    let api: Api<ConfigMap> = Api::namespaced(client, "kube-public");
    let started = Instant::now();
    let key = format!("jws-kubeconfig-{}", d.token.id());
    let (text, server, ca_pem) = loop {
        let waited = started.elapsed();
        match api.get_opt("cluster-info").await {
            Ok(Some(cm)) => {
                let sig = cm.data.as_ref().and_then(|m| m.get(&key)).cloned();
                if let Some(sig) = sig {
                    let (text, server, ca) = parse_cluster_info(&cm, &endpoint)?;
                    if !crate::jws::verify(&text, &sig, d.token.id(), d.token.secret()) {
                        return Err(DiscoveryError::BadSignature { endpoint, id: d.token.id().into() });
                    }
                    break (text, server, ca);
                }
                if waited >= d.timeout {
                    return Err(DiscoveryError::NoSignature { endpoint, id: d.token.id().into(), secs: d.timeout.as_secs() });
                }
                tracing::info!("cluster-info has no signature for token id {} yet; retrying", d.token.id());
            }
            Ok(None) if waited >= d.timeout => {
                return Err(DiscoveryError::Malformed {
                    endpoint,
                    reason: "kube-public/cluster-info does not exist (is this a kubeadm/kubeup cluster?)".into(),
                })
            }
            Ok(None) => tracing::info!("cluster-info does not exist yet; retrying"),
            Err(e) if waited >= d.timeout => {
                let reason = match e {
                    kube::Error::Api(s) => format!("HTTP {} {}", s.code, s.message),
                    other => other.to_string(),
                };
                return Err(DiscoveryError::Unreachable { endpoint, port, secs: d.timeout.as_secs(), reason });
            }
            Err(e) => tracing::info!("cluster-info cannot be fetched yet ({e}); retrying"),
        }
        tokio::time::sleep(d.interval.min(d.timeout.saturating_sub(started.elapsed())).max(Duration::from_millis(50))).await;
    };
    let ca_hash = crate::pki::ca_cert_hash(&ca_pem)
        .map_err(|e| DiscoveryError::Malformed { endpoint: endpoint.clone(), reason: format!("its CA is not a certificate: {e}") })?;
    if d.skip_ca_verification {
        tracing::warn!(
            "the cluster CA was NOT verified (--discovery-token-unsafe-skip-ca-verification): anyone who knows the token could impersonate the cluster"
        );
    } else if !d.pins.contains(&ca_hash) {
        return Err(DiscoveryError::PinMismatch { endpoint, actual: ca_hash, pins: d.pins.join(", ") });
    }
    // Second fetch: over TLS verified with the CA just pinned, through cluster-info's server.
    let verified = pinned_client(&server, &ca_pem, None).map_err(|reason| DiscoveryError::Verified { server: server.clone(), reason })?;
    let cm = Api::<ConfigMap>::namespaced(verified, "kube-public")
        .get("cluster-info")
        .await
        .map_err(|e| DiscoveryError::Verified { server: server.clone(), reason: e.to_string() })?;
    let (again, _, _) = parse_cluster_info(&cm, &endpoint)?;
    if again != text {
        return Err(DiscoveryError::Changed { endpoint });
    }
    Ok(Discovered { server, ca_pem, ca_hash })
}

/// `--discovery-file` (a kubeconfig file with the server and the CA): trusted as given, as
/// kubeadm does; the file is the user's out-of-band proof.
pub fn from_file(path: &str) -> Result<Discovered, DiscoveryError> {
    let err = |reason: String| DiscoveryError::File { path: path.into(), reason };
    if path.starts_with("https://") || path.starts_with("http://") {
        return Err(err("discovery from a URL is not supported by this version of kubeup: download the file and pass its path".into()));
    }
    let text = std::fs::read_to_string(path).map_err(|e| err(format!("cannot be read: {e}")))?;
    let cm = ConfigMap { data: Some([("kubeconfig".to_string(), text)].into()), ..Default::default() };
    let (_, server, ca_pem) = parse_cluster_info(&cm, path).map_err(|e| err(e.to_string()))?;
    let ca_hash = crate::pki::ca_cert_hash(&ca_pem).map_err(|e| err(format!("its CA is not a certificate: {e}")))?;
    Ok(Discovered { server, ca_pem, ca_hash })
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
