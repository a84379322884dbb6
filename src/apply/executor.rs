//! The executor: carries out a whole run — every [`Step`] of every phase's plan, in plan order —
//! against the [`Edges`] it is given, and journals each change. On a failure it stops, rolls back
//! what its [`RollbackScope`] allows and reports exactly what was done.
//!
//! It keeps the install record (`/var/lib/kubeup/install-record.json`) current after every
//! phase, so a run killed between phases leaves a record of everything it created.

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use crate::paths::{self, HostPath};
use crate::plan::{ApplyMode, FileKind, FileSpec, PhasePlan, Step, WritePolicy};
use crate::record::{InstallRecord, RECORD_PATH};

use super::edges::{Applied, ContainerOutcome, EdgeError, Edges};
use super::files::{Changes, Files};
use super::journal::{Entry, Journal, RollbackReport, RollbackScope};

/// A run that failed: where, why, what it had done, and what was rolled back.
#[derive(Debug, thiserror::Error)]
#[error("[{phase}] {source}\n{}", summary(.done, .scope, .rollback))]
pub struct ExecError {
    /// The phase whose step failed.
    pub phase: String,
    /// The cause.
    #[source]
    pub source: EdgeError,
    /// Everything the run did before it failed.
    pub done: Vec<String>,
    /// How much was rolled back.
    pub scope: RollbackScope,
    /// What the rollback did.
    pub rollback: RollbackReport,
}

fn summary(done: &[String], scope: &RollbackScope, r: &RollbackReport) -> String {
    if done.is_empty() {
        return "nothing on the host had been changed yet".into();
    }
    match scope {
        RollbackScope::Everything if r.kept.is_empty() => "everything this run had written was rolled back; fix the cause and run the command again".into(),
        RollbackScope::Everything => format!("rolling back failed for: {}; remove these by hand or run `kubeup reset`", r.kept.join("; ")),
        RollbackScope::ClusterOnly => {
            let undone = if r.undone.is_empty() { String::new() } else { format!("; withdrawn from the cluster: {}", r.undone.join(", ")) };
            format!(
                "the node had started ({} changes) and is left as it is{undone}: fix the cause and run the command again (it converges), or undo it with `kubeup reset`",
                done.len()
            )
        }
    }
}

/// What a successful run did.
#[derive(Debug, Default)]
pub struct Outcome {
    /// File counts.
    pub changes: Changes,
    /// What each phase did beyond files, for people (`[phase] …`).
    pub notes: Vec<String>,
}

/// What a best-effort run (reset) did: every step was tried.
#[derive(Debug, Default)]
pub struct BestEffort {
    /// What each step did, for people.
    pub notes: Vec<String>,
    /// The steps that failed, with why.
    pub failed: Vec<String>,
}

/// Carries out plans.
pub struct Executor<'e> {
    edges: Edges<'e>,
    journal: Journal,
    changes: Changes,
    notes: Vec<String>,
    record: InstallRecord,
    said_exec: bool,
    unmount_failed: bool,
}

impl<'e> Executor<'e> {
    /// An executor over `edges`, with the host's install record.
    pub fn new(edges: Edges<'e>) -> Result<Self, EdgeError> {
        let record = match edges.host.read(&paths::known(RECORD_PATH))? {
            None => InstallRecord::default(),
            Some(b) => InstallRecord::parse(&b).map_err(|reason| crate::host::HostError::Conflict { path: paths::known(RECORD_PATH), reason })?,
        };
        Ok(Executor { edges, journal: Journal::default(), changes: Changes::default(), notes: Vec::new(), record, said_exec: false, unmount_failed: false })
    }

    /// Directories made before the run (the host lock's state directory), for the record.
    pub fn add_created_dirs(&mut self, dirs: &[HostPath]) {
        self.record.add_created(&[], dirs);
    }

    /// Run every plan in order; stop at the first failure.
    pub async fn run(mut self, plans: &[PhasePlan]) -> Result<Outcome, ExecError> {
        for p in plans {
            let started = Instant::now();
            if let Err(source) = self.run_phase(p).await {
                return Err(self.fail(&p.phase, source).await);
            }
            if started.elapsed() >= Duration::from_secs(1) {
                eprintln!("[{}] done in {:.1} s", p.phase, started.elapsed().as_secs_f64());
            }
        }
        Ok(Outcome { changes: self.changes, notes: self.notes })
    }

