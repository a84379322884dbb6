//! The install record: what kubeup created on this host (files, directories, containers, host
//! fixes), kept at `/var/lib/kubeup/install-record.json` and updated after every phase, so
//! `kubeup reset` removes exactly that and nothing a user or another tool put there.

use std::collections::BTreeSet;

use serde::{Deserialize, Serialize};

use crate::host::fs::atomic_write;
use crate::host::{HostError, HostRoot};
use crate::paths::HostPath;

/// Where the record lives.
pub const RECORD_PATH: &str = "/var/lib/kubeup/install-record.json";
/// kubeup's state directory.
pub const STATE_DIR: &str = "/var/lib/kubeup";

/// What kubeup created.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct InstallRecord {
    /// Files created by kubeup (host paths).
    pub files: BTreeSet<String>,
    /// Directories created by kubeup (host paths).
    pub dirs: BTreeSet<String>,
    /// Containers created by kubeup (names).
    pub containers: BTreeSet<String>,
    /// Host fixes applied (human-readable, e.g. `bind-mounted /var/lib/kubelet rshared`).
    pub host_fixes: BTreeSet<String>,
    /// API objects created once (`Kind namespace/name`), never to be re-created by a re-run.
    #[serde(default)]
    pub objects_created_once: BTreeSet<String>,
}

impl InstallRecord {
    /// Read the record (empty if absent).
    pub fn load(root: &HostRoot) -> Result<InstallRecord, HostError> {
        let path = crate::paths::known(RECORD_PATH);
        match root.read(&path)? {
            None => Ok(InstallRecord::default()),
            Some(b) => serde_json::from_slice(&b).map_err(|e| HostError::Conflict { path, reason: format!("install record is corrupt ({e}); move it away") }),
        }
    }

    /// Write it atomically (creating the state directory).
    pub fn save(&self, root: &HostRoot) -> Result<(), HostError> {
        let dir = crate::paths::known(STATE_DIR);
        let real_dir = root.resolve(&dir)?;
        std::fs::create_dir_all(&real_dir).map_err(|source| HostError::Io { op: "create directory", path: dir.clone(), source })?;
        let path = crate::paths::known(RECORD_PATH);
        let bytes = serde_json::to_vec_pretty(self).unwrap_or_default();
        atomic_write(&root.resolve(&path)?, &bytes, 0o600).map_err(|source| HostError::Io { op: "write", path, source })
    }

    /// Add created paths.
    pub fn add_created(&mut self, files: &[HostPath], dirs: &[HostPath]) {
        self.files.extend(files.iter().map(ToString::to_string));
        self.dirs.extend(dirs.iter().map(ToString::to_string));
    }
}
