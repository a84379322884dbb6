//! EDGE: IP routes through rtnetlink, so that the bridge agent needs no `ip` binary (kubeup's
//! image holds one static binary). Only what the agent needs: list, replace and delete routes
//! in the main table that carry kubeup's protocol number, which marks them as kubeup's own so
//! a restarted agent finds and cleans up its earlier routes and never touches anyone else's.

use std::net::IpAddr;
use std::os::fd::{AsRawFd, OwnedFd};

use nix::sys::socket::{bind, recv, send, socket, AddressFamily, MsgFlags, NetlinkAddr, SockFlag, SockProtocol, SockType};

/// `rtm_protocol` of kubeup's routes (unassigned in /etc/iproute2/rt_protos).
pub const KUBEUP_PROTO: u8 = crate::objects::pod_network::ROUTE_PROTO;

const RTM_NEWROUTE: u16 = 24;
const RTM_DELROUTE: u16 = 25;
const RTM_GETROUTE: u16 = 26;
const NLMSG_ERROR: u16 = 2;
const NLMSG_DONE: u16 = 3;
const NLM_F_REQUEST: u16 = 1;
const NLM_F_ACK: u16 = 4;
const NLM_F_DUMP: u16 = 0x300;
const NLM_F_REPLACE: u16 = 0x100;
const NLM_F_CREATE: u16 = 0x400;
const RT_TABLE_MAIN: u8 = 254;
const RTN_UNICAST: u8 = 1;
const RTA_DST: u16 = 1;
const RTA_GATEWAY: u16 = 5;

/// One route: `dst/len via gateway`.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Route {
    /// Destination network.
    pub dst: IpAddr,
    /// Prefix length.
    pub len: u8,
    /// Next hop.
    pub via: IpAddr,
}

impl std::fmt::Display for Route {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}/{} via {}", self.dst, self.len, self.via)
    }
}

fn octets(ip: &IpAddr) -> Vec<u8> {
    match ip {
        IpAddr::V4(a) => a.octets().to_vec(),
        IpAddr::V6(a) => a.octets().to_vec(),
    }
}

fn family(ip: &IpAddr) -> u8 {
    if ip.is_ipv4() {
        2
    } else {
        10
    }
}

fn attr(buf: &mut Vec<u8>, kind: u16, data: &[u8]) {
    buf.extend_from_slice(&((4 + data.len()) as u16).to_ne_bytes());
    buf.extend_from_slice(&kind.to_ne_bytes());
    buf.extend_from_slice(data);
    while !buf.len().is_multiple_of(4) {
        buf.push(0);
    }
}

/// A netlink request: header, rtmsg, attributes.
fn message(kind: u16, flags: u16, seq: u32, rtm: [u8; 12], attrs: &[(u16, Vec<u8>)]) -> Vec<u8> {
    let mut body = rtm.to_vec();
    for (k, d) in attrs {
        attr(&mut body, *k, d);
    }
    let mut m = Vec::with_capacity(16 + body.len());
    m.extend_from_slice(&((16 + body.len()) as u32).to_ne_bytes());
    m.extend_from_slice(&kind.to_ne_bytes());
    m.extend_from_slice(&flags.to_ne_bytes());
    m.extend_from_slice(&seq.to_ne_bytes());
    m.extend_from_slice(&0u32.to_ne_bytes());
    m.extend_from_slice(&body);
    m
}

fn rtmsg(fam: u8, dst_len: u8, protocol: u8) -> [u8; 12] {
    // family, dst_len, src_len, tos, table, protocol, scope (universe), type, flags (u32)
    [fam, dst_len, 0, 0, RT_TABLE_MAIN, protocol, 0, RTN_UNICAST, 0, 0, 0, 0]
}

/// A netlink route socket.
pub struct Netlink {
    fd: OwnedFd,
    seq: u32,
}

fn u16_at(b: &[u8], i: usize) -> u16 {
    u16::from_ne_bytes([b[i], b[i + 1]])
}

fn u32_at(b: &[u8], i: usize) -> u32 {
    u32::from_ne_bytes([b[i], b[i + 1], b[i + 2], b[i + 3]])
}

fn ip_from(b: &[u8]) -> Option<IpAddr> {
    match b.len() {
        4 => Some(IpAddr::from(<[u8; 4]>::try_from(b).ok()?)),
        16 => Some(IpAddr::from(<[u8; 16]>::try_from(b).ok()?)),
        _ => None,
    }
}

impl Netlink {
    /// Open a route socket.
    pub fn open() -> std::io::Result<Netlink> {
        let fd = socket(AddressFamily::Netlink, SockType::Raw, SockFlag::SOCK_CLOEXEC, SockProtocol::NetlinkRoute)?;
        bind(fd.as_raw_fd(), &NetlinkAddr::new(0, 0))?;
        Ok(Netlink { fd, seq: 1 })
    }

