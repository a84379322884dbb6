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
    /// The phase that was creating files when the record was last saved, until it completed:
    /// set only while a run is in that phase, so a value found at the start of a run means the
    /// previous run was killed there (and half-written pairs in its files are kubeup's own).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub interrupted_phase: Option<String>,
}

impl InstallRecord {
    /// Parse a record's bytes.
    pub fn parse(bytes: &[u8]) -> Result<InstallRecord, String> {
        serde_json::from_slice(bytes).map_err(|e| format!("install record {RECORD_PATH} is corrupt ({e}); move it away"))
    }

    /// Whether `path` is a file the run killed in `phase` had set out to create.
    pub fn interrupted_in(&self, phase: &str, path: &str) -> bool {
        self.interrupted_phase.as_deref() == Some(phase) && self.files.contains(path)
    }

    /// Add created paths.
    pub fn add_created(&mut self, files: &[HostPath], dirs: &[HostPath]) {
        self.files.extend(files.iter().map(ToString::to_string));
        self.dirs.extend(dirs.iter().map(ToString::to_string));
    }
}
