//! Images on the node: an air-gapped bundle loaded into Docker (the kubelet container's image)
//! and into the CRI runtime (the pods' images: containerd's `k8s.io` namespace), and kubeup's
//! own image copied from Docker into containerd for the bridge network's agent.

use std::path::Path;
use std::time::{Duration, Instant};

use crate::runtime::bundle;

use super::edges::EdgeError;
use super::environment::Environment;

/// What an image operation did, for people (`[images] …` lines).
pub type Notes = Vec<String>;

fn containerd_socket(cri_socket: &str) -> Option<&str> {
    let sock = cri_socket.trim_start_matches("unix://");
    sock.contains("containerd").then_some(sock)
}

/// `--image-bundle`: checked completely first (and against `sha256` when given), then loaded
/// into Docker and into the CRI runtime at once (they read the same file and write to
/// different stores).
pub async fn load_bundle(env: &Environment, cri_socket: &str, bundle_file: &Path, sha256: Option<&str>) -> Result<Notes, EdgeError> {
    let rt = env.docker().ok_or_else(|| EdgeError::Unavailable("--image-bundle needs Docker, which is not reachable".into()))?;
    let started = Instant::now();
    let tags = bundle::verify_with(bundle_file, sha256, bundle::BundleLimits::default())?;
    let (root, mapping, exec, sock, file) = (env.root().clone(), env.mapping().clone(), env.exec().clone(), cri_socket.to_string(), bundle_file.to_path_buf());
    let import = std::thread::spawn(move || import_into_cri(&root, &mapping, &exec, &sock, &file));
    let loaded = bundle::load_verified(rt, bundle_file, |line| tracing::info!("{line}")).await;
    let imported = import.join().map_err(|_| EdgeError::Unavailable("importing the bundle into containerd failed unexpectedly".into()))?;
    loaded?;
    let mut notes =
        vec![format!("[images] loaded {} images from {} into Docker in {:.1} s", tags.len(), bundle_file.display(), started.elapsed().as_secs_f64())];
    notes.extend(imported?);
    Ok(notes)
}

/// Pods run through the CRI runtime, which keeps its own images: the bundle is staged
/// decompressed inside the host root and imported with the host's `ctr`, then removed.
/// cri-dockerd needs nothing more (its images are Docker's).
fn import_into_cri(
    root: &crate::host::HostRoot,
    mapping: &crate::runtime::HostMapping,
    exec: &crate::host::exec::HostExec,
    cri_socket: &str,
    bundle_file: &Path,
) -> Result<Option<String>, EdgeError> {
    let Some(sock) = containerd_socket(cri_socket) else { return Ok(None) };
    let started = Instant::now();
    let staging = crate::paths::known("/var/lib/kubeup/bundle-import.tar");
    let real = root.resolve(&staging)?;
    if let Some(dir) = real.parent() {
        std::fs::create_dir_all(dir).map_err(|source| crate::host::HostError::Io { op: "create directory", path: staging.parent(), source })?;
    }
    bundle::decompress_to(bundle_file, &real)?;
    let host_tar = mapping.source(staging.as_str());
    let host_sock = mapping.source(sock);
    let out = exec.run_timeout(&["ctr", "--address", &host_sock, "-n", "k8s.io", "images", "import", &host_tar], Duration::from_secs(900));
    let _ = std::fs::remove_file(&real);
    let command = format!("ctr --address {host_sock} -n k8s.io images import {host_tar}");
    match out {
        Ok(o) if o.ok() => Ok(Some(format!(
            "[images] imported {} into containerd (namespace k8s.io, {host_sock}) in {:.1} s",
            bundle_file.display(),
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
    let staging = crate::paths::known("/var/lib/kubeup/kubeup-image.tar");
    let real = env.root().resolve(&staging)?;
    if let Some(dir) = real.parent() {
        std::fs::create_dir_all(dir).map_err(|source| crate::host::HostError::Io { op: "create directory", path: staging.parent(), source })?;
    }
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
