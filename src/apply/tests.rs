//! The executor driven with the recording fakes: a real `init` plan (rendered as the command
//! renders it) carried out with a failure injected at every single call of every edge, and
//! killed after every single step, to prove what a failed or interrupted run leaves behind.

use super::edges::Edges;
use super::executor::{ExecError, Executor, Outcome};
use super::fake::{FakeCluster, FakeEtcd, FakeHost, FakeRuntime, Faults, Log};
use super::journal::RollbackScope;
use crate::config::{self, HostDefaults, Settings};
use crate::facts::HostFacts;
use crate::plan::{FileKind, PhasePlan, Plan, Step, WaitTarget, WritePolicy};
use crate::workflow::{self, Inputs, Selection};

fn cfg() -> config::Config {
    let file = config::parse_text(
        "apiVersion: kubeup.io/v1alpha1\nkind: Configuration\nkubernetesVersion: v1.20.2\nnetworking:\n  podSubnet: 10.244.0.0/16\nnode:\n  name: cp-1\n  advertiseAddress: 192.0.2.10\nskipPhases: [preflight]\n",
    )
    .unwrap();
    config::resolve(Some(file), &Settings::default(), &HostDefaults { hostname: Some("cp-1".into()), ..Default::default() }).unwrap()
}

/// `init`'s plans for an empty host.
fn init_plans() -> Vec<PhasePlan> {
    let host = FakeHost::new(Log::default());
    let cfg = cfg();
    let facts = HostFacts::default();
    let options = crate::phases::Options::default();
    let inputs = Inputs { cfg: &cfg, facts: &facts, files: &host, options: &options, join: None };
    workflow::render_init(&inputs, &Selection::All, false).unwrap().plans
}

/// One node's edges.
#[derive(Default)]
struct Node {
    host: FakeHost,
    runtime: FakeRuntime,
    cluster: FakeCluster,
    etcd: FakeEtcd,
}

impl Node {
    fn new() -> Node {
        Node { host: FakeHost::new(Log::default()), ..Default::default() }
    }

    async fn run(&mut self, plans: &[PhasePlan]) -> Result<Outcome, ExecError> {
        let edges = Edges { host: &mut self.host, runtime: &self.runtime, cluster: &self.cluster, etcd: &self.etcd };
        Executor::new(edges).unwrap().run(plans).await
    }

    /// The same node state with fresh logs and faults (a new process on the same machine).
    fn restart(self, host: Faults, runtime: Faults, cluster: Faults) -> Node {
        let mut n = self;
        n.host.log = Log::failing(host);
        n.runtime.log = Log::failing(runtime);
        n.cluster.log = Log::failing(cluster);
        n.etcd.log = Log::default();
        n
    }
}

/// The paths whose mode or content differ between two snapshots (a readable assertion).
fn differ(a: &[(String, u32, Option<Vec<u8>>)], b: &[(String, u32, Option<Vec<u8>>)]) -> Vec<String> {
    let map = |s: &[(String, u32, Option<Vec<u8>>)]| s.iter().map(|(p, m, c)| (p.clone(), (*m, c.clone()))).collect::<std::collections::BTreeMap<_, _>>();
    let (a, b) = (map(a), map(b));
    a.keys().chain(b.keys()).filter(|k| a.get(*k) != b.get(*k)).cloned().collect::<std::collections::BTreeSet<_>>().into_iter().collect()
}

fn rt() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap()
}

#[test]
fn a_clean_run_completes_and_a_rerun_changes_nothing() {
    let plans = init_plans();
    rt().block_on(async {
        let mut node = Node::new();
        let first = node.run(&plans).await.unwrap();
        assert!(first.changes.created > 30, "{:?}", first.changes);
        let after = node.host.snapshot();
        assert_eq!(node.runtime.containers.borrow().len(), 2, "the kubelet and the certificate renewer");
        let again = node.run(&plans).await.unwrap();
        assert_eq!((again.changes.created, again.changes.replaced, again.changes.dirs_created), (0, 0, 0), "{:?}", again.changes);
        assert!(differ(&node.host.snapshot(), &after).is_empty(), "a re-run changed {:?}", differ(&node.host.snapshot(), &after));
        assert!(again.notes.iter().any(|n| n.contains("already running with this configuration; kept")), "{:?}", again.notes);
    });
}

/// Fail the n-th call of one edge, for every n a clean run makes; the outcome must be: nothing
/// left behind when nothing had started, or a node a re-run completes.
fn fail_everywhere(edge: &str) {
    let plans = init_plans();
    rt().block_on(async {
        let mut clean = Node::new();
        clean.run(&plans).await.unwrap();
        let calls = match edge {
            "host" => clean.host.log.calls().len(),
            "runtime" => clean.runtime.log.calls().len(),
            _ => clean.cluster.log.calls().len(),
        };
        assert!(calls > 0, "{edge} is never called");
        let (mut rolled_back, mut kept_live) = (0, 0);
        for n in 1..=calls {
            let fault = || Faults { at_call: Some(n), matching: None };
            let node = Node::new();
            let before = node.host.snapshot();
            let mut node = match edge {
                "host" => node.restart(fault(), Faults::default(), Faults::default()),
                "runtime" => node.restart(Faults::default(), fault(), Faults::default()),
                _ => node.restart(Faults::default(), Faults::default(), fault()),
            };
            let err = node.run(&plans).await.expect_err("an injected failure must fail the run");
            assert!(err.to_string().contains("injected failure"), "{err}");
            match err.scope {
                RollbackScope::Everything => {
                    rolled_back += 1;
                    assert!(
                        differ(&node.host.snapshot(), &before).is_empty(),
                        "{edge} call {n}: a rolled-back run left {:?} ({err})",
                        differ(&node.host.snapshot(), &before)
                    );
                    assert!(node.runtime.containers.borrow().is_empty(), "{edge} call {n}: a container survived the rollback");
                }
                RollbackScope::ClusterOnly => kept_live += 1,
            }
            // Either way, the command run again completes.
            let mut node = node.restart(Faults::default(), Faults::default(), Faults::default());
            node.run(&plans).await.unwrap_or_else(|e| panic!("{edge} call {n}: the re-run failed: {e}"));
            let d = differ(&node.host.snapshot(), &clean.host.snapshot());
            assert!(d.is_empty(), "{edge} call {n}: the re-run did not converge: {d:?}");
        }
        assert!(rolled_back + kept_live == calls);
        if edge == "host" {
            assert!(rolled_back > 0 && kept_live > 0, "both scopes must be reached: {rolled_back} rolled back, {kept_live} live");
        }
    });
}

