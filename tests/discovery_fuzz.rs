//! Fuzzing the door: discovery's trust decision ([`kubeup::join::cluster_info::verify`]) fed
//! random and mutated cluster-info data — kubeconfigs, CA blobs, servers, JWS strings. It must
//! never panic, and must never accept anything that is not signed with the token AND whose every
//! CA certificate — as found by ANY of three independent PEM readers — matches the pin.
//!
//! Seeded and bounded: `KUBEUP_FUZZ_SEED` picks the seed (printed on failure), `KUBEUP_FUZZ_CASES`
//! the number of cases (default 50,000, a few seconds here).

use std::collections::BTreeMap;

use base64::Engine as _;
use kubeup::join::cluster_info::verify;
use kubeup::token::BootstrapToken;
use sha2::{Digest, Sha256};

/// xorshift64*: small, seeded, good enough to choose mutations.
struct Rng(u64);
impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }
    fn below(&mut self, n: usize) -> usize {
        (self.next() % n.max(1) as u64) as usize
    }
    fn pick<'a, T>(&mut self, v: &'a [T]) -> &'a T {
        &v[self.below(v.len())]
    }
    fn chance(&mut self, percent: u64) -> bool {
        self.next() % 100 < percent
    }
}

fn ca(cn: &str) -> String {
    let key = rcgen::KeyPair::generate().unwrap();
    let mut p = rcgen::CertificateParams::new(vec![]).unwrap();
    p.distinguished_name.push(rcgen::DnType::CommonName, cn);
    p.is_ca = rcgen::IsCa::Ca(rcgen::BasicConstraints::Unconstrained);
    p.self_signed(&key).unwrap().pem()
}

fn leaf() -> String {
    let key = rcgen::KeyPair::generate().unwrap();
    rcgen::CertificateParams::new(vec!["leaf".into()]).unwrap().self_signed(&key).unwrap().pem()
}

fn pin_of_der(der: &[u8]) -> Option<String> {
    let (_, c) = x509_parser::parse_x509_certificate(der).ok()?;
    Some(format!("sha256:{}", kubeup::digest::hex(&Sha256::digest(c.public_key().raw))))
}

/// Every certificate any of three readers finds in `text`.
fn all_readers(text: &str) -> Vec<Vec<u8>> {
    let mut out = Vec::new();
    // 1. x509-parser's PEM reader (BEGIN at a line start).
    for pem in x509_parser::pem::Pem::iter_from_buffer(text.as_bytes()).flatten() {
        out.push(pem.contents);
    }
    // 2. The pem crate.
    if let Ok(many) = pem::parse_many(text) {
        out.extend(many.into_iter().map(|p| p.into_contents()));
    }
    // 3. Naive: every BEGIN anywhere up to the next END, whitespace dropped.
    let mut rest = text;
    while let Some(i) = rest.find("-----BEGIN CERTIFICATE-----") {
        rest = &rest[i + 27..];
        if let Some(j) = rest.find("-----END CERTIFICATE-----") {
            let b64: String = rest[..j].chars().filter(|c| !c.is_whitespace()).collect();
            if let Ok(der) = base64::engine::general_purpose::STANDARD.decode(b64) {
                out.push(der);
            }
        }
    }
    out
}

fn kubeconfig(clusters: &[(String, String)], current: Option<&str>) -> String {
    let mut s = String::from("apiVersion: v1\nkind: Config\nclusters:\n");
    for (i, (server, ca_text)) in clusters.iter().enumerate() {
        let ca = base64::engine::general_purpose::STANDARD.encode(ca_text);
        s.push_str(&format!("- name: c{i}\n  cluster:\n    certificate-authority-data: {ca}\n    server: {server}\n"));
    }
    if clusters.is_empty() {
        s = s.replace("clusters:\n", "clusters: []\n");
    }
    s.push_str("contexts:\n- name: ctx\n  context:\n    cluster: c0\n    user: u\n");
    if let Some(c) = current {
        s.push_str(&format!("current-context: {c}\n"));
    }
    s.push_str("users: []\n");
    s
}

