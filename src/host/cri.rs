//! EDGE: restarting one container of a static pod through the host's CRI tools (crictl, or ctr
//! where crictl is missing), so that it reads renewed certificates: stop the running container,
//! then wait until the kubelet has started a new one.
//!
//! The pod stays (its sandbox, IP and mirror pod): only the container is replaced, which is the
//! shortest interruption the kubelet allows.

use std::time::{Duration, Instant};

use crate::host::actions::ActionError;
use crate::host::exec::{HostExec, NOT_FOUND};

/// How the runtime is reached.
enum Tool {
    Crictl,
    Ctr,
}

fn spawn_err(argv: &[&str], source: std::io::Error) -> ActionError {
    ActionError::Spawn { command: argv.join(" "), source }
}

fn failed(argv: &[&str], code: i32, output: String) -> ActionError {
    ActionError::Failed { command: argv.join(" "), code, output }
}

/// The ids of the running containers named `name` in pods of `namespace`.
fn running(exec: &HostExec, tool: &Tool, socket: &str, namespace: &str, name: &str) -> Result<Vec<String>, ActionError> {
    let t = Duration::from_secs(20);
    match tool {
        Tool::Crictl => {
            let endpoint = format!("unix://{socket}");
            let pattern = format!("^{name}$");
            let argv =
                ["crictl", "--runtime-endpoint", &endpoint, "--timeout", "10s", "ps", "-q", "--state", "running", "--namespace", namespace, "--name", &pattern];
            let o = exec.run_timeout(&argv, t).map_err(|e| spawn_err(&argv, e))?;
            if !o.ok() {
                return Err(failed(&argv, o.code, o.output));
            }
            Ok(o.output.split_whitespace().map(str::to_string).collect())
        }
        Tool::Ctr => {
            let filter = format!("labels.\"io.kubernetes.container.name\"=={name},labels.\"io.kubernetes.pod.namespace\"=={namespace}");
            let argv = ["ctr", "--address", socket, "-n", "k8s.io", "containers", "ls", "-q", &filter];
            let o = exec.run_timeout(&argv, t).map_err(|e| spawn_err(&argv, e))?;
            if !o.ok() {
                return Err(failed(&argv, o.code, o.output));
            }
            let tasks_argv = ["ctr", "--address", socket, "-n", "k8s.io", "tasks", "ls"];
            let tasks = exec.run_timeout(&tasks_argv, t).map_err(|e| spawn_err(&tasks_argv, e))?;
            if !tasks.ok() {
                return Err(failed(&tasks_argv, tasks.code, tasks.output));
            }
            let running: Vec<&str> =
                tasks.output.lines().filter_map(|l| l.split_whitespace().collect::<Vec<_>>().first().copied().filter(|_| l.contains("RUNNING"))).collect();
            Ok(o.output.split_whitespace().filter(|id| running.contains(id)).map(str::to_string).collect())
        }
    }
}

fn choose(exec: &HostExec, socket: &str) -> Result<Tool, ActionError> {
    let argv = ["crictl", "--version"];
    let o = exec.run(&argv).map_err(|e| spawn_err(&argv, e))?;
    if o.ok() {
        return Ok(Tool::Crictl);
    }
    if socket.contains("containerd") {
        let argv = ["ctr", "--version"];
        let o = exec.run(&argv).map_err(|e| spawn_err(&argv, e))?;
        if o.ok() {
            return Ok(Tool::Ctr);
        }
    }
    Err(failed(
        &argv,
        NOT_FOUND,
        format!("neither crictl nor (for containerd) ctr is installed on the host; restart the static pods that read {socket}'s renewed files by hand"),
    ))
}

/// Stop the running container `name` of namespace `namespace` and wait (up to `timeout`) for
/// the kubelet to run a new one. A container that is not running is left to the kubelet.
pub fn restart(exec: &HostExec, socket: &str, namespace: &str, name: &str, timeout: Duration) -> Result<String, ActionError> {
    let tool = choose(exec, socket)?;
    let before = running(exec, &tool, socket, namespace, name)?;
    if before.is_empty() {
        return Ok(format!("{name} is not running; the kubelet starts it with the renewed files"));
    }
    let endpoint = format!("unix://{socket}");
    for id in &before {
        let argv: Vec<&str> = match tool {
            Tool::Crictl => vec!["crictl", "--runtime-endpoint", &endpoint, "--timeout", "40s", "stop", "--timeout", "30", id],
            Tool::Ctr => vec!["ctr", "--address", socket, "-n", "k8s.io", "tasks", "kill", "-s", "SIGTERM", id],
        };
        let o = exec.run_timeout(&argv, Duration::from_secs(60)).map_err(|e| spawn_err(&argv, e))?;
        if !o.ok() {
            return Err(failed(&argv, o.code, o.output));
        }
    }
    let started = Instant::now();
    loop {
        let now = running(exec, &tool, socket, namespace, name)?;
        if now.iter().any(|id| !before.contains(id)) {
            return Ok(format!("{name} restarted after {:.1} s", started.elapsed().as_secs_f64()));
        }
        if started.elapsed() >= timeout {
            return Err(failed(&[name], 1, format!("the kubelet did not start a new {name} container within {} s of stopping the old one", timeout.as_secs())));
        }
        std::thread::sleep(Duration::from_millis(250));
    }
}
