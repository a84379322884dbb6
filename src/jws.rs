//! The detached JWS that signs `kube-public/cluster-info` for each bootstrap token
//! (`jws-kubeconfig-<token-id>`), byte-for-byte as Kubernetes computes it
//! (`k8s.io/cluster-bootstrap/token/jws`, go-jose): header `{"alg":"HS256","kid":"<id>"}`,
//! HMAC-SHA256 keyed with the token secret over `b64(header).b64(payload)`, payload removed.
//!
//! Pure. kubeup signs cluster-info itself at once (the signature is deterministic), instead of
//! waiting up to ~15 s for the controller-manager's bootstrapsigner.

use base64::engine::general_purpose::URL_SAFE_NO_PAD as B64URL;
use base64::Engine as _;
use hmac::{Hmac, Mac};
use sha2::Sha256;

/// `<b64 header>..<b64 signature>` for `content`.
pub fn detached_signature(content: &str, token_id: &str, token_secret: &str) -> String {
    let header = serde_json::json!({ "alg": "HS256", "kid": token_id }).to_string();
    let signing_input = format!("{}.{}", B64URL.encode(header.as_bytes()), B64URL.encode(content.as_bytes()));
    // HMAC accepts keys of any length; the expect cannot fire.
    let mut mac = <Hmac<Sha256> as Mac>::new_from_slice(token_secret.as_bytes()).expect("HMAC takes keys of any length");
    mac.update(signing_input.as_bytes());
    format!("{}..{}", B64URL.encode(header.as_bytes()), B64URL.encode(mac.finalize().into_bytes()))
}

/// Whether `signature` is the detached JWS of `content` for this token (constant-time compare).
pub fn verify(content: &str, signature: &str, token_id: &str, token_secret: &str) -> bool {
    let expected = detached_signature(content, token_id, token_secret);
    expected.len() == signature.len() && expected.bytes().zip(signature.bytes()).fold(0u8, |acc, (a, b)| acc | (a ^ b)) == 0
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Kubernetes' own vectors (`cluster-bootstrap/token/jws/jws_test.go`).
    #[test]
    fn kubernetes_test_vectors() {
        assert_eq!(
            detached_signature("Hello from the other side. I must have called a thousand times.", "joshua", "my voice is my passcode"),
            "eyJhbGciOiJIUzI1NiIsImtpZCI6Impvc2h1YSJ9..VShe2taLd-YTrmWuRkcL_8QTNDHYxQIEBsAYYiIj1_8"
        );
        assert!(detached_signature("", "joshua", "my voice is my passcode").ends_with("..7Ui1ALizW4jXphVUB7xUqC9vLYLL9RZeOFfVLoB7Tgk"));
        let sig = detached_signature("content", "abcdef", "0123456789abcdef");
        assert!(verify("content", &sig, "abcdef", "0123456789abcdef"));
        assert!(!verify("content!", &sig, "abcdef", "0123456789abcdef"));
        assert!(!verify("content", &sig, "abcdef", "0123456789abcdeX"));
    }
}
