//! The `addon` phase's objects: kube-proxy and CoreDNS exactly as kubeadm creates them
//! (kubeadm.md §5), built from k8s-openapi types.
//!
//! Pure.

use std::collections::BTreeMap;

use k8s_openapi::api::apps::v1::{DaemonSet, DaemonSetSpec, DaemonSetUpdateStrategy, Deployment, DeploymentSpec, DeploymentStrategy, RollingUpdateDeployment};
use k8s_openapi::api::core::v1::{
    Affinity, Capabilities, ConfigMap, ConfigMapVolumeSource, Container, ContainerPort, EnvVar, EnvVarSource, HTTPGetAction, HostPathVolumeSource, KeyToPath,
    ObjectFieldSelector, PodAffinityTerm, PodAntiAffinity, PodSpec, PodTemplateSpec, Probe, ResourceRequirements, SecurityContext, Service, ServiceAccount,
    ServicePort, ServiceSpec, Toleration, Volume, VolumeMount, WeightedPodAffinityTerm,
};
use k8s_openapi::api::rbac::v1::{ClusterRole, ClusterRoleBinding, PolicyRule, Role, RoleBinding, RoleRef, Subject};
use k8s_openapi::apimachinery::pkg::api::resource::Quantity;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{LabelSelector, ObjectMeta};
use k8s_openapi::apimachinery::pkg::util::intstr::IntOrString;
use serde_json::Value;

use super::objects::{json, DEFAULT_NODE_TOKEN_GROUP};
use crate::config::Config;

/// Where kube-proxy's ConfigMap is mounted.
const KUBE_PROXY_DIR: &str = "/var/lib/kube-proxy";
/// The service account files every pod gets.
const SA_DIR: &str = "/var/run/secrets/kubernetes.io/serviceaccount";

pub(crate) fn labels(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
    pairs.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect()
}

pub(crate) fn meta(name: &str, ns: Option<&str>, l: &[(&str, &str)]) -> ObjectMeta {
    ObjectMeta { name: Some(name.into()), namespace: ns.map(str::to_string), labels: (!l.is_empty()).then(|| labels(l)), ..Default::default() }
}

pub(crate) fn rule(groups: &[&str], resources: &[&str], verbs: &[&str]) -> PolicyRule {
    PolicyRule {
        api_groups: Some(groups.iter().map(|s| s.to_string()).collect()),
        resources: Some(resources.iter().map(|s| s.to_string()).collect()),
        verbs: verbs.iter().map(|s| s.to_string()).collect(),
        ..Default::default()
    }
}

pub(crate) fn sa_subject(name: &str, ns: &str) -> Subject {
    Subject { kind: "ServiceAccount".into(), name: name.into(), namespace: Some(ns.into()), api_group: None }
}

pub(crate) fn cluster_role_binding(name: &str, role: &str, subjects: Vec<Subject>) -> ClusterRoleBinding {
    ClusterRoleBinding {
        metadata: meta(name, None, &[]),
        role_ref: RoleRef { api_group: "rbac.authorization.k8s.io".into(), kind: "ClusterRole".into(), name: role.into() },
        subjects: Some(subjects),
    }
}

pub(crate) fn host_path(name: &str, path: &str, type_: Option<&str>) -> Volume {
    Volume { name: name.into(), host_path: Some(HostPathVolumeSource { path: path.into(), type_: type_.map(str::to_string) }), ..Default::default() }
}

pub(crate) fn mount(name: &str, path: &str, read_only: bool) -> VolumeMount {
    VolumeMount { name: name.into(), mount_path: path.into(), read_only: read_only.then_some(true), ..Default::default() }
}

pub(crate) fn field_env(name: &str, path: &str) -> EnvVar {
    EnvVar {
        name: name.into(),
        value_from: Some(EnvVarSource { field_ref: Some(ObjectFieldSelector { field_path: path.into(), ..Default::default() }), ..Default::default() }),
        ..Default::default()
    }
}

