//! EDGE: applying objects through the Kubernetes API (server-side apply, kubeadm's retries).

use std::time::{Duration, Instant};

use kube::api::{Api, DynamicObject, Patch, PatchParams, PostParams};
use kube::core::{ApiResource, GroupVersionKind};
use kube::Client;

/// Cluster errors, naming the object and the HTTP error.
#[derive(Debug, thiserror::Error)]
pub enum ClusterError {
    /// Building a client failed.
    #[error("cannot use {what}: {reason}")]
    Client {
        /// The kubeconfig or endpoint.
        what: String,
        /// Why.
        reason: String,
    },
    /// An API call failed for good (or kept failing for a minute).
    #[error("{object}: {reason}")]
    Api {
        /// `Kind namespace/name`.
        object: String,
        /// The API's answer.
        reason: String,
    },
}

pub use crate::plan::Applied;

/// A client from kubeconfig text.
pub async fn client_from_kubeconfig(text: &str, what: &str) -> Result<Client, ClusterError> {
    let err = |reason: String| ClusterError::Client { what: what.into(), reason };
    let kc = kube::config::Kubeconfig::from_yaml(text).map_err(|e| err(e.to_string()))?;
    let cfg = kube::Config::from_custom_kubeconfig(kc, &kube::config::KubeConfigOptions::default()).await.map_err(|e| err(e.to_string()))?;
    Client::try_from(cfg).map_err(|e| err(e.to_string()))
}

/// The resource of a kind kubeup applies: (group, plural, namespaced).
fn resource(kind: &str) -> Option<(&'static str, &'static str, bool)> {
    Some(match kind {
        "Secret" => ("", "secrets", true),
        "ConfigMap" => ("", "configmaps", true),
        "ServiceAccount" => ("", "serviceaccounts", true),
        "Service" => ("", "services", true),
        "Node" => ("", "nodes", false),
        "Namespace" => ("", "namespaces", false),
        "ClusterRole" => ("rbac.authorization.k8s.io", "clusterroles", false),
        "ClusterRoleBinding" => ("rbac.authorization.k8s.io", "clusterrolebindings", false),
        "Role" => ("rbac.authorization.k8s.io", "roles", true),
        "RoleBinding" => ("rbac.authorization.k8s.io", "rolebindings", true),
        "DaemonSet" => ("apps", "daemonsets", true),
        "Deployment" => ("apps", "deployments", true),
        _ => return None,
    })
}

/// Whether an error is worth retrying (kubeadm retries every API call for a minute).
fn transient(e: &kube::Error) -> bool {
    match e {
        kube::Error::Api(s) => s.code >= 500 || s.code == 429,
        kube::Error::HyperError(_) | kube::Error::Service(_) => true,
        _ => false,
    }
}

fn describe(e: &kube::Error) -> String {
    match e {
        kube::Error::Api(s) => format!("HTTP {} {}: {}", s.code, s.reason, s.message),
        other => other.to_string(),
    }
}

/// Retry `f` every 500 ms for up to `budget` while it fails transiently.
pub async fn retry<T, F, Fut>(object: &str, budget: Duration, mut f: F) -> Result<T, ClusterError>
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Result<T, kube::Error>>,
{
    let started = Instant::now();
    loop {
        match f().await {
            Ok(v) => return Ok(v),
            Err(e) if transient(&e) && started.elapsed() < budget => {
                tracing::debug!(object, error = %describe(&e), "retrying");
                tokio::time::sleep(Duration::from_millis(500)).await;
            }
            Err(e) => {
                let after = if started.elapsed() >= budget { format!(" (still failing after {} s)", budget.as_secs()) } else { String::new() };
                return Err(ClusterError::Api { object: object.into(), reason: format!("{}{after}", describe(&e)) });
            }
        }
    }
}

