//! Phase `prepare-host` (kubeup's own, between preflight and certs): the host settings a
//! containerized kubelet needs, where the user allows it (`--no-host-fixes` turns it off):
//! kernel modules and sysctls (persisted in `/etc/modules-load.d` and `/etc/sysctl.d`, applied
//! now), and a shared `/var/lib/kubelet` (persisted as a systemd mount unit on systemd hosts).
//! Every file is recorded in the install record, so `reset` removes it.

use super::{managed_file, Ctx, PhaseError};
use crate::paths::{self, HostPath};
use crate::plan::{FileKind, HostAction, Plan, Step};

/// Kernel modules the kubelet and CNI plugins need, each with the path that exists once it is
/// available (loaded or built in).
pub const MODULES: &[(&str, &str)] = &[("overlay", "/sys/module/overlay"), ("br_netfilter", "/proc/sys/net/bridge")];
/// Sysctls the kubelet and kube-proxy need.
pub const SYSCTLS: &[(&str, &str)] = &[("net.ipv4.ip_forward", "1"), ("net.bridge.bridge-nf-call-iptables", "1"), ("net.bridge.bridge-nf-call-ip6tables", "1")];
/// Mount unit that keeps /var/lib/kubelet a shared bind mount across reboots.
pub const KUBELET_MOUNT_UNIT: &str = "/etc/systemd/system/var-lib-kubelet.mount";

/// Render the host fixes.
pub fn render(ctx: &Ctx, _only: Option<&str>) -> Result<Plan, PhaseError> {
    let mut plan = Plan::default();
    if !ctx.options.host_fixes {
        return Ok(plan);
    }
    let known = |p: &str| HostPath::new(p).map_err(|e| PhaseError::Render { what: p.into(), reason: e.to_string() });
    plan.steps.push(Step::EnsureDir { path: known("/etc/modules-load.d")?, mode: 0o755 });
    plan.steps.push(managed_file(
        &ctx.view,
        known("/etc/modules-load.d/kubeup.conf")?,
        MODULES.iter().map(|(m, _)| format!("{m}\n")).collect(),
        0o644,
        FileKind::Config,
    )?);
    plan.steps.push(Step::EnsureDir { path: known("/etc/sysctl.d")?, mode: 0o755 });
    let sysctl_file: String = SYSCTLS.iter().map(|(k, v)| format!("{k} = {v}\n")).collect();
    let sysctl_text = format!("# Written by kubeup; removed by `kubeup reset`.\n{sysctl_file}");
    plan.steps.push(managed_file(&ctx.view, known("/etc/sysctl.d/90-kubeup.conf")?, sysctl_text, 0o644, FileKind::Config)?);
    // Only what is missing is changed: a module already loaded or built in is not probed, a
    // sysctl that already has the value is not written.
    for (name, loaded_when) in MODULES {
        plan.steps.push(Step::HostCommand {
            summary: format!("load kernel module {name} if missing"),
            action: HostAction::LoadModule { name: name.to_string(), loaded_when: loaded_when.to_string() },
        });
    }
    for (k, v) in SYSCTLS {
        plan.steps.push(Step::HostCommand {
            summary: format!("set {k} = {v} if it differs"),
            action: HostAction::Sysctl { key: k.to_string(), value: v.to_string() },
        });
    }
    if ctx.facts.kubelet_dir_shared != Some(true) {
        let dir = ctx.options.host_source(paths::KUBELET_DIR);
        plan.steps.push(Step::EnsureDir { path: paths::known(paths::KUBELET_DIR), mode: 0o755 });
        plan.steps.push(Step::HostCommand {
            summary: format!("make {dir} a shared mount (the kubelet container mounts it rshared)"),
            action: HostAction::SharedMount { dir: dir.clone() },
        });
        if ctx.facts.systemd {
            let unit = "# Written by kubeup: keeps /var/lib/kubelet a shared mount for the kubelet container.\n\
[Unit]\nDescription=Shared bind mount of /var/lib/kubelet (kubeup)\nBefore=docker.service\n\n\
[Mount]\nWhat=/var/lib/kubelet\nWhere=/var/lib/kubelet\nType=none\nOptions=bind,rshared\n\n\
[Install]\nWantedBy=local-fs.target\n";
            plan.steps.push(managed_file(&ctx.view, known(KUBELET_MOUNT_UNIT)?, unit.into(), 0o644, FileKind::Config)?);
            plan.steps.push(Step::HostCommand {
                summary: "enable the mount unit".into(),
                action: HostAction::EnableUnit { unit: "var-lib-kubelet.mount".into(), restart: false },
            });
        }
    }
    Ok(plan)
}