pub(crate) fn daemon_set(name: &str, ns: &str, app: (&str, &str), pod: PodSpec) -> DaemonSet {
    DaemonSet {
        metadata: meta(name, Some(ns), &[app]),
        spec: Some(DaemonSetSpec {
            selector: LabelSelector { match_labels: Some(labels(&[app])), ..Default::default() },
            template: PodTemplateSpec { metadata: Some(ObjectMeta { labels: Some(labels(&[app])), ..Default::default() }), spec: Some(pod) },
            update_strategy: Some(DaemonSetUpdateStrategy { type_: Some("RollingUpdate".into()), ..Default::default() }),
            ..Default::default()
        }),
        ..Default::default()
    }
}

fn linux() -> Option<BTreeMap<String, String>> {
    Some(labels(&[("kubernetes.io/os", "linux")]))
}

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

/// The in-cluster kubeconfig kube-proxy uses: the service account's token and CA, the cluster's
/// endpoint (kube-proxy cannot use the `kubernetes` Service it is about to program).
pub fn in_cluster_kubeconfig(server: &str) -> Result<String, String> {
    use kube::config::{AuthInfo, Cluster, Context, Kubeconfig, NamedAuthInfo, NamedCluster, NamedContext};
    let kc = Kubeconfig {
        api_version: Some("v1".into()),
        kind: Some("Config".into()),
        clusters: vec![NamedCluster {
            name: "default".into(),
            cluster: Some(Cluster { server: Some(server.into()), certificate_authority: Some(format!("{SA_DIR}/ca.crt")), ..Default::default() }),
            ..Default::default()
        }],
        contexts: vec![NamedContext {
            name: "default".into(),
            context: Some(Context { cluster: "default".into(), user: Some("default".into()), namespace: Some("default".into()), ..Default::default() }),
            ..Default::default()
        }],
        current_context: Some("default".into()),
        auth_infos: vec![NamedAuthInfo {
            name: "default".into(),
            auth_info: Some(AuthInfo { token_file: Some(format!("{SA_DIR}/token")), ..Default::default() }),
            ..Default::default()
        }],
        ..Default::default()
    };
    crate::kubeconfig::to_yaml(&kc)
}

/// kubeadm's kube-proxy addon: ServiceAccount, ConfigMap, DaemonSet and RBAC.
pub fn kube_proxy(cfg: &Config) -> Result<Vec<Value>, String> {
    let ns = "kube-system";
    let app = ("k8s-app", "kube-proxy");
    let config = crate::yaml::to_string(&kube_proxy_configuration(cfg))?;
    let kubeconfig = in_cluster_kubeconfig(&cfg.cluster_endpoint().url())?;
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
        tolerations: Some(vec![Toleration { operator: Some("Exists".into()), ..Default::default() }]),
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
    let group = Subject { kind: "Group".into(), name: DEFAULT_NODE_TOKEN_GROUP.into(), api_group: Some("rbac.authorization.k8s.io".into()), namespace: None };
    Ok(vec![
        json(&ServiceAccount { metadata: meta("kube-proxy", Some(ns), &[]), ..Default::default() }),
        json(&cluster_role_binding("kubeadm:node-proxier", "system:node-proxier", vec![sa_subject("kube-proxy", ns)])),
        json(&Role {
            metadata: meta("kube-proxy", Some(ns), &[]),
            rules: Some(vec![PolicyRule { resource_names: Some(vec!["kube-proxy".into()]), ..rule(&[""], &["configmaps"], &["get"]) }]),
        }),
        json(&RoleBinding {
            metadata: meta("kube-proxy", Some(ns), &[]),
            role_ref: RoleRef { api_group: "rbac.authorization.k8s.io".into(), kind: "Role".into(), name: "kube-proxy".into() },
            subjects: Some(vec![group]),
        }),
        json(&cm),
        json(&daemon_set("kube-proxy", ns, app, pod)),
    ])
}