/// The API of an object: kubeup's own kinds from a table, anything else (a pod network
/// manifest's CRDs, PriorityClasses …) through the API server's discovery.
async fn api_for(client: &Client, obj: &serde_json::Value) -> Result<(Api<DynamicObject>, String), ClusterError> {
    let reference = crate::plan::object_ref(obj);
    let bad = |reason: String| ClusterError::Api { object: reference.clone(), reason };
    let kind = obj["kind"].as_str().ok_or_else(|| bad("has no kind".into()))?;
    let api_version = obj["apiVersion"].as_str().ok_or_else(|| bad("has no apiVersion".into()))?;
    let name = obj["metadata"]["name"].as_str().ok_or_else(|| bad("has no name".into()))?.to_string();
    let (group, version) = api_version.rsplit_once('/').unwrap_or(("", api_version));
    let gvk = GroupVersionKind::gvk(group, version, kind);
    let (ar, namespaced) = match resource(kind) {
        Some((_, plural, namespaced)) => (ApiResource::from_gvk_with_plural(&gvk, plural), namespaced),
        None => {
            let (ar, caps) = retry(&reference, Duration::from_secs(60), || kube::discovery::pinned_kind(client, &gvk))
                .await
                .map_err(|e| bad(format!("the API server does not serve {api_version} {kind} ({e})")))?;
            (ar, caps.scope == kube::discovery::Scope::Namespaced)
        }
    };
    let api = if namespaced {
        Api::namespaced_with(client.clone(), obj["metadata"]["namespace"].as_str().unwrap_or("default"), &ar)
    } else {
        Api::all_with(client.clone(), &ar)
    };
    Ok((api, name))
}

/// Server-side apply (field manager `kubeup`), or create-if-absent.
pub async fn apply(client: &Client, obj: &serde_json::Value, create_only: bool) -> Result<Applied, ClusterError> {
    let reference = crate::plan::object_ref(obj);
    let (api, name) = api_for(client, obj).await?;
    let budget = Duration::from_secs(60);
    let before = retry(&reference, budget, || api.get_opt(&name)).await?;
    if create_only {
        if before.is_some() {
            return Ok(Applied::Kept);
        }
        let dynamic: DynamicObject = serde_json::from_value(obj.clone()).map_err(|e| ClusterError::Api { object: reference.clone(), reason: e.to_string() })?;
        let post = PostParams::default();
        retry(&reference, budget, || api.create(&post, &dynamic)).await?;
        return Ok(Applied::Created);
    }
    let params = PatchParams::apply("kubeup").force();
    let patch = Patch::Apply(obj);
    let after = retry(&reference, budget, || api.patch(&name, &params, &patch)).await?;
    // Changed means the object's content changed. The resourceVersion also moves when only
    // bookkeeping does (managedFields, after another manager such as the token controller
    // touched the object) or when controllers write status, which says nothing about the apply.
    Ok(match before {
        None => Applied::Created,
        Some(b) if content(&b) == content(&after) => Applied::Unchanged,
        Some(_) => Applied::Updated,
    })
}

/// An object without what the server and controllers maintain on their own.
fn content(o: &DynamicObject) -> serde_json::Value {
    let mut v = serde_json::to_value(o).unwrap_or_default();
    if let Some(m) = v.get_mut("metadata").and_then(|m| m.as_object_mut()) {
        for k in ["managedFields", "resourceVersion"] {
            m.remove(k);
        }
    }
    if let Some(o) = v.as_object_mut() {
        o.remove("status");
    }
    v
}

/// Delete an object; whether it existed.
pub async fn delete(client: &Client, obj: &serde_json::Value) -> Result<bool, ClusterError> {
    let reference = crate::plan::object_ref(obj);
    let (api, name) = api_for(client, obj).await?;
    let dp = kube::api::DeleteParams::default();
    match retry(&reference, Duration::from_secs(30), || api.delete(&name, &dp)).await {
        Ok(_) => Ok(true),
        Err(ClusterError::Api { reason, .. }) if reason.starts_with("HTTP 404") => Ok(false),
        Err(e) => Err(e),
    }
}

/// Sign `kube-public/cluster-info` for a token at once (instead of waiting for the
/// controller-manager's bootstrapsigner).
pub async fn sign_cluster_info(client: &Client, token: &crate::token::BootstrapToken) -> Result<(), ClusterError> {
    let what = "ConfigMap kube-public/cluster-info";
    let cms: Api<k8s_openapi::api::core::v1::ConfigMap> = Api::namespaced(client.clone(), "kube-public");
    let ci = retry(what, Duration::from_secs(60), || cms.get("cluster-info")).await?;
    let kc = ci
        .data
        .as_ref()
        .and_then(|d| d.get("kubeconfig"))
        .cloned()
        .ok_or_else(|| ClusterError::Api { object: what.into(), reason: "has no kubeconfig".into() })?;
    let sig = crate::jws::detached_signature(&kc, token.id(), token.secret());
    let patch = serde_json::json!({ "data": { format!("jws-kubeconfig-{}", token.id()): sig } });
    let (params, merge) = (PatchParams::default(), Patch::Merge(&patch));
    retry(what, Duration::from_secs(60), || cms.patch("cluster-info", &params, &merge)).await?;
    Ok(())
}

