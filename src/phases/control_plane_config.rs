//! The phases that configure the cluster once the control plane answers: `wait-control-plane`,
//! `upload-config`, `upload-certs`, `mark-control-plane`, `bootstrap-token`,
//! `kubelet-finalize` and `show-join-command`. Each renders waits and API objects as data; the
//! cluster layer applies them (server-side apply, retried like kubeadm's).

use time::format_description::well_known::Rfc3339;

use super::{Ctx, PhaseError};
use crate::objects::{self, cluster as cluster_objects, rbac};
use crate::paths::HostPath;
use crate::plan::{ApplyMode, FileKind, Plan, Step, WaitTarget, WritePolicy};
use crate::token::BootstrapToken;

/// Where kubeup keeps the default bootstrap token it generated, so that re-runs reuse it.
pub const TOKEN_FILE: &str = "/var/lib/kubeup/bootstrap-token";

fn render_err(what: &str, reason: impl Into<String>) -> PhaseError {
    PhaseError::Render { what: what.into(), reason: reason.into() }
}

/// kubeadm's waits, in series, with kubeadm's 4-minute budgets.
pub fn wait(_ctx: &Ctx, _only: Option<&str>) -> Result<Plan, PhaseError> {
    let targets = [
        (WaitTarget::KubeletContainer, 60),
        (WaitTarget::KubeletHealthz, 240),
        (WaitTarget::Etcd, 240),
        (WaitTarget::ApiServer, 240),
        (WaitTarget::ControllerManager, 240),
        (WaitTarget::Scheduler, 240),
    ];
    Ok(Plan { steps: targets.into_iter().map(|(target, timeout_secs)| Step::Wait { target, timeout_secs }).collect() })
}

/// ConfigMaps `kubeadm-config` and the kubelet's.
pub fn upload_config(ctx: &Ctx, only: Option<&str>) -> Result<Plan, PhaseError> {
    let kc = crate::kubelet::config::kubelet_configuration(ctx.cfg, ctx.facts.resolv_conf.as_deref());
    let kc_yaml = crate::yaml::to_string(&kc).map_err(|e| render_err("kubelet configuration", e))?;
    let [kubeadm, kubelet] = cluster_objects::config_maps(ctx.cfg, &kc_yaml).map_err(|e| render_err("kubeadm-config", e))?;
    let mut steps = Vec::new();
    if only.is_none_or(|o| o == "kubeadm") {
        steps.push(Step::ApplyObject { object: objects::json(&kubeadm), mode: ApplyMode::Apply });
    }
    if only.is_none_or(|o| o == "kubelet") {
        steps.push(Step::ApplyObject { object: objects::json(&kubelet), mode: ApplyMode::Apply });
    }
    Ok(Plan { steps })
}

/// The certificate key of this run: given with `--certificate-key`, or made fresh by the command
/// for each `--upload-certs` run (as kubeadm does). It is never written to disk: it decrypts the
/// cluster's CA keys for two hours.
fn certificate_key(ctx: &Ctx) -> Result<String, PhaseError> {
    ctx.cfg.certificate_key.clone().ok_or_else(|| {
        render_err(
            "certificate key",
            "--upload-certs needs the key the certificates are encrypted with: pass --certificate-key (see `kubeup certs certificate-key`)",
        )
    })
}

