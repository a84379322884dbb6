//! Validated network types for the config: CIDR prefixes and the address arithmetic kubeadm does on them.
//!
//! Pure.

use std::fmt;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::str::FromStr;

/// An IP prefix such as `10.96.0.0/12`, stored with its host bits cleared.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Cidr {
    addr: IpAddr,
    prefix: u8,
}

impl Cidr {
    /// Prefix length.
    pub fn prefix(&self) -> u8 {
        self.prefix
    }

    /// Network address.
    pub fn network(&self) -> IpAddr {
        self.addr
    }

    /// Whether this is an IPv4 prefix.
    pub fn is_ipv4(&self) -> bool {
        self.addr.is_ipv4()
    }

    fn bits(&self) -> u32 {
        if self.is_ipv4() {
            32
        } else {
            128
        }
    }

    /// Number of host bits (`32 - prefix` for IPv4).
    pub fn host_bits(&self) -> u32 {
        self.bits() - u32::from(self.prefix)
    }

    /// The `n`th address of the range (the network address is the 0th), if the range has one.
    /// kubeadm gives the API server the 1st service IP and CoreDNS the 10th.
    pub fn nth(&self, n: u128) -> Option<IpAddr> {
        let size: u128 = if self.host_bits() >= 128 { u128::MAX } else { (1u128 << self.host_bits()) - 1 };
        if n > size {
            return None;
        }
        Some(match self.addr {
            IpAddr::V4(a) => IpAddr::V4(Ipv4Addr::from(u32::from(a).wrapping_add(n as u32))),
            IpAddr::V6(a) => IpAddr::V6(Ipv6Addr::from(u128::from(a).wrapping_add(n))),
        })
    }

    /// Whether `ip` lies in this range.
    pub fn contains(&self, ip: &IpAddr) -> bool {
        match (self.addr, ip) {
            (IpAddr::V4(n), IpAddr::V4(a)) => mask_v4(u32::from(*a), self.prefix) == u32::from(n),
            (IpAddr::V6(n), IpAddr::V6(a)) => mask_v6(u128::from(*a), self.prefix) == u128::from(n),
            _ => false,
        }
    }

    /// Whether the two ranges share any address.
    pub fn overlaps(&self, other: &Cidr) -> bool {
        self.contains(&other.addr) || other.contains(&self.addr)
    }
}

fn mask_v4(a: u32, prefix: u8) -> u32 {
    if prefix == 0 {
        0
    } else {
        a & (u32::MAX << (32 - u32::from(prefix)))
    }
}

fn mask_v6(a: u128, prefix: u8) -> u128 {
    if prefix == 0 {
        0
    } else {
        a & (u128::MAX << (128 - u32::from(prefix)))
    }
}

/// Why a string is not a CIDR.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0:?} is not a CIDR: expected an address and a prefix length, e.g. 10.96.0.0/12")]
pub struct CidrError(pub String);

impl FromStr for Cidr {
    type Err = CidrError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let bad = || CidrError(s.to_string());
        let (addr, prefix) = s.trim().split_once('/').ok_or_else(bad)?;
        let addr: IpAddr = addr.parse().map_err(|_| bad())?;
        if prefix.is_empty() || !prefix.bytes().all(|b| b.is_ascii_digit()) {
            return Err(bad());
        }
        let prefix: u8 = prefix.parse().map_err(|_| bad())?;
        let addr = match addr {
            IpAddr::V4(a) if prefix <= 32 => IpAddr::V4(Ipv4Addr::from(mask_v4(u32::from(a), prefix))),
            IpAddr::V6(a) if prefix <= 128 => IpAddr::V6(Ipv6Addr::from(mask_v6(u128::from(a), prefix))),
            _ => return Err(bad()),
        };
        Ok(Cidr { addr, prefix })
    }
}

impl fmt::Display for Cidr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.addr, self.prefix)
    }
}

/// Whether `ip` can be a node's advertise address: a unicast address that is neither unspecified,
/// loopback-free is not required (single-node test setups advertise 127.0.0.1), multicast nor broadcast.
pub fn is_unicast(ip: &IpAddr) -> bool {
    match ip {
        IpAddr::V4(a) => !a.is_unspecified() && !a.is_multicast() && !a.is_broadcast(),
        IpAddr::V6(a) => !a.is_unspecified() && !a.is_multicast(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_and_normalises() {
        let c: Cidr = "10.96.5.7/12".parse().unwrap();
        assert_eq!(c.to_string(), "10.96.0.0/12");
        assert_eq!(c.nth(1).unwrap().to_string(), "10.96.0.1");
        assert_eq!(c.nth(10).unwrap().to_string(), "10.96.0.10");
        assert!(c.contains(&"10.111.255.255".parse().unwrap()));
        assert!(!c.contains(&"10.112.0.0".parse().unwrap()));
        let v6: Cidr = "fd00::/108".parse().unwrap();
        assert_eq!(v6.nth(10).unwrap().to_string(), "fd00::a");
        let tiny: Cidr = "10.0.0.0/30".parse().unwrap();
        assert_eq!(tiny.nth(3).unwrap().to_string(), "10.0.0.3");
        assert!(tiny.nth(4).is_none());
    }

    #[test]
    fn refuses_garbage() {
        for bad in ["", "10.0.0.0", "10.0.0.0/33", "10.0.0/8", "foo/8", "10.0.0.0/", "10.0.0.0/-1", "::/129"] {
            assert!(bad.parse::<Cidr>().is_err(), "{bad}");
        }
    }

    #[test]
    fn overlap() {
        let a: Cidr = "10.96.0.0/12".parse().unwrap();
        let b: Cidr = "10.100.0.0/16".parse().unwrap();
        let c: Cidr = "10.244.0.0/16".parse().unwrap();
        assert!(a.overlaps(&b) && b.overlaps(&a));
        assert!(!a.overlaps(&c));
    }
}
