//! Reading a configuration file: kubeup's own document, kubeadm's InitConfiguration +
//! ClusterConfiguration (v1beta3/v1beta4), and a KubeProxyConfiguration, as YAML or JSON. Every
//! error names the document and the field.

use std::path::Path;

use super::{kubeadm, ConfigError, Settings, KUBEUP_API_VERSION};

/// Read a config file (YAML or JSON; kubeup's document or kubeadm's multi-document file).
pub fn load_file(path: &Path) -> Result<Settings, ConfigError> {
    let shown = path.display().to_string();
    let text = std::fs::read_to_string(path).map_err(|e| ConfigError::Unreadable { path: shown.clone(), reason: e.to_string() })?;
    parse_text(&text).map_err(|reason| ConfigError::Malformed { path: shown, reason })
}

/// Parse config text; the error names the document and field.
pub fn parse_text(text: &str) -> Result<Settings, String> {
    let docs: Vec<serde_json::Value> = if text.trim_start().starts_with('{') {
        vec![serde_json::from_str(text).map_err(|e| format!("not valid JSON: {e}"))?]
    } else {
        serde_saphyr::from_multiple(text).map_err(|e| format!("not valid YAML: {e}"))?
    };
    let docs: Vec<serde_json::Value> = docs.into_iter().filter(|d| !d.is_null()).collect();
    if docs.is_empty() {
        return Err("the file holds no configuration document".into());
    }
    let mut kubeup_doc = None;
    let mut kubeadm_docs = Vec::new();
    let mut kube_proxy: Option<serde_json::Value> = None;
    for doc in docs {
        let api = doc.get("apiVersion").and_then(|v| v.as_str()).unwrap_or_default().to_string();
        let kind = doc.get("kind").and_then(|v| v.as_str()).unwrap_or_default().to_string();
        match api.as_str() {
            KUBEUP_API_VERSION if kind == "Configuration" => {
                if kubeup_doc.is_some() {
                    return Err("more than one kubeup Configuration document".into());
                }
                kubeup_doc = Some(from_value::<Settings>(doc, "Configuration")?);
            }
            a if a.starts_with("kubeadm.k8s.io/") => kubeadm_docs.push((api, kind, doc)),
            "kubeproxy.config.k8s.io/v1alpha1" if kind == "KubeProxyConfiguration" => {
                let mut doc = doc;
                if let Some(o) = doc.as_object_mut() {
                    o.remove("apiVersion");
                    o.remove("kind");
                }
                kube_proxy = Some(doc);
            }
            "" => return Err("a document has no apiVersion: expected kubeup.io/v1alpha1 (kind Configuration) or kubeadm.k8s.io/v1beta3|v1beta4".into()),
            _ => {
                return Err(format!(
                    "document {api}/{kind} is not supported: expected {KUBEUP_API_VERSION} Configuration, kubeadm.k8s.io/v1beta3|v1beta4 InitConfiguration/ClusterConfiguration, or kubeproxy.config.k8s.io/v1alpha1 KubeProxyConfiguration"
                ))
            }
        }
    }
    let from_kubeadm = if kubeadm_docs.is_empty() { None } else { Some(kubeadm::to_settings(kubeadm_docs)?) };
    let mut settings = match (kubeup_doc, from_kubeadm) {
        (Some(_), Some(_)) => return Err("mixes kubeup's Configuration with kubeadm documents: use one or the other".into()),
        (Some(s), None) | (None, Some(s)) => s,
        (None, None) if kube_proxy.is_some() => Settings::default(),
        (None, None) => return Err("the file holds no configuration document".into()),
    };
    if let Some(kp) = kube_proxy {
        if !kp.is_object() {
            return Err("KubeProxyConfiguration: expected a mapping of fields".into());
        }
        settings.kube_proxy = Some(kp);
    }
    Ok(settings)
}

/// Deserialize one document with the failing field's path in the message.
pub(crate) fn from_value<T: serde::de::DeserializeOwned>(doc: serde_json::Value, what: &str) -> Result<T, String> {
    serde_path_to_error::deserialize(doc).map_err(|e| {
        let path = e.path().to_string();
        let inner = e.into_inner().to_string();
        let hint = if inner.contains("unknown field") { " (misspelled, or a field kubeup does not support)" } else { "" };
        if path == "." {
            format!("{what}: {inner}{hint}")
        } else {
            format!("{what}: field {path}: {inner}{hint}")
        }
    })
}