/// `upload-certs` acts only with `--upload-certs`, as kubeadm's: the shared CAs and the
/// service-account keys, encrypted with the certificate key, in Secret kube-system/kubeadm-certs,
/// owned by a token that expires in 2 hours (the garbage collector then deletes them).
pub fn upload_certs(ctx: &Ctx, _only: Option<&str>) -> Result<Plan, PhaseError> {
    let mut plan = Plan::default();
    if !ctx.cfg.upload_certs {
        return Ok(plan);
    }
    let key_hex = certificate_key(ctx)?;
    let key = crate::certificate_key::parse(&key_hex).map_err(|e| render_err("certificate key", e.to_string()))?;
    let mut encrypted = std::collections::BTreeMap::new();
    for (data_key, file, _) in crate::pki::upload::SHARED_FILES {
        let path = HostPath::new(format!("{}/{file}", ctx.cfg.cert_dir)).map_err(|e| render_err(file, e.to_string()))?;
        let bytes = ctx.view.read(&path)?.ok_or_else(|| {
            render_err(path.as_str(), "does not exist, so it cannot be uploaded: run `kubeup init phase certs` first (with an external CA, control-plane nodes get their files by hand)")
        })?;
        encrypted.insert(data_key.to_string(), crate::pki::upload::encrypt(&key, &bytes).map_err(|e| render_err(file, e))?);
    }
    let owner = BootstrapToken::generate().map_err(|e| render_err("bootstrap token", e.to_string()))?;
    let expiration = (ctx.now + std::time::Duration::from_secs(2 * 3600)).format(&Rfc3339).map_err(|e| render_err("token expiration", e.to_string()))?;
    plan.steps.push(Step::ApplyObject { object: objects::json(&cluster_objects::certs_owner_token(&owner, &expiration)), mode: ApplyMode::CreateIfAbsent });
    plan.steps.push(Step::ApplyOwned { object: objects::json(&cluster_objects::kubeadm_certs(encrypted)), owner: format!("bootstrap-token-{}", owner.id()) });
    for o in rbac::kubeadm_certs_rbac() {
        plan.steps.push(Step::ApplyObject { object: o, mode: ApplyMode::Apply });
    }
    plan.steps.push(Step::Say {
        text: format!(
            "[upload-certs] the control-plane certificates are in Secret kube-system/kubeadm-certs for 2 hours, encrypted with certificate key {key_hex}"
        ),
        secret: true,
    });
    Ok(plan)
}

/// The annotation kubeadm up to 1.33 puts on every Node it sets up, naming the node's CRI
/// socket; `kubeadm upgrade` and `FetchInitConfigurationFromCluster` refuse a node without it.
pub const CRI_SOCKET_ANNOTATION: &str = "kubeadm.alpha.kubernetes.io/cri-socket";

/// The Node annotations kubeadm sets on init and join for this minor.
pub fn node_annotations(cfg: &crate::config::Config) -> std::collections::BTreeMap<String, String> {
    let mut a = std::collections::BTreeMap::new();
    if cfg.version.facts().cri_socket_annotation {
        a.insert(CRI_SOCKET_ANNOTATION.to_string(), cfg.cri_socket.clone());
    }
    a
}

/// Labels, taints and kubeadm's annotations of a control-plane node.
pub fn mark_control_plane(ctx: &Ctx, _only: Option<&str>) -> Result<Plan, PhaseError> {
    let facts = ctx.cfg.version.facts();
    Ok(Plan {
        steps: vec![Step::MarkNode {
            name: ctx.cfg.node_name.clone(),
            labels: facts.control_plane_labels.iter().map(|s| s.to_string()).collect(),
            taints: facts.control_plane_taints.iter().map(|s| s.to_string()).collect(),
            annotations: node_annotations(ctx.cfg),
        }],
    })
}

/// A bootstrap token of this init and what is known of its life.
#[derive(Debug, Clone)]
pub struct InitToken {
    /// The token.
    pub token: BootstrapToken,
    /// Its settings (ttl, usages, groups, description).
    pub settings: crate::config::TokenSettings,
    /// When it expires (RFC 3339), `None` for never. For a generated token this is fixed when it
    /// is first generated and kept with it: a re-run never extends it.
    pub expiration: Option<String>,
    /// A generated token whose recorded expiration has passed: not created, signed or printed.
    pub expired: bool,
    /// Generated by kubeup (kept in [`TOKEN_FILE`]), as opposed to given in the configuration.
    pub generated: bool,
}

