//! EDGE: the two kinds of connection a joining node opens before it is part of the cluster.
//!
//! - [`unverified`]: for the first fetch of cluster-info only. Nothing it returns is used before
//!   [`super::cluster_info::verify`] has checked it.
//! - [`pinned`]: TLS whose ONLY trust roots are the pinned CA certificates, to an `https://` URL
//!   and nothing else. Every later request of `join` (the verified re-fetch, kubeadm-config, the
//!   kubelet's ConfigMap, kubeadm-certs, the Node) goes through it.
//!
//! Every response body is capped at [`MAX_BODY`]: a hostile server cannot make a joining node
//! read without limit.

use std::time::Duration;

use http_body_util::BodyExt as _;
use serde::de::DeserializeOwned;

use crate::pki::ca_bundle::CaBundle;
use crate::token::BootstrapToken;

/// The largest response body a joining node reads (cluster-info is a few KiB).
pub const MAX_BODY: usize = 1024 * 1024;

/// Why a request of a joining node failed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum FetchError {
    /// The URL cannot be used.
    #[error("{0}")]
    Url(String),
    /// TLS, connection or timeout.
    #[error("{0}")]
    Transport(String),
    /// The server answered with an error status.
    #[error("HTTP {code} {message}")]
    Status {
        /// HTTP status.
        code: u16,
        /// The server's message.
        message: String,
    },
    /// The body exceeds [`MAX_BODY`].
    #[error("the response is larger than {} KiB; refusing to read it", MAX_BODY / 1024)]
    TooLarge,
    /// The body is not the expected object.
    #[error("the response is not the expected object: {0}")]
    Decode(String),
}

/// `https://<endpoint>` for what the user typed (`host:port`, `[v6]:port`, or an https URL).
pub fn endpoint_url(endpoint: &str) -> Result<String, FetchError> {
    let url = if endpoint.contains("://") { endpoint.to_string() } else { format!("https://{endpoint}") };
    if super::cluster_info::is_https_url(&url) {
        Ok(url.trim_end_matches('/').to_string())
    } else {
        Err(FetchError::Url(format!("{endpoint:?} is not host:port or an https:// URL: kubeup joins only over TLS")))
    }
}

fn base_config(url: &str) -> Result<kube::Config, FetchError> {
    let mut cfg = kube::Config::new(url.parse().map_err(|e| FetchError::Url(format!("{url} is not a URL: {e}")))?);
    cfg.connect_timeout = Some(Duration::from_secs(5));
    cfg.read_timeout = Some(Duration::from_secs(10));
    Ok(cfg)
}

/// A client that does not check the server's certificate (the first cluster-info fetch only).
pub fn unverified(url: &str) -> Result<kube::Client, FetchError> {
    let mut cfg = base_config(url)?;
    cfg.accept_invalid_certs = true;
    // kube needs some root store; an empty one is given, since the verifier is replaced.
    cfg.root_cert = Some(vec![]);
    kube::Client::try_from(cfg).map_err(|e| FetchError::Transport(e.to_string()))
}

/// A client that trusts exactly the certificates of `ca`, at an `https://` URL only, optionally
/// authenticating with the bootstrap token.
pub fn pinned(url: &str, ca: &CaBundle, token: Option<&BootstrapToken>) -> Result<kube::Client, FetchError> {
    if !super::cluster_info::is_https_url(url) {
        return Err(FetchError::Url(format!("{url} is not an https:// URL: the pinned CA would not be used, so kubeup refuses to connect")));
    }
    let mut cfg = base_config(url)?;
    cfg.root_cert = Some(ca.ders());
    if let Some(t) = token {
        cfg.auth_info.token = Some(format!("{}.{}", t.id(), t.secret()).into());
    }
    kube::Client::try_from(cfg).map_err(|e| FetchError::Transport(e.to_string()))
}

/// GET an object at `path`; `Ok(None)` on 404. The body is read up to [`MAX_BODY`].
pub async fn get<T: DeserializeOwned>(client: &kube::Client, path: &str) -> Result<Option<T>, FetchError> {
    let req = http::Request::get(path).body(kube::client::Body::from(Vec::new())).map_err(|e| FetchError::Url(e.to_string()))?;
    let res = client.send(req).await.map_err(|e| FetchError::Transport(transport_reason(e)))?;
    let status = res.status();
    if status == http::StatusCode::NOT_FOUND {
        return Ok(None);
    }
    let body = http_body_util::Limited::new(res.into_body(), MAX_BODY).collect().await.map_err(|e| {
        if e.downcast_ref::<http_body_util::LengthLimitError>().is_some() {
            FetchError::TooLarge
        } else {
            FetchError::Transport(e.to_string())
        }
    })?;
    let bytes = body.to_bytes();
    if !status.is_success() {
        let message = serde_json::from_slice::<serde_json::Value>(&bytes)
            .ok()
            .and_then(|v| v["message"].as_str().map(str::to_string))
            .unwrap_or_else(|| status.canonical_reason().unwrap_or("").to_string());
        return Err(FetchError::Status { code: status.as_u16(), message });
    }
    serde_json::from_slice(&bytes).map(Some).map_err(|e| FetchError::Decode(e.to_string()))
}

/// The innermost cause of a transport error (a TLS verification failure is named as such).
fn transport_reason(e: kube::Error) -> String {
    let mut msg = e.to_string();
    let mut src: Option<&(dyn std::error::Error + 'static)> = std::error::Error::source(&e);
    while let Some(s) = src {
        msg = s.to_string();
        src = s.source();
    }
    msg
}

/// Paths of the objects a joining node reads.
pub mod paths {
    /// A ConfigMap.
    pub fn config_map(ns: &str, name: &str) -> String {
        format!("/api/v1/namespaces/{ns}/configmaps/{name}")
    }
    /// A Secret.
    pub fn secret(ns: &str, name: &str) -> String {
        format!("/api/v1/namespaces/{ns}/secrets/{name}")
    }
    /// A Node.
    pub fn node(name: &str) -> String {
        format!("/api/v1/nodes/{name}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn endpoints_become_https_urls_and_nothing_else() {
        assert_eq!(endpoint_url("10.0.0.1:6443").unwrap(), "https://10.0.0.1:6443");
        assert_eq!(endpoint_url("[fd00::1]:6443").unwrap(), "https://[fd00::1]:6443");
        assert_eq!(endpoint_url("https://api.example.com:6443/").unwrap(), "https://api.example.com:6443");
        for bad in ["http://10.0.0.1:6443", "", "unix:///x"] {
            assert!(endpoint_url(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn the_pinned_client_refuses_plain_http() {
        let key = rcgen::KeyPair::generate().unwrap();
        let mut p = rcgen::CertificateParams::new(vec![]).unwrap();
        p.is_ca = rcgen::IsCa::Ca(rcgen::BasicConstraints::Unconstrained);
        let ca = CaBundle::parse_pem(&p.self_signed(&key).unwrap().pem()).unwrap();
        let Err(e) = pinned("http://127.0.0.1:6443", &ca, None) else { panic!("a pinned client for plain http was made") };
        assert!(e.to_string().contains("not an https:// URL"), "{e}");
    }
}