#[test]
fn nothing_unsigned_or_unpinned_is_ever_accepted() {
    let seed: u64 = std::env::var("KUBEUP_FUZZ_SEED").ok().and_then(|s| s.parse().ok()).unwrap_or(0x6b75_6265_7570);
    let cases: usize = std::env::var("KUBEUP_FUZZ_CASES").ok().and_then(|s| s.parse().ok()).unwrap_or(50_000);
    let mut rng = Rng(seed | 1);
    let (real, evil, leaf) = (ca("real"), ca("evil"), leaf());
    let real_pin = kubeup::pki::ca_cert_hash(&real).unwrap();
    let token: BootstrapToken = "abcdef.0123456789abcdef".parse().unwrap();
    let other: BootstrapToken = "abcdef.fedcba9876543210".parse().unwrap();
    let pins = vec![real_pin.clone()];
    let servers =
        ["https://10.0.0.1:6443", "http://10.0.0.1:6443", "https://", "", "ftp://x", "https://user@x:1", "HTTPS://x", "https://[::1]:6443", "unix:///x"];
    let pieces: Vec<String> = vec![
        real.clone(),
        evil.clone(),
        leaf.clone(),
        "x ".into(),
        "\n".into(),
        "\r\n".into(),
        "-----BEGIN CERTIFICATE-----\n".into(),
        "-----END CERTIFICATE-----\n".into(),
        real[..real.len() / 2].to_string(),
        format!("x {evil}"),
        evil.replace('\n', " "),
        "garbage line\n".into(),
    ];
    let (mut accepted, mut refused) = (0usize, 0usize);
    for case in 0..cases {
        // A CA blob from random pieces (sometimes just the real CA, so acceptance is reachable).
        let ca_text = if rng.chance(25) { real.clone() } else { (0..1 + rng.below(4)).map(|_| rng.pick(&pieces).clone()).collect::<String>() };
        let n = if rng.chance(80) { 1 } else { rng.below(3) };
        let clusters: Vec<(String, String)> =
            (0..n).map(|_| (if rng.chance(50) { servers[0].to_string() } else { rng.pick(&servers).to_string() }, ca_text.clone())).collect();
        let current = match rng.below(4) {
            0 => Some("ctx"),
            1 => Some("nowhere"),
            _ => None,
        };
        let mut kc = kubeconfig(&clusters, current);
        // Byte-level mutations of the text.
        if rng.chance(30) {
            let mut b = kc.clone().into_bytes();
            for _ in 0..1 + rng.below(4) {
                let i = rng.below(b.len());
                b[i] = (rng.next() & 0x7f) as u8;
            }
            kc = String::from_utf8_lossy(&b).into_owned();
        }
        let signed_text = if rng.chance(10) { format!("{kc}#") } else { kc.clone() };
        let sig = match rng.below(6) {
            0 => kubeup::jws::detached_signature(&signed_text, other.id(), other.secret()),
            1 => "eyJhbGciOiJIUzI1NiIsImtpZCI6ImFiY2RlZiJ9..AAAA".to_string(),
            2 => String::new(),
            _ => kubeup::jws::detached_signature(&signed_text, token.id(), token.secret()),
        };
        let mut data = BTreeMap::new();
        if rng.chance(97) {
            data.insert("kubeconfig".to_string(), kc.clone());
        }
        if rng.chance(95) {
            data.insert(format!("jws-kubeconfig-{}", token.id()), sig.clone());
        }
        let result = std::panic::catch_unwind(|| verify(&data, &token, &pins));
        let result = result.unwrap_or_else(|_| panic!("verify panicked (seed {seed}, case {case})"));
        match result {
            Err(_) => refused += 1,
            Ok(v) => {
                accepted += 1;
                let ctx = format!("seed {seed}, case {case}:\n{kc}");
                assert_eq!(sig, kubeup::jws::detached_signature(&kc, token.id(), token.secret()), "accepted without a valid signature ({ctx})");
                assert!(v.server.starts_with("https://"), "accepted a non-https server ({ctx})");
                for der in v.ca.ders() {
                    assert_eq!(pin_of_der(&der).as_deref(), Some(real_pin.as_str()), "trusts an unpinned certificate ({ctx})");
                }
                for der in all_readers(&ca_text) {
                    if let Some(p) = pin_of_der(&der) {
                        assert_eq!(p, real_pin, "a PEM reader finds an unpinned certificate in an accepted CA ({ctx})");
                    }
                }
            }
        }
    }
    eprintln!("seed {seed}: {cases} cases, {accepted} accepted, {refused} refused");
    // The generator must reach both outcomes, or the property says nothing.
    assert!(accepted > cases / 100, "too few accepted cases ({accepted}): the generator no longer reaches acceptance");
    assert!(refused > cases / 2, "too few refused cases ({refused})");
}
