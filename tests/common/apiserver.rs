//! A TEST DOUBLE of the Kubernetes API server, in-process, for the API flows of `init` and
//! `join` on machines where no cluster runs. It is not a cluster and proves nothing about one:
//! the real cluster is proven by scripts/e2e/run.
//!
//! What it does like the real API server, for what kubeup uses:
//! - HTTPS with a serving certificate from the cluster's PKI; client certificates verified
//!   against the cluster CA (user = CN, groups = O); bootstrap-token bearer authentication
//!   against the stored `bootstrap-token-<id>` Secrets (secret, usage, expiration), as user
//!   `system:bootstrap:<id>` in `system:bootstrappers` + the token's extra groups; everyone else
//!   is `system:anonymous`.
//! - RBAC evaluated from the stored Roles, ClusterRoles and bindings (`system:masters` and
//!   `cluster-admin` are all-powerful), so anonymous users read cluster-info only once kubeup
//!   created the binding that allows it.
//! - Objects stored per group, namespace, resource and name; GET (404), list, POST (409 on an
//!   existing name), DELETE, JSON merge patch, and server-side apply (create, or merge the
//!   applied fields into the object; resourceVersion only moves when something changed).
//!   Simplification: fields a manager stops applying are not removed.
//! - `/readyz` that turns ok at a chosen moment.
//!
//! Fault injection: a delay per request, the next N requests answered 500, the next N
//! connections dropped without an answer, and a permanent status for paths containing a text.
#![allow(dead_code)]

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use base64::Engine as _;
use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::{Request, Response};
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use serde_json::{json, Value};

/// Faults to inject.
#[derive(Debug, Default, Clone)]
pub struct Faults {
    /// Sleep this long before answering each request.
    pub delay: Duration,
    /// Answer the next N requests with HTTP 500.
    pub fail_next: usize,
    /// Drop the next N requests' connections without an answer.
    pub drop_next: usize,
    /// Answer every request whose path contains the text with this status, for good.
    pub permanent: Option<(String, u16)>,
    /// After cluster-info was read once, replace its kubeconfig with this text (a change
    /// between a joining node's unverified and verified fetch).
    pub tamper_cluster_info: Option<String>,
}

/// Everything the server holds.
#[derive(Debug, Default)]
pub struct State {
    /// Objects by (group, namespace, resource, name).
    pub objects: BTreeMap<(String, String, String, String), Value>,
    /// Last resourceVersion handed out.
    pub rv: u64,
    /// Faults.
    pub faults: Faults,
    /// `/readyz` is ok from this moment on (None: always).
    pub ready_at: Option<Instant>,
    /// Every request: "METHOD path -> status (user)".
    pub log: Vec<String>,
}

impl State {
    /// All stored objects of a resource.
    pub fn all(&self, resource: &str) -> Vec<&Value> {
        self.objects.iter().filter(|((_, _, r, _), _)| r == resource).map(|(_, v)| v).collect()
    }

    /// One object.
    pub fn get(&self, group: &str, ns: &str, resource: &str, name: &str) -> Option<&Value> {
        self.objects.get(&(group.into(), ns.into(), resource.into(), name.into()))
    }

    /// Store an object directly (test setup), as the API server would.
    pub fn put(&mut self, group: &str, ns: &str, resource: &str, mut obj: Value) {
        self.rv += 1;
        obj["metadata"]["resourceVersion"] = self.rv.to_string().into();
        let name = obj["metadata"]["name"].as_str().unwrap_or_default().to_string();
        self.objects.insert((group.into(), ns.into(), resource.into(), name), obj);
    }
}

/// A running test API server.
pub struct TestApiServer {
    /// `https://127.0.0.1:<port>`.
    pub url: String,
    /// Its port.
    pub port: u16,
    /// Shared state (objects, faults, request log).
    pub state: Arc<Mutex<State>>,
    runtime: Option<tokio::runtime::Runtime>,
}

impl Drop for TestApiServer {
    fn drop(&mut self) {
        // Also safe when dropped inside an async test.
        if let Some(rt) = self.runtime.take() {
            rt.shutdown_background();
        }
    }
}

