//! RBAC: the helpers every role and binding here is built with, and kubeadm's RBAC for joining
//! nodes (`bootstrap-token` phase), for `kubeadm-certs`, and for the admin group of v1.29+.
//!
//! Pure.

use k8s_openapi::api::rbac::v1::{ClusterRole, ClusterRoleBinding, PolicyRule, Role, RoleBinding, RoleRef, Subject};

use super::{json, meta, DEFAULT_NODE_TOKEN_GROUP};
use crate::config::Config;

const RBAC_GROUP: &str = "rbac.authorization.k8s.io";

/// A rule on `resources` of the API `groups`.
pub fn rule(groups: &[&str], resources: &[&str], verbs: &[&str]) -> PolicyRule {
    PolicyRule {
        api_groups: Some(groups.iter().map(|s| s.to_string()).collect()),
        resources: Some(resources.iter().map(|s| s.to_string()).collect()),
        verbs: verbs.iter().map(|s| s.to_string()).collect(),
        ..Default::default()
    }
}

/// A rule on named objects of the core group.
pub fn rule_named(resources: &[&str], verbs: &[&str], names: &[&str]) -> PolicyRule {
    PolicyRule { resource_names: Some(names.iter().map(|s| s.to_string()).collect()), ..rule(&[""], resources, verbs) }
}

/// A User or Group subject.
pub fn subject(kind: &str, name: &str) -> Subject {
    Subject { kind: kind.into(), name: name.into(), api_group: Some(RBAC_GROUP.into()), namespace: None }
}

/// A ServiceAccount subject.
pub fn sa_subject(name: &str, ns: &str) -> Subject {
    Subject { kind: "ServiceAccount".into(), name: name.into(), namespace: Some(ns.into()), api_group: None }
}

fn role_ref(kind: &str, name: &str) -> RoleRef {
    RoleRef { api_group: RBAC_GROUP.into(), kind: kind.into(), name: name.into() }
}

/// A ClusterRoleBinding of `role` to `subjects`.
pub fn cluster_role_binding(name: &str, role: &str, subjects: Vec<Subject>) -> ClusterRoleBinding {
    ClusterRoleBinding { metadata: meta(name, None, &[]), role_ref: role_ref("ClusterRole", role), subjects: Some(subjects) }
}

/// A Role and its RoleBinding of the same name.
pub fn role_and_binding(name: &str, ns: &str, rules: Vec<PolicyRule>, subjects: Vec<Subject>) -> [serde_json::Value; 2] {
    [
        json(&Role { metadata: meta(name, Some(ns), &[]), rules: Some(rules) }),
        json(&RoleBinding { metadata: meta(name, Some(ns), &[]), role_ref: role_ref("Role", name), subjects: Some(subjects) }),
    ]
}

fn crb(name: &str, role: &str, subjects: Vec<Subject>) -> serde_json::Value {
    json(&cluster_role_binding(name, role, subjects))
}

/// ClusterRoleBinding `kubeadm:cluster-admins` (v1.29+: admin.conf's group → cluster-admin).
pub fn admin_binding() -> serde_json::Value {
    crb("kubeadm:cluster-admins", "cluster-admin", vec![subject("Group", "kubeadm:cluster-admins")])
}

/// Role and RoleBinding `kubeadm:kubeadm-certs`: joining nodes' token may read kubeadm-certs.
pub fn kubeadm_certs_rbac() -> [serde_json::Value; 2] {
    role_and_binding(
        "kubeadm:kubeadm-certs",
        "kube-system",
        vec![rule_named(&["secrets"], &["get"], &["kubeadm-certs"])],
        vec![subject("Group", DEFAULT_NODE_TOKEN_GROUP)],
    )
}

/// kubeadm's RBAC for joining nodes, in the order kubeadm creates it.
pub fn bootstrap_rbac(cfg: &Config) -> Vec<serde_json::Value> {
    let facts = cfg.version.facts();
    let group = subject("Group", DEFAULT_NODE_TOKEN_GROUP);
    let nodes = subject("Group", "system:nodes");
    let mut v = Vec::new();
    if facts.admin_group == "kubeadm:cluster-admins" {
        v.push(admin_binding());
    }
    v.push(crb("kubeadm:kubelet-bootstrap", "system:node-bootstrapper", vec![group.clone()]));
    v.push(crb("kubeadm:node-autoapprove-bootstrap", "system:certificates.k8s.io:certificatesigningrequests:nodeclient", vec![group.clone()]));
    v.push(crb("kubeadm:node-autoapprove-certificate-rotation", "system:certificates.k8s.io:certificatesigningrequests:selfnodeclient", vec![nodes.clone()]));
    v.push(json(&ClusterRole { metadata: meta("kubeadm:get-nodes", None, &[]), rules: Some(vec![rule(&[""], &["nodes"], &["get"])]), ..Default::default() }));
    v.push(crb("kubeadm:get-nodes", "kubeadm:get-nodes", vec![group.clone()]));
    v.extend(role_and_binding(
        "kubeadm:nodes-kubeadm-config",
        "kube-system",
        vec![rule_named(&["configmaps"], &["get"], &["kubeadm-config"])],
        vec![group.clone(), nodes.clone()],
    ));
    let kubelet_cm = facts.kubelet_config_map;
    v.extend(role_and_binding(&format!("kubeadm:{kubelet_cm}"), "kube-system", vec![rule_named(&["configmaps"], &["get"], &[kubelet_cm])], vec![group, nodes]));
    v.extend(role_and_binding(
        "kubeadm:bootstrap-signer-clusterinfo",
        "kube-public",
        vec![rule_named(&["configmaps"], &["get"], &["cluster-info"])],
        vec![subject("User", "system:anonymous")],
    ));
    v
}
