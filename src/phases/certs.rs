//! Phase `certs`: the cluster PKI. Existing CAs and certificates are checked and kept, never
//! regenerated; missing ones are issued; anything that does not match is an error naming the
//! mismatch. A `ca.crt` without `ca.key` is kubeadm's external-CA mode: leaves must be there.

use std::collections::HashMap;

use super::{Ctx, PhaseError};
use crate::paths::HostPath;
use crate::pki::{self, certlist, CertPair, PkiError};
use crate::plan::{FileKind, Plan, Step, WritePolicy};

pub use crate::pki::{CERT_MODE, KEY_MODE};

fn path(ctx: &Ctx, file: &str) -> Result<HostPath, PhaseError> {
    HostPath::new(format!("{}/{file}", ctx.cfg.cert_dir)).map_err(|e| PhaseError::Render { what: file.into(), reason: e.to_string() })
}

/// A CA's certificate and, unless external, its key.
type LoadedCa = (String, Option<String>);

/// Read `<file>.crt` and `<file>.key`.
fn read_pair(ctx: &Ctx, file: &str) -> Result<(Option<String>, Option<String>), PhaseError> {
    Ok((ctx.view.read_text(&path(ctx, &format!("{file}.crt"))?)?, ctx.view.read_text(&path(ctx, &format!("{file}.key"))?)?))
}

/// The key first, then the certificate: a run killed between the two leaves a key without a
/// certificate, which [`orphan_key`] recognises — never a certificate without its key, which is
/// kubeadm's external-CA mode and must keep meaning only that.
fn write_pair(ctx: &Ctx, plan: &mut Plan, file: &str, pair: &CertPair) -> Result<(), PhaseError> {
    let key_policy = if orphan_key(ctx, file)? { WritePolicy::Replace } else { WritePolicy::CreateOnly };
    plan.write(path(ctx, &format!("{file}.key"))?, pair.key_pem.clone(), KEY_MODE, key_policy, FileKind::PrivateKey);
    plan.write(path(ctx, &format!("{file}.crt"))?, pair.cert_pem.clone(), CERT_MODE, WritePolicy::CreateOnly, FileKind::Certificate);
    Ok(())
}

/// Whether `<file>.key` exists without its certificate because the previous run was killed
/// while writing this very pair: the key is one kubeup itself set out to write in the `certs`
/// phase of a run that never finished it (the install record says so). Such a key was never
/// used: the pair is issued anew.
fn orphan_key(ctx: &Ctx, file: &str) -> Result<bool, PhaseError> {
    let key = path(ctx, &format!("{file}.key"))?;
    if ctx.view.read(&path(ctx, &format!("{file}.crt"))?)?.is_some() || ctx.view.read(&key)?.is_none() {
        return Ok(false);
    }
    interrupted(ctx, &key)
}

/// Whether `file` is one the `certs` phase of a killed run set out to write.
fn interrupted(ctx: &Ctx, file: &HostPath) -> Result<bool, PhaseError> {
    let Some(bytes) = ctx.view.read(&crate::paths::known(crate::record::RECORD_PATH))? else { return Ok(false) };
    Ok(crate::record::InstallRecord::parse(&bytes).is_ok_and(|r| r.interrupted_in("certs", file.as_str())))
}