/// Who is asking.
#[derive(Debug, Clone)]
struct User {
    name: String,
    groups: Vec<String>,
}

fn status(code: u16, reason: &str, message: &str) -> Response<Full<Bytes>> {
    let body = json!({ "kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Failure", "message": message, "reason": reason, "code": code });
    Response::builder().status(code).header("content-type", "application/json").body(Full::new(Bytes::from(body.to_string()))).unwrap()
}

fn ok_json(code: u16, v: &Value) -> Response<Full<Bytes>> {
    Response::builder().status(code).header("content-type", "application/json").body(Full::new(Bytes::from(v.to_string()))).unwrap()
}

/// (group, version, namespace, resource, name) of a resource path.
fn parse_path(path: &str) -> Option<(String, String, String, String, Option<String>)> {
    let parts: Vec<&str> = path.trim_matches('/').split('/').collect();
    let (group, version, rest) = match parts.as_slice() {
        ["api", v, rest @ ..] => (String::new(), v.to_string(), rest),
        ["apis", g, v, rest @ ..] => (g.to_string(), v.to_string(), rest),
        _ => return None,
    };
    let (ns, rest) = match rest {
        ["namespaces", ns, rest @ ..] if !rest.is_empty() => (ns.to_string(), rest),
        _ => (String::new(), rest),
    };
    match rest {
        [res] => Some((group, version, ns, res.to_string(), None)),
        [res, name] => Some((group, version, ns, res.to_string(), Some(name.to_string()))),
        [res, name, _sub] => Some((group, version, ns, res.to_string(), Some(name.to_string()))),
        _ => None,
    }
}

fn b64(v: &Value) -> Option<String> {
    String::from_utf8(base64::engine::general_purpose::STANDARD.decode(v.as_str()?).ok()?).ok()
}

fn bootstrap_user(state: &State, token: &str) -> Option<User> {
    let (id, secret) = token.split_once('.')?;
    let s = state.get("", "kube-system", "secrets", &format!("bootstrap-token-{id}"))?;
    let data = &s["data"];
    if b64(&data["token-secret"])? != secret || b64(&data["usage-bootstrap-authentication"]).as_deref() != Some("true") {
        return None;
    }
    if let Some(exp) = b64(&data["expiration"]) {
        let now = time::OffsetDateTime::now_utc().format(&time::format_description::well_known::Rfc3339).ok()?;
        if exp.as_str() < now.as_str() {
            return None;
        }
    }
    let mut groups = vec!["system:bootstrappers".to_string()];
    groups.extend(b64(&data["auth-extra-groups"]).unwrap_or_default().split(',').filter(|g| !g.is_empty()).map(str::to_string));
    Some(User { name: format!("system:bootstrap:{id}"), groups })
}

fn subject_matches(s: &Value, user: &User) -> bool {
    match s["kind"].as_str() {
        Some("User") => s["name"] == user.name.as_str(),
        Some("Group") => user.groups.iter().any(|g| s["name"] == g.as_str()),
        Some("ServiceAccount") => user.name == format!("system:serviceaccount:{}:{}", s["namespace"].as_str().unwrap_or(""), s["name"].as_str().unwrap_or("")),
        _ => false,
    }
}

fn rule_allows(rule: &Value, verb: &str, group: &str, resource: &str, name: Option<&str>) -> bool {
    let has = |k: &str, v: &str| rule[k].as_array().is_some_and(|a| a.iter().any(|x| x == v || x == "*"));
    let names_ok = match rule["resourceNames"].as_array() {
        Some(n) if !n.is_empty() => name.is_some_and(|name| n.iter().any(|x| x == name)),
        _ => true,
    };
    has("verbs", verb) && has("apiGroups", group) && has("resources", resource) && names_ok
}

