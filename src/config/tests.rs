use super::*;

fn host() -> HostDefaults {
    HostDefaults { hostname: Some("Node-1".into()), address: Some("192.0.2.10".parse().unwrap()), cgroup_driver: None, cri_socket: None, kubeup_image: None }
}

fn resolve_text(text: &str) -> Result<Config, String> {
    let s = parse_text(text)?;
    resolve(Some(s), &Settings::default(), &host()).map_err(|e| e.to_string())
}

#[test]
fn defaults_are_kubeadm_v1beta4() {
    let c = resolve(None, &Settings::default(), &host()).unwrap();
    assert_eq!(c.service_subnet.to_string(), "10.96.0.0/12");
    assert_eq!(c.dns_domain, "cluster.local");
    assert_eq!(c.bind_port, 6443);
    assert_eq!(c.cluster_name, "kubernetes");
    assert_eq!(c.image_repository, "registry.k8s.io");
    assert_eq!(c.etcd_data_dir, "/var/lib/etcd");
    assert_eq!(c.cert_dir, "/etc/kubernetes/pki");
    assert_eq!(c.node_name, "node-1");
    assert_eq!(c.cert_validity.as_secs(), 365 * 24 * 3600);
    assert_eq!(c.ca_validity.as_secs(), 3650 * 24 * 3600);
    assert_eq!(c.dns_service_ip().to_string(), "10.96.0.10");
    assert_eq!(c.apiserver_service_ip().to_string(), "10.96.0.1");
    assert_eq!(c.version.to_string(), crate::version::DEFAULT_KUBERNETES_VERSION);
}

#[test]
fn flags_override_file() {
    let file = parse_text("apiVersion: kubeup.io/v1alpha1\nkind: Configuration\nnetworking:\n  podSubnet: 10.244.0.0/16\n  dnsDomain: file.local\n").unwrap();
    let flags = Settings { networking: Networking { dns_domain: Some("flag.local".into()), ..Default::default() }, ..Default::default() };
    let c = resolve(Some(file), &flags, &host()).unwrap();
    assert_eq!(c.dns_domain, "flag.local");
    assert_eq!(c.pod_subnet.unwrap().to_string(), "10.244.0.0/16");
}

