//! Air-gapped image bundles: a gzipped `docker save` archive of every image a node needs.
//!
//! Loading first reads the whole bundle and checks it (gzip stream intact, tar intact, a
//! `manifest.json` whose layers are all present), so a truncated or corrupt bundle is refused
//! before Docker sees a byte — it never half-loads.

use std::collections::HashSet;
use std::fs::File;
use std::io::{BufReader, Read, Write};
use std::path::Path;

use bollard::query_parameters::ImportImageOptionsBuilder;
use flate2::read::GzDecoder;
use flate2::write::GzEncoder;
use futures_util::StreamExt;

use super::{api, Runtime, RuntimeError};

fn bundle_err(path: &Path, reason: impl Into<String>) -> RuntimeError {
    RuntimeError::Bundle { path: path.display().to_string(), reason: reason.into() }
}

/// Save `images` into a gzipped bundle at `path`. `progress` gets the bytes written so far.
pub async fn save(rt: &Runtime, images: &[String], path: &Path, mut progress: impl FnMut(u64)) -> Result<u64, RuntimeError> {
    for image in images {
        if !rt.image_present(image).await? {
            return Err(RuntimeError::MissingImage(image.clone()));
        }
    }
    let tmp = path.with_extension("partial");
    let file = File::create(&tmp).map_err(|e| bundle_err(path, e.to_string()))?;
    let mut gz = GzEncoder::new(file, flate2::Compression::fast());
    let written = export_into(rt, images, path, &mut gz, &mut progress).await?;
    let file = gz.finish().map_err(|e| bundle_err(path, e.to_string()))?;
    file.sync_all().map_err(|e| bundle_err(path, e.to_string()))?;
    std::fs::rename(&tmp, path).map_err(|e| bundle_err(path, e.to_string()))?;
    Ok(written)
}

/// Save `images` as a plain (uncompressed) `docker save` archive, as `ctr images import` reads it.
pub async fn save_tar(rt: &Runtime, images: &[String], path: &Path) -> Result<u64, RuntimeError> {
    let mut file = File::create(path).map_err(|e| bundle_err(path, e.to_string()))?;
    export_into(rt, images, path, &mut file, &mut |_| {}).await
}

/// Stream Docker's `docker save` archive of `images` into `out`; returns the bytes written.
async fn export_into(rt: &Runtime, images: &[String], path: &Path, out: &mut impl Write, progress: &mut impl FnMut(u64)) -> Result<u64, RuntimeError> {
    let names: Vec<&str> = images.iter().map(String::as_str).collect();
    let mut stream = rt.client().export_images(&names);
    let mut written = 0u64;
    while let Some(chunk) = stream.next().await {
        let chunk = chunk.map_err(api("save images"))?;
        out.write_all(&chunk).map_err(|e| bundle_err(path, e.to_string()))?;
        written += chunk.len() as u64;
        progress(written);
    }
    Ok(written)
}

/// Limits of a bundle kubeup checks before anything is loaded: a hostile or broken file cannot
/// make kubeup read without end or hold an unbounded `manifest.json` in memory.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BundleLimits {
    /// Largest `manifest.json`.
    pub manifest_bytes: u64,
    /// Largest decompressed size of the whole archive.
    pub total_bytes: u64,
    /// Most entries in the archive.
    pub entries: usize,
}

impl Default for BundleLimits {
    fn default() -> Self {
        // A bundle of every image of a release is about 2 GiB decompressed.
        BundleLimits { manifest_bytes: 1024 * 1024, total_bytes: 32 * 1024 * 1024 * 1024, entries: 100_000 }
    }
}

/// A reader that hashes and counts what passes through it.
struct Hashing<R> {
    inner: R,
    hash: sha2::Sha256,
}

impl<R: Read> Read for Hashing<R> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let n = self.inner.read(buf)?;
        sha2::Digest::update(&mut self.hash, &buf[..n]);
        Ok(n)
    }
}

/// A reader that fails once more than `left` bytes were read.
struct Capped<R> {
    inner: R,
    left: u64,
}

impl<R: Read> Read for Capped<R> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let n = self.inner.read(buf)?;
        if n as u64 > self.left {
            return Err(std::io::Error::other("the decompressed archive exceeds the size limit"));
        }
        self.left -= n as u64;
        Ok(n)
    }
}

/// An archive entry's name as Docker reads it: `./a/b` and `a//b` are `a/b`. Absolute names and
/// `..` are refused (they would name the same entry two ways, or none).
pub fn normalise_entry(name: &str) -> Option<String> {
    if name.starts_with('/') {
        return None;
    }
    let mut parts = Vec::new();
    for c in name.split('/') {
        match c {
            "" | "." => {}
            ".." => return None,
            c => parts.push(c),
        }
    }
    (!parts.is_empty()).then(|| parts.join("/"))
}

/// Check a bundle completely without loading it; returns the image tags it holds.
pub fn verify(path: &Path) -> Result<Vec<String>, RuntimeError> {
    verify_with(path, None, BundleLimits::default())
}

