//! Recording fakes of the edges, for the executor's unit tests and for the test hook that runs
//! the real file layer on a scratch root without touching a host, Docker or a cluster
//! (`KUBEUP_SKIP_EFFECTS`). Every call is logged; a failure can be injected at the n-th call or
//! at the first call whose description contains a text. Compiled into test builds only.

use std::cell::RefCell;
use std::collections::BTreeMap;
use std::time::Duration;

use futures_util::future::LocalBoxFuture;
use futures_util::FutureExt as _;

use crate::kubelet::container::ContainerSpec;
use crate::plan::{ApplyMode, WaitTarget};

mod host;

pub use host::{FakeHost, RecordActions};

use super::edges::{Applied, ClusterEdge, ContainerOutcome, EdgeError, EtcdEdge, RuntimeEdge};

/// Where a fake fails.
#[derive(Debug, Clone, Default)]
pub struct Faults {
    /// Fail the n-th call (1-based, counted over every call to this fake).
    pub at_call: Option<usize>,
    /// Fail the first call whose description contains this text.
    pub matching: Option<String>,
}

/// The call log and fault state shared by a fake.
#[derive(Debug, Default)]
pub struct Log {
    /// "call description" per call, in order.
    pub calls: RefCell<Vec<String>>,
    faults: RefCell<Faults>,
}

impl Log {
    /// A log that fails as `faults` says.
    pub fn failing(faults: Faults) -> Log {
        Log { calls: RefCell::new(Vec::new()), faults: RefCell::new(faults) }
    }

    fn call(&self, what: String) -> Result<(), EdgeError> {
        let mut calls = self.calls.borrow_mut();
        calls.push(what.clone());
        let mut f = self.faults.borrow_mut();
        if f.at_call == Some(calls.len()) || f.matching.as_deref().is_some_and(|m| what.contains(m)) {
            *f = Faults::default();
            return Err(EdgeError::Injected(what));
        }
        Ok(())
    }

    /// The calls so far.
    pub fn calls(&self) -> Vec<String> {
        self.calls.borrow().clone()
    }
}

/// A recording container runtime: containers by name with their config hash.
#[derive(Debug, Default)]
pub struct FakeRuntime {
    /// Calls and faults.
    pub log: Log,
    /// Containers: name to config hash.
    pub containers: RefCell<BTreeMap<String, String>>,
}

impl RuntimeEdge for FakeRuntime {
    fn ensure_container<'a>(&'a self, spec: &'a ContainerSpec) -> LocalBoxFuture<'a, Result<ContainerOutcome, EdgeError>> {
        async move {
            self.log.call(format!("ensure container {}", spec.name))?;
            let hash = spec.labels.get(crate::kubelet::container::LABEL_CONFIG_HASH).cloned().unwrap_or_default();
            let mut c = self.containers.borrow_mut();
            Ok(match c.insert(spec.name.clone(), hash.clone()) {
                None => ContainerOutcome::Created,
                Some(old) if old == hash => ContainerOutcome::Kept,
                Some(_) => ContainerOutcome::Recreated,
            })
        }
        .boxed_local()
    }
    fn remove_container<'a>(&'a self, name: &'a str) -> LocalBoxFuture<'a, Result<bool, EdgeError>> {
        async move {
            self.log.call(format!("remove container {name}"))?;
            Ok(self.containers.borrow_mut().remove(name).is_some())
        }
        .boxed_local()
    }
    fn describe_privileges(&self) -> String {
        "privileges recorded, not granted (test edges)".into()
    }
}

/// A recording API server: objects by reference; waits succeed at once.
#[derive(Debug, Default)]
pub struct FakeCluster {
    /// Calls and faults.
    pub log: Log,
    /// Objects by `Kind namespace/name`.
    pub objects: RefCell<BTreeMap<String, serde_json::Value>>,
    /// Answer every apply with [`Applied::Recorded`] (the test hook: no API server is involved,
    /// so nothing may be remembered as created).
    pub record_only: bool,
}

impl FakeCluster {
    /// A cluster edge that only records (the `KUBEUP_SKIP_EFFECTS` test hook).
    pub fn recording() -> FakeCluster {
        FakeCluster { record_only: true, ..Default::default() }
    }
}

