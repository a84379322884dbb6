//! EDGE: removing files below the host root without ever following a symlink.
//!
//! Why: `reset` deletes inside directories that running pods could write to (pod volumes under
//! `/var/lib/kubelet`). Deleting by path — even a path resolved "inside the root" — follows
//! whatever a pod swapped in a moment before: a directory replaced by a symlink to `/etc` turns
//! "remove `…/volume/dir/shadow`" into "remove the host's `/etc/shadow`". So every operation here
//! is relative to a directory file descriptor that was opened with `O_NOFOLLOW`, component by
//! component from the root: a symlink is only ever unlinked as itself, and a directory that was
//! swapped after it was opened is still the directory that was opened.
//!
//! A walk never crosses into another file system (a mount that could not be unmounted).

use std::ffi::{CStr, OsStr};
use std::os::fd::{AsFd, OwnedFd};
use std::os::unix::ffi::OsStrExt;
use std::path::Path;

use nix::errno::Errno;
use nix::fcntl::{openat, OFlag};
use nix::sys::stat::{fstat, fstatat, Mode, SFlag};
use nix::unistd::{unlinkat, UnlinkatFlags};

use crate::paths::HostPath;

/// Why a removal was not done.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RemoveError {
    /// A component of the path is a symlink (or not a directory): kubeup does not follow it.
    #[error("{path}: {component} is a symbolic link or not a directory; reset does not follow links it did not make, so it was left alone")]
    Link {
        /// The path asked for.
        path: String,
        /// The offending component.
        component: String,
    },
    /// An OS error.
    #[error("{op} {path}: {errno}")]
    Os {
        /// What was attempted.
        op: &'static str,
        /// The path.
        path: String,
        /// The error.
        errno: Errno,
    },
}

/// What a removal found.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    /// Removed.
    Removed,
    /// Nothing was there.
    Absent,
    /// A directory that still holds entries (kept).
    NotEmpty,
}

/// What a tree walk did.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct TreeReport {
    /// Entries removed (files, links, directories).
    pub removed: usize,
    /// Directories kept because they are mount points of another file system.
    pub mount_points: Vec<String>,
    /// Entries that could not be removed, with the reason.
    pub failed: Vec<String>,
}

/// The host root as a directory handle.
pub struct Remover {
    root: OwnedFd,
}

const DIR_FLAGS: OFlag = OFlag::O_RDONLY.union(OFlag::O_DIRECTORY).union(OFlag::O_NOFOLLOW).union(OFlag::O_CLOEXEC);

impl Remover {
    /// Open the host root (the one path that is opened by name).
    pub fn open(root: &Path) -> Result<Remover, RemoveError> {
        let fd = nix::fcntl::open(root, OFlag::O_RDONLY | OFlag::O_DIRECTORY | OFlag::O_CLOEXEC, Mode::empty()).map_err(|errno| RemoveError::Os {
            op: "open",
            path: root.display().to_string(),
            errno,
        })?;
        Ok(Remover { root: fd })
    }

    /// Open a directory of the host, each component with `O_NOFOLLOW`. `Ok(None)`: absent.
    ///
    /// One kind of link is followed: a link directly in the host root, made by root, in a root
    /// only root may write — the merged-/usr links (`/lib -> usr/lib`, `/bin`, `/sbin`) of every
    /// current distribution. Only root can have made those, and no pod volume lies above them.
    /// Their target is resolved inside the host root, never outside it.
    pub fn open_dir(&self, path: &HostPath) -> Result<Option<OwnedFd>, RemoveError> {
        let dup = |fd: &OwnedFd| fd.try_clone().map_err(|e| RemoveError::Os { op: "dup", path: "/".into(), errno: errno_of(&e) });
        let mut todo: Vec<String> = path.components().rev().map(str::to_owned).collect();
        let mut cur = dup(&self.root)?;
        let (mut at_root, mut hops) = (true, 0);
        while let Some(comp) = todo.pop() {
            match openat(cur.as_fd(), OsStr::new(&comp), DIR_FLAGS, Mode::empty()) {
                Ok(fd) => (cur, at_root) = (fd, false),
                Err(Errno::ENOENT) => return Ok(None),
                Err(Errno::ELOOP | Errno::ENOTDIR) if at_root && hops < MAX_ROOT_LINKS => match self.root_link(&comp) {
                    Some(target) => {
                        hops += 1;
                        todo.extend(target.into_iter().rev());
                        cur = dup(&self.root)?;
                    }
                    None => return Err(RemoveError::Link { path: path.to_string(), component: comp }),
                },
                Err(Errno::ELOOP | Errno::ENOTDIR) => return Err(RemoveError::Link { path: path.to_string(), component: comp }),
                Err(errno) => return Err(RemoveError::Os { op: "open", path: path.to_string(), errno }),
            }
        }
        Ok(Some(cur))
    }

