//! The fake host: an in-memory file tree with a log of the host actions it was asked to run,
//! and the wrapper that records host actions over the real file layer (a test hook).

use std::collections::BTreeMap;

use super::Log;
use crate::apply::edges::{EdgeError, HostEdge};
use crate::paths::HostPath;
use crate::plan::HostAction;

#[derive(Debug, Clone, PartialEq, Eq)]
enum Node {
    Dir(u32),
    File(Vec<u8>, u32),
}

/// An in-memory host: a file tree and a log of the host actions run.
#[derive(Debug, Default)]
pub struct FakeHost {
    tree: BTreeMap<HostPath, Node>,
    /// Calls and faults (mutating file calls and actions are counted).
    pub log: Log,
}

impl FakeHost {
    /// An empty host with `/`.
    pub fn new(log: Log) -> FakeHost {
        let mut tree = BTreeMap::new();
        tree.insert(crate::paths::known("/"), Node::Dir(0o755));
        FakeHost { tree, log }
    }

    /// Every path with its mode and (for files) bytes: a snapshot to compare.
    pub fn snapshot(&self) -> Vec<(String, u32, Option<Vec<u8>>)> {
        self.tree
            .iter()
            .map(|(p, n)| match n {
                Node::Dir(m) => (p.to_string(), *m, None),
                Node::File(b, m) => (p.to_string(), *m, Some(b.clone())),
            })
            .collect()
    }

    /// Put a file (test setup).
    pub fn put(&mut self, path: &str, bytes: &[u8], mode: u32) {
        let p = HostPath::new(path).expect("test path");
        let mut dir = p.parent();
        let mut parents = Vec::new();
        while !self.tree.contains_key(&dir) {
            parents.push(dir.clone());
            dir = dir.parent();
        }
        for d in parents {
            self.tree.insert(d, Node::Dir(0o755));
        }
        self.tree.insert(p, Node::File(bytes.to_vec(), mode));
    }

    fn missing(p: &HostPath) -> EdgeError {
        crate::host::HostError::Conflict { path: p.clone(), reason: "does not exist".into() }.into()
    }
}

impl HostEdge for FakeHost {
    fn read(&self, path: &HostPath) -> Result<Option<Vec<u8>>, EdgeError> {
        Ok(match self.tree.get(path) {
            Some(Node::File(b, _)) => Some(b.clone()),
            _ => None,
        })
    }
    fn kind(&self, path: &HostPath) -> Result<Option<bool>, EdgeError> {
        Ok(self.tree.get(path).map(|n| matches!(n, Node::Dir(_))))
    }
    fn mode(&self, path: &HostPath) -> Result<u32, EdgeError> {
        match self.tree.get(path) {
            Some(Node::Dir(m)) | Some(Node::File(_, m)) => Ok(*m),
            None => Err(Self::missing(path)),
        }
    }
    fn set_mode(&mut self, path: &HostPath, mode: u32) -> Result<(), EdgeError> {
        self.log.call(format!("chmod {path} {mode:o}"))?;
        match self.tree.get_mut(path) {
            Some(Node::Dir(m)) | Some(Node::File(_, m)) => {
                *m = mode;
                Ok(())
            }
            None => Err(Self::missing(path)),
        }
    }
    fn mkdir(&mut self, path: &HostPath, mode: u32) -> Result<(), EdgeError> {
        self.log.call(format!("mkdir {path}"))?;
        if !matches!(self.tree.get(&path.parent()), Some(Node::Dir(_))) {
            return Err(Self::missing(&path.parent()));
        }
        self.tree.insert(path.clone(), Node::Dir(mode));
        Ok(())
    }
    fn write(&mut self, path: &HostPath, bytes: &[u8], mode: u32) -> Result<(), EdgeError> {
        self.log.call(format!("write {path}"))?;
        if !matches!(self.tree.get(&path.parent()), Some(Node::Dir(_))) {
            return Err(Self::missing(&path.parent()));
        }
        self.tree.insert(path.clone(), Node::File(bytes.to_vec(), mode));
        Ok(())
    }
    fn remove_file(&mut self, path: &HostPath) -> Result<bool, EdgeError> {
        self.log.call(format!("remove {path}"))?;
        match self.tree.get(path) {
            Some(Node::File(..)) => Ok(self.tree.remove(path).is_some()),
            _ => Ok(false),
        }
    }
    fn remove_dir(&mut self, path: &HostPath) -> Result<bool, EdgeError> {
        self.log.call(format!("rmdir {path}"))?;
        let prefix = format!("{}/", path.as_str().trim_end_matches('/'));
        if self.tree.keys().any(|k| k.as_str().starts_with(&prefix)) {
            return Ok(false);
        }
        Ok(self.tree.remove(path).is_some())
    }
    fn detach_own_mount(&mut self, path: &HostPath) -> Result<(), EdgeError> {
        self.log.call(format!("detach {path}"))
    }
    fn clear_dir(&mut self, path: &HostPath) -> Result<crate::host::remove::TreeReport, EdgeError> {
        self.log.call(format!("clear {path}"))?;
        let prefix = format!("{}/", path.as_str().trim_end_matches('/'));
        let doomed: Vec<HostPath> = self.tree.keys().filter(|k| k.as_str().starts_with(&prefix)).cloned().collect();
        let removed = doomed.len();
        for p in doomed {
            self.tree.remove(&p);
        }
        Ok(crate::host::remove::TreeReport { removed, ..Default::default() })
    }
    fn run(&mut self, action: &HostAction) -> Result<String, EdgeError> {
        self.log.call(format!("host {}", action.display()))?;
        Ok(format!("(recorded, not run) {}", action.display()))
    }
    fn describe(&self) -> String {
        "host commands are recorded, not run (test edges)".into()
    }
}