fn authorized(state: &State, user: &User, verb: &str, group: &str, ns: &str, resource: &str, name: Option<&str>) -> bool {
    if user.groups.iter().any(|g| g == "system:masters") {
        return true;
    }
    let rbac = "rbac.authorization.k8s.io";
    let mut bindings: Vec<&Value> = state.all("clusterrolebindings");
    bindings.extend(state.all("rolebindings").into_iter().filter(|b| b["metadata"]["namespace"] == ns));
    for b in bindings {
        if !b["subjects"].as_array().is_some_and(|s| s.iter().any(|s| subject_matches(s, user))) {
            continue;
        }
        let role_name = b["roleRef"]["name"].as_str().unwrap_or_default();
        if b["roleRef"]["kind"] == "ClusterRole" && role_name == "cluster-admin" {
            return true;
        }
        let role = if b["roleRef"]["kind"] == "ClusterRole" {
            state.get(rbac, "", "clusterroles", role_name)
        } else {
            state.get(rbac, b["metadata"]["namespace"].as_str().unwrap_or_default(), "roles", role_name)
        };
        if role.and_then(|r| r["rules"].as_array()).is_some_and(|rules| rules.iter().any(|r| rule_allows(r, verb, group, resource, name))) {
            return true;
        }
    }
    false
}

/// Merge `top` into `base`: objects recursively, anything else replaced (JSON merge patch;
/// `null` removes).
fn merge(base: &mut Value, top: &Value) {
    match (base, top) {
        (Value::Object(b), Value::Object(t)) => {
            for (k, v) in t {
                if v.is_null() {
                    b.remove(k);
                } else {
                    merge(b.entry(k.clone()).or_insert(Value::Null), v);
                }
            }
        }
        (b, t) => *b = t.clone(),
    }
}

fn new_meta(state: &mut State, obj: &mut Value, ns: &str) {
    state.rv += 1;
    obj["metadata"]["resourceVersion"] = state.rv.to_string().into();
    obj["metadata"]["uid"] = format!("uid-{}", state.rv).into();
    obj["metadata"]["creationTimestamp"] = "2026-01-01T00:00:00Z".into();
    if !ns.is_empty() {
        obj["metadata"]["namespace"] = ns.into();
    }
}

async fn handle(state: Arc<Mutex<State>>, cert_user: Option<User>, req: Request<hyper::body::Incoming>) -> Result<Response<Full<Bytes>>, std::io::Error> {
    let (delay, drop_it, fail_it, permanent) = {
        let mut s = state.lock().unwrap();
        let f = &mut s.faults;
        let drop_it = f.drop_next > 0;
        f.drop_next = f.drop_next.saturating_sub(1);
        let fail_it = !drop_it && f.fail_next > 0;
        if fail_it {
            f.fail_next -= 1;
        }
        (f.delay, drop_it, fail_it, f.permanent.clone())
    };
    if !delay.is_zero() {
        tokio::time::sleep(delay).await;
    }
    let method = req.method().clone();
    let path = req.uri().path().to_string();
    let query = req.uri().query().unwrap_or_default().to_string();
    if drop_it {
        state.lock().unwrap().log.push(format!("{method} {path} -> dropped"));
        return Err(std::io::Error::other("connection dropped (injected)"));
    }
    let content_type = req.headers().get("content-type").and_then(|v| v.to_str().ok()).unwrap_or_default().to_string();
    let bearer = req.headers().get("authorization").and_then(|v| v.to_str().ok()).and_then(|v| v.strip_prefix("Bearer ")).map(str::to_string);
    let body = req.into_body().collect().await.map(|b| b.to_bytes()).unwrap_or_default();
    let mut s = state.lock().unwrap();
    let (resp, who) = respond(&mut s, cert_user, bearer, &method, &path, &query, &content_type, &body, fail_it, permanent);
    let code = resp.status().as_u16();
    s.log.push(format!("{method} {path} -> {code} ({who})"));
    if code == 200 && path.ends_with("/kube-public/configmaps/cluster-info") {
        if let Some(text) = s.faults.tamper_cluster_info.take() {
            if let Some(cm) = s.objects.get_mut(&(String::new(), "kube-public".into(), "configmaps".into(), "cluster-info".into())) {
                cm["data"]["kubeconfig"] = text.into();
            }
        }
    }
    Ok(resp)
}