    /// The target of `/<name>`, as components from the host root, if it is a link kubeup trusts:
    /// owned by root, in a host root owned by root and writable by no one else.
    fn root_link(&self, name: &str) -> Option<Vec<String>> {
        let root = fstat(self.root.as_fd()).ok()?;
        let link = fstatat(self.root.as_fd(), OsStr::new(name), nix::fcntl::AtFlags::AT_SYMLINK_NOFOLLOW).ok()?;
        let is_link = SFlag::from_bits_truncate(link.st_mode) & SFlag::S_IFMT == SFlag::S_IFLNK;
        if !is_link || link.st_uid != 0 || root.st_uid != 0 || root.st_mode & 0o022 != 0 {
            return None;
        }
        let target = nix::fcntl::readlinkat(self.root.as_fd(), OsStr::new(name)).ok()?;
        // Relative targets start at the root too (the link is in it); `..` stops at the root.
        let mut out: Vec<String> = Vec::new();
        for part in Path::new(&target).components() {
            match part {
                std::path::Component::Normal(p) => out.push(p.to_str()?.to_owned()),
                std::path::Component::ParentDir => {
                    out.pop();
                }
                _ => {}
            }
        }
        Some(out)
    }

    /// Remove a file or symlink (never what a symlink points to). A directory is not removed.
    pub fn remove_file(&self, path: &HostPath) -> Result<Outcome, RemoveError> {
        let Some(name) = path.components().next_back() else { return Ok(Outcome::Absent) };
        let Some(dir) = self.open_dir(&path.parent())? else { return Ok(Outcome::Absent) };
        match unlinkat(dir.as_fd(), OsStr::new(name), UnlinkatFlags::NoRemoveDir) {
            Ok(()) => Ok(Outcome::Removed),
            Err(Errno::ENOENT) => Ok(Outcome::Absent),
            Err(errno) => Err(RemoveError::Os { op: "remove", path: path.to_string(), errno }),
        }
    }

    /// Remove a directory if it is empty.
    pub fn remove_dir_if_empty(&self, path: &HostPath) -> Result<Outcome, RemoveError> {
        let Some(name) = path.components().next_back() else { return Ok(Outcome::NotEmpty) };
        let Some(dir) = self.open_dir(&path.parent())? else { return Ok(Outcome::Absent) };
        match unlinkat(dir.as_fd(), OsStr::new(name), UnlinkatFlags::RemoveDir) {
            Ok(()) => Ok(Outcome::Removed),
            Err(Errno::ENOENT) => Ok(Outcome::Absent),
            Err(Errno::ENOTEMPTY | Errno::EEXIST | Errno::EBUSY) => Ok(Outcome::NotEmpty),
            // A symlink or file where a directory was recorded: not reset's to remove.
            Err(Errno::ENOTDIR) => Err(RemoveError::Link { path: path.to_string(), component: name.to_string() }),
            Err(errno) => Err(RemoveError::Os { op: "remove directory", path: path.to_string(), errno }),
        }
    }

    /// Remove everything below `dir` (the directory itself stays), without following links and
    /// without crossing into another file system. Absent: an empty report.
    pub fn clear_dir(&self, dir: &HostPath) -> Result<TreeReport, RemoveError> {
        let mut report = TreeReport::default();
        let Some(fd) = self.open_dir(dir)? else { return Ok(report) };
        let dev = fstat(fd.as_fd()).map_err(|errno| RemoveError::Os { op: "stat", path: dir.to_string(), errno })?.st_dev;
        clear(&fd, dir.as_str(), dev, &mut report, 0);
        Ok(report)
    }
}

fn errno_of(e: &std::io::Error) -> Errno {
    Errno::from_raw(e.raw_os_error().unwrap_or(0))
}

/// Links in the host root followed for one path, at most (`/lib -> usr/lib` is one).
const MAX_ROOT_LINKS: usize = 4;

