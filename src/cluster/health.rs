//! EDGE: `wait-control-plane`. Each stage polls its endpoint every 100 ms (so readiness is
//! noticed within a quarter second) until its own timeout; a timeout ends in a diagnosis — the
//! stage, the kubelet container's state and last log lines, the static pods' last log lines,
//! and the likely cause from a table of known failure modes — never a bare "timed out".

use std::time::{Duration, Instant};

use base64::engine::general_purpose::STANDARD as B64;
use base64::Engine as _;
use kube::Client;

use crate::host::HostRoot;
use crate::paths::HostPath;
use crate::plan::WaitTarget;
use crate::runtime::Runtime;

/// What the waits need to reach the node.
pub struct Probe<'a> {
    /// The host root (certificates, static pod logs).
    pub root: &'a HostRoot,
    /// Docker (the kubelet container's state and logs).
    pub docker: Option<&'a Runtime>,
    /// The kubelet container's name.
    pub kubelet: String,
    /// The admin client.
    pub admin: Option<Client>,
    /// Certificate directory.
    pub cert_dir: String,
    /// This node's name (for [`WaitTarget::NodeReady`]).
    pub node_name: String,
}

/// What the kubelet-container stage remembers between checks.
struct Steady {
    baseline: i64,
    started_at: String,
    since: Instant,
}

/// Known failure modes: a pattern in the logs, and what it means.
pub const KNOWN_FAILURES: &[(&str, &str)] = &[
    (
        "rpc not supported for learner",
        "this node's etcd is still a learner, which an API server cannot use: it is promoted once it has caught up; see etcd's log and `etcdctl member list`",
    ),
    (
        "Unauthorized",
        "the bootstrap token was refused: it expired or was deleted; create a new one with `kubeup token create --print-join-command` on a control-plane node",
    ),
    (
        "is not approved",
        "the kubelet's certificate request was not approved: check that kube-controller-manager runs and that the ClusterRoleBinding kubeadm:node-autoapprove-bootstrap exists",
    ),
    ("certificate signing request", "the kubelet's certificate request was not signed: check kube-controller-manager (csrapproving, csrsigning) on the control plane"),
    ("NetworkPluginNotReady", "no pod network on this node yet: the pod network's DaemonSet has not written a CNI config here; see `kubectl -n kube-system get pods -o wide`"),
    ("cni config uninitialized", "no pod network on this node yet: the pod network's DaemonSet has not written a CNI config here; see `kubectl -n kube-system get pods -o wide`"),
    (
        "not a shared or slave mount",
        "mount propagation: /var/lib/kubelet (or /) is not shared on the host; run kubeup without --no-host-fixes or `mount --make-rshared /`",
    ),
    ("propagation", "mount propagation: the kubelet's mounts do not reach the host; check that /var/lib/kubelet is a shared mount"),
    (
        "misconfiguration: kubelet cgroup driver",
        "cgroup driver: the kubelet's differs from the runtime's; pass --cgroup-driver with the runtime's (docker info / containerd config)",
    ),
    ("cgroup driver", "cgroup driver: the kubelet's differs from the runtime's; pass --cgroup-driver"),
    ("address already in use", "port conflict: another process holds a control-plane port; see `ss -ltnp`"),
    ("ErrImagePull", "image missing: an image is not in the runtime and cannot be pulled; load a bundle with --image-bundle"),
    ("ImagePullBackOff", "image missing: an image is not in the runtime and cannot be pulled; load a bundle with --image-bundle"),
    ("failed to pull", "image missing: an image is not in the runtime and cannot be pulled; load a bundle with --image-bundle"),
    ("invalid peer certificate", "certificate error: a serving certificate does not match the address it is reached at (SANs) or its CA; compare the PKI with the configuration"),
    ("x509", "certificate error: a certificate does not match its use (SANs, CA); compare the PKI with the configuration"),
    ("certificate", "certificate error: check the PKI under the certificate directory"),
    ("connection refused", "a component is not listening yet or crashed; see its log above"),
    ("permission denied", "a file or directory is not accessible: check the owner and mode of the etcd data directory and of the PKI"),
    ("swap", "swap is on: turn it off (`swapoff -a`) or set failSwapOn: false in the kubelet configuration"),
    ("restarted", "the kubelet is crash-looping: its log above says why (flags, configuration, cgroup driver, mount propagation)"),
];

