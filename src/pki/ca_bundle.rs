//! A CA bundle received from elsewhere (cluster-info, a discovery file), parsed ONCE.
//!
//! Why one parse: a pin is only worth something if the certificates it was checked against are
//! exactly the certificates later trusted. Two PEM readers that disagree (one takes a BEGIN line
//! anywhere, the other only at a line start) let a blob such as
//! `x -----BEGIN CERTIFICATE-----<attacker CA>…\n-----BEGIN CERTIFICATE-----<real CA>…` pin the
//! real CA while the TLS client trusts the attacker's. So the text is parsed strictly (nothing but
//! CERTIFICATE blocks and blank lines), each block into DER, each DER into an X.509 certificate
//! with nothing left over; pins are computed from those DERs, the trust store is built from the
//! same DERs, and what kubeup writes to disk is a canonical re-encoding of them.
//!
//! Pure.

use base64::engine::general_purpose::STANDARD as B64;
use base64::Engine as _;
use sha2::{Digest, Sha256};
use x509_parser::prelude::*;

/// At most this many certificates in a bundle (a CA and a few rotation peers).
pub const MAX_CERTS: usize = 8;

/// Why a CA bundle was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CaBundleError {
    /// Something other than CERTIFICATE blocks and blank lines.
    #[error("line {line} is not part of a PEM CERTIFICATE block ({what}); a CA bundle holds nothing else")]
    Stray {
        /// 1-based line number.
        line: usize,
        /// What was found.
        what: String,
    },
    /// A block is not closed.
    #[error("a PEM CERTIFICATE block opened on line {0} is never closed")]
    Unclosed(usize),
    /// A block's body is not base64.
    #[error("the PEM block opened on line {0} is not base64")]
    Base64(usize),
    /// A block is not exactly one X.509 certificate.
    #[error("the PEM block opened on line {line} is not an X.509 certificate: {reason}")]
    NotCertificate {
        /// Line of its BEGIN.
        line: usize,
        /// Parser message.
        reason: String,
    },
    /// No certificate at all.
    #[error("it holds no certificate")]
    Empty,
    /// Too many certificates.
    #[error("it holds {0} certificates; at most {MAX_CERTS} are accepted")]
    TooMany(usize),
    /// A certificate that is not a CA.
    #[error("certificate {index} ({subject}) is not a CA certificate (basicConstraints CA:TRUE is missing)")]
    NotCa {
        /// 1-based index.
        index: usize,
        /// Its subject.
        subject: String,
    },
}

/// One certificate of a bundle.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CaCert {
    /// DER bytes, exactly as parsed.
    pub der: Vec<u8>,
    /// `sha256:<hex>` of its SubjectPublicKeyInfo (kubeadm's pin format).
    pub pin: String,
    /// Its subject, for messages.
    pub subject: String,
}

/// A parsed bundle: the certificates to pin, to trust and to write — the same ones.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CaBundle {
    certs: Vec<CaCert>,
}

const BEGIN: &str = "-----BEGIN CERTIFICATE-----";
const END: &str = "-----END CERTIFICATE-----";

impl CaBundle {
    /// Parse PEM text strictly.
    pub fn parse_pem(text: &str) -> Result<CaBundle, CaBundleError> {
        let mut certs = Vec::new();
        let mut open: Option<(usize, String)> = None;
        for (i, raw) in text.split('\n').enumerate() {
            let line_no = i + 1;
            let line = raw.strip_suffix('\r').unwrap_or(raw).trim_end_matches([' ', '\t']);
            match &mut open {
                None if line.is_empty() => {}
                None if line == BEGIN => open = Some((line_no, String::new())),
                None => return Err(CaBundleError::Stray { line: line_no, what: excerpt(line) }),
                Some((start, body)) if line == END => {
                    let start = *start;
                    let der = B64.decode(body.as_bytes()).map_err(|_| CaBundleError::Base64(start))?;
                    certs.push(parse_der(der, start)?);
                    if certs.len() > MAX_CERTS {
                        return Err(CaBundleError::TooMany(certs.len()));
                    }
                    open = None;
                }
                Some((start, body)) => {
                    if line.is_empty() || !line.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'+' || b == b'/' || b == b'=') {
                        return Err(CaBundleError::Base64(*start));
                    }
                    body.push_str(line);
                }
            }
        }
        if let Some((start, _)) = open {
            return Err(CaBundleError::Unclosed(start));
        }
        if certs.is_empty() {
            return Err(CaBundleError::Empty);
        }
        Ok(CaBundle { certs })
    }

    /// Parse and require every certificate to be a CA (cluster-info carries the cluster CA).
    pub fn parse_ca_pem(text: &str) -> Result<CaBundle, CaBundleError> {
        let b = Self::parse_pem(text)?;
        for (i, c) in b.certs.iter().enumerate() {
            let is_ca = X509Certificate::from_der(&c.der).ok().and_then(|(_, x)| x.basic_constraints().ok().flatten().map(|bc| bc.value.ca)).unwrap_or(false);
            if !is_ca {
                return Err(CaBundleError::NotCa { index: i + 1, subject: c.subject.clone() });
            }
        }
        Ok(b)
    }

    /// The certificates.
    pub fn certs(&self) -> &[CaCert] {
        &self.certs
    }

    /// DERs for a TLS trust store.
    pub fn ders(&self) -> Vec<Vec<u8>> {
        self.certs.iter().map(|c| c.der.clone()).collect()
    }

    /// Pins of every certificate.
    pub fn pins(&self) -> Vec<String> {
        self.certs.iter().map(|c| c.pin.clone()).collect()
    }

    /// The certificates that match none of `pins` (empty: every one is pinned).
    pub fn unpinned<'a>(&'a self, pins: &[String]) -> Vec<&'a CaCert> {
        self.certs.iter().filter(|c| !pins.contains(&c.pin)).collect()
    }

    /// Canonical PEM: each certificate re-encoded with 64-column lines, `\n` endings.
    pub fn to_pem(&self) -> String {
        let mut out = String::new();
        for c in &self.certs {
            out.push_str(BEGIN);
            out.push('\n');
            let b64 = B64.encode(&c.der);
            for chunk in b64.as_bytes().chunks(64) {
                out.push_str(&String::from_utf8_lossy(chunk));
                out.push('\n');
            }
            out.push_str(END);
            out.push('\n');
        }
        out
    }
}

