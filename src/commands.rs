//! The commands that touch a host: `init` (and `init phase`), `reset`, `images`. Each gathers
//! the facts (host root, Docker, the host's mount table), runs the pure workflow, then carries
//! out the effects that need the outside world: host commands and containers.

use std::collections::BTreeMap;
use std::io::IsTerminal;
use std::path::Path;
use std::time::{Duration, Instant};

use crate::cli::{error, exit, say, HostFlags, ImageFlags, ImagesCommand, InitFlags, Output, ResetFlags};
use crate::config::{self, HostDefaults, Settings};
use crate::host::exec::HostExec;
use crate::host::observe::{self, HostFacts};
use crate::host::HostRoot;
use crate::phases::Options;
use crate::plan::{self, Step};
use crate::record::InstallRecord;
use crate::runtime::privileges::Privileges;
use crate::runtime::{self, bundle, ContainerOutcome, HostMapping, Runtime};
use crate::workflow::{self, Report, Selection, Stop, WorkflowError};

/// Everything known about where kubeup runs and how it reaches the host.
pub(crate) struct Env {
    pub(crate) root: HostRoot,
    pub(crate) facts: HostFacts,
    pub(crate) docker: Option<Runtime>,
    pub(crate) mapping: HostMapping,
    pub(crate) exec: HostExec,
    /// What the `docker run` line lacks, if kubeup runs in a container.
    pub(crate) installer_problems: Vec<String>,
}

pub(crate) fn parse_labels(labels: &[String]) -> Result<BTreeMap<String, String>, String> {
    labels
        .iter()
        .map(|l| l.split_once('=').map(|(k, v)| (k.to_string(), v.to_string())).ok_or_else(|| format!("--container-label {l:?} must be KEY=VALUE")))
        .collect()
}

fn ns_of(proc_dir: &Path, pid: &str, ns: &str) -> Option<std::path::PathBuf> {
    std::fs::read_link(proc_dir.join(pid).join("ns").join(ns)).ok()
}

/// Gather the environment. Docker being unreachable is recorded, not fatal (dry runs and
/// preflight report it).
pub(crate) async fn environment(host: &HostFlags) -> Result<Env, u8> {
    let root = HostRoot::open(&host.host_root).map_err(|e| error(exit::USAGE, &e.to_string()))?;
    let proc_dir = observe::proc_dir();
    let mut facts = observe::observe(&root, &proc_dir);
    let docker = Runtime::connect(&host.docker_socket).await;
    let own_mountinfo = std::fs::read_to_string(proc_dir.join("self/mountinfo")).unwrap_or_default();
    let own_id = runtime::own_container_id(&own_mountinfo);
    let mut installer_problems = Vec::new();
    if own_id.is_some() {
        let target = host.host_pid.to_string();
        if ns_of(&proc_dir, "self", "pid") == ns_of(&proc_dir, &target, "pid") && std::process::id() <= 1 {
            installer_problems.push("the installer does not see the host's processes: add --pid=host to `docker run`".into());
        } else if ns_of(&proc_dir, "self", "net") != ns_of(&proc_dir, &target, "net") {
            installer_problems.push("the installer is not in the host's network namespace: add --net=host to `docker run`".into());
        }
        let status = std::fs::read_to_string(proc_dir.join("self/status")).unwrap_or_default();
        let eff = status.lines().find_map(|l| l.strip_prefix("CapEff:")).and_then(|v| u64::from_str_radix(v.trim(), 16).ok()).unwrap_or(0);
        if eff & (1 << 21) == 0 {
            installer_problems.push("the installer lacks CAP_SYS_ADMIN: add --privileged to `docker run`".into());
        }
    }
    let mapping = match &docker {
        Ok(rt) => runtime::host_mapping(Some(rt), root.dir(), own_id.as_deref()).await.map_err(|e| error(exit::USAGE, &e.to_string()))?,
        Err(_) => HostMapping { prefix: root.dir().to_path_buf() },
    };
    let exec = HostExec::choose(host.host_pid, &proc_dir, root.dir());
    let host_mountinfo = std::fs::read_to_string(proc_dir.join(host.host_pid.to_string()).join("mountinfo")).ok();
    facts.kubelet_dir_shared = host_mountinfo.as_deref().and_then(|mi| observe::shared(mi, &mapping.source(crate::paths::KUBELET_DIR)));
    facts.host_mountinfo = host_mountinfo;
    facts.docker = Some(match &docker {
        Ok(rt) => rt.facts().await.map_err(|e| e.to_string()),
        Err(e) => Err(e.to_string()),
    });
    facts.defaults.cri_socket = facts.cri_sockets.first().map(|s| format!("unix://{s}"));
    if let (Ok(rt), Some(id)) = (&docker, own_id.as_deref()) {
        facts.defaults.kubeup_image = rt.container_image(id).await.ok().flatten();
    }
    if let Some(Ok(d)) = &facts.docker {
        facts.defaults.cgroup_driver = Some(d.cgroup_driver.clone()).filter(|d| d == "systemd" || d == "cgroupfs");
    }
    Ok(Env { root, facts, docker: docker.ok(), mapping, exec, installer_problems })
}

