//! Debian's real etcd, started with exactly the command line of the rendered etcd manifest
//! (paths mapped into the scratch host root): it serves, `etcdctl` with the healthcheck and
//! apiserver client certs reports it healthy, and a client cert from another CA is refused.

mod common;
use common::*;
use k8s_openapi::api::core::v1::Pod;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

#[test]
fn etcd_serves_with_the_rendered_command_line() {
    let root = tempfile::tempdir().unwrap();
    // Debian ships etcd 3.4, the etcd of Kubernetes 1.20/1.21.
    let r = init(root.path(), &["--kubernetes-version", "v1.20.2"]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    let r_str = root.path().to_str().unwrap();
    let manifest = std::fs::read_to_string(host(root.path(), "/etc/kubernetes/manifests/etcd.yaml")).unwrap();
    let pod: Pod = serde_saphyr::from_str(&manifest).unwrap();
    let cmd = pod.spec.unwrap().containers[0].command.clone().unwrap();
    assert_eq!(cmd[0], "etcd");
    let args: Vec<String> = cmd[1..]
        .iter()
        .map(|a| a.replace("=/etc/kubernetes", &format!("={r_str}/etc/kubernetes")).replace("=/var/lib/etcd", &format!("={r_str}/var/lib/etcd")))
        .collect();
    let log = std::fs::File::create(root.path().join("etcd.log")).unwrap();
    let _etcd = KillOnDrop(
        Command::new("etcd")
            .args(&args)
            .stdin(Stdio::null())
            .stdout(log.try_clone().unwrap())
            .stderr(log)
            .spawn()
            .expect("etcd (Debian package etcd-server) is required"),
    );

    let pki = |f: &str| host(root.path(), &format!("/etc/kubernetes/pki/{f}")).to_str().unwrap().to_string();
    let health = |cert: &str, key: &str, ca: &str| {
        tool(
            "etcdctl",
            &[
                "--endpoints",
                "https://127.0.0.1:2379",
                "--cacert",
                &pki(ca),
                "--cert",
                cert,
                "--key",
                key,
                "--dial-timeout",
                "2s",
                "--command-timeout",
                "3s",
                "endpoint",
                "health",
            ],
        )
    };
    let deadline = Instant::now() + Duration::from_secs(30);
    let (ok, out) = loop {
        let (ok, out) = health(&pki("etcd/healthcheck-client.crt"), &pki("etcd/healthcheck-client.key"), "etcd/ca.crt");
        if ok || Instant::now() > deadline {
            break (ok, out);
        }
        std::thread::sleep(Duration::from_millis(200));
    };
    let etcd_log = std::fs::read_to_string(root.path().join("etcd.log")).unwrap_or_default();
    assert!(ok && out.contains("is healthy"), "healthcheck-client: {out}\netcd log:\n{etcd_log}");
    let (ok, out) = health(&pki("apiserver-etcd-client.crt"), &pki("apiserver-etcd-client.key"), "etcd/ca.crt");
    assert!(ok && out.contains("is healthy"), "apiserver-etcd-client: {out}");
    // The cluster CA's client certs are from another CA: refused by etcd's client-cert-auth.
    let (ok, out) = health(&pki("apiserver-kubelet-client.crt"), &pki("apiserver-kubelet-client.key"), "etcd/ca.crt");
    assert!(!ok, "a client cert from another CA must be refused: {out}");
    // Metrics/health listener of the probes.
    let (ok, out) = tool("curl", &["-sf", "http://127.0.0.1:2381/health"]);
    assert!(ok && out.contains("true"), "probe endpoint: {out}");
}
