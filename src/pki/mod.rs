//! The cluster PKI: kubeadm's certificate table, issuing with rcgen, and checking existing
//! certificates and keys before reusing them.
//!
//! Pure apart from randomness (keys and serials come from the OS). Files are named as kubeadm
//! names them, relative to the certificate directory (`apiserver.crt`, `etcd/server.key`).

pub mod ca_bundle;
pub mod certlist;
pub mod keys;
pub mod upload;

use std::net::IpAddr;
use std::time::Duration;

use ::time::OffsetDateTime;
use rcgen::{
    BasicConstraints, CertificateParams, DistinguishedName, DnType, ExtendedKeyUsagePurpose, IsCa, Issuer, KeyPair, KeyUsagePurpose, PublicKeyData, SanType,
    SerialNumber,
};
use sha2::{Digest, Sha256};
use x509_parser::prelude::*;

pub use certlist::{CaSpec, CertSpec};

/// Mode of private keys (kubeadm's).
pub const KEY_MODE: u32 = 0o600;
/// Mode of certificates and public keys.
pub const CERT_MODE: u32 = 0o644;

/// PKI errors, each naming the file and the fix.
#[derive(Debug, thiserror::Error)]
pub enum PkiError {
    /// Key generation or signing failed.
    #[error("cannot issue {what}: {reason}")]
    Issue {
        /// Certificate name.
        what: String,
        /// rcgen's reason.
        reason: String,
    },
    /// An existing file cannot be parsed.
    #[error("existing {file} cannot be parsed ({reason}): move it away to have kubeup issue a new one, or replace it with a valid PEM file")]
    Unparseable {
        /// File (relative to the certificate directory).
        file: String,
        /// Parser message.
        reason: String,
    },
    /// An existing certificate does not fit the configuration or its CA.
    #[error("existing certificate {file} does not match: {mismatch}. kubeup does not overwrite certificates: move {file} and its key away to have them reissued, or change the configuration to match")]
    Mismatch {
        /// File (relative to the certificate directory).
        file: String,
        /// What differs.
        mismatch: String,
    },
    /// Half of a pair exists.
    #[error("{present} exists but {missing} does not: restore {missing}, or move {present} away to have both issued anew")]
    HalfPair {
        /// The file that exists.
        present: String,
        /// The file that is missing.
        missing: String,
    },
    /// A leaf is missing and the CA key is not available to issue it (external CA mode).
    #[error("{file} is missing and {ca} has no private key here (external CA mode): sign {file} with your CA and place it in the certificate directory")]
    ExternalCaMissingLeaf {
        /// Missing file.
        file: String,
        /// The CA certificate.
        ca: String,
    },
    /// A CA needed for a leaf does not exist yet.
    #[error("{ca} does not exist: run `kubeup init phase certs {phase}` first")]
    MissingCa {
        /// CA certificate file.
        ca: String,
        /// The phase that creates it.
        phase: String,
    },
}

/// A certificate with its key, both as PEM.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CertPair {
    /// Certificate PEM.
    pub cert_pem: String,
    /// Private key PEM (PKCS#8 for keys kubeup made; existing keys keep their format).
    pub key_pem: String,
}

/// What an issued certificate says, for issuing and for comparing with an existing one.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Identity {
    /// Subject CN.
    pub cn: String,
    /// Subject O values (groups), at most two: rcgen keeps one value per attribute type, so the
    /// second is written under the same OID through a custom attribute type.
    pub orgs: Vec<String>,
    /// Extended key usages.
    pub usages: Vec<Usage>,
    /// Subject alternative names.
    pub sans: Vec<San>,
}

/// Extended key usage.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Usage {
    /// TLS server.
    ServerAuth,
    /// TLS client.
    ClientAuth,
}

/// A subject alternative name.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub enum San {
    /// DNS name.
    Dns(String),
    /// IP address.
    Ip(IpAddr),
}

impl San {
    /// Parse a config SAN: an IP if it parses as one, else a DNS name.
    pub fn parse(s: &str) -> San {
        s.parse().map(San::Ip).unwrap_or_else(|_| San::Dns(s.to_string()))
    }
}

