//! The `certificateRenewal` section (kubeup only): whether and when a control-plane node renews
//! its certificates by itself, and whether it approves kubelet serving certificates.
//!
//! Pure.

use serde::{Deserialize, Serialize};

use super::GoDuration;

/// `certificateRenewal` as a user writes it (all optional).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct CertificateRenewal {
    /// Renew automatically (default true): the kubeup-cert-renewer container on every control-plane node.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub automatic: Option<bool>,
    /// Renew once this share of a certificate's lifetime has passed, in percent (default 67).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub renew_after_percent: Option<u8>,
    /// How often the renewer looks at least (default 1h; it also wakes when a renewal is due).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub check_interval: Option<GoDuration>,
    /// Kubelets get serving certificates signed by the cluster CA (`serverTLSBootstrap`), their
    /// CSRs approved by the renewer after checking them, and the API server verifies kubelets
    /// (default true).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub kubelet_serving_certificates: Option<bool>,
}

impl CertificateRenewal {
    /// Whether nothing is set.
    pub fn is_empty(&self) -> bool {
        *self == CertificateRenewal::default()
    }

    /// `top`'s values over these.
    pub fn overlay(&mut self, top: &CertificateRenewal) {
        self.automatic = top.automatic.or(self.automatic);
        self.renew_after_percent = top.renew_after_percent.or(self.renew_after_percent);
        self.check_interval = top.check_interval.or(self.check_interval);
        self.kubelet_serving_certificates = top.kubelet_serving_certificates.or(self.kubelet_serving_certificates);
    }
}

/// The resolved renewal settings of a node.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Renewal {
    /// Renew automatically.
    pub automatic: bool,
    /// Percent of the lifetime after which a certificate is renewed.
    pub renew_after_percent: u8,
    /// Seconds between looks at least.
    pub check_interval_secs: u64,
    /// Verified kubelet serving certificates.
    pub kubelet_serving_certificates: bool,
}

impl Default for Renewal {
    fn default() -> Self {
        Renewal { automatic: true, renew_after_percent: 67, check_interval_secs: 3600, kubelet_serving_certificates: true }
    }
}

/// Resolve and check the section.
pub fn resolve(c: &CertificateRenewal) -> Result<Renewal, (&'static str, String)> {
    let d = Renewal::default();
    let percent = c.renew_after_percent.unwrap_or(d.renew_after_percent);
    if !(1..=99).contains(&percent) {
        return Err(("certificateRenewal.renewAfterPercent", format!("{percent} must be between 1 and 99")));
    }
    let interval = c.check_interval.map_or(d.check_interval_secs, |g| g.0.as_secs());
    if interval == 0 {
        return Err(("certificateRenewal.checkInterval", "must be at least 1s".into()));
    }
    Ok(Renewal {
        automatic: c.automatic.unwrap_or(d.automatic),
        renew_after_percent: percent,
        check_interval_secs: interval,
        kubelet_serving_certificates: c.kubelet_serving_certificates.unwrap_or(d.kubelet_serving_certificates),
    })
}