#[allow(clippy::too_many_arguments)]
fn respond(
    s: &mut State,
    cert_user: Option<User>,
    bearer: Option<String>,
    method: &hyper::Method,
    path: &str,
    query: &str,
    content_type: &str,
    body: &[u8],
    fail_it: bool,
    permanent: Option<(String, u16)>,
) -> (Response<Full<Bytes>>, String) {
    if fail_it {
        return (status(500, "InternalError", "injected failure"), "-".into());
    }
    if let Some((text, code)) = permanent {
        if path.contains(&text) {
            return (status(code, "Invalid", "injected permanent failure"), "-".into());
        }
    }
    let user = match (cert_user, bearer) {
        (Some(u), _) => u,
        (None, Some(t)) => match bootstrap_user(s, &t) {
            Some(u) => u,
            None => return (status(401, "Unauthorized", "Unauthorized"), "bad token".into()),
        },
        (None, None) => User { name: "system:anonymous".into(), groups: vec!["system:unauthenticated".into()] },
    };
    let who = user.name.clone();
    if matches!(path, "/readyz" | "/healthz" | "/livez") {
        let ready = s.ready_at.is_none_or(|t| Instant::now() >= t);
        let resp = if ready {
            Response::new(Full::new(Bytes::from_static(b"ok")))
        } else {
            Response::builder().status(500).body(Full::new(Bytes::from_static(b"[-]etcd failed: not ready"))).unwrap()
        };
        return (resp, who);
    }
    let Some((group, version, ns, resource, name)) = parse_path(path) else {
        return (status(404, "NotFound", &format!("the server could not find the requested resource {path}")), who);
    };
    let verb = match (method.as_str(), &name) {
        ("GET", Some(_)) => "get",
        ("GET", None) => "list",
        ("POST", _) => "create",
        ("PATCH", _) => "patch",
        ("PUT", _) => "update",
        ("DELETE", _) => "delete",
        _ => return (status(405, "MethodNotAllowed", "method not allowed"), who),
    };
    if !authorized(s, &user, verb, &group, &ns, &resource, name.as_deref()) {
        let msg = format!(
            "{resource} {:?} is forbidden: User {:?} cannot {verb} resource {resource:?} in API group {group:?}",
            name.clone().unwrap_or_default(),
            user.name
        );
        return (status(403, "Forbidden", &msg), who);
    }
    let key = |n: &str| (group.clone(), ns.clone(), resource.clone(), n.to_string());
    let not_found = |n: &str| status(404, "NotFound", &format!("{resource} {n:?} not found"));
    let resp = match (verb, name.as_deref()) {
        ("get", Some(n)) => match s.objects.get(&key(n)) {
            Some(o) => ok_json(200, o),
            None => not_found(n),
        },
        ("list", _) => {
            let items: Vec<Value> =
                s.objects.iter().filter(|((g, n, r, _), _)| *g == group && (ns.is_empty() || *n == ns) && *r == resource).map(|(_, v)| v.clone()).collect();
            ok_json(
                200,
                &json!({ "kind": "List", "apiVersion": if group.is_empty() { version.clone() } else { format!("{group}/{version}") }, "metadata": { "resourceVersion": s.rv.to_string() }, "items": items }),
            )
        }
        ("create", _) => {
            let Ok(mut obj) = serde_json::from_slice::<Value>(body) else { return (status(400, "BadRequest", "body is not JSON"), who) };
            if obj["metadata"]["name"].is_null() {
                if let Some(prefix) = obj["metadata"]["generateName"].as_str().map(str::to_string) {
                    obj["metadata"]["name"] = format!("{prefix}{}", s.rv + 1).into();
                }
            }
            let Some(n) = obj["metadata"]["name"].as_str().map(str::to_string) else { return (status(422, "Invalid", "metadata.name: Required value"), who) };
            if s.objects.contains_key(&key(&n)) {
                status(409, "AlreadyExists", &format!("{resource} {n:?} already exists"))
            } else {
                new_meta(s, &mut obj, &ns);
                s.objects.insert(key(&n), obj.clone());
                ok_json(201, &obj)
            }
        }
        ("patch", Some(n)) => {
            let Ok(patch) = serde_json::from_slice::<Value>(body) else { return (status(400, "BadRequest", "patch is not JSON"), who) };
            let apply = content_type.starts_with("application/apply-patch");
            if apply && !query.contains("fieldManager=") {
                return (status(422, "Invalid", "fieldManager is required for apply requests"), who);
            }
            match s.objects.get(&key(n)).cloned() {
                None if apply => {
                    let mut obj = patch;
                    new_meta(s, &mut obj, &ns);
                    s.objects.insert(key(n), obj.clone());
                    ok_json(201, &obj)
                }
                None => not_found(n),
                Some(existing) => {
                    let mut merged = existing.clone();
                    let mut p = patch;
                    if let Some(m) = p.get_mut("metadata").and_then(|m| m.as_object_mut()) {
                        m.remove("resourceVersion");
                    }
                    merge(&mut merged, &p);
                    if merged != existing {
                        s.rv += 1;
                        merged["metadata"]["resourceVersion"] = s.rv.to_string().into();
                        s.objects.insert(key(n), merged.clone());
                    }
                    ok_json(200, &merged)
                }
            }
        }
        ("update", Some(n)) => {
            let Ok(mut obj) = serde_json::from_slice::<Value>(body) else { return (status(400, "BadRequest", "body is not JSON"), who) };
            match s.objects.get(&key(n)).cloned() {
                None => not_found(n),
                // Optimistic concurrency, as the real API server: a stale resourceVersion conflicts.
                Some(existing)
                    if !obj["metadata"]["resourceVersion"].is_null() && obj["metadata"]["resourceVersion"] != existing["metadata"]["resourceVersion"] =>
                {
                    status(409, "Conflict", &format!("Operation cannot be fulfilled on {resource} {n:?}: the object has been modified"))
                }
                Some(existing) => {
                    s.rv += 1;
                    obj["metadata"]["resourceVersion"] = s.rv.to_string().into();
                    obj["metadata"]["uid"] = existing["metadata"]["uid"].clone();
                    s.objects.insert(key(n), obj.clone());
                    ok_json(200, &obj)
                }
            }
        }
        ("delete", Some(n)) => match s.objects.remove(&key(n)) {
            Some(_) => ok_json(200, &json!({ "kind": "Status", "apiVersion": "v1", "status": "Success" })),
            None => not_found(n),
        },
        _ => status(405, "MethodNotAllowed", "not supported by the test API server"),
    };
    (resp, who)
}

