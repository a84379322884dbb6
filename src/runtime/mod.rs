//! EDGE: the container runtime kubeup drives, the host's Docker engine (through bollard).
//!
//! kubeup only asks Docker for what Docker API 1.41 (Docker 20.10) knows, so older engines do
//! the same thing as new ones. Containers kubeup creates carry `io.kubeup.*` labels; that is how
//! re-runs find them and how `reset` removes exactly them.

pub mod bundle;
pub mod bundle_subset;
pub mod privileges;

use std::collections::{BTreeMap, HashMap};
use std::path::{Path, PathBuf};

use bollard::models::{
    ContainerCreateBody, HostConfig, HostConfigCgroupnsModeEnum, HostConfigLogConfig, Mount, MountBindOptions, MountBindOptionsPropagationEnum, MountType,
    RestartPolicy, RestartPolicyNameEnum,
};
use bollard::query_parameters::{CreateContainerOptionsBuilder, ListContainersOptionsBuilder, LogsOptionsBuilder, RemoveContainerOptionsBuilder};
use bollard::Docker;
use futures_util::StreamExt;

use crate::kubelet::container::{ContainerSpec, Propagation, LABEL_CONFIG_HASH};
use privileges::Privileges;

/// Label put on every container kubeup creates (value: what created it).
pub const LABEL_MANAGED: &str = "io.kubeup.managed";

/// Runtime errors, each with what to do.
#[derive(Debug, thiserror::Error)]
pub enum RuntimeError {
    /// The socket is not there.
    #[error(
        "Docker socket {0} not found: run the installer with -v /var/run/docker.sock:/var/run/docker.sock (or point --docker-socket at the engine's socket)"
    )]
    NoSocket(String),
    /// Docker does not answer.
    #[error("Docker at {socket} does not answer ({reason}): is dockerd running on the host?")]
    Unreachable {
        /// Socket path.
        socket: String,
        /// Error.
        reason: String,
    },
    /// An API call failed.
    #[error("Docker: {what}: {reason}")]
    Api {
        /// What was attempted.
        what: String,
        /// Docker's answer.
        reason: String,
    },
    /// An image is not present and cannot be pulled here.
    #[error("image {0} is not present in Docker: load it with `kubeup images load <bundle>` or pass --image-bundle")]
    MissingImage(String),
    /// Bundle problems.
    #[error("image bundle {path}: {reason}")]
    Bundle {
        /// Bundle file.
        path: String,
        /// What is wrong.
        reason: String,
    },
}

fn api(what: impl Into<String>) -> impl FnOnce(bollard::errors::Error) -> RuntimeError {
    let what = what.into();
    move |e| RuntimeError::Api { what, reason: docker_message(&e) }
}

/// Docker's own message for an error (not bollard's wrapping).
pub fn docker_message(e: &bollard::errors::Error) -> String {
    match e {
        bollard::errors::Error::DockerResponseServerError { status_code, message } => format!("{message} (HTTP {status_code})"),
        other => other.to_string(),
    }
}

pub use crate::facts::DockerFacts;

/// Where a host path is, as the Docker daemon sees it. kubeup may run on the host itself
/// (`--host-root /`) or in a container with the host's `/` at `/host`; bind-mount sources in
/// container specs are host paths, so the host root's own location on the host is needed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HostMapping {
    /// The host root's path on the Docker host (`/` in production).
    pub prefix: PathBuf,
}

impl HostMapping {
    /// The Docker host's path for a host path.
    pub fn source(&self, host_path: &str) -> String {
        let p = self.prefix.join(host_path.trim_start_matches('/'));
        p.to_string_lossy().into_owned()
    }
}

/// The engine (a cheap handle: clones share the connection pool).
#[derive(Clone)]
pub struct Runtime {
    docker: Docker,
}

pub use crate::plan::ContainerOutcome;

/// Summary of a labelled container.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ContainerInfo {
    /// Id.
    pub id: String,
    /// Name without the leading slash.
    pub name: String,
    /// Labels.
    pub labels: HashMap<String, String>,
    /// `running`, `exited`, …
    pub state: String,
}

