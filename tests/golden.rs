//! Golden files of everything `init` renders that holds no key, serial or timestamp: the four
//! static pod manifests, the kubelet configuration, flags, container spec and systemd unit, for
//! the oldest supported minor (the one proven end to end) and the default version. Any change
//! of a flag is a visible diff. Regenerate with `UPDATE_GOLDEN=1 cargo test --test golden`.

use std::path::PathBuf;

use kubeup::config::{self, HostDefaults, Settings};
use kubeup::kubelet::{config as kubelet_config, container, unit};
use kubeup::manifests;

fn cfg(version: &str) -> config::Config {
    let file = config::parse_text(&format!(
        "apiVersion: kubeup.io/v1alpha1\nkind: Configuration\nkubernetesVersion: {version}\nnetworking:\n  podSubnet: 10.244.0.0/16\nnode:\n  name: cp-1\n  advertiseAddress: 192.0.2.10\n"
    ))
    .unwrap();
    config::resolve(
        Some(file),
        &Settings::default(),
        &HostDefaults { hostname: Some("cp-1".into()), address: None, cgroup_driver: None, cri_socket: None, kubeup_image: None },
    )
    .unwrap()
}

/// A host whose default-route interface carries the advertise address: the kubelet finds its
/// address by itself, so no `--node-ip` (as kubeadm renders it).
fn on_own_address() -> kubelet_config::NodeAddressFacts<'static> {
    kubelet_config::NodeAddressFacts { hosts_file: None, default_address: Some("192.0.2.10".parse().unwrap()) }
}

fn check(name: &str, actual: &str) {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/golden").join(name);
    if std::env::var_os("UPDATE_GOLDEN").is_some() {
        std::fs::write(&path, actual).unwrap();
        return;
    }
    let expected =
        std::fs::read_to_string(&path).unwrap_or_else(|_| panic!("missing golden file {}: run UPDATE_GOLDEN=1 cargo test --test golden", path.display()));
    if expected != actual {
        let diff: Vec<String> = expected
            .lines()
            .zip(actual.lines())
            .enumerate()
            .filter(|(_, (a, b))| a != b)
            .take(5)
            .map(|(i, (a, b))| format!("line {}:\n  golden: {a}\n  now:    {b}", i + 1))
            .collect();
        panic!("{name} differs from its golden file (UPDATE_GOLDEN=1 to accept):\n{}", diff.join("\n"));
    }
}

fn render_all(version: &str, tag: &str) {
    let c = cfg(version);
    let dirs = vec!["/etc/ca-certificates".to_string(), "/usr/share/ca-certificates".to_string()];
    check(&format!("etcd-{tag}.yaml"), &manifests::to_yaml(&manifests::etcd::pod(&c)).unwrap());
    check(&format!("kube-apiserver-{tag}.yaml"), &manifests::to_yaml(&manifests::apiserver::pod(&c, &dirs)).unwrap());
    check(&format!("kube-controller-manager-{tag}.yaml"), &manifests::to_yaml(&manifests::controller_manager::pod(&c, &dirs, false)).unwrap());
    check(&format!("kube-scheduler-{tag}.yaml"), &manifests::to_yaml(&manifests::scheduler::pod(&c)).unwrap());
    // The node's own file: the cluster's configuration with this node's instance configuration.
    let cluster = kubeup::yaml::to_string(&kubelet_config::kubelet_configuration(&c, Some("/run/systemd/resolve/resolv.conf"))).unwrap();
    let kc = kubelet_config::node_kubelet_config(&c, &cluster).unwrap();
    check(&format!("kubelet-config-{tag}.yaml"), &kc);
    let flags = kubelet_config::kubelet_flags(&c, Some("cp-1"), on_own_address());
    check(&format!("kubeadm-flags-{tag}.env"), &kubelet_config::kubeadm_flags_env(&flags));
    let spec = container::kubelet_container(&c, "kubeup-kubelet", &flags, kc.as_bytes(), true, |_| true);
    check(&format!("kubelet-container-{tag}.json"), &format!("{:#}\n", serde_json::to_value(&spec).unwrap()));
    check(&format!("kubelet-unit-{tag}.service"), &unit::kubelet_unit(&spec));
}

#[test]
fn golden_v1_20() {
    render_all("v1.20.2", "v1.20");
}

#[test]
fn golden_default_version() {
    render_all(kubeup::version::DEFAULT_KUBERNETES_VERSION, "default");
}

#[test]
fn every_supported_minor_renders_and_parses_back() {
    for minor in kubeup::version::MIN_MINOR..=kubeup::version::newest_minor() {
        let c = cfg(&format!("v1.{minor}.0"));
        for pod in
            [manifests::etcd::pod(&c), manifests::apiserver::pod(&c, &[]), manifests::controller_manager::pod(&c, &[], false), manifests::scheduler::pod(&c)]
        {
            let yaml = manifests::to_yaml(&pod).unwrap();
            let back: k8s_openapi::api::core::v1::Pod = serde_saphyr::from_str(&yaml).unwrap();
            assert_eq!(back, pod, "v1.{minor}");
        }
        let etcd = manifests::to_yaml(&manifests::etcd::pod(&c)).unwrap();
        assert_eq!(etcd.contains("--feature-gates=InitialCorruptCheck=true"), minor >= 34, "v1.{minor}");
        assert_eq!(etcd.contains("--experimental-initial-corrupt-check=true"), (22..34).contains(&minor), "v1.{minor}");
        let flags = kubelet_config::kubelet_flags(&c, Some("cp-1"), on_own_address());
        assert_eq!(flags.contains_key("container-runtime"), minor < 26, "v1.{minor}");
        // 1.20's kubeadm passes it only for the dockershim socket (the default here is containerd's).
        assert_eq!(flags.contains_key("pod-infra-container-image"), (21..35).contains(&minor), "v1.{minor}");
    }
}