fn cert_user(certs: Option<&[CertificateDer<'_>]>) -> Option<User> {
    let der = certs?.first()?;
    let (_, cert) = x509_parser::parse_x509_certificate(der.as_ref()).ok()?;
    let subject = cert.subject();
    let name = subject.iter_common_name().next()?.as_str().ok()?.to_string();
    let groups = subject.iter_organization().filter_map(|o| o.as_str().ok().map(str::to_string)).collect();
    Some(User { name, groups })
}

impl TestApiServer {
    /// Start on 127.0.0.1:`port` (0: any) with a serving certificate and key (PEM) and the
    /// client CA (PEM).
    pub fn start(port: u16, serving_cert_pem: &str, serving_key_pem: &str, client_ca_pem: &str) -> TestApiServer {
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let chain: Vec<CertificateDer<'static>> = CertificateDer::pem_slice_iter(serving_cert_pem.as_bytes()).collect::<Result<_, _>>().unwrap();
        let key = PrivateKeyDer::from_pem_slice(serving_key_pem.as_bytes()).unwrap();
        let mut roots = rustls::RootCertStore::empty();
        for c in CertificateDer::pem_slice_iter(client_ca_pem.as_bytes()) {
            roots.add(c.unwrap()).unwrap();
        }
        let verifier = rustls::server::WebPkiClientVerifier::builder_with_provider(Arc::new(roots), provider.clone()).allow_unauthenticated().build().unwrap();
        let config = rustls::ServerConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .unwrap()
            .with_client_cert_verifier(verifier)
            .with_single_cert(chain, key)
            .unwrap();
        let acceptor = tokio_rustls::TlsAcceptor::from(Arc::new(config));
        let runtime = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().unwrap();
        // Bound outside the runtime, so that a server can be started from an async test too.
        let std_listener = std::net::TcpListener::bind(("127.0.0.1", port)).unwrap();
        std_listener.set_nonblocking(true).unwrap();
        let addr: SocketAddr = std_listener.local_addr().unwrap();
        let state = Arc::new(Mutex::new(State::default()));
        let st = state.clone();
        runtime.spawn(async move {
            let listener = tokio::net::TcpListener::from_std(std_listener).unwrap();
            loop {
                let Ok((tcp, _)) = listener.accept().await else { continue };
                let acceptor = acceptor.clone();
                let st = st.clone();
                tokio::spawn(async move {
                    let Ok(tls) = acceptor.accept(tcp).await else { return };
                    let user = cert_user(tls.get_ref().1.peer_certificates());
                    let svc = hyper::service::service_fn(move |req| handle(st.clone(), user.clone(), req));
                    let _ = hyper::server::conn::http1::Builder::new().serve_connection(hyper_util::rt::TokioIo::new(tls), svc).await;
                });
            }
        });
        TestApiServer { url: format!("https://127.0.0.1:{}", addr.port()), port: addr.port(), state, runtime: Some(runtime) }
    }

    /// Start with the API server certificate of a kubeup host root, on `port`.
    pub fn for_root(root: &std::path::Path, port: u16) -> TestApiServer {
        let read = |p: &str| std::fs::read_to_string(root.join(p)).unwrap();
        TestApiServer::start(port, &read("etc/kubernetes/pki/apiserver.crt"), &read("etc/kubernetes/pki/apiserver.key"), &read("etc/kubernetes/pki/ca.crt"))
    }

    /// Set faults.
    pub fn faults(&self, f: Faults) {
        self.state.lock().unwrap().faults = f;
    }

    /// Register a Node, as a kubelet would (Ready unless `ready` is false).
    pub fn add_node(&self, name: &str, ip: &str, ready: bool) {
        let node = json!({
            "apiVersion": "v1", "kind": "Node",
            "metadata": { "name": name, "labels": { "kubernetes.io/hostname": name } },
            "spec": {},
            "status": {
                "conditions": [{ "type": "Ready", "status": if ready { "True" } else { "False" } }],
                "addresses": [{ "type": "InternalIP", "address": ip }, { "type": "Hostname", "address": name }],
            },
        });
        self.state.lock().unwrap().put("", "", "nodes", node);
    }

    /// A stored object.
    pub fn object(&self, group: &str, ns: &str, resource: &str, name: &str) -> Option<Value> {
        self.state.lock().unwrap().get(group, ns, resource, name).cloned()
    }

    /// Store an object as it is (as another client would have made it).
    pub fn store(&self, group: &str, ns: &str, resource: &str, obj: Value) {
        self.state.lock().unwrap().put(group, ns, resource, obj);
    }

    /// Every stored object of a resource.
    pub fn objects(&self, resource: &str) -> Vec<Value> {
        self.state.lock().unwrap().all(resource).into_iter().cloned().collect()
    }

    /// "Kind namespace/name" of every stored object, with roleRef → subjects for bindings.
    pub fn object_set(&self) -> Vec<String> {
        let s = self.state.lock().unwrap();
        let mut out: Vec<String> = s
            .objects
            .values()
            .filter(|o| o["kind"] != "Node")
            .map(|o| {
                let ns = o["metadata"]["namespace"].as_str().map(|n| format!("{n}/")).unwrap_or_default();
                let name = o["metadata"]["name"].as_str().unwrap_or("?");
                // Token ids are random: shown as <id>.
                let name = if name.starts_with("bootstrap-token-") { "bootstrap-token-<id>" } else { name };
                let mut line = format!("{} {ns}{name}", o["kind"].as_str().unwrap_or("?"));
                if let Some(r) = o.get("roleRef") {
                    let subjects: Vec<String> = o["subjects"]
                        .as_array()
                        .map(|a| a.iter().map(|s| format!("{}:{}", s["kind"].as_str().unwrap_or(""), s["name"].as_str().unwrap_or(""))).collect())
                        .unwrap_or_default();
                    line.push_str(&format!(" -> {} {} [{}]", r["kind"].as_str().unwrap_or(""), r["name"].as_str().unwrap_or(""), subjects.join(", ")));
                }
                line
            })
            .collect();
        out.sort();
        out
    }
}