/// The bootstrap token Secrets of the cluster.
pub async fn bootstrap_tokens(client: &Client) -> Result<Vec<k8s_openapi::api::core::v1::Secret>, ClusterError> {
    let api: Api<k8s_openapi::api::core::v1::Secret> = Api::namespaced(client.clone(), "kube-system");
    let lp = kube::api::ListParams::default().fields("type=bootstrap.kubernetes.io/token");
    Ok(retry("bootstrap tokens", Duration::from_secs(60), || api.list(&lp)).await?.items)
}

/// Server-side apply `obj` with an ownerReference to Secret kube-system/`owner` (which must exist).
pub async fn apply_owned(client: &Client, obj: &serde_json::Value, owner: &str) -> Result<Applied, ClusterError> {
    let secrets: Api<k8s_openapi::api::core::v1::Secret> = Api::namespaced(client.clone(), "kube-system");
    let what = format!("Secret kube-system/{owner}");
    let s = retry(&what, Duration::from_secs(60), || secrets.get(owner)).await?;
    let uid = s.metadata.uid.ok_or_else(|| ClusterError::Api { object: what.clone(), reason: "has no uid".into() })?;
    let mut obj = obj.clone();
    obj["metadata"]["ownerReferences"] = serde_json::json!([{ "apiVersion": "v1", "kind": "Secret", "name": owner, "uid": uid }]);
    apply(client, &obj, false).await
}

/// Wait for the Node to register, then add labels, NoSchedule taints and annotations (merge
/// patch, so taints others set stay). Returns whether anything changed.
pub async fn mark_node(
    client: &Client,
    name: &str,
    labels: &[String],
    taints: &[String],
    annotations: &std::collections::BTreeMap<String, String>,
    timeout: Duration,
) -> Result<bool, ClusterError> {
    let nodes: Api<k8s_openapi::api::core::v1::Node> = Api::all(client.clone());
    let object = format!("Node {name}");
    let started = Instant::now();
    let node = loop {
        if let Some(n) = retry(&object, Duration::from_secs(60), || nodes.get_opt(name)).await? {
            break n;
        }
        if started.elapsed() > timeout {
            return Err(ClusterError::Api { object, reason: format!("the kubelet did not register the node within {} s", timeout.as_secs()) });
        }
        tokio::time::sleep(Duration::from_millis(250)).await;
    };
    let have_labels = node.metadata.labels.clone().unwrap_or_default();
    let have_taints: Vec<String> = node.spec.as_ref().and_then(|s| s.taints.clone()).unwrap_or_default().into_iter().map(|t| t.key).collect();
    let missing_labels: Vec<&String> = labels.iter().filter(|l| !have_labels.contains_key(*l)).collect();
    let missing_taints: Vec<&String> = taints.iter().filter(|t| !have_taints.contains(t)).collect();
    let have_annotations = node.metadata.annotations.clone().unwrap_or_default();
    let changed_annotations: Vec<(&String, &String)> = annotations.iter().filter(|(k, v)| have_annotations.get(*k) != Some(*v)).collect();
    if missing_labels.is_empty() && missing_taints.is_empty() && changed_annotations.is_empty() {
        return Ok(false);
    }
    let mut patch = serde_json::json!({ "metadata": { "labels": {} } });
    if !changed_annotations.is_empty() {
        patch["metadata"]["annotations"] = changed_annotations.iter().map(|(k, v)| (k.to_string(), serde_json::Value::from(v.as_str()))).collect();
    }
    for l in &missing_labels {
        patch["metadata"]["labels"][l.as_str()] = "".into();
    }
    if !missing_taints.is_empty() {
        let all: Vec<serde_json::Value> = node
            .spec
            .as_ref()
            .and_then(|s| s.taints.clone())
            .unwrap_or_default()
            .into_iter()
            .map(|t| serde_json::to_value(t).unwrap_or_default())
            .chain(missing_taints.iter().map(|t| serde_json::json!({ "key": t, "effect": "NoSchedule" })))
            .collect();
        patch["spec"] = serde_json::json!({ "taints": all });
    }
    let (params, merge) = (PatchParams::default(), Patch::Merge(&patch));
    retry(&object, Duration::from_secs(60), || nodes.patch(name, &params, &merge)).await?;
    Ok(true)
}