/// Patterns that say that something failed, not why.
const GENERIC: [&str; 2] = ["restarted", "connection refused"];

/// Match the logs against [`KNOWN_FAILURES`].
pub fn likely_cause(logs: &str) -> Option<&'static str> {
    KNOWN_FAILURES.iter().find(|(pattern, _)| logs.contains(pattern)).map(|(_, cause)| *cause)
}

/// A client for one endpoint. `verify` false is for the controller-manager's and scheduler's
/// self-signed serving certificates (kubeadm probes them the same way). A root certificate is
/// always given: without one kube loads the system's roots, and the installer image (FROM
/// scratch) has none.
pub fn tls_client(url: &str, ca_pem: &str, verify: bool, cert_key: Option<(&str, &str)>) -> Option<Client> {
    let mut cfg = kube::Config::new(url.parse().ok()?);
    cfg.connect_timeout = Some(Duration::from_secs(2));
    cfg.read_timeout = Some(Duration::from_secs(2));
    cfg.root_cert = Some(vec![pem::parse(ca_pem).ok()?.contents().to_vec()]);
    cfg.accept_invalid_certs = !verify;
    if let Some((cert, key)) = cert_key {
        cfg.auth_info.client_certificate_data = Some(B64.encode(cert));
        cfg.auth_info.client_key_data = Some(B64.encode(key).into());
    }
    match Client::try_from(cfg) {
        Ok(c) => Some(c),
        Err(e) => {
            tracing::debug!(url, error = %e, "cannot build a client");
            None
        }
    }
}

/// Whether a Node's Ready condition is True.
pub fn node_ready(n: &k8s_openapi::api::core::v1::Node) -> bool {
    n.status.as_ref().and_then(|s| s.conditions.as_ref()).is_some_and(|c| c.iter().any(|c| c.type_ == "Ready" && c.status == "True"))
}

/// A client with the kubelet's own credentials. kubelet.conf names files by their host paths
/// (`/var/lib/kubelet/pki/kubelet-client-current.pem`), which are read through the host root
/// and embedded.
pub async fn kubelet_client(root: &HostRoot) -> Option<Client> {
    let text = String::from_utf8(root.read(&crate::paths::kubeconfig("kubelet.conf")).ok()??).ok()?;
    let mut kc = kube::config::Kubeconfig::from_yaml(&text).ok()?;
    let read = |p: &str| HostPath::new(p.to_string()).ok().and_then(|hp| root.read(&hp).ok().flatten()).map(|b| B64.encode(b));
    for a in kc.auth_infos.iter_mut().filter_map(|a| a.auth_info.as_mut()) {
        if let Some(p) = a.client_certificate.take() {
            a.client_certificate_data = Some(read(&p)?);
        }
        if let Some(p) = a.client_key.take() {
            a.client_key_data = Some(read(&p)?.into());
        }
    }
    for c in kc.clusters.iter_mut().filter_map(|c| c.cluster.as_mut()) {
        if let Some(p) = c.certificate_authority.take() {
            c.certificate_authority_data = Some(read(&p)?);
        }
    }
    let cfg = kube::Config::from_custom_kubeconfig(kc, &kube::config::KubeConfigOptions::default()).await.ok()?;
    Client::try_from(cfg).ok()
}

/// GET over plain HTTP (the kubelet's healthz listens without TLS on loopback; kube's client
/// only speaks HTTPS).
async fn plain_http_get(url: &str) -> Option<String> {
    use http_body_util::BodyExt;
    let client = hyper_util::client::legacy::Client::builder(hyper_util::rt::TokioExecutor::new()).build_http::<http_body_util::Empty<bytes::Bytes>>();
    let uri: http::Uri = url.parse().ok()?;
    let resp = tokio::time::timeout(Duration::from_secs(2), client.get(uri)).await.ok()?.ok()?;
    if !resp.status().is_success() {
        return None;
    }
    let body = tokio::time::timeout(Duration::from_secs(2), resp.into_body().collect()).await.ok()?.ok()?;
    String::from_utf8(body.to_bytes().to_vec()).ok()
}

