//! The default pod network's objects: flannel (the usual choice), kubeup's own `bridge`
//! network (its agent is kubeup's image, so it needs no extra image), or a user's manifest.
//!
//! Pure, except [`manifest`], which reads the user's file.

use std::collections::BTreeMap;

use k8s_openapi::api::core::v1::{
    Capabilities, ConfigMap, ConfigMapVolumeSource, Container, EnvVar, Namespace, PodSpec, SecurityContext, ServiceAccount, Toleration, Volume,
};
use k8s_openapi::api::rbac::v1::ClusterRole;
use serde_json::Value;

use super::rbac::{cluster_role_binding, rule, sa_subject};
use super::workloads::{daemon_set, field_env, host_path, linux, mount};
use super::{json, meta};
use crate::config::{Config, PodNetwork};

/// flannel's images (flannel v0.26, the release current with Kubernetes 1.3x).
pub const FLANNEL_IMAGE: &str = "ghcr.io/flannel-io/flannel:v0.26.7";
/// flannel's CNI plugin image.
pub const FLANNEL_CNI_PLUGIN_IMAGE: &str = "ghcr.io/flannel-io/flannel-cni-plugin:v1.6.2-flannel1";
/// Name of the bridge network's DaemonSet, ServiceAccount and ClusterRole(Binding).
pub const BRIDGE_NAME: &str = "kubeup-network";
/// The CNI config file the bridge agent writes on each node.
pub const BRIDGE_CONFLIST: &str = "10-kubeup-bridge.conflist";
/// The bridge the bridge network's CNI config names.
pub const BRIDGE_DEVICE: &str = "kubeup0";
/// The routing protocol number the bridge agent marks its routes with, so that only kubeup's
/// own routes are ever changed or flushed.
pub const ROUTE_PROTO: u8 = 0x4b;

/// The images a pod network needs on every node.
pub fn images(cfg: &Config) -> Vec<String> {
    match &cfg.pod_network {
        PodNetwork::Flannel => vec![FLANNEL_IMAGE.into(), FLANNEL_CNI_PLUGIN_IMAGE.into()],
        PodNetwork::Bridge => vec![cfg.kubeup_image.clone()],
        PodNetwork::None | PodNetwork::Manifest(_) => vec![],
    }
}

/// The objects of the configured pod network.
pub fn objects(cfg: &Config) -> Result<Vec<Value>, String> {
    match &cfg.pod_network {
        PodNetwork::Flannel => flannel(cfg),
        PodNetwork::Bridge => Ok(bridge(cfg)),
        PodNetwork::None => Ok(vec![]),
        PodNetwork::Manifest(path) => manifest(path),
    }
}

fn pod_subnet(cfg: &Config) -> Result<String, String> {
    cfg.pod_subnet.map(|p| p.to_string()).ok_or_else(|| format!("the {} pod network needs a pod range: pass --pod-network-cidr", cfg.pod_network))
}

