//! `kubeup images list|save|load`: the images a configuration needs, and air-gapped bundles.

use std::path::PathBuf;

use super::CommandError;
use crate::config::{self, HostDefaults, Settings};
use crate::output::{say, Output};

/// Which images: the configuration that decides the set.
#[derive(Debug, Clone, Default)]
pub struct ImageSet {
    /// `--config`.
    pub config_file: Option<PathBuf>,
    /// The flags as a configuration layer.
    pub settings: Settings,
}

fn resolve(set: &ImageSet) -> Result<config::Config, CommandError> {
    let file = set.config_file.as_deref().map(config::load_file).transpose()?;
    // The node's identity does not change the image set.
    let host = HostDefaults { hostname: Some("node".into()), address: Some(std::net::Ipv4Addr::LOCALHOST.into()), ..Default::default() };
    Ok(config::resolve(file, &set.settings, &host)?)
}

/// `kubeup images list`.
pub fn list(set: &ImageSet, output: Output) -> Result<(), CommandError> {
    let list = crate::images::required(&resolve(set)?);
    match output {
        Output::Json => say(&format!("{:#}\n", serde_json::json!({ "images": list }))),
        Output::Text => say(&format!("{}\n", list.join("\n"))),
    }
    Ok(())
}

/// `kubeup images save`: these images (or the set's) from Docker into a gzipped bundle.
pub async fn save(set: &ImageSet, images: Vec<String>, file: &std::path::Path, docker_socket: &std::path::Path) -> Result<(), CommandError> {
    let list = if images.is_empty() { crate::images::required(&resolve(set)?) } else { images };
    let mut next = 0u64;
    let n = crate::apply::images::save_bundle(docker_socket, &list, file, |n| {
        if n >= next {
            eprintln!("[images] saved {} MiB", n / (1024 * 1024));
            next = n + 64 * 1024 * 1024;
        }
    })
    .await?;
    say(&format!("[images] saved {} images ({} MiB uncompressed) to {}\n", list.len(), n / (1024 * 1024), file.display()));
    Ok(())
}

/// `kubeup images load`: check a bundle completely, then load it into Docker.
pub async fn load(file: &std::path::Path, sha256: Option<&str>, docker_socket: &std::path::Path) -> Result<(), CommandError> {
    let tags = crate::apply::images::load_into_docker(docker_socket, file, sha256, |line| eprintln!("[images] {line}")).await?;
    say(&format!("[images] loaded {} images from {}: {}\n", tags.len(), file.display(), tags.join(", ")));
    Ok(())
}
