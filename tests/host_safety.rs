//! What `init` does to a host root: modes, convergence on re-runs, dry runs that touch
//! nothing, and bad inputs that fail with one clear message and leave the root exactly as it was.

mod common;
use common::*;
use std::os::unix::fs::PermissionsExt;

fn mode(root: &std::path::Path, p: &str) -> u32 {
    std::fs::metadata(host(root, p)).unwrap().permissions().mode() & 0o7777
}

#[test]
fn init_lays_down_a_complete_node_with_kubeadms_modes() {
    let root = tempfile::tempdir().unwrap();
    let r = init(root.path(), &[]);
    assert_eq!(r.code, 0, "{}{}", r.stdout, r.stderr);
    assert!(r.stdout.contains("container kubeup-kubelet created and started; privileges recorded, not granted (test edges)"), "{}", r.stdout);
    for (p, m) in [
        ("/etc/kubernetes/pki/ca.key", 0o600),
        ("/etc/kubernetes/pki/ca.crt", 0o644),
        ("/etc/kubernetes/pki/etcd/server.key", 0o600),
        ("/etc/kubernetes/pki/sa.key", 0o600),
        ("/etc/kubernetes/pki/sa.pub", 0o644),
        ("/etc/kubernetes/admin.conf", 0o600),
        ("/etc/kubernetes/super-admin.conf", 0o600),
        ("/etc/kubernetes/kubelet.conf", 0o600),
        ("/etc/kubernetes/controller-manager.conf", 0o600),
        ("/etc/kubernetes/scheduler.conf", 0o600),
        ("/etc/kubernetes/manifests", 0o700),
        ("/etc/kubernetes/manifests/etcd.yaml", 0o600),
        ("/etc/kubernetes/manifests/kube-apiserver.yaml", 0o600),
        ("/etc/kubernetes/manifests/kube-controller-manager.yaml", 0o600),
        ("/etc/kubernetes/manifests/kube-scheduler.yaml", 0o600),
        ("/var/lib/etcd", 0o700),
        ("/var/lib/kubelet/config.yaml", 0o644),
        ("/var/lib/kubelet/kubeadm-flags.env", 0o644),
    ] {
        assert_eq!(mode(root.path(), p), m, "{p}");
    }
    // No systemd in the scratch root: no unit file.
    assert!(!host(root.path(), "/etc/systemd/system/kubeup-kubelet.service").exists());
}