    /// Run every step of every plan, going on after a failure (reset: do as much as can be
    /// done, and say what could not). Nothing is rolled back; the install record is not kept.
    pub async fn run_best_effort(mut self, plans: &[PhasePlan]) -> BestEffort {
        let mut failed = Vec::new();
        let mut applied = BTreeMap::new();
        for p in plans {
            for step in &p.plan.steps {
                if let Step::ClearDir { path, after_unmounts: true } = step {
                    if self.unmount_failed {
                        self.notes.push(format!("[{}] {path} was not cleaned: a mount below it could not be removed; reboot and run reset again", p.phase));
                        continue;
                    }
                }
                if let Err(e) = self.step(&p.phase, step, &mut applied).await {
                    if matches!(step, Step::HostCommand { action: crate::plan::HostAction::Unmount { .. }, .. }) {
                        self.unmount_failed = true;
                    }
                    failed.push(format!("[{}] {e}", p.phase));
                }
            }
        }
        BestEffort { notes: self.notes, failed }
    }

    async fn fail(self, phase: &str, source: EdgeError) -> ExecError {
        let done = self.journal.done();
        let scope = self.journal.scope();
        let mut edges = self.edges;
        let rollback = self.journal.rollback(&mut edges).await;
        ExecError { phase: phase.to_string(), source, done, scope, rollback }
    }

    async fn run_phase(&mut self, p: &PhasePlan) -> Result<(), EdgeError> {
        let mut applied: BTreeMap<&'static str, usize> = BTreeMap::new();
        // Write-ahead: what the phase may create is in the record before it is created, so a run
        // killed in the middle of the phase still leaves a record reset can follow.
        if self.intend(p)? {
            self.record.interrupted_phase = Some(p.phase.clone());
            self.save_record()?;
        }
        for step in &p.plan.steps {
            self.step(&p.phase, step, &mut applied).await?;
        }
        self.record.interrupted_phase = None;
        if !applied.is_empty() {
            let parts: Vec<String> = applied.iter().map(|(k, n)| format!("{n} {k}")).collect();
            self.notes.push(format!("[{}] API objects: {}", p.phase, parts.join(", ")));
        }
        self.save_record()
    }

    /// Add to the record every file and directory the phase's steps would create; whether the
    /// record changed.
    fn intend(&mut self, p: &PhasePlan) -> Result<bool, EdgeError> {
        let (mut files, mut dirs) = (Vec::new(), Vec::new());
        for step in &p.plan.steps {
            let (path, is_file) = match step {
                Step::EnsureDir { path, .. } => (path, false),
                Step::WriteFile(f) => (&f.path, true),
                _ => continue,
            };
            if self.edges.host.kind(path)?.is_some() {
                continue;
            }
            if is_file {
                files.push(path.clone());
            } else {
                dirs.push(path.clone());
            }
            let mut parent = path.parent();
            while parent.as_str() != "/" && self.edges.host.kind(&parent)?.is_none() {
                dirs.push(parent.clone());
                parent = parent.parent();
            }
        }
        let before = (self.record.files.len(), self.record.dirs.len());
        self.record.add_created(&files, &dirs);
        Ok((self.record.files.len(), self.record.dirs.len()) != before)
    }

