//! The installer image run exactly as a user runs it, on this machine's real Docker engine,
//! against a scratch host root bind-mounted as /host (with this machine's privilege flags:
//! `--privileged` cannot work here). Every container and image the test creates carries
//! `io.kubeup.test=<run id>` and is removed at the end, also when the test fails. Host
//! commands target a `sleep` process the test starts itself, never PID 1.

mod common;
use common::*;
use std::process::{Command, Stdio};

struct Cleanup {
    label: String,
    sleeper: Option<std::process::Child>,
    root: Option<tempfile::TempDir>,
}

impl Drop for Cleanup {
    fn drop(&mut self) {
        // Mounts the run left under its own scratch root (reset removes them when it runs).
        if let Some(root) = self.root.take() {
            let prefix = format!("{}/", root.path().display());
            let info = std::fs::read_to_string("/proc/self/mountinfo").unwrap_or_default();
            let mut mounts: Vec<&str> = info.lines().filter_map(|l| l.split(' ').nth(4)).filter(|m| m.starts_with(&prefix)).collect();
            mounts.sort_by_key(|m| std::cmp::Reverse(m.len()));
            for m in mounts {
                let _ = Command::new("umount").args(["-l", m]).output();
            }
        }
        let ids = tool("docker", &["ps", "-aq", "--filter", &format!("label={}", self.label)]).1;
        for id in ids.split_whitespace() {
            let _ = Command::new("docker").args(["rm", "-f", id]).output();
        }
        let images = tool("docker", &["images", "-q", "--filter", &format!("label={}", self.label)]).1;
        for id in images.split_whitespace() {
            let _ = Command::new("docker").args(["rmi", "-f", id]).output();
        }
        if let Some(mut s) = self.sleeper.take() {
            let _ = s.kill();
            let _ = s.wait();
        }
    }
}

fn run_id() -> String {
    let mut b = [0u8; 4];
    getrandom::fill(&mut b).unwrap();
    b.iter().map(|x| format!("{x:02x}")).collect()
}

/// Build the stand-in kubelet image (a static C program FROM scratch).
fn build_standin(tag: &str, label: &str) {
    let ctx = tempfile::tempdir().unwrap();
    let src = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures/standin-kubelet.c");
    let (ok, out) = tool("gcc", &["-Os", "-static", "-o", ctx.path().join("kubelet").to_str().unwrap(), src]);
    assert!(ok, "gcc: {out}");
    std::fs::write(ctx.path().join("Dockerfile"), "FROM scratch\nCOPY kubelet /kubelet\nENTRYPOINT [\"/kubelet\"]\n").unwrap();
    let o = Command::new("docker")
        .env("DOCKER_BUILDKIT", "0")
        .args(["build", "-q", "-t", tag, "--label", label, "--label", "io.kubeup.image=test-standin-kubelet"])
        .arg(ctx.path())
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
}

fn inspect(name: &str) -> serde_json::Value {
    let (ok, out) = tool("docker", &["inspect", name]);
    assert!(ok, "docker inspect {name}: {out}");
    serde_json::from_str::<serde_json::Value>(&out).unwrap()[0].clone()
}

