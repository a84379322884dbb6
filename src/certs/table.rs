//! `certs check-expiration` output: kubeadm's two tables (same columns, dates and residual-time
//! format, so scripts written for kubeadm keep working) with one more column, when kubeup will
//! renew each certificate; and the same as JSON.

use serde_json::json;
use time::format_description::well_known::Rfc3339;
use time::OffsetDateTime;

use super::inventory::Inventory;

/// kubeadm's date format: `Aug 19, 2026 09:03 UTC`.
pub fn date(t: OffsetDateTime) -> String {
    const MONTHS: [&str; 12] = ["Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"];
    let t = t.to_offset(time::UtcOffset::UTC);
    format!("{} {:02}, {} {:02}:{:02} UTC", MONTHS[usize::from(u8::from(t.month())) - 1], t.day(), t.year(), t.hour(), t.minute())
}

/// apimachinery's `ShortHumanDuration`, as kubeadm prints the residual time.
pub fn residual(left: time::Duration) -> String {
    let s = left.whole_seconds();
    match s {
        s if s < -1 => "<invalid>".into(),
        s if s < 0 => "0s".into(),
        s if s < 60 => format!("{s}s"),
        s if s < 3600 => format!("{}m", s / 60),
        s if s < 86_400 => format!("{}h", s / 3600),
        s if s < 365 * 86_400 => format!("{}d", s / 86_400),
        s => format!("{}y", s / (365 * 86_400)),
    }
}

fn yes_no(b: bool) -> &'static str {
    if b {
        "yes"
    } else {
        "no"
    }
}

fn renewal(external: bool, at: Option<OffsetDateTime>, now: OffsetDateTime) -> String {
    match at {
        _ if external => "no (external CA)".into(),
        None => "off".into(),
        Some(t) if t <= now => "due now".into(),
        Some(t) => date(t),
    }
}

/// The text tables.
pub fn text(inv: &Inventory, now: OffsetDateTime) -> String {
    let mut rows = vec![[
        "CERTIFICATE".to_string(),
        "EXPIRES".into(),
        "RESIDUAL TIME".into(),
        "CERTIFICATE AUTHORITY".into(),
        "EXTERNALLY MANAGED".into(),
        "AUTOMATIC RENEWAL".into(),
    ]];
    for c in &inv.certs {
        rows.push([
            c.spec.name.into(),
            date(c.not_after),
            residual(c.not_after - now),
            c.spec.ca.into(),
            yes_no(c.external).into(),
            renewal(c.external, c.renew_at, now),
        ]);
    }
    for m in &inv.missing {
        rows.push([(*m).into(), "!MISSING!".into(), String::new(), String::new(), String::new(), String::new()]);
    }
    let mut out = columns(&rows);
    out.push('\n');
    let mut cas = vec![["CERTIFICATE AUTHORITY".to_string(), "EXPIRES".into(), "RESIDUAL TIME".into(), "EXTERNALLY MANAGED".into()]];
    for c in &inv.cas {
        cas.push([c.name.into(), date(c.not_after), residual(c.not_after - now), yes_no(c.external).into()]);
    }
    out.push_str(&columns(&cas));
    out
}

/// Left-aligned columns separated by three spaces, as kubeadm's tabwriter prints them.
fn columns<const N: usize>(rows: &[[String; N]]) -> String {
    let mut width = [0usize; N];
    for r in rows {
        for (i, cell) in r.iter().enumerate() {
            width[i] = width[i].max(cell.chars().count());
        }
    }
    let mut out = String::new();
    for r in rows {
        let line: Vec<String> = r.iter().enumerate().map(|(i, c)| format!("{c:<w$}", w = width[i])).collect();
        out.push_str(line.join("   ").trim_end());
        out.push('\n');
    }
    out
}

fn rfc3339(t: OffsetDateTime) -> String {
    t.format(&Rfc3339).unwrap_or_default()
}

/// The same as JSON.
pub fn json(inv: &Inventory, now: OffsetDateTime) -> serde_json::Value {
    json!({
        "certificates": inv.certs.iter().map(|c| json!({
            "name": c.spec.name,
            "path": c.path.to_string(),
            "expirationDate": rfc3339(c.not_after),
            "residualTimeSeconds": (c.not_after - now).whole_seconds(),
            "certificateAuthority": c.spec.ca,
            "externallyManaged": c.external,
            "renewAt": c.renew_at.map(rfc3339),
        })).collect::<Vec<_>>(),
        "missing": inv.missing,
        "certificateAuthorities": inv.cas.iter().map(|c| json!({
            "name": c.name,
            "expirationDate": rfc3339(c.not_after),
            "residualTimeSeconds": (c.not_after - now).whole_seconds(),
            "externallyManaged": c.external,
        })).collect::<Vec<_>>(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dates_and_residual_times_as_kubeadm_prints_them() {
        let t = OffsetDateTime::from_unix_timestamp(1_787_130_180).unwrap(); // 2026-08-19 09:03 UTC
        assert_eq!(date(t), "Aug 19, 2026 09:03 UTC");
        let d = time::Duration::seconds;
        assert_eq!(residual(d(-5)), "<invalid>");
        assert_eq!(residual(d(-1)), "0s");
        assert_eq!(residual(d(59)), "59s");
        assert_eq!(residual(d(179)), "2m");
        assert_eq!(residual(d(7200)), "2h");
        assert_eq!(residual(d(360 * 86_400)), "360d");
        assert_eq!(residual(d(3650 * 86_400)), "10y");
    }
}
