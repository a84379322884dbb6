//! Phase `preflight`: kubeadm's checks that make sense for a containerized installer, as pure
//! functions of the host facts and the files on the host. Each result names the check as
//! kubeadm does, so `--ignore-preflight-errors` habits carry over.

use super::{Ctx, PhaseError};
use crate::kubelet::config::KUBELET_PORT;
use crate::manifests::{controller_manager, etcd, MANAGED_BY_ANNOTATION};
use crate::paths::{self, HostPath};
use crate::plan::{Plan, Severity, Step};

fn check(plan: &mut Plan, ctx: &Ctx, name: String, failed: Option<(Severity, String)>, ok: impl Into<String>) {
    let (severity, message) = match failed {
        None => (Severity::Ok, ok.into()),
        Some((Severity::Error, m)) if ctx.cfg.ignore_preflight_errors.iter().any(|i| i == "all" || *i == name.to_lowercase()) => {
            (Severity::Warning, format!("{m} (ignored: --ignore-preflight-errors)"))
        }
        Some(f) => f,
    };
    plan.steps.push(Step::Check { name, severity, message });
}

/// Whether the file is a manifest kubeup wrote (a re-run on an initialised node).
fn ours(ctx: &Ctx, p: &HostPath) -> Result<Option<bool>, PhaseError> {
    Ok(ctx.view.read(p)?.map(|b| String::from_utf8_lossy(&b).contains(MANAGED_BY_ANNOTATION)))
}

/// From v1.35 the kubelet refuses to start on a cgroup v1 host (`failCgroupV1` defaults to
/// true), so kubeadm's system verification fails there; kubeup says so before anything starts,
/// instead of at wait-control-plane.
pub fn cgroup_v1_problem(cfg: &crate::config::Config, cgroup_version: &str) -> Option<(Severity, String)> {
    if cgroup_version.trim() != "1" {
        return None;
    }
    let m = format!(
        "this host uses cgroup v1, and the kubelet of Kubernetes {} refuses cgroup v1 (failCgroupV1 defaults to true from v1.35). \
         Fix: boot the host with cgroup v2 (kernel command line systemd.unified_cgroup_hierarchy=1, the default of current distributions), \
         or install v1.34 or older with --kubernetes-version",
        cfg.version
    );
    if cfg.version.facts().kubelet_fails_cgroup_v1 {
        Some((Severity::Error, m))
    } else {
        Some((Severity::Warning, format!("this host uses cgroup v1, which Kubernetes deprecates: from v1.35 the kubelet refuses it ({})", cfg.version)))
    }
}

