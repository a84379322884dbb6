//! The journal of one run: everything the executor did, in order, with how to undo it where it
//! can be undone. A failed run reports it, and rolls back what it may (see [`RollbackScope`]).

use crate::paths::HostPath;

use super::edges::Edges;

/// One thing a run did.
#[derive(Debug, Clone)]
pub enum Entry {
    /// A directory was created.
    DirCreated(HostPath),
    /// A file was created.
    FileCreated(HostPath),
    /// A file was replaced; its old bytes and mode.
    FileReplaced {
        /// The file.
        path: HostPath,
        /// Its bytes before.
        bytes: Vec<u8>,
        /// Its mode before.
        mode: u32,
    },
    /// A file was removed; its bytes and mode.
    FileRemoved {
        /// The file.
        path: HostPath,
        /// Its bytes.
        bytes: Vec<u8>,
        /// Its mode.
        mode: u32,
    },
    /// A file's mode was changed.
    ModeChanged {
        /// The file.
        path: HostPath,
        /// Its mode before.
        mode: u32,
    },
    /// A container was created.
    ContainerCreated(String),
    /// A container was recreated with a new configuration (the old one cannot come back).
    ContainerRecreated(String),
    /// An API object was created.
    ObjectCreated(serde_json::Value),
    /// An API object was changed (not undone: other nodes may already use it).
    ObjectChanged(String),
    /// A node was labelled and tainted.
    NodeMarked(String),
    /// An etcd member was added.
    EtcdMemberAdded {
        /// The member that added it.
        endpoint: String,
        /// Its peer URL.
        peer_url: String,
    },
    /// A host command changed the host.
    HostChanged(String),
}

impl Entry {
    /// For people.
    pub fn describe(&self) -> String {
        match self {
            Entry::DirCreated(p) => format!("created directory {p}"),
            Entry::FileCreated(p) => format!("created {p}"),
            Entry::FileReplaced { path, .. } => format!("replaced {path}"),
            Entry::FileRemoved { path, .. } => format!("removed {path}"),
            Entry::ModeChanged { path, mode } => format!("changed the mode of {path} (was {mode:04o})"),
            Entry::ContainerCreated(n) => format!("created container {n}"),
            Entry::ContainerRecreated(n) => format!("recreated container {n}"),
            Entry::ObjectCreated(o) => format!("created {}", crate::plan::object_ref(o)),
            Entry::ObjectChanged(r) => format!("changed {r}"),
            Entry::NodeMarked(n) => format!("marked node {n}"),
            Entry::EtcdMemberAdded { peer_url, .. } => format!("added etcd member {peer_url}"),
            Entry::HostChanged(what) => what.clone(),
        }
    }

    /// Whether this entry started something that now runs on the host (from then on the host
    /// is live and is not torn down by a rollback).
    pub fn starts_something(&self) -> bool {
        matches!(self, Entry::ContainerCreated(_) | Entry::ContainerRecreated(_) | Entry::HostChanged(_))
    }
}

/// How much of a failed run is undone.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RollbackScope {
    /// Everything that can be undone: nothing was started yet, so the host goes back to what it
    /// was.
    Everything,
    /// The run had started the kubelet or changed the host: the node is live, so it stays as it
    /// is (a re-run converges; `kubeup reset` undoes it), and only what would harm the cluster
    /// is withdrawn (an etcd member this run added).
    ClusterOnly,
}

/// What a rollback did.
#[derive(Debug, Default, Clone)]
pub struct RollbackReport {
    /// Undone.
    pub undone: Vec<String>,
    /// Could not be undone (or is not undone by this scope), with why.
    pub kept: Vec<String>,
}

/// The journal.
#[derive(Debug, Default)]
pub struct Journal {
    entries: Vec<Entry>,
}

impl Journal {
    /// Add an entry.
    pub fn push(&mut self, e: Entry) {
        self.entries.push(e);
    }

    /// The entries, oldest first.
    pub fn entries(&self) -> &[Entry] {
        &self.entries
    }

    /// Everything done so far, for people.
    pub fn done(&self) -> Vec<String> {
        self.entries.iter().map(Entry::describe).collect()
    }

    /// The scope a failure now would be rolled back with.
    pub fn scope(&self) -> RollbackScope {
        if self.entries.iter().any(Entry::starts_something) {
            RollbackScope::ClusterOnly
        } else {
            RollbackScope::Everything
        }
    }

    /// Undo, newest first, what `scope` allows.
    pub async fn rollback(self, edges: &mut Edges<'_>) -> RollbackReport {
        let scope = self.scope();
        let mut report = RollbackReport::default();
        for e in self.entries.into_iter().rev() {
            let what = e.describe();
            let result: Result<bool, String> = match (&e, scope) {
                (Entry::EtcdMemberAdded { endpoint, peer_url }, _) => {
                    edges.etcd.remove_member(endpoint, peer_url).await.map(|_| true).map_err(|err| err.to_string())
                }
                (_, RollbackScope::ClusterOnly) => Ok(false),
                (Entry::DirCreated(p), _) => edges.host.remove_dir(p).map_err(|err| err.to_string()),
                (Entry::FileCreated(p), _) => edges.host.remove_file(p).map_err(|err| err.to_string()),
                (Entry::FileReplaced { path, bytes, mode }, _) | (Entry::FileRemoved { path, bytes, mode }, _) => {
                    edges.host.write(path, bytes, *mode).map(|()| true).map_err(|err| err.to_string())
                }
                (Entry::ModeChanged { path, mode }, _) => edges.host.set_mode(path, *mode).map(|()| true).map_err(|err| err.to_string()),
                (Entry::ObjectCreated(o), _) => edges.cluster.delete(o).await.map_err(|err| err.to_string()),
                (Entry::ContainerCreated(n), _) => edges.runtime.remove_container(n).await.map_err(|err| err.to_string()),
                (Entry::ContainerRecreated(_) | Entry::ObjectChanged(_) | Entry::NodeMarked(_) | Entry::HostChanged(_), _) => Ok(false),
            };
            match result {
                Ok(true) => report.undone.push(what),
                Ok(false) => report.kept.push(what),
                Err(err) => report.kept.push(format!("{what} (undoing it failed: {err})")),
            }
        }
        report
    }
}
