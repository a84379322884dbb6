//! EDGE: one kubeup at a time per host: an exclusive `flock` on `/var/lib/kubeup/lock` in the
//! host root, held for the whole apply. The kernel drops it when the process dies, so a killed
//! run never leaves a stale lock.

use std::fs::OpenOptions;

use nix::fcntl::{Flock, FlockArg};

use super::{HostError, HostRoot};
use crate::paths::known;
use crate::record::STATE_DIR;

/// A held lock; released on drop. If acquiring it created the state directory and the run is
/// abandoned, [`HostLock::discard`] removes both again.
pub struct HostLock {
    _lock: Flock<std::fs::File>,
    created: Vec<std::path::PathBuf>,
}

impl HostLock {
    /// Take the lock or fail naming who holds it.
    pub fn acquire(root: &HostRoot) -> Result<HostLock, HostError> {
        let dir = root.resolve(&known(STATE_DIR))?;
        let path = dir.join("lock");
        // Remember every directory this creates (deepest first), so a discarded run removes them.
        let mut created = Vec::new();
        let mut missing = Vec::new();
        let mut d = dir.as_path();
        while !d.exists() && d.starts_with(root.dir()) {
            missing.push(d.to_path_buf());
            d = match d.parent() {
                Some(p) => p,
                None => break,
            };
        }
        std::fs::create_dir_all(&dir).map_err(|source| HostError::Io { op: "create directory", path: known(STATE_DIR), source })?;
        if !path.exists() {
            created.push(path.clone());
        }
        created.extend(missing);
        let file = OpenOptions::new().create(true).truncate(false).write(true).read(true).open(&path).map_err(|source| HostError::Io {
            op: "open",
            path: known("/var/lib/kubeup/lock"),
            source,
        })?;
        let lock = Flock::lock(file, FlockArg::LockExclusiveNonblock).map_err(|(_, errno)| HostError::Conflict {
            path: known("/var/lib/kubeup/lock"),
            reason: format!("another kubeup is running on this host ({errno}): wait for it to finish, then run this command again"),
        })?;
        Ok(HostLock { _lock: lock, created })
    }

    /// Directories acquiring the lock created, as host paths (for the install record).
    pub fn created_dirs(&self, root: &HostRoot) -> Vec<crate::paths::HostPath> {
        self.created
            .iter()
            .filter(|p| p.is_dir())
            .filter_map(|p| p.strip_prefix(root.dir()).ok())
            .filter_map(|rel| crate::paths::HostPath::new(format!("/{}", rel.display())).ok())
            .collect()
    }

    /// Release and remove what acquiring created (after a rolled-back run).
    pub fn discard(self) {
        let created = self.created.clone();
        drop(self);
        for p in created {
            let _ = std::fs::remove_file(&p).or_else(|_| std::fs::remove_dir(&p));
        }
    }
}
