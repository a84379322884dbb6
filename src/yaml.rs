//! YAML output in the style Kubernetes tools write: plain scalars (no folded blocks for long
//! base64 strings), two-space indent.

use serde::Serialize;

/// Serialize to YAML.
pub fn to_string<T: Serialize>(v: &T) -> Result<String, String> {
    let mut o = serde_saphyr::SerializerOptions::default();
    o.prefer_block_scalars = false;
    serde_saphyr::to_string_with_options(v, o).map_err(|e| e.to_string())
}
