//! `kubeup join` and `kubeup join phase <name>`: discover the cluster securely, read its
//! configuration with the bootstrap token (as kubeadm does), then render and run the worker (or
//! control-plane) phases like `init`'s. Nothing is written to the host before discovery and the
//! cluster reads succeeded.

use std::time::{Duration, Instant};

use super::report::{self, Report};
use super::{gather, CommandError, HostRequest, NodeOptions};
use crate::apply::images;
use crate::config::{self, Settings};
use crate::join::discovery::{self, Discovered, TokenDiscovery};
use crate::join::reads;
use crate::output::{say, Output};
use crate::phases::api_proxy::ApiProxyInput;
use crate::phases::join::{bootstrap_kubeconfig, JoinInput};
use crate::phases::Options;
use crate::token::BootstrapToken;
use crate::workflow::{self, Inputs, Selection};

/// What `join` is asked (the command line merges `--config` into it).
#[derive(Debug, Clone)]
pub struct JoinRequest {
    /// How the host is reached.
    pub host: HostRequest,
    /// `host:port` of the API server to discover the cluster from.
    pub endpoint: Option<String>,
    /// The bootstrap token.
    pub token: Option<String>,
    /// CA pins.
    pub ca_cert_hashes: Vec<String>,
    /// `--discovery-token-unsafe-skip-ca-verification`.
    pub unsafe_skip_ca_verification: bool,
    /// `--discovery-file`.
    pub discovery_file: Option<String>,
    /// `--discovery-timeout`.
    pub discovery_timeout: Duration,
    /// The node's flags as a configuration layer.
    pub settings: Settings,
    /// `--control-plane`.
    pub control_plane: bool,
    /// `--certificate-key`.
    pub certificate_key: Option<String>,
    /// All phases, or one (`discovery` verifies and prints, writing nothing).
    pub selection: Selection,
    /// Dry run, output, host fixes, image bundle.
    pub node: NodeOptions,
}

/// What is checked before anything is contacted.
struct Checked {
    /// The certificate key (a control-plane join).
    key: Option<[u8; 32]>,
    /// The bootstrap token.
    token: BootstrapToken,
    /// The CA pins.
    pins: Vec<String>,
}

/// The certificate key, the token and the pins, refused early when malformed.
fn checked_inputs(req: &JoinRequest) -> Result<Checked, CommandError> {
    let usage = |m: String| CommandError::Usage(m);
    let key =
        match (req.control_plane, req.certificate_key.as_deref()) {
            (true, Some(k)) => Some(crate::certificate_key::parse(k).map_err(|e| usage(format!("--certificate-key: {e}")))?),
            (true, None) => return Err(usage(
                "--control-plane needs --certificate-key: the key printed by `kubeup init --upload-certs` (or `kubeup init phase upload-certs --upload-certs`)"
                    .into(),
            )),
            (false, Some(_)) => return Err(usage("--certificate-key is only for a control-plane join: add --control-plane".into())),
            (false, None) => None,
        };
    let token = req
        .token
        .as_deref()
        .ok_or_else(|| usage("--token is required: pass the bootstrap token printed by `kubeup init` or `kubeup token create`".into()))?
        .parse::<BootstrapToken>()
        .map_err(|e| usage(format!("--token: {e}")))?;
    let pins = discovery::parse_pins(&req.ca_cert_hashes).map_err(|e| usage(e.to_string()))?;
    Ok(Checked { key, token, pins })
}

async fn discover(req: &JoinRequest, token: &BootstrapToken, pins: Vec<String>) -> Result<Discovered, CommandError> {
    Ok(match &req.discovery_file {
        Some(path) => discovery::from_file(path)?,
        None => {
            let endpoint = req.endpoint.clone().ok_or_else(|| {
                CommandError::Usage("the API server endpoint is required: kubeup join <host:port> --token … --discovery-token-ca-cert-hash sha256:…".into())
            })?;
            let interval = crate::test_hook!("KUBEUP_DISCOVERY_INTERVAL_MS").and_then(|v| v.parse().ok()).unwrap_or(5000);
            let d = TokenDiscovery {
                endpoint,
                token: token.clone(),
                pins,
                skip_ca_verification: req.unsafe_skip_ca_verification,
                timeout: req.discovery_timeout,
                interval: Duration::from_millis(interval),
            };
            discovery::discover(&d).await?
        }
    })
}

/// A progress line: on stdout for people, on stderr under `-o json` (stdout is the JSON alone).
fn progress(output: Output, text: &str) {
    match output {
        Output::Text => say(text),
        Output::Json => eprint!("{text}"),
    }
}

