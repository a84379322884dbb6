//! `kubeup certs renewer`: the long-running renewer of a control-plane node (container
//! `kubeup-cert-renewer`). Every few seconds it decides the pending kubelet serving CSRs; when a
//! certificate's renewal time has come (or the node was off past it) it takes the cluster's
//! renewal Lease, renews what is due exactly as `certs renew` does (restarting one component at
//! a time) and records what it did as an Event on its Node. A CA in its last year is warned about.
//!
//! It never exits on an error: it logs it, records it where it can, and tries again.

use std::time::Duration;

use time::OffsetDateTime;

use super::certs::{inventory, settings, stamp};
use super::{execute, gather, CommandError, HostRequest};
use crate::apply::{Environment, RenewerApi};
use crate::certs::csr_policy::{self, Verdict};
use crate::certs::renew::{self, RenewInput, Selection};
use crate::certs::settings::RenewalSettings;
use crate::paths;

/// What the renewer is asked.
#[derive(Debug, Clone)]
pub struct RenewerRequest {
    /// How the host is reached.
    pub host: HostRequest,
    /// The certificate directory.
    pub cert_dir: String,
    /// This node's name (Lease holder, Events).
    pub node_name: String,
    /// How often pending CSRs are looked at.
    pub csr_interval: Duration,
}

/// How long the Lease is held at most (a renewal with its restarts takes well under this).
const LEASE_HOLD: Duration = Duration::from_secs(600);
/// How long to wait before trying again after the Lease was busy or a renewal failed.
const RETRY: Duration = Duration::from_secs(30);

fn log(msg: &str) {
    let now = OffsetDateTime::now_utc().format(&time::format_description::well_known::Rfc3339).unwrap_or_default();
    eprintln!("{now} [cert-renewer] {msg}");
}

async fn api(env: &Environment, node: &str) -> Result<RenewerApi, String> {
    let bytes = env.files().read(&paths::kubeconfig("admin.conf")).map_err(|e| e.to_string())?.ok_or("/etc/kubernetes/admin.conf is missing")?;
    let text = String::from_utf8(bytes).map_err(|_| "admin.conf is not text".to_string())?;
    RenewerApi::connect(&text, node).await.map_err(|e| e.to_string())
}

/// Run forever.
pub async fn run(req: RenewerRequest) -> Result<(), CommandError> {
    log(&format!("started on node {}: renewing certificates in {} and approving kubelet serving certificates as configured", req.node_name, req.cert_dir));
    let mut next_renewal = OffsetDateTime::now_utc();
    let mut last_ca_warning: Option<OffsetDateTime> = None;
    // The host is observed once, not at every CSR look (Docker, /proc, mountinfo); a renewal
    // observes it afresh, since the CRI socket or Docker may have changed in between.
    let mut observed: Option<Environment> = None;
    loop {
        let due = OffsetDateTime::now_utc() >= next_renewal;
        if observed.is_none() || due {
            match gather(&req.host, false, "certs renewer").await {
                Ok(env) => observed = Some(env),
                Err(e) => {
                    log(&format!("cannot observe the host: {e}"));
                    tokio::time::sleep(RETRY).await;
                    continue;
                }
            }
        }
        let Some(env) = observed.as_ref() else { continue };
        let s = match settings(env.files()) {
            Ok(s) => s.unwrap_or_default(),
            Err(e) => {
                log(&format!("{e}; using the defaults"));
                RenewalSettings::default()
            }
        };
        if s.approve_kubelet_serving {
            if let Err(e) = approve_pass(env, &req.node_name).await {
                log(&format!("kubelet serving CSRs: {e}"));
            }
        }
        if s.automatic && due {
            next_renewal = renewal_pass(env, &req, &s, &mut last_ca_warning).await;
        }
        tokio::time::sleep(req.csr_interval).await;
    }
}

/// Decide every pending kubelet serving CSR.
async fn approve_pass(env: &Environment, node: &str) -> Result<(), String> {
    let api = api(env, node).await?;
    for csr in api.serving_csrs().await.map_err(|e| e.to_string())? {
        let name = csr.metadata.name.clone().unwrap_or_default();
        let requester = csr.spec.username.clone().unwrap_or_default();
        let node_obj = match requester.strip_prefix("system:node:") {
            Some(n) if !n.is_empty() => api.node(n).await.map_err(|e| e.to_string())?,
            _ => None,
        };
        match csr_policy::decide(&csr, node_obj.as_ref()) {
            Verdict::Approve => {
                api.decide(&name, true, "kubeup: requested by the node itself, for its own addresses, with serving usages").await.map_err(|e| e.to_string())?;
                log(&format!("approved {name}: kubelet serving certificate of {requester}"));
            }
            Verdict::Deny(why) => {
                api.decide(&name, false, &format!("kubeup: {why}")).await.map_err(|e| e.to_string())?;
                log(&format!("denied {name} (requested by {requester}): {why}"));
            }
            Verdict::Wait(_) | Verdict::NotOurs => {}
        }
    }
    Ok(())
}