#[test]
fn installer_image_lays_down_the_node_starts_the_kubelet_container_and_reset_undoes_it() {
    let id = run_id();
    let label = format!("io.kubeup.test={id}");
    let sleeper = Command::new("sleep").arg("infinity").stdin(Stdio::null()).spawn().unwrap();
    let host_pid = sleeper.id().to_string();
    let mut cleanup = Cleanup { label: label.clone(), sleeper: Some(sleeper), root: None };

    let installer = format!("kubeup-test/installer:{id}");
    let out = Command::new(concat!(env!("CARGO_MANIFEST_DIR"), "/scripts/build-image")).args(["--tag", &installer, "--label", &label]).output().unwrap();
    assert!(out.status.success(), "build-image: {}", String::from_utf8_lossy(&out.stderr));
    let kubelet_image = format!("kubeup-test/kubelet:{id}");
    build_standin(&kubelet_image, &label);

    // The scratch host root, with a CRI socket that answers (the test holds the listener).
    cleanup.root = Some(tempfile::Builder::new().prefix("kubeup-docker-test").tempdir().unwrap());
    let root = cleanup.root.as_ref().unwrap();
    std::fs::create_dir_all(host(root.path(), "/run/containerd")).unwrap();
    // A host has device nodes; the kubelet container binds the host's /dev.
    std::fs::create_dir_all(host(root.path(), "/dev")).unwrap();
    for (name, major, minor) in [("null", "1", "3"), ("zero", "1", "5"), ("full", "1", "7"), ("random", "1", "8"), ("urandom", "1", "9"), ("tty", "5", "0")] {
        let (ok, out) = tool("mknod", &["-m", "666", host(root.path(), &format!("/dev/{name}")).to_str().unwrap(), "c", major, minor]);
        assert!(ok, "mknod: {out}");
    }
    let _cri = std::os::unix::net::UnixListener::bind(host(root.path(), "/run/containerd/containerd.sock")).unwrap();
    let before = snapshot(root.path());
    let prefix = format!("kubeup-test-{id}");
    let kubelet = format!("{prefix}-kubelet");

    let docker_cmd = |args: &[&str]| -> Command {
        let mut c = Command::new("docker");
        c.args(["run", "--rm", "--label", &label, "--cap-add", "ALL", "--cap-drop", "SYS_RESOURCE"]);
        c.args(["--security-opt", "seccomp=unconfined", "--security-opt", "apparmor=unconfined", "--net=host", "--pid=host"]);
        c.args(["-v", &format!("{}:/host", root.path().display()), "-v", "/var/run/docker.sock:/var/run/docker.sock"]);
        c.args(args);
        c
    };
    let docker_run_env = |env: &[&str], args: &[&str]| -> Run {
        let mut c = docker_cmd(&[]);
        for e in env {
            c.args(["-e", e]);
        }
        c.arg(&installer).args(args);
        Run::from(c.output().unwrap())
    };
    // A real `kill -9` of the installer once `ready` says the run is under way. The installer
    // may finish first (it is fast); both outcomes are fine as long as the next run converges.
    let killed_at = |args: &[&str], what: &str, ready: &dyn Fn() -> bool| -> bool {
        let name = format!("kubeup-test-installer-{id}");
        let mut child = docker_cmd(&["--name", &name]).arg(&installer).args(args).stdout(Stdio::null()).stderr(Stdio::null()).spawn().unwrap();
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(60);
        while !ready() && std::time::Instant::now() < deadline {
            std::thread::sleep(std::time::Duration::from_millis(2));
        }
        let killed = Command::new("docker").args(["kill", "-s", "KILL", &name]).output().unwrap().status.success();
        let status = child.wait().unwrap();
        eprintln!("installer {} ({what}); exit {:?}", if killed { "killed" } else { "finished before the kill" }, status.code());
        killed
    };
    let docker_run = |args: &[&str]| docker_run_env(&[], args);
    let init_args = |extra: &[&str]| -> Vec<String> {
        let mut v: Vec<String> = [
            "init",
            "--node-name",
            "cp-test",
            "--apiserver-advertise-address",
            "127.0.0.1",
            "--kubelet-image",
            &kubelet_image,
            "--container-prefix",
            &prefix,
            "--container-label",
            &label,
            "--host-pid",
            &host_pid,
            "--ignore-preflight-errors",
            // SystemVerification: on a cgroup v1 machine the default v1.37's kubelet would refuse
            // to start; the stand-in kubelet does not care.
            "Port-6443,Port-2379,Port-2380,Port-10250,Port-10257,Port-10259,SystemVerification",
            // The stand-in kubelet runs no control plane: the phases that need one are proven
            // by the e2e cluster (scripts/e2e/run).
            "--skip-phases",
            "wait-control-plane,upload-config,upload-certs,mark-control-plane,bootstrap-token,kubelet-finalize,addon",
        ]
        .iter()
        .map(|s| s.to_string())
        .collect();
        v.extend(extra.iter().map(|s| s.to_string()));
        v
    };

    // Killed (SIGKILL, from outside) while writing the PKI, then right after the kubelet
    // container appeared: each re-run completes, no key is regenerated and no second
    // container appears.
    let args = init_args(&[]);
    let argv: Vec<&str> = args.iter().map(String::as_str).collect();
    let ca_key_path = host(root.path(), "/etc/kubernetes/pki/ca.key");
    killed_at(&argv, "while writing the PKI", &|| ca_key_path.exists());
    let container_filter = format!("label={label}");
    let container_up = || !tool("docker", &["ps", "-aq", "--filter", &container_filter, "--filter", "label=io.kubeup.component=kubelet"]).1.trim().is_empty();
    let r = docker_run(&argv);
    assert_eq!(r.code, 0, "the run after the first kill must complete:\n{}\n{}", r.stdout, r.stderr);
    let ca_key = std::fs::read(&ca_key_path).unwrap();
    // Once more with the container removed, killed as soon as it is recreated.
    let _ = Command::new("docker").args(["rm", "-f", &kubelet]).output();
    killed_at(&argv, "after the kubelet container started", &container_up);

    // The run that completes: the node's files, the host fixes, the kubelet container.
    let r = docker_run(&argv);
    assert_eq!(r.code, 0, "init should complete (the API phases skipped):\n{}\n{}", r.stdout, r.stderr);
    assert!(r.stdout.contains(&format!("container {kubelet} already running with this configuration; kept")), "{}", r.stdout);
    assert_eq!(std::fs::read(host(root.path(), "/etc/kubernetes/pki/ca.key")).unwrap(), ca_key, "a re-run regenerated the CA key");
    let containers = tool("docker", &["ps", "-aq", "--filter", &format!("label={label}"), "--filter", "label=io.kubeup.component=kubelet"]).1;
    assert_eq!(containers.split_whitespace().count(), 1, "exactly one kubelet container");
    assert!(
        r.stdout.contains("not --privileged: this host's capability bounding set lacks CAP_SYS_RESOURCE"),
        "kubeup must say what privilege it gave: {}",
        r.stdout
    );
    assert!(r.stdout.contains(&format!("host commands run in the namespaces of process {host_pid}")), "{}", r.stdout);
    assert!(host(root.path(), "/etc/kubernetes/manifests/kube-apiserver.yaml").exists());
    assert!(host(root.path(), "/etc/sysctl.d/90-kubeup.conf").exists());

    let c = inspect(&kubelet);
    let hc = &c["HostConfig"];
    assert_eq!(hc["PidMode"], "host");
    assert_eq!(hc["NetworkMode"], "host");
    assert_eq!(hc["UTSMode"], "host");
    assert_eq!(hc["CgroupnsMode"], "host");
    assert_eq!(hc["RestartPolicy"]["Name"], "unless-stopped");
    assert_eq!(hc["LogConfig"]["Config"]["max-size"], "50m");
    assert_eq!(hc["CapDrop"], serde_json::json!(["SYS_RESOURCE"]));
    assert_eq!(c["Config"]["Labels"]["io.kubeup.component"], "kubelet");
    assert_eq!(c["Config"]["Labels"]["io.kubeup.test"], id);
    let hash1 = c["Config"]["Labels"]["io.kubeup.config-hash"].as_str().unwrap().to_string();
    assert_eq!(c["State"]["Running"], true, "stand-in kubelet should run: {}", tool("docker", &["logs", &kubelet]).1);
    let kubelet_mount = c["Mounts"].as_array().unwrap().iter().find(|m| m["Destination"] == "/var/lib/kubelet").unwrap().clone();
    assert_eq!(kubelet_mount["Source"], format!("{}/var/lib/kubelet", root.path().display()));
    assert_eq!(kubelet_mount["Propagation"], "rshared");
    // This machine's `/` is private: Docker refuses rslave there, so kubeup binds /run without
    // propagation and says so (on a host with a shared `/` it is rslave).
    let run_mount = c["Mounts"].as_array().unwrap().iter().find(|m| m["Destination"] == "/run").unwrap().clone();
    let root_shared = std::fs::read_to_string("/proc/self/mountinfo").unwrap().lines().any(|l| l.split(' ').nth(4) == Some("/") && l.contains("shared:"));
    assert_eq!(run_mount["Propagation"], if root_shared { "rslave" } else { "rprivate" });
    if !root_shared {
        assert!(r.stdout.contains("[WARNING MountPropagation]") && r.stdout.contains("/run"), "{}", r.stdout);
    }
    // Writable: a joining kubelet writes kubelet.conf there at the end of its TLS bootstrap.
    let etc = c["Mounts"].as_array().unwrap().iter().find(|m| m["Destination"] == "/etc/kubernetes").unwrap().clone();
    assert_eq!(etc["RW"], true);
    let logs = tool("docker", &["logs", &kubelet]).1;
    assert!(logs.contains("--config=/var/lib/kubelet/config.yaml") && logs.contains("--kubeconfig=/etc/kubernetes/kubelet.conf"), "{logs}");
    let container_id = c["Id"].as_str().unwrap().to_string();
    let after_first = snapshot(root.path());

    // Another run: nothing changes, the same container is kept.
    let r = docker_run(&argv);
    assert_eq!(r.code, 0, "{}\n{}", r.stdout, r.stderr);
    assert!(r.stdout.contains("0 files created, 0 replaced"), "{}", r.stdout);
    assert!(r.stdout.contains("already running with this configuration; kept"), "{}", r.stdout);
    assert_eq!(inspect(&kubelet)["Id"], container_id);
    assert_eq!(snapshot(root.path()), after_first, "a second run changed the host root");

    // A changed configuration recreates the container.
    let args2 = init_args(&["--cgroup-driver", "systemd"]);
    let r = docker_run(&args2.iter().map(String::as_str).collect::<Vec<_>>());
    assert_eq!(r.code, 0, "{}\n{}", r.stdout, r.stderr);
    assert!(r.stdout.contains("recreated (its configuration changed)"), "{}", r.stdout);
    let c2 = inspect(&kubelet);
    assert_ne!(c2["Id"], container_id);
    assert_ne!(c2["Config"]["Labels"]["io.kubeup.config-hash"], hash1);

    // reset --dry-run lists and removes nothing; reset --force removes everything kubeup made.
    let r = docker_run(&["reset", "--dry-run", "--host-pid", &host_pid]);
    assert_eq!(r.code, 0, "{}\n{}", r.stdout, r.stderr);
    assert!(r.stdout.contains(&format!("remove container {kubelet}")) && r.stdout.contains("remove everything in /etc/kubernetes/pki"), "{}", r.stdout);
    assert!(r.stdout.contains("[dryrun] nothing was changed"), "{}", r.stdout);
    assert!(inspect(&kubelet)["State"]["Running"] == true);
    let r = docker_run(&["reset", "--host-pid", &host_pid]);
    assert_eq!(r.code, 2, "reset without a terminal must ask for --force: {}", r.stderr);
    let r = docker_run(&["reset", "--force", "--host-pid", &host_pid]);
    let left: Vec<String> = snapshot(root.path()).keys().map(|k| k.display().to_string()).collect();
    assert_eq!(r.code, 0, "{}\n{}\nleft behind: {left:?}", r.stdout, r.stderr);
    let (exists, _) = tool("docker", &["inspect", &kubelet]);
    assert!(!exists, "the kubelet container must be gone");
    assert_eq!(snapshot(root.path()), before, "reset must leave the host root as it found it");
    let mounts = std::fs::read_to_string("/proc/self/mountinfo").unwrap();
    assert!(!mounts.contains(&format!("{}/var/lib/kubelet", root.path().display())), "reset must unmount the kubelet directory");
}