/// flannel as its upstream manifest (kube-flannel.yml) installs it, with the cluster's pod range.
pub fn flannel(cfg: &Config) -> Result<Vec<Value>, String> {
    let ns = "kube-flannel";
    let app = ("app", "flannel");
    let net_conf = serde_json::json!({ "Network": pod_subnet(cfg)?, "EnableNFTables": false, "Backend": { "Type": "vxlan" } });
    let cni_conf = serde_json::json!({
        "name": "cbr0",
        "cniVersion": "0.3.1",
        "plugins": [
            { "type": "flannel", "delegate": { "hairpinMode": true, "isDefaultGateway": true } },
            { "type": "portmap", "capabilities": { "portMappings": true } },
        ],
    });
    let cm = ConfigMap {
        metadata: meta("kube-flannel-cfg", Some(ns), &[("tier", "node"), ("k8s-app", "flannel"), app]),
        data: Some(BTreeMap::from([("cni-conf.json".into(), format!("{cni_conf:#}")), ("net-conf.json".into(), format!("{net_conf:#}"))])),
        ..Default::default()
    };
    let install_plugin = Container {
        name: "install-cni-plugin".into(),
        image: Some(FLANNEL_CNI_PLUGIN_IMAGE.into()),
        command: Some(vec!["cp".into()]),
        args: Some(vec!["-f".into(), "/flannel".into(), "/opt/cni/bin/flannel".into()]),
        volume_mounts: Some(vec![mount("cni-plugin", "/opt/cni/bin", false)]),
        ..Default::default()
    };
    let install_cni = Container {
        name: "install-cni".into(),
        image: Some(FLANNEL_IMAGE.into()),
        command: Some(vec!["cp".into()]),
        args: Some(vec!["-f".into(), "/etc/kube-flannel/cni-conf.json".into(), "/etc/cni/net.d/10-flannel.conflist".into()]),
        volume_mounts: Some(vec![mount("cni", "/etc/cni/net.d", false), mount("flannel-cfg", "/etc/kube-flannel/", false)]),
        ..Default::default()
    };
    let flanneld = Container {
        name: "kube-flannel".into(),
        image: Some(FLANNEL_IMAGE.into()),
        command: Some(vec!["/opt/bin/flanneld".into()]),
        args: Some(vec!["--ip-masq".into(), "--kube-subnet-mgr".into()]),
        env: Some(vec![
            field_env("POD_NAME", "metadata.name"),
            field_env("POD_NAMESPACE", "metadata.namespace"),
            EnvVar { name: "EVENT_QUEUE_DEPTH".into(), value: Some("5000".into()), ..Default::default() },
        ]),
        security_context: Some(SecurityContext {
            privileged: Some(false),
            capabilities: Some(Capabilities { add: Some(vec!["NET_ADMIN".into(), "NET_RAW".into()]), drop: None }),
            ..Default::default()
        }),
        volume_mounts: Some(vec![
            mount("run", "/run/flannel", false),
            mount("flannel-cfg", "/etc/kube-flannel/", false),
            mount("xtables-lock", "/run/xtables.lock", false),
        ]),
        ..Default::default()
    };
    let pod = PodSpec {
        init_containers: Some(vec![install_plugin, install_cni]),
        containers: vec![flanneld],
        host_network: Some(true),
        priority_class_name: Some("system-node-critical".into()),
        service_account_name: Some("flannel".into()),
        tolerations: Some(vec![Toleration { operator: Some("Exists".into()), effect: Some("NoSchedule".into()), ..Default::default() }]),
        volumes: Some(vec![
            host_path("run", "/run/flannel", None),
            host_path("cni-plugin", "/opt/cni/bin", None),
            host_path("cni", "/etc/cni/net.d", None),
            Volume {
                name: "flannel-cfg".into(),
                config_map: Some(ConfigMapVolumeSource { name: "kube-flannel-cfg".into(), ..Default::default() }),
                ..Default::default()
            },
            host_path("xtables-lock", "/run/xtables.lock", Some("FileOrCreate")),
        ]),
        ..Default::default()
    };
    let role = ClusterRole {
        metadata: meta("flannel", None, &[("k8s-app", "flannel")]),
        rules: Some(vec![rule(&[""], &["pods"], &["get"]), rule(&[""], &["nodes"], &["get", "list", "watch"]), rule(&[""], &["nodes/status"], &["patch"])]),
        ..Default::default()
    };
    let mut ds = daemon_set("kube-flannel-ds", ns, app, pod);
    ds.metadata.labels.get_or_insert_default().insert("tier".into(), "node".into());
    Ok(vec![
        json(&Namespace { metadata: meta(ns, None, &[("k8s-app", "flannel"), ("pod-security.kubernetes.io/enforce", "privileged")]), ..Default::default() }),
        json(&ServiceAccount { metadata: meta("flannel", Some(ns), &[("k8s-app", "flannel")]), ..Default::default() }),
        json(&role),
        json(&cluster_role_binding("flannel", "flannel", vec![sa_subject("flannel", ns)])),
        json(&cm),
        json(&ds),
    ])
}

