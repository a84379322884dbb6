//! kubeadm's kube-proxy add-on: ServiceAccount, RBAC, ConfigMap (its KubeProxyConfiguration
//! and in-cluster kubeconfig) and DaemonSet.
//!
//! Pure.

use std::collections::BTreeMap;

use k8s_openapi::api::core::v1::{ConfigMap, ConfigMapVolumeSource, Container, PodSpec, SecurityContext, ServiceAccount, Toleration, Volume};
use serde_json::Value;

use super::rbac::{cluster_role_binding, role_and_binding, rule_named, sa_subject, subject};
use super::workloads::{daemon_set, field_env, host_path, linux, mount};
use super::{json, meta, DEFAULT_NODE_TOKEN_GROUP};
use crate::config::Config;

/// Where kube-proxy's ConfigMap is mounted.
const KUBE_PROXY_DIR: &str = "/var/lib/kube-proxy";
/// The service account files every pod gets.
const SA_DIR: &str = "/var/run/secrets/kubernetes.io/serviceaccount";

/// kube-proxy's KubeProxyConfiguration: kubeadm's defaults under the user's overrides.
pub fn kube_proxy_configuration(cfg: &Config) -> Value {
    let mut v = serde_json::json!({
        "apiVersion": "kubeproxy.config.k8s.io/v1alpha1",
        "kind": "KubeProxyConfiguration",
        "bindAddress": if cfg.advertise_address.is_ipv4() { "0.0.0.0" } else { "::" },
        "clientConnection": { "kubeconfig": format!("{KUBE_PROXY_DIR}/kubeconfig.conf") },
        "clusterCIDR": cfg.pod_subnet.map(|p| p.to_string()).unwrap_or_default(),
        "mode": "",
    });
    if cfg.kube_proxy_overrides.is_object() {
        crate::config::merge_json(&mut v, &cfg.kube_proxy_overrides);
    }
    v
}

/// The in-cluster kubeconfig kube-proxy uses: the service account's token and CA, and the API
/// at `https://127.0.0.1:<API port>` (kube-proxy cannot use the `kubernetes` Service it is about
/// to program). That address is the API on every node: a control plane's own API server, a
/// worker's `kubeup-api-proxy` (`phases::api_proxy`). One ConfigMap serves every node and no
/// node's kube-proxy depends on a single control plane.
pub fn in_cluster_kubeconfig(server: &str) -> Result<String, String> {
    use crate::kubeconfig::{build, AuthInfo, Ca, Parts};
    let ca = format!("{SA_DIR}/ca.crt");
    let auth = AuthInfo { token_file: Some(format!("{SA_DIR}/token")), ..Default::default() };
    crate::kubeconfig::to_yaml(&build(Parts {
        cluster: "default",
        server,
        ca: Ca::File(&ca),
        user: Some(("default", auth)),
        context: Some("default"),
        namespace: Some("default"),
    }))
}

/// The API as every node reaches it on loopback (see [`in_cluster_kubeconfig`]).
pub fn local_api_url(port: u16) -> String {
    format!("https://127.0.0.1:{port}")
}

/// kubeadm's kube-proxy addon: ServiceAccount, ConfigMap, DaemonSet and RBAC.
pub fn kube_proxy(cfg: &Config) -> Result<Vec<Value>, String> {
    let ns = "kube-system";
    let app = ("k8s-app", "kube-proxy");
    let config = crate::yaml::to_string(&kube_proxy_configuration(cfg))?;
    let kubeconfig = in_cluster_kubeconfig(&local_api_url(cfg.bind_port))?;
    let cm = ConfigMap {
        metadata: meta("kube-proxy", Some(ns), &[("app", "kube-proxy")]),
        data: Some(BTreeMap::from([("config.conf".into(), config), ("kubeconfig.conf".into(), kubeconfig)])),
        ..Default::default()
    };
    let container = Container {
        name: "kube-proxy".into(),
        image: Some(cfg.image("kube-proxy")),
        image_pull_policy: Some("IfNotPresent".into()),
        command: Some(vec!["/usr/local/bin/kube-proxy".into(), format!("--config={KUBE_PROXY_DIR}/config.conf"), "--hostname-override=$(NODE_NAME)".into()]),
        env: Some(vec![field_env("NODE_NAME", "spec.nodeName")]),
        security_context: Some(SecurityContext { privileged: Some(true), ..Default::default() }),
        volume_mounts: Some(vec![
            mount("kube-proxy", KUBE_PROXY_DIR, false),
            mount("xtables-lock", "/run/xtables.lock", false),
            mount("lib-modules", "/lib/modules", true),
        ]),
        ..Default::default()
    };
    let pod = PodSpec {
        containers: vec![container],
        host_network: Some(true),
        priority_class_name: Some("system-node-critical".into()),
        service_account_name: Some("kube-proxy".into()),
        node_selector: linux(),
        tolerations: Some(
            [
                cfg.version.facts().kube_proxy_critical_addons_toleration.then(|| Toleration {
                    key: Some("CriticalAddonsOnly".into()),
                    operator: Some("Exists".into()),
                    ..Default::default()
                }),
                Some(Toleration { operator: Some("Exists".into()), ..Default::default() }),
            ]
            .into_iter()
            .flatten()
            .collect(),
        ),
        volumes: Some(vec![
            Volume {
                name: "kube-proxy".into(),
                config_map: Some(ConfigMapVolumeSource { name: "kube-proxy".into(), ..Default::default() }),
                ..Default::default()
            },
            host_path("xtables-lock", "/run/xtables.lock", Some("FileOrCreate")),
            host_path("lib-modules", "/lib/modules", None),
        ]),
        ..Default::default()
    };
    let [role, binding] =
        role_and_binding("kube-proxy", ns, vec![rule_named(&["configmaps"], &["get"], &["kube-proxy"])], vec![subject("Group", DEFAULT_NODE_TOKEN_GROUP)]);
    Ok(vec![
        json(&ServiceAccount { metadata: meta("kube-proxy", Some(ns), &[]), ..Default::default() }),
        json(&cluster_role_binding("kubeadm:node-proxier", "system:node-proxier", vec![sa_subject("kube-proxy", ns)])),
        role,
        binding,
        json(&cm),
        json(&daemon_set("kube-proxy", ns, app, pod)),
    ])
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::{parse_text, resolve, HostDefaults, Settings};

    /// kube-proxy's one kubeconfig names the API on loopback, never the control-plane endpoint:
    /// on a worker that is the api-proxy, and a control plane that dies must not take every
    /// node's kube-proxy with it.
    #[test]
    fn kube_proxy_talks_to_the_api_on_loopback_not_the_endpoint() {
        let file = parse_text("apiVersion: kubeup.io/v1alpha1\nkind: Configuration\ncontrolPlaneEndpoint: api.example.com:443\n").unwrap();
        let host = HostDefaults { hostname: Some("cp-1".into()), address: Some("192.0.2.10".parse().unwrap()), ..Default::default() };
        let cfg = resolve(Some(file), &Settings::default(), &host).unwrap();
        let objects = kube_proxy(&cfg).unwrap();
        let cm = objects.iter().find(|o| o["kind"] == "ConfigMap").unwrap();
        let kubeconfig = cm["data"]["kubeconfig.conf"].as_str().unwrap();
        assert!(kubeconfig.contains("server: https://127.0.0.1:6443"), "{kubeconfig}");
        assert!(!kubeconfig.contains("api.example.com"), "{kubeconfig}");
    }
}
