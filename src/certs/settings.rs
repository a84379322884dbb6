//! How this node renews its certificates, as `init` (or a control-plane join) decided it. Kept
//! on the host at [`SETTINGS_PATH`] so that the renewer container, `certs check-expiration` and
//! `certs renew` read one source of truth.

use std::time::Duration;

use serde::{Deserialize, Serialize};

/// Where the settings live on the host.
pub const SETTINGS_PATH: &str = "/var/lib/kubeup/certificate-renewal.json";

/// Renewal settings.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct RenewalSettings {
    /// Whether the renewer container renews automatically.
    pub automatic: bool,
    /// Renew once this share (percent) of a certificate's lifetime has passed.
    pub renew_after_percent: u8,
    /// How often the renewer looks at least (it also wakes when the next renewal is due).
    pub check_interval_secs: u64,
    /// The lifetime of a renewed leaf certificate.
    pub validity_secs: u64,
    /// Whether the renewer approves kubelet serving CSRs that pass [`super::csr_policy`].
    pub approve_kubelet_serving: bool,
}

impl Default for RenewalSettings {
    fn default() -> Self {
        RenewalSettings { automatic: true, renew_after_percent: 67, check_interval_secs: 3600, validity_secs: 8760 * 3600, approve_kubelet_serving: true }
    }
}

impl RenewalSettings {
    /// Parse the file's bytes.
    pub fn parse(bytes: &[u8]) -> Result<RenewalSettings, String> {
        let s: RenewalSettings = serde_json::from_slice(bytes).map_err(|e| format!("{SETTINGS_PATH} is not valid ({e}); move it away to use the defaults"))?;
        s.check().map(|()| s)
    }

    /// The limits every setting must respect.
    pub fn check(&self) -> Result<(), String> {
        if !(1..=99).contains(&self.renew_after_percent) {
            return Err(format!("renewAfterPercent {} must be between 1 and 99", self.renew_after_percent));
        }
        if self.check_interval_secs == 0 || self.validity_secs == 0 {
            return Err("checkInterval and the certificate validity must be longer than 0".into());
        }
        Ok(())
    }

    /// The file's bytes.
    pub fn to_bytes(&self) -> Vec<u8> {
        let mut v = serde_json::to_vec_pretty(self).unwrap_or_default();
        v.push(b'\n');
        v
    }

    /// The leaf validity as a duration.
    pub fn validity(&self) -> Duration {
        Duration::from_secs(self.validity_secs)
    }

    /// When a certificate valid from `not_before` to `not_after` is due: when the configured
    /// share of its lifetime has passed. The lifetime counted is at most the configured
    /// validity: kubeadm ≤1.30 starts every leaf at its CA's own start (years back), and a
    /// backdated start would otherwise count the backdating as life already lived.
    pub fn renew_at(&self, not_before: time::OffsetDateTime, not_after: time::OffsetDateTime) -> time::OffsetDateTime {
        let life = (not_after - not_before).min(time::Duration::seconds(i64::try_from(self.validity_secs).unwrap_or(i64::MAX)));
        not_after - life * (f64::from(100 - self.renew_after_percent) / 100.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use time::OffsetDateTime;

    #[test]
    fn due_at_the_configured_share_of_the_lifetime() {
        let s = RenewalSettings { validity_secs: 3 * 3600, ..Default::default() };
        let t0 = OffsetDateTime::from_unix_timestamp(1_767_225_600).unwrap();
        let due = s.renew_at(t0, t0 + time::Duration::hours(3));
        assert_eq!(due, t0 + time::Duration::seconds(2 * 3600 + 36));
        // Backdated five minutes: the backdating is not life lived.
        assert_eq!(s.renew_at(t0 - time::Duration::minutes(5), t0 + time::Duration::hours(3)), due);
        // kubeadm ≤1.30: a one-year leaf starting at its ten-year CA's start is due a third of a
        // year before it ends, not in six years.
        let year = RenewalSettings::default();
        let end = t0 + time::Duration::days(365);
        let due = year.renew_at(t0 - time::Duration::days(2000), end);
        assert!(end - due > time::Duration::days(120) && end - due < time::Duration::days(121), "{}", end - due);
    }

    #[test]
    fn bad_files_and_limits_are_named() {
        assert!(RenewalSettings::parse(b"{").unwrap_err().contains("move it away"));
        let s = RenewalSettings { renew_after_percent: 100, ..Default::default() };
        assert!(RenewalSettings::parse(&s.to_bytes()).unwrap_err().contains("between 1 and 99"));
        assert_eq!(RenewalSettings::parse(&RenewalSettings::default().to_bytes()).unwrap(), RenewalSettings::default());
    }
}
