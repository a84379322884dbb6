//! kubeadm's CoreDNS add-on: ServiceAccount, RBAC, the Corefile, the Deployment and the
//! `kube-dns` Service at the tenth service IP.
//!
//! Pure.

use std::collections::BTreeMap;

use k8s_openapi::api::apps::v1::{Deployment, DeploymentSpec, DeploymentStrategy, RollingUpdateDeployment};
use k8s_openapi::api::core::v1::{
    Affinity, Capabilities, ConfigMap, ConfigMapVolumeSource, Container, KeyToPath, PodAffinityTerm, PodAntiAffinity, PodSpec, PodTemplateSpec, Probe,
    ResourceRequirements, SecurityContext, Service, ServiceAccount, ServicePort, ServiceSpec, Toleration, Volume, WeightedPodAffinityTerm,
};
use k8s_openapi::api::rbac::v1::ClusterRole;
use k8s_openapi::apimachinery::pkg::api::resource::Quantity;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{LabelSelector, ObjectMeta};
use k8s_openapi::apimachinery::pkg::util::intstr::IntOrString;
use serde_json::Value;

use super::rbac::{cluster_role_binding, rule, sa_subject};
use super::workloads::{http_probe, linux, mount, port};
use super::{json, labels, meta};
use crate::config::Config;

/// CoreDNS' Corefile as kubeadm writes it (CoreDNS' own format; there is no typed form).
/// `cache_disable`: kubeadm ≥1.32's `cache 30 { disable success|denial <domain> }`, which CoreDNS
/// before 1.9.4 rejects; older minors get the plain `cache 30`.
pub fn corefile(dns_domain: &str, cache_disable: bool) -> String {
    let cache = if cache_disable {
        format!("cache 30 {{\n       disable success {dns_domain}\n       disable denial {dns_domain}\n    }}")
    } else {
        "cache 30".to_string()
    };
    format!(
        ".:53 {{\n    errors\n    health {{\n       lameduck 5s\n    }}\n    ready\n    kubernetes {dns_domain} in-addr.arpa ip6.arpa {{\n       pods insecure\n       fallthrough in-addr.arpa ip6.arpa\n       ttl 30\n    }}\n    prometheus :9153\n    forward . /etc/resolv.conf {{\n       max_concurrent 1000\n    }}\n    {cache}\n    loop\n    reload\n    loadbalance\n}}\n"
    )
}

/// CoreDNS's image path below the repository: `coredns/coredns` in kubeadm's default registry,
/// plain `coredns` in any other (a mirror), as kubeadm does from v1.21.2 (#102502).
fn coredns_path<'a>(cfg: &Config, default_path: &'a str) -> &'a str {
    if matches!(cfg.image_repository.as_str(), "registry.k8s.io" | "k8s.gcr.io") {
        default_path
    } else {
        "coredns"
    }
}

/// The probe port: its number, or from 1.34 the name of a container port kubeadm declares.
fn probe_port(named: bool, name: &str, number: i32) -> IntOrString {
    if named {
        IntOrString::String(name.into())
    } else {
        IntOrString::Int(number)
    }
}

/// kubeadm's CoreDNS addon: ServiceAccount, RBAC, ConfigMap, Deployment and the `kube-dns`
/// Service at the tenth service IP.
pub fn coredns(cfg: &Config) -> Vec<Value> {
    let ns = "kube-system";
    let app = ("k8s-app", "kube-dns");
    let facts = cfg.version.facts();
    let (path, tag) = facts.coredns_image;
    let mut tolerations = vec![Toleration { key: Some("CriticalAddonsOnly".into()), operator: Some("Exists".into()), ..Default::default() }];
    let taints: &[&str] = if facts.coredns_master_toleration {
        &["node-role.kubernetes.io/master", "node-role.kubernetes.io/control-plane"]
    } else {
        &["node-role.kubernetes.io/control-plane"]
    };
    tolerations.extend(taints.iter().map(|t| Toleration { key: Some(t.to_string()), effect: Some("NoSchedule".into()), ..Default::default() }));
    let mut ports = vec![port("dns", 53, "UDP"), port("dns-tcp", 53, "TCP"), port("metrics", 9153, "TCP")];
    if facts.coredns_named_probe_ports {
        ports.extend([port("liveness-probe", 8080, "TCP"), port("readiness-probe", 8181, "TCP")]);
    }
    let mut liveness = http_probe("/health", 8080, "HTTP");
    liveness.port = probe_port(facts.coredns_named_probe_ports, "liveness-probe", 8080);
    let mut readiness = http_probe("/ready", 8181, "HTTP");
    readiness.port = probe_port(facts.coredns_named_probe_ports, "readiness-probe", 8181);
    let container = Container {
        name: "coredns".into(),
        image: Some(format!("{}/{path}:{tag}", cfg.image_repository, path = coredns_path(cfg, path))),
        image_pull_policy: Some("IfNotPresent".into()),
        args: Some(vec!["-conf".into(), "/etc/coredns/Corefile".into()]),
        ports: Some(ports),
        resources: Some(ResourceRequirements {
            requests: Some(BTreeMap::from([("cpu".into(), Quantity("100m".into())), ("memory".into(), Quantity("70Mi".into()))])),
            limits: Some(BTreeMap::from([("memory".into(), Quantity("170Mi".into()))])),
            ..Default::default()
        }),
        liveness_probe: Some(Probe {
            http_get: Some(liveness),
            initial_delay_seconds: Some(60),
            timeout_seconds: Some(5),
            success_threshold: Some(1),
            failure_threshold: Some(5),
            ..Default::default()
        }),
        readiness_probe: Some(Probe { http_get: Some(readiness), ..Default::default() }),
        security_context: Some(SecurityContext {
            allow_privilege_escalation: Some(false),
            capabilities: Some(Capabilities {
                add: Some(vec!["NET_BIND_SERVICE".into()]),
                drop: Some(vec![if facts.coredns_drop_upper { "ALL" } else { "all" }.into()]),
            }),
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
        affinity: facts.coredns_anti_affinity.then(anti_affinity),
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
        rules: Some(
            [
                Some(rule(&[""], &["endpoints", "services", "pods", "namespaces"], &["list", "watch"])),
                facts.coredns_nodes_get.then(|| rule(&[""], &["nodes"], &["get"])),
                facts.coredns_endpointslices.then(|| rule(&["discovery.k8s.io"], &["endpointslices"], &["list", "watch"])),
            ]
            .into_iter()
            .flatten()
            .collect(),
        ),
        ..Default::default()
    };
    vec![
        json(&ServiceAccount { metadata: meta("coredns", Some(ns), &[]), ..Default::default() }),
        json(&role),
        json(&cluster_role_binding("system:coredns", "system:coredns", vec![sa_subject("coredns", ns)])),
        json(&ConfigMap {
            metadata: meta("coredns", Some(ns), &[]),
            data: Some(BTreeMap::from([("Corefile".into(), corefile(&cfg.dns_domain, facts.coredns_cache_disable))])),
            ..Default::default()
        }),
        json(&deployment),
        json(&service),
    ]
}

/// Prefer one CoreDNS pod per node (kubeadm #110593, 1.25).
fn anti_affinity() -> Affinity {
    Affinity {
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
    }
}
