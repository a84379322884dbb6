//! Bootstrap tokens: the `[a-z0-9]{6}.[a-z0-9]{16}` credential new nodes join with.
//!
//! Pure. The format is Kubernetes' (`k8s.io/cluster-bootstrap/token/api`): token id of 6 and
//! secret of 16 characters from `[a-z0-9]`; the id is public, the secret is not.

use std::fmt;
use std::str::FromStr;

/// A bootstrap token `<id>.<secret>`.
#[derive(Clone, PartialEq, Eq)]
pub struct BootstrapToken {
    id: String,
    secret: String,
}

/// Why a token string was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("malformed bootstrap token: expected the format [a-z0-9]{{6}}.[a-z0-9]{{16}} (e.g. abcdef.0123456789abcdef)")]
pub struct TokenFormatError;

const ALPHABET: &[u8] = b"abcdefghijklmnopqrstuvwxyz0123456789";

impl BootstrapToken {
    /// The public token id (6 characters); names the Secret `bootstrap-token-<id>`.
    pub fn id(&self) -> &str {
        &self.id
    }

    /// The secret half (16 characters).
    pub fn secret(&self) -> &str {
        &self.secret
    }

    /// A fresh random token from the OS's random source.
    pub fn generate() -> Result<Self, getrandom::Error> {
        let mut raw = [0u8; 22];
        let mut out = String::with_capacity(22);
        // Rejection sampling keeps every character equally likely (256 is not a multiple of 36).
        while out.len() < 22 {
            getrandom::fill(&mut raw)?;
            for b in raw {
                if b < 252 && out.len() < 22 {
                    out.push(ALPHABET[(b % 36) as usize] as char);
                }
            }
        }
        Ok(BootstrapToken { id: out[..6].to_string(), secret: out[6..].to_string() })
    }
}

impl FromStr for BootstrapToken {
    type Err = TokenFormatError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let (id, secret) = s.split_once('.').ok_or(TokenFormatError)?;
        let ok = |p: &str, len: usize| p.len() == len && p.bytes().all(|b| ALPHABET.contains(&b));
        if !ok(id, 6) || !ok(secret, 16) {
            return Err(TokenFormatError);
        }
        Ok(BootstrapToken { id: id.to_string(), secret: secret.to_string() })
    }
}

impl fmt::Display for BootstrapToken {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}.{}", self.id, self.secret)
    }
}

/// Debug never shows the secret, so a token cannot leak into logs by accident.
impl fmt::Debug for BootstrapToken {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "BootstrapToken({}.<redacted>)", self.id)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accepts_kubernetes_format_only() {
        let t: BootstrapToken = "abcdef.0123456789abcdef".parse().unwrap();
        assert_eq!(t.id(), "abcdef");
        assert_eq!(t.secret(), "0123456789abcdef");
        assert_eq!(format!("{t:?}"), "BootstrapToken(abcdef.<redacted>)");
        for bad in [
            "",
            "abcdef",
            "abcdef.0123456789abcde",
            "ABCDEF.0123456789abcdef",
            "abcde.0123456789abcdefg",
            "abcdef:0123456789abcdef",
            "abcdef.0123456789abcdef.x",
        ] {
            assert!(bad.parse::<BootstrapToken>().is_err(), "{bad}");
        }
    }

    #[test]
    fn generated_tokens_parse_and_differ() {
        let a = BootstrapToken::generate().unwrap();
        let b = BootstrapToken::generate().unwrap();
        assert_eq!(a.to_string().parse::<BootstrapToken>().unwrap(), a);
        assert_ne!(a, b);
    }
}