/// Rendering reads the fake host like a real one.
impl crate::phases::HostFiles for FakeHost {
    fn read(&self, p: &HostPath) -> Result<Option<Vec<u8>>, crate::phases::ReadError> {
        Ok(HostEdge::read(self, p).unwrap_or(None))
    }
    fn exists(&self, p: &HostPath) -> Result<bool, crate::phases::ReadError> {
        Ok(self.tree.contains_key(p))
    }
    fn dir_has_entries(&self, p: &HostPath) -> Result<bool, crate::phases::ReadError> {
        let prefix = format!("{}/", p.as_str().trim_end_matches('/'));
        Ok(self.tree.keys().any(|k| k.as_str().starts_with(&prefix)))
    }
}

/// The real file layer with recorded effects: forwards file calls to `inner`, records host
/// actions instead of running them (the `KUBEUP_SKIP_EFFECTS` test hook).
pub struct RecordActions {
    /// The real host.
    pub inner: Box<dyn HostEdge>,
    /// The recorded actions.
    pub log: Log,
}

impl HostEdge for RecordActions {
    fn read(&self, path: &HostPath) -> Result<Option<Vec<u8>>, EdgeError> {
        self.inner.read(path)
    }
    fn kind(&self, path: &HostPath) -> Result<Option<bool>, EdgeError> {
        self.inner.kind(path)
    }
    fn mode(&self, path: &HostPath) -> Result<u32, EdgeError> {
        self.inner.mode(path)
    }
    fn set_mode(&mut self, path: &HostPath, mode: u32) -> Result<(), EdgeError> {
        self.inner.set_mode(path, mode)
    }
    fn mkdir(&mut self, path: &HostPath, mode: u32) -> Result<(), EdgeError> {
        self.inner.mkdir(path, mode)
    }
    fn write(&mut self, path: &HostPath, bytes: &[u8], mode: u32) -> Result<(), EdgeError> {
        self.inner.write(path, bytes, mode)
    }
    fn remove_file(&mut self, path: &HostPath) -> Result<bool, EdgeError> {
        self.inner.remove_file(path)
    }
    fn remove_dir(&mut self, path: &HostPath) -> Result<bool, EdgeError> {
        self.inner.remove_dir(path)
    }
    fn clear_dir(&mut self, path: &HostPath) -> Result<crate::host::remove::TreeReport, EdgeError> {
        self.inner.clear_dir(path)
    }
    fn detach_own_mount(&mut self, path: &HostPath) -> Result<(), EdgeError> {
        self.inner.detach_own_mount(path)
    }
    fn run(&mut self, action: &HostAction) -> Result<String, EdgeError> {
        self.log.call(action.display())?;
        Ok(format!("(test hook: recorded, not run) {}", action.display()))
    }
    fn describe(&self) -> String {
        "host commands are recorded, not run (test hook)".into()
    }
}
