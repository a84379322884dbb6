//! The host root and confined path resolution.
//!
//! A path is resolved component by component the way `chroot` would: `..` stops at the root and
//! a symlink's target is read *inside* the root (an absolute target restarts at the root), so no
//! symlink on the host (or planted by someone else) can make kubeup read or write outside it.
//! This is the `RESOLVE_IN_ROOT` / securejoin algorithm.

use std::io;
use std::path::{Path, PathBuf};

use crate::paths::HostPath;

/// Errors touching the host root.
#[derive(Debug, thiserror::Error)]
pub enum HostError {
    /// The host root itself is unusable.
    #[error("host root {root} is not a directory ({reason}): pass the bind-mounted host root with --host-root, e.g. -v /:/host")]
    BadRoot {
        /// The configured root.
        root: String,
        /// Why.
        reason: String,
    },
    /// Too many symlinks (a loop).
    #[error("{path}: too many levels of symbolic links inside the host root")]
    SymlinkLoop {
        /// Host path being resolved.
        path: HostPath,
    },
    /// An I/O operation failed.
    #[error("{op} {path}: {source}")]
    Io {
        /// What was attempted.
        op: &'static str,
        /// Host path.
        path: HostPath,
        /// OS error.
        #[source]
        source: io::Error,
    },
    /// A file is in the way of a directory, or the like.
    #[error("{path}: {reason}")]
    Conflict {
        /// Host path.
        path: HostPath,
        /// What is wrong.
        reason: String,
    },
}

/// The directory where the host's `/` is visible.
#[derive(Debug, Clone)]
pub struct HostRoot {
    root: PathBuf,
}

const MAX_SYMLINKS: usize = 40;

impl HostRoot {
    /// Open a host root; it must be an existing directory.
    pub fn open(root: &Path) -> Result<Self, HostError> {
        let bad = |reason: String| HostError::BadRoot { root: root.display().to_string(), reason };
        let meta = std::fs::metadata(root).map_err(|e| bad(e.to_string()))?;
        if !meta.is_dir() {
            return Err(bad("it is a file".into()));
        }
        let root = std::fs::canonicalize(root).map_err(|e| bad(e.to_string()))?;
        Ok(HostRoot { root })
    }

    /// The root directory (as this process sees it).
    pub fn dir(&self) -> &Path {
        &self.root
    }

    /// Resolve a host path to a path below the root, following symlinks inside the root.
    /// Components that do not exist yet are appended as they are.
    pub fn resolve(&self, path: &HostPath) -> Result<PathBuf, HostError> {
        let mut pending: Vec<String> = path.components().rev().map(str::to_string).collect();
        let mut resolved: Vec<String> = Vec::new();
        let mut links = 0;
        while let Some(comp) = pending.pop() {
            match comp.as_str() {
                "" | "." => continue,
                ".." => {
                    resolved.pop();
                    continue;
                }
                _ => {}
            }
            let candidate = self.join(&resolved).join(&comp);
            match std::fs::symlink_metadata(&candidate) {
                Ok(m) if m.file_type().is_symlink() => {
                    links += 1;
                    if links > MAX_SYMLINKS {
                        return Err(HostError::SymlinkLoop { path: path.clone() });
                    }
                    let target = std::fs::read_link(&candidate).map_err(|source| HostError::Io { op: "read link", path: path.clone(), source })?;
                    let target = target.to_string_lossy().to_string();
                    if target.starts_with('/') {
                        resolved.clear();
                    }
                    pending.extend(target.split('/').rev().map(str::to_string));
                }
                _ => resolved.push(comp),
            }
        }
        Ok(self.join(&resolved))
    }

    fn join(&self, comps: &[String]) -> PathBuf {
        let mut p = self.root.clone();
        for c in comps {
            p.push(c);
        }
        p
    }

    /// Read a file if it exists.
    pub fn read(&self, path: &HostPath) -> Result<Option<Vec<u8>>, HostError> {
        let real = self.resolve(path)?;
        match std::fs::read(&real) {
            Ok(b) => Ok(Some(b)),
            Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(None),
            Err(source) => Err(HostError::Io { op: "read", path: path.clone(), source }),
        }
    }

    /// Whether something exists at the path.
    pub fn exists(&self, path: &HostPath) -> Result<bool, HostError> {
        Ok(std::fs::symlink_metadata(self.resolve(path)?).is_ok())
    }

    /// Whether a directory exists and has entries.
    pub fn dir_has_entries(&self, path: &HostPath) -> Result<bool, HostError> {
        match std::fs::read_dir(self.resolve(path)?) {
            Ok(mut it) => Ok(it.next().is_some()),
            Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(false),
            Err(source) => Err(HostError::Io { op: "list", path: path.clone(), source }),
        }
    }
}

/// The phases read the host through the root.
impl crate::phases::HostFiles for HostRoot {
    fn read(&self, p: &HostPath) -> Result<Option<Vec<u8>>, crate::phases::ReadError> {
        HostRoot::read(self, p).map_err(|e| crate::phases::ReadError { path: p.clone(), reason: e.to_string() })
    }
    fn exists(&self, p: &HostPath) -> Result<bool, crate::phases::ReadError> {
        HostRoot::exists(self, p).map_err(|e| crate::phases::ReadError { path: p.clone(), reason: e.to_string() })
    }
    fn dir_has_entries(&self, p: &HostPath) -> Result<bool, crate::phases::ReadError> {
        HostRoot::dir_has_entries(self, p).map_err(|e| crate::phases::ReadError { path: p.clone(), reason: e.to_string() })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::paths::known;
    use std::os::unix::fs::symlink;

    #[test]
    fn symlinks_stay_inside_the_root() {
        let outside = tempfile::tempdir().unwrap();
        std::fs::write(outside.path().join("secret"), b"outside").unwrap();
        let root = tempfile::tempdir().unwrap();
        std::fs::create_dir_all(root.path().join("etc")).unwrap();
        // Absolute link: must resolve inside the root, not to the real outside dir.
        symlink(outside.path(), root.path().join("etc/abs")).unwrap();
        // Relative link climbing out: clamped at the root.
        symlink("../../../../../../..", root.path().join("etc/up")).unwrap();
        let h = HostRoot::open(root.path()).unwrap();
        let r = h.resolve(&HostPath::new("/etc/abs/secret").unwrap()).unwrap();
        assert!(r.starts_with(h.dir()), "{r:?}");
        assert_eq!(h.read(&HostPath::new("/etc/abs/secret").unwrap()).unwrap(), None);
        let r = h.resolve(&HostPath::new("/etc/up/x").unwrap()).unwrap();
        assert_eq!(r, h.dir().join("x"));
        // A legitimate in-root link (/var/run -> /run) is followed.
        std::fs::create_dir_all(root.path().join("run")).unwrap();
        std::fs::create_dir_all(root.path().join("var")).unwrap();
        symlink("/run", root.path().join("var/run")).unwrap();
        assert_eq!(h.resolve(&HostPath::new("/var/run/x.sock").unwrap()).unwrap(), h.dir().join("run/x.sock"));
        // Loops end with an error.
        symlink("loop", root.path().join("loop")).unwrap();
        assert!(matches!(h.resolve(&known("/loop")), Err(HostError::SymlinkLoop { .. })));
    }

    #[test]
    fn root_must_be_a_directory() {
        let f = tempfile::NamedTempFile::new().unwrap();
        let err = HostRoot::open(f.path()).unwrap_err();
        assert!(err.to_string().contains("is not a directory"), "{err}");
        assert!(HostRoot::open(Path::new("/nonexistent/kubeup-root")).is_err());
    }
}