/// `kubeup init` / `kubeup init phase`.
pub async fn init(flags: &InitFlags, selection: Selection) -> u8 {
    let started = Instant::now();
    let labels = match parse_labels(&flags.host.container_labels) {
        Ok(l) => l,
        Err(e) => return error(exit::USAGE, &e),
    };
    let mut env = match environment(&flags.host).await {
        Ok(e) => e,
        Err(code) => return code,
    };
    if !env.installer_problems.is_empty() && !flags.dry_run {
        return error(exit::USAGE, &format!("{}\nthe full command is: docker run --rm --privileged --net=host --pid=host -v /:/host -v /var/run/docker.sock:/var/run/docker.sock kubeup init", env.installer_problems.join("\n")));
    }
    if flags.dry_run {
        // A dry run may happen anywhere; an absent Docker is not an error there.
        if let Some(Err(e)) = &env.facts.docker {
            tracing::warn!("{e}");
            env.facts.docker = None;
        }
    }
    let file = match flags.config.as_deref().map(config::load_file).transpose() {
        Ok(f) => f,
        Err(e) => return error(exit::USAGE, &e.to_string()),
    };
    let mut cfg = match config::resolve(file, &flags.settings(), &env.facts.defaults) {
        Ok(c) => c,
        Err(e) => return error(exit::USAGE, &e.to_string()),
    };
    // A fresh certificate key for each upload unless the user gave one (kubeadm); never stored.
    let uploads = matches!(&selection, Selection::All) || matches!(&selection, Selection::One(p, _) if p == "upload-certs");
    if cfg.upload_certs && cfg.certificate_key.is_none() && uploads {
        match crate::pki::upload::generate_key() {
            Ok(k) => cfg.certificate_key = Some(k),
            Err(e) => return error(exit::FAILED, &e.to_string()),
        }
    }
    let options = Options { host_fixes: !flags.no_host_fixes, host_prefix: env.mapping.prefix.clone(), container_prefix: flags.host.container_prefix.clone() };
    tracing::info!(version = %cfg.version, node = %cfg.node_name, address = %cfg.advertise_address, "kubeup init");
    if let (Some(bundle_file), false) = (&flags.image_bundle, flags.dry_run) {
        if let Err(e) = load_bundle(&env, &cfg, bundle_file, flags.image_bundle_sha256.as_deref()).await {
            return error(exit::FAILED, &e);
        }
    }
    if !flags.dry_run && crate::test_hook!("KUBEUP_SKIP_EFFECTS").is_none() && cfg.pod_network == config::PodNetwork::Bridge {
        // The bridge agent runs from kubeup's own image, which Docker has (it runs this
        // installer) but the CRI runtime may not, and no registry may serve it.
        // Not fatal: the image may be served by a registry after all; if not, the agent's
        // pods say ErrImagePull and the warning here names the cause.
        if let Err(e) = copy_image_into_cri(&env, &cfg, &cfg.kubeup_image).await {
            say(&format!("[images] warning: {e}\n"));
        }
    }
    let mut report = match workflow::run_init(&cfg, &env.facts, &env.root, &options, &selection, flags.dry_run) {
        Ok(r) => r,
        Err(e) => {
            let code = match e {
                WorkflowError::Preflight(..) => exit::PREFLIGHT,
                WorkflowError::UnknownPhase(_) | WorkflowError::UnknownChild { .. } => exit::USAGE,
                WorkflowError::NotImplemented(_) => exit::INCOMPLETE,
                _ => exit::FAILED,
            };
            return error(code, &e.to_string());
        }
    };
    let mut notes = Vec::new();
    if crate::test_hook!("KUBEUP_SKIP_EFFECTS").is_some() && !flags.dry_run {
        // Test hook for tests of the file layer on a scratch root: no host command, no container.
        if report.plans.iter().any(|p| p.plan.steps.iter().any(|s| matches!(s, Step::RunContainer(_) | Step::HostCommand { .. }))) {
            report.stop = Some(Stop { phase: "kubelet-start".into(), reason: "a test hook skipped the host commands and containers".into() });
        }
    } else if !flags.dry_run && report.preflight_errors.is_empty() {
        let kubelet_name = format!("{}-{}", flags.host.container_prefix, crate::kubelet::container::KUBELET_CONTAINER_SUFFIX);
        if let Err(e) = run_effects(&mut report, &env, &cfg.cert_dir, &cfg.node_name, &labels, &kubelet_name, &mut notes).await {
            print_report(&report, flags.dry_run, flags.output, "init", started.elapsed(), &notes);
            return error(exit::FAILED, &e);
        }
    }
    print_report(&report, flags.dry_run, flags.output, "init", started.elapsed(), &notes)
}

