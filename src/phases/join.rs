//! `join`'s phases for a worker node (kubeadm.md §6): preflight, prepare-host, api-proxy (kubeup's
//! node-local API load balancer), kubelet-start
//! (the cluster CA, the bootstrap kubeconfig, the kubelet configuration read from the cluster,
//! the kubelet container) and kubelet-wait-bootstrap (the TLS bootstrap, then the Node Ready,
//! then the bootstrap kubeconfig removed).
//!
//! Pure: discovery already happened; what it established arrives in [`JoinInput`].

use super::{certs, control_plane, control_plane_config, etcd, kubeconfig, kubelet_start, preflight, prepare_host, Ctx, PhaseDef, PhaseError};
use crate::paths;
use crate::plan::{FileKind, Plan, Step, WaitTarget, WritePolicy};

pub use super::join_input::{already_member, ControlPlaneInput, JoinInput};

/// `join --control-plane`'s phases: kubeadm's control-plane-prepare (download-certs, certs,
/// kubeconfig, control-plane), etcd-join, kubelet-start, wait-control-plane and
/// mark-control-plane, built from `init`'s renderers.
pub static CONTROL_PLANE_JOIN_PHASES: &[PhaseDef] = &[
    PhaseDef { name: "preflight", summary: "Run control-plane join pre-flight checks", children: &[], render: preflight::render },
    PhaseDef {
        name: "prepare-host",
        summary: "Load kernel modules, set sysctls and make /var/lib/kubelet shared",
        children: &[],
        render: prepare_host::render,
    },
    PhaseDef { name: "download-certs", summary: "Write the shared certificates downloaded from kubeadm-certs", children: &[], render: download_certs },
    PhaseDef { name: "certs", summary: "Generate this node's certificates", children: &[], render: certs::render },
    PhaseDef { name: "kubeconfig", summary: "Generate this node's kubeconfig files", children: &[], render: kubeconfig::render },
    PhaseDef { name: "etcd-join", summary: "Add this node to etcd as a learner and write its etcd manifest", children: &[], render: etcd_join },
    PhaseDef { name: "control-plane", summary: "Generate this node's control-plane manifests", children: &[], render: control_plane::render },
    PhaseDef { name: "kubelet-start", summary: "Write the kubelet configuration and start the kubelet container", children: &[], render: kubelet_start_join },
    PhaseDef {
        name: "wait-control-plane",
        summary: "Wait for this node's control plane, then promote its etcd member",
        children: &[],
        render: wait_control_plane_join,
    },
    PhaseDef { name: "mark-control-plane", summary: "Mark the node as a control-plane", children: &[], render: control_plane_config::mark_control_plane },
    PhaseDef { name: "cert-renewer", summary: "Start the certificate renewer (kubeup only)", children: &[], render: super::cert_renewer::render },
];

/// `join`'s phases in kubeadm's order.
pub static JOIN_PHASES: &[PhaseDef] = &[
    PhaseDef { name: "preflight", summary: "Run join pre-flight checks", children: &[], render: preflight::render },
    PhaseDef {
        name: "prepare-host",
        summary: "Load kernel modules, set sysctls and make /var/lib/kubelet shared",
        children: &[],
        render: prepare_host::render,
    },
    PhaseDef {
        name: "api-proxy",
        summary: "Start the node-local API load balancer the kubelet talks through (kubeup only)",
        children: &[],
        render: super::api_proxy::render,
    },
    PhaseDef {
        name: "kubelet-start",
        summary: "Write the CA, the bootstrap kubeconfig and the cluster's kubelet configuration, and start the kubelet container",
        children: &[],
        render: kubelet_start_join,
    },
    PhaseDef {
        name: "kubelet-wait-bootstrap",
        summary: "Wait for the kubelet's TLS bootstrap and for the node to be Ready",
        children: &[],
        render: wait_bootstrap,
    },
];

fn input<'a>(ctx: &'a Ctx) -> Result<&'a JoinInput, PhaseError> {
    ctx.join.ok_or_else(|| PhaseError::Render { what: "join".into(), reason: "the join phases need the cluster's data (discovery did not run)".into() })
}