impl std::fmt::Display for San {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            San::Dns(d) => write!(f, "DNS:{d}"),
            San::Ip(i) => write!(f, "IP:{i}"),
        }
    }
}

/// kubeadm backdates the start of a certificate by five minutes to tolerate clock skew between
/// nodes; its end is `validity` from now, so that a short validity is not spent in advance.
const BACKDATE: Duration = Duration::from_secs(300);

fn random_serial() -> Result<SerialNumber, String> {
    let mut b = [0u8; 8];
    getrandom::fill(&mut b).map_err(|e| e.to_string())?;
    // Positive, non-zero, below 2^63 as kubeadm's serials.
    b[0] &= 0x7f;
    if b.iter().all(|x| *x == 0) {
        b[7] = 1;
    }
    Ok(SerialNumber::from_slice(&b))
}

fn dn(cn: &str, orgs: &[String]) -> Result<DistinguishedName, String> {
    if orgs.len() > 2 {
        return Err(format!("{} organizations given; kubeup can put at most 2 into a certificate", orgs.len()));
    }
    let mut d = DistinguishedName::new();
    if let Some(o) = orgs.first() {
        d.push(DnType::OrganizationName, o.as_str());
    }
    if let Some(o) = orgs.get(1) {
        d.push(DnType::CustomDnType(vec![2, 5, 4, 10]), o.as_str());
    }
    d.push(DnType::CommonName, cn);
    Ok(d)
}

fn san_types(sans: &[San]) -> Result<Vec<SanType>, String> {
    sans.iter()
        .map(|s| match s {
            San::Dns(d) => d.clone().try_into().map(SanType::DnsName).map_err(|e| format!("SAN {d}: {e}")),
            San::Ip(i) => Ok(SanType::IpAddress(*i)),
        })
        .collect()
}

fn new_key() -> Result<KeyPair, String> {
    KeyPair::generate_for(&rcgen::PKCS_ECDSA_P256_SHA256).map_err(|e| e.to_string())
}

/// A self-signed CA, valid `validity` from now (backdated). kubeadm also puts the CN into the
/// DNS SANs of its CAs.
pub fn issue_ca(cn: &str, validity: Duration, now: OffsetDateTime) -> Result<CertPair, PkiError> {
    let err = |reason: String| PkiError::Issue { what: cn.to_string(), reason };
    let key = new_key().map_err(err)?;
    let mut p = CertificateParams::default();
    p.distinguished_name = dn(cn, &[]).map_err(err)?;
    p.subject_alt_names = san_types(&[San::Dns(cn.to_string())]).map_err(err)?;
    p.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    p.key_usages = vec![KeyUsagePurpose::DigitalSignature, KeyUsagePurpose::KeyEncipherment, KeyUsagePurpose::KeyCertSign];
    p.not_before = now - BACKDATE;
    p.not_after = now + validity;
    p.serial_number = Some(random_serial().map_err(err)?);
    let cert = p.self_signed(&key).map_err(|e| err(e.to_string()))?;
    Ok(CertPair { cert_pem: cert.pem(), key_pem: key.serialize_pem() })
}

/// A leaf signed by `ca`, valid `validity` from now but never beyond the CA's own expiry.
pub fn issue_leaf(id: &Identity, ca: &CertPair, validity: Duration, now: OffsetDateTime) -> Result<CertPair, PkiError> {
    let err = |reason: String| PkiError::Issue { what: id.cn.clone(), reason };
    let ca_key = keys::load_key(&ca.key_pem).map_err(err)?;
    let ca_not_after = parse_pem_cert(&ca.cert_pem).map_err(err)?.not_after;
    let issuer = Issuer::from_ca_cert_pem(&ca.cert_pem, ca_key).map_err(|e| err(e.to_string()))?;
    let key = new_key().map_err(err)?;
    let mut p = CertificateParams::default();
    p.distinguished_name = dn(&id.cn, &id.orgs).map_err(err)?;
    p.subject_alt_names = san_types(&id.sans).map_err(err)?;
    p.is_ca = IsCa::ExplicitNoCa;
    p.key_usages = vec![KeyUsagePurpose::DigitalSignature, KeyUsagePurpose::KeyEncipherment];
    p.extended_key_usages = id
        .usages
        .iter()
        .map(|u| match u {
            Usage::ServerAuth => ExtendedKeyUsagePurpose::ServerAuth,
            Usage::ClientAuth => ExtendedKeyUsagePurpose::ClientAuth,
        })
        .collect();
    p.use_authority_key_identifier_extension = true;
    p.not_before = now - BACKDATE;
    p.not_after = (now + validity).min(ca_not_after);
    p.serial_number = Some(random_serial().map_err(err)?);
    let cert = p.signed_by(&key, &issuer).map_err(|e| err(e.to_string()))?;
    Ok(CertPair { cert_pem: cert.pem(), key_pem: key.serialize_pem() })
}

