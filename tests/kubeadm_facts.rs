//! kubeup's renders of every supported minor held against kubeadm's facts:
//! `tests/facts/kubeadm-facts.json` records, per minor 1.20–1.37, what kubeadm renders, each
//! fact with the kubeadm source (file and release) it was read from. A reviewer checks a row
//! against kubeadm, this test checks kubeup against the row.
//!
//! A fact whose value is `null` was not found and is not checked. A fact kubeup deliberately
//! renders otherwise is listed in [`DELIBERATE`] with the reason; nothing else may differ.

use std::collections::BTreeMap;

use k8s_openapi::api::core::v1::{Pod, Probe};
use k8s_openapi::apimachinery::pkg::util::intstr::IntOrString;
use serde_json::Value;

use kubeup::config::{self, HostDefaults, Settings};
use kubeup::kubelet::config as kubelet_config;
use kubeup::manifests;
use kubeup::version::{newest_minor, MIN_MINOR};

/// (fact, minors, why kubeup differs on purpose).
const DELIBERATE: &[(&str, std::ops::RangeInclusive<u32>, &str)] = &[
    ("default_image_repository", 20..=24, "k8s.gcr.io is frozen since 2023; registry.k8s.io serves the same images"),
    (
        "kubeadm_config_map_keys_written",
        20..=21,
        "no ClusterStatus: kubeadm ≤1.21 reads the API endpoint from the kube-apiserver pod's annotation first, which kubeup writes",
    ),
];

fn facts() -> Value {
    let text = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/tests/facts/kubeadm-facts.json")).unwrap();
    serde_json::from_str(&text).unwrap()
}

/// A fact's value, `None` when it was not found (or kubeup differs on purpose).
fn fact<'a>(all: &'a Value, minor: u32, key: &str) -> Option<&'a Value> {
    if DELIBERATE.iter().any(|(k, r, _)| *k == key && r.contains(&minor)) {
        return None;
    }
    let v = &all["minors"][minor.to_string()][key]["value"];
    (!v.is_null()).then_some(v)
}

fn cfg_at(minor: u32, advertise: &str, extra: &str) -> config::Config {
    let file = config::parse_text(&format!(
        "apiVersion: kubeup.io/v1alpha1\nkind: Configuration\nkubernetesVersion: v1.{minor}.0\nnode:\n  name: cp-1\n  advertiseAddress: {advertise}\n{extra}"
    ))
    .unwrap();
    let host = HostDefaults { hostname: Some("cp-1".into()), address: Some(advertise.parse().unwrap()), ..Default::default() };
    config::resolve(Some(file), &Settings::default(), &host).unwrap()
}

/// An IPv6 control plane: IPv6 advertise address, Service and pod ranges.
const IPV6: &str = "networking:\n  serviceSubnet: fd00:10:96::/112\n  podSubnet: fd00:10:244::/56\n";

fn cfg(minor: u32) -> config::Config {
    cfg_at(minor, "192.0.2.10", "")
}

/// Mismatches collected over every minor, so one run shows them all.
#[derive(Default)]
struct Report(Vec<String>);

impl Report {
    fn eq<T: PartialEq + std::fmt::Debug>(&mut self, minor: u32, key: &str, kubeup: T, kubeadm: T) {
        if kubeup != kubeadm {
            self.0.push(format!("v1.{minor} {key}: kubeup renders {kubeup:?}, kubeadm {kubeadm:?}"));
        }
    }
    fn done(self) {
        assert!(self.0.is_empty(), "kubeup differs from kubeadm's facts (tests/facts/kubeadm-facts.json):\n{}", self.0.join("\n"));
    }
}

fn s(v: &Value) -> String {
    v.as_str().map(str::to_string).unwrap_or_else(|| v.to_string())
}

fn container(pod: &Pod) -> &k8s_openapi::api::core::v1::Container {
    &pod.spec.as_ref().unwrap().containers[0]
}

fn command(pod: &Pod) -> Vec<String> {
    container(pod).command.clone().unwrap()
}

fn flag(pod: &Pod, name: &str) -> Option<String> {
    command(pod).iter().find_map(|a| a.strip_prefix(&format!("--{name}=")).map(str::to_string))
}

fn probe_path(p: &Option<Probe>) -> Option<String> {
    p.as_ref().and_then(|p| p.http_get.as_ref()).and_then(|h| h.path.clone())
}

