//! Phase `addon`: kubeadm's CoreDNS and kube-proxy, plus the pod network (kubeup's own
//! sub-phase, so that the node is Ready at the end of `init`).

use super::{Ctx, PhaseError};
use crate::objects::{coredns, kube_proxy, pod_network};
use crate::plan::{ApplyMode, Plan, Step};

fn render_err(what: &str, reason: String) -> PhaseError {
    PhaseError::Render { what: what.into(), reason }
}

/// The add-on objects, applied with server-side apply.
pub fn render(ctx: &Ctx, only: Option<&str>) -> Result<Plan, PhaseError> {
    let cfg = ctx.cfg;
    let mut objects = Vec::new();
    if only.is_none_or(|o| o == "coredns") {
        objects.extend(coredns::coredns(cfg));
    }
    if only.is_none_or(|o| o == "kube-proxy") {
        objects.extend(kube_proxy::kube_proxy(cfg).map_err(|e| render_err("kube-proxy", e))?);
    }
    if only.is_none_or(|o| o == "pod-network") {
        objects.extend(pod_network::objects(cfg).map_err(|e| render_err("pod network", e))?);
    }
    Ok(Plan { steps: objects.into_iter().map(|object| Step::ApplyObject { object, mode: ApplyMode::Apply }).collect() })
}
