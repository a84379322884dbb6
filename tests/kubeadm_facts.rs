//! kubeup's renders of every supported minor held against kubeadm's facts:
//! `tests/facts/kubeadm-facts.json` records, per minor 1.20–1.37, what kubeadm renders, each
//! fact with the kubeadm source (file and release) it was read from. A reviewer checks a row
//! against kubeadm, this test checks kubeup against the row.
//!
//! A fact whose value is `null` was not found and is not checked. A fact kubeup deliberately
//! renders otherwise is listed in [`DELIBERATE`] with the reason; nothing else may differ.

mod kubeadm_support;
use kubeadm_support::*;

use std::collections::BTreeMap;

use k8s_openapi::apimachinery::pkg::util::intstr::IntOrString;
use serde_json::Value;

use kubeup::kubelet::config as kubelet_config;
use kubeup::manifests;
use kubeup::version::{newest_minor, MIN_MINOR};

#[test]
fn static_pods_of_every_minor_are_kubeadms() {
    let all = facts();
    let mut r = Report::default();
    for minor in MIN_MINOR..=newest_minor() {
        let c = cfg(minor);
        let [(_, etcd), (_, apiserver), (_, cm), (_, scheduler)] = pods(&c);
        if let Some(v) = fact(&all, minor, "etcd_tag") {
            r.eq(minor, "etcd_tag", container(&etcd).image.clone().unwrap(), format!("registry.k8s.io/etcd:{}", s(v)));
        }
        if let Some(v) = fact(&all, minor, "etcd_version_dependent_flags") {
            for (name, want) in v.as_object().unwrap() {
                r.eq(minor, &format!("etcd --{name}"), flag(&etcd, name), want.as_str().map(str::to_string));
            }
        }
        for (key, pod) in
            [("etcd_probe_paths", &etcd), ("apiserver_probe_paths", &apiserver), ("controller_manager_probe_paths", &cm), ("scheduler_probe_paths", &scheduler)]
        {
            if let Some(v) = fact(&all, minor, key) {
                r.eq(minor, key, probe_paths(pod), want_paths(v));
            }
        }
        if let Some(v) = fact(&all, minor, "etcd_resource_requests") {
            let got: BTreeMap<String, String> =
                container(&etcd).resources.as_ref().unwrap().requests.clone().unwrap().into_iter().map(|(k, q)| (k, q.0)).collect();
            let want: BTreeMap<String, String> = v.as_object().unwrap().iter().map(|(k, q)| (k.clone(), s(q))).collect();
            r.eq(minor, "etcd_resource_requests", got, want);
        }
        let named = fact(&all, minor, "probe_named_port").map(s);
        for (name, pod) in pods(&c) {
            let c0 = container(&pod);
            for p in [&c0.liveness_probe, &c0.readiness_probe, &c0.startup_probe].into_iter().flatten() {
                let port = p.http_get.as_ref().unwrap().port.clone();
                let got = match port {
                    IntOrString::String(n) => Some(n),
                    IntOrString::Int(_) => None,
                };
                r.eq(minor, &format!("{name} probe port name"), got, named.clone());
            }
            let declared = c0.ports.as_ref().and_then(|p| p.first()).and_then(|p| p.name.clone());
            r.eq(minor, &format!("{name} named container port"), declared, named.clone());
        }
        for (key, pod, name) in [
            ("apiserver_insecure_port_flag", &apiserver, "insecure-port"),
            ("controller_manager_port_flag", &cm, "port"),
            ("scheduler_port_flag", &scheduler, "port"),
        ] {
            let want = all["minors"][minor.to_string()][key]["value"].as_str().map(str::to_string);
            r.eq(minor, key, flag(pod, name).map(|v| format!("--{name}={v}")), want);
        }
        if let Some(v) = fact(&all, minor, "static_pod_seccomp_runtime_default") {
            let got = etcd.spec.as_ref().unwrap().security_context.as_ref().and_then(|s| s.seccomp_profile.as_ref()).is_some();
            r.eq(minor, "static_pod_seccomp_runtime_default", got, v.as_bool().unwrap());
        }
    }
    r.done();
}

