//! What this node's PKI holds: every renewable certificate (kubeadm's list), the CAs, their
//! lifetimes, which are externally managed (their CA's key is not on this node), and when
//! kubeup will renew each.

use time::OffsetDateTime;

use super::settings::RenewalSettings;
use super::{Renewable, Source, RENEWABLE};
use crate::host_files::HostFiles;
use crate::paths::{self, HostPath};
use crate::pki::{self, certlist};

/// Why the inventory could not be read.
#[derive(Debug, thiserror::Error)]
pub enum InventoryError {
    /// A file could not be read.
    #[error(transparent)]
    Read(#[from] crate::host_files::ReadError),
    /// A file is not what it should be.
    #[error(
        "{path} cannot be parsed ({reason}): restore it from a backup, or move it away and run `kubeup init phase certs` (or `kubeconfig`) to issue it anew"
    )]
    Unparseable {
        /// The file.
        path: String,
        /// Why.
        reason: String,
    },
}

/// One renewable certificate found on the node.
#[derive(Debug, Clone)]
pub struct CertStatus {
    /// What it is.
    pub spec: &'static Renewable,
    /// The file holding it.
    pub path: HostPath,
    /// Its PEM.
    pub cert_pem: String,
    /// Validity start.
    pub not_before: OffsetDateTime,
    /// Validity end.
    pub not_after: OffsetDateTime,
    /// Its CA's key is not on this node: kubeup (and kubeadm) cannot renew it.
    pub external: bool,
    /// When the renewer will renew it (`None`: external, or automatic renewal is off).
    pub renew_at: Option<OffsetDateTime>,
}

/// A CA of the node.
#[derive(Debug, Clone)]
pub struct CaStatus {
    /// kubeadm's name (`ca`, `etcd-ca`, `front-proxy-ca`).
    pub name: &'static str,
    /// Validity end.
    pub not_after: OffsetDateTime,
    /// Its key is not on this node.
    pub external: bool,
}

/// The node's PKI.
#[derive(Debug, Clone, Default)]
pub struct Inventory {
    /// Renewable certificates present, in kubeadm's order.
    pub certs: Vec<CertStatus>,
    /// kubeadm's names of those absent (a worker has none of them).
    pub missing: Vec<&'static str>,
    /// The CAs present.
    pub cas: Vec<CaStatus>,
}

impl Inventory {
    /// Whether the node holds a control plane's PKI at all.
    pub fn is_empty(&self) -> bool {
        self.certs.is_empty() && self.cas.is_empty()
    }

    /// A CA by name.
    pub fn ca(&self, name: &str) -> Option<&CaStatus> {
        self.cas.iter().find(|c| c.name == name)
    }
}

/// A certificate file's path under the cert dir.
pub fn cert_path(cert_dir: &str, base: &str, ext: &str) -> Result<HostPath, InventoryError> {
    HostPath::new(format!("{cert_dir}/{base}.{ext}"))
        .map_err(|e| InventoryError::Unparseable { path: format!("{cert_dir}/{base}.{ext}"), reason: e.to_string() })
}

/// The file a renewable certificate lives in.
pub fn source_path(cert_dir: &str, spec: &Renewable) -> Result<HostPath, InventoryError> {
    match spec.source {
        Source::Pair(base) => cert_path(cert_dir, base, "crt"),
        Source::Kubeconfig(file) => Ok(paths::kubeconfig(file)),
    }
}

fn text(files: &dyn HostFiles, p: &HostPath) -> Result<Option<String>, InventoryError> {
    match files.read(p)? {
        None => Ok(None),
        Some(b) => String::from_utf8(b).map(Some).map_err(|_| InventoryError::Unparseable { path: p.to_string(), reason: "not UTF-8 text".into() }),
    }
}

/// The client certificate a kubeconfig embeds.
pub fn kubeconfig_cert(path: &HostPath, text: &str) -> Result<String, InventoryError> {
    let existing = crate::kubeconfig::read_existing(text).map_err(|reason| InventoryError::Unparseable { path: path.to_string(), reason })?;
    existing.client_cert_pem.ok_or_else(|| InventoryError::Unparseable { path: path.to_string(), reason: "it embeds no client certificate".into() })
}

/// Read the node's PKI. `settings`: how the renewer renews (`None`: no automatic renewal here).
pub fn read(files: &dyn HostFiles, cert_dir: &str, settings: Option<&RenewalSettings>) -> Result<Inventory, InventoryError> {
    let mut inv = Inventory::default();
    for ca in &certlist::CAS {
        let crt = cert_path(cert_dir, ca.file, "crt")?;
        let Some(pem) = text(files, &crt)? else { continue };
        let parsed = pki::parse_pem_cert(&pem).map_err(|reason| InventoryError::Unparseable { path: crt.to_string(), reason })?;
        let external = !files.exists(&cert_path(cert_dir, ca.file, "key")?)?;
        inv.cas.push(CaStatus { name: ca.phase, not_after: parsed.not_after, external });
    }
    for spec in &RENEWABLE {
        let path = source_path(cert_dir, spec)?;
        let Some(body) = text(files, &path)? else {
            // super-admin.conf exists only on the first control-plane node of ≥1.29.
            if spec.name != "super-admin.conf" {
                inv.missing.push(spec.name);
            }
            continue;
        };
        let cert_pem = match spec.source {
            Source::Pair(_) => body,
            Source::Kubeconfig(_) => kubeconfig_cert(&path, &body)?,
        };
        let parsed = pki::parse_pem_cert(&cert_pem).map_err(|reason| InventoryError::Unparseable { path: path.to_string(), reason })?;
        let external = inv.ca(spec.ca).is_none_or(|c| c.external);
        let renew_at = settings.filter(|s| s.automatic && !external).map(|s| s.renew_at(parsed.not_before, parsed.not_after));
        inv.certs.push(CertStatus { spec, path, cert_pem, not_before: parsed.not_before, not_after: parsed.not_after, external, renew_at });
    }
    Ok(inv)
}