/// A service-account signing key pair: private key PEM and PKIX public key PEM.
pub fn issue_sa_key() -> Result<(String, String), PkiError> {
    let key = new_key().map_err(|reason| PkiError::Issue { what: "sa.key".into(), reason })?;
    Ok((key.serialize_pem(), key.public_key_pem()))
}

/// The facts kubeup checks on an existing certificate.
#[derive(Debug, Clone)]
pub struct ParsedCert {
    /// DER of the whole certificate.
    pub der: Vec<u8>,
    /// DER of the SubjectPublicKeyInfo.
    pub spki: Vec<u8>,
    /// Subject CN.
    pub cn: Option<String>,
    /// Subject O values.
    pub orgs: Vec<String>,
    /// Whether BasicConstraints says CA.
    pub is_ca: bool,
    /// Validity end.
    pub not_after: OffsetDateTime,
    /// Validity start.
    pub not_before: OffsetDateTime,
    /// SANs.
    pub sans: Vec<San>,
    /// EKUs.
    pub usages: Vec<Usage>,
}

/// Parse a PEM certificate.
pub fn parse_pem_cert(pem_text: &str) -> Result<ParsedCert, String> {
    let (_, pem) = x509_parser::pem::parse_x509_pem(pem_text.as_bytes()).map_err(|e| format!("not a PEM certificate: {e}"))?;
    if pem.label != "CERTIFICATE" {
        return Err(format!("PEM block is {:?}, not CERTIFICATE", pem.label));
    }
    let (_, cert) = parse_x509_certificate(&pem.contents).map_err(|e| format!("not an X.509 certificate: {e}"))?;
    let attr = |it: &mut dyn Iterator<Item = &AttributeTypeAndValue>| -> Vec<String> { it.filter_map(|a| a.as_str().ok().map(str::to_string)).collect() };
    let cn = attr(&mut cert.subject().iter_common_name()).into_iter().next();
    let orgs = attr(&mut cert.subject().iter_organization());
    let mut sans = Vec::new();
    let mut usages = Vec::new();
    let mut is_ca = false;
    for ext in cert.extensions() {
        match ext.parsed_extension() {
            ParsedExtension::SubjectAlternativeName(s) => {
                for n in &s.general_names {
                    match n {
                        GeneralName::DNSName(d) => sans.push(San::Dns(d.to_string())),
                        GeneralName::IPAddress(b) => {
                            if let Ok(a) = <[u8; 4]>::try_from(*b) {
                                sans.push(San::Ip(IpAddr::from(a)));
                            } else if let Ok(a) = <[u8; 16]>::try_from(*b) {
                                sans.push(San::Ip(IpAddr::from(a)));
                            }
                        }
                        _ => {}
                    }
                }
            }
            ParsedExtension::ExtendedKeyUsage(e) => {
                if e.server_auth {
                    usages.push(Usage::ServerAuth);
                }
                if e.client_auth {
                    usages.push(Usage::ClientAuth);
                }
            }
            ParsedExtension::BasicConstraints(b) => is_ca = b.ca,
            _ => {}
        }
    }
    Ok(ParsedCert {
        der: pem.contents.clone(),
        spki: cert.public_key().raw.to_vec(),
        cn,
        orgs,
        is_ca,
        not_after: cert.validity().not_after.to_datetime(),
        not_before: cert.validity().not_before.to_datetime(),
        sans,
        usages,
    })
}

