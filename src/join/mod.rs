//! `kubeup join`: discover the cluster securely ([`discovery`]), read the cluster's
//! configuration with the bootstrap token (as kubeadm does: `kubeadm-config` and the kubelet's
//! ConfigMap), then run the worker phases ([`crate::phases::join`]) and the same effects as
//! `init`: the kubelet container, the TLS-bootstrap and Node-Ready waits.
//!
//! Nothing is written to the host before discovery and the cluster reads succeeded.

pub mod api;
pub mod cluster_info;
pub mod discovery;

use std::time::{Duration, Instant};

use k8s_openapi::api::core::v1::{ConfigMap, Node};

use crate::cli::{error, exit, say, JoinFlags, Output};
use crate::commands::{copy_image_into_cri, environment, print_report, run_effects};
use crate::config::{self, Settings};
use crate::phases::join::{bootstrap_kubeconfig, ControlPlaneInput, JoinInput};
use crate::phases::Options;
use crate::token::BootstrapToken;
use crate::workflow::{self, Selection, WorkflowError};
use discovery::{Discovered, TokenDiscovery};

/// Read ClusterConfiguration (any kubeadm API version: only stable fields are used).
pub fn cluster_settings(cluster_configuration: &str) -> Result<Settings, String> {
    let v: serde_json::Value = serde_saphyr::from_str(cluster_configuration).map_err(|e| format!("ClusterConfiguration does not parse: {e}"))?;
    let s = |k: &str| v.get(k).and_then(|x| x.as_str()).map(str::to_string);
    let net = |k: &str| v.get("networking").and_then(|n| n.get(k)).and_then(|x| x.as_str()).map(str::to_string);
    let mut out = Settings {
        kubernetes_version: s("kubernetesVersion").map(|x| x.parse()).transpose().map_err(|e| format!("kubernetesVersion: {e}"))?,
        cluster_name: s("clusterName"),
        control_plane_endpoint: s("controlPlaneEndpoint"),
        image_repository: s("imageRepository"),
        certificates_dir: s("certificatesDir"),
        ..Default::default()
    };
    out.networking.service_subnet = net("serviceSubnet").map(|x| x.parse()).transpose().map_err(|e| format!("networking.serviceSubnet: {e}"))?;
    out.networking.pod_subnet = net("podSubnet").map(|x| x.parse()).transpose().map_err(|e| format!("networking.podSubnet: {e}"))?;
    out.networking.dns_domain = net("dnsDomain");
    // The pod network is the cluster's business; a worker installs none.
    out.networking.pod_network = Some("none".into());
    Ok(out)
}

fn flags_layer(f: &JoinFlags) -> Settings {
    let mut s = Settings::default();
    s.node.name = f.node_name.clone();
    s.node.advertise_address = f.node_ip;
    s.node.bind_port = f.apiserver_bind_port;
    s.node.cri_socket = f.cri_socket.clone();
    s.node.cgroup_driver = f.cgroup_driver.clone();
    s.node.kubelet_image = f.kubelet_image.clone();
    s.kubeup_image = f.kubeup_image.clone();
    s.skip_phases = f.skip_phases.clone();
    s.ignore_preflight_errors = f.ignore_preflight_errors.clone();
    s
}

fn api_error(object: &str, e: api::FetchError) -> String {
    match e {
        api::FetchError::Status { code: 401 | 403, message } => format!(
            "{object}: HTTP 401/403 {message}: the bootstrap token may not read it (expired token, or a cluster without kubeadm's RBAC for joining nodes)"
        ),
        other => format!("{object}: {other}"),
    }
}