fn probe_paths(pod: &Pod) -> [Option<String>; 3] {
    let c = container(pod);
    [probe_path(&c.liveness_probe), probe_path(&c.readiness_probe), probe_path(&c.startup_probe)]
}

fn want_paths(v: &Value) -> [Option<String>; 3] {
    ["liveness", "readiness", "startup"].map(|k| v[k].as_str().map(str::to_string))
}

fn pods(c: &config::Config) -> [(&'static str, Pod); 4] {
    [
        ("etcd", manifests::etcd::pod(c)),
        ("apiserver", manifests::apiserver::pod(c, &[])),
        ("controller_manager", manifests::controller_manager::pod(c, &[], false)),
        ("scheduler", manifests::scheduler::pod(c)),
    ]
}

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

/// Row 5 of issue #14: the etcd flag spelling follows the etcd image that runs, also when
/// `etcd.imageTag` pins another etcd minor than the Kubernetes minor's own (kubeadm ≥1.34 keys
/// it on the etcd version, phases/etcd/local.go: `etcdVersion.AtLeast("3.6.0")`).
#[test]
fn etcd_flags_follow_an_overridden_etcd_image() {
    let experimental = ["experimental-initial-corrupt-check", "experimental-watch-progress-notify-interval"];
    let gates = ["feature-gates", "watch-progress-notify-interval"];
    for (minor, tag, present, absent) in [(34, "3.5.24-0", experimental, gates), (37, "3.5.21-0", experimental, gates), (30, "3.6.5-0", gates, experimental)] {
        let c = cfg_at(minor, "192.0.2.10", &format!("etcd:\n  imageTag: {tag}\n"));
        let etcd = manifests::etcd::pod(&c);
        assert_eq!(container(&etcd).image.as_deref(), Some(format!("registry.k8s.io/etcd:{tag}").as_str()));
        for f in present {
            assert!(flag(&etcd, f).is_some(), "v1.{minor} with etcd {tag}: --{f} missing in {:?}", command(&etcd));
        }
        for f in absent {
            assert!(flag(&etcd, f).is_none(), "v1.{minor} with etcd {tag}: --{f} is for another etcd: {:?}", command(&etcd));
        }
    }
}

/// An IPv6 control plane end to end through the manifests: no IPv4 loopback anywhere etcd or
/// its clients are reached, the advertise address bracketed in URLs.
#[test]
fn an_ipv6_control_plane_renders_consistently() {
    for minor in [20, 31, 37] {
        let c = cfg_at(minor, "fd00::10", IPV6);
        let [(_, etcd), (_, apiserver), (_, cm), (_, scheduler)] = pods(&c);
        let etcd_yaml = manifests::to_yaml(&etcd).unwrap();
        assert!(!etcd_yaml.contains("127.0.0.1"), "v1.{minor} etcd:\n{etcd_yaml}");
        assert_eq!(flag(&etcd, "advertise-client-urls").as_deref(), Some("https://[fd00::10]:2379"));
        assert_eq!(flag(&etcd, "listen-peer-urls").as_deref(), Some("https://[fd00::10]:2380"));
        assert_eq!(flag(&apiserver, "etcd-servers").as_deref(), Some("https://[::1]:2379"));
        assert_eq!(flag(&apiserver, "advertise-address").as_deref(), Some("fd00::10"));
        assert_eq!(flag(&apiserver, "service-cluster-ip-range").as_deref(), Some("fd00:10:96::/112"));
        assert_eq!(flag(&cm, "cluster-cidr").as_deref(), Some("fd00:10:244::/56"));
        for pod in [&etcd, &apiserver, &cm, &scheduler] {
            let back: Pod = serde_saphyr::from_str(&manifests::to_yaml(pod).unwrap()).unwrap();
            assert_eq!(&back, pod);
        }
        let kc = kubeup::yaml::to_string(&kubelet_config::kubelet_configuration(&c, None)).unwrap();
        assert!(kc.contains("fd00:10:96::a"), "the cluster DNS address is the tenth of the IPv6 Service range:\n{kc}");
    }
}

/// Row 9: kubeadm never sets `--node-ip`; kubeup sets it only when the kubelet would otherwise
/// register another address, and says why. A dual-stack host whose name resolves to the
/// advertise address keeps both families (no `--node-ip` pinning one).
#[test]
fn node_ip_only_when_the_kubelet_would_choose_another_address() {
    use kubelet_config::{kubelet_flags, node_ip_reason, NodeAddressFacts};
    let c = cfg(37);
    let dual_stack_hosts = "127.0.0.1 localhost\n192.0.2.10 cp-1\nfd00::10 cp-1\n";
    let dual = NodeAddressFacts { hosts_file: Some(dual_stack_hosts), default_address: Some("192.0.2.10".parse().unwrap()) };
    assert_eq!(node_ip_reason(&c, dual), None);
    assert!(!kubelet_flags(&c, Some("cp-1"), dual).contains_key("node-ip"));

    let other_route = NodeAddressFacts { hosts_file: None, default_address: Some("198.51.100.7".parse().unwrap()) };
    let why = node_ip_reason(&c, other_route).unwrap();
    assert!(why.contains("198.51.100.7") && why.contains("default-route"), "{why}");
    assert_eq!(kubelet_flags(&c, Some("cp-1"), other_route).get("node-ip").map(String::as_str), Some("192.0.2.10"));

    let hosts_elsewhere = NodeAddressFacts { hosts_file: Some("10.9.9.9 cp-1\n"), default_address: Some("192.0.2.10".parse().unwrap()) };
    assert!(node_ip_reason(&c, hosts_elsewhere).unwrap().contains("/etc/hosts resolves cp-1 to 10.9.9.9"));

    // Asked for by the user: theirs, not kubeup's.
    let asked = cfg_at(37, "192.0.2.10", "  kubeletExtraArgs:\n    node-ip: 192.0.2.10,fd00::10\n");
    assert_eq!(node_ip_reason(&asked, other_route), None);
    assert_eq!(kubelet_flags(&asked, Some("cp-1"), other_route).get("node-ip").map(String::as_str), Some("192.0.2.10,fd00::10"));
}

/// Row 3: the CRI socket is the node's own; a node with another runtime than the first node's
/// keeps its own socket, whatever the cluster's kubelet ConfigMap says.
#[test]
fn a_joining_node_keeps_its_own_cri_socket() {
    for minor in [26, 27, 33, 34, 37] {
        let first = cfg(minor);
        let cluster = kubeup::yaml::to_string(&kubelet_config::kubelet_configuration(&first, None)).unwrap();
        assert!(!cluster.contains("containerRuntimeEndpoint"), "v1.{minor}: the ConfigMap carries no node's socket:\n{cluster}");
        // A ConfigMap written by an older kubeup did carry the first node's socket.
        let stale = format!("{cluster}containerRuntimeEndpoint: unix:///run/containerd/containerd.sock\n");
        let crio = cfg_at(minor, "192.0.2.11", "  criSocket: unix:///var/run/crio/crio.sock\n");
        let local = kubelet_config::node_kubelet_config(&crio, &stale).unwrap();
        let flags = kubelet_config::kubelet_flags(&crio, Some("cp-1"), Default::default());
        let flag = flags.get("container-runtime-endpoint").cloned();
        let in_config = local.contains("containerRuntimeEndpoint: unix:///var/run/crio/crio.sock");
        if minor >= 34 {
            assert!(in_config && flag.is_none(), "v1.{minor}: instance config merged:\n{local}");
        } else {
            assert_eq!(flag.as_deref(), Some("unix:///var/run/crio/crio.sock"), "v1.{minor}: a per-node flag (it wins over the config file)");
        }
        let annotations = kubeup::phases::control_plane_config::node_annotations(&crio);
        assert_eq!(annotations.get("kubeadm.alpha.kubernetes.io/cri-socket").map(String::as_str), (minor <= 33).then_some("unix:///var/run/crio/crio.sock"));
    }
}

/// Row 4: from v1.35 the kubelet refuses cgroup v1 (`failCgroupV1`), so such a host is a named
/// preflight error with its fix before anything starts; older minors only warn.
#[test]
fn cgroup_v1_is_a_preflight_error_where_the_kubelet_refuses_it() {
    use kubeup::phases::preflight::cgroup_v1_problem;
    use kubeup::plan::Severity;
    let all = facts();
    for minor in MIN_MINOR..=newest_minor() {
        let c = cfg(minor);
        assert_eq!(cgroup_v1_problem(&c, "2"), None, "v1.{minor}: cgroup v2 is fine");
        let (severity, message) = cgroup_v1_problem(&c, "1").unwrap();
        let kubeadm_errors = fact(&all, minor, "cgroup_v1_preflight").is_some_and(|v| s(v).starts_with("SystemVerification error"));
        assert_eq!(severity == Severity::Error, kubeadm_errors, "v1.{minor}: {message}");
        if kubeadm_errors {
            assert!(message.contains("cgroup v2") && message.contains("--kubernetes-version"), "the fix is named: {message}");
        }
    }
}

/// Row 8: everything of the cluster the user set travels in kubeadm-config, in the extraArgs
/// spelling of the minor's kubeadm API, and a further control plane renders from it.
#[test]
fn the_whole_cluster_configuration_round_trips_to_a_second_control_plane() {
    let user = "apiServer:\n  certSANs: [api.example.test, 203.0.113.7]\n  extraArgs:\n    audit-log-maxage: \"7\"\n\
                controllerManager:\n  extraArgs:\n    node-monitor-grace-period: 50s\n\
                scheduler:\n  extraArgs:\n    v: \"2\"\n\
                etcd:\n  imageTag: 3.5.21-0\n  dataDir: /srv/etcd\n  serverCertSANs: [etcd.example.test]\n  peerCertSANs: [peer.example.test]\n  extraArgs:\n    quota-backend-bytes: \"8589934592\"\n\
                certificateValidityPeriod: 4000h\n";
    for (minor, list) in [(20, false), (30, false), (37, true)] {
        let first = cfg_at(minor, "192.0.2.10", user);
        let uploaded = kubeup::objects::cluster::cluster_configuration(&first);
        assert_eq!(uploaded["apiServer"]["extraArgs"].is_array(), list, "v1.{minor}: {uploaded:#}");
        let text = kubeup::yaml::to_string(&uploaded).unwrap();
        let settings = config::kubeadm::settings_from_cluster_configuration(&text).unwrap();
        let host = HostDefaults { hostname: Some("cp-2".into()), address: Some("192.0.2.11".parse().unwrap()), ..Default::default() };
        let second = config::resolve(Some(settings), &Settings::default(), &host).unwrap();
        assert_eq!(second.apiserver_cert_sans, first.apiserver_cert_sans, "v1.{minor}");
        assert_eq!(second.apiserver_extra_args, first.apiserver_extra_args, "v1.{minor}");
        assert_eq!(second.controller_manager_extra_args, first.controller_manager_extra_args, "v1.{minor}");
        assert_eq!(second.scheduler_extra_args, first.scheduler_extra_args, "v1.{minor}");
        assert_eq!(
            (&second.etcd_image_tag, &second.etcd_data_dir, &second.etcd_server_cert_sans, &second.etcd_peer_cert_sans, &second.etcd_extra_args),
            (&first.etcd_image_tag, &first.etcd_data_dir, &first.etcd_server_cert_sans, &first.etcd_peer_cert_sans, &first.etcd_extra_args),
            "v1.{minor}"
        );
        if list {
            assert_eq!(second.cert_validity, first.cert_validity, "v1.{minor}: v1beta4 carries the validity periods");
        }
        let cert_sans = kubeup::pki::certlist::leaves(&second);
        let apiserver = cert_sans.iter().find(|c| c.file == "apiserver").unwrap();
        assert!(format!("{:?}", apiserver.identity.sans).contains("api.example.test"), "v1.{minor}: node 2's apiserver certificate names the user's SAN");
        assert_eq!(second.node_name, "cp-2");
    }
    // A kubeadm-made ClusterConfiguration with fields kubeup does not use still reads.
    let kubeadm = "apiVersion: kubeadm.k8s.io/v1beta3\nkind: ClusterConfiguration\nkubernetesVersion: v1.30.2\n\
                   apiServer:\n  timeoutForControlPlane: 4m0s\n  certSANs: [lb.example.test]\n  extraVolumes: []\n\
                   featureGates: {}\nnetworking:\n  serviceSubnet: 10.96.0.0/12\n";
    let s = config::kubeadm::settings_from_cluster_configuration(kubeadm).unwrap();
    assert_eq!(s.api_server.cert_sans, vec!["lb.example.test".to_string()]);
}