/// Every address of etcd and its clients, for an advertise address of each family
/// (phases/etcd/local.go: `::1` throughout when the advertise address is IPv6).
#[test]
fn etcd_listens_serves_metrics_and_is_probed_on_one_loopback_per_family() {
    let all = facts();
    let mut r = Report::default();
    for minor in MIN_MINOR..=newest_minor() {
        let Some(v) = fact(&all, minor, "etcd_localhost_addresses") else { continue };
        for (adv, extra, lo) in [("192.0.2.10", "", s(&v["client_and_metrics_localhost_ipv4"])), ("fd00::10", IPV6, s(&v["client_and_metrics_localhost_ipv6"]))]
        {
            let c = cfg_at(minor, adv, extra);
            let bracket = |ip: &str| if ip.contains(':') { format!("[{ip}]") } else { ip.to_string() };
            let fill = |t: &Value| s(t).replace("<localhost>", &bracket(&lo)).replace("<advertiseAddress>", &bracket(adv));
            let etcd = manifests::etcd::pod(&c);
            r.eq(minor, &format!("etcd --listen-client-urls ({adv})"), flag(&etcd, "listen-client-urls"), Some(fill(&v["listen_client_urls"])));
            r.eq(minor, &format!("etcd --listen-metrics-urls ({adv})"), flag(&etcd, "listen-metrics-urls"), Some(fill(&v["listen_metrics_urls"])));
            let c0 = container(&etcd);
            for p in [&c0.liveness_probe, &c0.readiness_probe, &c0.startup_probe].into_iter().flatten() {
                r.eq(minor, &format!("etcd probe host ({adv})"), p.http_get.as_ref().unwrap().host.clone(), Some(lo.clone()));
            }
            let apiserver = manifests::apiserver::pod(&c, &[]);
            r.eq(minor, &format!("kube-apiserver --etcd-servers ({adv})"), flag(&apiserver, "etcd-servers"), Some(format!("https://{}:2379", bracket(&lo))));
        }
    }
    r.done();
}

fn object<'a>(objects: &'a [Value], kind: &str, name: &str) -> &'a Value {
    objects.iter().find(|o| o["kind"] == kind && o["metadata"]["name"] == name).unwrap_or_else(|| panic!("no {kind} {name}"))
}

fn tolerations(pod_spec: &Value) -> Vec<String> {
    pod_spec["tolerations"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| match (t["key"].as_str(), t["effect"].as_str()) {
            (Some(k), Some(e)) => format!("{k}:{e}"),
            (Some(k), None) => format!("{k}:{}", s(&t["operator"])),
            (None, _) => format!("operator:{}", s(&t["operator"])),
        })
        .collect()
}

#[test]
fn coredns_and_kube_proxy_of_every_minor_are_kubeadms() {
    let all = facts();
    let mut r = Report::default();
    for minor in MIN_MINOR..=newest_minor() {
        let c = cfg(minor);
        let objects = kubeup::objects::coredns::coredns(&c);
        let deployment = object(&objects, "Deployment", "coredns");
        let pod = &deployment["spec"]["template"]["spec"];
        let ctr = &pod["containers"][0];
        if let (Some(path), Some(tag)) = (fact(&all, minor, "coredns_image_path"), fact(&all, minor, "coredns_version")) {
            r.eq(minor, "coredns image", s(&ctr["image"]), format!("registry.k8s.io/{}:{}", s(path), s(tag)));
            // From v1.21.2 (kubeadm #102502) a custom imageRepository gets `<repo>/coredns`.
            let mirror = cfg_at(minor, "192.0.2.10", "imageRepository: mirror.example.test/k8s\n");
            let image = s(&object(&kubeup::objects::coredns::coredns(&mirror), "Deployment", "coredns")["spec"]["template"]["spec"]["containers"][0]["image"]);
            r.eq(minor, "coredns image from a mirror", image, format!("mirror.example.test/k8s/coredns:{}", s(tag)));
        }
        if let Some(v) = fact(&all, minor, "coredns_corefile") {
            let corefile = s(&object(&objects, "ConfigMap", "coredns")["data"]["Corefile"]);
            r.eq(minor, "coredns_corefile", corefile, s(v).replace("<dnsDomain>", "cluster.local"));
        }
        if let Some(v) = fact(&all, minor, "coredns_clusterrole_rules") {
            let rules: Vec<Value> = object(&objects, "ClusterRole", "system:coredns")["rules"]
                .as_array()
                .unwrap()
                .iter()
                .map(|r| serde_json::json!({ "apiGroups": r["apiGroups"], "resources": r["resources"], "verbs": r["verbs"] }))
                .collect();
            r.eq(minor, "coredns_clusterrole_rules", Value::Array(rules), v.clone());
        }
        if let Some(v) = fact(&all, minor, "coredns_probe_ports") {
            for kind in ["liveness", "readiness"] {
                let get = &ctr[format!("{kind}Probe")]["httpGet"];
                r.eq(minor, &format!("coredns {kind} probe"), (get["path"].clone(), get["port"].clone()), (v[kind]["path"].clone(), v[kind]["port"].clone()));
            }
            let ports: Vec<String> =
                ctr["ports"].as_array().unwrap().iter().map(|p| format!("{} {}/{}", s(&p["name"]), p["containerPort"], s(&p["protocol"]))).collect();
            let want: Vec<String> = v["container_ports"].as_array().unwrap().iter().map(s).collect();
            r.eq(minor, "coredns container ports", ports, want);
        }
        if let Some(v) = fact(&all, minor, "coredns_tolerations") {
            r.eq(minor, "coredns_tolerations", tolerations(pod), v.as_array().unwrap().iter().map(s).collect());
        }
        if let Some(v) = fact(&all, minor, "coredns_pod_anti_affinity") {
            r.eq(minor, "coredns_pod_anti_affinity", !pod["affinity"].is_null(), v.as_bool() != Some(false));
        }
        if let Some(v) = fact(&all, minor, "coredns_capabilities_drop") {
            r.eq(minor, "coredns_capabilities_drop", ctr["securityContext"]["capabilities"]["drop"].clone(), serde_json::json!([v]));
        }
        if let Some(v) = fact(&all, minor, "kube_proxy_tolerations") {
            let objects = kubeup::objects::kube_proxy::kube_proxy(&c).unwrap();
            let ds = object(&objects, "DaemonSet", "kube-proxy");
            r.eq(minor, "kube_proxy_tolerations", tolerations(&ds["spec"]["template"]["spec"]), v.as_array().unwrap().iter().map(s).collect());
        }
    }
    r.done();
}

