//! Which worker owns a frame's flow: all flows of one client (masked by the persistence
//! prefix) on one worker, FULLNAT replies on the owner of their local port, ICMP errors
//! on the owner of the flow they quote.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use super::state::*;
use crate::frame::Frame;
use crate::service::proto;
use crate::tables::Tables;
use crate::wire::ip_proto;
use crate::wire::ipv6::HEADER_LEN as IP6_HDR;
use crate::xmit::fullnat::port_owner;
use crate::xmit::icmp;

/// The worker that owns every flow of client address `client` among `workers`.
///
/// All flows of one client land on one worker, so its persistence templates and
/// connections live in one place; both directions of a NAT flow name the client (source
/// inbound, destination outbound), so both reach the same owner.
#[inline]
pub fn owner_of(client: Ipv4Addr, workers: usize) -> usize {
    // Multiplicative hash, then range reduction without division.
    let h = u32::from(client).wrapping_mul(0x9E37_79B1);
    ((h as u64 * workers as u64) >> 32) as usize
}

/// The worker that owns every flow of IPv6 client address `client` (already masked by the
/// persistence prefix) among `workers`: the IPv6 counterpart of [`owner_of`].
#[inline]
pub fn owner_of6(client: Ipv6Addr, workers: usize) -> usize {
    let a = u128::from(client);
    // Fold to 64 bits, multiplicative hash, keep the well-mixed top 32 bits.
    let h = (((a >> 64) as u64) ^ (a as u64)).wrapping_mul(0x9E37_79B9_7F4A_7C15) >> 32;
    ((h * workers as u64) >> 32) as usize
}

impl<P: Frame> Pipeline<P> {
    /// Which worker owns `frame`'s flow, or None when any worker may handle it (ARP,
    /// non-IP, malformed: those are handled, or counted, where they arrive).
    #[inline]
    pub fn owner(&self, t: &Tables, frame: &[u8]) -> Option<usize> {
        if self.cfg.workers >= 2 && frame.len() >= ETH_HDR && frame[12..14] == [0x86, 0xdd] {
            return self.owner6(t, frame);
        }
        if self.cfg.workers < 2 || frame.len() < ETH_HDR + 20 || frame[12..14] != [0x08, 0x00] {
            return None;
        }
        let ip = &frame[ETH_HDR..];
        let mut src = Ipv4Addr::new(ip[12], ip[13], ip[14], ip[15]);
        let mut dst = Ipv4Addr::new(ip[16], ip[17], ip[18], ip[19]);
        // An ICMP error belongs to the flow of the packet it quotes; a FULLNAT one from the
        // real server's side (quoting LIP:lport -> RIP) to the owner of the local port.
        if let Some(lport) = icmp::quoted_local_port::<Ipv4Addr>(t, ip) {
            return Some(port_owner(lport, self.cfg.workers));
        }
        if let Some((s, d)) = icmp::quoted_flow::<Ipv4Addr>(t, ip) {
            (src, dst) = (s, d);
        } else if t.snat.is_lip(dst) {
            // A FULLNAT reply belongs to the worker whose share of the local ports holds
            // its destination port; a later fragment has no port (handled where it
            // arrives: with several workers it finds its first fragment's decision only
            // there).
            if ip[6] & 0x1f != 0 || ip[7] != 0 {
                return None;
            }
            let l4 = usize::from(ip[0] & 0x0f) * 4;
            return match (ip[9], ip.get(l4 + 2..l4 + 4)) {
                (proto::TCP | proto::UDP, Some(p)) => Some(port_owner(
                    u16::from_be_bytes([p[0], p[1]]),
                    self.cfg.workers,
                )),
                _ => None,
            };
        }
        let client = if t.services.is_vip(dst) { src } else { dst };
        let prefix = t.services.steer_prefix();
        let masked = if prefix >= 32 {
            client
        } else {
            Ipv4Addr::from(u32::from(client) & !(u32::MAX >> prefix))
        };
        Some(owner_of(masked, self.cfg.workers))
    }

    /// Which worker owns an IPv6 frame's flow (TCP/UDP, and ICMPv6 errors by the flow they
    /// quote; NDP and other ICMPv6 are handled where they arrive).
    #[inline]
    pub(crate) fn owner6(&self, t: &Tables, frame: &[u8]) -> Option<usize> {
        if frame.len() < ETH_HDR + IP6_HDR {
            return None;
        }
        let ip = &frame[ETH_HDR..];
        // Fragments by their addresses as their datagram's other packets.
        let (src, dst) = match ip[6] {
            ip_proto::TCP | ip_proto::UDP | ip_proto::FRAGMENT => (
                crate::wire::read_ipv6(&ip[8..24]),
                crate::wire::read_ipv6(&ip[24..40]),
            ),
            ip_proto::ICMPV6 => icmp::quoted_flow::<Ipv6Addr>(t, ip)?,
            _ => return None,
        };
        if let Some(lport) = icmp::quoted_local_port::<Ipv6Addr>(t, ip) {
            // An error about a FULLNAT packet sent to a real server.
            return Some(port_owner(lport, self.cfg.workers));
        }
        if ip[6] != ip_proto::ICMPV6 && t.snat.is_lip(dst) {
            // A FULLNAT reply: to the worker whose share of the local ports holds its
            // destination port (as for IPv4).
            // Past the Fragment header (of a first fragment: later ones have no port).
            let at = if ip[6] == ip_proto::FRAGMENT {
                let off = ip.get(IP6_HDR + 2..IP6_HDR + 4)?;
                if off[0] != 0 || off[1] & 0xf8 != 0 {
                    return None;
                }
                IP6_HDR + 8
            } else {
                IP6_HDR
            };
            let p = ip.get(at + 2..at + 4)?;
            return Some(port_owner(
                u16::from_be_bytes([p[0], p[1]]),
                self.cfg.workers,
            ));
        }
        let client = if t.services.is_vip6(dst) { src } else { dst };
        let IpAddr::V6(masked) =
            conn_table::mask_client(IpAddr::V6(client), t.services.steer_prefix6())
        else {
            return None;
        };
        Some(owner_of6(masked, self.cfg.workers))
    }
}
