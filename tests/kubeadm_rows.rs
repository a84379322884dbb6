//! Issue #14's rows, each with the render or flow that would break if it came back: the etcd
//! flags of an overridden etcd image, an IPv6 control plane, `--node-ip`, the per-node CRI
//! socket, cgroup v1 on v1.35+, and the ClusterConfiguration a second control plane renders from.

mod kubeadm_support;
use kubeadm_support::*;

use k8s_openapi::api::core::v1::Pod;

use kubeup::config::{self, HostDefaults, Settings};
use kubeup::kubelet::config as kubelet_config;
use kubeup::manifests;
use kubeup::version::{newest_minor, MIN_MINOR};

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