/// The CA, the bootstrap kubeconfig (unless the kubelet already has its own credentials), then
/// the kubelet files and container as `init` writes them.
pub fn kubelet_start_join(ctx: &Ctx, only: Option<&str>) -> Result<Plan, PhaseError> {
    let j = input(ctx)?;
    let mut steps = vec![Step::EnsureDir { path: paths::known(paths::KUBERNETES_DIR), mode: 0o755 }];
    let ca_path =
        crate::paths::HostPath::new(format!("{}/ca.crt", ctx.cfg.cert_dir)).map_err(|e| PhaseError::Render { what: "ca.crt".into(), reason: e.to_string() })?;
    match ctx.view.read(&ca_path)? {
        Some(existing) if existing == j.ca_pem.as_bytes() => steps.push(Step::Keep { path: ca_path, reason: "already the cluster's CA".into() }),
        Some(_) => {
            return Err(PhaseError::Render {
                what: ca_path.to_string(),
                reason: "exists and is another cluster's CA: kubeup will not replace it; run `kubeup reset` on this host first".into(),
            })
        }
        None => {
            steps.push(Step::EnsureDir { path: ca_path.parent(), mode: 0o755 });
            steps.push(Step::WriteFile(crate::plan::FileSpec {
                path: ca_path,
                contents: j.ca_pem.clone().into_bytes(),
                mode: 0o644,
                policy: WritePolicy::CreateOnly,
                kind: FileKind::Certificate,
            }));
        }
    }
    if !ctx.view.exists(&paths::kubeconfig("kubelet.conf"))? {
        steps.push(Step::WriteFile(crate::plan::FileSpec {
            path: paths::kubeconfig("bootstrap-kubelet.conf"),
            contents: j.bootstrap_kubeconfig.clone().into_bytes(),
            mode: 0o600,
            policy: WritePolicy::Replace,
            kind: FileKind::Kubeconfig,
        }));
    }
    let mut plan = kubelet_start::render(ctx, only)?;
    steps.append(&mut plan.steps);
    Ok(Plan { steps })
}

/// kubeadm's 5-minute TLS-bootstrap wait, then the Node Ready; then the bootstrap credentials
/// go (the kubelet has its own certificate by then). Up to 1.33 the node annotates itself with
/// its CRI socket, with its own credentials, as kubeadm join does.
pub fn wait_bootstrap(ctx: &Ctx, _only: Option<&str>) -> Result<Plan, PhaseError> {
    let mut steps = vec![
        Step::Wait { target: WaitTarget::KubeletContainer, timeout_secs: 60 },
        Step::Wait { target: WaitTarget::TlsBootstrap, timeout_secs: 300 },
        Step::Wait { target: WaitTarget::NodeReady, timeout_secs: super::node_ready::NODE_READY_TIMEOUT_SECS },
    ];
    let annotations = control_plane_config::node_annotations(ctx.cfg);
    if !annotations.is_empty() {
        steps.push(Step::MarkNode { name: ctx.cfg.node_name.clone(), labels: vec![], taints: vec![], annotations });
    }
    steps.push(Step::RemoveFile { path: paths::kubeconfig("bootstrap-kubelet.conf"), reason: "the kubelet has its own client certificate".into() });
    Ok(Plan { steps })
}

fn cp_input<'a>(ctx: &'a Ctx) -> Result<&'a ControlPlaneInput, PhaseError> {
    input(ctx)?.control_plane.as_ref().ok_or_else(|| PhaseError::Render { what: "join".into(), reason: "not a control-plane join".into() })
}

/// The downloaded CAs and service-account keys: written where absent, kept where identical,
/// refused where different (another cluster's PKI is never overwritten).
pub fn download_certs(ctx: &Ctx, _only: Option<&str>) -> Result<Plan, PhaseError> {
    let cp = cp_input(ctx)?;
    let mut steps = Vec::new();
    for (rel, bytes, mode) in &cp.shared {
        let path =
            crate::paths::HostPath::new(format!("{}/{rel}", ctx.cfg.cert_dir)).map_err(|e| PhaseError::Render { what: rel.clone(), reason: e.to_string() })?;
        match ctx.view.read(&path)? {
            Some(existing) if &existing == bytes => steps.push(Step::Keep { path, reason: "already the cluster's".into() }),
            Some(_) => {
                return Err(PhaseError::Render {
                    what: path.to_string(),
                    reason: "exists and differs from the cluster's: kubeup will not replace it; run `kubeup reset` on this host first".into(),
                })
            }
            None => {
                steps.push(Step::EnsureDir { path: path.parent(), mode: 0o755 });
                let kind = if rel.ends_with(".key") { FileKind::PrivateKey } else { FileKind::Certificate };
                steps.push(Step::WriteFile(crate::plan::FileSpec { path, contents: bytes.clone(), mode: *mode, policy: WritePolicy::CreateOnly, kind }));
            }
        }
    }
    Ok(Plan { steps })
}

