//! `kubeup kubeconfig user`: a kubeconfig for a user, signed by the cluster CA of this node.

use std::path::Path;
use std::time::Duration;

use time::OffsetDateTime;

use super::token::{read_text, NodeFiles};
use super::CommandError;
use crate::apply::Environment;
use crate::output::say;
use crate::paths::{self, HostPath};

/// What `kubeconfig user` is asked.
#[derive(Debug, Clone)]
pub struct UserRequest {
    /// User name (certificate CN).
    pub name: String,
    /// Groups (certificate O), at most two.
    pub orgs: Vec<String>,
    /// Certificate lifetime.
    pub validity: Duration,
    /// Write it here (mode 0600) instead of printing it.
    pub output_file: Option<std::path::PathBuf>,
}

/// Run `kubeconfig user`.
pub fn user(node: &NodeFiles, req: &UserRequest) -> Result<(), CommandError> {
    let env = Environment::local(&node.host_root)?;
    let file = |name: &str| HostPath::new(format!("{}/{name}", node.cert_dir)).map_err(|e| CommandError::Usage(format!("--cert-dir: {e}")));
    let ca_cert = read_text(&env, &file("ca.crt")?)?;
    let ca_key = read_text(&env, &file("ca.key")?).map_err(|e| CommandError::Refused(format!("{e} (external CA mode cannot sign user certificates here)")))?;
    let admin_text = read_text(&env, &paths::kubeconfig("admin.conf"))?;
    let admin = crate::kubeconfig::read_existing(&admin_text).map_err(|e| CommandError::Refused(format!("admin.conf: {e}")))?;
    let ca = crate::pki::CertPair { cert_pem: ca_cert.clone(), key_pem: ca_key };
    let id = crate::pki::Identity { cn: req.name.clone(), orgs: req.orgs.clone(), usages: vec![crate::pki::Usage::ClientAuth], sans: vec![] };
    let pair = crate::pki::issue_leaf(&id, &ca, req.validity, OffsetDateTime::now_utc()).map_err(|e| CommandError::Refused(e.to_string()))?;
    let cluster =
        kube::config::Kubeconfig::from_yaml(&admin_text).ok().and_then(|k| k.clusters.first().map(|c| c.name.clone())).unwrap_or_else(|| "kubernetes".into());
    let kc = crate::kubeconfig::with_client_cert(&cluster, &admin.server, &ca_cert, &req.name, &pair.cert_pem, &pair.key_pem);
    let yaml = crate::kubeconfig::to_yaml(&kc).map_err(CommandError::Refused)?;
    match &req.output_file {
        Some(path) => {
            write_private(path, yaml.as_bytes()).map_err(|e| CommandError::Refused(format!("cannot write {}: {e}", path.display())))?;
            say(&format!("wrote {} (kubeconfig for {})\n", path.display(), req.name));
        }
        None => say(&yaml),
    }
    Ok(())
}

/// Write a file the user named, mode 0600 from its first byte (it holds a private key).
fn write_private(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    use std::io::Write as _;
    use std::os::unix::fs::OpenOptionsExt as _;
    let tmp = path.with_extension("kubeup-tmp");
    let mut f = std::fs::OpenOptions::new().write(true).create_new(true).mode(0o600).open(&tmp)?;
    f.write_all(bytes)?;
    f.sync_all()?;
    std::fs::rename(&tmp, path)
}
