//! Where the API proxy learns the control planes: the `default/kubernetes` Endpoints, which
//! every API server keeps listing itself in (the lease endpoint reconciler drops a server that
//! stopped renewing within about 15 s).
//!
//! - Through the proxy itself: the request reaches whichever API server is healthy, so no
//!   single control plane is needed to learn about the others.
//! - With the node's own credentials (`kubelet.conf`, the kubelet's client certificate): nodes
//!   may `get` Endpoints (the `system:node` rules). Until the kubelet's TLS bootstrap has written
//!   kubelet.conf there is no credential; the proxy runs on its seeds and cache meanwhile.
//! - Endpoints and not EndpointSlices: v1.20, the oldest version kubeup installs, has no
//!   `discovery.k8s.io/v1`, and nodes may not list EndpointSlices.

use std::path::Path;
use std::time::Duration;

use k8s_openapi::api::core::v1::Endpoints;

/// `host:port` for an address and port, bracketing IPv6.
pub fn host_port(host: &str, port: i32) -> String {
    if host.contains(':') {
        format!("[{host}]:{port}")
    } else {
        format!("{host}:{port}")
    }
}

/// The API servers an Endpoints object lists: each ready address with the `https` port (or
/// the only port).
pub fn backends_of(ep: &Endpoints) -> Vec<String> {
    let mut out = Vec::new();
    for subset in ep.subsets.iter().flatten() {
        let ports = subset.ports.as_deref().unwrap_or_default();
        let port = ports.iter().find(|p| p.name.as_deref() == Some("https")).or(ports.first()).map(|p| p.port);
        let Some(port) = port else { continue };
        for a in subset.addresses.iter().flatten() {
            let hp = host_port(&a.ip, port);
            if !out.contains(&hp) {
                out.push(hp);
            }
        }
    }
    out
}

/// Fetch the list through `via` (the proxy's own `host:port`) with the credentials of the
/// kubeconfig at `kubeconfig`.
pub async fn fetch(kubeconfig: &Path, via: &str, timeout: Duration) -> Result<Vec<String>, String> {
    if !kubeconfig.exists() {
        return Err(format!("{} does not exist yet (the kubelet writes it at the end of its TLS bootstrap)", kubeconfig.display()));
    }
    let kc = kube::config::Kubeconfig::read_from(kubeconfig).map_err(|e| format!("{}: {e}", kubeconfig.display()))?;
    let mut cfg =
        kube::Config::from_custom_kubeconfig(kc, &kube::config::KubeConfigOptions::default()).await.map_err(|e| format!("{}: {e}", kubeconfig.display()))?;
    let url = format!("https://{via}");
    cfg.cluster_url = url.parse().map_err(|e| format!("{url} is not a URL: {e}"))?;
    cfg.connect_timeout = Some(timeout);
    cfg.read_timeout = Some(timeout);
    let client = kube::Client::try_from(cfg).map_err(|e| e.to_string())?;
    let api: kube::Api<Endpoints> = kube::Api::namespaced(client, "default");
    let ep = tokio::time::timeout(timeout, api.get("kubernetes"))
        .await
        .map_err(|_| format!("no answer within {} ms", timeout.as_millis()))?
        .map_err(|e| format!("GET Endpoints default/kubernetes: {e}"))?;
    let list = backends_of(&ep);
    if list.is_empty() {
        return Err("Endpoints default/kubernetes lists no address".into());
    }
    Ok(list)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn endpoints_become_backends() {
        let ep: Endpoints = serde_json::from_value(serde_json::json!({
            "metadata": {"name": "kubernetes", "namespace": "default"},
            "subsets": [{
                "addresses": [{"ip": "10.0.0.1"}, {"ip": "10.0.0.2"}, {"ip": "fd00::3"}],
                "ports": [{"name": "https", "port": 6443, "protocol": "TCP"}]
            }]
        }))
        .unwrap();
        assert_eq!(backends_of(&ep), vec!["10.0.0.1:6443", "10.0.0.2:6443", "[fd00::3]:6443"]);
        assert!(backends_of(&Endpoints::default()).is_empty());
    }
}