fn parse_der(der: Vec<u8>, line: usize) -> Result<CaCert, CaBundleError> {
    let (rest, cert) = X509Certificate::from_der(&der).map_err(|e| CaBundleError::NotCertificate { line, reason: e.to_string() })?;
    if !rest.is_empty() {
        return Err(CaBundleError::NotCertificate { line, reason: format!("{} bytes follow the certificate", rest.len()) });
    }
    let pin = format!("sha256:{}", crate::digest::hex(&Sha256::digest(cert.public_key().raw)));
    let subject = cert.subject().to_string();
    Ok(CaCert { der, pin, subject })
}

fn excerpt(line: &str) -> String {
    let s: String = line.chars().take(40).collect();
    if s.len() < line.len() {
        format!("{s:?}…")
    } else {
        format!("{s:?}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ca(cn: &str) -> String {
        let key = rcgen::KeyPair::generate().unwrap();
        let mut p = rcgen::CertificateParams::new(vec![]).unwrap();
        p.distinguished_name.push(rcgen::DnType::CommonName, cn);
        p.is_ca = rcgen::IsCa::Ca(rcgen::BasicConstraints::Unconstrained);
        p.self_signed(&key).unwrap().pem()
    }

    #[test]
    fn one_parse_gives_the_pins_the_trust_store_and_the_canonical_text() {
        let real = ca("real");
        let b = CaBundle::parse_ca_pem(&real).unwrap();
        assert_eq!(b.certs().len(), 1);
        assert_eq!(b.pins()[0], crate::pki::ca_cert_hash(&real).unwrap());
        assert_eq!(CaBundle::parse_pem(&b.to_pem()).unwrap(), b);
        // CRLF endings and trailing blanks are only formatting.
        assert_eq!(CaBundle::parse_pem(&real.replace('\n', "\r\n")).unwrap(), b);
    }

    #[test]
    fn text_outside_the_blocks_is_refused() {
        let (attacker, real) = (ca("attacker"), ca("real"));
        // The confirmed bypass: a BEGIN that is not at a line start hid the attacker's CA from
        // the pin check but not from the trust store.
        let blob = format!("x {attacker}{real}");
        assert!(matches!(CaBundle::parse_pem(&blob), Err(CaBundleError::Stray { line: 1, .. })), "{:?}", CaBundle::parse_pem(&blob));
        assert!(matches!(CaBundle::parse_pem(&format!("{real}junk\n")), Err(CaBundleError::Stray { .. })));
        assert!(matches!(CaBundle::parse_pem(&format!("{real}-----BEGIN PRIVATE KEY-----\n")), Err(CaBundleError::Stray { .. })));
        assert!(matches!(CaBundle::parse_pem(""), Err(CaBundleError::Empty)));
        assert!(matches!(CaBundle::parse_pem(&real[..real.len() - 30]), Err(CaBundleError::Unclosed(1)) | Err(CaBundleError::Base64(1))));
    }

    #[test]
    fn every_certificate_is_visible_to_the_pin_check() {
        let (attacker, real) = (ca("attacker"), ca("real"));
        let b = CaBundle::parse_pem(&format!("{real}\n{attacker}")).unwrap();
        let real_pin = crate::pki::ca_cert_hash(&real).unwrap();
        let unpinned = b.unpinned(std::slice::from_ref(&real_pin));
        assert_eq!(unpinned.len(), 1);
        assert!(unpinned[0].subject.contains("attacker"));
    }

    #[test]
    fn a_leaf_is_not_a_ca() {
        let key = rcgen::KeyPair::generate().unwrap();
        let leaf = rcgen::CertificateParams::new(vec!["x".into()]).unwrap().self_signed(&key).unwrap().pem();
        assert!(matches!(CaBundle::parse_ca_pem(&leaf), Err(CaBundleError::NotCa { index: 1, .. })));
    }
}
