//! The renewal plan: new certificates (and keys) for the chosen renewable certificates, signed
//! by the node's CAs with the subject, groups, SANs and usages of the certificates they replace
//! (as `kubeadm certs renew` does), the old files backed up first, then a restart of exactly the
//! static pods that read the renewed files only at start, one at a time, each waited for.
//!
//! Pure: reads through [`HostFiles`], returns plans.

use std::collections::BTreeSet;

use base64::engine::general_purpose::STANDARD as B64;
use base64::Engine as _;
use time::OffsetDateTime;

use super::inventory::{self, CertStatus, Inventory, InventoryError};
use super::Source;
use crate::host_files::HostFiles;
use crate::manifests::Component;
use crate::paths::HostPath;
use crate::pki::{self, certlist, CertPair, Identity};
use crate::pki::{CERT_MODE, KEY_MODE};
use crate::plan::{FileKind, HostAction, PhasePlan, Plan, Step, WritePolicy};

/// Where old certificates go before they are replaced.
pub const BACKUP_DIR: &str = "/var/lib/kubeup/backup";

/// Why a renewal cannot be planned.
#[derive(Debug, thiserror::Error)]
pub enum RenewError {
    /// Reading the PKI failed.
    #[error(transparent)]
    Inventory(#[from] InventoryError),
    /// A name that is not a renewable certificate.
    #[error("{0:?} is not a certificate kubeup renews; use one of: all, {names}", names = super::names().join(", "))]
    UnknownName(String),
    /// Issuing failed.
    #[error(transparent)]
    Pki(#[from] pki::PkiError),
    /// A file could not be rebuilt.
    #[error("{path}: {reason}")]
    Rebuild {
        /// The file.
        path: String,
        /// Why.
        reason: String,
    },
}

/// What to renew.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Selection {
    /// Every renewable certificate.
    All,
    /// These, by kubeadm's name.
    Named(Vec<String>),
    /// Those whose renewal time has come (the renewer).
    Due,
}

/// What renewing needs beyond the files.
#[derive(Debug, Clone)]
pub struct RenewInput<'a> {
    /// The certificate directory.
    pub cert_dir: &'a str,
    /// Lifetime of the new certificates.
    pub validity: std::time::Duration,
    /// The CRI socket as the host sees it (for restarts); `None`: do not restart.
    pub cri_socket: Option<String>,
    /// Now.
    pub now: OffsetDateTime,
    /// Backup directory name (a timestamp), under [`BACKUP_DIR`].
    pub stamp: String,
}