#[test]
fn kubelet_settings_of_every_minor_are_kubeadms() {
    let all = facts();
    let mut r = Report::default();
    let own_address = kubelet_config::NodeAddressFacts { hosts_file: None, default_address: Some("192.0.2.10".parse().unwrap()) };
    for minor in MIN_MINOR..=newest_minor() {
        let c = cfg(minor);
        let flags = kubelet_config::kubelet_flags(&c, Some("cp-1"), own_address);
        if let Some(v) = fact(&all, minor, "pause_tag") {
            r.eq(minor, "pause_tag", c.pause_image(), format!("registry.k8s.io/pause:{}", s(v)));
        }
        if let Some(v) = fact(&all, minor, "kubelet_node_ip_flag") {
            r.eq(minor, "kubelet_node_ip_flag", flags.contains_key("node-ip"), v.as_bool().unwrap());
        }
        let cluster_wide = kubeup::yaml::to_string(&kubelet_config::kubelet_configuration(&c, None)).unwrap();
        if let Some(v) = fact(&all, minor, "kubelet_config_map_has_container_runtime_endpoint") {
            r.eq(minor, "kubelet_config_map_has_container_runtime_endpoint", cluster_wide.contains("containerRuntimeEndpoint"), v.as_bool().unwrap());
        }
        if let Some(v) = fact(&all, minor, "kubelet_cri_endpoint_location") {
            let local = kubelet_config::node_kubelet_config(&c, &cluster_wide).unwrap();
            let got = if flags.get("container-runtime-endpoint") == Some(&c.cri_socket) {
                "kubeadm-flags.env --container-runtime-endpoint".to_string()
            } else if kubelet_config::instance_configuration(&c).is_some() && local.contains(&format!("containerRuntimeEndpoint: {}", c.cri_socket)) {
                "/var/lib/kubelet/instance-config.yaml containerRuntimeEndpoint".to_string()
            } else {
                "nowhere".to_string()
            };
            r.eq(minor, "kubelet_cri_endpoint_location", got, s(v));
        }
        if let Some(v) = fact(&all, minor, "container_runtime_remote_flag") {
            r.eq(
                minor,
                "container_runtime_remote_flag",
                flags.get("container-runtime").cloned(),
                s(v).contains("--container-runtime=remote").then(|| "remote".into()),
            );
        } else if all["minors"][minor.to_string()]["container_runtime_remote_flag"]["basis"].is_string() {
            r.eq(minor, "container_runtime_remote_flag", flags.get("container-runtime").cloned(), None);
        }
        if let Some(v) = fact(&all, minor, "pod_infra_container_image_flag") {
            let want = match s(v).as_str() {
                "always" => true,
                "never" => false,
                other => other.contains("dockershim") && c.cri_socket.contains("dockershim"),
            };
            r.eq(minor, "pod_infra_container_image_flag", flags.contains_key("pod-infra-container-image"), want);
        }
        if let Some(v) = fact(&all, minor, "kubeadm_flags_env_default") {
            let env = kubelet_config::kubeadm_flags_env(&flags);
            let want: Vec<String> = v
                .as_array()
                .unwrap()
                .iter()
                .map(|f| s(f).replace("unix://<criSocket>", &c.cri_socket).replace("<criSocket verbatim>", &c.cri_socket).replace("<criSocket>", &c.cri_socket))
                .map(|f| f.replace("<repo>/pause:<tag>", &c.pause_image()))
                .collect();
            r.eq(minor, "kubeadm_flags_env_default", env, format!("KUBELET_KUBEADM_ARGS=\"{}\"\n", want.join(" ")));
        }
        if let Some(v) = fact(&all, minor, "kubelet_configuration_api_version") {
            r.eq(minor, "kubelet_configuration_api_version", cluster_wide.lines().next().map(str::to_string), Some(format!("apiVersion: {}", s(v))));
        }
        if let Some(v) = fact(&all, minor, "kube_proxy_configuration_api_version") {
            r.eq(minor, "kube_proxy_configuration_api_version", s(&kubeup::objects::kube_proxy::kube_proxy_configuration(&c)["apiVersion"]), s(v));
        }
        if let Some(v) = fact(&all, minor, "kubelet_config_map_name") {
            r.eq(minor, "kubelet_config_map_name", c.version.facts().kubelet_config_map.to_string(), s(v));
        }
    }
    r.done();
}

