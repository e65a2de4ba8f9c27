//! Zero-copy packet views (smoltcp style) and the in-place rewrite primitives that the
//! forwarding methods (NAT, FULLNAT, DR) need.
//!
//! Each protocol has a `Packet<T: AsRef<[u8]>>` view that parses nothing: the field
//! offsets live in a private `mod field`, getters need `AsRef` and setters `AsMut`.
//!
//! Panic contract (the same for every view):
//! - `new_unchecked` only wraps the buffer; accessors may panic on a short buffer.
//! - `check_len` validates every length the accessors rely on; after it returns `Ok`,
//!   no getter, setter or `payload()` panics.
//! - `new_checked` = `new_unchecked` + `check_len`; use it for untrusted input, and
//!   `new_unchecked` when emitting into a buffer the caller has sized itself.
//!
//! `Repr`s exist only for packets rvs builds itself (ARP replies, ICMP errors).
//! Nothing here allocates, and nothing depends on anything but `core`/`std`, so the module
//! can be tested outside the DPDK-linked crate.
//!
//! Layout: what every view shares lives in leaf files — `bytes` (big-endian field and
//! address reads/writes), `error` ([`Error`]), [`ip_proto`], [`checksum`] — which the views
//! import by their own path. This file only declares, re-exports and adds the two
//! family-dispatching rewrites; no child uses an item of it.

pub mod arp;
pub(crate) mod bytes;
pub mod checksum;
mod error;
pub mod ethernet;
pub mod gre;
pub mod gue;
pub mod icmp6_error;
pub mod icmpv4;
pub mod icmpv6;
pub mod ip_proto;
pub mod ipv4;
pub mod ipv6;
pub mod martian;
pub mod nat;
pub mod nat6;
pub mod tcp;
pub mod udp;

#[cfg(test)]
mod exercise;
#[cfg(test)]
mod tests;

pub use arp::{ArpOperation, ArpPacket, ArpRepr};
// The helpers keep their crate-wide paths (`crate::wire::read_u32`, ...).
pub(crate) use bytes::*;
pub use error::Error;
pub use ethernet::{EtherType, EthernetFrame, MacAddr};
pub use icmp6_error::{rewrite_icmp6_error_dst, rewrite_icmp6_error_src};
pub use icmpv4::{Icmpv4Packet, Icmpv4Repr};
pub use icmpv6::Icmpv6Packet;
pub use ipv4::Ipv4Packet;
pub use ipv6::Ipv6Packet;
pub use nat::{
    decrement_ttl, rewrite_both, rewrite_both_parsed, rewrite_both_parsed_shifted, rewrite_dst,
    rewrite_dst_parsed, rewrite_icmp_error_dst, rewrite_icmp_error_src, rewrite_src,
    rewrite_src_parsed, SeqShift,
};
pub use nat6::{decrement_hop_limit, rewrite_both6, rewrite_dst6, rewrite_src6};
pub use tcp::{TcpFlags, TcpPacket};
pub use udp::UdpPacket;

use std::net::IpAddr;

/// [`rewrite_dst`] or [`rewrite_dst6`], by the family of `addr` (which must be the
/// packet's: the other family's rewrite refuses the header).
#[inline]
pub fn rewrite_dst_ip(ip: &mut [u8], addr: IpAddr, port: u16) -> Result<(), Error> {
    match addr {
        IpAddr::V4(a) => rewrite_dst(ip, a, port),
        IpAddr::V6(a) => rewrite_dst6(ip, a, port),
    }
}

/// Rewrite both ends of the packet in `ip` (FULLNAT, either direction): [`rewrite_both`]
/// for IPv4, [`rewrite_both6`] for IPv6. Errors leave the packet unchanged;
/// `Unsupported` when the addresses are not both of the packet's family.
#[inline]
pub fn rewrite_both_ip(
    ip: &mut [u8],
    (saddr, sport): (IpAddr, u16),
    (daddr, dport): (IpAddr, u16),
) -> Result<(), Error> {
    match (saddr, daddr) {
        (IpAddr::V4(s), IpAddr::V4(d)) => rewrite_both(ip, (s, sport), (d, dport)),
        (IpAddr::V6(s), IpAddr::V6(d)) => rewrite_both6(ip, (s, sport), (d, dport)),
        _ => Err(Error::Unsupported),
    }
}
