//! EDGE: atomic file writes and directory creation below the host root.

use std::fs::{self, File, OpenOptions};
use std::io::{self, Write};
use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
use std::path::Path;

/// Write `bytes` to `target` atomically: a temporary file in the same directory (created
/// exclusively with `mode`), fsync, rename over the target, fsync the directory. A crash leaves
/// either the old file or the new one, never a torn one.
pub fn atomic_write(target: &Path, bytes: &[u8], mode: u32) -> io::Result<()> {
    let dir = target.parent().ok_or_else(|| io::Error::new(io::ErrorKind::InvalidInput, "no parent directory"))?;
    let name = target.file_name().ok_or_else(|| io::Error::new(io::ErrorKind::InvalidInput, "no file name"))?;
    let prefix = format!(".{}.kubeup-tmp-", name.to_string_lossy());
    // A run killed mid-write leaves its temporary file; the next run clears it.
    if let Ok(entries) = fs::read_dir(dir) {
        for e in entries.flatten() {
            if e.file_name().to_string_lossy().starts_with(&prefix) {
                let _ = fs::remove_file(e.path());
            }
        }
    }
    let tmp = dir.join(format!("{prefix}{}", std::process::id()));
    let result = (|| {
        let mut f = OpenOptions::new().write(true).create_new(true).mode(mode).open(&tmp)?;
        // The umask may have cleared bits; set the exact mode before any byte is visible.
        f.set_permissions(fs::Permissions::from_mode(mode))?;
        f.write_all(bytes)?;
        f.sync_all()?;
        fs::rename(&tmp, target)?;
        File::open(dir)?.sync_all()
    })();
    if result.is_err() {
        let _ = fs::remove_file(&tmp);
    }
    result
}

/// Current permission bits of a path.
pub fn mode_of(path: &Path) -> io::Result<u32> {
    Ok(fs::metadata(path)?.permissions().mode() & 0o7777)
}

/// Set permission bits.
pub fn set_mode(path: &Path, mode: u32) -> io::Result<()> {
    fs::set_permissions(path, fs::Permissions::from_mode(mode))
}

/// Create one directory with an exact mode.
pub fn mkdir(path: &Path, mode: u32) -> io::Result<()> {
    fs::create_dir(path)?;
    set_mode(path, mode)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn writes_exact_mode_and_replaces() {
        let d = tempfile::tempdir().unwrap();
        let p = d.path().join("key");
        atomic_write(&p, b"one", 0o600).unwrap();
        assert_eq!(mode_of(&p).unwrap(), 0o600);
        atomic_write(&p, b"two", 0o644).unwrap();
        assert_eq!(fs::read(&p).unwrap(), b"two");
        assert_eq!(mode_of(&p).unwrap(), 0o644);
        assert_eq!(fs::read_dir(d.path()).unwrap().count(), 1, "no temporary file left behind");
    }
}
