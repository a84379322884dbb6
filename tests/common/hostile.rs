//! An ATTACKER's server for the discovery attack tests: it holds a leaked bootstrap token, sits
//! where the joining node connects, and serves whatever cluster-info it likes, signed with that
//! token, over TLS with a certificate of its OWN CA (it does not have the real CA's key), and
//! optionally over plain HTTP on a second port. Every request is logged, so a test can prove
//! that a refused join never sent the token anywhere it should not.
#![allow(dead_code)]

use std::net::SocketAddr;
use std::sync::{Arc, Mutex};

use bytes::Bytes;
use http_body_util::Full;
use hyper::{Request, Response};
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};

/// A CA and a serving certificate for 127.0.0.1 signed by it.
pub struct Pki {
    pub ca_pem: String,
    pub cert_pem: String,
    pub key_pem: String,
}

/// A fresh CA (CN `cn`) and a 127.0.0.1 serving certificate.
pub fn pki(cn: &str) -> Pki {
    let ca_key = rcgen::KeyPair::generate().unwrap();
    let mut p = rcgen::CertificateParams::new(vec![]).unwrap();
    p.distinguished_name.push(rcgen::DnType::CommonName, cn);
    p.is_ca = rcgen::IsCa::Ca(rcgen::BasicConstraints::Unconstrained);
    let ca = p.self_signed(&ca_key).unwrap();
    let issuer = rcgen::Issuer::new(p, ca_key);
    let key = rcgen::KeyPair::generate().unwrap();
    let mut lp = rcgen::CertificateParams::new(vec!["localhost".into()]).unwrap();
    lp.subject_alt_names.push(rcgen::SanType::IpAddress("127.0.0.1".parse().unwrap()));
    let leaf = lp.signed_by(&key, &issuer).unwrap();
    Pki { ca_pem: ca.pem(), cert_pem: leaf.pem(), key_pem: key.serialize_pem() }
}

/// A cluster-info ConfigMap body (JSON) for this kubeconfig text, signed with the token.
pub fn cluster_info_body(kubeconfig: &str, token: &str) -> String {
    let (id, secret) = token.split_once('.').unwrap();
    let sig = kubeup::jws::detached_signature(kubeconfig, id, secret);
    serde_json::json!({
        "apiVersion": "v1", "kind": "ConfigMap",
        "metadata": { "name": "cluster-info", "namespace": "kube-public" },
        "data": { "kubeconfig": kubeconfig, format!("jws-kubeconfig-{id}"): sig },
    })
    .to_string()
}

/// A kubeconfig with one cluster, `server` and CA data (`ca_text` base64-encoded as it is).
pub fn kubeconfig(server: &str, ca_text: &str) -> String {
    use base64::Engine as _;
    let ca = base64::engine::general_purpose::STANDARD.encode(ca_text);
    format!("apiVersion: v1\nkind: Config\nclusters:\n- name: \"\"\n  cluster:\n    certificate-authority-data: {ca}\n    server: {server}\ncontexts: []\ncurrent-context: \"\"\npreferences: {{}}\nusers: []\n")
}

/// What the attacker answers to GET `path`: (status, body).
pub type Handler = Arc<dyn Fn(&str) -> (u16, String) + Send + Sync>;

/// A running attacker.
pub struct Hostile {
    /// Its TLS port (127.0.0.1).
    pub tls_port: u16,
    /// Its plain-HTTP port (127.0.0.1).
    pub http_port: u16,
    /// "tls|http METHOD path auth=<Authorization header>" per request.
    pub log: Arc<Mutex<Vec<String>>>,
    runtime: Option<tokio::runtime::Runtime>,
}

impl Drop for Hostile {
    fn drop(&mut self) {
        if let Some(rt) = self.runtime.take() {
            rt.shutdown_background();
        }
    }
}

impl Hostile {
    /// Serve `handler` over TLS with `pki`'s serving certificate, and over plain HTTP.
    pub fn start(pki: &Pki, handler: Handler) -> Hostile {
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let chain: Vec<CertificateDer<'static>> = CertificateDer::pem_slice_iter(pki.cert_pem.as_bytes()).collect::<Result<_, _>>().unwrap();
        let key = PrivateKeyDer::from_pem_slice(pki.key_pem.as_bytes()).unwrap();
        let config = rustls::ServerConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .unwrap()
            .with_no_client_auth()
            .with_single_cert(chain, key)
            .unwrap();
        let acceptor = tokio_rustls::TlsAcceptor::from(Arc::new(config));
        let runtime = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().unwrap();
        let tls = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let http = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        tls.set_nonblocking(true).unwrap();
        http.set_nonblocking(true).unwrap();
        let (tls_addr, http_addr): (SocketAddr, SocketAddr) = (tls.local_addr().unwrap(), http.local_addr().unwrap());
        let log = Arc::new(Mutex::new(Vec::new()));
        let service = |scheme: &'static str, handler: Handler, log: Arc<Mutex<Vec<String>>>| {
            hyper::service::service_fn(move |req: Request<hyper::body::Incoming>| {
                let auth = req.headers().get("authorization").and_then(|v| v.to_str().ok()).unwrap_or("").to_string();
                log.lock().unwrap().push(format!("{scheme} {} {} auth={auth}", req.method(), req.uri().path()));
                let (code, body) = handler(req.uri().path());
                async move {
                    Ok::<_, std::convert::Infallible>(
                        Response::builder().status(code).header("content-type", "application/json").body(Full::new(Bytes::from(body))).unwrap(),
                    )
                }
            })
        };
        let (h1, l1) = (handler.clone(), log.clone());
        runtime.spawn(async move {
            let listener = tokio::net::TcpListener::from_std(tls).unwrap();
            loop {
                let Ok((stream, _)) = listener.accept().await else { continue };
                let (acceptor, svc) = (acceptor.clone(), service("tls", h1.clone(), l1.clone()));
                tokio::spawn(async move {
                    if let Ok(tls) = acceptor.accept(stream).await {
                        let _ = hyper::server::conn::http1::Builder::new().serve_connection(hyper_util::rt::TokioIo::new(tls), svc).await;
                    }
                });
            }
        });
        let (h2, l2) = (handler, log.clone());
        runtime.spawn(async move {
            let listener = tokio::net::TcpListener::from_std(http).unwrap();
            loop {
                let Ok((stream, _)) = listener.accept().await else { continue };
                let svc = service("http", h2.clone(), l2.clone());
                tokio::spawn(async move {
                    let _ = hyper::server::conn::http1::Builder::new().serve_connection(hyper_util::rt::TokioIo::new(stream), svc).await;
                });
            }
        });
        Hostile { tls_port: tls_addr.port(), http_port: http_addr.port(), log, runtime: Some(runtime) }
    }

    /// The requests seen so far.
    pub fn requests(&self) -> Vec<String> {
        self.log.lock().unwrap().clone()
    }
}

/// The `sha256:` pin of a CA, computed with openssl (independent of kubeup's code).
pub fn openssl_pin(ca_pem: &str) -> String {
    let f = tempfile::NamedTempFile::new().unwrap();
    std::fs::write(f.path(), ca_pem).unwrap();
    let o = std::process::Command::new("sh")
        .args(["-c", &format!("openssl x509 -pubkey -noout -in {} | openssl pkey -pubin -outform der | sha256sum | cut -d' ' -f1", f.path().display())])
        .output()
        .expect("openssl is required");
    assert!(o.status.success());
    format!("sha256:{}", String::from_utf8_lossy(&o.stdout).trim())
}