/// Run `join`.
pub async fn join(req: JoinRequest) -> Result<(), CommandError> {
    let started = Instant::now();
    // Inputs first: a malformed token, key or pin is refused before anything is contacted.
    let Checked { key: cert_key, token, pins } = checked_inputs(&req)?;
    req.host.labels()?;
    let mut env = gather(&req.host, req.node.dry_run, "join …").await?;
    let discovered = discover(&req, &token, pins).await?;
    if req.unsafe_skip_ca_verification && req.ca_cert_hashes.is_empty() && req.discovery_file.is_none() {
        progress(req.node.output, "[discovery] WARNING: the cluster CA was not verified (--discovery-token-unsafe-skip-ca-verification)\n");
    }
    if req.selection == Selection::One("discovery".into(), None) {
        match req.node.output {
            Output::Json => say(&format!("{:#}\n", serde_json::json!({ "server": discovered.server, "caCertHash": discovered.ca_hash }))),
            Output::Text => say(&format!("[discovery] verified cluster-info: API server {}, CA {}\n", discovered.server, discovered.ca_hash)),
        }
        return Ok(());
    }
    progress(
        req.node.output,
        &format!("[discovery] cluster-info verified: API server {}, CA {} ({} ms)\n", discovered.server, discovered.ca_hash, started.elapsed().as_millis()),
    );

    let before = |phase: &'static str| move |reason: String| CommandError::BeforeJoin { phase, reason };
    let node_name = req.settings.node.name.clone().or(env.facts.defaults.hostname.clone());
    let cluster = reads::read_cluster(&discovered, &token, node_name.as_deref()).await.map_err(before("discovery"))?;
    let mut cfg = config::resolve(Some(cluster.settings.clone()), &req.settings, &env.facts.defaults)?;
    let control_plane = match cert_key {
        None => None,
        Some(key) => Some(reads::control_plane_input(&discovered, &token, &key, &mut cfg).await.map_err(before("control-plane-prepare"))?),
    };
    env.check_port(cfg.bind_port);
    // A worker's kubelet talks to the API through its node-local proxy (phase api-proxy), so
    // the bootstrap kubeconfig, and the kubelet.conf the kubelet derives from it, name the
    // proxy; a control plane's kubelet keeps its own API server.
    let api_proxy = match &control_plane {
        None => Some(ApiProxyInput::for_worker(&discovered.server, cfg.bind_port).map_err(|e| before("api-proxy")(e.to_string()))?),
        Some(_) => None,
    };
    let kubelet_server = api_proxy.as_ref().map(ApiProxyInput::server_url).unwrap_or_else(|| discovered.server.clone());
    let bootstrap = bootstrap_kubeconfig(&cfg.cluster_name, &kubelet_server, &discovered.ca_pem(), &token).map_err(before("kubelet-start"))?;
    let input =
        JoinInput { ca_pem: discovered.ca_pem(), bootstrap_kubeconfig: bootstrap, kubelet_config: cluster.kubelet_config.clone(), control_plane, api_proxy };
    let options = Options {
        host_fixes: !req.node.no_host_fixes,
        host_prefix: env.host_prefix(),
        container_prefix: req.host.container_prefix.clone(),
        host_pid: req.host.access.host_pid,
    };

    // A Ready node of this name that is not this host would be hijacked: refuse (kubeadm does).
    let overlay = crate::plan::Overlay::default();
    let member = crate::phases::join_input::is_member(&crate::phases::View::new(env.files(), &overlay), &cfg.cert_dir, &input.ca_pem).unwrap_or(false);
    if cluster.node_ready && !member {
        return Err(before("preflight")(format!(
            "a Ready node named {0} already exists in the cluster: pass another --node-name, or remove the old node first (`kubectl delete node {0}`)",
            cfg.node_name
        )));
    }
    let mut notes = Vec::new();
    if let (Some(bundle), false) = (&req.node.image_bundle, req.node.dry_run) {
        notes.extend(
            images::load_bundle(
                &env,
                &cfg.cri_socket,
                bundle,
                req.node.image_bundle_sha256.as_deref(),
                &crate::images::placement(&cfg, input.control_plane.is_some()),
            )
            .await?,
        );
    }
    let inputs = Inputs { cfg: &cfg, facts: &env.facts, files: env.files(), options: &options, join: Some(&input) };
    let rendered = workflow::render_join(&inputs, &req.selection, req.node.dry_run)?;
    let mut changes = Default::default();
    if !req.node.dry_run {
        // The bridge network's agent runs from kubeup's image on every node; copying it from
        // Docker into containerd costs about a second and spares an unreachable registry.
        match images::copy_into_cri(&env, &cfg.cri_socket, &cfg.kubeup_image).await {
            Ok(note) => notes.extend(note),
            Err(e) => notes.push(format!("[images] {e}")),
        }
        let outcome = super::execute(&env, &req.host, &cfg.cert_dir, &cfg.node_name, &rendered.plans).await?;
        notes.extend(outcome.notes);
        notes.push(format!(
            "[join] node {} joined the cluster at {}: see it with `kubectl get nodes` on a control-plane node",
            cfg.node_name, discovered.server
        ));
        changes = outcome.changes;
    }
    let report = Report::of("join", &rendered, req.node.dry_run, &notes, started).changed(changes);
    report::print(&report, req.node.output);
    Ok(())
}
