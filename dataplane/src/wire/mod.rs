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

pub mod arp;
pub mod checksum;
pub mod ethernet;
pub mod gre;
pub mod gue;
pub mod icmp6_error;
pub mod icmpv4;
pub mod icmpv6;
pub mod ipv4;
pub mod ipv6;
pub mod nat;
pub mod nat6;
pub mod tcp;
pub mod udp;

#[cfg(test)]
mod exercise;
#[cfg(test)]
mod tests;

pub use arp::{ArpOperation, ArpPacket, ArpRepr};
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

pub use tcp::{TcpFlags, TcpPacket};
pub use udp::UdpPacket;

use core::fmt;

/// Why a buffer could not be viewed, parsed or rewritten.
///
/// `Copy` and allocation-free: a failed parse is normal traffic, to be counted and dropped.
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub enum Error {
    /// The buffer is shorter than the header, or than a length field inside it claims.
    Truncated,
    /// A field holds an impossible value (wrong version, header length below the minimum,
    /// total length below the header length...).
    Malformed,
    /// Well-formed, but not something this code handles (a fragment, an ARP packet for a
    /// hardware type other than Ethernet, an ICMP message without an identifier...).
    Unsupported,
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Error::Truncated => "truncated packet",
            Error::Malformed => "malformed packet",
            Error::Unsupported => "unsupported packet",
        })
    }
}

impl std::error::Error for Error {}

/// IP protocol numbers (the IPv4 `protocol` / IPv6 `next_header` field).
pub mod ip_proto {
    /// IPv6 hop-by-hop options.
    pub const HOPOPTS: u8 = 0;
    /// ICMP for IPv4.
    pub const ICMP: u8 = 1;
    /// IPv4-in-IP encapsulation (IPVS tunnel mode).
    pub const IPIP: u8 = 4;
    /// TCP.
    pub const TCP: u8 = 6;
    /// UDP.
    pub const UDP: u8 = 17;
    /// IPv6 encapsulation.
    pub const IPV6: u8 = 41;
    /// IPv6 routing header.
    pub const ROUTING: u8 = 43;
    /// IPv6 fragment header.
    pub const FRAGMENT: u8 = 44;
    /// Generic routing encapsulation.
    pub const GRE: u8 = 47;
    /// ICMP for IPv6.
    pub const ICMPV6: u8 = 58;
    /// IPv6 "no next header".
    pub const NONE: u8 = 59;
    /// IPv6 destination options.
    pub const DSTOPTS: u8 = 60;
    /// SCTP.
    pub const SCTP: u8 = 132;
}

/// Big-endian u16 at the start of `b` (callers pass a two-byte field range).
#[inline]
pub(crate) fn read_u16(b: &[u8]) -> u16 {
    u16::from_be_bytes([b[0], b[1]])
}

/// Big-endian u32 at the start of `b` (callers pass a four-byte field range).
#[inline]
pub(crate) fn read_u32(b: &[u8]) -> u32 {
    u32::from_be_bytes([b[0], b[1], b[2], b[3]])
}

/// Write `v` big-endian into the first two bytes of `b`.
#[inline]
pub(crate) fn write_u16(b: &mut [u8], v: u16) {
    b[..2].copy_from_slice(&v.to_be_bytes());
}

/// Write `v` big-endian into the first four bytes of `b`.
#[inline]
pub(crate) fn write_u32(b: &mut [u8], v: u32) {
    b[..4].copy_from_slice(&v.to_be_bytes());
}

/// The IPv4 address in the first four bytes of `b`.
#[inline]
pub(crate) fn read_ipv4(b: &[u8]) -> std::net::Ipv4Addr {
    std::net::Ipv4Addr::new(b[0], b[1], b[2], b[3])
}

/// The IPv6 address in the first sixteen bytes of `b`.
#[inline]
pub(crate) fn read_ipv6(b: &[u8]) -> std::net::Ipv6Addr {
    let mut a = [0u8; 16];
    a.copy_from_slice(&b[..16]);
    std::net::Ipv6Addr::from(a)
}