#[test]
fn cluster_objects_and_credentials_of_every_minor_are_kubeadms() {
    let all = facts();
    let mut r = Report::default();
    for minor in MIN_MINOR..=newest_minor() {
        let c = cfg(minor);
        let facts = c.version.facts();
        if let Some(v) = fact(&all, minor, "control_plane_labels") {
            r.eq(
                minor,
                "control_plane_labels",
                facts.control_plane_labels.iter().map(|l| l.to_string()).collect::<Vec<_>>(),
                v.as_array().unwrap().iter().map(s).collect(),
            );
        }
        if let Some(v) = fact(&all, minor, "control_plane_taints") {
            let got: Vec<String> = facts.control_plane_taints.iter().map(|t| format!("{t}:NoSchedule")).collect();
            r.eq(minor, "control_plane_taints", got, v.as_array().unwrap().iter().map(s).collect());
        }
        if let Some(v) = fact(&all, minor, "kubeadm_api_versions") {
            r.eq(minor, "kubeadm-config apiVersion", s(&kubeup::objects::cluster::cluster_configuration(&c)["apiVersion"]), s(&v["written"]));
        }
        if let Some(v) = fact(&all, minor, "kubeadm_config_map_keys_written") {
            let [kubeadm_config, _] = kubeup::objects::cluster::config_maps(&c, "").unwrap();
            let keys: Vec<String> = kubeadm_config.data.unwrap().into_keys().collect();
            r.eq(minor, "kubeadm_config_map_keys_written", keys, v.as_array().unwrap().iter().map(s).collect());
        }
        if let Some(v) = fact(&all, minor, "admin_conf_group") {
            let admin = kubeup::kubeconfig::specs(&c).into_iter().find(|k| k.file == "admin.conf").unwrap();
            r.eq(minor, "admin_conf_group", admin.org, Some(s(v)));
        }
        if let Some(v) = fact(&all, minor, "super_admin_conf") {
            r.eq(minor, "super_admin_conf", kubeup::kubeconfig::specs(&c).iter().any(|k| k.file == "super-admin.conf"), v.as_bool().unwrap());
        }
        if let Some(v) = fact(&all, minor, "node_cri_socket_annotation_written") {
            let annotations = kubeup::phases::control_plane_config::node_annotations(&c);
            r.eq(
                minor,
                "node_cri_socket_annotation_written",
                annotations.get("kubeadm.alpha.kubernetes.io/cri-socket").cloned(),
                v.as_bool().unwrap().then(|| c.cri_socket.clone()),
            );
        }
    }
    r.done();
}