/// `--image-bundle`: into Docker (the kubelet container's image) and into the CRI runtime (the
/// pods' images), with how long each took. The bundle is checked completely first; then both
/// loads run at once (they read the same file and write to different stores).
pub(crate) async fn load_bundle(env: &Env, cfg: &config::Config, bundle_file: &Path, sha256: Option<&str>) -> Result<(), String> {
    let Some(rt) = &env.docker else { return Err("--image-bundle needs Docker, which is not reachable".into()) };
    let started = Instant::now();
    let tags = bundle::verify_with(bundle_file, sha256, bundle::BundleLimits::default()).map_err(|e| e.to_string())?;
    let (root, mapping, exec, sock, file) = (env.root.clone(), env.mapping.clone(), env.exec.clone(), cfg.cri_socket.clone(), bundle_file.to_path_buf());
    let import = std::thread::spawn(move || import_into_cri(&root, &mapping, &exec, &sock, &file));
    let loaded = bundle::load_verified(rt, bundle_file, |line| tracing::info!("{line}")).await.map_err(|e| e.to_string());
    let imported = import.join().map_err(|_| "importing the bundle into containerd failed unexpectedly".to_string())?;
    loaded?;
    say(&format!("[images] loaded {} images from {} into Docker in {:.1} s\n", tags.len(), bundle_file.display(), started.elapsed().as_secs_f64()));
    if let Some(note) = imported? {
        say(&format!("{note}\n"));
    }
    Ok(())
}

/// Pods run through the CRI runtime, which keeps its own images: containerd's `k8s.io`
/// namespace, not Docker's. The bundle is staged decompressed inside the host root and imported
/// with the host's `ctr`, then removed. cri-dockerd needs nothing more (its images are Docker's).
fn import_into_cri(root: &HostRoot, mapping: &HostMapping, exec: &HostExec, cri_socket: &str, bundle_file: &Path) -> Result<Option<String>, String> {
    let sock = cri_socket.trim_start_matches("unix://");
    if !sock.contains("containerd") {
        return Ok(None);
    }
    let started = Instant::now();
    let staging = crate::paths::known("/var/lib/kubeup/bundle-import.tar");
    let real = root.resolve(&staging).map_err(|e| e.to_string())?;
    if let Some(dir) = real.parent() {
        std::fs::create_dir_all(dir).map_err(|e| format!("cannot stage the bundle in {}: {e}", dir.display()))?;
    }
    bundle::decompress_to(bundle_file, &real).map_err(|e| e.to_string())?;
    let host_tar = mapping.source(staging.as_str());
    let host_sock = mapping.source(sock);
    let out = exec.run_timeout(&["ctr", "--address", &host_sock, "-n", "k8s.io", "images", "import", &host_tar], std::time::Duration::from_secs(900));
    let _ = std::fs::remove_file(&real);
    match out {
        Ok(o) if o.code == 0 => Ok(Some(format!(
            "[images] imported {} into containerd (namespace k8s.io, {host_sock}) in {:.1} s",
            bundle_file.display(),
            started.elapsed().as_secs_f64()
        ))),
        Ok(o) => Err(format!("importing the bundle into containerd failed (ctr exit {}): {}", o.code, o.output)),
        Err(e) => Err(format!("cannot run ctr on the host to import the bundle into containerd: {e}")),
    }
}