/// Renew what is due; returns when to look again.
async fn renewal_pass(env: &Environment, req: &RenewerRequest, s: &RenewalSettings, last_ca_warning: &mut Option<OffsetDateTime>) -> OffsetDateTime {
    let now = OffsetDateTime::now_utc();
    let interval = time::Duration::seconds(i64::try_from(s.check_interval_secs).unwrap_or(3600));
    let inv = match inventory(env.files(), &req.cert_dir, Some(s)) {
        Ok(inv) => inv,
        Err(e) => {
            log(&e.to_string());
            return now + interval;
        }
    };
    let api = api(env, &req.node_name).await;
    let expiring: Vec<String> = inv
        .cas
        .iter()
        .filter(|c| c.not_after - now < time::Duration::days(365))
        .map(|c| format!("{} (expires {})", c.name, crate::certs::table::date(c.not_after)))
        .collect();
    if !expiring.is_empty() && last_ca_warning.is_none_or(|t| now - t > time::Duration::days(1)) {
        let msg = format!("CA certificates in their last year: {}. kubeup never renews a CA; plan a CA rotation", expiring.join(", "));
        log(&msg);
        if let Ok(api) = &api {
            let _ = api.event(true, "CertificateAuthorityExpiring", &msg).await;
        }
        *last_ca_warning = Some(now);
    }
    let earliest = inv.certs.iter().filter_map(|c| c.renew_at).min();
    if earliest.is_none_or(|t| t > now) {
        return earliest.map_or(now + interval, |t| t.min(now + interval));
    }
    match &api {
        Ok(api) => match api.try_acquire(LEASE_HOLD).await {
            Ok(None) => {}
            Ok(Some(holder)) => {
                log(&format!(
                    "certificates are due, but {holder} is renewing (Lease kube-system/{}); trying again in {} s",
                    crate::apply::RENEWAL_LEASE,
                    RETRY.as_secs()
                ));
                return now + RETRY;
            }
            Err(e) => log(&format!("cannot take the renewal Lease ({e}); renewing without it")),
        },
        Err(e) => log(&format!("the API is unreachable ({e}); renewing without the Lease (expired certificates recover this way)")),
    }
    let result = renew_due(env, req, s, &inv, now).await;
    let (warning, reason, msg) = match &result {
        Ok(msg) => (false, "CertificatesRenewed", msg.clone()),
        Err(e) => (true, "CertificateRenewalFailed", e.clone()),
    };
    log(&msg);
    // A fresh client: admin.conf itself may just have been renewed.
    if let Ok(api) = self::api(env, &req.node_name).await {
        if let Err(e) = api.event(warning, reason, &msg).await {
            log(&format!("cannot record the Event: {e}"));
        }
        if let Err(e) = api.release().await {
            log(&format!("cannot release the Lease: {e}"));
        }
    }
    if result.is_err() {
        now + RETRY
    } else {
        now + time::Duration::seconds(1)
    }
}

async fn renew_due(
    env: &Environment,
    req: &RenewerRequest,
    s: &RenewalSettings,
    inv: &crate::certs::inventory::Inventory,
    now: OffsetDateTime,
) -> Result<String, String> {
    let input = RenewInput {
        cert_dir: &req.cert_dir,
        validity: s.validity(),
        cri_socket: env.facts.cri_sockets.first().map(|p| env.host_source(p)),
        now,
        stamp: stamp(now),
    };
    let renewal = renew::render(env.files(), inv, &Selection::Due, &input).map_err(|e| e.to_string())?;
    if renewal.renewed.is_empty() {
        return Ok("nothing was due after all".into());
    }
    let outcome = execute(env, &req.host, &req.cert_dir, &req.node_name, &renewal.plans)
        .await
        .map_err(|e| format!("renewing {} failed: {e}", renewal.renewed.join(", ")))?;
    let restarts: Vec<&String> = outcome.notes.iter().filter(|n| n.contains(" restarted after ")).collect();
    Ok(format!(
        "renewed {} (valid for {}){}",
        renewal.renewed.join(", "),
        crate::config::GoDuration(s.validity()),
        if restarts.is_empty() {
            String::new()
        } else {
            format!("; {}", restarts.iter().map(|n| n.trim_start_matches("[certs-restart] ").to_string()).collect::<Vec<_>>().join("; "))
        }
    ))
}