#[test]
fn a_failure_at_any_host_call_rolls_back_or_leaves_a_node_a_rerun_completes() {
    fail_everywhere("host");
}

#[test]
fn a_failure_at_any_runtime_call_rolls_back_or_leaves_a_node_a_rerun_completes() {
    fail_everywhere("runtime");
}

#[test]
fn a_failure_at_any_api_call_rolls_back_or_leaves_a_node_a_rerun_completes() {
    fail_everywhere("cluster");
}

#[test]
fn a_run_killed_after_any_step_converges_when_run_again() {
    let plans = init_plans();
    let steps: usize = plans.iter().map(|p| p.plan.steps.len()).sum();
    rt().block_on(async {
        let mut clean = Node::new();
        clean.run(&plans).await.unwrap();
        for k in 0..=steps {
            // The first k steps only: what a run killed (SIGKILL, no rollback) right after step k did.
            let mut left = k;
            let cut: Vec<PhasePlan> = plans
                .iter()
                .map(|p| {
                    let take = left.min(p.plan.steps.len());
                    left -= take;
                    PhasePlan { phase: p.phase.clone(), plan: Plan { steps: p.plan.steps[..take].to_vec() } }
                })
                .collect();
            let mut node = Node::new();
            node.run(&cut).await.unwrap_or_else(|e| panic!("killed after step {k}: the partial run failed: {e}"));
            node.run(&plans).await.unwrap_or_else(|e| panic!("killed after step {k}: the re-run failed: {e}"));
            let d = differ(&node.host.snapshot(), &clean.host.snapshot());
            assert!(d.is_empty(), "killed after step {k}: the re-run did not converge: {d:?}");
            assert_eq!(node.runtime.containers.borrow().len(), 2, "killed after step {k}: a second kubelet or renewer container");
        }
    });
}

#[test]
fn a_failed_control_plane_join_withdraws_the_etcd_member_it_added() {
    let peer = "https://192.0.2.11:2380".to_string();
    let endpoint = "https://192.0.2.10:2379".to_string();
    let manifest = crate::plan::FileSpec {
        path: crate::paths::manifest("etcd"),
        contents: b"etcd".to_vec(),
        mode: 0o600,
        policy: WritePolicy::Replace,
        kind: FileKind::Manifest,
    };
    let spec = crate::kubelet::container::ContainerSpec {
        name: "kubeup-kubelet".into(),
        image: "kubelet".into(),
        args: vec![],
        labels: Default::default(),
        mounts: vec![],
        host_namespaces: true,
        privileged: true,
        restart_policy: "unless-stopped".into(),
        log_rotation: ("50m".into(), 3),
    };
    let plans = vec![PhasePlan {
        phase: "etcd-join".into(),
        plan: Plan {
            steps: vec![
                Step::EtcdAddLearner { endpoint: endpoint.clone(), peer_url: peer.clone() },
                Step::WriteFile(manifest),
                Step::RunContainer(Box::new(spec)),
                Step::Wait { target: WaitTarget::Etcd, timeout_secs: 1 },
                Step::EtcdPromote { endpoint, peer_url: peer.clone() },
            ],
        },
    }];
    rt().block_on(async {
        let mut node = Node::new().restart(Faults::default(), Faults::default(), Faults { at_call: None, matching: Some("wait Etcd".into()) });
        let err = node.run(&plans).await.unwrap_err();
        assert_eq!(err.scope, RollbackScope::ClusterOnly, "the kubelet had started");
        assert!(node.etcd.members.borrow().is_empty(), "the learner stays in etcd: {:?}", node.etcd.members.borrow());
        assert!(err.rollback.undone.iter().any(|u| u.contains(&peer)), "{err}");
        assert!(err.to_string().contains("withdrawn from the cluster"), "{err}");
    });
}

#[test]
fn only_privileged_containers_are_described_with_the_granted_privileges() {
    let mut plans = init_plans();
    for p in &mut plans {
        for s in &mut p.plan.steps {
            if let Step::RunContainer(spec) = s {
                if spec.name.ends_with("cert-renewer") {
                    spec.privileged = false;
                }
            }
        }
    }
    rt().block_on(async {
        let out = Node::new().run(&plans).await.unwrap();
        let note = |name: &str| out.notes.iter().find(|n| n.contains(&format!("container {name} "))).cloned().unwrap_or_default();
        assert!(note("kubeup-cert-renewer").contains("; unprivileged;"), "{:?}", out.notes);
        assert!(note("kubeup-kubelet").contains("privileges recorded"), "{:?}", out.notes);
    });
}