/// Copy `image` from Docker into containerd's k8s.io namespace unless it is there already.
pub(crate) async fn copy_image_into_cri(env: &Env, cfg: &config::Config, image: &str) -> Result<(), String> {
    let sock = cfg.cri_socket.trim_start_matches("unix://");
    if !sock.contains("containerd") {
        return Ok(());
    }
    let host_sock = env.mapping.source(sock);
    let qualified = if image.contains('/') { image.to_string() } else { format!("docker.io/library/{image}") };
    let check = env.exec.run(&["ctr", "--address", &host_sock, "-n", "k8s.io", "images", "ls", "-q", &format!("name=={qualified}")]);
    if matches!(&check, Ok(o) if o.code == 0 && !o.output.trim().is_empty()) {
        return Ok(());
    }
    let Some(rt) = &env.docker else { return Err(format!("{image} must be copied into containerd but Docker is not reachable")) };
    if !rt.image_present(image).await.map_err(|e| e.to_string())? {
        say(&format!("[images] {image} is neither in Docker nor in containerd: the kubeup-network pods will pull it\n"));
        return Ok(());
    }
    let staging = crate::paths::known("/var/lib/kubeup/kubeup-image.tar");
    let real = env.root.resolve(&staging).map_err(|e| e.to_string())?;
    if let Some(dir) = real.parent() {
        std::fs::create_dir_all(dir).map_err(|e| format!("cannot stage {image} in {}: {e}", dir.display()))?;
    }
    bundle::save_tar(rt, &[image.to_string()], &real).await.map_err(|e| e.to_string())?;
    let out = env.exec.run_timeout(
        &["ctr", "--address", &host_sock, "-n", "k8s.io", "images", "import", &env.mapping.source(staging.as_str())],
        std::time::Duration::from_secs(600),
    );
    let _ = std::fs::remove_file(&real);
    match out {
        Ok(o) if o.code == 0 => {
            say(&format!("[images] copied {image} from Docker into containerd (namespace k8s.io) for the bridge network's agent\n"));
            Ok(())
        }
        Ok(o) => Err(format!("copying {image} into containerd failed (ctr exit {}): {}", o.code, o.output)),
        Err(e) => Err(format!("cannot run ctr on the host to copy {image} into containerd: {e}")),
    }
}

/// An etcd client with the etcd CA on the host (a control-plane node has its key).
fn etcd_client(env: &Env, cert_dir: &str, endpoint: &str) -> Result<crate::cluster::etcd::Etcd, String> {
    let read = |f: &str| -> Result<String, String> {
        let p = crate::paths::HostPath::new(format!("{cert_dir}/{f}")).map_err(|e| e.to_string())?;
        let b = env.root.read(&p).map_err(|e| e.to_string())?.ok_or(format!("{p} does not exist"))?;
        Ok(String::from_utf8_lossy(&b).into_owned())
    };
    let ca = crate::pki::CertPair { cert_pem: read("etcd/ca.crt")?, key_pem: read("etcd/ca.key")? };
    crate::cluster::etcd::Etcd::connect(endpoint, &ca)
}

/// The admin client, made when the first API step needs it (admin.conf exists by then).
async fn admin_client(env: &Env, cache: &mut Option<kube::Client>) -> Result<kube::Client, String> {
    if let Some(c) = cache {
        return Ok(c.clone());
    }
    let text = env
        .root
        .read(&crate::paths::kubeconfig("admin.conf"))
        .map_err(|e| e.to_string())?
        .ok_or("admin.conf does not exist: run `kubeup init phase kubeconfig admin` first")?;
    let text = String::from_utf8(text).map_err(|_| "admin.conf is not UTF-8 text".to_string())?;
    let c = crate::cluster::client::client_from_kubeconfig(&text, "/etc/kubernetes/admin.conf").await.map_err(|e| e.to_string())?;
    *cache = Some(c.clone());
    Ok(c)
}

/// From v1.29 admin.conf's user is in group `kubeadm:cluster-admins`, which is powerless until
/// the ClusterRoleBinding of that name exists. As kubeadm does, that one binding is created with
/// super-admin.conf (group system:masters), before the first API write; then admin.conf works.
async fn ensure_admin_binding(env: &Env) -> Result<Option<&'static str>, String> {
    let Some(super_admin) = env.root.read(&crate::paths::kubeconfig("super-admin.conf")).map_err(|e| e.to_string())? else { return Ok(None) };
    let admin = env.root.read(&crate::paths::kubeconfig("admin.conf")).map_err(|e| e.to_string())?.unwrap_or_default();
    let cert = crate::kubeconfig::read_existing(&String::from_utf8_lossy(&admin)).ok().and_then(|a| a.client_cert_pem);
    let orgs = cert.as_deref().map(crate::pki::subject_orgs).unwrap_or_default();
    if !orgs.iter().any(|o| o == "kubeadm:cluster-admins") {
        return Ok(None);
    }
    let text = String::from_utf8(super_admin).map_err(|_| "super-admin.conf is not UTF-8 text".to_string())?;
    let client = crate::cluster::client::client_from_kubeconfig(&text, "/etc/kubernetes/super-admin.conf").await.map_err(|e| e.to_string())?;
    let crb = crate::cluster::objects::admin_binding();
    crate::cluster::client::apply(&client, &crb, false).await.map_err(|e| e.to_string())?;
    Ok(Some("ClusterRoleBinding kubeadm:cluster-admins ensured with super-admin.conf (admin.conf's group gets cluster-admin through it)"))
}