/// [`verify`], also requiring the file's sha256 (`--image-bundle-sha256`), within `limits`.
pub fn verify_with(path: &Path, sha256: Option<&str>, limits: BundleLimits) -> Result<Vec<String>, RuntimeError> {
    verify_manifest(path, sha256, limits).map(|(tags, _)| tags)
}

/// [`verify_with`], also returning the bundle's manifest.json (to split it by store).
pub fn verify_manifest(path: &Path, sha256: Option<&str>, limits: BundleLimits) -> Result<(Vec<String>, serde_json::Value), RuntimeError> {
    let file = File::open(path).map_err(|e| bundle_err(path, format!("cannot be opened: {e}")))?;
    let mut reader = BufReader::new(Hashing { inner: file, hash: <sha2::Sha256 as sha2::Digest>::new() });
    let gz = std::io::BufRead::fill_buf(&mut reader).map_err(|e| bundle_err(path, e.to_string()))?.starts_with(&[0x1f, 0x8b]);
    let input: Box<dyn Read> = if gz { Box::new(GzDecoder::new(&mut reader)) } else { Box::new(&mut reader) };
    let mut archive = tar::Archive::new(Capped { inner: input, left: limits.total_bytes });
    let mut files = HashSet::new();
    let mut manifest = None;
    let corrupt = |e: std::io::Error| bundle_err(path, format!("is truncated, corrupt or too large ({e}); nothing was loaded"));
    for entry in archive.entries().map_err(corrupt)? {
        let mut entry = entry.map_err(corrupt)?;
        let raw = entry.path().map_err(corrupt)?.to_string_lossy().into_owned();
        let name = normalise_entry(&raw)
            .ok_or_else(|| bundle_err(path, format!("has an entry named {raw:?}, which no `docker save` archive has; nothing was loaded")))?;
        if files.len() >= limits.entries {
            return Err(bundle_err(path, format!("has more than {} entries; nothing was loaded", limits.entries)));
        }
        if name == "manifest.json" {
            if manifest.is_some() {
                return Err(bundle_err(path, "has two manifest.json entries; nothing was loaded"));
            }
            if entry.size() > limits.manifest_bytes {
                return Err(bundle_err(path, format!("has a manifest.json of {} bytes (at most {}); nothing was loaded", entry.size(), limits.manifest_bytes)));
            }
            let mut data = Vec::new();
            (&mut entry).take(limits.manifest_bytes + 1).read_to_end(&mut data).map_err(corrupt)?;
            manifest = Some(data);
        } else {
            std::io::copy(&mut entry, &mut std::io::sink()).map_err(corrupt)?;
        }
        files.insert(name);
    }
    drop(archive);
    // Whatever follows the archive (gzip trailer, padding) is part of the file's hash.
    std::io::copy(&mut reader, &mut std::io::sink()).map_err(corrupt)?;
    if let Some(want) = sha256 {
        let got = crate::digest::hex(&sha2::Digest::finalize(reader.into_inner().hash));
        if !got.eq_ignore_ascii_case(want.trim().trim_start_matches("sha256:")) {
            return Err(bundle_err(path, format!("has sha256 {got}, not the {want} given with --image-bundle-sha256; nothing was loaded")));
        }
    }
    let manifest = manifest.ok_or_else(|| bundle_err(path, "has no manifest.json: it is not a `docker save` archive; nothing was loaded"))?;
    let manifest: serde_json::Value =
        serde_json::from_slice(&manifest).map_err(|e| bundle_err(path, format!("manifest.json is invalid ({e}); nothing was loaded")))?;
    let mut tags = Vec::new();
    for image in manifest.as_array().into_iter().flatten() {
        for layer in image["Layers"].as_array().into_iter().flatten().filter_map(|l| l.as_str()).chain(image["Config"].as_str()) {
            let known = normalise_entry(layer).is_some_and(|l| files.contains(&l));
            if !known {
                return Err(bundle_err(path, format!("lacks {layer} named by manifest.json; nothing was loaded")));
            }
        }
        tags.extend(image["RepoTags"].as_array().into_iter().flatten().filter_map(|t| t.as_str().map(str::to_string)));
    }
    Ok((tags, manifest))
}

/// Verify, then load a bundle into Docker. `progress` gets Docker's status lines.
pub async fn load(rt: &Runtime, path: &Path, progress: impl FnMut(&str)) -> Result<Vec<String>, RuntimeError> {
    let tags = verify(path)?;
    load_verified(rt, path, progress).await?;
    Ok(tags)
}

/// Load a bundle [`verify`] has already checked.
pub async fn load_verified(rt: &Runtime, path: &Path, mut progress: impl FnMut(&str)) -> Result<(), RuntimeError> {
    let file = tokio::fs::File::open(path).await.map_err(|e| bundle_err(path, e.to_string()))?;
    let body = tokio_util_stream(file);
    let mut stream = rt.client().import_image_stream(ImportImageOptionsBuilder::default().quiet(false).build(), body, None);
    while let Some(msg) = stream.next().await {
        let info = msg.map_err(api(format!("load {}", path.display())))?;
        if let Some(e) = info.error_detail.and_then(|d| d.message) {
            return Err(bundle_err(path, format!("Docker refused it: {e}")));
        }
        if let Some(s) = info.stream.or(info.status) {
            progress(s.trim());
        }
    }
    Ok(())
}

