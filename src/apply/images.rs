//! Images on the node: an air-gapped bundle loaded into Docker (the kubelet container's image)
//! and into the CRI runtime (the pods' images: containerd's `k8s.io` namespace), and kubeup's
//! own image copied from Docker into containerd for the bridge network's agent.

use std::path::Path;
use std::time::{Duration, Instant};

use crate::runtime::bundle;
use crate::runtime::bundle_subset::{self, canonical};

use super::edges::EdgeError;
use super::environment::Environment;

/// What an image operation did, for people (`[images] …` lines).
pub type Notes = Vec<String>;

fn containerd_socket(cri_socket: &str) -> Option<&str> {
    let sock = cri_socket.trim_start_matches("unix://");
    sock.contains("containerd").then_some(sock)
}

/// `--image-bundle`: checked completely first (and against `sha256` when given); then each
/// image goes only where it runs (see [`crate::images::Placement`]): the kubelet's into Docker,
/// the pods' into the CRI runtime's store, the control plane's nowhere on a worker. The two
/// stores load at once (separate files, separate stores). Without containerd (cri-dockerd: the
/// pods' images are Docker's), Docker gets every image this node runs.
pub async fn load_bundle(
    env: &Environment,
    cri_socket: &str,
    bundle_file: &Path,
    sha256: Option<&str>,
    placement: &crate::images::Placement,
) -> Result<Notes, EdgeError> {
    let rt = env.docker().ok_or_else(|| EdgeError::Unavailable("--image-bundle needs Docker, which is not reachable".into()))?;
    let started = Instant::now();
    let (tags, manifest) = bundle::verify_manifest(bundle_file, sha256, bundle::BundleLimits::default())?;
    let listed = |list: &[String], tag: &str| list.iter().any(|i| canonical(i) == canonical(tag));
    let containerd = containerd_socket(cri_socket).map(str::to_string);
    let mut notes = Vec::new();
    let skipped: Vec<&String> = tags.iter().filter(|t| listed(&placement.not_here, t)).collect();
    let docker_tar = staging(env.root(), "/var/lib/kubeup/bundle-docker.tar")?;
    let cri = containerd.clone().map(|sock| {
        let (root, mapping, exec, file, manifest) =
            (env.root().clone(), env.mapping().clone(), env.exec().clone(), bundle_file.to_path_buf(), manifest.clone());
        let (docker_list, skip) = (placement.docker.clone(), placement.not_here.clone());
        std::thread::spawn(move || {
            let keep = |t: &str| !listed(&docker_list, t) && !listed(&skip, t);
            import_into_cri(&root, &mapping, &exec, &sock, &file, &manifest, &keep)
        })
    });
    let keep_docker = |t: &str| !listed(&placement.not_here, t) && (containerd.is_none() || listed(&placement.docker, t));
    let loaded = match bundle_subset::write_subset(bundle_file, &manifest, &keep_docker, &docker_tar.1) {
        Ok(in_docker) if in_docker.is_empty() => Ok(in_docker),
        Ok(in_docker) => bundle::load_verified(rt, &docker_tar.1, |line| tracing::info!("{line}")).await.map(|()| in_docker),
        Err(e) => Err(e),
    };
    let _ = std::fs::remove_file(&docker_tar.1);
    let imported = match cri {
        Some(handle) => handle.join().map_err(|_| EdgeError::Unavailable("importing the bundle into containerd failed unexpectedly".into()))?.map(Some),
        None => Ok(None),
    };
    let in_docker = loaded?;
    notes.push(format!(
        "[images] loaded {} of the bundle's {} images into Docker in {:.1} s ({})",
        in_docker.len(),
        tags.len(),
        started.elapsed().as_secs_f64(),
        in_docker.join(", ")
    ));
    notes.extend(imported?.flatten());
    if !skipped.is_empty() {
        notes.push(format!("[images] not loaded (nothing on this node runs them): {}", skipped.iter().map(|s| s.as_str()).collect::<Vec<_>>().join(", ")));
    }
    Ok(notes)
}

/// A staging file inside the host root (host path, real path), its directory made.
fn staging(root: &crate::host::HostRoot, path: &'static str) -> Result<(crate::paths::HostPath, std::path::PathBuf), EdgeError> {
    let host = crate::paths::known(path);
    let real = root.resolve(&host)?;
    if let Some(dir) = real.parent() {
        std::fs::create_dir_all(dir).map_err(|source| crate::host::HostError::Io { op: "create directory", path: host.parent(), source })?;
    }
    Ok((host, real))
}

