//! Read access to a host's files, as the pure renderers see them: the host root implements it
//! for real, the tests with anything. A leaf module, so that every renderer (phases, certs) can
//! read the host without depending on another renderer.
//!
//! Pure (a trait and an error).

use crate::paths::HostPath;

/// Why a file of the host could not be read.
#[derive(Debug, thiserror::Error)]
#[error("cannot read {path}: {reason}")]
pub struct ReadError {
    /// The file.
    pub path: HostPath,
    /// Why.
    pub reason: String,
}

/// Read access to the host's files.
pub trait HostFiles {
    /// A file's bytes, if it exists.
    fn read(&self, p: &HostPath) -> Result<Option<Vec<u8>>, ReadError>;
    /// Whether something exists at the path.
    fn exists(&self, p: &HostPath) -> Result<bool, ReadError>;
    /// Whether a directory exists with entries.
    fn dir_has_entries(&self, p: &HostPath) -> Result<bool, ReadError>;
}