/// A planned renewal.
#[derive(Debug, Clone, Default)]
pub struct Renewal {
    /// The plans (`renew`, then `restart`); empty when nothing is to be done.
    pub plans: Vec<PhasePlan>,
    /// The names renewed.
    pub renewed: Vec<&'static str>,
    /// The names skipped, with why.
    pub skipped: Vec<(&'static str, String)>,
}

fn rebuild(path: &HostPath, reason: impl ToString) -> RenewError {
    RenewError::Rebuild { path: path.to_string(), reason: reason.to_string() }
}

fn text(files: &dyn HostFiles, p: &HostPath) -> Result<String, RenewError> {
    let bytes = files.read(p).map_err(InventoryError::from)?.ok_or_else(|| rebuild(p, "is missing"))?;
    String::from_utf8(bytes).map_err(|_| rebuild(p, "is not UTF-8 text"))
}

/// The identity to renew with: the existing certificate's own.
fn identity(c: &CertStatus) -> Result<Identity, RenewError> {
    let parsed = pki::parse_pem_cert(&c.cert_pem).map_err(|e| rebuild(&c.path, e))?;
    Ok(Identity { cn: parsed.cn.unwrap_or_default(), orgs: parsed.orgs, usages: parsed.usages, sans: parsed.sans })
}

/// A kubeconfig with its embedded client certificate and key replaced, nothing else changed.
fn replace_client(path: &HostPath, text: &str, pair: &CertPair) -> Result<String, RenewError> {
    let mut kc = kube::config::Kubeconfig::from_yaml(text).map_err(|e| rebuild(path, e))?;
    let current = kc.current_context.clone().ok_or_else(|| rebuild(path, "has no current-context"))?;
    let user = kc.contexts.iter().find(|c| c.name == current).and_then(|c| c.context.as_ref()).and_then(|c| c.user.clone()).unwrap_or_default();
    let auth =
        kc.auth_infos.iter_mut().find(|a| a.name == user).and_then(|a| a.auth_info.as_mut()).ok_or_else(|| rebuild(path, "has no user for its context"))?;
    auth.client_certificate_data = Some(B64.encode(&pair.cert_pem));
    auth.client_key_data = Some(B64.encode(&pair.key_pem).into());
    crate::kubeconfig::to_yaml(&kc).map_err(|e| rebuild(path, e))
}

/// Plan the renewal of `selection` on a node whose PKI is `inv`.
pub fn render(files: &dyn HostFiles, inv: &Inventory, selection: &Selection, input: &RenewInput) -> Result<Renewal, RenewError> {
    if let Selection::Named(names) = selection {
        if let Some(bad) = names.iter().find(|n| super::renewable(n).is_none()) {
            return Err(RenewError::UnknownName(bad.clone()));
        }
    }
    let chosen = |c: &CertStatus| match selection {
        Selection::All => true,
        Selection::Named(n) => n.iter().any(|n| n == c.spec.name),
        Selection::Due => c.renew_at.is_some_and(|t| t <= input.now),
    };
    let mut out = Renewal::default();
    let mut renew = Plan::default();
    let mut restarts = BTreeSet::new();
    let backup = |p: &HostPath| HostPath::new(format!("{BACKUP_DIR}/{}{}", input.stamp, p.as_str())).map_err(|e| rebuild(p, e));
    for c in inv.certs.iter().filter(|c| chosen(c)) {
        if c.external {
            out.skipped.push((c.spec.name, format!("its CA ({}) has no key on this node: it is managed externally", c.spec.ca)));
            continue;
        }
        let ca = certlist::ca(c.spec.ca).ok_or_else(|| rebuild(&c.path, format!("unknown CA {}", c.spec.ca)))?;
        let ca_pair = CertPair {
            cert_pem: text(files, &inventory::cert_path(input.cert_dir, ca.file, "crt")?)?,
            key_pem: text(files, &inventory::cert_path(input.cert_dir, ca.file, "key")?)?,
        };
        let pair = pki::issue_leaf(&identity(c)?, &ca_pair, input.validity, input.now)?;
        match c.spec.source {
            Source::Pair(base) => {
                let key_path = inventory::cert_path(input.cert_dir, base, "key")?;
                let old_key = text(files, &key_path)?;
                renew.steps.push(Step::EnsureDir { path: backup(&c.path)?.parent(), mode: 0o700 });
                renew.write(backup(&c.path)?, c.cert_pem.clone(), CERT_MODE, WritePolicy::CreateOnly, FileKind::Certificate);
                renew.write(backup(&key_path)?, old_key, KEY_MODE, WritePolicy::CreateOnly, FileKind::PrivateKey);
                renew.write(c.path.clone(), pair.cert_pem, CERT_MODE, WritePolicy::Replace, FileKind::Certificate);
                renew.write(key_path, pair.key_pem, KEY_MODE, WritePolicy::Replace, FileKind::PrivateKey);
            }
            Source::Kubeconfig(_) => {
                let old = text(files, &c.path)?;
                let new = replace_client(&c.path, &old, &pair)?;
                renew.steps.push(Step::EnsureDir { path: backup(&c.path)?.parent(), mode: 0o700 });
                renew.write(backup(&c.path)?, old, KEY_MODE, WritePolicy::CreateOnly, FileKind::Kubeconfig);
                renew.write(c.path.clone(), new, KEY_MODE, WritePolicy::Replace, FileKind::Kubeconfig);
            }
        }
        restarts.extend(c.spec.restarts.iter().copied());
        out.renewed.push(c.spec.name);
    }
    if out.renewed.is_empty() {
        return Ok(out);
    }
    out.plans.push(PhasePlan { phase: "certs-renew".into(), plan: renew });
    let Some(socket) = &input.cri_socket else { return Ok(out) };
    let mut restart = Plan::default();
    for component in restarts.into_iter().filter(|c| HostPath::new(c.manifest()).ok().is_some_and(|p| files.exists(&p).unwrap_or(false))) {
        restart.steps.push(restart_step(socket, component));
        restart.steps.push(Step::Wait { target: component.health(), timeout_secs: 240 });
    }
    if !restart.steps.is_empty() {
        out.plans.push(PhasePlan { phase: "certs-restart".into(), plan: restart });
    }
    Ok(out)
}

/// Restart a control-plane component's container (it reads renewed files only at start).
pub fn restart_step(socket: &str, component: Component) -> Step {
    Step::HostCommand {
        summary: format!("restart {} so that it reads its renewed certificates", component.name()),
        action: HostAction::RestartContainer { socket: socket.to_string(), namespace: "kube-system".into(), name: component.name().into() },
    }
}