    fn files(&mut self) -> Files<'_> {
        Files { host: &mut *self.edges.host, journal: &mut self.journal, changes: &mut self.changes }
    }

    async fn step(&mut self, phase: &str, step: &Step, applied: &mut BTreeMap<&'static str, usize>) -> Result<(), EdgeError> {
        match step {
            Step::EnsureDir { path, mode } => self.files().ensure_dir(path, *mode)?,
            Step::WriteFile(f) => self.files().write(f)?,
            Step::Keep { .. } | Step::Check { .. } | Step::Say { .. } => {}
            Step::HostCommand { summary, action } => {
                if !self.said_exec {
                    self.notes.push(format!("[{phase}] {}", self.edges.host.describe()));
                    self.said_exec = true;
                }
                let done = self.edges.host.run(action)?;
                self.journal.push(Entry::HostChanged(summary.clone()));
                self.notes.push(format!("[{phase}] {done}"));
            }
            Step::RunContainer(spec) => {
                let outcome = self.edges.runtime.ensure_container(spec).await?;
                let verb = match outcome {
                    ContainerOutcome::Created => {
                        self.journal.push(Entry::ContainerCreated(spec.name.clone()));
                        "created and started"
                    }
                    ContainerOutcome::Recreated => {
                        self.journal.push(Entry::ContainerRecreated(spec.name.clone()));
                        "recreated (its configuration changed) and started"
                    }
                    ContainerOutcome::Kept => "already running with this configuration; kept",
                };
                self.record.containers.insert(spec.name.clone());
                self.notes.push(format!(
                    "[{phase}] container {} {verb}; {}; restart policy {}",
                    spec.name,
                    if spec.privileged { self.edges.runtime.describe_privileges() } else { "unprivileged".to_string() },
                    spec.restart_policy
                ));
            }
            Step::Wait { target, timeout_secs } => {
                let took = self.edges.cluster.wait(*target, Duration::from_secs(*timeout_secs)).await?;
                self.notes.push(format!("[{phase}] {} after {:.1} s", target.describe(), took.as_secs_f64()));
            }
            Step::ApplyObject { object, mode } => {
                let reference = crate::plan::object_ref(object);
                if *mode == ApplyMode::CreateOnce && self.record.objects_created_once.contains(&reference) {
                    *applied.entry("kept (made by an earlier run; never made again)").or_default() += 1;
                    return Ok(());
                }
                let outcome = self.edges.cluster.apply(object, *mode).await?;
                if *mode == ApplyMode::CreateOnce && outcome != Applied::Recorded {
                    self.record.objects_created_once.insert(reference.clone());
                }
                *applied.entry(self.count(outcome, object, reference)).or_default() += 1;
            }
            Step::ApplyOwned { object, owner } => {
                let outcome = self.edges.cluster.apply_owned(object, owner).await?;
                let reference = crate::plan::object_ref(object);
                *applied.entry(self.count(outcome, object, reference)).or_default() += 1;
            }
            Step::EtcdAddLearner { endpoint, peer_url } => {
                let id = self.edges.etcd.add_learner(endpoint, peer_url).await?;
                self.journal.push(Entry::EtcdMemberAdded { endpoint: endpoint.clone(), peer_url: peer_url.clone() });
                self.notes.push(format!("[{phase}] {peer_url} is an etcd learner (member {id})"));
            }
            Step::EtcdPromote { endpoint, peer_url } => {
                self.edges.etcd.promote(endpoint, peer_url).await?;
                self.notes.push(format!("[{phase}] etcd member {peer_url} promoted to a voting member"));
            }
            Step::MarkNode { name, labels, taints, annotations } => {
                let changed = self.edges.cluster.mark_node(name, labels, taints, annotations).await?;
                if changed {
                    self.journal.push(Entry::NodeMarked(name.clone()));
                }
                let what = if labels.is_empty() && taints.is_empty() { "annotated" } else { "labelled and tainted as a control-plane node" };
                self.notes.push(format!("[{phase}] node {name} {}", if changed { what } else { "already marked" }));
            }
            Step::RemoveFile { path, reason } => {
                if self.files().remove(path)? {
                    self.notes.push(format!("[{phase}] removed {path}: {reason}"));
                }
            }
            Step::KubeletFinalize => {
                let note = self.kubelet_finalize()?;
                self.notes.push(format!("[{phase}] {note}"));
            }
            Step::RemoveContainer { name } => {
                if self.edges.runtime.remove_container(name).await? {
                    self.notes.push(format!("[{phase}] container {name} removed"));
                }
            }
            Step::ClearDir { path, .. } => {
                let report = self.edges.host.clear_dir(path)?;
                for m in &report.mount_points {
                    self.notes.push(format!("[{phase}] kept {m}: another file system is mounted there"));
                }
                if let Some(first) = report.failed.first() {
                    return Err(EdgeError::Unavailable(format!(
                        "{path} was not emptied: {first}{}",
                        if report.failed.len() > 1 { format!(" (and {} more)", report.failed.len() - 1) } else { String::new() }
                    )));
                }
                if report.removed > 0 {
                    self.notes.push(format!("[{phase}] {path}: {} entries removed", report.removed));
                }
            }
            Step::RemoveDir { path, unmounted } => {
                if *unmounted {
                    self.edges.host.detach_own_mount(path)?;
                }
                if !self.edges.host.remove_dir(path)? && self.edges.host.kind(path)?.is_some() {
                    self.notes.push(format!("[{phase}] kept directory {path}: it holds files kubeup did not create"));
                }
            }
            Step::EtcdLeave { endpoint, peer_url } => {
                // Best effort by nature: this node's etcd may not run any more.
                let done = match self.edges.etcd.remove_member(endpoint, peer_url).await {
                    Ok(done) => done,
                    Err(e) => format!(
                        "this node's etcd member {peer_url} was not removed ({e}); if other control-plane nodes remain, remove it there with `etcdctl member remove`"
                    ),
                };
                self.notes.push(format!("[{phase}] {done}"));
            }
        }
        Ok(())
    }

    fn count(&mut self, outcome: Applied, object: &serde_json::Value, reference: String) -> &'static str {
        match outcome {
            Applied::Created => {
                self.journal.push(Entry::ObjectCreated(object.clone()));
                "created"
            }
            Applied::Updated => {
                self.journal.push(Entry::ObjectChanged(reference));
                "updated"
            }
            Applied::Unchanged => "unchanged",
            Applied::Kept => "kept",
            Applied::Recorded => "recorded (test edges)",
        }
    }

    /// kubeadm's kubelet-finalize: once the kubelet keeps its client certificate in
    /// kubelet-client-current.pem (and rotates it), kubelet.conf refers to that file.
    fn kubelet_finalize(&mut self) -> Result<String, EdgeError> {
        let pem = crate::kubeconfig::KUBELET_CLIENT_CURRENT;
        if self.edges.host.kind(&paths::known(pem))?.is_none() {
            return Ok(format!("kubelet.conf keeps its embedded client certificate: the kubelet has not written {pem}"));
        }
        let path = paths::kubeconfig("kubelet.conf");
        let text = self.edges.host.read(&path)?.ok_or_else(|| crate::host::HostError::Conflict { path: path.clone(), reason: "does not exist".into() })?;
        let rotated = crate::kubeconfig::point_at_rotating_cert(&String::from_utf8_lossy(&text))
            .map_err(|reason| crate::host::HostError::Conflict { path: path.clone(), reason })?;
        match rotated {
            None => Ok("kubelet.conf already refers to the rotating client certificate".into()),
            Some(yaml) => {
                let spec = FileSpec { path, contents: yaml.into_bytes(), mode: 0o600, policy: WritePolicy::Replace, kind: FileKind::Kubeconfig };
                self.files().write(&spec)?;
                Ok(format!("kubelet.conf now refers to {pem}"))
            }
        }
    }

    /// Rewrite the install record (the record itself is part of the run, so a rolled-back run
    /// leaves no record of what it undid).
    fn save_record(&mut self) -> Result<(), EdgeError> {
        let mut dir = paths::known(RECORD_PATH).parent();
        while dir.as_str() != "/" && self.edges.host.kind(&dir)?.is_none() {
            self.record.add_created(&[], std::slice::from_ref(&dir));
            dir = dir.parent();
        }
        let bytes = serde_json::to_vec_pretty(&self.record).unwrap_or_default();
        let spec = FileSpec { path: paths::known(RECORD_PATH), contents: bytes, mode: 0o600, policy: WritePolicy::Replace, kind: FileKind::Config };
        let mut counts = Changes::default();
        Files { host: &mut *self.edges.host, journal: &mut self.journal, changes: &mut counts }.write(&spec)
    }
}