/// GET a path; the error says what the server (or the TLS layer) answered.
async fn get(client: &Client, path: &str) -> Result<String, String> {
    let req = http::Request::get(path).body(Vec::new()).map_err(|e| e.to_string())?;
    match tokio::time::timeout(Duration::from_secs(3), client.request_text(req)).await {
        Ok(Ok(body)) => Ok(body),
        Ok(Err(e)) => {
            let mut msg = e.to_string();
            let mut source = std::error::Error::source(&e);
            while let Some(inner) = source {
                msg = format!("{msg}: {inner}");
                source = inner.source();
            }
            Err(msg)
        }
        Err(_) => Err(format!("no answer to {path} within 3 s")),
    }
}

impl Probe<'_> {
    fn read(&self, rel: &str) -> Option<String> {
        let p = HostPath::new(format!("{}/{rel}", self.cert_dir)).ok()?;
        self.root.read(&p).ok().flatten().and_then(|b| String::from_utf8(b).ok())
    }

    /// One check of a stage.
    async fn ready(&self, target: WaitTarget, seen: &mut Option<Steady>, last: &mut Option<String>) -> Result<bool, String> {
        let mut ok = |r: Result<String, String>, want: &dyn Fn(&str) -> bool| match r {
            Ok(body) => want(&body),
            Err(e) => {
                *last = Some(e);
                false
            }
        };
        Ok(match target {
            WaitTarget::KubeletContainer => {
                let Some(rt) = self.docker else { return Ok(true) };
                let info = rt
                    .client()
                    .inspect_container(&self.kubelet, None)
                    .await
                    .map_err(|e| format!("the kubelet container cannot be inspected: {}", crate::runtime::docker_message(&e)))?;
                let st = info.state.clone().unwrap_or_default();
                let running = st.running.unwrap_or(false);
                let count = info.restart_count.unwrap_or(0);
                let started_at = st.started_at.unwrap_or_default();
                let seen = seen.get_or_insert_with(|| Steady { baseline: count, started_at: started_at.clone(), since: Instant::now() });
                if count > seen.baseline + 2 {
                    return Err(format!("the kubelet container restarted {} times while kubeup watched", count - seen.baseline));
                }
                if seen.started_at != started_at {
                    seen.started_at = started_at;
                    seen.since = Instant::now();
                }
                // Steady: the same run of the container for a second (a crash-looping one
                // restarts within that time).
                running && seen.since.elapsed() >= Duration::from_secs(1)
            }
            WaitTarget::KubeletHealthz => plain_http_get("http://127.0.0.1:10248/healthz").await.is_some_and(|b| b.trim() == "ok"),
            WaitTarget::Etcd => {
                let (Some(ca), Some(cert), Some(key)) =
                    (self.read("etcd/ca.crt"), self.read("etcd/healthcheck-client.crt"), self.read("etcd/healthcheck-client.key"))
                else {
                    return Err("the etcd CA or the healthcheck client certificate is missing".into());
                };
                // etcd's own loopback: 127.0.0.1, or ::1 on an IPv6 control plane.
                let mut healthy = false;
                for url in ["https://127.0.0.1:2379", "https://[::1]:2379"] {
                    if let Some(c) = tls_client(url, &ca, true, Some((&cert, &key))) {
                        if ok(get(&c, "/health").await, &|b| b.contains("\"health\":\"true\"")) {
                            healthy = true;
                            break;
                        }
                    }
                }
                healthy
            }
            WaitTarget::ApiServer => match &self.admin {
                Some(c) => ok(get(c, "/readyz").await, &|b| b.trim() == "ok"),
                None => false,
            },
            WaitTarget::ControllerManager => match tls_client("https://127.0.0.1:10257", &self.read("ca.crt").unwrap_or_default(), false, None) {
                Some(c) => ok(get(&c, "/healthz").await, &|b| b.trim() == "ok"),
                None => false,
            },
            WaitTarget::Scheduler => match tls_client("https://127.0.0.1:10259", &self.read("ca.crt").unwrap_or_default(), false, None) {
                Some(c) => ok(get(&c, "/healthz").await, &|b| b.trim() == "ok"),
                None => false,
            },
            WaitTarget::TlsBootstrap => self.root.exists(&crate::paths::kubeconfig("kubelet.conf")).unwrap_or(false),
            WaitTarget::NodeReady => {
                // A control-plane node reads its Node as the admin; a worker, which has no
                // admin.conf, with the kubelet's own credentials.
                let client = match &self.admin {
                    Some(admin) => admin.clone(),
                    None => match kubelet_client(self.root).await {
                        Some(c) => c,
                        None => return Ok(false),
                    },
                };
                let nodes: kube::Api<k8s_openapi::api::core::v1::Node> = kube::Api::all(client);
                match tokio::time::timeout(Duration::from_secs(3), nodes.get_opt(&self.node_name)).await {
                    Ok(Ok(Some(n))) => node_ready(&n),
                    _ => false,
                }
            }
        })
    }

    /// Wait for a stage; returns how long it took, or a diagnosis.
    pub async fn wait(&self, target: WaitTarget, timeout: Duration) -> Result<Duration, String> {
        let started = Instant::now();
        let mut seen = None;
        let mut last = None;
        let mut next_progress = Duration::from_secs(10);
        loop {
            match self.ready(target, &mut seen, &mut last).await {
                Ok(true) => return Ok(started.elapsed()),
                Ok(false) if started.elapsed() < timeout => {
                    // Progress a person can follow on a slow host: every 10 s, on stderr.
                    if started.elapsed() >= next_progress {
                        eprintln!(
                            "[wait] still waiting for {} after {} s (gives up after {} s)",
                            target.describe(),
                            next_progress.as_secs(),
                            timeout.as_secs()
                        );
                        next_progress += Duration::from_secs(10);
                    }
                    tokio::time::sleep(Duration::from_millis(100)).await
                }
                Ok(false) => {
                    let answer = last.map(|e| format!("; last answer: {e}")).unwrap_or_default();
                    return Err(self.diagnose(target, &format!("not ready after {} s{answer}", timeout.as_secs())).await);
                }
                Err(e) => return Err(self.diagnose(target, &e).await),
            }
        }
    }

    /// What went wrong: the stage, the kubelet container, the static pods, the likely cause.
    pub async fn diagnose(&self, target: WaitTarget, what: &str) -> String {
        let mut out = format!("waiting for {}: {what}\n", target.describe());
        let mut logs = String::new();
        if let Some(rt) = self.docker {
            match rt.client().inspect_container(&self.kubelet, None).await {
                Ok(info) => {
                    let st = info.state.unwrap_or_default();
                    out.push_str(&format!(
                        "kubelet container {}: status {}, exit code {}, restarts {}{}\n",
                        self.kubelet,
                        st.status.map(|s| s.to_string()).unwrap_or_default(),
                        st.exit_code.unwrap_or(0),
                        info.restart_count.unwrap_or(0),
                        st.error.filter(|e| !e.is_empty()).map(|e| format!(", error: {e}")).unwrap_or_default()
                    ));
                    if let Ok(l) = rt.logs_tail(&self.kubelet, 400).await {
                        out.push_str(&format!("kubelet log (errors and last lines):\n{}\n", indent(&log_excerpt(&l, 6, 12))));
                        logs.push_str(&l);
                    }
                }
                Err(e) => out.push_str(&format!("kubelet container {}: {}\n", self.kubelet, crate::runtime::docker_message(&e))),
            }
        }
        for (component, text) in static_pod_logs(self.root, 8) {
            out.push_str(&format!("static pod {component} (last lines):\n{}\n", indent(&text)));
            logs.push_str(&text);
        }
        // The stage's own answer is the most direct evidence, unless it only says that something
        // crashed or is not listening: then the logs say why.
        let own = KNOWN_FAILURES.iter().find(|(p, _)| what.contains(p) && !GENERIC.contains(p)).map(|(_, c)| *c);
        match own.or_else(|| likely_cause(&logs)).or_else(|| likely_cause(what)) {
            Some(cause) => out.push_str(&format!("likely cause: {cause}")),
            None => out.push_str("likely cause: unknown; the logs above are the starting point"),
        }
        out
    }
}

