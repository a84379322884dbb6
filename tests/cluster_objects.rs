//! The API objects `init` creates, compared with kubeadm's object set (kubeadm.md §5), and the
//! printed join command's CA pin checked against openssl.

mod common;
use common::*;

use kubeup::config::{self, HostDefaults, Settings};
use kubeup::objects::{self, cluster as cluster_objects, rbac};

fn cfg(version: &str) -> config::Config {
    let file = config::parse_text(&format!("apiVersion: kubeup.io/v1alpha1\nkind: Configuration\nkubernetesVersion: {version}\n")).unwrap();
    config::resolve(
        Some(file),
        &Settings::default(),
        &HostDefaults {
            hostname: Some("cp-1".into()),
            address: Some("192.0.2.10".parse().unwrap()),
            cgroup_driver: None,
            cri_socket: None,
            kubeup_image: None,
        },
    )
    .unwrap()
}

fn summary(o: &serde_json::Value) -> String {
    let subjects: Vec<String> = o["subjects"]
        .as_array()
        .map(|s| s.iter().map(|s| format!("{}:{}", s["kind"].as_str().unwrap(), s["name"].as_str().unwrap())).collect())
        .unwrap_or_default();
    let role = o["roleRef"]["name"].as_str().map(|r| format!(" -> {r}")).unwrap_or_default();
    format!("{} {}{} [{}]", o["kind"].as_str().unwrap(), o["metadata"]["name"].as_str().unwrap(), role, subjects.join(","))
}

#[test]
fn rbac_is_kubeadms_object_set() {
    let g = "Group:system:bootstrappers:kubeadm:default-node-token";
    let got: Vec<String> = rbac::bootstrap_rbac(&cfg("v1.33.1")).iter().map(summary).collect();
    let want = vec![
        "ClusterRoleBinding kubeadm:cluster-admins -> cluster-admin [Group:kubeadm:cluster-admins]".to_string(),
        format!("ClusterRoleBinding kubeadm:kubelet-bootstrap -> system:node-bootstrapper [{g}]"),
        format!("ClusterRoleBinding kubeadm:node-autoapprove-bootstrap -> system:certificates.k8s.io:certificatesigningrequests:nodeclient [{g}]"),
        "ClusterRoleBinding kubeadm:node-autoapprove-certificate-rotation -> system:certificates.k8s.io:certificatesigningrequests:selfnodeclient [Group:system:nodes]".to_string(),
        "ClusterRole kubeadm:get-nodes []".to_string(),
        format!("ClusterRoleBinding kubeadm:get-nodes -> kubeadm:get-nodes [{g}]"),
        "Role kubeadm:nodes-kubeadm-config []".to_string(),
        format!("RoleBinding kubeadm:nodes-kubeadm-config -> kubeadm:nodes-kubeadm-config [{g},Group:system:nodes]"),
        "Role kubeadm:kubelet-config []".to_string(),
        format!("RoleBinding kubeadm:kubelet-config -> kubeadm:kubelet-config [{g},Group:system:nodes]"),
        "Role kubeadm:bootstrap-signer-clusterinfo []".to_string(),
        "RoleBinding kubeadm:bootstrap-signer-clusterinfo -> kubeadm:bootstrap-signer-clusterinfo [User:system:anonymous]".to_string(),
    ];
    assert_eq!(got, want);
    // Before 1.24 the kubelet's ConfigMap and Role carry the minor; before 1.29 no cluster-admins binding.
    let old: Vec<String> = rbac::bootstrap_rbac(&cfg("v1.20.2")).iter().map(summary).collect();
    assert!(old.iter().any(|s| s.starts_with("Role kubeadm:kubelet-config-1.20 ")));
    assert!(!old.iter().any(|s| s.contains("kubeadm:cluster-admins")));
    let all = rbac::bootstrap_rbac(&cfg("v1.20.2"));
    let role = all.iter().find(|o| o["kind"] == "Role" && o["metadata"]["name"] == "kubeadm:kubelet-config-1.20").unwrap();
    assert_eq!(role["rules"][0]["resourceNames"], serde_json::json!(["kubelet-config-1.20"]));
}

