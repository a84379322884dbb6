//! `kubeup network-agent`: the `bridge` pod network's per-node agent (it runs from kubeup's own
//! image as the `kubeup-network` DaemonSet). On each pass it writes this node's bridge CNI config
//! for the pod CIDR the controller-manager allocated, and makes the node's routes to every other
//! node's pod CIDR match the Nodes in the API: added when a node joins, changed when its address
//! changes, removed when it leaves.

pub mod netlink;

use std::collections::BTreeSet;
use std::net::IpAddr;
use std::path::PathBuf;
use std::time::Duration;

use k8s_openapi::api::core::v1::Node;
use kube::api::{Api, ListParams};

use crate::objects::pod_network::{bridge_conflist, BRIDGE_CONFLIST};
use netlink::{Netlink, Route};

/// What the agent is told.
#[derive(Debug, Clone)]
pub struct AgentArgs {
    /// This node's name.
    pub node_name: String,
    /// The API server URL (not the `kubernetes` Service: kube-proxy may not run yet).
    pub apiserver: String,
    /// Where the CNI config goes (the host's /etc/cni/net.d, mounted).
    pub cni_conf_dir: PathBuf,
    /// Time between passes.
    pub interval: Duration,
    /// One pass, then exit (for tests and debugging).
    pub once: bool,
}

fn node_cidrs(n: &Node) -> Vec<String> {
    let spec = n.spec.clone().unwrap_or_default();
    let mut v = spec.pod_cidrs.unwrap_or_default();
    if v.is_empty() {
        v.extend(spec.pod_cidr);
    }
    v
}

fn internal_ips(n: &Node) -> Vec<IpAddr> {
    n.status
        .as_ref()
        .and_then(|s| s.addresses.as_ref())
        .map(|a| a.iter().filter(|a| a.type_ == "InternalIP").filter_map(|a| a.address.parse().ok()).collect())
        .unwrap_or_default()
}

/// The routes this node needs: every other node's pod CIDR via that node's InternalIP of the
/// same family. Nodes without a CIDR or an address yet are skipped until they have one.
pub fn desired_routes(nodes: &[Node], own: &str) -> BTreeSet<Route> {
    let mut routes = BTreeSet::new();
    for n in nodes.iter().filter(|n| n.metadata.name.as_deref() != Some(own)) {
        let ips = internal_ips(n);
        for cidr in node_cidrs(n) {
            let Ok(c) = cidr.parse::<crate::config::Cidr>() else { continue };
            if let Some(via) = ips.iter().find(|ip| ip.is_ipv4() == c.is_ipv4()) {
                routes.insert(Route { dst: c.network(), len: c.prefix(), via: *via });
            }
        }
    }
    routes
}

/// One pass; returns what changed, for the log, and the list's resourceVersion (to watch from).
async fn sync(client: &kube::Client, nl: &mut Netlink, args: &AgentArgs) -> Result<(Vec<String>, String), String> {
    let nodes: Api<Node> = Api::all(client.clone());
    let list = nodes.list(&ListParams::default()).await.map_err(|e| format!("listing nodes: {e}"))?;
    let mut changes = Vec::new();
    let own = list.items.iter().find(|n| n.metadata.name.as_deref() == Some(args.node_name.as_str()));
    match own.map(node_cidrs).and_then(|c| c.first().cloned()) {
        None => changes.push(format!("node {} has no pod CIDR yet (the controller-manager allocates it when --pod-network-cidr is set)", args.node_name)),
        Some(cidr) => {
            let path = args.cni_conf_dir.join(BRIDGE_CONFLIST);
            let want = bridge_conflist(&cidr);
            if std::fs::read_to_string(&path).ok().as_deref() != Some(want.as_str()) {
                std::fs::create_dir_all(&args.cni_conf_dir).map_err(|e| format!("{}: {e}", args.cni_conf_dir.display()))?;
                crate::host::fs::atomic_write(&path, want.as_bytes(), 0o644).map_err(|e| format!("{}: {e}", path.display()))?;
                changes.push(format!("wrote {} for pod CIDR {cidr}", path.display()));
            }
        }
    }
    let want = desired_routes(&list.items, &args.node_name);
    let have: BTreeSet<Route> = nl.kubeup_routes().map_err(|e| format!("listing routes: {e}"))?.into_iter().collect();
    for r in want.difference(&have) {
        match nl.replace(r) {
            Ok(()) => changes.push(format!("route {r} added")),
            // ENETUNREACH: the other node is not on a subnet of this one.
            Err(e) => {
                changes.push(format!("route {r} cannot be added ({e}): the bridge network needs all nodes on one subnet; use flannel across routed networks"))
            }
        }
    }
    for r in have.difference(&want) {
        nl.delete(r).map_err(|e| format!("removing route {r}: {e}"))?;
        changes.push(format!("route {r} removed (its node left or changed)"));
    }
    Ok((changes, list.metadata.resource_version.unwrap_or_default()))
}

