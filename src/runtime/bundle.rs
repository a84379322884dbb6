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

/// Check a bundle completely without loading it; returns the image tags it holds.
pub fn verify(path: &Path) -> Result<Vec<String>, RuntimeError> {
    let file = File::open(path).map_err(|e| bundle_err(path, format!("cannot be opened: {e}")))?;
    let mut reader = BufReader::new(file);
    let gz = std::io::BufRead::fill_buf(&mut reader).map_err(|e| bundle_err(path, e.to_string()))?.starts_with(&[0x1f, 0x8b]);
    let input: Box<dyn Read> = if gz { Box::new(GzDecoder::new(reader)) } else { Box::new(reader) };
    let mut archive = tar::Archive::new(input);
    let mut files = HashSet::new();
    let mut manifest = None;
    let corrupt = |e: std::io::Error| bundle_err(path, format!("is truncated or corrupt ({e}); nothing was loaded"));
    for entry in archive.entries().map_err(corrupt)? {
        let mut entry = entry.map_err(corrupt)?;
        let name = entry.path().map_err(corrupt)?.to_string_lossy().into_owned();
        let mut data = Vec::new();
        if name == "manifest.json" {
            entry.read_to_end(&mut data).map_err(corrupt)?;
            manifest = Some(data);
        } else {
            std::io::copy(&mut entry, &mut std::io::sink()).map_err(corrupt)?;
        }
        files.insert(name);
    }
    let manifest = manifest.ok_or_else(|| bundle_err(path, "has no manifest.json: it is not a `docker save` archive; nothing was loaded"))?;
    let manifest: serde_json::Value =
        serde_json::from_slice(&manifest).map_err(|e| bundle_err(path, format!("manifest.json is invalid ({e}); nothing was loaded")))?;
    let mut tags = Vec::new();
    for image in manifest.as_array().into_iter().flatten() {
        for layer in image["Layers"].as_array().into_iter().flatten().filter_map(|l| l.as_str()).chain(image["Config"].as_str()) {
            if !files.contains(layer) {
                return Err(bundle_err(path, format!("lacks {layer} named by manifest.json; nothing was loaded")));
            }
        }
        tags.extend(image["RepoTags"].as_array().into_iter().flatten().filter_map(|t| t.as_str().map(str::to_string)));
    }
    Ok(tags)
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