/// kubeup's bridge network: on every node, kubeup's own image (`kubeup network-agent`) writes a
/// bridge + host-local CNI config for the node's pod CIDR and keeps routes to the other nodes'
/// pod CIDRs via their addresses. Needs the nodes on one L2 subnet (as on one LAN or one
/// Docker network); flannel is the choice across routed networks.
pub fn bridge(cfg: &Config) -> Vec<Value> {
    let ns = "kube-system";
    let app = ("k8s-app", BRIDGE_NAME);
    let agent = Container {
        name: "agent".into(),
        image: Some(cfg.kubeup_image.clone()),
        image_pull_policy: Some("IfNotPresent".into()),
        args: Some(vec![
            "network-agent".into(),
            "--node-name=$(NODE_NAME)".into(),
            format!("--apiserver={}", cfg.cluster_endpoint().url()),
            "--cni-conf-dir=/etc/cni/net.d".into(),
        ]),
        env: Some(vec![field_env("NODE_NAME", "spec.nodeName")]),
        // Routes need NET_ADMIN in the host's network namespace; nothing more is asked.
        security_context: Some(SecurityContext { capabilities: Some(Capabilities { add: Some(vec!["NET_ADMIN".into()]), drop: None }), ..Default::default() }),
        volume_mounts: Some(vec![mount("cni", "/etc/cni/net.d", false)]),
        ..Default::default()
    };
    let pod = PodSpec {
        containers: vec![agent],
        host_network: Some(true),
        priority_class_name: Some("system-node-critical".into()),
        service_account_name: Some(BRIDGE_NAME.into()),
        node_selector: linux(),
        tolerations: Some(vec![Toleration { operator: Some("Exists".into()), ..Default::default() }]),
        volumes: Some(vec![host_path("cni", "/etc/cni/net.d", Some("DirectoryOrCreate"))]),
        ..Default::default()
    };
    let role =
        ClusterRole { metadata: meta(BRIDGE_NAME, None, &[]), rules: Some(vec![rule(&[""], &["nodes"], &["get", "list", "watch"])]), ..Default::default() };
    vec![
        json(&ServiceAccount { metadata: meta(BRIDGE_NAME, Some(ns), &[]), ..Default::default() }),
        json(&role),
        json(&cluster_role_binding(BRIDGE_NAME, BRIDGE_NAME, vec![sa_subject(BRIDGE_NAME, ns)])),
        json(&daemon_set(BRIDGE_NAME, ns, app, pod)),
    ]
}

/// The bridge + host-local CNI config for a node's pod CIDR (CNI spec 0.4.0, which Debian's and
/// upstream plugins ≥0.8 accept).
pub fn bridge_conflist(pod_cidr: &str) -> String {
    let default_route = if pod_cidr.contains(':') { "::/0" } else { "0.0.0.0/0" };
    let v = serde_json::json!({
        "cniVersion": "0.4.0",
        "name": "kubeup-bridge",
        "plugins": [
            {
                "type": "bridge",
                "bridge": BRIDGE_DEVICE,
                "isGateway": true,
                "ipMasq": true,
                "hairpinMode": true,
                "ipam": { "type": "host-local", "ranges": [[{ "subnet": pod_cidr }]], "routes": [{ "dst": default_route }] },
            },
            { "type": "portmap", "capabilities": { "portMappings": true } },
        ],
    });
    format!("{v:#}\n")
}

/// The objects of a manifest file: YAML (several documents) or JSON, `List`s flattened.
/// Every document must name its apiVersion, kind and name, so that a typo fails here, before
/// anything is applied.
pub fn manifest(path: &str) -> Result<Vec<Value>, String> {
    let text = std::fs::read_to_string(path).map_err(|e| format!("cannot read the pod network manifest {path}: {e}"))?;
    let docs: Vec<Value> = if text.trim_start().starts_with('{') {
        vec![serde_json::from_str(&text).map_err(|e| format!("pod network manifest {path} is not valid JSON: {e}"))?]
    } else {
        serde_saphyr::from_multiple(&text).map_err(|e| format!("pod network manifest {path} is not valid YAML: {e}"))?
    };
    let mut out = Vec::new();
    for (i, doc) in docs.into_iter().filter(|d| !d.is_null()).enumerate() {
        let items = if doc["kind"] == "List" { doc["items"].as_array().cloned().unwrap_or_default() } else { vec![doc] };
        for o in items {
            if o["apiVersion"].as_str().is_none() || o["kind"].as_str().is_none() || o["metadata"]["name"].as_str().is_none() {
                return Err(format!("pod network manifest {path}: document {} lacks apiVersion, kind or metadata.name", i + 1));
            }
            out.push(o);
        }
    }
    if out.is_empty() {
        return Err(format!("pod network manifest {path} holds no object"));
    }
    Ok(out)
}
