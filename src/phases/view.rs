//! The host as a phase sees it: the files planned earlier in this run over the files on the
//! host, read through the [`HostFiles`] trait (the host root implements it; tests may give
//! anything), so the phases stay pure.

use crate::paths::HostPath;
use crate::plan::Overlay;

use super::PhaseError;
pub use crate::host_files::{HostFiles, ReadError};

/// The files on the host with this run's planned files on top.
pub struct View<'a> {
    host: &'a dyn HostFiles,
    overlay: &'a Overlay,
}

impl<'a> View<'a> {
    /// A view of `host` with `overlay` on top.
    pub fn new(host: &'a dyn HostFiles, overlay: &'a Overlay) -> Self {
        View { host, overlay }
    }

    /// A file's bytes, if it exists (planned or on disk).
    pub fn read(&self, p: &HostPath) -> Result<Option<Vec<u8>>, ReadError> {
        match self.overlay.get(p) {
            Some(b) => Ok(Some(b.to_vec())),
            None => self.host.read(p),
        }
    }

    /// Whether a path exists (planned or on disk).
    pub fn exists(&self, p: &HostPath) -> Result<bool, ReadError> {
        Ok(self.overlay.get(p).is_some() || self.host.exists(p)?)
    }

    /// A file as UTF-8 text.
    pub fn read_text(&self, p: &HostPath) -> Result<Option<String>, PhaseError> {
        match self.read(p)? {
            None => Ok(None),
            Some(b) => String::from_utf8(b).map(Some).map_err(|_| PhaseError::Render { what: p.to_string(), reason: "is not UTF-8 text".into() }),
        }
    }

    /// Whether a directory exists with entries.
    pub fn dir_has_entries(&self, p: &HostPath) -> Result<bool, ReadError> {
        self.host.dir_has_entries(p)
    }
}