/// The klog errors and fatals of a log (a fatal's cause sits above its goroutine dump, which
/// would fill any tail), then its last lines; goroutine dumps are left out.
pub fn log_excerpt(log: &str, errors: usize, last: usize) -> String {
    let is_klog = |l: &str, c: char| l.starts_with(c) && l[1..].chars().take(4).all(|d| d.is_ascii_digit()) && l.len() > 5;
    let lines: Vec<&str> = log.lines().collect();
    let dump = lines.iter().position(|l| l.starts_with("goroutine ")).unwrap_or(lines.len());
    let mut picked: Vec<&str> = lines.iter().copied().filter(|l| is_klog(l, 'E') || is_klog(l, 'F')).collect();
    picked = picked.split_off(picked.len().saturating_sub(errors));
    let tail_from = dump.saturating_sub(last);
    for l in &lines[tail_from..dump] {
        if !picked.contains(l) {
            picked.push(l);
        }
    }
    picked.join("\n")
}

fn indent(s: &str) -> String {
    s.lines().map(|l| format!("    {l}")).collect::<Vec<_>>().join("\n")
}

/// The newest log of each control-plane container under /var/log/pods (kubelet's layout:
/// `<ns>_<pod>_<uid>/<container>/<n>.log`).
pub fn static_pod_logs(root: &HostRoot, lines: usize) -> Vec<(String, String)> {
    let Ok(dir) = root.resolve(&crate::paths::known("/var/log/pods")) else { return vec![] };
    let mut out = Vec::new();
    let Ok(pods) = std::fs::read_dir(dir) else { return out };
    for pod in pods.flatten() {
        let name = pod.file_name().to_string_lossy().into_owned();
        if !name.starts_with("kube-system_") {
            continue;
        }
        let Ok(containers) = std::fs::read_dir(pod.path()) else { continue };
        for c in containers.flatten() {
            let mut files: Vec<_> = std::fs::read_dir(c.path()).map(|d| d.flatten().map(|e| e.path()).collect()).unwrap_or_default();
            files.sort();
            if let Some(last) = files.last() {
                let text = std::fs::read_to_string(last).unwrap_or_default();
                let tail: Vec<&str> = text.lines().rev().take(lines).collect();
                out.push((c.file_name().to_string_lossy().into_owned(), tail.into_iter().rev().collect::<Vec<_>>().join("\n")));
            }
        }
    }
    out.sort();
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_fatal_above_a_goroutine_dump_is_shown() {
        let log = "I1121 09:00:00.1 1 server.go] starting\nF1121 09:00:01.2 1 server.go] failed to run Kubelet: boom\ngoroutine 1 [running]:\nmain.main()\n\tkubelet.go:41\n";
        let e = log_excerpt(log, 6, 12);
        assert!(e.contains("failed to run Kubelet: boom") && e.contains("starting") && !e.contains("goroutine"), "{e}");
    }

    #[test]
    fn known_failures_are_recognised() {
        assert!(likely_cause("Error: path /var/lib/kubelet is mounted on / but it is not a shared or slave mount").unwrap().starts_with("mount propagation"));
        assert!(likely_cause(
            "failed to run Kubelet: misconfiguration: kubelet cgroup driver: \"systemd\" is different from docker cgroup driver: \"cgroupfs\""
        )
        .unwrap()
        .starts_with("cgroup driver"));
        assert!(likely_cause("listen tcp 0.0.0.0:6443: bind: address already in use").unwrap().starts_with("port conflict"));
        assert!(likely_cause("Back-off pulling image: ErrImagePull").unwrap().starts_with("image missing"));
        assert!(likely_cause("x509: certificate is valid for 10.0.0.1, not 10.0.0.2").unwrap().starts_with("certificate error"));
        assert!(likely_cause("all good").is_none());
        // What the e2e harness saw with a deliberately broken API server certificate.
        let answer = "client error (Connect): invalid peer certificate: certificate not valid for name \"172.29.94.11\"";
        assert!(likely_cause(answer).unwrap().starts_with("certificate error"));
    }
}