/// kubeadm's kubelet-finalize: once the kubelet keeps its client certificate in
/// kubelet-client-current.pem (and rotates it), kubelet.conf refers to that file instead of an
/// embedded certificate that would expire.
fn kubelet_finalize(env: &Env) -> Result<String, String> {
    let pem = "/var/lib/kubelet/pki/kubelet-client-current.pem";
    if !env.root.exists(&crate::paths::known(pem)).map_err(|e| e.to_string())? {
        return Ok(format!("kubelet.conf keeps its embedded client certificate: the kubelet has not written {pem}"));
    }
    let path = crate::paths::kubeconfig("kubelet.conf");
    let text = env.root.read(&path).map_err(|e| e.to_string())?.ok_or("kubelet.conf does not exist")?;
    let mut kc = kube::config::Kubeconfig::from_yaml(&String::from_utf8_lossy(&text)).map_err(|e| format!("kubelet.conf: {e}"))?;
    let mut changed = false;
    for a in &mut kc.auth_infos {
        if let Some(auth) = &mut a.auth_info {
            if auth.client_certificate.as_deref() != Some(pem) {
                auth.client_certificate_data = None;
                auth.client_key_data = None;
                auth.client_certificate = Some(pem.into());
                auth.client_key = Some(pem.into());
                changed = true;
            }
        }
    }
    if !changed {
        return Ok("kubelet.conf already refers to the rotating client certificate".into());
    }
    let yaml = crate::kubeconfig::to_yaml(&kc)?;
    let real = env.root.resolve(&path).map_err(|e| e.to_string())?;
    crate::host::fs::atomic_write(&real, yaml.as_bytes(), 0o600).map_err(|e| format!("kubelet.conf: {e}"))?;
    Ok(format!("kubelet.conf now refers to {pem}"))
}