impl ClusterEdge for FakeCluster {
    fn apply<'a>(&'a self, object: &'a serde_json::Value, mode: ApplyMode) -> LocalBoxFuture<'a, Result<Applied, EdgeError>> {
        async move {
            let r = crate::plan::object_ref(object);
            self.log.call(format!("apply {r}"))?;
            if self.record_only {
                return Ok(Applied::Recorded);
            }
            let mut objects = self.objects.borrow_mut();
            Ok(match (objects.get(&r), mode) {
                (None, _) => {
                    objects.insert(r, object.clone());
                    Applied::Created
                }
                (Some(_), ApplyMode::CreateIfAbsent | ApplyMode::CreateOnce) => Applied::Kept,
                (Some(o), ApplyMode::Apply) if o == object => Applied::Unchanged,
                (Some(_), ApplyMode::Apply) => {
                    objects.insert(r, object.clone());
                    Applied::Updated
                }
            })
        }
        .boxed_local()
    }
    fn apply_owned<'a>(&'a self, object: &'a serde_json::Value, _owner: &'a str) -> LocalBoxFuture<'a, Result<Applied, EdgeError>> {
        self.apply(object, ApplyMode::Apply)
    }
    fn delete<'a>(&'a self, object: &'a serde_json::Value) -> LocalBoxFuture<'a, Result<bool, EdgeError>> {
        async move {
            let r = crate::plan::object_ref(object);
            self.log.call(format!("delete {r}"))?;
            Ok(self.objects.borrow_mut().remove(&r).is_some())
        }
        .boxed_local()
    }
    fn sign_cluster_info<'a>(&'a self, token: &'a crate::token::BootstrapToken) -> LocalBoxFuture<'a, Result<(), EdgeError>> {
        async move { self.log.call(format!("sign cluster-info for {}", token.id())) }.boxed_local()
    }
    fn bootstrap_tokens(&self) -> LocalBoxFuture<'_, Result<Vec<k8s_openapi::api::core::v1::Secret>, EdgeError>> {
        async move {
            self.log.call("list bootstrap tokens".into())?;
            Ok(self
                .objects
                .borrow()
                .values()
                .filter(|o| o["type"] == "bootstrap.kubernetes.io/token")
                .filter_map(|o| serde_json::from_value(o.clone()).ok())
                .collect())
        }
        .boxed_local()
    }
    fn mark_node<'a>(
        &'a self,
        name: &'a str,
        _labels: &'a [String],
        _taints: &'a [String],
        _annotations: &'a std::collections::BTreeMap<String, String>,
    ) -> LocalBoxFuture<'a, Result<bool, EdgeError>> {
        async move {
            self.log.call(format!("mark node {name}"))?;
            Ok(true)
        }
        .boxed_local()
    }
    fn wait(&self, target: WaitTarget, _timeout: Duration) -> LocalBoxFuture<'_, Result<Duration, EdgeError>> {
        async move {
            self.log.call(format!("wait {target:?}"))?;
            Ok(Duration::ZERO)
        }
        .boxed_local()
    }
}

/// A recording etcd: members by peer URL.
#[derive(Debug, Default)]
pub struct FakeEtcd {
    /// Calls and faults.
    pub log: Log,
    /// Members' peer URLs.
    pub members: RefCell<Vec<String>>,
}

impl EtcdEdge for FakeEtcd {
    fn add_learner<'a>(&'a self, _endpoint: &'a str, peer_url: &'a str) -> LocalBoxFuture<'a, Result<String, EdgeError>> {
        async move {
            self.log.call(format!("etcd add learner {peer_url}"))?;
            self.members.borrow_mut().push(peer_url.to_string());
            Ok(format!("{}", self.members.borrow().len()))
        }
        .boxed_local()
    }
    fn promote<'a>(&'a self, _endpoint: &'a str, peer_url: &'a str) -> LocalBoxFuture<'a, Result<(), EdgeError>> {
        async move { self.log.call(format!("etcd promote {peer_url}")) }.boxed_local()
    }
    fn remove_member<'a>(&'a self, _endpoint: &'a str, peer_url: &'a str) -> LocalBoxFuture<'a, Result<String, EdgeError>> {
        async move {
            self.log.call(format!("etcd remove {peer_url}"))?;
            self.members.borrow_mut().retain(|m| m != peer_url);
            Ok(format!("member {peer_url} removed"))
        }
        .boxed_local()
    }
}
