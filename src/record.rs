//! The install record (pure data; the executor keeps it): what kubeup created on this host (files, directories, containers, host
//! fixes), kept at `/var/lib/kubeup/install-record.json` and updated after every phase, so
//! `kubeup reset` removes exactly that and nothing a user or another tool put there.

use std::collections::BTreeSet;

use serde::{Deserialize, Serialize};

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
    /// Parse a record's bytes.
    pub fn parse(bytes: &[u8]) -> Result<InstallRecord, String> {
        serde_json::from_slice(bytes).map_err(|e| format!("install record {RECORD_PATH} is corrupt ({e}); move it away"))
    }

    /// Add created paths.
    pub fn add_created(&mut self, files: &[HostPath], dirs: &[HostPath]) {
        self.files.extend(files.iter().map(ToString::to_string));
        self.dirs.extend(dirs.iter().map(ToString::to_string));
    }
}