/// What join reads from the cluster with the bootstrap token.
struct ClusterReads {
    settings: Settings,
    kubelet_config: String,
    node_ready: bool,
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

async fn read_cluster(d: &Discovered, token: &BootstrapToken, node_name: Option<&str>) -> Result<ClusterReads, String> {
    let client = api::pinned(&d.api_url, &d.ca, Some(token)).map_err(|e| e.to_string())?;
    let kubeadm: ConfigMap = get_retried(&client, "ConfigMap kube-system/kubeadm-config", &api::paths::config_map("kube-system", "kubeadm-config"))
        .await?
        .ok_or("ConfigMap kube-system/kubeadm-config does not exist: is this a kubeadm/kubeup cluster?")?;
    let cc = kubeadm.data.as_ref().and_then(|d| d.get("ClusterConfiguration")).ok_or("ConfigMap kube-system/kubeadm-config has no ClusterConfiguration key")?;
    let settings = cluster_settings(cc)?;
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
async fn control_plane_input(d: &Discovered, token: &BootstrapToken, key: &[u8; 32], cfg: &mut config::Config) -> Result<ControlPlaneInput, String> {
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
    let etcd = crate::cluster::etcd::Etcd::connect(&endpoint, &etcd_ca)?;
    let own_peer = format!("https://{}:{}", crate::manifests::url_host(&cfg.advertise_address), crate::manifests::etcd::PEER_PORT);
    let mut members: Vec<(String, String)> = etcd
        .members()
        .await?
        .into_iter()
        .filter(|m| !m.name.is_empty() && !m.peer_urls.contains(&own_peer))
        .filter_map(|m| m.peer_urls.first().cloned().map(|u| (m.name, u)))
        .collect();
    members.push((cfg.node_name.clone(), own_peer));
    cfg.etcd_initial_cluster = members;
    Ok(ControlPlaneInput { shared, etcd_endpoint: endpoint })
}

/// `kubeup join` / `kubeup join phase <name>`.
pub async fn join(flags: &JoinFlags, selection: Selection) -> u8 {
    let started = Instant::now();
    let merged;
    let flags = match &flags.config {
        Some(path) => match config::join_config::load(path) {
            Ok(file) => {
                merged = flags.over(file);
                &merged
            }
            Err(e) => return error(exit::USAGE, &e),
        },
        None => flags,
    };
    let cert_key =
        match (flags.control_plane, flags.certificate_key.as_deref()) {
            (true, Some(k)) => match crate::pki::upload::parse_key(k) {
                Ok(k) => Some(k),
                Err(e) => return error(exit::USAGE, &format!("--certificate-key: {e}")),
            },
            (true, None) => return error(
                exit::USAGE,
                "--control-plane needs --certificate-key: the key printed by `kubeup init --upload-certs` (or `kubeup init phase upload-certs --upload-certs`)",
            ),
            (false, Some(_)) => return error(exit::USAGE, "--certificate-key is only for a control-plane join: add --control-plane"),
            (false, None) => None,
        };
    // Inputs first: a malformed token or pin is refused before anything is contacted.
    let token = match flags.token.as_deref() {
        Some(t) => match t.parse::<BootstrapToken>() {
            Ok(t) => t,
            Err(e) => return error(exit::USAGE, &format!("--token: {e}")),
        },
        None => return error(exit::USAGE, "--token is required: pass the bootstrap token printed by `kubeup init` or `kubeup token create`"),
    };
    let pins = match discovery::parse_pins(&flags.ca_cert_hashes) {
        Ok(p) => p,
        Err(e) => return error(exit::USAGE, &e.to_string()),
    };
    let env = match environment(&flags.host).await {
        Ok(e) => e,
        Err(code) => return code,
    };
    if !env.installer_problems.is_empty() && !flags.dry_run {
        return error(
            exit::USAGE,
            &format!("{}\nthe full command is: docker run --rm --privileged --net=host --pid=host -v /:/host -v /var/run/docker.sock:/var/run/docker.sock kubeup join …", env.installer_problems.join("\n")),
        );
    }

    let discovered = match &flags.discovery_file {
        Some(path) => discovery::from_file(path),
        None => {
            let Some(endpoint) = flags.endpoint.clone() else {
                return error(exit::USAGE, "the API server endpoint is required: kubeup join <host:port> --token … --discovery-token-ca-cert-hash sha256:…");
            };
            let d = TokenDiscovery {
                endpoint,
                token: token.clone(),
                pins,
                skip_ca_verification: flags.discovery_token_unsafe_skip_ca_verification,
                timeout: flags.discovery_timeout.map(|d| d.0).unwrap_or(Duration::from_secs(300)),
                interval: Duration::from_millis(crate::test_hook!("KUBEUP_DISCOVERY_INTERVAL_MS").and_then(|v| v.parse().ok()).unwrap_or(5000)),
            };
            discovery::discover(&d).await
        }
    };
    let discovered = match discovered {
        Ok(d) => d,
        Err(e) => return error(exit::FAILED, &format!("[discovery] {e}\nnothing on this host was changed")),
    };
    if flags.discovery_token_unsafe_skip_ca_verification && flags.ca_cert_hashes.is_empty() && flags.discovery_file.is_none() {
        say("[discovery] WARNING: the cluster CA was not verified (--discovery-token-unsafe-skip-ca-verification)\n");
    }
    if selection == Selection::One("discovery".into(), None) {
        match flags.output {
            Output::Json => say(&format!("{:#}\n", serde_json::json!({ "server": discovered.server, "caCertHash": discovered.ca_hash }))),
            Output::Text => say(&format!("[discovery] verified cluster-info: API server {}, CA {}\n", discovered.server, discovered.ca_hash)),
        }
        return exit::OK;
    }
    say(&format!("[discovery] cluster-info verified: API server {}, CA {} ({} ms)\n", discovered.server, discovered.ca_hash, started.elapsed().as_millis()));

    let layer = flags_layer(flags);
    let reads = match read_cluster(&discovered, &token, layer.node.name.as_deref().or(env.facts.defaults.hostname.as_deref())).await {
        Ok(r) => r,
        Err(e) => return error(exit::FAILED, &format!("[discovery] {e}\nnothing on this host was changed")),
    };
    let mut cfg = match config::resolve(Some(reads.settings.clone()), &layer, &env.facts.defaults) {
        Ok(c) => c,
        Err(e) => return error(exit::USAGE, &e.to_string()),
    };
    let control_plane = match cert_key {
        None => None,
        Some(key) => match control_plane_input(&discovered, &token, &key, &mut cfg).await {
            Ok(cp) => Some(cp),
            Err(e) => return error(exit::FAILED, &format!("[control-plane-prepare] {e}\nnothing on this host was changed")),
        },
    };
    let cluster_name = cfg.cluster_name.clone();
    let bootstrap = match bootstrap_kubeconfig(&cluster_name, &discovered.server, &discovered.ca_pem(), &token) {
        Ok(b) => b,
        Err(e) => return error(exit::FAILED, &e),
    };
    let input = JoinInput { ca_pem: discovered.ca_pem(), bootstrap_kubeconfig: bootstrap, kubelet_config: reads.kubelet_config.clone(), control_plane };
    let options = Options { host_fixes: !flags.no_host_fixes, host_prefix: env.mapping.prefix.clone(), container_prefix: flags.host.container_prefix.clone() };

    // A Ready node of this name that is not this host would be hijacked: refuse (kubeadm does).
    let member = {
        let overlay = crate::plan::Overlay::default();
        let ctx = crate::phases::Ctx {
            options: &options,
            cfg: &cfg,
            facts: &env.facts,
            now: time::OffsetDateTime::now_utc(),
            view: crate::phases::View::new(&env.root, &overlay),
            join: Some(&input),
        };
        crate::phases::join::already_member(&ctx).unwrap_or(false)
    };
    if reads.node_ready && !member {
        return error(
            exit::FAILED,
            &format!("a Ready node named {} already exists in the cluster: pass another --node-name, or remove the old node first (`kubectl delete node {}`)\nnothing on this host was changed", cfg.node_name, cfg.node_name),
        );
    }

    if let (Some(bundle_file), false) = (&flags.image_bundle, flags.dry_run) {
        if let Err(e) = crate::commands::load_bundle(&env, &cfg, bundle_file, flags.image_bundle_sha256.as_deref()).await {
            return error(exit::FAILED, &e);
        }
    }
    let mut report = match workflow::run_join(&input, &cfg, &env.facts, &env.root, &options, &selection, flags.dry_run) {
        Ok(r) => r,
        Err(e) => {
            let code = match e {
                WorkflowError::Preflight(..) => exit::PREFLIGHT,
                WorkflowError::UnknownPhase(_) | WorkflowError::UnknownChild { .. } => exit::USAGE,
                _ => exit::FAILED,
            };
            return error(code, &e.to_string());
        }
    };
    let mut notes = Vec::new();
    let skip_effects = crate::test_hook!("KUBEUP_SKIP_EFFECTS").is_some();
    if skip_effects && !flags.dry_run {
        report.stop = Some(workflow::Stop { phase: "kubelet-start".into(), reason: "a test hook skipped the host commands and containers".into() });
    } else if !flags.dry_run && report.preflight_errors.is_empty() {
        // The bridge network's agent runs from kubeup's image on every node; copying it from
        // Docker into containerd costs about a second and spares an unreachable registry.
        if let Err(e) = copy_image_into_cri(&env, &cfg, &cfg.kubeup_image).await {
            notes.push(format!("[images] {e}"));
        }
        let labels = match crate::commands::parse_labels(&flags.host.container_labels) {
            Ok(l) => l,
            Err(e) => return error(exit::USAGE, &e),
        };
        let kubelet_name = format!("{}-{}", flags.host.container_prefix, crate::kubelet::container::KUBELET_CONTAINER_SUFFIX);
        if let Err(e) = run_effects(&mut report, &env, &cfg.cert_dir, &cfg.node_name, &labels, &kubelet_name, &mut notes).await {
            print_report(&report, flags.dry_run, flags.output, "join", started.elapsed(), &notes);
            return error(exit::FAILED, &e);
        }
        notes.push(format!(
            "[join] node {} joined the cluster at {}: see it with `kubectl get nodes` on a control-plane node",
            cfg.node_name, discovered.server
        ));
    }
    print_report(&report, flags.dry_run, flags.output, "join", started.elapsed(), &notes)
}