impl Runtime {
    /// Connect to the engine at `socket` and check that it answers.
    pub async fn connect(socket: &Path) -> Result<Runtime, RuntimeError> {
        let shown = socket.display().to_string();
        if !socket.exists() {
            return Err(RuntimeError::NoSocket(shown));
        }
        let docker = Docker::connect_with_unix(&shown, 120, bollard::API_DEFAULT_VERSION)
            .map_err(|e| RuntimeError::Unreachable { socket: shown.clone(), reason: e.to_string() })?;
        docker.version().await.map_err(|e| RuntimeError::Unreachable { socket: shown.clone(), reason: docker_message(&e) })?;
        Ok(Runtime { docker })
    }

    /// The engine's version and cgroup setup.
    pub async fn facts(&self) -> Result<DockerFacts, RuntimeError> {
        let v = self.docker.version().await.map_err(api("version"))?;
        let info = self.docker.info().await.map_err(api("info"))?;
        let s = |v: Option<String>| v.unwrap_or_default();
        Ok(DockerFacts {
            version: s(v.version),
            api_version: s(v.api_version),
            cgroup_driver: info.cgroup_driver.map(|d| d.to_string()).unwrap_or_default(),
            cgroup_version: info.cgroup_version.map(|d| d.to_string()).unwrap_or_default(),
        })
    }

    /// The bollard client, for the bundle code.
    pub fn client(&self) -> &Docker {
        &self.docker
    }

    /// Whether an image is present.
    pub async fn image_present(&self, image: &str) -> Result<bool, RuntimeError> {
        match self.docker.inspect_image(image).await {
            Ok(_) => Ok(true),
            Err(bollard::errors::Error::DockerResponseServerError { status_code: 404, .. }) => Ok(false),
            Err(e) => Err(api(format!("inspect image {image}"))(e)),
        }
    }

    /// Containers carrying `label` (`key` or `key=value`), running or not.
    pub async fn list_labelled(&self, label: &str) -> Result<Vec<ContainerInfo>, RuntimeError> {
        let filters = HashMap::from([("label".to_string(), vec![label.to_string()])]);
        let opts = ListContainersOptionsBuilder::default().all(true).filters(&filters).build();
        let list = self.docker.list_containers(Some(opts)).await.map_err(api("list containers"))?;
        Ok(list
            .into_iter()
            .map(|c| ContainerInfo {
                id: c.id.unwrap_or_default(),
                name: c.names.and_then(|n| n.into_iter().next()).unwrap_or_default().trim_start_matches('/').to_string(),
                labels: c.labels.unwrap_or_default(),
                state: c.state.map(|s| s.to_string()).unwrap_or_default(),
            })
            .collect())
    }

    /// The container with this exact name, if any.
    pub async fn find_by_name(&self, name: &str) -> Result<Option<ContainerInfo>, RuntimeError> {
        let filters = HashMap::from([("name".to_string(), vec![format!("^/{name}$")])]);
        let opts = ListContainersOptionsBuilder::default().all(true).filters(&filters).build();
        let list = self.docker.list_containers(Some(opts)).await.map_err(api("list containers"))?;
        Ok(list.into_iter().next().map(|c| ContainerInfo {
            id: c.id.unwrap_or_default(),
            name: name.to_string(),
            labels: c.labels.unwrap_or_default(),
            state: c.state.map(|s| s.to_string()).unwrap_or_default(),
        }))
    }

    /// The image a container was created from, as given (`kubeup:latest`).
    pub async fn container_image(&self, id: &str) -> Result<Option<String>, RuntimeError> {
        let info = self.docker.inspect_container(id, None).await.map_err(api(format!("inspect container {id}")))?;
        Ok(info.config.and_then(|c| c.image))
    }

    /// Remove a container (stopping it first).
    pub async fn remove(&self, id: &str) -> Result<(), RuntimeError> {
        let opts = RemoveContainerOptionsBuilder::default().force(true).v(true).build();
        match self.docker.remove_container(id, Some(opts)).await {
            Ok(()) | Err(bollard::errors::Error::DockerResponseServerError { status_code: 404, .. }) => Ok(()),
            Err(e) => Err(api(format!("remove container {id}"))(e)),
        }
    }

    /// The last `lines` lines of a container's output.
    pub async fn logs_tail(&self, id: &str, lines: usize) -> Result<String, RuntimeError> {
        let opts = LogsOptionsBuilder::default().stdout(true).stderr(true).tail(&lines.to_string()).build();
        let mut s = self.docker.logs(id, Some(opts));
        let mut out = String::new();
        while let Some(chunk) = s.next().await {
            out.push_str(&chunk.map_err(api(format!("logs of {id}")))?.to_string());
        }
        Ok(out)
    }

