//! Host preparation and the preflight checks behind it, in namespaces the test creates itself
//! with `unshare` (never this machine's own): a kubelet directory that is not shared is
//! reported by preflight and fixed by prepare-host; other failure modes each name their check.

mod common;
use common::*;
use std::process::{Command, Stdio};

/// `sleep` in a new mount namespace (everything private) and a new network namespace.
fn isolated_sleeper() -> KillOnDrop {
    let child = Command::new("unshare").args(["--mount", "--net", "--propagation", "private", "sleep", "600"]).stdin(Stdio::null()).spawn().expect("unshare");
    // Wait until the namespaces exist (the child has exec'd sleep).
    for _ in 0..100 {
        if std::fs::read_link(format!("/proc/{}/ns/mnt", child.id())).ok() != std::fs::read_link("/proc/self/ns/mnt").ok() {
            break;
        }
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
    KillOnDrop(child)
}

/// kubeup with effects enabled (host commands run, in the sleeper's namespaces).
fn kubeup_with_effects(root: &std::path::Path, pid: &str, args: &[&str]) -> Run {
    let mut c = kubeup();
    c.env_remove("KUBEUP_SKIP_EFFECTS");
    c.args(["init", "phase"]).args(args).args([
        "--host-root",
        root.to_str().unwrap(),
        "--host-pid",
        pid,
        "--node-name",
        "cp-1",
        "--apiserver-advertise-address",
        "127.0.0.1",
    ]);
    Run::from(c.output().unwrap())
}

fn kubelet_mount_line(pid: u32, root: &std::path::Path) -> Option<String> {
    // mountinfo writes a space as \040.
    let want = format!("{}/var/lib/kubelet", root.display()).replace(' ', "\\040");
    std::fs::read_to_string(format!("/proc/{pid}/mountinfo")).unwrap().lines().find(|l| l.split(' ').nth(4) == Some(want.as_str())).map(str::to_string)
}

#[test]
fn preflight_reports_a_private_kubelet_dir_and_prepare_host_makes_it_shared() {
    let sleeper = isolated_sleeper();
    let pid = sleeper.0.id();
    // A path no shell script could take unquoted: the host commands get it as one argument.
    let root = tempfile::Builder::new().prefix("kube'up root $(x)").tempdir().unwrap();
    std::fs::create_dir_all(host(root.path(), "/var/lib/kubelet")).unwrap();

    let r = kubeup_with_effects(root.path(), &pid.to_string(), &["preflight", "--no-host-fixes"]);
    assert_eq!(r.code, 3, "{}{}", r.stdout, r.stderr);
    assert!(r.stderr.contains("[ERROR SharedMount--var-lib-kubelet]: /var/lib/kubelet is not on a shared mount"), "{}", r.stderr);
    assert!(r.stderr.contains("--no-host-fixes"), "{}", r.stderr);

    let r = kubeup_with_effects(root.path(), &pid.to_string(), &["prepare-host"]);
    assert_eq!(r.code, 0, "{}{}", r.stdout, r.stderr);
    assert!(r.stdout.contains(&format!("host commands run in the namespaces of process {pid}")), "{}", r.stdout);
    assert!(r.stdout.contains("var/lib/kubelet is a shared mount (bound onto itself)"), "{}", r.stdout);
    let line = kubelet_mount_line(pid, root.path()).expect("the kubelet directory is now a mount point in the test's namespace");
    assert!(line.contains("shared:"), "{line}");
    assert!(kubelet_mount_line(std::process::id(), root.path()).is_none(), "the machine's own mount table must not change");
    assert_eq!(std::fs::read_to_string(host(root.path(), "/etc/modules-load.d/kubeup.conf")).unwrap(), "overlay\nbr_netfilter\n");
    let sysctl = std::fs::read_to_string(host(root.path(), "/etc/sysctl.d/90-kubeup.conf")).unwrap();
    assert!(sysctl.contains("net.ipv4.ip_forward = 1") && sysctl.contains("net.bridge.bridge-nf-call-iptables = 1"), "{sysctl}");
    let record = std::fs::read_to_string(host(root.path(), "/var/lib/kubeup/install-record.json")).unwrap();
    assert!(record.contains("/etc/sysctl.d/90-kubeup.conf") && record.contains("/etc/modules-load.d/kubeup.conf"), "{record}");

    let r = kubeup_with_effects(root.path(), &pid.to_string(), &["preflight", "--no-host-fixes", "--ignore-preflight-errors", "Docker,CRI"]);
    assert_eq!(r.code, 0, "{}{}", r.stdout, r.stderr);
    assert!(r.stdout.contains("[OK SharedMount--var-lib-kubelet]"), "{}{}", r.stdout, r.stderr);
}

#[test]
fn preflight_failure_modes_name_their_checks() {
    let root = tempfile::tempdir().unwrap();
    let fake = tempfile::tempdir().unwrap();
    std::fs::create_dir_all(fake.path().join("sys/net/ipv4")).unwrap();
    std::fs::write(fake.path().join("swaps"), "Filename\tType\tSize\tUsed\tPriority\n/swapfile file 1048572 0 -2\n").unwrap();
    std::fs::write(fake.path().join("sys/net/ipv4/ip_forward"), "0\n").unwrap();
    let r = Run::from(
        kubeup()
            .env("KUBEUP_PROC_DIR", fake.path())
            .args(["init", "phase", "preflight", "--no-host-fixes", "--host-root", root.path().to_str().unwrap(), "--host-pid", NO_SUCH_PID])
            .args(["--node-name", "cp-1", "--apiserver-advertise-address", "127.0.0.1"])
            .output()
            .unwrap(),
    );
    assert_eq!(r.code, 3, "{}{}", r.stdout, r.stderr);
    for (name, text) in [
        ("[WARNING Swap]", "swap is on"),
        ("[ERROR FileContent--proc-sys-net-ipv4-ip_forward]", "is 0, must be 1"),
        ("[ERROR FileContent--proc-sys-net-bridge-bridge-nf-call-iptables]", "br_netfilter module is not loaded"),
        ("[ERROR Docker]", "Docker socket /nonexistent/docker.sock not found: run the installer with -v /var/run/docker.sock:/var/run/docker.sock"),
        ("[ERROR CRI]", "no container runtime answers on /run/containerd/containerd.sock"),
    ] {
        let all = format!("{}{}", r.stdout, r.stderr);
        let line = all.lines().find(|l| l.contains(name)).unwrap_or_else(|| panic!("{name} missing:\n{all}"));
        assert!(line.contains(text), "{name}: {line}");
    }
    // With host fixes on (the default), what prepare-host fixes is only a warning.
    let r = Run::from(
        kubeup()
            .env("KUBEUP_PROC_DIR", fake.path())
            .args(["init", "phase", "preflight", "--host-root", root.path().to_str().unwrap(), "--host-pid", NO_SUCH_PID])
            .args(["--node-name", "cp-1", "--apiserver-advertise-address", "127.0.0.1", "--ignore-preflight-errors", "Docker,CRI"])
            .output()
            .unwrap(),
    );
    assert_eq!(r.code, 0, "{}{}", r.stdout, r.stderr);
    assert!(
        r.stdout.contains("[WARNING FileContent--proc-sys-net-ipv4-ip_forward]: /proc/sys/net/ipv4/ip_forward is 0, must be 1; prepare-host fixes it"),
        "{}",
        r.stdout
    );
}
