//! Part of a bundle: the images one store needs, as a plain `docker save` archive that both
//! `docker load` and containerd's `ctr images import` read.
//!
//! Why: a bundle holds every image of a cluster, but each image runs in one place. The kubelet
//! runs as a Docker container; pods run through the CRI runtime; a worker runs no control-plane
//! pod. Loading every image into both stores, on every node, was most of the time `init` and
//! `join` took (25 s of 33 s measured in the e2e).

use std::collections::HashSet;
use std::fs::File;
use std::io::{BufReader, Read};
use std::path::Path;

use flate2::read::GzDecoder;

use super::bundle::normalise_entry;
use super::RuntimeError;

fn bundle_err(path: &Path, reason: impl Into<String>) -> RuntimeError {
    RuntimeError::Bundle { path: path.display().to_string(), reason: reason.into() }
}

/// `registry/name:tag` as containerd and Docker both mean it: Docker Hub's implicit prefixes
/// (`docker.io/`, `library/`) are dropped, so `pause:3.2` and `docker.io/library/pause:3.2` are
/// one image.
pub fn canonical(reference: &str) -> String {
    let r = reference.strip_prefix("docker.io/").unwrap_or(reference);
    let r = r.strip_prefix("library/").unwrap_or(r);
    r.to_string()
}

/// The tags of `manifest` (a `docker save` manifest.json) that `keep` selects, and the archive
/// entries those images need (their configs, their layers, the layers' directories).
fn selection(manifest: &serde_json::Value, keep: &dyn Fn(&str) -> bool) -> (Vec<serde_json::Value>, Vec<String>, HashSet<String>) {
    let mut images = Vec::new();
    let mut tags = Vec::new();
    let mut needed = HashSet::new();
    for image in manifest.as_array().into_iter().flatten() {
        let kept: Vec<String> = image["RepoTags"].as_array().into_iter().flatten().filter_map(|t| t.as_str()).filter(|t| keep(t)).map(str::to_string).collect();
        if kept.is_empty() {
            continue;
        }
        for f in image["Layers"].as_array().into_iter().flatten().filter_map(|l| l.as_str()).chain(image["Config"].as_str()) {
            if let Some(n) = normalise_entry(f) {
                // A layer `ID/layer.tar` comes with `ID/VERSION` and `ID/json`: keep its directory.
                if let Some((dir, _)) = n.split_once('/') {
                    needed.insert(dir.to_string());
                }
                needed.insert(n);
            }
        }
        let mut entry = image.clone();
        entry["RepoTags"] = serde_json::json!(kept);
        tags.extend(kept);
        images.push(entry);
    }
    (images, tags, needed)
}

