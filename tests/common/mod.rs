//! Shared helpers for the integration tests: run the real `kubeup` binary against a scratch
//! host root, snapshot a root to prove it was left untouched, find free ports.
#![allow(dead_code)]

pub mod apiserver;
pub mod hostile;

use std::collections::BTreeMap;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

/// A PID that does not exist: host commands then can never reach this machine's own
/// namespaces (PID 1 is off limits here).
pub const NO_SUCH_PID: &str = "999999999";

/// The binary under test, for file-layer tests: no host command or container is run
/// (`KUBEUP_SKIP_EFFECTS`), Docker is not reachable, and `--host-pid` names no process.
pub fn kubeup() -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_kubeup"));
    c.env_remove("KUBEUP_FAULT_AFTER_WRITES").env_remove("KUBEUP_FAULT_AFTER_PHASE").env_remove("KUBEUP_HOST_ROOT");
    c.env("KUBEUP_SKIP_EFFECTS", "1").env("KUBEUP_DOCKER_SOCKET", "/nonexistent/docker.sock");
    c
}

/// Result of a run.
pub struct Run {
    pub code: i32,
    pub stdout: String,
    pub stderr: String,
}

impl Run {
    pub fn from(o: Output) -> Run {
        Run { code: o.status.code().unwrap_or(-1), stdout: String::from_utf8_lossy(&o.stdout).into(), stderr: String::from_utf8_lossy(&o.stderr).into() }
    }
}

/// `kubeup init <args>` on `root` as node `cp-1` at 127.0.0.1, preflight skipped (port checks on
/// a shared machine are tested on their own).
pub fn init(root: &Path, extra: &[&str]) -> Run {
    init_with_env(root, extra, &[])
}

/// [`init`] with extra environment variables.
pub fn init_with_env(root: &Path, extra: &[&str], env: &[(&str, &str)]) -> Run {
    let mut c = kubeup();
    let r = root.to_str().unwrap();
    c.arg("init").args([
        "--host-root",
        r,
        "--node-name",
        "cp-1",
        "--apiserver-advertise-address",
        "127.0.0.1",
        "--skip-phases",
        "preflight",
        "--host-pid",
        NO_SUCH_PID,
    ]);
    c.args(extra).envs(env.iter().copied());
    Run::from(c.output().expect("run kubeup"))
}

/// A child process killed when the test ends, also when it fails.
pub struct KillOnDrop(pub std::process::Child);

impl Drop for KillOnDrop {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// Every file and directory below `root` with its mode and (for files) bytes.
pub fn snapshot(root: &Path) -> BTreeMap<PathBuf, (u32, Option<Vec<u8>>)> {
    let mut out = BTreeMap::new();
    fn walk(base: &Path, dir: &Path, out: &mut BTreeMap<PathBuf, (u32, Option<Vec<u8>>)>) {
        for e in std::fs::read_dir(dir).unwrap() {
            let e = e.unwrap();
            let p = e.path();
            let m = std::fs::symlink_metadata(&p).unwrap();
            let rel = p.strip_prefix(base).unwrap().to_path_buf();
            if m.is_dir() {
                out.insert(rel, (m.permissions().mode() & 0o7777, None));
                walk(base, &p, out);
            } else if m.is_file() {
                out.insert(rel, (m.permissions().mode() & 0o7777, Some(std::fs::read(&p).unwrap())));
            } else {
                // Sockets, links: their presence and mode only.
                out.insert(rel, (m.permissions().mode() & 0o7777, Some(b"<special>".to_vec())));
            }
        }
    }
    walk(root, root, &mut out);
    out
}

/// A TCP port that was free a moment ago.
pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port()
}

/// Path of a file in the host root.
pub fn host(root: &Path, p: &str) -> PathBuf {
    root.join(p.trim_start_matches('/'))
}

/// Run a tool, return (success, stdout+stderr).
pub fn tool(cmd: &str, args: &[&str]) -> (bool, String) {
    let o = Command::new(cmd).args(args).output().unwrap_or_else(|e| panic!("{cmd} is required for this test: {e}"));
    (o.status.success(), format!("{}{}", String::from_utf8_lossy(&o.stdout), String::from_utf8_lossy(&o.stderr)))
}

/// A host root with init's files for an API server on 127.0.0.1:`port`, and the test server.
pub fn prepared(version: &str) -> (tempfile::TempDir, apiserver::TestApiServer, u16) {
    prepared_with(version, &[])
}

/// [`prepared`] with more init flags (the same ones must then go to [`api_init`]).
pub fn prepared_with(version: &str, extra: &[&str]) -> (tempfile::TempDir, apiserver::TestApiServer, u16) {
    let root = tempfile::tempdir().unwrap();
    let port = free_port();
    let p = port.to_string();
    let mut args = vec!["--apiserver-bind-port", &p, "--kubernetes-version", version, "--pod-network", "bridge", "--kubeup-image", "kubeup:test"];
    args.extend_from_slice(extra);
    let r = init(root.path(), &args);
    assert_eq!(r.code, 0, "{}", r.stderr);
    let server = apiserver::TestApiServer::for_root(root.path(), port);
    server.add_node("cp-1", "127.0.0.1", true);
    (root, server, port)
}

/// `kubeup init` with the API phases run for real (against the test server); the phases that
/// need a host or containers are skipped.
pub fn api_init(root: &Path, port: u16, version: &str, extra: &[&str]) -> Run {
    let mut c = kubeup();
    c.env_remove("KUBEUP_SKIP_EFFECTS");
    c.args(["init", "--host-root", root.to_str().unwrap(), "--node-name", "cp-1", "--apiserver-advertise-address", "127.0.0.1"]);
    c.args(["--apiserver-bind-port", &port.to_string(), "--kubernetes-version", version, "--host-pid", NO_SUCH_PID]);
    c.args([
        "--skip-phases",
        "preflight,prepare-host,kubelet-start,wait-control-plane,cert-renewer",
        "--pod-network",
        "bridge",
        "--kubeup-image",
        "kubeup:test",
    ]);
    c.args(extra);
    Run::from(c.output().unwrap())
}

/// The default bootstrap token kubeup keeps for `root` (the file's first line).
pub fn kept_token(root: &Path, file: &str) -> String {
    let text = std::fs::read_to_string(host(root, file)).unwrap();
    text.lines().next().unwrap().trim().to_string()
}
