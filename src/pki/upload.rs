//! The shared control-plane material a joining control-plane node needs (the CAs and the
//! service-account key pair), encrypted exactly as kubeadm's `copycerts` does, so that
//! `kubeadm join --control-plane` and kubeup read each other's `kube-system/kubeadm-certs`:
//! each value is a 12-byte random nonce followed by AES-256-GCM(ciphertext ‖ tag) of the PEM
//! file, no associated data; the key is 32 random bytes, written as 64 hex characters.
//!
//! Pure apart from OS randomness.

use aes_gcm::aead::{Aead, KeyInit};
use aes_gcm::{Aes256Gcm, Nonce};

/// The Secret's data keys and the files they hold (relative to the certificate directory), in
/// kubeadm's names.
pub const SHARED_FILES: [(&str, &str, u32); 8] = [
    ("ca.crt", "ca.crt", 0o644),
    ("ca.key", "ca.key", 0o600),
    ("front-proxy-ca.crt", "front-proxy-ca.crt", 0o644),
    ("front-proxy-ca.key", "front-proxy-ca.key", 0o600),
    ("sa.pub", "sa.pub", 0o644),
    ("sa.key", "sa.key", 0o600),
    ("etcd-ca.crt", "etcd/ca.crt", 0o644),
    ("etcd-ca.key", "etcd/ca.key", 0o600),
];

/// Data that does not decrypt with the certificate key.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CertKeyError {
    /// Decryption failed (wrong key, or tampered data).
    #[error("{0} does not decrypt with this certificate key: the key is wrong, or the uploaded certificates were replaced; upload them again with `kubeup init phase upload-certs --upload-certs`")]
    Decrypt(String),
    /// Too short to hold a nonce.
    #[error("{0} is too short to be encrypted data")]
    Short(String),
}

/// nonce ‖ AES-256-GCM(plaintext), with a random nonce.
pub fn encrypt(key: &[u8; 32], plaintext: &[u8]) -> Result<Vec<u8>, String> {
    let mut nonce = [0u8; 12];
    getrandom::fill(&mut nonce).map_err(|e| e.to_string())?;
    let cipher = Aes256Gcm::new_from_slice(key).map_err(|e| e.to_string())?;
    let sealed = cipher.encrypt(Nonce::from_slice(&nonce), plaintext).map_err(|e| e.to_string())?;
    let mut out = nonce.to_vec();
    out.extend_from_slice(&sealed);
    Ok(out)
}

/// The inverse of [`encrypt`]; `what` names the value in errors.
pub fn decrypt(key: &[u8; 32], data: &[u8], what: &str) -> Result<Vec<u8>, CertKeyError> {
    if data.len() < 12 + 16 {
        return Err(CertKeyError::Short(what.into()));
    }
    let cipher = Aes256Gcm::new(key.into());
    cipher.decrypt(Nonce::from_slice(&data[..12]), &data[12..]).map_err(|_| CertKeyError::Decrypt(what.into()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip_and_tamper() {
        let key = crate::certificate_key::parse(&crate::certificate_key::generate().unwrap()).unwrap();
        let sealed = encrypt(&key, b"-----BEGIN CERTIFICATE-----").unwrap();
        assert_eq!(sealed.len(), 12 + 27 + 16);
        assert_eq!(decrypt(&key, &sealed, "ca.crt").unwrap(), b"-----BEGIN CERTIFICATE-----");
        let mut bad = sealed.clone();
        bad[20] ^= 1;
        assert!(matches!(decrypt(&key, &bad, "ca.crt"), Err(CertKeyError::Decrypt(_))));
        let other = crate::certificate_key::parse(&crate::certificate_key::generate().unwrap()).unwrap();
        assert!(decrypt(&other, &sealed, "ca.crt").is_err());
    }

    #[test]
    fn keys_are_64_hex_characters() {
        assert!(crate::certificate_key::parse(&"ab".repeat(32)).is_ok());
        for bad in ["", "ab", &"zz".repeat(32), &"ab".repeat(33)] {
            assert_eq!(crate::certificate_key::parse(bad), Err(crate::certificate_key::MalformedKey));
        }
    }
}