/// Pods run through the CRI runtime, which keeps its own images: the images `keep` selects are
/// staged as a plain archive inside the host root and imported with the host's `ctr`, then the
/// archive is removed.
fn import_into_cri(
    root: &crate::host::HostRoot,
    mapping: &crate::runtime::HostMapping,
    exec: &crate::host::exec::HostExec,
    sock: &str,
    bundle_file: &Path,
    manifest: &serde_json::Value,
    keep: &dyn Fn(&str) -> bool,
) -> Result<Option<String>, EdgeError> {
    let started = Instant::now();
    let (staging, real) = staging(root, "/var/lib/kubeup/bundle-import.tar")?;
    let tags = bundle_subset::write_subset(bundle_file, manifest, keep, &real)?;
    if tags.is_empty() {
        return Ok(None);
    }
    let host_tar = mapping.source(staging.as_str());
    let host_sock = mapping.source(sock);
    let out = exec.run_timeout(&["ctr", "--address", &host_sock, "-n", "k8s.io", "images", "import", &host_tar], Duration::from_secs(900));
    let _ = std::fs::remove_file(&real);
    let command = format!("ctr --address {host_sock} -n k8s.io images import {host_tar}");
    match out {
        Ok(o) if o.ok() => Ok(Some(format!(
            "[images] imported {} images into containerd (namespace k8s.io, {host_sock}) in {:.1} s",
            tags.len(),
            started.elapsed().as_secs_f64()
        ))),
        Ok(o) => Err(crate::host::actions::ActionError::Failed { command, code: o.code, output: o.output }.into()),
        Err(source) => Err(crate::host::actions::ActionError::Spawn { command, source }.into()),
    }
}

/// Copy `image` from Docker into containerd's `k8s.io` namespace unless it is there already.
/// Returns what was done, or `None` when nothing was needed.
pub async fn copy_into_cri(env: &Environment, cri_socket: &str, image: &str) -> Result<Option<String>, EdgeError> {
    let Some(sock) = containerd_socket(cri_socket) else { return Ok(None) };
    let host_sock = env.mapping().source(sock);
    let qualified = if image.contains('/') { image.to_string() } else { format!("docker.io/library/{image}") };
    let check = env.exec().run(&["ctr", "--address", &host_sock, "-n", "k8s.io", "images", "ls", "-q", &format!("name=={qualified}")]);
    if matches!(&check, Ok(o) if o.ok() && !o.output.trim().is_empty()) {
        return Ok(None);
    }
    let rt = env.docker().ok_or_else(|| EdgeError::Unavailable(format!("{image} must be copied into containerd but Docker is not reachable")))?;
    if !rt.image_present(image).await? {
        return Ok(Some(format!("[images] {image} is neither in Docker nor in containerd: the pods that run it will pull it")));
    }
    let (staging, real) = staging(env.root(), "/var/lib/kubeup/kubeup-image.tar")?;
    bundle::save_tar(rt, &[image.to_string()], &real).await?;
    let host_tar = env.mapping().source(staging.as_str());
    let out = env.exec().run_timeout(&["ctr", "--address", &host_sock, "-n", "k8s.io", "images", "import", &host_tar], Duration::from_secs(600));
    let _ = std::fs::remove_file(&real);
    let command = format!("ctr --address {host_sock} -n k8s.io images import {host_tar}");
    match out {
        Ok(o) if o.ok() => Ok(Some(format!("[images] copied {image} from Docker into containerd (namespace k8s.io) for the bridge network's agent"))),
        Ok(o) => Err(crate::host::actions::ActionError::Failed { command, code: o.code, output: o.output }.into()),
        Err(source) => Err(crate::host::actions::ActionError::Spawn { command, source }.into()),
    }
}

/// Save images from Docker into a bundle (`kubeup images save`); `progress` gets bytes written.
pub async fn save_bundle(access_socket: &Path, images: &[String], file: &Path, progress: impl FnMut(u64)) -> Result<u64, EdgeError> {
    let rt = crate::runtime::Runtime::connect(access_socket).await?;
    Ok(bundle::save(&rt, images, file, progress).await?)
}

/// Check a bundle completely, then load it into Docker (`kubeup images load`).
pub async fn load_into_docker(access_socket: &Path, file: &Path, sha256: Option<&str>, progress: impl FnMut(&str)) -> Result<Vec<String>, EdgeError> {
    let rt = crate::runtime::Runtime::connect(access_socket).await?;
    let tags = bundle::verify_with(file, sha256, bundle::BundleLimits::default())?;
    bundle::load_verified(&rt, file, progress).await?;
    Ok(tags)
}