    /// Send one request and read replies until its ACK/DONE; returns the payloads of data
    /// messages (dumps).
    fn request(&mut self, msg: Vec<u8>) -> std::io::Result<Vec<Vec<u8>>> {
        let seq = self.seq;
        self.seq += 1;
        let mut msg = msg;
        msg[8..12].copy_from_slice(&seq.to_ne_bytes());
        send(self.fd.as_raw_fd(), &msg, MsgFlags::empty())?;
        let mut out = Vec::new();
        let mut buf = vec![0u8; 65536];
        loop {
            let n = recv(self.fd.as_raw_fd(), &mut buf, MsgFlags::empty())?;
            let mut i = 0;
            while i + 16 <= n {
                let len = u32_at(&buf, i) as usize;
                if len < 16 || i + len > n {
                    return Err(std::io::Error::other("malformed netlink reply"));
                }
                let kind = u16_at(&buf, i + 4);
                let this_seq = u32_at(&buf, i + 8);
                let payload = &buf[i + 16..i + len];
                if this_seq == seq {
                    match kind {
                        NLMSG_DONE => return Ok(out),
                        NLMSG_ERROR => {
                            let code = i32::from_ne_bytes([payload[0], payload[1], payload[2], payload[3]]);
                            return if code == 0 { Ok(out) } else { Err(std::io::Error::from_raw_os_error(-code)) };
                        }
                        _ => out.push(payload.to_vec()),
                    }
                }
                i += (len + 3) & !3;
            }
        }
    }

    /// kubeup's routes in the main table.
    pub fn kubeup_routes(&mut self) -> std::io::Result<Vec<Route>> {
        let mut routes = Vec::new();
        for fam in [2u8, 10u8] {
            let replies = self.request(message(RTM_GETROUTE, NLM_F_REQUEST | NLM_F_DUMP, 0, rtmsg(fam, 0, 0), &[]))?;
            for p in replies {
                if p.len() < 12 || p[4] != RT_TABLE_MAIN || p[5] != KUBEUP_PROTO {
                    continue;
                }
                let (mut dst, mut via) = (None, None);
                let mut i = 12;
                while i + 4 <= p.len() {
                    let len = u16_at(&p, i) as usize;
                    if len < 4 || i + len > p.len() {
                        break;
                    }
                    match u16_at(&p, i + 2) {
                        RTA_DST => dst = ip_from(&p[i + 4..i + len]),
                        RTA_GATEWAY => via = ip_from(&p[i + 4..i + len]),
                        _ => {}
                    }
                    i += (len + 3) & !3;
                }
                if let (Some(dst), Some(via)) = (dst, via) {
                    routes.push(Route { dst, len: p[1], via });
                }
            }
        }
        Ok(routes)
    }

    /// `ip route replace dst/len via gw proto 0x4b`.
    pub fn replace(&mut self, r: &Route) -> std::io::Result<()> {
        let m = message(
            RTM_NEWROUTE,
            NLM_F_REQUEST | NLM_F_ACK | NLM_F_CREATE | NLM_F_REPLACE,
            0,
            rtmsg(family(&r.dst), r.len, KUBEUP_PROTO),
            &[(RTA_DST, octets(&r.dst)), (RTA_GATEWAY, octets(&r.via))],
        );
        self.request(m).map(|_| ())
    }

    /// `ip route del dst/len via gw proto 0x4b`.
    pub fn delete(&mut self, r: &Route) -> std::io::Result<()> {
        let m = message(
            RTM_DELROUTE,
            NLM_F_REQUEST | NLM_F_ACK,
            0,
            rtmsg(family(&r.dst), r.len, KUBEUP_PROTO),
            &[(RTA_DST, octets(&r.dst)), (RTA_GATEWAY, octets(&r.via))],
        );
        self.request(m).map(|_| ())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_route_message_has_the_kernel_layout() {
        let m = message(
            RTM_NEWROUTE,
            NLM_F_REQUEST | NLM_F_ACK,
            7,
            rtmsg(2, 24, KUBEUP_PROTO),
            &[(RTA_DST, vec![10, 244, 1, 0]), (RTA_GATEWAY, vec![172, 29, 0, 12])],
        );
        assert_eq!(m.len(), 16 + 12 + 8 + 8);
        assert_eq!(u32_at(&m, 0) as usize, m.len());
        assert_eq!(u16_at(&m, 4), RTM_NEWROUTE);
        assert_eq!(u32_at(&m, 8), 7);
        assert_eq!(&m[16..22], &[2, 24, 0, 0, RT_TABLE_MAIN, KUBEUP_PROTO]);
        assert_eq!(&m[28..36], &[8, 0, 1, 0, 10, 244, 1, 0]);
        assert_eq!(&m[36..44], &[8, 0, 5, 0, 172, 29, 0, 12]);
    }
}