/// Host commands, containers, waits and API objects, in plan order.
pub(crate) async fn run_effects(
    report: &mut Report,
    env: &Env,
    cert_dir: &str,
    node_name: &str,
    labels: &BTreeMap<String, String>,
    kubelet_name: &str,
    notes: &mut Vec<String>,
) -> Result<(), String> {
    let mut said_exec = false;
    let mut admin: Option<kube::Client> = None;
    let mut binding_checked = false;
    for p in &report.plans {
        let mut applied: BTreeMap<&str, usize> = BTreeMap::new();
        for step in &p.plan.steps {
            match step {
                Step::Wait { target, timeout_secs } => {
                    let probe = crate::cluster::health::Probe {
                        root: &env.root,
                        docker: env.docker.as_ref(),
                        kubelet: kubelet_name.to_string(),
                        admin: if *target == crate::plan::WaitTarget::ApiServer { Some(admin_client(env, &mut admin).await?) } else { None },
                        cert_dir: cert_dir.to_string(),
                        node_name: node_name.to_string(),
                    };
                    let took = probe.wait(*target, std::time::Duration::from_secs(*timeout_secs)).await.map_err(|d| format!("[{}] {d}", p.phase))?;
                    notes.push(format!("[{}] {} after {:.1} s", p.phase, target.describe(), took.as_secs_f64()));
                }
                Step::ApplyObject { object, mode } => {
                    if !binding_checked {
                        binding_checked = true;
                        if let Some(n) = ensure_admin_binding(env).await.map_err(|e| format!("[{}] {e}", p.phase))? {
                            notes.push(format!("[{}] {n}", p.phase));
                        }
                    }
                    let reference = plan::object_ref(object);
                    let mut record = None;
                    if *mode == plan::ApplyMode::CreateOnce {
                        let r = InstallRecord::load(&env.root).map_err(|e| e.to_string())?;
                        if r.objects_created_once.contains(&reference) {
                            *applied.entry("kept (made by an earlier run; never made again)").or_default() += 1;
                            continue;
                        }
                        record = Some(r);
                    }
                    let client = admin_client(env, &mut admin).await?;
                    let create_only = *mode != plan::ApplyMode::Apply;
                    let outcome = crate::cluster::client::apply(&client, object, create_only).await.map_err(|e| format!("[{}] {e}", p.phase))?;
                    if let Some(mut r) = record {
                        // Remembered whether this run created it or found it: never re-created.
                        r.objects_created_once.insert(reference);
                        r.save(&env.root).map_err(|e| e.to_string())?;
                    }
                    let key = match outcome {
                        crate::cluster::client::Applied::Created => "created",
                        crate::cluster::client::Applied::Updated => "updated",
                        crate::cluster::client::Applied::Unchanged => "unchanged",
                        crate::cluster::client::Applied::Kept => "kept",
                    };
                    *applied.entry(key).or_default() += 1;
                }
                Step::ApplyOwned { object, owner } => {
                    let client = admin_client(env, &mut admin).await?;
                    crate::cluster::client::apply_owned(&client, object, owner).await.map_err(|e| format!("[{}] {e}", p.phase))?;
                    *applied.entry("applied (owned)").or_default() += 1;
                }
                Step::EtcdAddLearner { endpoint, peer_url } => {
                    let etcd = etcd_client(env, cert_dir, endpoint).map_err(|e| format!("[{}] {e}", p.phase))?;
                    let id = etcd.add_learner(peer_url).await.map_err(|e| format!("[{}] {e}", p.phase))?;
                    notes.push(format!("[{}] {peer_url} is an etcd learner (member {id})", p.phase));
                }
                Step::EtcdPromote { endpoint, peer_url } => {
                    let etcd = etcd_client(env, cert_dir, endpoint).map_err(|e| format!("[{}] {e}", p.phase))?;
                    etcd.promote(peer_url, Duration::from_secs(120)).await.map_err(|e| format!("[{}] {e}", p.phase))?;
                    notes.push(format!("[{}] etcd member {peer_url} promoted to a voting member", p.phase));
                }
                Step::MarkNode { name, labels, taints } => {
                    let client = admin_client(env, &mut admin).await?;
                    let changed = crate::cluster::client::mark_node(&client, name, labels, taints, std::time::Duration::from_secs(240))
                        .await
                        .map_err(|e| format!("[{}] {e}", p.phase))?;
                    notes.push(format!(
                        "[{}] node {name} {}",
                        p.phase,
                        if changed { "labelled and tainted as a control-plane node" } else { "already marked" }
                    ));
                }
                Step::KubeletFinalize => notes.push(format!("[{}] {}", p.phase, kubelet_finalize(env)?)),
                Step::RemoveFile { path, reason } => {
                    let real = env.root.resolve(path).map_err(|e| e.to_string())?;
                    match std::fs::remove_file(&real) {
                        Ok(()) => notes.push(format!("[{}] removed {path}: {reason}", p.phase)),
                        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
                        Err(e) => return Err(format!("[{}] cannot remove {path}: {e}", p.phase)),
                    }
                }

                Step::HostCommand { summary, action } => {
                    if !said_exec {
                        notes.push(format!("[{}] {}", p.phase, env.exec.describe()));
                        said_exec = true;
                    }
                    let done = crate::host::actions::apply(&env.exec, action).map_err(|e| format!("[{}] {summary}: {e}", p.phase))?;
                    notes.push(format!("[{}] {done}", p.phase));
                }
                Step::RunContainer(spec) => {
                    if env.facts.systemd {
                        // systemd is the only supervisor: it runs `docker run --rm` from the unit.
                        let unit = crate::plan::HostAction::EnableUnit { unit: "kubeup-kubelet.service".into(), restart: true };
                        crate::host::actions::apply(&env.exec, &unit).map_err(|e| format!("[{}] {e}", p.phase))?;
                        notes.push(format!("[{}] kubeup-kubelet.service enabled and (re)started; systemd supervises the kubelet container", p.phase));
                    } else {
                        let rt = env.docker.as_ref().ok_or_else(|| format!("[{}] Docker is not reachable, so the kubelet container cannot start", p.phase))?;
                        let privileges = Privileges::detect(&observe::proc_dir());
                        let outcome = rt.ensure_container(spec, &env.mapping, &privileges, labels).await.map_err(|e| format!("[{}] {e}", p.phase))?;
                        let mut record = InstallRecord::load(&env.root).map_err(|e| e.to_string())?;
                        if record.containers.insert(spec.name.clone()) {
                            record.save(&env.root).map_err(|e| e.to_string())?;
                        }
                        if crate::test_hook!("KUBEUP_FAULT_AFTER_PHASE").as_deref() == Some("kubelet-start/container") {
                            // Test hook: die like `kill -9` right after the container started.
                            std::process::exit(137);
                        }
                        let verb = match outcome {
                            ContainerOutcome::Created => "created and started",
                            ContainerOutcome::Recreated => "recreated (its configuration changed) and started",
                            ContainerOutcome::Kept => "already running with this configuration; kept",
                        };
                        notes.push(format!("[{}] container {} {verb}; {}; restart policy {}", p.phase, spec.name, privileges.describe(), spec.restart_policy));
                    }
                }
                _ => {}
            }
        }
        if !applied.is_empty() {
            let parts: Vec<String> = applied.iter().map(|(k, n)| format!("{n} {k}")).collect();
            notes.push(format!("[{}] API objects: {}", p.phase, parts.join(", ")));
        }
    }
    Ok(())
}