/// The tokens of this init: the configured ones, else one default token. A token whose value
/// is not given is generated once and kept in [`TOKEN_FILE`] (`-<n>` for the n-th configured
/// one) with its expiration, so every phase of a run and every re-run use the same token
/// instead of minting more, and none outlives the TTL it was made with.
pub fn tokens(ctx: &Ctx, plan: &mut Plan) -> Result<Vec<InitToken>, PhaseError> {
    let default = crate::config::TokenSettings { token: None, description: None, ttl: None, usages: vec![], groups: vec![] };
    let configured = if ctx.cfg.bootstrap_tokens.is_empty() { vec![default] } else { ctx.cfg.bootstrap_tokens.clone() };
    configured
        .into_iter()
        .enumerate()
        .map(|(i, t)| {
            let ttl = t.ttl.map(|d| d.0).unwrap_or(std::time::Duration::from_secs(24 * 3600));
            let fresh_expiration =
                (!ttl.is_zero()).then(|| (ctx.now + ttl).format(&Rfc3339)).transpose().map_err(|e| render_err("token expiration", e.to_string()))?;
            match &t.token {
                Some(tok) => Ok(InitToken { token: tok.clone(), settings: t.clone(), expiration: fresh_expiration, expired: false, generated: false }),
                None => {
                    let file = if i == 0 { TOKEN_FILE.to_string() } else { format!("{TOKEN_FILE}-{i}") };
                    let (token, expiration) = persisted_token(ctx, plan, &file, fresh_expiration)?;
                    let expired = expiration.as_deref().and_then(|e| time::OffsetDateTime::parse(e, &Rfc3339).ok()).is_some_and(|e| e <= ctx.now);
                    Ok(InitToken { token, settings: t, expiration, expired, generated: true })
                }
            }
        })
        .collect()
}

/// The token kept at `file` with its expiration, or a new one (expiring at `fresh_expiration`)
/// planned to be written there. The file holds the token, then `expires: <RFC 3339|never>`.
fn persisted_token(ctx: &Ctx, plan: &mut Plan, file: &str, fresh_expiration: Option<String>) -> Result<(BootstrapToken, Option<String>), PhaseError> {
    let path = HostPath::new(file).map_err(|e| render_err(file, e.to_string()))?;
    if let Some(text) = ctx.view.read_text(&path)? {
        let mut lines = text.lines();
        let token = lines
            .next()
            .unwrap_or("")
            .trim()
            .parse()
            .map_err(|e: crate::token::TokenFormatError| render_err(file, format!("{e}; move the file away to have a new token made")))?;
        let expiration = match lines.find_map(|l| l.strip_prefix("expires:")).map(str::trim) {
            Some("never") => None,
            Some(e) => Some(e.to_string()),
            // Written by an earlier kubeup that did not keep the expiration: its TTL began when
            // it was first made, so it is treated as expired rather than given a new day.
            None => Some("1970-01-01T00:00:00Z".to_string()),
        };
        return Ok((token, expiration));
    }
    let t = BootstrapToken::generate().map_err(|e| render_err("bootstrap token", e.to_string()))?;
    plan.steps.push(Step::EnsureDir { path: path.parent(), mode: 0o700 });
    let expires = fresh_expiration.clone().unwrap_or_else(|| "never".into());
    plan.write(path, format!("{t}\nexpires: {expires}\n"), 0o600, WritePolicy::CreateOnly, FileKind::PrivateKey);
    Ok((t, fresh_expiration))
}

fn ca_pem(ctx: &Ctx) -> Result<String, PhaseError> {
    let p = HostPath::new(format!("{}/ca.crt", ctx.cfg.cert_dir)).map_err(|e| render_err("ca.crt", e.to_string()))?;
    ctx.view.read_text(&p)?.ok_or_else(|| render_err("ca.crt", "does not exist: run `kubeup init phase certs ca` first"))
}

