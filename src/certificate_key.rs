//! The certificate key of `--upload-certs`: 32 random bytes, written as 64 hex characters, that
//! encrypt the shared CAs and service-account keys in `kube-system/kubeadm-certs` (kubeadm's
//! format; `pki::upload` does the encryption).
//!
//! Pure apart from OS randomness; a leaf, so the configuration can validate a key without
//! depending on the PKI.

/// A malformed certificate key.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error(
    "malformed certificate key: expected 64 hexadecimal characters (32 bytes), as printed by `kubeup certs certificate-key` or `kubeup init --upload-certs`"
)]
pub struct MalformedKey;

/// A fresh key, hex-encoded.
pub fn generate() -> Result<String, getrandom::Error> {
    let mut k = [0u8; 32];
    getrandom::fill(&mut k)?;
    Ok(crate::digest::hex(&k))
}

/// Parse a hex key.
pub fn parse(hex: &str) -> Result<[u8; 32], MalformedKey> {
    let hex = hex.trim();
    if hex.len() != 64 || !hex.bytes().all(|b| b.is_ascii_hexdigit()) {
        return Err(MalformedKey);
    }
    let mut out = [0u8; 32];
    for (i, byte) in out.iter_mut().enumerate() {
        *byte = u8::from_str_radix(&hex[2 * i..2 * i + 2], 16).map_err(|_| MalformedKey)?;
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    #[test]
    fn keys_are_64_hex_characters() {
        let k = super::generate().unwrap();
        assert_eq!(super::parse(&k).unwrap().len(), 32);
        assert_ne!(super::generate().unwrap(), k);
        for bad in ["", "abc", &"g".repeat(64), &"a".repeat(63)] {
            assert!(super::parse(bad).is_err(), "{bad}");
        }
    }
}
