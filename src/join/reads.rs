//! EDGE: what a joining node reads from the cluster before it writes anything, over the
//! connection discovery verified (the pinned CA only) and with the bootstrap token, as kubeadm
//! does: kubeadm-config, the kubelet's ConfigMap, whether its Node exists, and for a
//! control-plane join the encrypted shared certificates and etcd's members.

use std::time::{Duration, Instant};

use k8s_openapi::api::core::v1::{ConfigMap, Node};

use super::api;
use super::discovery::Discovered;
use crate::config::{self, Settings};
use crate::phases::join::ControlPlaneInput;
use crate::token::BootstrapToken;

fn api_error(object: &str, e: api::FetchError) -> String {
    match e {
        api::FetchError::Status { code: 401 | 403, message } => format!(
            "{object}: HTTP 401/403 {message}: the bootstrap token may not read it (expired token, or a cluster without kubeadm's RBAC for joining nodes)"
        ),
        other => format!("{object}: {other}"),
    }
}

/// What join reads from the cluster with the bootstrap token.
pub struct ClusterReads {
    /// The cluster's configuration, as a configuration layer.
    pub settings: Settings,
    /// The kubelet configuration from the cluster's ConfigMap, verbatim.
    pub kubelet_config: String,
    /// Whether a Node of this name is Ready already.
    pub node_ready: bool,
}

/// GET through the pinned connection, retried for up to a minute on transport errors and 5xx
/// (a control plane that is still settling); 401/403/404 and refusals end at once.
async fn get_retried<T: serde::de::DeserializeOwned>(client: &kube::Client, what: &str, path: &str) -> Result<Option<T>, String> {
    let started = Instant::now();
    loop {
        match api::get::<T>(client, path).await {
            Ok(v) => return Ok(v),
            Err(e @ (api::FetchError::Transport(_) | api::FetchError::Status { code: 500..=599, .. })) if started.elapsed() < Duration::from_secs(60) => {
                tracing::info!("{what}: {e}; retrying");
                tokio::time::sleep(Duration::from_millis(500)).await;
            }
            Err(e) => return Err(api_error(what, e)),
        }
    }
}

/// Read the cluster's configuration (and whether the node exists) with the bootstrap token over
/// the pinned connection.
pub async fn read_cluster(d: &Discovered, token: &BootstrapToken, node_name: Option<&str>) -> Result<ClusterReads, String> {
    let client = api::pinned(&d.api_url, &d.ca, Some(token)).map_err(|e| e.to_string())?;
    let kubeadm: ConfigMap = get_retried(&client, "ConfigMap kube-system/kubeadm-config", &api::paths::config_map("kube-system", "kubeadm-config"))
        .await?
        .ok_or("ConfigMap kube-system/kubeadm-config does not exist: is this a kubeadm/kubeup cluster?")?;
    let cc = kubeadm.data.as_ref().and_then(|d| d.get("ClusterConfiguration")).ok_or("ConfigMap kube-system/kubeadm-config has no ClusterConfiguration key")?;
    let settings = crate::config::kubeadm::settings_from_cluster_configuration(cc).map_err(|e| e.to_string())?;
    let version = settings.kubernetes_version.clone().ok_or("ClusterConfiguration names no kubernetesVersion")?;
    let cm_name = version.facts().kubelet_config_map;
    let what = format!("ConfigMap kube-system/{cm_name}");
    let kubelet: ConfigMap = get_retried(&client, &what, &api::paths::config_map("kube-system", cm_name)).await?.ok_or(format!("{what} does not exist"))?;
    let kubelet_config = kubelet.data.as_ref().and_then(|d| d.get("kubelet")).cloned().ok_or(format!("{what} has no kubelet key"))?;
    let node_ready = match node_name {
        Some(n) => match api::get::<Node>(&client, &api::paths::node(n)).await {
            Ok(Some(node)) => crate::cluster::health::node_ready(&node),
            Ok(None) => false,
            Err(e) => return Err(api_error(&format!("Node {n}"), e)),
        },
        None => false,
    };
    Ok(ClusterReads { settings, kubelet_config, node_ready })
}

/// A control-plane join's input: the shared certificates from kubeadm-certs (read with the
/// bootstrap token over the pinned connection, decrypted with the certificate key) and the etcd
/// members this node joins.
pub async fn control_plane_input(d: &Discovered, token: &BootstrapToken, key: &[u8; 32], cfg: &mut config::Config) -> Result<ControlPlaneInput, String> {
    use k8s_openapi::api::core::v1::Secret;
    let client = api::pinned(&d.api_url, &d.ca, Some(token)).map_err(|e| e.to_string())?;
    let secret: Secret = match get_retried(&client, "Secret kube-system/kubeadm-certs", &api::paths::secret("kube-system", "kubeadm-certs")).await? {
        Some(s) => s,
        None => {
            return Err("Secret kube-system/kubeadm-certs was not found: the uploaded certificates expire 2 hours after upload; upload them again with `kubeup init phase upload-certs --upload-certs` on a control-plane node and use the key it prints".into())
        }
    };
    let data = secret.data.unwrap_or_default();
    let mut shared = Vec::new();
    for (data_key, file, mode) in crate::pki::upload::SHARED_FILES {
        let sealed = data
            .get(data_key)
            .ok_or(format!("Secret kube-system/kubeadm-certs has no {data_key} (external etcd or CA? kubeup joins stacked-etcd control planes)"))?;
        let plain = crate::pki::upload::decrypt(key, &sealed.0, data_key).map_err(|e| e.to_string())?;
        shared.push((file.to_string(), plain, mode));
    }
    let file = |name: &str| shared.iter().find(|(f, _, _)| f == name).map(|(_, b, _)| String::from_utf8_lossy(b).into_owned()).unwrap_or_default();
    let uploaded_ca = crate::pki::ca_bundle::CaBundle::parse_pem(&file("ca.crt")).map_err(|e| format!("the uploaded ca.crt is refused: {e}"))?;
    if uploaded_ca.ders() != d.ca.ders() {
        return Err("the uploaded ca.crt is not the CA discovery verified: refusing certificates from another cluster".into());
    }
    // kubeadm finds etcd through the etcd pods' annotations; kubeup asks the member on the
    // control-plane endpoint's host (stacked etcd listens there), or KUBEUP_ETCD_ENDPOINT.
    let host = d.server.trim_start_matches("https://").rsplit_once(':').map(|(h, _)| h.to_string()).unwrap_or_default();
    let endpoint = crate::test_hook!("KUBEUP_ETCD_ENDPOINT").unwrap_or_else(|| format!("https://{host}:{}", crate::manifests::etcd::CLIENT_PORT));
    let etcd_ca = crate::pki::CertPair { cert_pem: file("etcd/ca.crt"), key_pem: file("etcd/ca.key") };
    let etcd = crate::cluster::etcd::Etcd::connect(&endpoint, &etcd_ca).map_err(|e| e.to_string())?;
    let own_peer = format!("https://{}:{}", crate::manifests::url_host(&cfg.advertise_address), crate::manifests::etcd::PEER_PORT);
    let mut members: Vec<(String, String)> = etcd
        .members()
        .await
        .map_err(|e| e.to_string())?
        .into_iter()
        .filter(|m| !m.name.is_empty() && !m.peer_urls.contains(&own_peer))
        .filter_map(|m| m.peer_urls.first().cloned().map(|u| (m.name, u)))
        .collect();
    members.push((cfg.node_name.clone(), own_peer));
    cfg.etcd_initial_cluster = members;
    Ok(ControlPlaneInput { shared, etcd_endpoint: endpoint })
}