/// Token Secrets, kubeadm's RBAC, and cluster-info signed for every signing token at once.
pub fn bootstrap_token(ctx: &Ctx, _only: Option<&str>) -> Result<Plan, PhaseError> {
    let mut plan = Plan::default();
    let tokens = tokens(ctx, &mut plan)?;
    let mut signing = Vec::new();
    for t in &tokens {
        if t.expired {
            plan.steps.push(Step::Say {
                text: format!(
                    "[bootstrap-token] the token {} kubeup generated expired at {}; it is not created again: make a new one with `kubeup token create --print-join-command`",
                    t.token.id(),
                    t.expiration.as_deref().unwrap_or("?")
                ),
                secret: false,
            });
            continue;
        }
        let s = &t.settings;
        let groups = if s.groups.is_empty() { vec![objects::DEFAULT_NODE_TOKEN_GROUP.to_string()] } else { s.groups.clone() };
        let description = s.description.clone().unwrap_or_else(|| "The default bootstrap token generated by 'kubeup init'.".into());
        let mut secret = cluster_objects::bootstrap_token_secret(&t.token, t.expiration.as_deref(), &description, &groups);
        cluster_objects::restrict_usages(&mut secret, &s.usages);
        // A generated token is created once: deleted or expired, a re-run does not revive it.
        let mode = if t.generated { ApplyMode::CreateOnce } else { ApplyMode::CreateIfAbsent };
        plan.steps.push(Step::ApplyObject { object: objects::json(&secret), mode });
        if s.usages.is_empty() || s.usages.iter().any(|u| u == "signing") {
            signing.push(&t.token);
        }
    }
    for o in rbac::bootstrap_rbac(ctx.cfg) {
        plan.steps.push(Step::ApplyObject { object: o, mode: ApplyMode::Apply });
    }
    let kubeconfig = cluster_objects::cluster_info_kubeconfig(&ctx.cfg.cluster_endpoint().url(), &ca_pem(ctx)?).map_err(|e| render_err("cluster-info", e))?;
    plan.steps.push(Step::ApplyObject { object: objects::json(&cluster_objects::cluster_info(&kubeconfig, &signing)), mode: ApplyMode::Apply });
    Ok(plan)
}

/// Point kubelet.conf at the kubelet's rotating client certificate once it exists.
pub fn kubelet_finalize(_ctx: &Ctx, _only: Option<&str>) -> Result<Plan, PhaseError> {
    Ok(Plan { steps: vec![Step::KubeletFinalize] })
}

/// The join command, as the full `docker run … kubeup join …` line.
pub fn show_join_command(ctx: &Ctx, _only: Option<&str>) -> Result<Plan, PhaseError> {
    let mut plan = Plan::default();
    let tokens = tokens(ctx, &mut plan)?;
    let hash = crate::pki::ca_cert_hash(&ca_pem(ctx)?).map_err(|e| render_err("ca.crt", e))?;
    let ep = ctx.cfg.cluster_endpoint();
    let endpoint = crate::join_command::endpoint(&ep.host, ep.port);
    let Some(live) = tokens.iter().find(|t| !t.expired) else {
        plan.steps.push(Step::Say {
            text: "The bootstrap token kubeup generated has expired. To join a node, make a new token and its join command on this node:\n\n  kubeup token create --print-join-command\n".into(),
            secret: false,
        });
        return Ok(plan);
    };
    let token = &live.token;
    let line = crate::join_command::worker(&endpoint, token, &hash);
    let mut text = String::new();
    if ctx.cfg.upload_certs {
        let key = ctx.cfg.certificate_key.as_deref().unwrap_or("<the key printed by upload-certs>");
        let cp = crate::join_command::control_plane(&endpoint, token, &hash, key);
        text.push_str(&format!(
            "To join another control-plane node, run on it (the certificate key expires with the uploaded certificates in 2 hours):\n\n  {cp}\n\n"
        ));
    }
    text.push_str(&format!("To join a worker node, run on it:\n\n  {line}\n"));
    plan.steps.push(Step::Say { text, secret: true });
    Ok(plan)
}
