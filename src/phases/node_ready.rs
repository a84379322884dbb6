//! Phase `wait-node-ready` (kubeup only): `init` ends when this node is Ready with its pod
//! network, which is what a person waits for, not when the installer has merely written files.
//! kubeadm returns earlier and leaves the node NotReady until someone installs a network.

use super::{Ctx, PhaseError};
use crate::config::PodNetwork;
use crate::plan::{Plan, Step, WaitTarget};

/// How long the node may take to become Ready once its network objects exist (the network's
/// images may still be loading or pulling).
pub const NODE_READY_TIMEOUT_SECS: u64 = 240;

/// Whether this init installs a pod network (so the node can become Ready without the user).
fn installs_network(ctx: &Ctx) -> bool {
    let skipped = ctx.cfg.skip_phases.iter().any(|s| s == "addon" || s == "addon/pod-network");
    !skipped && ctx.cfg.pod_network != PodNetwork::None
}

/// The wait for this Node Ready, or a note on why there is none.
pub fn render(ctx: &Ctx, _only: Option<&str>) -> Result<Plan, PhaseError> {
    if installs_network(ctx) {
        return Ok(Plan { steps: vec![Step::Wait { target: WaitTarget::NodeReady, timeout_secs: NODE_READY_TIMEOUT_SECS }] });
    }
    Ok(Plan {
        steps: vec![Step::Say {
            text: format!(
                "[wait-node-ready] no pod network was installed by this run: node {} becomes Ready once you install one (kubectl apply -f <your network>)",
                ctx.cfg.node_name
            ),
            secret: false,
        }],
    })
}
