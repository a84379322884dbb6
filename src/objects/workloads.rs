//! The pieces the pods of the add-ons and pod networks are built from.
//!
//! Pure.

use std::collections::BTreeMap;

use k8s_openapi::api::apps::v1::{DaemonSet, DaemonSetSpec, DaemonSetUpdateStrategy};
use k8s_openapi::api::core::v1::{
    ContainerPort, EnvVar, EnvVarSource, HTTPGetAction, HostPathVolumeSource, ObjectFieldSelector, PodSpec, PodTemplateSpec, Volume, VolumeMount,
};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{LabelSelector, ObjectMeta};
use k8s_openapi::apimachinery::pkg::util::intstr::IntOrString;

use super::{labels, meta};

/// A hostPath volume.
pub fn host_path(name: &str, path: &str, type_: Option<&str>) -> Volume {
    Volume { name: name.into(), host_path: Some(HostPathVolumeSource { path: path.into(), type_: type_.map(str::to_string) }), ..Default::default() }
}

/// A volume mount.
pub fn mount(name: &str, path: &str, read_only: bool) -> VolumeMount {
    VolumeMount { name: name.into(), mount_path: path.into(), read_only: read_only.then_some(true), ..Default::default() }
}

/// An environment variable from a field of the pod (`spec.nodeName`).
pub fn field_env(name: &str, path: &str) -> EnvVar {
    EnvVar {
        name: name.into(),
        value_from: Some(EnvVarSource { field_ref: Some(ObjectFieldSelector { field_path: path.into(), ..Default::default() }), ..Default::default() }),
        ..Default::default()
    }
}

/// A DaemonSet of `pod`, selected by the label `app`, rolling updates.
pub fn daemon_set(name: &str, ns: &str, app: (&str, &str), pod: PodSpec) -> DaemonSet {
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

/// The node selector `kubernetes.io/os: linux`.
pub fn linux() -> Option<BTreeMap<String, String>> {
    Some(labels(&[("kubernetes.io/os", "linux")]))
}

/// A named container port.
pub fn port(name: &str, port: i32, protocol: &str) -> ContainerPort {
    ContainerPort { name: Some(name.into()), container_port: port, protocol: Some(protocol.into()), ..Default::default() }
}

/// An HTTP GET probe action.
pub fn http_probe(path: &str, port: i32, scheme: &str) -> HTTPGetAction {
    HTTPGetAction { path: Some(path.into()), port: IntOrString::Int(port), scheme: Some(scheme.into()), ..Default::default() }
}
