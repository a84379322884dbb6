//! Go-style durations (`8760h0m0s`, `24h`, `90s`) as used by kubeadm's config API.
//!
//! Pure.

use std::fmt;
use std::str::FromStr;
use std::time::Duration;

/// A duration written the way Kubernetes configs write them.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, PartialOrd, Ord)]
pub struct GoDuration(pub Duration);

/// Why a duration string was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0:?} is not a duration: expected e.g. 8760h0m0s, 24h or 90s")]
pub struct DurationError(pub String);

impl FromStr for GoDuration {
    type Err = DurationError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let bad = || DurationError(s.to_string());
        let s = s.trim();
        if s == "0" {
            return Ok(GoDuration(Duration::ZERO));
        }
        let mut total_ms: u128 = 0;
        let mut rest = s;
        if rest.is_empty() {
            return Err(bad());
        }
        while !rest.is_empty() {
            let digits = rest.bytes().take_while(|b| b.is_ascii_digit()).count();
            if digits == 0 {
                return Err(bad());
            }
            let n: u128 = rest[..digits].parse().map_err(|_| bad())?;
            rest = &rest[digits..];
            let (unit_ms, len) = if rest.starts_with("ms") {
                (1, 2)
            } else if rest.starts_with('h') {
                (3_600_000, 1)
            } else if rest.starts_with('m') {
                (60_000, 1)
            } else if rest.starts_with('s') {
                (1_000, 1)
            } else {
                return Err(bad());
            };
            rest = &rest[len..];
            total_ms = n.checked_mul(unit_ms).and_then(|v| v.checked_add(total_ms)).ok_or_else(bad)?;
        }
        let ms = u64::try_from(total_ms).map_err(|_| bad())?;
        Ok(GoDuration(Duration::from_millis(ms)))
    }
}

impl fmt::Display for GoDuration {
    /// Formats as Go does for whole seconds: `8760h0m0s`, `5m0s`, `30s`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let secs = self.0.as_secs();
        let (h, m, s) = (secs / 3600, (secs % 3600) / 60, secs % 60);
        if h > 0 {
            write!(f, "{h}h{m}m{s}s")
        } else if m > 0 {
            write!(f, "{m}m{s}s")
        } else {
            write!(f, "{s}s")
        }
    }
}

impl serde::Serialize for GoDuration {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

impl<'de> serde::Deserialize<'de> for GoDuration {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        s.parse().map_err(serde::de::Error::custom)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trips_kubeadm_values() {
        for (s, secs, out) in [("8760h0m0s", 8760 * 3600, "8760h0m0s"), ("24h", 86400, "24h0m0s"), ("90s", 90, "1m30s"), ("0", 0, "0s")] {
            let d: GoDuration = s.parse().unwrap();
            assert_eq!(d.0.as_secs(), secs);
            assert_eq!(d.to_string(), out);
        }
        assert_eq!("1500ms".parse::<GoDuration>().unwrap().0.as_millis(), 1500);
        for bad in ["", "h", "10", "10d", "1h-1m", "x1h"] {
            assert!(bad.parse::<GoDuration>().is_err(), "{bad}");
        }
    }
}