/// CoreDNS' Corefile as kubeadm writes it (CoreDNS' own format; there is no typed form).
pub fn corefile(dns_domain: &str) -> String {
    format!(
        ".:53 {{\n    errors\n    health {{\n       lameduck 5s\n    }}\n    ready\n    kubernetes {dns_domain} in-addr.arpa ip6.arpa {{\n       pods insecure\n       fallthrough in-addr.arpa ip6.arpa\n       ttl 30\n    }}\n    prometheus :9153\n    forward . /etc/resolv.conf {{\n       max_concurrent 1000\n    }}\n    cache 30 {{\n       disable success {dns_domain}\n       disable denial {dns_domain}\n    }}\n    loop\n    reload\n    loadbalance\n}}\n"
    )
}

fn port(name: &str, port: i32, protocol: &str) -> ContainerPort {
    ContainerPort { name: Some(name.into()), container_port: port, protocol: Some(protocol.into()), ..Default::default() }
}

fn http_probe(path: &str, port: i32, scheme: &str) -> HTTPGetAction {
    HTTPGetAction { path: Some(path.into()), port: IntOrString::Int(port), scheme: Some(scheme.into()), ..Default::default() }
}

/// kubeadm's CoreDNS addon: ServiceAccount, RBAC, ConfigMap, Deployment and the `kube-dns`
/// Service at the tenth service IP.
pub fn coredns(cfg: &Config) -> Vec<Value> {
    let ns = "kube-system";
    let app = ("k8s-app", "kube-dns");
    let facts = cfg.version.facts();
    let (path, tag) = facts.coredns_image;
    let mut tolerations = vec![Toleration { key: Some("CriticalAddonsOnly".into()), operator: Some("Exists".into()), ..Default::default() }];
    tolerations.extend(facts.control_plane_taints.iter().map(|t| Toleration {
        key: Some(t.to_string()),
        effect: Some("NoSchedule".into()),
        ..Default::default()
    }));
    let container = Container {
        name: "coredns".into(),
        image: Some(format!("{}/{path}:{tag}", cfg.image_repository)),
        image_pull_policy: Some("IfNotPresent".into()),
        args: Some(vec!["-conf".into(), "/etc/coredns/Corefile".into()]),
        ports: Some(vec![port("dns", 53, "UDP"), port("dns-tcp", 53, "TCP"), port("metrics", 9153, "TCP")]),
        resources: Some(ResourceRequirements {
            requests: Some(BTreeMap::from([("cpu".into(), Quantity("100m".into())), ("memory".into(), Quantity("70Mi".into()))])),
            limits: Some(BTreeMap::from([("memory".into(), Quantity("170Mi".into()))])),
            ..Default::default()
        }),
        liveness_probe: Some(Probe {
            http_get: Some(http_probe("/health", 8080, "HTTP")),
            initial_delay_seconds: Some(60),
            timeout_seconds: Some(5),
            success_threshold: Some(1),
            failure_threshold: Some(5),
            ..Default::default()
        }),
        readiness_probe: Some(Probe { http_get: Some(http_probe("/ready", 8181, "HTTP")), ..Default::default() }),
        security_context: Some(SecurityContext {
            allow_privilege_escalation: Some(false),
            capabilities: Some(Capabilities { add: Some(vec!["NET_BIND_SERVICE".into()]), drop: Some(vec!["ALL".into()]) }),
            read_only_root_filesystem: Some(true),
            ..Default::default()
        }),
        volume_mounts: Some(vec![mount("config-volume", "/etc/coredns", true)]),
        ..Default::default()
    };
    let pod = PodSpec {
        containers: vec![container],
        dns_policy: Some("Default".into()),
        priority_class_name: Some("system-cluster-critical".into()),
        service_account_name: Some("coredns".into()),
        node_selector: linux(),
        tolerations: Some(tolerations),
        affinity: Some(Affinity {
            pod_anti_affinity: Some(PodAntiAffinity {
                preferred_during_scheduling_ignored_during_execution: Some(vec![WeightedPodAffinityTerm {
                    weight: 100,
                    pod_affinity_term: PodAffinityTerm {
                        label_selector: Some(LabelSelector {
                            match_expressions: Some(vec![k8s_openapi::apimachinery::pkg::apis::meta::v1::LabelSelectorRequirement {
                                key: "k8s-app".into(),
                                operator: "In".into(),
                                values: Some(vec!["kube-dns".into()]),
                            }]),
                            ..Default::default()
                        }),
                        topology_key: "kubernetes.io/hostname".into(),
                        ..Default::default()
                    },
                }]),
                ..Default::default()
            }),
            ..Default::default()
        }),
        volumes: Some(vec![Volume {
            name: "config-volume".into(),
            config_map: Some(ConfigMapVolumeSource {
                name: "coredns".into(),
                items: Some(vec![KeyToPath { key: "Corefile".into(), path: "Corefile".into(), ..Default::default() }]),
                ..Default::default()
            }),
            ..Default::default()
        }]),
        ..Default::default()
    };
    let deployment = Deployment {
        metadata: meta("coredns", Some(ns), &[app]),
        spec: Some(DeploymentSpec {
            replicas: Some(2),
            selector: LabelSelector { match_labels: Some(labels(&[app])), ..Default::default() },
            strategy: Some(DeploymentStrategy {
                type_: Some("RollingUpdate".into()),
                rolling_update: Some(RollingUpdateDeployment { max_unavailable: Some(IntOrString::Int(1)), ..Default::default() }),
            }),
            template: PodTemplateSpec { metadata: Some(ObjectMeta { labels: Some(labels(&[app])), ..Default::default() }), spec: Some(pod) },
            ..Default::default()
        }),
        ..Default::default()
    };
    let service = Service {
        metadata: ObjectMeta {
            annotations: Some(labels(&[("prometheus.io/port", "9153"), ("prometheus.io/scrape", "true")])),
            ..meta("kube-dns", Some(ns), &[app, ("kubernetes.io/cluster-service", "true"), ("kubernetes.io/name", "CoreDNS")])
        },
        spec: Some(ServiceSpec {
            cluster_ip: Some(cfg.dns_service_ip().to_string()),
            selector: Some(labels(&[app])),
            ports: Some(vec![
                ServicePort { name: Some("dns".into()), port: 53, protocol: Some("UDP".into()), target_port: Some(IntOrString::Int(53)), ..Default::default() },
                ServicePort {
                    name: Some("dns-tcp".into()),
                    port: 53,
                    protocol: Some("TCP".into()),
                    target_port: Some(IntOrString::Int(53)),
                    ..Default::default()
                },
                ServicePort {
                    name: Some("metrics".into()),
                    port: 9153,
                    protocol: Some("TCP".into()),
                    target_port: Some(IntOrString::Int(9153)),
                    ..Default::default()
                },
            ]),
            ..Default::default()
        }),
        ..Default::default()
    };
    let role = ClusterRole {
        metadata: meta("system:coredns", None, &[]),
        rules: Some(vec![
            rule(&[""], &["endpoints", "services", "pods", "namespaces"], &["list", "watch"]),
            rule(&[""], &["nodes"], &["get"]),
            rule(&["discovery.k8s.io"], &["endpointslices"], &["list", "watch"]),
        ]),
        ..Default::default()
    };
    vec![
        json(&ServiceAccount { metadata: meta("coredns", Some(ns), &[]), ..Default::default() }),
        json(&role),
        json(&cluster_role_binding("system:coredns", "system:coredns", vec![sa_subject("coredns", ns)])),
        json(&ConfigMap {
            metadata: meta("coredns", Some(ns), &[]),
            data: Some(BTreeMap::from([("Corefile".into(), corefile(&cfg.dns_domain))])),
            ..Default::default()
        }),
        json(&deployment),
        json(&service),
    ]
}
