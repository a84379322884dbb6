//! `kubeup init` and `kubeup init phase <name> [child]`.

use std::path::PathBuf;
use std::time::Instant;

use super::report::{self, Report};
use super::{environment, CommandError, HostRequest, NodeOptions};
use crate::apply::images;
use crate::config::{self, Settings};
use crate::phases::Options;
use crate::workflow::{self, Inputs, Selection};

/// What `init` is asked.
#[derive(Debug, Clone)]
pub struct InitRequest {
    /// How the host is reached.
    pub host: HostRequest,
    /// `--config`.
    pub config_file: Option<PathBuf>,
    /// The flags as a configuration layer.
    pub settings: Settings,
    /// All phases, or one.
    pub selection: Selection,
    /// Dry run, output, host fixes, image bundle.
    pub node: NodeOptions,
}

/// Run `init`.
pub async fn init(req: InitRequest) -> Result<(), CommandError> {
    let started = Instant::now();
    req.host.labels()?;
    let mut env = environment(&req.host, req.node.dry_run, "init").await?;
    let file = req.config_file.as_deref().map(config::load_file).transpose()?;
    let mut cfg = config::resolve(file, &req.settings, &env.facts.defaults)?;
    // A fresh certificate key for each upload unless the user gave one (kubeadm); never stored.
    if cfg.upload_certs && cfg.certificate_key.is_none() && req.selection.includes("upload-certs") {
        cfg.certificate_key = Some(crate::certificate_key::generate().map_err(|e| CommandError::Usage(format!("cannot make a certificate key: {e}")))?);
    }
    env.check_port(cfg.bind_port);
    let options = Options {
        host_fixes: !req.node.no_host_fixes,
        host_prefix: env.host_prefix(),
        container_prefix: req.host.container_prefix.clone(),
        host_pid: req.host.access.host_pid,
    };
    tracing::info!(version = %cfg.version, node = %cfg.node_name, address = %cfg.advertise_address, "kubeup init");
    let mut notes = Vec::new();
    if let (Some(bundle), false) = (&req.node.image_bundle, req.node.dry_run) {
        notes.extend(images::load_bundle(&env, &cfg.cri_socket, bundle, req.node.image_bundle_sha256.as_deref(), &crate::images::placement(&cfg, true)).await?);
    }
    if !req.node.dry_run && cfg.pod_network == config::PodNetwork::Bridge {
        // The bridge agent runs from kubeup's own image, which Docker has (it runs this
        // installer) but the CRI runtime may not, and no registry may serve it. Not fatal: a
        // registry may serve it after all; if not, the warning names the cause.
        match images::copy_into_cri(&env, &cfg.cri_socket, &cfg.kubeup_image).await {
            Ok(note) => notes.extend(note),
            Err(e) => notes.push(format!("[images] warning: {e}")),
        }
    }
    let inputs = Inputs { cfg: &cfg, facts: &env.facts, files: env.files(), options: &options, join: None };
    let rendered = workflow::render_init(&inputs, &req.selection, req.node.dry_run)?;
    let mut changes = Default::default();
    if !req.node.dry_run {
        let outcome = super::execute(&env, &req.host, &cfg.cert_dir, &cfg.node_name, &rendered.plans).await?;
        notes.extend(outcome.notes);
        changes = outcome.changes;
    }
    let report = Report::of("init", &rendered, req.node.dry_run, &notes, started).changed(changes);
    report::print(&report, req.node.output);
    Ok(())
}
