//! kubeadm's `JoinConfiguration` (`kubeadm.k8s.io/v1beta3` and `v1beta4`) for `kubeup join
//! --config FILE`, so the bootstrap token and the certificate key need not appear on the command
//! line (where `/proc/*/cmdline` and `docker inspect` show them to every local user).
//!
//! Pure. Unknown fields are errors that name the field; flags override the file.

use std::net::IpAddr;

use serde::Deserialize;

use super::kubeadm::{LocalApiEndpoint, NodeRegistration};
use super::{from_value, GoDuration};

/// What a JoinConfiguration says, as one layer under the flags.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct JoinSettings {
    /// `discovery.bootstrapToken.apiServerEndpoint`.
    pub endpoint: Option<String>,
    /// `discovery.bootstrapToken.token` (or `discovery.tlsBootstrapToken`).
    pub token: Option<String>,
    /// `discovery.bootstrapToken.caCertHashes`.
    pub ca_cert_hashes: Vec<String>,
    /// `discovery.bootstrapToken.unsafeSkipCAVerification`.
    pub unsafe_skip_ca_verification: bool,
    /// `discovery.file.kubeConfigPath`.
    pub discovery_file: Option<String>,
    /// `discovery.timeout` (v1beta3) or `timeouts.discovery` (v1beta4).
    pub discovery_timeout: Option<GoDuration>,
    /// `nodeRegistration.name`.
    pub node_name: Option<String>,
    /// `nodeRegistration.criSocket`.
    pub cri_socket: Option<String>,
    /// `nodeRegistration.ignorePreflightErrors`.
    pub ignore_preflight_errors: Vec<String>,
    /// `nodeRegistration.kubeletExtraArgs` (either spelling).
    pub kubelet_extra_args: std::collections::BTreeMap<String, String>,
    /// `controlPlane` is present: a control-plane join.
    pub control_plane: bool,
    /// `controlPlane.certificateKey`.
    pub certificate_key: Option<String>,
    /// `controlPlane.localAPIEndpoint.advertiseAddress`.
    pub advertise_address: Option<IpAddr>,
    /// `controlPlane.localAPIEndpoint.bindPort`.
    pub bind_port: Option<u16>,
    /// `skipPhases`.
    pub skip_phases: Vec<String>,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct JoinConfiguration {
    api_version: String,
    #[allow(dead_code)]
    kind: String,
    #[serde(default)]
    node_registration: NodeRegistration,
    /// kubeadm's default; kubeup writes the CA where `--cert-dir` says.
    #[allow(dead_code)]
    ca_cert_path: Option<String>,
    discovery: Discovery,
    control_plane: Option<ControlPlane>,
    #[serde(default)]
    skip_phases: Vec<String>,
    /// v1beta4.
    #[allow(dead_code)]
    dry_run: Option<bool>,
    /// v1beta4 `timeouts` (only `discovery` is used).
    timeouts: Option<std::collections::BTreeMap<String, GoDuration>>,
    /// v1beta4 `patches`: not supported, but kubeadm prints `patches: null`.
    #[allow(dead_code)]
    patches: Option<Null>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct Null {}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct Discovery {
    bootstrap_token: Option<BootstrapTokenDiscovery>,
    file: Option<FileDiscovery>,
    tls_bootstrap_token: Option<String>,
    timeout: Option<GoDuration>,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct BootstrapTokenDiscovery {
    token: Option<String>,
    api_server_endpoint: Option<String>,
    #[serde(default)]
    ca_cert_hashes: Vec<String>,
    #[serde(default, rename = "unsafeSkipCAVerification")]
    unsafe_skip_ca_verification: bool,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct FileDiscovery {
    kube_config_path: String,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct ControlPlane {
    #[serde(default, rename = "localAPIEndpoint")]
    local_api_endpoint: LocalApiEndpoint,
    certificate_key: Option<String>,
}

/// Parse a JoinConfiguration file's text (YAML or JSON, one document).
pub fn parse(text: &str) -> Result<JoinSettings, String> {
    let docs: Vec<serde_json::Value> = if text.trim_start().starts_with('{') {
        vec![serde_json::from_str(text).map_err(|e| format!("not valid JSON: {e}"))?]
    } else {
        serde_saphyr::from_multiple(text).map_err(|e| format!("not valid YAML: {e}"))?
    };
    let mut docs: Vec<serde_json::Value> = docs.into_iter().filter(|d| !d.is_null()).collect();
    if docs.len() != 1 {
        return Err(format!("expected exactly one JoinConfiguration document, found {}", docs.len()));
    }
    let doc = docs.remove(0);
    let api = doc.get("apiVersion").and_then(|v| v.as_str()).unwrap_or_default();
    let kind = doc.get("kind").and_then(|v| v.as_str()).unwrap_or_default();
    if !matches!(api, "kubeadm.k8s.io/v1beta3" | "kubeadm.k8s.io/v1beta4") || kind != "JoinConfiguration" {
        return Err(format!("document {api}/{kind} is not supported: expected kubeadm.k8s.io/v1beta3 or v1beta4 JoinConfiguration"));
    }
    let mut jc: JoinConfiguration = from_value(doc, "JoinConfiguration")?;
    jc.node_registration.check_taints("JoinConfiguration")?;
    let kubelet_extra_args = jc.node_registration.kubelet_extra_args();
    let d = jc.discovery;
    if d.bootstrap_token.is_some() == d.file.is_some() {
        return Err("JoinConfiguration: field discovery: set exactly one of bootstrapToken and file".into());
    }
    let bt = d.bootstrap_token;
    let token = bt.as_ref().and_then(|b| b.token.clone()).or(d.tls_bootstrap_token);
    let timeout = if jc.api_version.ends_with("v1beta4") { jc.timeouts.as_ref().and_then(|t| t.get("discovery").copied()) } else { d.timeout };
    let cp = jc.control_plane;
    Ok(JoinSettings {
        endpoint: bt.as_ref().and_then(|b| b.api_server_endpoint.clone()),
        token,
        ca_cert_hashes: bt.as_ref().map(|b| b.ca_cert_hashes.clone()).unwrap_or_default(),
        unsafe_skip_ca_verification: bt.as_ref().is_some_and(|b| b.unsafe_skip_ca_verification),
        discovery_file: d.file.map(|f| f.kube_config_path),
        discovery_timeout: timeout,
        node_name: jc.node_registration.name,
        cri_socket: jc.node_registration.cri_socket,
        ignore_preflight_errors: jc.node_registration.ignore_preflight_errors,
        kubelet_extra_args,
        control_plane: cp.is_some(),
        certificate_key: cp.as_ref().and_then(|c| c.certificate_key.clone()),
        advertise_address: cp.as_ref().and_then(|c| c.local_api_endpoint.advertise_address),
        bind_port: cp.as_ref().and_then(|c| c.local_api_endpoint.bind_port),
        skip_phases: jc.skip_phases,
    })
}

/// Read and parse a JoinConfiguration file.
pub fn load(path: &std::path::Path) -> Result<JoinSettings, String> {
    let text = std::fs::read_to_string(path).map_err(|e| format!("--config {}: cannot be read: {e}", path.display()))?;
    parse(&text).map_err(|e| format!("--config {}: {e}", path.display()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kubeadm_join_configurations_are_read() {
        let v1beta3 = "apiVersion: kubeadm.k8s.io/v1beta3\nkind: JoinConfiguration\nnodeRegistration:\n  name: w1\n  criSocket: unix:///run/crio/crio.sock\n  taints: null\ndiscovery:\n  bootstrapToken:\n    token: abcdef.0123456789abcdef\n    apiServerEndpoint: 10.0.0.1:6443\n    caCertHashes: [\"sha256:aa\"]\n  timeout: 2m\ncontrolPlane:\n  localAPIEndpoint:\n    advertiseAddress: 10.0.0.2\n    bindPort: 6443\n  certificateKey: \"00\"\n";
        let s = parse(v1beta3).unwrap();
        assert_eq!(s.endpoint.as_deref(), Some("10.0.0.1:6443"));
        assert_eq!(s.token.as_deref(), Some("abcdef.0123456789abcdef"));
        assert_eq!(s.ca_cert_hashes, vec!["sha256:aa".to_string()]);
        assert!(s.control_plane && s.certificate_key.as_deref() == Some("00"));
        assert_eq!(s.discovery_timeout.map(|d| d.0.as_secs()), Some(120));
        assert_eq!(s.node_name.as_deref(), Some("w1"));
        let v1beta4 = "apiVersion: kubeadm.k8s.io/v1beta4\nkind: JoinConfiguration\ndiscovery:\n  bootstrapToken:\n    token: abcdef.0123456789abcdef\n    apiServerEndpoint: 10.0.0.1:6443\n    unsafeSkipCAVerification: true\ntimeouts:\n  discovery: 30s\n";
        let s = parse(v1beta4).unwrap();
        assert!(s.unsafe_skip_ca_verification && !s.control_plane);
        assert_eq!(s.discovery_timeout.map(|d| d.0.as_secs()), Some(30));
    }

    #[test]
    fn mistakes_name_the_field() {
        let typo = "apiVersion: kubeadm.k8s.io/v1beta3\nkind: JoinConfiguration\ndiscovery:\n  bootstrapToken:\n    tokn: x\n";
        assert!(parse(typo).unwrap_err().contains("discovery.bootstrapToken"), "{}", parse(typo).unwrap_err());
        let both = "apiVersion: kubeadm.k8s.io/v1beta3\nkind: JoinConfiguration\ndiscovery:\n  bootstrapToken: {}\n  file: {kubeConfigPath: /x}\n";
        assert!(parse(both).unwrap_err().contains("exactly one of bootstrapToken and file"));
        let init = "apiVersion: kubeadm.k8s.io/v1beta3\nkind: InitConfiguration\n";
        assert!(parse(init).unwrap_err().contains("expected kubeadm.k8s.io/v1beta3 or v1beta4 JoinConfiguration"));
    }
}