fn own_peer_url(ctx: &Ctx) -> String {
    format!("https://{}:{}", crate::manifests::url_host(&ctx.cfg.advertise_address), crate::manifests::etcd::PEER_PORT)
}

/// The learner is added before this node's etcd starts (the effects run after every file is
/// written and before the kubelet container starts), then the manifest names every member.
pub fn etcd_join(ctx: &Ctx, only: Option<&str>) -> Result<Plan, PhaseError> {
    let cp = cp_input(ctx)?;
    let mut plan = etcd::render(ctx, only)?;
    plan.steps.push(Step::EtcdAddLearner { endpoint: cp.etcd_endpoint.clone(), peer_url: own_peer_url(ctx) });
    Ok(plan)
}

/// init's waits, with the kubelet's TLS bootstrap after its container starts (a joining control
/// plane's kubelet has no pre-signed kubelet.conf), and the learner promoted as soon as this
/// node's etcd is healthy: an API server cannot use a learner ("rpc not supported for learner"),
/// as kubeadm's etcd-join knows.
pub fn wait_control_plane_join(ctx: &Ctx, only: Option<&str>) -> Result<Plan, PhaseError> {
    let cp = cp_input(ctx)?;
    let waits = control_plane_config::wait(ctx, only)?;
    let mut steps = Vec::new();
    for step in waits.steps {
        let after_etcd = matches!(step, Step::Wait { target: WaitTarget::Etcd, .. });
        let after_kubelet = matches!(step, Step::Wait { target: WaitTarget::KubeletContainer, .. });
        steps.push(step);
        if after_kubelet {
            steps.push(Step::Wait { target: WaitTarget::TlsBootstrap, timeout_secs: 300 });
            steps.push(Step::RemoveFile { path: paths::kubeconfig("bootstrap-kubelet.conf"), reason: "the kubelet has its own client certificate".into() });
        }
        if after_etcd {
            steps.push(Step::EtcdPromote { endpoint: cp.etcd_endpoint.clone(), peer_url: own_peer_url(ctx) });
        }
    }
    Ok(Plan { steps })
}

/// `bootstrap-kubelet.conf`: the server and CA from discovery, the token as the credential
/// (user `tls-bootstrap-token-user`, as kubeadm names it).
pub fn bootstrap_kubeconfig(cluster_name: &str, server: &str, ca_pem: &str, token: &crate::token::BootstrapToken) -> Result<String, String> {
    use base64::Engine as _;
    use kube::config::{AuthInfo, Cluster, Context, Kubeconfig, NamedAuthInfo, NamedCluster, NamedContext};
    let user = "tls-bootstrap-token-user";
    let ctx_name = format!("{user}@{cluster_name}");
    let kc = Kubeconfig {
        api_version: Some("v1".into()),
        kind: Some("Config".into()),
        clusters: vec![NamedCluster {
            name: cluster_name.into(),
            cluster: Some(Cluster {
                server: Some(server.into()),
                certificate_authority_data: Some(base64::engine::general_purpose::STANDARD.encode(ca_pem)),
                ..Default::default()
            }),
            ..Default::default()
        }],
        contexts: vec![NamedContext {
            name: ctx_name.clone(),
            context: Some(Context { cluster: cluster_name.into(), user: Some(user.into()), ..Default::default() }),
            ..Default::default()
        }],
        current_context: Some(ctx_name),
        auth_infos: vec![NamedAuthInfo {
            name: user.into(),
            auth_info: Some(AuthInfo { token: Some(token.to_string().into()), ..Default::default() }),
            ..Default::default()
        }],
        ..Default::default()
    };
    crate::kubeconfig::to_yaml(&kc)
}
