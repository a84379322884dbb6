//! Loading private keys in the formats Kubernetes tools write.
//!
//! rcgen (ring) reads PKCS#8 only, but kubeadm writes SEC1 (`EC PRIVATE KEY`) and PKCS#1
//! (`RSA PRIVATE KEY`). Both are wrapped into PKCS#8 here, so a PKI made by kubeadm is reused
//! as it is instead of being refused or regenerated.

use rcgen::KeyPair;

const OID_EC_PUBLIC_KEY: &[u8] = &[0x06, 0x07, 0x2a, 0x86, 0x48, 0xce, 0x3d, 0x02, 0x01];
const OID_RSA_ENCRYPTION: &[u8] = &[0x06, 0x09, 0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 0x01, 0x01, 0x01];
const DER_NULL: &[u8] = &[0x05, 0x00];

fn der_len(len: usize) -> Vec<u8> {
    if len < 0x80 {
        vec![len as u8]
    } else {
        let bytes: Vec<u8> = len.to_be_bytes().iter().copied().skip_while(|b| *b == 0).collect();
        let mut v = vec![0x80 | bytes.len() as u8];
        v.extend(bytes);
        v
    }
}

fn tlv(tag: u8, body: &[u8]) -> Vec<u8> {
    let mut v = vec![tag];
    v.extend(der_len(body.len()));
    v.extend_from_slice(body);
    v
}

/// Read one DER TLV at the start of `b`: (tag, body, rest).
fn read_tlv(b: &[u8]) -> Option<(u8, &[u8], &[u8])> {
    let tag = *b.first()?;
    let first = *b.get(1)?;
    let (len, hdr) = if first < 0x80 {
        (first as usize, 2)
    } else {
        let n = (first & 0x7f) as usize;
        if n == 0 || n > 4 {
            return None;
        }
        let mut len = 0usize;
        for i in 0..n {
            len = (len << 8) | *b.get(2 + i)? as usize;
        }
        (len, 2 + n)
    };
    let body = b.get(hdr..hdr + len)?;
    Some((tag, body, &b[hdr + len..]))
}

/// The named-curve OID inside a SEC1 ECPrivateKey's `[0] parameters`.
fn sec1_curve_oid(sec1: &[u8]) -> Option<Vec<u8>> {
    let (_, seq, _) = read_tlv(sec1)?;
    let (_, _version, rest) = read_tlv(seq)?;
    let (_, _key, mut rest) = read_tlv(rest)?;
    while !rest.is_empty() {
        let (tag, body, next) = read_tlv(rest)?;
        if tag == 0xa0 {
            let (t, oid, _) = read_tlv(body)?;
            return (t == 0x06).then(|| tlv(0x06, oid));
        }
        rest = next;
    }
    None
}

fn pkcs8(alg: &[u8], inner: &[u8]) -> Vec<u8> {
    let mut body = vec![0x02, 0x01, 0x00];
    body.extend(tlv(0x30, alg));
    body.extend(tlv(0x04, inner));
    tlv(0x30, &body)
}

/// Load a private key from PEM (PKCS#8, SEC1 EC or PKCS#1 RSA).
pub fn load_key(pem_text: &str) -> Result<KeyPair, String> {
    let block = pem::parse(pem_text.as_bytes()).map_err(|e| format!("not a PEM private key: {e}"))?;
    let der = match block.tag() {
        "PRIVATE KEY" => block.contents().to_vec(),
        "EC PRIVATE KEY" => {
            let curve = sec1_curve_oid(block.contents()).ok_or("SEC1 key without a named curve")?;
            let mut alg = OID_EC_PUBLIC_KEY.to_vec();
            alg.extend(curve);
            pkcs8(&alg, block.contents())
        }
        "RSA PRIVATE KEY" => {
            let mut alg = OID_RSA_ENCRYPTION.to_vec();
            alg.extend_from_slice(DER_NULL);
            pkcs8(&alg, block.contents())
        }
        other => return Err(format!("PEM block {other:?} is not a private key")),
    };
    KeyPair::try_from(der).map_err(|e| format!("unsupported or corrupt private key: {e}"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use rcgen::PublicKeyData;

    fn openssl(args: &[&str]) -> Option<Vec<u8>> {
        let out = std::process::Command::new("openssl").args(args).output().ok()?;
        out.status.success().then_some(out.stdout)
    }

    #[test]
    fn loads_pkcs8_from_rcgen() {
        let k = KeyPair::generate_for(&rcgen::PKCS_ECDSA_P256_SHA256).unwrap();
        let back = load_key(&k.serialize_pem()).unwrap();
        assert_eq!(back.subject_public_key_info(), k.subject_public_key_info());
    }

    #[test]
    fn loads_sec1_and_pkcs1_keys_as_kubeadm_writes_them() {
        let sec1 = openssl(&["ecparam", "-name", "prime256v1", "-genkey", "-noout"]).expect("openssl is required for this test");
        let sec1 = String::from_utf8(sec1).unwrap();
        assert!(sec1.contains("EC PRIVATE KEY"));
        load_key(&sec1).unwrap();
        let rsa = openssl(&["genrsa", "-traditional", "2048"]).or_else(|| openssl(&["genrsa", "2048"])).unwrap();
        let rsa = String::from_utf8(rsa).unwrap();
        if rsa.contains("RSA PRIVATE KEY") {
            load_key(&rsa).unwrap();
        }
    }

    #[test]
    fn refuses_non_keys() {
        assert!(load_key("garbage").is_err());
        assert!(load_key("-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n").is_err());
    }
}