#[test]
fn json_config_loads() {
    let c = resolve_text(r#"{"apiVersion":"kubeup.io/v1alpha1","kind":"Configuration","kubernetesVersion":"v1.20.2","node":{"name":"cp"}}"#).unwrap();
    assert_eq!(c.version.minor, 20);
    assert_eq!(c.node_name, "cp");
}

#[test]
fn kubeadm_v1beta4_multi_document() {
    let c = resolve_text(
        r#"
apiVersion: kubeadm.k8s.io/v1beta4
kind: InitConfiguration
bootstrapTokens:
- token: abcdef.0123456789abcdef
  ttl: 24h0m0s
  usages: [signing, authentication]
  groups: [system:bootstrappers:kubeadm:default-node-token]
localAPIEndpoint:
  advertiseAddress: 192.0.2.20
  bindPort: 6444
nodeRegistration:
  name: cp-1
  criSocket: unix:///var/run/containerd/containerd.sock
  imagePullPolicy: IfNotPresent
  taints: null
  kubeletExtraArgs:
  - name: v
    value: "2"
timeouts:
  controlPlaneComponentHealthCheck: 4m0s
---
apiVersion: kubeadm.k8s.io/v1beta4
kind: ClusterConfiguration
kubernetesVersion: v1.31.4
controlPlaneEndpoint: cp.example.com:443
networking:
  podSubnet: 10.244.0.0/16
  serviceSubnet: 10.96.0.0/16
apiServer:
  certSANs: [extra.example.com, 198.51.100.7]
  extraArgs:
  - name: audit-log-maxage
    value: "7"
etcd:
  local:
    dataDir: /data/etcd
dns: {}
proxy: {}
"#,
    )
    .unwrap();
    assert_eq!(c.version.to_string(), "v1.31.4");
    assert_eq!(c.node_name, "cp-1");
    assert_eq!(c.advertise_address.to_string(), "192.0.2.20");
    assert_eq!(c.bind_port, 6444);
    assert_eq!(c.control_plane_endpoint.as_ref().unwrap().url(), "https://cp.example.com:443");
    assert_eq!(c.apiserver_extra_args["audit-log-maxage"], "7");
    assert_eq!(c.kubelet_extra_args["v"], "2");
    assert_eq!(c.etcd_data_dir, "/data/etcd");
    assert_eq!(c.bootstrap_tokens[0].token.as_ref().unwrap().id(), "abcdef");
}

#[test]
fn kubeadm_v1beta3_map_extra_args() {
    let c = resolve_text(
        "apiVersion: kubeadm.k8s.io/v1beta3\nkind: ClusterConfiguration\nkubernetesVersion: v1.20.2\napiServer:\n  timeoutForControlPlane: 4m0s\n  extraArgs:\n    v: \"4\"\n",
    )
    .unwrap();
    assert_eq!(c.apiserver_extra_args["v"], "4");
}

#[test]
fn errors_name_the_field() {
    let cases: &[(&str, &str)] = &[
        ("apiVersion: kubeup.io/v1alpha1\nkind: Configuration\nnetworking:\n  podSubnet: 10.244.0/16\n", "networking.podSubnet"),
        ("apiVersion: kubeup.io/v1alpha1\nkind: Configuration\nnetworking:\n  podSubnet: 10.96.0.0/16\n", "overlaps the service subnet"),
        ("apiVersion: kubeup.io/v1alpha1\nkind: Configuration\nnetworking:\n  serviceSubnet: 10.96.0.0/30\n", "too small"),
        ("apiVersion: kubeup.io/v1alpha1\nkind: Configuration\nnetworking:\n  serviceSubnet: 10.0.0.0/8\n", "too large"),
        ("apiVersion: kubeup.io/v1alpha1\nkind: Configuration\nkubernetesVersion: v1.19.0\n", "kubernetesVersion"),
        ("apiVersion: kubeup.io/v1alpha1\nkind: Configuration\nkubernetesVersion: latest\n", "kubernetesVersion"),
        ("apiVersion: kubeup.io/v1alpha1\nkind: Configuration\nnode:\n  advertiseAddress: 224.0.0.1\n", "not a unicast"),
        ("apiVersion: kubeup.io/v1alpha1\nkind: Configuration\nnode:\n  advertiseAddress: 0.0.0.0\n", "not a unicast"),
        ("apiVersion: kubeup.io/v1alpha1\nkind: Configuration\nnode:\n  name: Bad_Name\n", "node.name"),
        ("apiVersion: kubeup.io/v1alpha1\nkind: Configuration\nnetworkin: {}\n", "networkin"),
        ("apiVersion: kubeup.io/v1alpha1\nkind: Configuration\napiServer:\n  certSANs: [\"bad san!\"]\n", "apiServer.certSANs"),
        ("apiVersion: kubeup.io/v1alpha1\nkind: Configuration\nencryptionAlgorithm: RSA-2048\n", "encryptionAlgorithm"),
        ("apiVersion: kubeadm.k8s.io/v1beta4\nkind: ClusterConfiguration\netcd:\n  external:\n    endpoints: [x]\n", "etcd.external"),
        ("apiVersion: kubeadm.k8s.io/v1beta2\nkind: ClusterConfiguration\n", "v1beta2"),
        ("apiVersion: kubeadm.k8s.io/v1beta4\nkind: JoinConfiguration\n", "JoinConfiguration"),
        ("apiVersion: kubeadm.k8s.io/v1beta4\nkind: InitConfiguration\nbootstrapTokens:\n- token: nope\n", "bootstrapTokens[0].token"),
        ("kind: Configuration\n", "no apiVersion"),
        ("a: [unclosed\n", "not valid YAML"),
        ("", "no configuration document"),
    ];
    for (text, needle) in cases {
        let err = resolve_text(text).unwrap_err();
        assert!(err.contains(needle), "config {text:?}: error {err:?} should mention {needle:?}");
    }
}

#[test]
fn unreadable_file_is_reported_with_its_path() {
    let err = load_file(std::path::Path::new("/nonexistent/kubeup.yaml")).unwrap_err();
    assert!(err.to_string().contains("cannot read config file /nonexistent/kubeup.yaml"), "{err}");
}

#[test]
fn printed_defaults_load_back() {
    let text = serde_saphyr::to_string(&Settings::defaults()).unwrap();
    assert_eq!(parse_text(&text).unwrap(), Settings::defaults());
}