/// Render the PKI, or one child (`certs apiserver`).
pub fn render(ctx: &Ctx, only: Option<&str>) -> Result<Plan, PhaseError> {
    let mut plan = Plan::default();
    let cert_dir = HostPath::new(ctx.cfg.cert_dir.clone()).map_err(|e| PhaseError::Render { what: "certificatesDir".into(), reason: e.to_string() })?;
    plan.steps.push(Step::EnsureDir { path: cert_dir, mode: 0o755 });
    let leaves = certlist::leaves(ctx.cfg);
    let mut cas: HashMap<&str, LoadedCa> = HashMap::new();
    for name in certlist::PHASE_ORDER {
        let selected = only.is_none_or(|o| o == name);
        if let Some(ca) = certlist::ca(name) {
            let crt = format!("{}.crt", ca.file);
            match read_pair(ctx, ca.file)? {
                (Some(cert), Some(key)) => {
                    let pair = CertPair { cert_pem: cert, key_pem: key };
                    let mismatch = pki::check_existing(&pair, None, None, ctx.now).map_err(|reason| PkiError::Unparseable { file: crt.clone(), reason })?;
                    if let Some(mismatch) = mismatch {
                        return Err(PkiError::Mismatch { file: crt, mismatch }.into());
                    }
                    if selected {
                        plan.steps.push(Step::Keep { path: path(ctx, &crt)?, reason: "existing CA is valid and matches its key; reused".into() });
                    }
                    cas.insert(ca.phase, (pair.cert_pem, Some(pair.key_pem)));
                }
                (Some(cert), None) => {
                    let parsed = pki::parse_pem_cert(&cert).map_err(|reason| PkiError::Unparseable { file: crt.clone(), reason })?;
                    if let Some(mismatch) = pki::check_cert(&cert, &parsed, None, None, ctx.now) {
                        return Err(PkiError::Mismatch { file: crt, mismatch }.into());
                    }
                    if selected {
                        plan.steps.push(Step::Keep { path: path(ctx, &crt)?, reason: "external CA (no key on this node); reused".into() });
                    }
                    cas.insert(ca.phase, (cert, None));
                }
                (None, Some(_)) if !orphan_key(ctx, ca.file)? => return Err(PkiError::HalfPair { present: format!("{}.key", ca.file), missing: crt }.into()),
                (None, _) if selected => {
                    if ca.file.contains('/') {
                        plan.steps.push(Step::EnsureDir { path: path(ctx, ca.file)?.parent(), mode: 0o755 });
                    }
                    let pair = pki::issue_ca(ca.cn, ctx.cfg.ca_validity, ctx.now)?;
                    write_pair(ctx, &mut plan, ca.file, &pair)?;
                    cas.insert(ca.phase, (pair.cert_pem, Some(pair.key_pem)));
                }
                (None, _) => {}
            }
        } else if name == certlist::SA_PHASE {
            if selected {
                render_sa(ctx, &mut plan)?;
            }
        } else if selected {
            // Invariant: every non-CA, non-sa name in PHASE_ORDER has a row in `leaves`.
            let Some(spec) = leaves.iter().find(|l| l.phase == name) else { continue };
            let ca_file = certlist::ca(spec.ca).map(|c| c.file).unwrap_or("ca");
            let Some((ca_cert, ca_key)) = cas.get(spec.ca) else {
                return Err(PkiError::MissingCa { ca: format!("{ca_file}.crt"), phase: spec.ca.into() }.into());
            };
            let crt = format!("{}.crt", spec.file);
            match read_pair(ctx, spec.file)? {
                (Some(cert), Some(key)) => {
                    let pair = CertPair { cert_pem: cert, key_pem: key };
                    let mismatch = pki::check_existing(&pair, Some(&spec.identity), Some(ca_cert), ctx.now)
                        .map_err(|reason| PkiError::Unparseable { file: crt.clone(), reason })?;
                    if let Some(mismatch) = mismatch {
                        return Err(PkiError::Mismatch { file: crt, mismatch }.into());
                    }
                    plan.steps.push(Step::Keep { path: path(ctx, &crt)?, reason: "existing certificate matches the configuration; reused".into() });
                }
                (Some(_), None) => return Err(PkiError::HalfPair { present: crt, missing: format!("{}.key", spec.file) }.into()),
                (None, Some(_)) if !orphan_key(ctx, spec.file)? => {
                    return Err(PkiError::HalfPair { present: format!("{}.key", spec.file), missing: crt }.into())
                }
                (None, _) => {
                    let Some(ca_key) = ca_key else {
                        return Err(PkiError::ExternalCaMissingLeaf { file: crt, ca: format!("{ca_file}.crt") }.into());
                    };
                    let ca = CertPair { cert_pem: ca_cert.clone(), key_pem: ca_key.clone() };
                    let pair = pki::issue_leaf(&spec.identity, &ca, ctx.cfg.cert_validity, ctx.now)?;
                    write_pair(ctx, &mut plan, spec.file, &pair)?;
                }
            }
        }
    }
    Ok(plan)
}

/// The service-account key pair: reused if both halves exist and belong together.
fn render_sa(ctx: &Ctx, plan: &mut Plan) -> Result<(), PhaseError> {
    let (key_path, pub_path) = (path(ctx, "sa.key")?, path(ctx, "sa.pub")?);
    match (ctx.view.read_text(&key_path)?, ctx.view.read_text(&pub_path)?) {
        (Some(key), Some(public)) => {
            let k = pki::keys::load_key(&key).map_err(|reason| PkiError::Unparseable { file: "sa.key".into(), reason })?;
            let same = pem::parse(public.as_bytes()).map(|p| p.contents() == rcgen::PublicKeyData::subject_public_key_info(&k).as_slice()).unwrap_or(false);
            if !same {
                return Err(PkiError::Mismatch { file: "sa.pub".into(), mismatch: "it is not the public half of sa.key".into() }.into());
            }
            plan.steps.push(Step::Keep { path: key_path, reason: "existing service-account key pair reused".into() });
        }
        (Some(_), None) if !interrupted(ctx, &key_path)? => return Err(PkiError::HalfPair { present: "sa.key".into(), missing: "sa.pub".into() }.into()),
        (None, Some(_)) => return Err(PkiError::HalfPair { present: "sa.pub".into(), missing: "sa.key".into() }.into()),
        (orphan, None) => {
            // The private key first (see write_pair); an orphan key of a killed run is replaced.
            let (key, public) = pki::issue_sa_key()?;
            let policy = if orphan.is_some() { WritePolicy::Replace } else { WritePolicy::CreateOnly };
            plan.write(key_path, key, KEY_MODE, policy, FileKind::PrivateKey);
            plan.write(pub_path, public, CERT_MODE, WritePolicy::CreateOnly, FileKind::PublicKey);
        }
    }
    Ok(())
}