#[test]
fn the_installer_says_what_its_docker_run_line_lacks() {
    let id = run_id();
    let label = format!("io.kubeup.test={id}");
    let _cleanup = Cleanup { label: label.clone(), sleeper: None, root: None };
    let installer = format!("kubeup-test/installer:{id}");
    let out = Command::new(concat!(env!("CARGO_MANIFEST_DIR"), "/scripts/build-image")).args(["--tag", &installer, "--label", &label]).output().unwrap();
    assert!(out.status.success());
    let root = tempfile::tempdir().unwrap();
    let base = |extra: &[&str]| {
        let mut c = Command::new("docker");
        c.args(["run", "--rm", "--label", &label]).args(extra).arg(&installer).args(["init", "--node-name", "x", "--apiserver-advertise-address", "127.0.0.1"]);
        Run::from(c.output().unwrap())
    };
    let r = base(&[]);
    assert_eq!(r.code, 2);
    assert!(r.stderr.contains("-v /:/host"), "{}", r.stderr);
    let vol = format!("{}:/host", root.path().display());
    let r = base(&["-v", &vol, "--net=host", "--pid=host", "--cap-add", "ALL", "--cap-drop", "SYS_RESOURCE"]);
    assert!(r.code != 0 && r.stderr.contains("-v /var/run/docker.sock:/var/run/docker.sock"), "{}", r.stderr);
    let r = base(&["-v", &vol, "-v", "/var/run/docker.sock:/var/run/docker.sock", "--pid=host", "--cap-add", "ALL", "--cap-drop", "SYS_RESOURCE"]);
    assert!(r.code != 0 && r.stderr.contains("--net=host"), "{}", r.stderr);
    let r = base(&["-v", &vol, "-v", "/var/run/docker.sock:/var/run/docker.sock", "--net=host", "--cap-add", "ALL", "--cap-drop", "SYS_RESOURCE"]);
    assert!(r.code != 0 && r.stderr.contains("--pid=host"), "{}", r.stderr);
    let r = base(&["-v", &vol, "-v", "/var/run/docker.sock:/var/run/docker.sock", "--net=host", "--pid=host"]);
    assert!(r.code != 0 && r.stderr.contains("--privileged"), "{}", r.stderr);
    let (ok, help) = tool("docker", &["run", "--rm", "--label", &label, &installer, "--help"]);
    assert!(ok && help.contains("Usage: kubeup"), "{help}");
}