/// Deeper than this is not a kubelet directory; stop rather than recurse without end.
const MAX_DEPTH: usize = 64;

fn names(fd: &OwnedFd) -> Result<Vec<Vec<u8>>, Errno> {
    let dup = fd.try_clone().map_err(|e| errno_of(&e))?;
    let mut dir = nix::dir::Dir::from_fd(dup)?;
    let mut out = Vec::new();
    for entry in dir.iter() {
        let entry = entry?;
        let name: &CStr = entry.file_name();
        let bytes = name.to_bytes();
        if bytes != b"." && bytes != b".." {
            out.push(bytes.to_vec());
        }
    }
    Ok(out)
}

fn clear(fd: &OwnedFd, path: &str, dev: u64, report: &mut TreeReport, depth: usize) {
    if depth > MAX_DEPTH {
        report.failed.push(format!("{path}: deeper than {MAX_DEPTH} levels; left alone"));
        return;
    }
    let entries = match names(fd) {
        Ok(n) => n,
        Err(errno) => return report.failed.push(format!("list {path}: {errno}")),
    };
    for raw in entries {
        let name = OsStr::from_bytes(&raw);
        let child = format!("{}/{}", path.trim_end_matches('/'), name.to_string_lossy());
        let is_dir = matches!(fstatat(fd.as_fd(), name, nix::fcntl::AtFlags::AT_SYMLINK_NOFOLLOW), Ok(st) if SFlag::from_bits_truncate(st.st_mode) & SFlag::S_IFMT == SFlag::S_IFDIR);
        if is_dir {
            match openat(fd.as_fd(), name, DIR_FLAGS, Mode::empty()) {
                Ok(sub) => {
                    if fstat(sub.as_fd()).map(|s| s.st_dev).unwrap_or(dev) != dev {
                        report.mount_points.push(child);
                        continue;
                    }
                    clear(&sub, &child, dev, report, depth + 1);
                    match unlinkat(fd.as_fd(), name, UnlinkatFlags::RemoveDir) {
                        Ok(()) => report.removed += 1,
                        Err(Errno::ENOENT) => {}
                        Err(errno) => report.failed.push(format!("remove directory {child}: {errno}")),
                    }
                    continue;
                }
                // Swapped for a link or a file since the stat: removed as what it is now, below.
                Err(Errno::ELOOP | Errno::ENOTDIR) => {}
                Err(Errno::ENOENT) => continue,
                Err(errno) => {
                    report.failed.push(format!("open {child}: {errno}"));
                    continue;
                }
            }
        }
        match unlinkat(fd.as_fd(), name, UnlinkatFlags::NoRemoveDir) {
            Ok(()) => report.removed += 1,
            Err(Errno::ENOENT) => {}
            // Became a directory since the stat: its contents are not walked in this pass.
            Err(Errno::EISDIR | Errno::EPERM) if is_dir_now(fd, name) => report.failed.push(format!("{child}: changed while reset ran; run reset again")),
            Err(errno) => report.failed.push(format!("remove {child}: {errno}")),
        }
    }
}

