//! Phase `api-proxy` of a worker's `join` (kubeup only): the `kubeup-api-proxy` container, the
//! node-local API load balancer, started before the kubelet so that the kubelet's first
//! request (its TLS bootstrap) already goes through it.
//!
//! Why a Docker container with restart policy `always`, and not a static pod or DaemonSet: the
//! kubelet needs the API to start pods, so whatever carries the kubelet's API traffic must not
//! be started by the kubelet (kubespray#8416: its nginx-proxy pod gone after a drain, and the
//! node lost the API). Docker starts it at boot before the kubelet container.
//!
//! Why it listens on `127.0.0.1:<API port>` (6443) and not on a port of its own: kube-proxy's
//! kubeconfig is one ConfigMap for every node. With the proxy on the API server's port,
//! `https://127.0.0.1:6443` is "the API" on every node — a control plane's own API server, a
//! worker's proxy — so that one kubeconfig serves both (kubespray's localhost load balancer
//! does the same). The API servers' certificates carry 127.0.0.1, so TLS checks out.
//!
//! Pure.

use std::collections::BTreeMap;

use super::{Ctx, PhaseError};
use crate::kubelet::container::{BindMount, ContainerSpec, LABEL_COMPONENT, LABEL_CONFIG_HASH};
use crate::paths;
use crate::plan::{Plan, Step};

/// The container's name suffix (`kubeup-api-proxy`).
pub const PROXY_SUFFIX: &str = "api-proxy";
/// The proxy's cache and status directory on the host (inside kubeup's state directory, so
/// `kubeup reset` removes it).
pub const STATE_DIR: &str = "/var/lib/kubeup/api-proxy";
/// Where the kubelet keeps its client certificate (named by kubelet.conf).
const KUBELET_PKI_DIR: &str = "/var/lib/kubelet/pki";

/// What a worker's join gives the proxy.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ApiProxyInput {
    /// The loopback port it listens on (the cluster's API server port).
    pub port: u16,
    /// The API servers known at join (`host:port`), kept for good.
    pub seeds: Vec<String>,
}

impl ApiProxyInput {
    /// The proxy of a worker joining through `server` (discovery's `https://host:port`),
    /// listening on `port`.
    pub fn for_worker(server: &str, port: u16) -> Result<ApiProxyInput, PhaseError> {
        let hostport = server.strip_prefix("https://").map(|s| s.trim_end_matches('/')).filter(|s| !s.is_empty() && !s.contains('/'));
        let Some(hostport) = hostport else {
            return Err(PhaseError::Render { what: "api-proxy".into(), reason: format!("{server} is not https://host:port") });
        };
        let seed = if hostport.rsplit_once(':').is_some_and(|(h, p)| !h.ends_with(':') && p.parse::<u16>().is_ok()) {
            hostport.to_string()
        } else {
            format!("{hostport}:443")
        };
        Ok(ApiProxyInput { port, seeds: vec![seed] })
    }

    /// The URL the node's kubelet uses: the proxy (the same URL kube-proxy's kubeconfig names).
    pub fn server_url(&self) -> String {
        crate::objects::kube_proxy::local_api_url(self.port)
    }
}

/// The proxy container: kubeup's own image running `api-proxy`, on the host's network, reading
/// only what it needs (the kubeconfig and CA, the kubelet's client certificate) and writing
/// only its state directory. No privilege: it opens TCP connections and files, nothing else.
pub fn container(ctx: &Ctx, input: &ApiProxyInput) -> ContainerSpec {
    let name = format!("{}-{PROXY_SUFFIX}", ctx.options.container_prefix);
    let bind = |path: &str, read_only: bool| BindMount { source: path.into(), target: path.into(), read_only, propagation: None };
    let mut args = vec![PROXY_SUFFIX.to_string(), format!("--listen=127.0.0.1:{}", input.port)];
    args.extend(input.seeds.iter().map(|s| format!("--backend={s}")));
    args.extend([
        format!("--state-dir={STATE_DIR}"),
        format!("--kubeconfig={}", paths::kubeconfig("kubelet.conf")),
        format!("--ca-file={}/ca.crt", ctx.cfg.cert_dir),
    ]);
    let mut mounts = vec![bind(paths::KUBERNETES_DIR, true), bind(KUBELET_PKI_DIR, true), bind(STATE_DIR, false)];
    if !ctx.cfg.cert_dir.starts_with(&format!("{}/", paths::KUBERNETES_DIR)) {
        mounts.push(bind(&ctx.cfg.cert_dir, true));
    }
    let mut spec = ContainerSpec {
        name,
        image: ctx.cfg.kubeup_image.clone(),
        args,
        labels: BTreeMap::from([(LABEL_COMPONENT.to_string(), PROXY_SUFFIX.to_string())]),
        mounts,
        host_namespaces: true,
        privileged: false,
        restart_policy: "always".into(),
        log_rotation: ("10m".into(), 3),
    };
    let hash = crate::digest::hex(&<sha2::Sha256 as sha2::Digest>::digest(serde_json::to_vec(&spec).unwrap_or_default()));
    spec.labels.insert(LABEL_CONFIG_HASH.into(), hash);
    spec
}

/// Render the phase: the mount sources (Docker refuses a bind of a missing path), then the
/// container. Nothing for a control-plane join: its kubelet uses its own API server.
pub fn render(ctx: &Ctx, _only: Option<&str>) -> Result<Plan, PhaseError> {
    let Some(input) = ctx.join.and_then(|j| j.api_proxy.as_ref()) else {
        return Ok(Plan { steps: vec![] });
    };
    let spec = container(ctx, input);
    let mut steps: Vec<Step> = Vec::new();
    for m in &spec.mounts {
        let path = crate::paths::HostPath::new(m.source.clone()).map_err(|e| PhaseError::Render { what: m.source.clone(), reason: e.to_string() })?;
        let mode = if m.source == STATE_DIR { 0o700 } else { 0o755 };
        steps.push(Step::EnsureDir { path, mode });
    }
    steps.push(Step::RunContainer(Box::new(spec)));
    Ok(Plan { steps })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn seeds_from_the_discovered_server() {
        let p = ApiProxyInput::for_worker("https://10.0.0.2:6443", 6443).unwrap();
        assert_eq!(p.seeds, vec!["10.0.0.2:6443"]);
        assert_eq!(p.server_url(), "https://127.0.0.1:6443");
        assert_eq!(ApiProxyInput::for_worker("https://[fd00::1]:6443/", 6443).unwrap().seeds, vec!["[fd00::1]:6443"]);
        assert_eq!(ApiProxyInput::for_worker("https://api.example.com", 6443).unwrap().seeds, vec!["api.example.com:443"]);
        assert!(ApiProxyInput::for_worker("http://10.0.0.2:6443", 6443).is_err());
        assert!(ApiProxyInput::for_worker("https://10.0.0.2:6443/path", 6443).is_err());
    }
}