pub(crate) fn print_report(r: &Report, dry_run: bool, output: Output, what: &str, elapsed: Duration, notes: &[String]) -> u8 {
    // A dry run's product is the plan: preflight errors are reported in it ("a real run would
    // stop here"), not turned into a failure; `init phase preflight` is the check to script.
    let code = if !r.preflight_errors.is_empty() && !dry_run {
        exit::PREFLIGHT
    } else if r.stop.is_some() && !dry_run {
        exit::INCOMPLETE
    } else {
        exit::OK
    };
    match output {
        Output::Json => {
            let mut v = plan::to_json(&r.plans);
            v["dryRun"] = dry_run.into();
            v["changes"] = serde_json::to_value(r.changes).unwrap_or_default();
            v["stoppedAt"] = serde_json::to_value(&r.stop).unwrap_or_default();
            v["preflightErrors"] = serde_json::to_value(&r.preflight_errors).unwrap_or_default();
            v["notes"] = serde_json::to_value(notes).unwrap_or_default();
            v["elapsedMs"] = (elapsed.as_millis() as u64).into();
            say(&format!("{v:#}\n"));
        }
        Output::Text => {
            say(&plan::to_text(&r.plans, dry_run));
            let c = r.changes;
            if dry_run {
                say("[dryrun] nothing was changed on the host\n");
            } else {
                say(&format!(
                    "[{what}] {} files created, {} replaced, {} modes fixed, {} unchanged, {} directories created\n",
                    c.created, c.replaced, c.mode_fixed, c.unchanged, c.dirs_created
                ));
            }
            for n in notes {
                say(&format!("{n}\n"));
            }
            if !dry_run {
                for p in &r.plans {
                    for step in &p.plan.steps {
                        if let Step::Say { text, .. } = step {
                            say(&format!("{text}\n"));
                        }
                    }
                }
            }
            if !r.preflight_errors.is_empty() {
                say(&format!("[preflight] a real run would stop here:\n{}\n", r.preflight_errors.join("\n")));
            }
            if let Some(s) = &r.stop {
                say(&format!("[{what}] stopped at {}: {}\n", s.phase, s.reason));
            }
            say(&format!("[{what}] took {} ms\n", elapsed.as_millis()));
        }
    }
    code
}

/// Remove this node's etcd member when it has a stacked etcd and others remain; best effort.
async fn leave_etcd(env: &Env, cert_dir: &str) -> Option<String> {
    let manifest = env.root.read(&crate::paths::manifest("etcd")).ok()??;
    let text = String::from_utf8_lossy(&manifest);
    let peer = text.split_whitespace().find_map(|w| w.trim_matches('"').strip_prefix("--initial-advertise-peer-urls="))?.to_string();
    let etcd = match etcd_client(env, cert_dir, "https://127.0.0.1:2379") {
        Ok(e) => e,
        Err(e) => return Some(format!("this node's etcd member was not removed: {e}")),
    };
    Some(etcd.remove(&peer).await.unwrap_or_else(|e| {
        format!("this node's etcd member {peer} was not removed ({e}); if other control-plane nodes remain, remove it there with `etcdctl member remove`")
    }))
}

/// `kubeup reset`.
pub async fn reset(flags: &ResetFlags) -> u8 {
    let env = match environment(&flags.host).await {
        Ok(e) => e,
        Err(code) => return code,
    };
    let host_mountinfo = std::fs::read_to_string(observe::proc_dir().join(flags.host.host_pid.to_string()).join("mountinfo")).unwrap_or_default();
    let opts = crate::reset::ResetOptions {
        remove_etcd_data: flags.remove_etcd_data,
        cert_dir: flags.cert_dir.clone(),
        etcd_data_dir: flags.etcd_data_dir.clone(),
        host_prefix: env.mapping.prefix.clone(),
    };
    if let Err(e) = crate::reset::check_dirs(&opts) {
        return error(exit::USAGE, &format!("{e}\nnothing was changed"));
    }
    let plan = match crate::reset::plan(&env.root, env.docker.as_ref(), &host_mountinfo, &opts).await {
        Ok(p) => p,
        Err(e) => return error(exit::FAILED, &e.to_string()),
    };
    let show = |p: &crate::reset::ResetPlan, verb: &str| {
        for (name, _) in &p.containers {
            say(&format!("[reset] {verb} container {name}\n"));
        }
        for u in &p.units {
            say(&format!("[reset] {verb} disable systemd unit {u}\n"));
        }
        for m in &p.unmounts {
            say(&format!("[reset] {verb} unmount {m}\n"));
        }
        for f in &p.files {
            say(&format!("[reset] {verb} remove {f}\n"));
        }
        for d in &p.dirs {
            say(&format!("[reset] {verb} remove directory {d} (if empty)\n"));
        }
        for k in &p.kept {
            say(&format!("[reset] keep {k}\n"));
        }
    };
    if flags.output == Output::Json {
        say(&format!("{:#}\n", serde_json::json!({ "dryRun": flags.dry_run, "plan": plan })));
    }
    if flags.dry_run {
        if flags.output == Output::Text {
            show(&plan, "would");
        }
        return exit::OK;
    }
    if !flags.force {
        if !std::io::stdin().is_terminal() {
            return error(exit::USAGE, "reset removes this node's Kubernetes state; confirm interactively or pass --force (see --dry-run for the list)");
        }
        show(&plan, "will");
        say("[reset] Are you sure you want to proceed? [y/N]: ");
        let mut answer = String::new();
        let _ = std::io::stdin().read_line(&mut answer);
        if !matches!(answer.trim(), "y" | "Y" | "yes") {
            return error(exit::USAGE, "aborted; nothing was changed");
        }
    }
    let _lock = match crate::host::lock::HostLock::acquire(&env.root) {
        Ok(l) => l,
        Err(e) => return error(exit::FAILED, &e.to_string()),
    };
    // kubeadm's reset on a control-plane node: leave etcd first (while it still runs), unless
    // this is the last member.
    if let Some(n) = leave_etcd(&env, &flags.cert_dir).await {
        say(&format!("[reset] {n}\n"));
    }
    let (failed, notices) = crate::reset::execute(&plan, &env.root, env.docker.as_ref(), &env.exec, &opts).await;
    if flags.output == Output::Text {
        show(&plan, "removed:");
    }
    for n in &notices {
        say(&format!("[reset] {n}\n"));
    }
    if failed.is_empty() {
        say("[reset] done\n");
        exit::OK
    } else {
        error(exit::FAILED, &format!("reset could not do everything:\n  {}", failed.join("\n  ")))
    }
}

