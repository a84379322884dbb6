use super::*;
use std::time::Duration;

const YEAR: Duration = Duration::from_secs(365 * 86400);

fn id(cn: &str, sans: Vec<San>) -> Identity {
    Identity { cn: cn.into(), orgs: vec!["o1".into()], usages: vec![Usage::ServerAuth], sans }
}

#[test]
fn issued_leaf_matches_its_identity_and_ca() {
    let now = OffsetDateTime::now_utc();
    let ca = issue_ca("kubernetes", 10 * YEAR, now).unwrap();
    let want = id("kube-apiserver", vec![San::Dns("kubernetes".into()), San::Ip("10.96.0.1".parse().unwrap())]);
    let leaf = issue_leaf(&want, &ca, YEAR, now).unwrap();
    assert_eq!(check_existing(&leaf, Some(&want), Some(&ca.cert_pem), now).unwrap(), None);
    assert_eq!(check_existing(&ca, None, None, now).unwrap(), None);

    // Each kind of mismatch is named.
    let more = id("kube-apiserver", vec![San::Dns("kubernetes".into()), San::Dns("new.example.com".into())]);
    assert!(check_existing(&leaf, Some(&more), Some(&ca.cert_pem), now).unwrap().unwrap().contains("DNS:new.example.com"));
    let other_ca = issue_ca("kubernetes", 10 * YEAR, now).unwrap();
    assert!(check_existing(&leaf, Some(&want), Some(&other_ca.cert_pem), now).unwrap().unwrap().contains("not signed by the current CA"));
    let wrong_key = CertPair { cert_pem: leaf.cert_pem.clone(), key_pem: ca.key_pem.clone() };
    assert!(check_existing(&wrong_key, Some(&want), Some(&ca.cert_pem), now).unwrap().unwrap().contains("does not belong"));
    let renamed = id("someone-else", want.sans.clone());
    assert!(check_existing(&leaf, Some(&renamed), Some(&ca.cert_pem), now).unwrap().unwrap().contains("CN"));
    let later = now + 2 * YEAR;
    assert!(check_existing(&leaf, Some(&want), Some(&ca.cert_pem), later).unwrap().unwrap().contains("expired"));
    assert!(check_existing(&leaf, None, None, now).unwrap().unwrap().contains("not a CA"));
}

#[test]
fn leaf_never_outlives_its_ca() {
    let now = OffsetDateTime::now_utc();
    let ca = issue_ca("short", Duration::from_secs(86400), now).unwrap();
    let leaf = issue_leaf(&id("x", vec![]), &ca, YEAR, now).unwrap();
    assert!(parse_pem_cert(&leaf.cert_pem).unwrap().not_after <= parse_pem_cert(&ca.cert_pem).unwrap().not_after);
}

#[test]
fn ca_pin_equals_openssls_sha256_of_the_spki() {
    let ca = issue_ca("kubernetes", YEAR, OffsetDateTime::now_utc()).unwrap();
    let dir = tempfile::tempdir().unwrap();
    let p = dir.path().join("ca.crt");
    std::fs::write(&p, &ca.cert_pem).unwrap();
    let script = format!("openssl x509 -pubkey -noout -in {} | openssl pkey -pubin -outform der | openssl dgst -sha256 -hex", p.display());
    let out = std::process::Command::new("sh").args(["-c", &script]).output().expect("openssl is required");
    let text = String::from_utf8(out.stdout).unwrap();
    let hex = text.trim().rsplit(' ').next().unwrap();
    assert_eq!(ca_cert_hash(&ca.cert_pem).unwrap(), format!("sha256:{hex}"));
}

/// The API server's certificate carries 127.0.0.1 whatever the advertise address: workers reach
/// the API through their api-proxy at https://127.0.0.1:<port>, and kube-proxy uses that URL on
/// every node (the e2e failed with "certificate is valid for 10.96.0.1, 172.29.65.11, not
/// 127.0.0.1" before).
#[test]
fn the_api_server_certificate_is_valid_for_loopback() {
    let file = crate::config::parse_text("apiVersion: kubeup.io/v1alpha1\nkind: Configuration\n").unwrap();
    let host = crate::config::HostDefaults { hostname: Some("cp-1".into()), address: Some("192.0.2.10".parse().unwrap()), ..Default::default() };
    let cfg = crate::config::resolve(Some(file), &crate::config::Settings::default(), &host).unwrap();
    let api = certlist::leaves(&cfg).into_iter().find(|c| c.file == "apiserver").unwrap();
    assert!(api.identity.sans.contains(&San::Ip("127.0.0.1".parse().unwrap())), "{:?}", api.identity.sans);
    assert!(api.identity.sans.contains(&San::Ip("192.0.2.10".parse().unwrap())));
}
