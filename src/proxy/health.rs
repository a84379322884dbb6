//! How the API proxy decides that a backend is alive: `GET /readyz` over TLS, trusting only the
//! cluster CA, answered with 200.
//!
//! Why only 200 counts: kubeadm's (and kubeup's) API servers let anyone read `/readyz`
//! (`system:public-info-viewer`), so a healthy server answers 200 to an anonymous check. A 401
//! or 403 comes from a server that is up but not ready to authorize (it answers 403 while its
//! RBAC is still starting) or from one configured without anonymous access; in both cases the
//! proxy cannot tell it is ready, so it is counted as failing. A cluster whose every server
//! refuses anonymous checks still works: the pool fails open (see `pool::Pool::pick`).
//!
//! `Probe::Connect` (a TCP connect) exists for backends that are not API servers, such as the
//! tests' plain TCP servers.

use std::time::Duration;

/// How a backend is checked.
#[derive(Debug, Clone)]
pub enum Probe {
    /// `GET https://<backend>/readyz`, verified against the CA certificates in this PEM file.
    /// It is read at every check: the proxy starts before join has written the CA, and a
    /// rotated CA is picked up without a restart.
    Readyz {
        /// The cluster CA file.
        ca_file: std::path::PathBuf,
    },
    /// A TCP connect only.
    Connect,
}

/// The CA certificates (DER) in a PEM file's text.
pub fn ca_der(pem_text: &[u8]) -> Result<Vec<Vec<u8>>, String> {
    let certs: Vec<Vec<u8>> =
        pem::parse_many(pem_text).map_err(|e| e.to_string())?.into_iter().filter(|p| p.tag() == "CERTIFICATE").map(|p| p.into_contents()).collect();
    if certs.is_empty() {
        return Err("no CERTIFICATE block".into());
    }
    Ok(certs)
}

impl Probe {
    /// Check `address` (`host:port`) within `timeout`.
    pub async fn check(&self, address: &str, timeout: Duration) -> Result<(), String> {
        match tokio::time::timeout(timeout, self.check_inner(address, timeout)).await {
            Ok(r) => r,
            Err(_) => Err(format!("no answer within {} ms", timeout.as_millis())),
        }
    }

    async fn check_inner(&self, address: &str, timeout: Duration) -> Result<(), String> {
        match self {
            Probe::Connect => tokio::net::TcpStream::connect(address).await.map(drop).map_err(|e| e.to_string()),
            Probe::Readyz { ca_file } => {
                let pem_text = std::fs::read(ca_file).map_err(|e| format!("the cluster CA {}: {e}", ca_file.display()))?;
                let ca_der = ca_der(&pem_text).map_err(|e| format!("the cluster CA {}: {e}", ca_file.display()))?;
                let url = format!("https://{address}");
                let mut cfg = kube::Config::new(url.parse().map_err(|e| format!("{url} is not a URL: {e}"))?);
                cfg.root_cert = Some(ca_der);
                cfg.default_retry = false;
                cfg.connect_timeout = Some(timeout);
                cfg.read_timeout = Some(timeout);
                let client = kube::Client::try_from(cfg).map_err(|e| e.to_string())?;
                let req = http::Request::get("/readyz").body(kube::client::Body::from(Vec::new())).map_err(|e| e.to_string())?;
                let resp = client.send(req).await.map_err(|e| e.to_string())?;
                match resp.status().as_u16() {
                    200 => Ok(()),
                    code => Err(format!("/readyz answered HTTP {code}")),
                }
            }
        }
    }
}