#[test]
fn systemd_hosts_get_the_unit_and_docker_does_not_restart_the_container() {
    let root = tempfile::tempdir().unwrap();
    std::fs::create_dir_all(host(root.path(), "/run/systemd/system")).unwrap();
    let r = init(root.path(), &["-o", "json"]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    let unit = std::fs::read_to_string(host(root.path(), "/etc/systemd/system/kubeup-kubelet.service")).unwrap();
    assert!(unit.contains("bind-propagation=rshared") && unit.contains("Restart=always") && unit.contains("--pid host"), "{unit}");
    let v: serde_json::Value = serde_json::from_str(&r.stdout).unwrap();
    let container = v["phases"].as_array().unwrap().iter().flat_map(|p| p["steps"].as_array().unwrap()).find(|s| s["action"] == "run-container").unwrap();
    assert_eq!(container["container"]["restart_policy"], "no", "exactly one supervisor");
}

#[test]
fn rerun_converges_without_touching_any_key_or_cert() {
    let root = tempfile::tempdir().unwrap();
    assert_eq!(init(root.path(), &[]).code, 0);
    let before = snapshot(root.path());
    let r = init(root.path(), &["-o", "json"]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    let v: serde_json::Value = serde_json::from_str(&r.stdout).unwrap();
    assert_eq!(v["changes"]["created"], 0, "{}", r.stdout);
    assert_eq!(v["changes"]["replaced"], 0);
    assert_eq!(v["changes"]["dirs_created"], 0);
    assert_eq!(snapshot(root.path()), before, "a second run must change nothing");
}

#[test]
fn changed_config_replaces_manifests_but_refuses_to_touch_mismatching_certs() {
    let root = tempfile::tempdir().unwrap();
    assert_eq!(init(root.path(), &[]).code, 0);
    // A changed flag that only shows in manifests converges them.
    let r = init(root.path(), &["--image-repository", "mirror.example.com/k8s"]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    let api = std::fs::read_to_string(host(root.path(), "/etc/kubernetes/manifests/kube-apiserver.yaml")).unwrap();
    assert!(api.contains("mirror.example.com/k8s/kube-apiserver:"), "{api}");
    // A new SAN the existing apiserver cert lacks is refused, naming the mismatch.
    let before = snapshot(root.path());
    let r = init(root.path(), &["--apiserver-cert-extra-sans", "new.example.com"]);
    assert_eq!(r.code, 1, "{}", r.stdout);
    assert!(r.stderr.contains("apiserver.crt") && r.stderr.contains("missing subject alternative names DNS:new.example.com"), "{}", r.stderr);
    assert_eq!(snapshot(root.path()), before);
}

#[test]
fn dry_run_touches_nothing_and_redacts_secrets() {
    let root = tempfile::tempdir().unwrap();
    let r = init(root.path(), &["--dry-run", "-o", "json"]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert!(snapshot(root.path()).is_empty(), "dry run wrote into the host root");
    assert!(!r.stdout.contains("PRIVATE KEY") && !r.stdout.contains("client-key-data"), "secrets leaked into the plan");
    let v: serde_json::Value = serde_json::from_str(&r.stdout).unwrap();
    let steps: Vec<&serde_json::Value> = v["phases"].as_array().unwrap().iter().flat_map(|p| p["steps"].as_array().unwrap()).collect();
    let key = steps.iter().find(|s| s["path"] == "/etc/kubernetes/pki/ca.key").unwrap();
    assert_eq!(key["redacted"], true);
    assert!(key.get("contents").is_none());
    let etcd = steps.iter().find(|s| s["path"] == "/etc/kubernetes/manifests/etcd.yaml").unwrap();
    assert!(etcd["contents"].as_str().unwrap().contains("--data-dir=/var/lib/etcd"));
    assert!(v["stoppedAt"].is_null(), "a dry run plans every phase: {}", v["stoppedAt"]);
    assert!(steps.iter().any(|s| s["object"]["kind"] == "DaemonSet" && s["object"]["metadata"]["name"] == "kube-proxy"), "the addon phase is planned");
    // Text form for people.
    let r = init(root.path(), &["--dry-run"]);
    assert_eq!(r.code, 0);
    assert!(r.stdout.contains("[dryrun] nothing was changed on the host"));
    assert!(r.stdout.contains("contents redacted"));
    assert!(snapshot(root.path()).is_empty());
}

#[test]
fn bad_inputs_fail_with_one_clear_message_and_leave_the_root_as_it_was() {
    let root = tempfile::tempdir().unwrap();
    std::fs::create_dir_all(host(root.path(), "/etc/kubernetes/pki")).unwrap();
    std::fs::write(host(root.path(), "/etc/kubernetes/pki/unrelated"), "x").unwrap();
    let before = snapshot(root.path());
    let cfgdir = tempfile::tempdir().unwrap();
    let malformed = cfgdir.path().join("bad.yaml");
    std::fs::write(&malformed, "apiVersion: kubeup.io/v1alpha1\nkind: Configuration\nnetworking: [oops\n").unwrap();
    let unknown = cfgdir.path().join("unknown.yaml");
    std::fs::write(&unknown, "apiVersion: kubeup.io/v1alpha1\nkind: Configuration\nnetworking:\n  podSubnet: 10.244.0.0/16\n  serviceSubnett: 10.96.0.0/12\n")
        .unwrap();
    let cases: Vec<(Vec<String>, i32, &str)> = vec![
        (vec!["--pod-network-cidr".into(), "10.244.0/16".into()], 2, "is not a CIDR"),
        (vec!["--pod-network-cidr".into(), "10.96.0.0/16".into()], 2, "overlaps the service subnet"),
        (vec!["--service-cidr".into(), "10.96.0.0/30".into()], 2, "too small"),
        (vec!["--kubernetes-version".into(), "v1.19.4".into()], 2, "not supported"),
        (vec!["--kubernetes-version".into(), "1.x".into()], 2, "not a Kubernetes version"),
        (vec!["--config".into(), cfgdir.path().join("missing.yaml").to_str().unwrap().into()], 2, "cannot read config file"),
        (vec!["--config".into(), cfgdir.path().to_str().unwrap().into()], 2, "cannot read config file"),
        (vec!["--config".into(), malformed.to_str().unwrap().into()], 2, "not valid YAML"),
        (vec!["--config".into(), unknown.to_str().unwrap().into()], 2, "serviceSubnett"),
        (vec!["--service-dns-domain".into(), "Not_A_Domain".into()], 2, "networking.dnsDomain"),
    ];
    for (args, code, needle) in cases {
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        let r = init(root.path(), &args);
        assert_eq!(r.code, code, "{args:?}: {}", r.stderr);
        assert!(r.stderr.contains(needle), "{args:?}: {:?} should contain {needle:?}", r.stderr);
        assert_eq!(r.stderr.trim().lines().filter(|l| l.starts_with("error")).count(), 1, "one message: {}", r.stderr);
        assert_eq!(snapshot(root.path()), before, "{args:?} changed the host root");
    }
    // The host root is a file.
    let f = tempfile::NamedTempFile::new().unwrap();
    let r = init(f.path(), &[]);
    assert_eq!(r.code, 2);
    assert!(r.stderr.contains("is not a directory") && r.stderr.contains("--host-root"), "{}", r.stderr);
}

#[test]
fn an_existing_ca_key_that_does_not_match_its_cert_is_refused() {
    let root = tempfile::tempdir().unwrap();
    assert_eq!(init(root.path(), &[]).code, 0);
    let pki = host(root.path(), "/etc/kubernetes/pki");
    // Put the front-proxy CA's key next to the cluster CA's cert.
    std::fs::copy(pki.join("front-proxy-ca.key"), pki.join("ca.key")).unwrap();
    let before = snapshot(root.path());
    let r = init(root.path(), &[]);
    assert_eq!(r.code, 1);
    assert!(
        r.stderr.contains("ca.crt")
            && r.stderr.contains("the private key does not belong to the certificate")
            && r.stderr.contains("nothing on the host was changed"),
        "{}",
        r.stderr
    );
    assert_eq!(snapshot(root.path()), before);
}

#[test]
fn external_ca_mode_uses_existing_leaves_and_names_a_missing_one() {
    let root = tempfile::tempdir().unwrap();
    assert_eq!(init(root.path(), &[]).code, 0);
    let pki = host(root.path(), "/etc/kubernetes/pki");
    std::fs::remove_file(pki.join("ca.key")).unwrap();
    let r = init(root.path(), &[]);
    assert_eq!(r.code, 0, "external CA with all leaves present works: {}", r.stderr);
    let kcm = std::fs::read_to_string(host(root.path(), "/etc/kubernetes/manifests/kube-controller-manager.yaml")).unwrap();
    assert!(kcm.contains("--cluster-signing-key-file=\n") && !kcm.contains("pki/ca.key"), "no signing key in external-CA mode:\n{kcm}");
    std::fs::remove_file(pki.join("apiserver.crt")).unwrap();
    std::fs::remove_file(pki.join("apiserver.key")).unwrap();
    let r = init(root.path(), &[]);
    assert_eq!(r.code, 1);
    assert!(r.stderr.contains("apiserver.crt is missing") && r.stderr.contains("external CA mode"), "{}", r.stderr);
}

#[test]
fn one_phase_and_one_child_run_alone() {
    let root = tempfile::tempdir().unwrap();
    let base = ["--host-root", root.path().to_str().unwrap(), "--node-name", "cp-1", "--apiserver-advertise-address", "127.0.0.1", "--host-pid", NO_SUCH_PID];
    let r = Run::from(kubeup().args(["init", "phase", "certs", "ca"]).args(base).output().unwrap());
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert!(host(root.path(), "/etc/kubernetes/pki/ca.crt").exists());
    assert!(!host(root.path(), "/etc/kubernetes/pki/apiserver.crt").exists());
    let r = Run::from(kubeup().args(["init", "phase", "certs", "apiserver"]).args(base).output().unwrap());
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert!(host(root.path(), "/etc/kubernetes/pki/apiserver.crt").exists());
    // A leaf whose CA is missing says which phase makes it.
    let r = Run::from(kubeup().args(["init", "phase", "certs", "etcd-server"]).args(base).output().unwrap());
    assert_eq!(r.code, 1);
    assert!(r.stderr.contains("run `kubeup init phase certs etcd-ca` first"), "{}", r.stderr);
    // An API phase alone, as a dry run: its objects.
    let r = Run::from(kubeup().args(["init", "phase", "addon", "kube-proxy", "--dry-run"]).args(base).output().unwrap());
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert!(r.stdout.contains("apply DaemonSet kube-system/kube-proxy") && !r.stdout.contains("coredns"), "{}", r.stdout);
    let r = Run::from(kubeup().args(["init", "phase", "nonsense"]).args(base).output().unwrap());
    assert_eq!(r.code, 2);
}

#[test]
fn preflight_names_the_failing_check() {
    let root = tempfile::tempdir().unwrap();
    let listener = std::net::TcpListener::bind("0.0.0.0:0").unwrap();
    let port = listener.local_addr().unwrap().port().to_string();
    std::fs::create_dir_all(host(root.path(), "/etc/kubernetes/manifests")).unwrap();
    std::fs::write(host(root.path(), "/etc/kubernetes/manifests/kube-scheduler.yaml"), "apiVersion: v1\nkind: Pod\n").unwrap();
    let before = snapshot(root.path());
    let r = Run::from(
        kubeup()
            .args([
                "init",
                "--host-root",
                root.path().to_str().unwrap(),
                "--node-name",
                "cp-1",
                "--apiserver-advertise-address",
                "127.0.0.1",
                "--apiserver-bind-port",
                &port,
            ])
            .output()
            .unwrap(),
    );
    assert_eq!(r.code, 3, "{}{}", r.stdout, r.stderr);
    assert!(r.stderr.contains(&format!("[ERROR Port-{port}]: port {port} is in use")), "{}", r.stderr);
    assert!(r.stderr.contains("[ERROR FileAvailable--etc-kubernetes-manifests-kube-scheduler.yaml]"), "{}", r.stderr);
    assert!(r.stderr.contains("--ignore-preflight-errors"), "{}", r.stderr);
    assert_eq!(snapshot(root.path()), before);
    // Ignoring the port check leaves the manifest error.
    let r = Run::from(
        kubeup()
            .args([
                "init",
                "phase",
                "preflight",
                "--host-root",
                root.path().to_str().unwrap(),
                "--node-name",
                "cp-1",
                "--apiserver-advertise-address",
                "127.0.0.1",
            ])
            .args(["--apiserver-bind-port", &port, "--ignore-preflight-errors", &format!("port-{port}")])
            .output()
            .unwrap(),
    );
    assert_eq!(r.code, 3);
    assert!(!r.stderr.contains(&format!("[ERROR Port-{port}]")) && r.stderr.contains("FileAvailable"), "{}", r.stderr);
    drop(listener);
}

#[test]
fn a_dry_run_reports_preflight_errors_without_failing() {
    let root = tempfile::tempdir().unwrap();
    let r = Run::from(
        kubeup()
            .args([
                "init",
                "--dry-run",
                "--host-root",
                root.path().to_str().unwrap(),
                "--host-pid",
                NO_SUCH_PID,
                "--node-name",
                "cp-1",
                "--apiserver-advertise-address",
                "127.0.0.1",
            ])
            .output()
            .unwrap(),
    );
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert!(r.stdout.contains("a real run would stop here") && r.stdout.contains("[ERROR CRI]"), "{}", r.stdout);
    assert!(snapshot(root.path()).is_empty());
}

#[test]
fn reset_removes_a_configmap_volume_with_its_symlinks_and_nothing_outside() {
    let root = tempfile::tempdir().unwrap();
    assert_eq!(init(root.path(), &[]).code, 0);
    // A kubelet's ConfigMap volume: `..data` and the file names are symlinks into a dated directory.
    let vol = host(root.path(), "/var/lib/kubelet/pods/p1/volumes/kubernetes.io~configmap/kube-proxy");
    std::fs::create_dir_all(vol.join("..2026_11_21_10_08_28.1")).unwrap();
    std::fs::write(vol.join("..2026_11_21_10_08_28.1/config.conf"), "x").unwrap();
    std::os::unix::fs::symlink("..2026_11_21_10_08_28.1", vol.join("..data")).unwrap();
    std::os::unix::fs::symlink("..data/config.conf", vol.join("config.conf")).unwrap();
    // Something of the user's outside kubeup's directories, reachable through a symlink.
    let outside = tempfile::tempdir().unwrap();
    std::fs::write(outside.path().join("keep"), "mine").unwrap();
    std::os::unix::fs::symlink(outside.path(), host(root.path(), "/var/lib/kubelet/pods/p1/link")).unwrap();
    let r = Run::from(kubeup().args(["reset", "--force", "--host-root", root.path().to_str().unwrap(), "--host-pid", NO_SUCH_PID]).output().unwrap());
    assert_eq!(r.code, 0, "{}\n{}", r.stdout, r.stderr);
    assert!(!host(root.path(), "/var/lib/kubelet/pods").exists(), "{}", r.stdout);
    assert_eq!(std::fs::read_to_string(outside.path().join("keep")).unwrap(), "mine");
}

#[test]
fn skipping_a_sub_phase_runs_the_phase_s_other_children() {
    let root = tempfile::tempdir().unwrap();
    let r = init(root.path(), &["--dry-run", "--skip-phases", "preflight,addon/coredns"]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert!(r.stdout.contains("[addon/kube-proxy] apply DaemonSet kube-system/kube-proxy") && r.stdout.contains("[addon/pod-network]"), "{}", r.stdout);
    assert!(!r.stdout.contains("coredns") && !r.stdout.contains("kube-dns"), "{}", r.stdout);
}