/// A file as a stream of 64 KiB chunks.
fn tokio_util_stream(file: tokio::fs::File) -> impl futures_util::Stream<Item = Result<bytes::Bytes, std::io::Error>> + Send + 'static {
    futures_util::stream::unfold(file, |mut f| async move {
        use tokio::io::AsyncReadExt;
        let mut buf = vec![0u8; 64 * 1024];
        match f.read(&mut buf).await {
            Ok(0) => None,
            Ok(n) => {
                buf.truncate(n);
                Some((Ok(bytes::Bytes::from(buf)), f))
            }
            Err(e) => Some((Err(e), f)),
        }
    })
}

/// Write the bundle, decompressed, to `dest` (a plain `docker save` tar that containerd's
/// `ctr images import` reads).
pub fn decompress_to(path: &Path, dest: &Path) -> Result<(), RuntimeError> {
    let file = File::open(path).map_err(|e| bundle_err(path, e.to_string()))?;
    let mut reader = BufReader::new(file);
    let gz = std::io::BufRead::fill_buf(&mut reader).map_err(|e| bundle_err(path, e.to_string()))?.starts_with(&[0x1f, 0x8b]);
    let mut input: Box<dyn Read> = if gz { Box::new(GzDecoder::new(reader)) } else { Box::new(reader) };
    let mut out = File::create(dest).map_err(|e| bundle_err(path, format!("cannot write {}: {e}", dest.display())))?;
    std::io::copy(&mut input, &mut out).map_err(|e| bundle_err(path, e.to_string()))?;
    out.sync_all().map_err(|e| bundle_err(path, e.to_string()))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn archive(entries: &[(&str, &[u8])]) -> tempfile::NamedTempFile {
        let f = tempfile::NamedTempFile::new().unwrap();
        let mut b = tar::Builder::new(GzEncoder::new(f.reopen().unwrap(), flate2::Compression::fast()));
        for (name, data) in entries {
            let mut h = tar::Header::new_gnu();
            h.set_size(data.len() as u64);
            h.set_mode(0o644);
            // Raw names (set_path would normalise them itself).
            h.as_old_mut().name[..name.len()].copy_from_slice(name.as_bytes());
            h.set_cksum();
            b.append(&h, *data).unwrap();
        }
        b.into_inner().unwrap().finish().unwrap();
        f
    }

    const MANIFEST: &[u8] = br#"[{"Config":"c.json","RepoTags":["x:1"],"Layers":["l/layer.tar"]}]"#;

    #[test]
    fn entry_names_are_normalised_before_they_are_checked() {
        assert_eq!(normalise_entry("./manifest.json").as_deref(), Some("manifest.json"));
        assert_eq!(normalise_entry("l//./layer.tar").as_deref(), Some("l/layer.tar"));
        assert_eq!(normalise_entry("../x"), None);
        assert_eq!(normalise_entry("/etc/passwd"), None);
        let f = archive(&[("./manifest.json", MANIFEST), ("./c.json", b"{}"), ("./l/layer.tar", b"")]);
        assert_eq!(verify(f.path()).unwrap(), vec!["x:1".to_string()]);
        // Two spellings of manifest.json: which one would Docker read? Refused.
        let f = archive(&[("manifest.json", MANIFEST), ("./manifest.json", b"[]"), ("c.json", b"{}"), ("l/layer.tar", b"")]);
        assert!(verify(f.path()).unwrap_err().to_string().contains("two manifest.json"));
        let f = archive(&[("../manifest.json", MANIFEST)]);
        assert!(verify(f.path()).unwrap_err().to_string().contains("which no `docker save` archive has"));
    }

    #[test]
    fn limits_and_the_expected_hash_are_enforced() {
        let f = archive(&[("manifest.json", MANIFEST), ("c.json", b"{}"), ("l/layer.tar", &[0u8; 4096])]);
        let tight = BundleLimits { manifest_bytes: 10, ..Default::default() };
        assert!(verify_with(f.path(), None, tight).unwrap_err().to_string().contains("manifest.json of"));
        let small = BundleLimits { total_bytes: 2048, ..Default::default() };
        assert!(verify_with(f.path(), None, small).unwrap_err().to_string().contains("too large"));
        let few = BundleLimits { entries: 2, ..Default::default() };
        assert!(verify_with(f.path(), None, few).unwrap_err().to_string().contains("more than 2 entries"));
        let real = crate::digest::hex(&<sha2::Sha256 as sha2::Digest>::digest(std::fs::read(f.path()).unwrap()));
        assert!(verify_with(f.path(), Some(&real), BundleLimits::default()).is_ok());
        assert!(verify_with(f.path(), Some(&format!("sha256:{real}")), BundleLimits::default()).is_ok());
        let e = verify_with(f.path(), Some(&"0".repeat(64)), BundleLimits::default()).unwrap_err().to_string();
        assert!(e.contains(&real) && e.contains("--image-bundle-sha256"), "{e}");
    }
}
