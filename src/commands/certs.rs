//! `kubeup certs check-expiration` and `kubeup certs renew`: the node's certificates, their
//! lifetimes, and renewing them now (with the restarts that make the control plane use them).

use time::OffsetDateTime;

use super::token::NodeFiles;
use super::{execute, gather, CommandError, HostRequest};
use crate::apply::Environment;
use crate::certs::inventory::{self, Inventory};
use crate::certs::renew::{self, RenewInput, Selection};
use crate::certs::settings::{RenewalSettings, SETTINGS_PATH};
use crate::output::{say, Output};
use crate::paths;
use crate::phases::HostFiles;
use crate::plan;

/// The renewal settings `init` left on the node (`None`: no automatic renewal here).
pub fn settings(files: &dyn HostFiles) -> Result<Option<RenewalSettings>, CommandError> {
    match files.read(&paths::known(SETTINGS_PATH)).map_err(|e| CommandError::Refused(e.to_string()))? {
        None => Ok(None),
        Some(b) => RenewalSettings::parse(&b).map(Some).map_err(CommandError::Refused),
    }
}

/// The node's PKI, or why there is none.
pub fn inventory(files: &dyn HostFiles, cert_dir: &str, settings: Option<&RenewalSettings>) -> Result<Inventory, CommandError> {
    let inv = inventory::read(files, cert_dir, settings).map_err(|e| CommandError::Refused(e.to_string()))?;
    if inv.is_empty() {
        return Err(CommandError::Refused(format!(
            "no control-plane certificate is in {cert_dir} or /etc/kubernetes on this host: run this on a control-plane node (a worker's kubelet renews its own certificate)"
        )));
    }
    Ok(inv)
}

/// `certs check-expiration`.
pub fn check_expiration(node: &NodeFiles, output: Output) -> Result<(), CommandError> {
    let env = Environment::local(&node.host_root)?;
    let settings = settings(env.files())?;
    let inv = inventory(env.files(), &node.cert_dir, settings.as_ref())?;
    let now = OffsetDateTime::now_utc();
    match output {
        Output::Json => say(&format!("{:#}\n", crate::certs::table::json(&inv, now))),
        Output::Text => say(&crate::certs::table::text(&inv, now)),
    }
    Ok(())
}

/// What `certs renew` is asked.
#[derive(Debug, Clone)]
pub struct RenewRequest {
    /// How the host is reached.
    pub host: HostRequest,
    /// The certificate directory.
    pub cert_dir: String,
    /// `all`, or kubeadm's names.
    pub names: Vec<String>,
    /// Do not restart the components that read the renewed files.
    pub no_restart: bool,
    /// Print the plan; change nothing.
    pub dry_run: bool,
    /// Output format.
    pub output: Output,
}

/// The selection the names ask for.
pub fn selection(names: &[String]) -> Result<Selection, CommandError> {
    match names {
        [] => Err(CommandError::Usage(format!("name the certificates to renew: all, or some of {}", crate::certs::names().join(", ")))),
        [one] if one == "all" => Ok(Selection::All),
        _ if names.iter().any(|n| n == "all") => Err(CommandError::Usage("`all` renews every certificate; give it alone".into())),
        _ => Ok(Selection::Named(names.to_vec())),
    }
}

/// A backup directory name for now: `certs-20261129T043000Z`.
pub fn stamp(now: OffsetDateTime) -> String {
    format!("certs-{:04}{:02}{:02}T{:02}{:02}{:02}Z", now.year(), u8::from(now.month()), now.day(), now.hour(), now.minute(), now.second())
}

/// `certs renew`.
pub async fn renew(req: RenewRequest) -> Result<(), CommandError> {
    let selection = selection(&req.names)?;
    let env = gather(&req.host, true, "certs renew").await?;
    let settings = settings(env.files())?.unwrap_or_default();
    let inv = inventory(env.files(), &req.cert_dir, Some(&settings))?;
    let now = OffsetDateTime::now_utc();
    let input = RenewInput {
        cert_dir: &req.cert_dir,
        validity: settings.validity(),
        cri_socket: if req.no_restart { None } else { env.facts.cri_sockets.first().map(|s| env.host_source(s)) },
        now,
        stamp: stamp(now),
    };
    let renewal = renew::render(env.files(), &inv, &selection, &input).map_err(|e| match e {
        renew::RenewError::UnknownName(_) => CommandError::Usage(e.to_string()),
        e => CommandError::Refused(e.to_string()),
    })?;
    for (name, why) in &renewal.skipped {
        say(&format!("[certs] {name} skipped: {why}\n"));
    }
    if renewal.renewed.is_empty() {
        return Err(CommandError::Refused("nothing was renewed: every certificate asked for is managed externally".into()));
    }
    if req.output == Output::Json {
        let mut v = plan::to_json(&renewal.plans);
        v["dryRun"] = req.dry_run.into();
        say(&format!("{v:#}\n"));
    }
    if req.dry_run {
        if req.output == Output::Text {
            say(&plan::to_text(&renewal.plans, false));
            say("[dryrun] nothing was changed on the host\n");
        }
        return Ok(());
    }
    let outcome = execute(&env, &req.host, &req.cert_dir, "", &renewal.plans).await?;
    if req.output == Output::Text {
        for n in &outcome.notes {
            say(&format!("{n}\n"));
        }
        say(&format!(
            "[certs] renewed {} (valid for {}); the old files are in {}/{}\n",
            renewal.renewed.join(", "),
            crate::config::GoDuration(settings.validity()),
            renew::BACKUP_DIR,
            input.stamp
        ));
        if renewal.renewed.contains(&"admin.conf") {
            say("[certs] admin.conf was renewed: copy it again wherever you use it (e.g. ~/.kube/config)\n");
        }
        if req.no_restart && renewal.plans.iter().all(|p| p.phase != "certs-restart") {
            say("[certs] --no-restart: restart kube-apiserver, kube-controller-manager and kube-scheduler yourself so that they use the renewed files\n");
        }
    }
    Ok(())
}