#[test]
fn token_secret_and_signed_cluster_info() {
    let token: kubeup::token::BootstrapToken = "abcdef.0123456789abcdef".parse().unwrap();
    let s = objects::json(&cluster_objects::bootstrap_token_secret(&token, Some("2026-11-22T00:00:00Z"), "d", &[objects::DEFAULT_NODE_TOKEN_GROUP.into()]));
    assert_eq!(s["type"], "bootstrap.kubernetes.io/token");
    assert_eq!(s["metadata"]["name"], "bootstrap-token-abcdef");
    let keys: Vec<&str> = s["data"].as_object().unwrap().keys().map(String::as_str).collect();
    assert_eq!(
        keys,
        ["auth-extra-groups", "description", "expiration", "token-id", "token-secret", "usage-bootstrap-authentication", "usage-bootstrap-signing"]
    );
    let kc = cluster_objects::cluster_info_kubeconfig("https://192.0.2.10:6443", "-----BEGIN CERTIFICATE-----\nAA==\n-----END CERTIFICATE-----\n").unwrap();
    let ci = objects::json(&cluster_objects::cluster_info(&kc, &[&token]));
    let sig = ci["data"]["jws-kubeconfig-abcdef"].as_str().unwrap();
    assert!(kubeup::jws::verify(ci["data"]["kubeconfig"].as_str().unwrap(), sig, "abcdef", "0123456789abcdef"));
    assert!(!kubeup::jws::verify(ci["data"]["kubeconfig"].as_str().unwrap(), sig, "abcdef", "0123456789abcdeX"));
}

#[test]
fn printed_join_command_pins_the_ca_as_openssl_computes_it() {
    let root = tempfile::tempdir().unwrap();
    assert_eq!(init(root.path(), &[]).code, 0);
    let base = ["--host-root", root.path().to_str().unwrap(), "--node-name", "cp-1", "--apiserver-advertise-address", "127.0.0.1", "--host-pid", NO_SUCH_PID];
    let r = Run::from(kubeup().args(["init", "phase", "show-join-command"]).args(base).output().unwrap());
    assert_eq!(r.code, 0, "{}", r.stderr);
    let line = r.stdout.lines().find(|l| l.contains("kubeup join")).unwrap_or_else(|| panic!("{}", r.stdout));
    assert!(line.contains(
        "docker run --rm --privileged --net=host --pid=host -v /:/host -v /var/run/docker.sock:/var/run/docker.sock kubeup join 127.0.0.1:6443 --token "
    ));
    let token = kept_token(root.path(), "/var/lib/kubeup/bootstrap-token");
    assert!(line.contains(&format!("--token {token}")), "the join command uses the token kubeup created");
    let ca = host(root.path(), "/etc/kubernetes/pki/ca.crt");
    let script = format!("openssl x509 -pubkey -noout -in {} | openssl pkey -pubin -outform der | openssl dgst -sha256 -hex", ca.display());
    let out = std::process::Command::new("sh").args(["-c", &script]).output().unwrap();
    let hex = String::from_utf8(out.stdout).unwrap().trim().rsplit(' ').next().unwrap().to_string();
    assert!(line.ends_with(&format!("--discovery-token-ca-cert-hash sha256:{hex}")), "{line}");
    // A dry run never shows the token.
    let r = Run::from(kubeup().args(["init", "phase", "show-join-command", "--dry-run", "-o", "json"]).args(base).output().unwrap());
    assert!(!r.stdout.contains(&token), "{}", r.stdout);
}

#[test]
fn a_configured_token_without_a_value_is_made_once_and_reused() {
    let root = tempfile::tempdir().unwrap();
    let dir = tempfile::tempdir().unwrap();
    let cfg = dir.path().join("kubeup.yaml");
    std::fs::write(&cfg, "apiVersion: kubeup.io/v1alpha1\nkind: Configuration\nbootstrapTokens:\n- ttl: 1h\n- ttl: 2h\n").unwrap();
    let c = cfg.to_str().unwrap();
    assert_eq!(init(root.path(), &["--config", c]).code, 0);
    let first = kept_token(root.path(), "/var/lib/kubeup/bootstrap-token");
    let second = kept_token(root.path(), "/var/lib/kubeup/bootstrap-token-1");
    assert_ne!(first, second);
    let base = [
        "--host-root",
        root.path().to_str().unwrap(),
        "--node-name",
        "cp-1",
        "--apiserver-advertise-address",
        "127.0.0.1",
        "--host-pid",
        NO_SUCH_PID,
        "--config",
        c,
    ];
    let r = Run::from(kubeup().args(["init", "phase", "show-join-command"]).args(base).output().unwrap());
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert!(r.stdout.contains(&format!("--token {first} ")), "the join command must use the token init created: {}", r.stdout);
    let r = init(root.path(), &["--config", c, "-o", "json"]);
    let v: serde_json::Value = serde_json::from_str(&r.stdout).unwrap();
    assert_eq!(v["changes"]["created"], 0, "a re-run made new tokens");
    assert_eq!(kept_token(root.path(), "/var/lib/kubeup/bootstrap-token"), first);
}