/// Run the agent until SIGTERM (it is PID 1 of its container, which ignores SIGTERM unless
/// handled).
pub async fn run(args: AgentArgs) -> Result<(), String> {
    let kubeconfig = crate::objects::kube_proxy::in_cluster_kubeconfig(&args.apiserver)?;
    let client = crate::cluster::client::client_from_kubeconfig(&kubeconfig, "the service account").await.map_err(|e| e.to_string())?;
    let mut nl = Netlink::open().map_err(|e| format!("cannot open a netlink socket (the agent needs NET_ADMIN in the host network): {e}"))?;
    let mut term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()).map_err(|e| e.to_string())?;
    loop {
        let mut version = String::new();
        match sync(&client, &mut nl, &args).await {
            Ok((changes, rv)) => {
                changes.iter().for_each(|c| eprintln!("[network-agent] {c}"));
                version = rv;
            }
            Err(e) if args.once => return Err(e),
            Err(e) => eprintln!("[network-agent] {e}; retrying in {} s", args.interval.as_secs()),
        }
        if args.once {
            return Ok(());
        }
        // The next pass comes at the next change of any Node after the listed state (a node
        // joining, getting its pod CIDR or an address, leaving), or after the interval.
        let nodes: Api<Node> = Api::all(client.clone());
        let params = kube::api::WatchParams::default().timeout(args.interval.as_secs().clamp(1, 290) as u32);
        let changed = async {
            match (version.is_empty(), nodes.watch(&params, &version).await) {
                (false, Ok(stream)) => {
                    let mut stream = std::pin::pin!(stream);
                    if futures_util::StreamExt::next(&mut stream).await.is_none() {
                        tokio::time::sleep(args.interval).await;
                    }
                }
                _ => tokio::time::sleep(args.interval).await,
            }
        };
        tokio::select! {
            // A short pause after a change keeps a flapping watch from turning into a busy loop.
            _ = changed => tokio::time::sleep(Duration::from_millis(200)).await,
            _ = tokio::time::sleep(args.interval) => {}
            _ = term.recv() => return Ok(()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn node(name: &str, cidr: Option<&str>, ip: Option<&str>) -> Node {
        serde_json::from_value(serde_json::json!({
            "metadata": { "name": name },
            "spec": { "podCIDR": cidr },
            "status": { "addresses": ip.map(|i| vec![serde_json::json!({ "type": "InternalIP", "address": i }), serde_json::json!({ "type": "Hostname", "address": name })]).unwrap_or_default() },
        }))
        .unwrap()
    }

    #[test]
    fn routes_go_to_every_other_node_that_has_a_cidr_and_an_address() {
        let nodes = [
            node("n1", Some("10.244.0.0/24"), Some("172.29.1.11")),
            node("n2", Some("10.244.1.0/24"), Some("172.29.1.12")),
            node("n3", None, Some("172.29.1.13")),
            node("n4", Some("10.244.3.0/24"), None),
        ];
        let r: Vec<String> = desired_routes(&nodes, "n1").iter().map(|r| r.to_string()).collect();
        assert_eq!(r, vec!["10.244.1.0/24 via 172.29.1.12"]);
        let r: Vec<String> = desired_routes(&nodes, "n2").iter().map(|r| r.to_string()).collect();
        assert_eq!(r, vec!["10.244.0.0/24 via 172.29.1.11"]);
    }
}
