//! EDGE: executing the file steps of plans against the host root, as one transaction.
//!
//! Everything applied in a run is journaled: files and directories created, files replaced
//! (with their old bytes and mode). If any step fails, [`Applier::rollback`] undoes the run in
//! reverse order, so a failure never leaves half a node behind; existing keys and certs are
//! never touched because `CreateOnly` files that differ are refused, not replaced.

use std::path::PathBuf;

use crate::host::fs::{atomic_write, mkdir, mode_of, set_mode};
use crate::host::{HostError, HostRoot};
use crate::paths::HostPath;
use crate::plan::{FileSpec, Step, WritePolicy};

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

enum Undo {
    RemoveFile(PathBuf),
    RemoveDir(PathBuf),
    Restore { path: PathBuf, bytes: Vec<u8>, mode: u32 },
    Chmod { path: PathBuf, mode: u32 },
}

/// Applies file steps and can undo them.
pub struct Applier<'a> {
    root: &'a HostRoot,
    journal: Vec<Undo>,
    changes: Changes,
    /// Test hook: fail the write after this many successful writes (`KUBEUP_FAULT_AFTER_WRITES`).
    fail_after: Option<usize>,
    writes: usize,
    created_files: Vec<HostPath>,
    created_dirs: Vec<HostPath>,
}

impl<'a> Applier<'a> {
    /// A new transaction on `root`.
    pub fn new(root: &'a HostRoot) -> Self {
        let fail_after = crate::test_hook!("KUBEUP_FAULT_AFTER_WRITES").and_then(|v| v.parse().ok());
        Applier { root, journal: Vec::new(), changes: Changes::default(), fail_after, writes: 0, created_files: Vec::new(), created_dirs: Vec::new() }
    }

    /// What this transaction changed so far.
    pub fn changes(&self) -> Changes {
        self.changes
    }

    /// Apply one step. Steps that are not about files (checks, kept files) are no-ops here.
    pub fn apply(&mut self, step: &Step) -> Result<(), HostError> {
        match step {
            Step::EnsureDir { path, mode } => self.ensure_dir(path, *mode),
            Step::WriteFile(f) => self.write(f),
            // Everything else acts on the outside world and runs after the file transaction.
            _ => Ok(()),
        }
    }

    fn ensure_dir(&mut self, path: &HostPath, mode: u32) -> Result<(), HostError> {
        let real = self.root.resolve(path)?;
        match std::fs::metadata(&real) {
            Ok(m) if m.is_dir() => return Ok(()),
            Ok(_) => return Err(HostError::Conflict { path: path.clone(), reason: "exists but is not a directory".into() }),
            Err(_) => {}
        }
        let parent = path.parent();
        if parent != *path {
            self.ensure_dir(&parent, 0o755)?;
        }
        mkdir(&real, mode).map_err(|source| HostError::Io { op: "create directory", path: path.clone(), source })?;
        self.journal.push(Undo::RemoveDir(real));
        self.created_dirs.push(path.clone());
        self.changes.dirs_created += 1;
        Ok(())
    }

    fn write(&mut self, f: &FileSpec) -> Result<(), HostError> {
        self.ensure_dir(&f.path.parent(), 0o755)?;
        let real = self.root.resolve(&f.path)?;
        let io = |op: &'static str| move |source| HostError::Io { op, path: f.path.clone(), source };
        let existing = self.root.read(&f.path)?;
        match existing {
            Some(old) if old == f.contents => {
                let mode = mode_of(&real).map_err(io("stat"))?;
                if mode != f.mode {
                    set_mode(&real, f.mode).map_err(io("chmod"))?;
                    self.journal.push(Undo::Chmod { path: real, mode });
                    self.changes.mode_fixed += 1;
                } else {
                    self.changes.unchanged += 1;
                }
                return Ok(());
            }
            Some(_) if f.policy == WritePolicy::CreateOnly => {
                return Err(HostError::Conflict {
                    path: f.path.clone(),
                    reason: "already exists with different content; kubeup never overwrites it (move it away to have it regenerated)".into(),
                })
            }
            _ => {}
        }
        self.writes += 1;
        if self.fail_after.is_some_and(|n| self.writes > n) {
            return Err(io("write (injected fault)")(std::io::Error::other("KUBEUP_FAULT_AFTER_WRITES reached")));
        }
        match existing {
            Some(old) => {
                let mode = mode_of(&real).map_err(io("stat"))?;
                atomic_write(&real, &f.contents, f.mode).map_err(io("write"))?;
                self.journal.push(Undo::Restore { path: real, bytes: old, mode });
                self.changes.replaced += 1;
            }
            None => {
                atomic_write(&real, &f.contents, f.mode).map_err(io("write"))?;
                self.journal.push(Undo::RemoveFile(real));
                self.created_files.push(f.path.clone());
                self.changes.created += 1;
            }
        }
        Ok(())
    }

    /// Paths created so far (files, directories), for the install record.
    pub fn take_created(&mut self) -> (Vec<HostPath>, Vec<HostPath>) {
        (std::mem::take(&mut self.created_files), std::mem::take(&mut self.created_dirs))
    }

    /// Keep everything applied.
    pub fn commit(self) -> Changes {
        self.changes
    }

    /// Undo everything applied, newest first. Returns what could not be undone.
    pub fn rollback(self) -> Vec<String> {
        let mut failures = Vec::new();
        for undo in self.journal.into_iter().rev() {
            let r = match &undo {
                Undo::RemoveFile(p) => std::fs::remove_file(p).map_err(|e| format!("remove {}: {e}", p.display())),
                Undo::RemoveDir(p) => std::fs::remove_dir(p).map_err(|e| format!("remove directory {}: {e}", p.display())),
                Undo::Restore { path, bytes, mode } => atomic_write(path, bytes, *mode).map_err(|e| format!("restore {}: {e}", path.display())),
                Undo::Chmod { path, mode } => set_mode(path, *mode).map_err(|e| format!("chmod {}: {e}", path.display())),
            };
            if let Err(e) = r {
                failures.push(e);
            }
        }
        failures
    }
}