/// Run the checks.
pub fn render(ctx: &Ctx, _only: Option<&str>) -> Result<Plan, PhaseError> {
    let f = ctx.facts;
    let cfg = ctx.cfg;
    let mut plan = Plan::default();
    let err = |m: String| Some((Severity::Error, m));
    let warn = |m: String| Some((Severity::Warning, m));

    check(
        &mut plan,
        ctx,
        "IsPrivilegedUser".into(),
        (f.euid != 0).then(|| (Severity::Error, "kubeup must run as root (uid 0): run the container as root".to_string())),
        "running as root",
    );
    // A worker join skips the control plane's checks; a control-plane join runs init's.
    let joining = ctx.join.is_some_and(|j| j.control_plane.is_none());
    // A worker needs neither the control plane's CPUs and memory nor its ports and files.
    if !joining {
        check(
            &mut plan,
            ctx,
            "NumCPU".into(),
            (f.cpus < 2).then(|| (Severity::Error, format!("{} CPU available, the control plane needs at least 2", f.cpus))),
            format!("{} CPUs", f.cpus),
        );
        check(
            &mut plan,
            ctx,
            "Mem".into(),
            (f.mem_mib > 0 && f.mem_mib < 1700).then(|| (Severity::Error, format!("{} MiB of memory, the control plane needs at least 1700 MiB", f.mem_mib))),
            format!("{} MiB of memory", f.mem_mib),
        );
    }
    check(
        &mut plan,
        ctx,
        "Swap".into(),
        (f.swap_entries > 0).then(|| {
            (
                Severity::Warning,
                "swap is on: the kubelet refuses to start with swap unless failSwapOn is false; turn it off with `swapoff -a` and remove it from /etc/fstab"
                    .to_string(),
            )
        }),
        "no swap",
    );
    let fixes = ctx.options.host_fixes;
    // What prepare-host will fix is a warning when host fixes are on, an error when they are off.
    let fixable = |m: String| if fixes { warn(format!("{m}; prepare-host fixes it")) } else { err(format!("{m} (host fixes are off: --no-host-fixes)")) };
    check(
        &mut plan,
        ctx,
        "FileContent--proc-sys-net-ipv4-ip_forward".into(),
        match f.ip_forward.as_deref() {
            Some("1") => None,
            Some(v) => fixable(format!("/proc/sys/net/ipv4/ip_forward is {v}, must be 1")),
            None => warn("/proc/sys/net/ipv4/ip_forward cannot be read".into()),
        },
        "IP forwarding is on",
    );
    check(
        &mut plan,
        ctx,
        "FileContent--proc-sys-net-bridge-bridge-nf-call-iptables".into(),
        match f.bridge_nf_call_iptables.as_deref() {
            Some("1") => None,
            Some(v) => fixable(format!("/proc/sys/net/bridge/bridge-nf-call-iptables is {v}, must be 1 so bridged pod traffic passes iptables")),
            None => fixable("the br_netfilter module is not loaded (/proc/sys/net/bridge is missing)".into()),
        },
        "bridged traffic passes iptables",
    );
    check(
        &mut plan,
        ctx,
        "SharedMount--var-lib-kubelet".into(),
        match f.kubelet_dir_shared {
            Some(true) => None,
            Some(false) => {
                fixable("/var/lib/kubelet is not on a shared mount: the kubelet container mounts it rshared, and volumes would never reach the host".into())
            }
            None => warn("the host's mount table cannot be read to check /var/lib/kubelet's propagation".into()),
        },
        "/var/lib/kubelet is on a shared mount",
    );
    if let Some(docker) = &f.docker {
        check(
            &mut plan,
            ctx,
            "Docker".into(),
            docker.as_ref().err().map(|e| (Severity::Error, e.clone())),
            docker
                .as_ref()
                .map(|d| format!("Docker {} (API {}), cgroup driver {}, cgroup v{}", d.version, d.api_version, d.cgroup_driver, d.cgroup_version))
                .unwrap_or_default(),
        );
    }
    if let Some(Ok(docker)) = &f.docker {
        check(&mut plan, ctx, "SystemVerification".into(), cgroup_v1_problem(cfg, &docker.cgroup_version), format!("cgroup v{}", docker.cgroup_version));
    }
    let socket = cfg.cri_socket.trim_start_matches("unix://");
    check(
        &mut plan,
        ctx,
        "CRI".into(),
        (!f.cri_sockets.iter().any(|s| s == socket)).then(|| {
            let found = if f.cri_sockets.is_empty() { "none found".to_string() } else { format!("found {}", f.cri_sockets.join(", ")) };
            (Severity::Error, format!("no container runtime answers on {socket} ({found}): enable containerd's CRI plugin (remove `cri` from disabled_plugins in /etc/containerd/config.toml) or pass --cri-socket"))
        }),
        format!("container runtime answers on {socket}"),
    );
    // kubeadm resolves the node name; kubeup reads the host's /etc/hosts instead of sending a
    // DNS query from an installer that may run where nothing should leave the machine.
    let named = f.hosts_file.as_deref().is_some_and(|h| {
        h.lines().filter(|l| !l.trim_start().starts_with('#')).any(|l| l.split_whitespace().skip(1).any(|n| n.eq_ignore_ascii_case(&cfg.node_name)))
    });
    check(
        &mut plan,
        ctx,
        "Hostname".into(),
        (!named).then(|| (Severity::Warning, format!("node name {:?} is not in the host's /etc/hosts: make sure it resolves (DNS or /etc/hosts), or the API server cannot reach this kubelet by name", cfg.node_name))),
        format!("node name {} is in /etc/hosts", cfg.node_name),
    );
    if !f.addresses.is_empty() && !f.addresses.contains(&cfg.advertise_address) {
        check(
            &mut plan,
            ctx,
            "AdvertiseAddress".into(),
            warn(format!(
                "{} is not an address of this machine: other nodes will not reach this API server unless it is forwarded here",
                cfg.advertise_address
            )),
            "",
        );
    }

    if joining {
        let member = super::join_input::already_member(ctx)?;
        check(
            &mut plan,
            ctx,
            format!("Port-{KUBELET_PORT}"),
            (!member && ctx.facts.busy_ports.contains(&KUBELET_PORT))
                .then(|| (Severity::Error, format!("port {KUBELET_PORT} is in use: is a kubelet already running on this host? Run `kubeup reset` first"))),
            format!("port {KUBELET_PORT} is free or this node's own kubelet"),
        );
        if let Some(proxy) = ctx.join.and_then(|j| j.api_proxy.as_ref()) {
            // The api-proxy listens on the API port on loopback; something else there would
            // leave the kubelet talking to it.
            let port = proxy.port;
            check(
                &mut plan,
                ctx,
                format!("Port-{port}"),
                (!member && ctx.facts.busy_ports.contains(&port)).then(|| {
                    (
                        Severity::Error,
                        format!("port {port} is in use: the api-proxy of this worker listens there; stop what listens (`ss -ltnp 'sport = :{port}'`)"),
                    )
                }),
                format!("port {port} is free or this node's own api-proxy"),
            );
        }
        let conf = paths::kubeconfig("kubelet.conf");
        check(
            &mut plan,
            ctx,
            "FileAvailable--etc-kubernetes-kubelet.conf".into(),
            (!member && ctx.view.exists(&conf)?).then(|| {
                (
                    Severity::Error,
                    format!("{conf} exists and belongs to another cluster (its CA differs): this host is a node already; run `kubeup reset` first"),
                )
            }),
            if member { format!("{conf} exists: this host already is a node of this cluster; join converges") } else { format!("{conf} is free") },
        );
        return Ok(plan);
    }
    let components = [
        ("etcd", Some(etcd::CLIENT_PORT)),
        ("etcd", Some(etcd::PEER_PORT)),
        ("kube-apiserver", Some(cfg.bind_port)),
        ("kube-controller-manager", Some(controller_manager::PORT)),
        ("kube-scheduler", Some(crate::manifests::scheduler::PORT)),
    ];
    for (component, port) in components {
        let manifest = paths::manifest(component);
        let owned = ours(ctx, &manifest)?;
        if let Some(port) = port {
            let name = format!("Port-{port}");
            if owned == Some(true) {
                check(&mut plan, ctx, name, None, format!("port {port} belongs to this node's own {component} (managed by kubeup)"));
            } else {
                check(
                    &mut plan,
                    ctx,
                    name,
                    ctx.facts.busy_ports.contains(&port).then(|| {
                        (Severity::Error, format!("port {port} is in use: stop what listens there (`ss -ltnp 'sport = :{port}'`) or choose another port"))
                    }),
                    format!("port {port} is free"),
                );
            }
        }
    }
    let kubelet_ours = ours(ctx, &paths::manifest("kube-apiserver"))? == Some(true);
    check(
        &mut plan,
        ctx,
        format!("Port-{KUBELET_PORT}"),
        (!kubelet_ours && ctx.facts.busy_ports.contains(&KUBELET_PORT))
            .then(|| (Severity::Error, format!("port {KUBELET_PORT} is in use: is a kubelet already running on this host? Run `kubeup reset` first"))),
        format!("port {KUBELET_PORT} is free or this node's own kubelet"),
    );
    for component in ["kube-apiserver", "kube-controller-manager", "kube-scheduler", "etcd"] {
        let manifest = paths::manifest(component);
        let name = format!("FileAvailable-{}", manifest.as_str().replace('/', "-"));
        let failed = match ours(ctx, &manifest)? {
            Some(false) => err(format!("{manifest} already exists and was not written by kubeup: run `kubeup reset` (or `kubeadm reset`) first")),
            _ => None,
        };
        check(&mut plan, ctx, name, failed, format!("{manifest} is free or managed by kubeup"));
    }
    let data_dir = HostPath::new(cfg.etcd_data_dir.clone()).map_err(|e| PhaseError::Render { what: "etcd.dataDir".into(), reason: e.to_string() })?;
    let etcd_ours = ours(ctx, &paths::manifest("etcd"))? == Some(true);
    check(
        &mut plan,
        ctx,
        format!("DirAvailable-{}", data_dir.as_str().replace('/', "-")),
        (!etcd_ours && ctx.view.dir_has_entries(&data_dir)?).then(|| {
            (Severity::Error, format!("{data_dir} is not empty: it holds another cluster's etcd data; kubeup never deletes it: move it away or run `kubeup reset --remove-etcd-data`"))
        }),
        format!("{data_dir} is empty or this node's own etcd data"),
    );
    Ok(plan)
}