    /// Make the container of `spec` exist and run, with the same config hash. A container with
    /// another hash is replaced; one with the same hash is only started if it is stopped.
    pub async fn ensure_container(
        &self,
        spec: &ContainerSpec,
        map: &HostMapping,
        privileges: &Privileges,
        extra_labels: &BTreeMap<String, String>,
    ) -> Result<ContainerOutcome, RuntimeError> {
        if !self.image_present(&spec.image).await? {
            return Err(RuntimeError::MissingImage(spec.image.clone()));
        }
        let want_hash = spec.labels.get(LABEL_CONFIG_HASH).cloned().unwrap_or_default();
        let mut outcome = ContainerOutcome::Created;
        if let Some(existing) = self.find_by_name(&spec.name).await? {
            if existing.labels.get(LABEL_CONFIG_HASH) == Some(&want_hash) {
                if existing.state != "running" {
                    self.docker.start_container(&existing.id, None).await.map_err(api(format!("start container {}", spec.name)))?;
                }
                return Ok(ContainerOutcome::Kept);
            }
            self.remove(&existing.id).await?;
            outcome = ContainerOutcome::Recreated;
        }
        let body = create_body(spec, map, privileges, extra_labels);
        let opts = CreateContainerOptionsBuilder::default().name(&spec.name).build();
        let created = self.docker.create_container(Some(opts), body).await.map_err(api(format!("create container {}", spec.name)))?;
        if let Err(e) = self.docker.start_container(&created.id, None).await {
            let _ = self.remove(&created.id).await;
            return Err(api(format!("start container {}", spec.name))(e));
        }
        Ok(outcome)
    }
}

/// The Docker create request for a spec: namespaces, mounts, privileges, restart policy, log
/// rotation and labels. Pure, so the exact request is unit-tested.
pub fn create_body(spec: &ContainerSpec, map: &HostMapping, privileges: &Privileges, extra_labels: &BTreeMap<String, String>) -> ContainerCreateBody {
    let mounts = spec
        .mounts
        .iter()
        .map(|m| Mount {
            target: Some(m.target.clone()),
            source: Some(map.source(&m.source)),
            typ: Some(MountType::BIND),
            read_only: Some(m.read_only),
            bind_options: m.propagation.map(|p| MountBindOptions {
                propagation: Some(match p {
                    Propagation::Rshared => MountBindOptionsPropagationEnum::RSHARED,
                    Propagation::Rslave => MountBindOptionsPropagationEnum::RSLAVE,
                }),
                ..Default::default()
            }),
            ..Default::default()
        })
        .collect();
    let mut labels: HashMap<String, String> = spec.labels.iter().map(|(k, v)| (k.clone(), v.clone())).collect();
    labels.insert(LABEL_MANAGED.into(), "true".into());
    labels.extend(extra_labels.iter().map(|(k, v)| (k.clone(), v.clone())));
    let ns = |on: bool| on.then(|| "host".to_string());
    let mut host = HostConfig {
        pid_mode: ns(spec.host_namespaces),
        network_mode: ns(spec.host_namespaces),
        uts_mode: ns(spec.host_namespaces),
        cgroupns_mode: spec.host_namespaces.then_some(HostConfigCgroupnsModeEnum::HOST),
        mounts: Some(mounts),
        restart_policy: Some(RestartPolicy {
            name: Some(match spec.restart_policy.as_str() {
                "always" => RestartPolicyNameEnum::ALWAYS,
                "no" => RestartPolicyNameEnum::NO,
                _ => RestartPolicyNameEnum::UNLESS_STOPPED,
            }),
            maximum_retry_count: None,
        }),
        log_config: Some(HostConfigLogConfig {
            typ: Some("json-file".into()),
            config: Some(HashMap::from([("max-size".to_string(), spec.log_rotation.0.clone()), ("max-file".to_string(), spec.log_rotation.1.to_string())])),
        }),
        ..Default::default()
    };
    if spec.privileged {
        privileges.apply(&mut host);
    }
    ContainerCreateBody { image: Some(spec.image.clone()), cmd: Some(spec.args.clone()), labels: Some(labels), host_config: Some(host), ..Default::default() }
}

