//! The file steps of a plan: directories and files below the host root, each change journaled.
//! An existing key or certificate (`CreateOnly`) that differs is refused, never replaced.

use crate::paths::HostPath;
use crate::plan::{FileSpec, WritePolicy};

use super::edges::{EdgeError, HostEdge};
use super::journal::{Entry, Journal};

/// Counts of what a run changed, for the summary line.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq, serde::Serialize)]
pub struct Changes {
    /// Files written that did not exist.
    pub created: usize,
    /// Files whose content was replaced.
    pub replaced: usize,
    /// Files whose mode was corrected.
    pub mode_fixed: usize,
    /// Files already as planned.
    pub unchanged: usize,
    /// Directories created.
    pub dirs_created: usize,
}

impl Changes {
    /// Whether anything on the host changed.
    pub fn any(&self) -> bool {
        self.created + self.replaced + self.mode_fixed + self.dirs_created > 0
    }
}

/// The file layer of one run.
pub struct Files<'a> {
    /// The host.
    pub host: &'a mut dyn HostEdge,
    /// The run's journal.
    pub journal: &'a mut Journal,
    /// The run's counts.
    pub changes: &'a mut Changes,
}

impl Files<'_> {
    /// Make sure `path` is a directory; a directory this creates gets `mode` (parents 0755).
    pub fn ensure_dir(&mut self, path: &HostPath, mode: u32) -> Result<(), EdgeError> {
        match self.host.kind(path)? {
            Some(true) => return Ok(()),
            Some(false) => {
                return Err(crate::host::HostError::Conflict { path: path.clone(), reason: "exists but is not a directory".into() }.into());
            }
            None => {}
        }
        let parent = path.parent();
        if parent != *path {
            self.ensure_dir(&parent, 0o755)?;
        }
        self.host.mkdir(path, mode)?;
        self.journal.push(Entry::DirCreated(path.clone()));
        self.changes.dirs_created += 1;
        Ok(())
    }

    /// Write a file as its policy says.
    pub fn write(&mut self, f: &FileSpec) -> Result<(), EdgeError> {
        self.ensure_dir(&f.path.parent(), 0o755)?;
        let existing = self.host.read(&f.path)?;
        match &existing {
            Some(old) if *old == f.contents => {
                let mode = self.host.mode(&f.path)?;
                if mode != f.mode {
                    self.host.set_mode(&f.path, f.mode)?;
                    self.journal.push(Entry::ModeChanged { path: f.path.clone(), mode });
                    self.changes.mode_fixed += 1;
                } else {
                    self.changes.unchanged += 1;
                }
                return Ok(());
            }
            Some(_) if f.policy == WritePolicy::CreateOnly => {
                return Err(crate::host::HostError::Conflict {
                    path: f.path.clone(),
                    reason: "already exists with different content; kubeup never overwrites it (move it away to have it regenerated)".into(),
                }
                .into())
            }
            _ => {}
        }
        match existing {
            Some(old) => {
                let mode = self.host.mode(&f.path)?;
                self.host.write(&f.path, &f.contents, f.mode)?;
                self.journal.push(Entry::FileReplaced { path: f.path.clone(), bytes: old, mode });
                self.changes.replaced += 1;
                crate::test_hooks::file_written();
            }
            None => {
                self.host.write(&f.path, &f.contents, f.mode)?;
                self.journal.push(Entry::FileCreated(f.path.clone()));
                self.changes.created += 1;
                crate::test_hooks::file_written();
            }
        }
        Ok(())
    }

    /// Remove a file, keeping its bytes in the journal; whether it existed.
    pub fn remove(&mut self, path: &HostPath) -> Result<bool, EdgeError> {
        let Some(bytes) = self.host.read(path)? else { return Ok(false) };
        let mode = self.host.mode(path)?;
        self.host.remove_file(path)?;
        self.journal.push(Entry::FileRemoved { path: path.clone(), bytes, mode });
        Ok(true)
    }
}
