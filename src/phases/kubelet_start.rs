//! Phase `kubelet-start`: the kubelet's configuration, the directories its container mounts,
//! the systemd unit on systemd hosts, and the kubelet container itself.

use super::{managed_file, Ctx, PhaseError};
use crate::kubelet::{config, container, unit};
use crate::mountinfo::propagation_of;
use crate::paths::{self, HostPath};
use crate::plan::{FileKind, Plan, Step};

/// Render the kubelet's files and container.
pub fn render(ctx: &Ctx, _only: Option<&str>) -> Result<Plan, PhaseError> {
    let cfg = ctx.cfg;
    let render_err = |what: &str, reason: String| PhaseError::Render { what: what.into(), reason };
    // A joining node takes the cluster's kubelet configuration, as kubeadm does; either way this
    // node's own settings (its CRI endpoint, 1.34+) are merged in, never shared.
    let cluster_yaml = match ctx.join {
        Some(j) => j.kubelet_config.clone(),
        None => {
            let kc = config::kubelet_configuration(cfg, ctx.facts.resolv_conf.as_deref());
            crate::yaml::to_string(&kc).map_err(|reason| render_err("kubelet configuration", reason))?
        }
    };
    let kc_yaml = config::node_kubelet_config(cfg, &cluster_yaml).map_err(|reason| render_err("kubelet configuration", reason))?;
    let addresses = config::NodeAddressFacts { hosts_file: ctx.facts.hosts_file.as_deref(), default_address: ctx.facts.default_route_address };
    let flags = config::kubelet_flags(cfg, ctx.facts.defaults.hostname.as_deref(), addresses);
    let has_machine_id = ctx.view.exists(&paths::known("/etc/machine-id"))?;
    let name = format!("{}-{}", ctx.options.container_prefix, container::KUBELET_CONTAINER_SUFFIX);
    let can_receive = |path: &str| match &ctx.facts.host_mountinfo {
        Some(mi) => propagation_of(mi, &ctx.options.host_source(path)).is_some_and(|m| m.shared || m.slave),
        None => true,
    };
    let mut spec = container::kubelet_container(cfg, &name, &flags, kc_yaml.as_bytes(), has_machine_id, can_receive);
    let mut steps = vec![Step::EnsureDir { path: paths::known(paths::MANIFESTS_DIR), mode: 0o700 }];
    let private: Vec<&str> =
        spec.mounts.iter().filter(|m| m.propagation.is_none() && !m.read_only && !can_receive(&m.source)).map(|m| m.source.as_str()).collect();
    if !private.is_empty() {
        steps.push(Step::Check {
            name: "MountPropagation".into(),
            severity: crate::plan::Severity::Warning,
            message: format!(
                "{} are on private mounts of the host, so the kubelet container binds them without propagation (mounts made later on the host will not show inside); `mount --make-rshared /` on the host allows rslave",
                private.join(", ")
            ),
        });
    }
    // Docker refuses to bind-mount a source that does not exist: create the missing
    // directories (on a real host only the CNI and plugin directories are usually missing).
    for m in &spec.mounts {
        let path = HostPath::new(m.source.clone()).map_err(|e| PhaseError::Render { what: m.source.clone(), reason: e.to_string() })?;
        // A source that exists (a directory, or a file such as /etc/machine-id) is used as it is.
        if !ctx.view.exists(&path)? {
            steps.push(Step::EnsureDir { path, mode: 0o755 });
        }
    }
    steps.push(managed_file(&ctx.view, paths::known(paths::KUBELET_CONFIG), kc_yaml, 0o644, FileKind::Config)?);
    steps.push(managed_file(&ctx.view, paths::known(paths::KUBELET_FLAGS_ENV), config::kubeadm_flags_env(&flags), 0o644, FileKind::Config)?);
    if let Some(instance) = config::instance_configuration(cfg) {
        let text = crate::yaml::to_string(&instance).map_err(|reason| render_err("instance configuration", reason))?;
        steps.push(managed_file(&ctx.view, paths::known(paths::KUBELET_INSTANCE_CONFIG), text, 0o644, FileKind::Config)?);
    }
    if let Some(reason) = config::node_ip_reason(cfg, addresses) {
        steps.push(Step::Say { text: format!("[kubelet-start] {reason}"), secret: false });
    }
    if ctx.facts.systemd {
        // systemd supervises; Docker must not restart the container too.
        spec.restart_policy = "no".into();
        steps.push(managed_file(&ctx.view, paths::known(paths::KUBELET_UNIT), unit::kubelet_unit(&spec), 0o644, FileKind::Config)?);
    }
    steps.push(Step::RunContainer(Box::new(spec)));
    Ok(Plan { steps })
}