fn is_dir_now(fd: &OwnedFd, name: &OsStr) -> bool {
    matches!(fstatat(fd.as_fd(), name, nix::fcntl::AtFlags::AT_SYMLINK_NOFOLLOW), Ok(st) if SFlag::from_bits_truncate(st.st_mode) & SFlag::S_IFMT == SFlag::S_IFDIR)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::paths::known;
    use std::os::unix::fs::symlink;

    #[test]
    fn links_are_removed_as_themselves_and_never_followed() {
        let outside = tempfile::tempdir().unwrap();
        std::fs::write(outside.path().join("shadow"), b"secret").unwrap();
        let root = tempfile::tempdir().unwrap();
        let pods = root.path().join("var/lib/kubelet/pods/p/volumes");
        std::fs::create_dir_all(pods.join("real")).unwrap();
        std::fs::write(pods.join("real/f"), b"x").unwrap();
        symlink(outside.path(), pods.join("evil")).unwrap();
        symlink(outside.path().join("shadow"), pods.join("shadow-link")).unwrap();
        let r = Remover::open(root.path()).unwrap();
        // A path through a link is refused, not followed.
        let through = HostPath::new("/var/lib/kubelet/pods/p/volumes/evil/shadow").unwrap();
        assert!(matches!(r.remove_file(&through), Err(RemoveError::Link { .. })));
        let report = r.clear_dir(&known("/var/lib/kubelet")).unwrap();
        assert!(report.failed.is_empty(), "{report:?}");
        assert_eq!(std::fs::read(outside.path().join("shadow")).unwrap(), b"secret");
        assert!(std::fs::read_dir(root.path().join("var/lib/kubelet")).unwrap().next().is_none());
    }

    #[test]
    fn a_symlinked_ancestor_is_not_followed() {
        let outside = tempfile::tempdir().unwrap();
        std::fs::create_dir_all(outside.path().join("pki")).unwrap();
        std::fs::write(outside.path().join("pki/ca.key"), b"key").unwrap();
        let root = tempfile::tempdir().unwrap();
        std::fs::create_dir_all(root.path().join("etc")).unwrap();
        symlink(outside.path(), root.path().join("etc/kubernetes")).unwrap();
        let r = Remover::open(root.path()).unwrap();
        assert!(matches!(r.clear_dir(&known("/etc/kubernetes/pki")), Err(RemoveError::Link { .. })));
        assert!(matches!(r.remove_file(&known("/etc/kubernetes/pki/ca.key")), Err(RemoveError::Link { .. })));
        assert_eq!(std::fs::read(outside.path().join("pki/ca.key")).unwrap(), b"key");
        assert_eq!(r.remove_file(&known("/etc/absent")).unwrap(), Outcome::Absent);
    }

    /// A host root with merged /usr: `/lib -> usr/lib`, made by root.
    fn merged_usr() -> tempfile::TempDir {
        let root = tempfile::tempdir().unwrap();
        std::fs::create_dir_all(root.path().join("usr/lib/modules")).unwrap();
        symlink("usr/lib", root.path().join("lib")).unwrap();
        root
    }

    #[test]
    fn the_merged_usr_links_of_the_host_root_are_followed_inside_it() {
        let root = merged_usr();
        let r = Remover::open(root.path()).unwrap();
        assert_eq!(r.remove_dir_if_empty(&HostPath::new("/lib/modules").unwrap()).unwrap(), Outcome::Removed);
        assert!(!root.path().join("usr/lib/modules").exists());
        // An absolute target, and one that climbs above the root, both stay inside it.
        let outside = tempfile::tempdir().unwrap();
        std::fs::create_dir_all(outside.path().join("modules")).unwrap();
        std::fs::create_dir_all(root.path().join("usr/lib64/modules")).unwrap();
        symlink("/usr/lib64", root.path().join("lib64")).unwrap();
        let climb = format!("../../../../..{}", outside.path().display());
        symlink(&climb, root.path().join("lib32")).unwrap();
        assert_eq!(r.remove_dir_if_empty(&HostPath::new("/lib64/modules").unwrap()).unwrap(), Outcome::Removed);
        assert_eq!(r.remove_dir_if_empty(&HostPath::new("/lib32/modules").unwrap()).unwrap(), Outcome::Absent);
        assert!(outside.path().join("modules").is_dir(), "a link climbing out of the root was followed out of it");
    }

    #[test]
    fn root_links_that_someone_else_could_have_made_are_not_followed() {
        // A link in the host root made by another user.
        let root = merged_usr();
        nix::unistd::fchownat(
            nix::fcntl::AT_FDCWD,
            &root.path().join("lib"),
            Some(nix::unistd::Uid::from_raw(65534)),
            None,
            nix::fcntl::AtFlags::AT_SYMLINK_NOFOLLOW,
        )
        .unwrap();
        let r = Remover::open(root.path()).unwrap();
        assert!(matches!(r.remove_dir_if_empty(&HostPath::new("/lib/modules").unwrap()), Err(RemoveError::Link { .. })));
        // A root-made link in a host root that anyone may write.
        let root = merged_usr();
        std::fs::set_permissions(root.path(), std::os::unix::fs::PermissionsExt::from_mode(0o777)).unwrap();
        let r = Remover::open(root.path()).unwrap();
        assert!(matches!(r.remove_dir_if_empty(&HostPath::new("/lib/modules").unwrap()), Err(RemoveError::Link { .. })));
        assert!(root.path().join("usr/lib/modules").is_dir());
        // Links below the root stay refused even when root made them (a_symlinked_ancestor…).
    }
}