/// kubeadm's CA pin: `sha256:<hex of SHA-256 of the DER SubjectPublicKeyInfo>`.
pub fn ca_cert_hash(cert_pem: &str) -> Result<String, String> {
    let c = parse_pem_cert(cert_pem)?;
    Ok(format!("sha256:{}", crate::digest::hex(&Sha256::digest(&c.spki))))
}

/// The organizations (O) of a certificate's subject; empty if it does not parse.
pub fn subject_orgs(cert_pem: &str) -> Vec<String> {
    let Ok((_, pem)) = x509_parser::pem::parse_x509_pem(cert_pem.as_bytes()) else { return vec![] };
    let Ok((_, cert)) = parse_x509_certificate(&pem.contents) else { return vec![] };
    cert.subject().iter_organization().filter_map(|o| o.as_str().ok().map(str::to_string)).collect()
}

/// Whether `cert_pem` was signed by `ca_pem`'s key.
pub fn signed_by(cert_pem: &str, ca_pem: &str) -> Result<bool, String> {
    let (_, leaf) = x509_parser::pem::parse_x509_pem(cert_pem.as_bytes()).map_err(|e| e.to_string())?;
    let (_, ca) = x509_parser::pem::parse_x509_pem(ca_pem.as_bytes()).map_err(|e| e.to_string())?;
    let (_, leaf) = parse_x509_certificate(&leaf.contents).map_err(|e| e.to_string())?;
    let (_, ca) = parse_x509_certificate(&ca.contents).map_err(|e| e.to_string())?;
    Ok(leaf.issuer() == ca.subject() && leaf.verify_signature(Some(ca.public_key())).is_ok())
}

/// Check an existing certificate + key against what kubeup would issue. `ca_pem` is the signing
/// CA (None for a CA itself). Returns the mismatch, if any.
pub fn check_existing(pair: &CertPair, want: Option<&Identity>, ca_pem: Option<&str>, now: OffsetDateTime) -> Result<Option<String>, String> {
    let cert = parse_pem_cert(&pair.cert_pem)?;
    let key = keys::load_key(&pair.key_pem).map_err(|e| format!("private key: {e}"))?;
    if key.subject_public_key_info() != cert.spki {
        return Ok(Some("the private key does not belong to the certificate".into()));
    }
    Ok(check_cert(&pair.cert_pem, &cert, want, ca_pem, now))
}

/// The certificate-only part of [`check_existing`] (also used in external-CA mode, where the
/// CA key is absent).
pub fn check_cert(cert_pem: &str, cert: &ParsedCert, want: Option<&Identity>, ca_pem: Option<&str>, now: OffsetDateTime) -> Option<String> {
    if cert.not_after <= now {
        return Some(format!("it expired on {}", cert.not_after.date()));
    }
    let Some(want) = want else {
        return (!cert.is_ca).then(|| "it is not a CA certificate (BasicConstraints CA:TRUE missing)".to_string());
    };
    if let Some(ca) = ca_pem {
        match signed_by(cert_pem, ca) {
            Ok(true) => {}
            Ok(false) => return Some("it is not signed by the current CA".into()),
            Err(e) => return Some(format!("its signature cannot be checked: {e}")),
        }
    }
    if cert.cn.as_deref() != Some(want.cn.as_str()) {
        return Some(format!("subject CN is {:?}, expected {:?}", cert.cn.as_deref().unwrap_or(""), want.cn));
    }
    for o in &want.orgs {
        if !cert.orgs.contains(o) {
            return Some(format!("subject O is {:?}, expected {o:?}", cert.orgs));
        }
    }
    for u in &want.usages {
        if !cert.usages.contains(u) {
            return Some(format!("extended key usage {u:?} is missing"));
        }
    }
    let missing: Vec<String> = want.sans.iter().filter(|s| !cert.sans.contains(s)).map(ToString::to_string).collect();
    if !missing.is_empty() {
        return Some(format!("missing subject alternative names {}", missing.join(", ")));
    }
    None
}

#[cfg(test)]
mod tests;