/// kubeup's own container id, if it runs in a Docker container: Docker bind-mounts
/// `/var/lib/docker/containers/<id>/{hostname,hosts,resolv.conf}` onto the container's own
/// `/etc` files. Only those mount points count: with `-v /:/host` the host's (or an outer
/// container's) files show up under `/host/etc/…` too.
pub fn own_container_id(mountinfo: &str) -> Option<String> {
    mountinfo.lines().find_map(|l| {
        let fields: Vec<&str> = l.split(' ').collect();
        if !matches!(fields.get(4).copied(), Some("/etc/hostname" | "/etc/hosts" | "/etc/resolv.conf")) {
            return None;
        }
        let root = fields.get(3)?;
        let i = root.find("/containers/")?;
        let id: String = root[i + 12..].chars().take_while(|c| c.is_ascii_hexdigit()).collect();
        (id.len() == 64).then_some(id)
    })
}

/// Where `root` (a path in kubeup's file system) is on the Docker host: through the bind mount
/// of our own container when kubeup runs in one, else `root` itself.
pub async fn host_mapping(rt: Option<&Runtime>, root: &Path, own_id: Option<&str>) -> Result<HostMapping, RuntimeError> {
    let (Some(rt), Some(id)) = (rt, own_id) else {
        return Ok(HostMapping { prefix: root.to_path_buf() });
    };
    let info = rt.docker.inspect_container(id, None).await.map_err(api(format!("inspect own container {id}")))?;
    let mut best: Option<(PathBuf, PathBuf)> = None;
    for m in info.mounts.unwrap_or_default() {
        let (Some(dst), Some(src)) = (m.destination, m.source) else { continue };
        let dst = PathBuf::from(dst);
        if root.starts_with(&dst) && best.as_ref().is_none_or(|(d, _)| dst.as_os_str().len() > d.as_os_str().len()) {
            best = Some((dst, PathBuf::from(src)));
        }
    }
    match best {
        Some((dst, src)) => Ok(HostMapping { prefix: src.join(root.strip_prefix(&dst).unwrap_or(Path::new(""))) }),
        None => Err(RuntimeError::Api {
            what: "find the host root".into(),
            reason: format!("{} is not bind-mounted from the host: run the installer with -v /:{}", root.display(), root.display()),
        }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::kubelet::container::BindMount;

    #[test]
    fn finds_own_container_id() {
        let id = "a".repeat(64);
        let outer = "b".repeat(64);
        let mi = format!(
            "590 580 8:1 /var/lib/docker/containers/{outer}/resolv.conf /host/etc/resolv.conf rw - ext4 /dev/sda1 rw\n\
             600 590 8:1 /volumes/x/_data/containers/{id}/resolv.conf /etc/resolv.conf rw - ext4 /dev/sda1 rw\n"
        );
        assert_eq!(own_container_id(&mi), Some(id));
        assert_eq!(own_container_id("22 1 8:1 / / rw - ext4 /dev/sda1 rw\n"), None);
    }

    #[test]
    fn create_body_maps_sources_and_sets_namespaces() {
        let spec = ContainerSpec {
            name: "kubeup-kubelet".into(),
            image: "img".into(),
            args: vec!["--v=2".into()],
            labels: BTreeMap::from([(LABEL_CONFIG_HASH.to_string(), "h".to_string())]),
            mounts: vec![BindMount {
                source: "/var/lib/kubelet".into(),
                target: "/var/lib/kubelet".into(),
                read_only: false,
                propagation: Some(Propagation::Rshared),
            }],
            host_namespaces: true,
            privileged: true,
            restart_policy: "unless-stopped".into(),
            log_rotation: ("50m".into(), 3),
        };
        let map = HostMapping { prefix: "/scratch/root".into() };
        let body =
            create_body(&spec, &map, &Privileges::Reduced { missing: vec!["SYS_RESOURCE".into()] }, &BTreeMap::from([("t".to_string(), "1".to_string())]));
        let h = body.host_config.unwrap();
        assert_eq!(h.pid_mode.as_deref(), Some("host"));
        assert_eq!(h.network_mode.as_deref(), Some("host"));
        assert_eq!(h.cgroupns_mode, Some(HostConfigCgroupnsModeEnum::HOST));
        let m = &h.mounts.unwrap()[0];
        assert_eq!(m.source.as_deref(), Some("/scratch/root/var/lib/kubelet"));
        assert_eq!(m.bind_options.as_ref().unwrap().propagation, Some(MountBindOptionsPropagationEnum::RSHARED));
        assert_eq!(h.cap_drop, Some(vec!["SYS_RESOURCE".to_string()]));
        assert_eq!(body.labels.unwrap()["t"], "1");
    }
}
