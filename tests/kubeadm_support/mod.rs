//! What tests/kubeadm_facts.rs and tests/kubeadm_rows.rs share: the facts table, configurations
//! of any minor, and readers of rendered pods.
#![allow(dead_code)]

use k8s_openapi::api::core::v1::{Pod, Probe};
use serde_json::Value;

use kubeup::config::{self, HostDefaults, Settings};
use kubeup::manifests;

/// (fact, minors, why kubeup differs on purpose).
pub const DELIBERATE: &[(&str, std::ops::RangeInclusive<u32>, &str)] = &[
    ("default_image_repository", 20..=24, "k8s.gcr.io is frozen since 2023; registry.k8s.io serves the same images"),
    (
        "kubeadm_config_map_keys_written",
        20..=21,
        "no ClusterStatus: kubeadm ≤1.21 reads the API endpoint from the kube-apiserver pod's annotation first, which kubeup writes",
    ),
];

pub fn facts() -> Value {
    let text = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/tests/facts/kubeadm-facts.json")).unwrap();
    serde_json::from_str(&text).unwrap()
}

/// A fact's value, `None` when it was not found (or kubeup differs on purpose).
pub fn fact<'a>(all: &'a Value, minor: u32, key: &str) -> Option<&'a Value> {
    if DELIBERATE.iter().any(|(k, r, _)| *k == key && r.contains(&minor)) {
        return None;
    }
    let v = &all["minors"][minor.to_string()][key]["value"];
    (!v.is_null()).then_some(v)
}

pub fn cfg_at(minor: u32, advertise: &str, extra: &str) -> config::Config {
    let file = config::parse_text(&format!(
        "apiVersion: kubeup.io/v1alpha1\nkind: Configuration\nkubernetesVersion: v1.{minor}.0\nnode:\n  name: cp-1\n  advertiseAddress: {advertise}\n{extra}"
    ))
    .unwrap();
    let host = HostDefaults { hostname: Some("cp-1".into()), address: Some(advertise.parse().unwrap()), ..Default::default() };
    config::resolve(Some(file), &Settings::default(), &host).unwrap()
}

/// An IPv6 control plane: IPv6 advertise address, Service and pod ranges.
pub const IPV6: &str = "networking:\n  serviceSubnet: fd00:10:96::/112\n  podSubnet: fd00:10:244::/56\n";

pub fn cfg(minor: u32) -> config::Config {
    cfg_at(minor, "192.0.2.10", "")
}

/// Mismatches collected over every minor, so one run shows them all.
#[derive(Default)]
pub struct Report(pub Vec<String>);

impl Report {
    pub fn eq<T: PartialEq + std::fmt::Debug>(&mut self, minor: u32, key: &str, kubeup: T, kubeadm: T) {
        if kubeup != kubeadm {
            self.0.push(format!("v1.{minor} {key}: kubeup renders {kubeup:?}, kubeadm {kubeadm:?}"));
        }
    }
    pub fn done(self) {
        assert!(self.0.is_empty(), "kubeup differs from kubeadm's facts (tests/facts/kubeadm-facts.json):\n{}", self.0.join("\n"));
    }
}

pub fn s(v: &Value) -> String {
    v.as_str().map(str::to_string).unwrap_or_else(|| v.to_string())
}

pub fn container(pod: &Pod) -> &k8s_openapi::api::core::v1::Container {
    &pod.spec.as_ref().unwrap().containers[0]
}

pub fn command(pod: &Pod) -> Vec<String> {
    container(pod).command.clone().unwrap()
}

pub fn flag(pod: &Pod, name: &str) -> Option<String> {
    command(pod).iter().find_map(|a| a.strip_prefix(&format!("--{name}=")).map(str::to_string))
}

pub fn probe_path(p: &Option<Probe>) -> Option<String> {
    p.as_ref().and_then(|p| p.http_get.as_ref()).and_then(|h| h.path.clone())
}

pub fn probe_paths(pod: &Pod) -> [Option<String>; 3] {
    let c = container(pod);
    [probe_path(&c.liveness_probe), probe_path(&c.readiness_probe), probe_path(&c.startup_probe)]
}

pub fn want_paths(v: &Value) -> [Option<String>; 3] {
    ["liveness", "readiness", "startup"].map(|k| v[k].as_str().map(str::to_string))
}

pub fn pods(c: &config::Config) -> [(&'static str, Pod); 4] {
    [
        ("etcd", manifests::etcd::pod(c)),
        ("apiserver", manifests::apiserver::pod(c, &[])),
        ("controller_manager", manifests::controller_manager::pod(c, &[], false)),
        ("scheduler", manifests::scheduler::pod(c)),
    ]
}