fn image_config(flags: &ImageFlags) -> Result<config::Config, String> {
    let file = flags.config.as_deref().map(config::load_file).transpose().map_err(|e| e.to_string())?;
    let layer = Settings { kubernetes_version: flags.kubernetes_version.clone(), image_repository: flags.image_repository.clone(), ..Default::default() };
    let mut layer = layer;
    layer.node.kubelet_image = flags.kubelet_image.clone();
    layer.networking.pod_network = flags.pod_network.clone();
    layer.kubeup_image = flags.kubeup_image.clone();
    // The node's identity does not change the image set.
    let host = HostDefaults {
        hostname: Some("node".into()),
        address: Some(std::net::Ipv4Addr::LOCALHOST.into()),
        cgroup_driver: None,
        cri_socket: None,
        kubeup_image: None,
    };
    config::resolve(file, &layer, &host).map_err(|e| e.to_string())
}

/// `kubeup images …`.
pub async fn images(cmd: ImagesCommand) -> u8 {
    match cmd {
        ImagesCommand::List { flags, output } => {
            let cfg = match image_config(&flags) {
                Ok(c) => c,
                Err(e) => return error(exit::USAGE, &e),
            };
            let list = crate::images::required(&cfg);
            match output {
                Output::Json => say(&format!("{:#}\n", serde_json::json!({ "images": list }))),
                Output::Text => say(&format!("{}\n", list.join("\n"))),
            }
            exit::OK
        }
        ImagesCommand::Save { file, images, flags } => {
            let cfg = match image_config(&flags) {
                Ok(c) => c,
                Err(e) => return error(exit::USAGE, &e),
            };
            let rt = match Runtime::connect(&flags.docker_socket).await {
                Ok(r) => r,
                Err(e) => return error(exit::FAILED, &e.to_string()),
            };
            let list = if images.is_empty() { crate::images::required(&cfg) } else { images };
            let mut next_report = 0u64;
            match bundle::save(&rt, &list, &file, |n| {
                if n >= next_report {
                    eprintln!("[images] saved {} MiB", n / (1024 * 1024));
                    next_report = n + 64 * 1024 * 1024;
                }
            })
            .await
            {
                Ok(n) => {
                    say(&format!("[images] saved {} images ({} MiB uncompressed) to {}\n", list.len(), n / (1024 * 1024), file.display()));
                    exit::OK
                }
                Err(e) => error(exit::FAILED, &e.to_string()),
            }
        }
        ImagesCommand::Load { file, docker_socket } => {
            let rt = match Runtime::connect(&docker_socket).await {
                Ok(r) => r,
                Err(e) => return error(exit::FAILED, &e.to_string()),
            };
            match bundle::load(&rt, &file, |line| eprintln!("[images] {line}")).await {
                Ok(tags) => {
                    say(&format!("[images] loaded {} images from {}: {}\n", tags.len(), file.display(), tags.join(", ")));
                    exit::OK
                }
                Err(e) => error(exit::FAILED, &e.to_string()),
            }
        }
    }
}