/// Write the images of the (already verified) bundle at `path` that `keep` selects, by tag, to
/// `dest` as a plain archive. Returns their tags; nothing is written when none is selected.
pub fn write_subset(path: &Path, manifest: &serde_json::Value, keep: &dyn Fn(&str) -> bool, dest: &Path) -> Result<Vec<String>, RuntimeError> {
    let (images, tags, needed) = selection(manifest, keep);
    if tags.is_empty() {
        return Ok(tags);
    }
    let file = File::open(path).map_err(|e| bundle_err(path, e.to_string()))?;
    let mut reader = BufReader::new(file);
    let gz = std::io::BufRead::fill_buf(&mut reader).map_err(|e| bundle_err(path, e.to_string()))?.starts_with(&[0x1f, 0x8b]);
    let input: Box<dyn Read> = if gz { Box::new(GzDecoder::new(reader)) } else { Box::new(reader) };
    let mut archive = tar::Archive::new(input);
    let out = File::create(dest).map_err(|e| bundle_err(path, format!("cannot write {}: {e}", dest.display())))?;
    let mut builder = tar::Builder::new(std::io::BufWriter::new(out));
    let io = |e: std::io::Error| bundle_err(path, format!("cannot be split ({e})"));
    for entry in archive.entries().map_err(io)? {
        let mut entry = entry.map_err(io)?;
        let raw = entry.path().map_err(io)?.to_string_lossy().into_owned();
        let Some(name) = normalise_entry(&raw) else { continue };
        let top = name.split('/').next().unwrap_or_default();
        if name == "manifest.json" || name == "repositories" || !(needed.contains(&name) || needed.contains(top)) {
            continue;
        }
        let mut header = entry.header().clone();
        builder.append_data(&mut header, &name, &mut entry).map_err(io)?;
    }
    let manifest = serde_json::to_vec(&images).map_err(|e| bundle_err(path, e.to_string()))?;
    let mut header = tar::Header::new_gnu();
    header.set_size(manifest.len() as u64);
    header.set_mode(0o644);
    header.set_cksum();
    builder.append_data(&mut header, "manifest.json", manifest.as_slice()).map_err(io)?;
    let out = builder.into_inner().map_err(io)?;
    let file = out.into_inner().map_err(|e| bundle_err(path, e.to_string()))?;
    file.sync_all().map_err(io)?;
    Ok(tags)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn archive(entries: &[(&str, &[u8])]) -> tempfile::NamedTempFile {
        let f = tempfile::NamedTempFile::new().unwrap();
        let mut b = tar::Builder::new(File::create(f.path()).unwrap());
        for (name, data) in entries {
            let mut h = tar::Header::new_gnu();
            h.set_size(data.len() as u64);
            h.set_mode(0o644);
            h.set_cksum();
            b.append_data(&mut h, name, *data).unwrap();
        }
        b.finish().unwrap();
        f
    }

    fn names(path: &Path) -> Vec<String> {
        let mut a = tar::Archive::new(File::open(path).unwrap());
        a.entries().unwrap().map(|e| e.unwrap().path().unwrap().to_string_lossy().into_owned()).collect()
    }

    #[test]
    fn only_the_selected_images_and_their_layers_are_written() {
        let manifest = serde_json::json!([
            { "Config": "c1.json", "RepoTags": ["registry.k8s.io/kube-apiserver:v1.20.2"], "Layers": ["shared/layer.tar", "a/layer.tar"] },
            { "Config": "c2.json", "RepoTags": ["kubeup/kubelet:v1"], "Layers": ["shared/layer.tar", "k/layer.tar"] },
        ]);
        let src = archive(&[
            ("shared/layer.tar", b"s"),
            ("shared/VERSION", b"1.0"),
            ("a/layer.tar", b"a"),
            ("k/layer.tar", b"k"),
            ("k/json", b"{}"),
            ("c1.json", b"{}"),
            ("c2.json", b"{}"),
            ("repositories", b"{}"),
            ("manifest.json", manifest.to_string().as_bytes()),
        ]);
        let dest = tempfile::NamedTempFile::new().unwrap();
        let tags = write_subset(src.path(), &manifest, &|t| t.starts_with("kubeup/"), dest.path()).unwrap();
        assert_eq!(tags, vec!["kubeup/kubelet:v1"]);
        assert_eq!(names(dest.path()), vec!["shared/layer.tar", "shared/VERSION", "k/layer.tar", "k/json", "c2.json", "manifest.json"]);
        let mut a = tar::Archive::new(File::open(dest.path()).unwrap());
        let mut m = String::new();
        for e in a.entries().unwrap() {
            let mut e = e.unwrap();
            if e.path().unwrap().to_str() == Some("manifest.json") {
                e.read_to_string(&mut m).unwrap();
            }
        }
        let m: serde_json::Value = serde_json::from_str(&m).unwrap();
        assert_eq!(m.as_array().unwrap().len(), 1);
        assert_eq!(m[0]["Config"], "c2.json");
    }

    #[test]
    fn nothing_is_written_when_nothing_is_selected() {
        let manifest = serde_json::json!([{ "Config": "c.json", "RepoTags": ["a:1"], "Layers": [] }]);
        let src = archive(&[("c.json", b"{}"), ("manifest.json", manifest.to_string().as_bytes())]);
        let dir = tempfile::tempdir().unwrap();
        let dest = dir.path().join("out.tar");
        assert!(write_subset(src.path(), &manifest, &|_| false, &dest).unwrap().is_empty());
        assert!(!dest.exists());
    }

    #[test]
    fn docker_hub_names_are_one_image_with_or_without_their_prefixes() {
        assert_eq!(canonical("docker.io/library/pause:3.2"), "pause:3.2");
        assert_eq!(canonical("docker.io/kubeup/kubelet:v1"), "kubeup/kubelet:v1");
        assert_eq!(canonical("registry.k8s.io/pause:3.2"), "registry.k8s.io/pause:3.2");
    }
}
