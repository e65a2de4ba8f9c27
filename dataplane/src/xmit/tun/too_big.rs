//! The ICMP errors rvs answers a client with from the VIP, built in place over the
//! offending packet, which they quote (`icmp_send`, `icmpv6_send`): ICMP "fragmentation
//! needed" and ICMPv6 Packet Too Big for a packet too big for the tunnel, and through the
//! generic [`icmp_error_in_place`] / [`icmp6_error_in_place`] the other errors of the
//! forwarding path (time exceeded, `pipeline::egress`).

use std::net::{Ipv4Addr, Ipv6Addr};

use crate::frame::Frame;
use crate::wire::{checksum, ethernet, icmpv4, icmpv6, ip_proto, ipv4, ipv6, Ipv6Packet};

const ETH_HDR: usize = ethernet::HEADER_LEN;
const IPV4_HDR: usize = ipv4::HEADER_LEN;
const IPV6_HDR: usize = ipv6::HEADER_LEN;

/// Bytes of the offending packet an ICMP error quotes at most: Linux fills the error up to
/// 576 bytes (RFC 1812 4.3.2.3), less the IP and ICMP headers.
pub const ICMP_QUOTE_MAX: usize = 576 - IPV4_HDR - icmpv4::HEADER_LEN;
/// The IPv6 minimum link MTU (RFC 8200): no Packet Too Big reports less.
pub const IPV6_MIN_MTU: usize = 1280;
/// Bytes of the offending packet an ICMPv6 error quotes at most: the error must fit the
/// minimum MTU (RFC 4443 2.4 (c)), as Linux's `icmp6_send` trims it.
pub const ICMP6_QUOTE_MAX: usize = IPV6_MIN_MTU - IPV6_HDR - ICMP6_ERROR_HDR;
/// The ICMPv6 header of an error: type, code, checksum and its second word (a Packet Too
/// Big's MTU).
const ICMP6_ERROR_HDR: usize = icmpv6::HEADER_LEN + 4;
/// Hop limit of the errors rvs sends (Linux's default `hop_limit`).
const ICMP6_HOP_LIMIT: u8 = 64;

/// Move the start of the `inner_len`-byte IP packet of `pkt` (at most `quote_max` bytes of
/// it) `hdrs` bytes further, where an error about it quotes it, and cut the frame after
/// the quote. Returns the quote's length, or None when the frame cannot hold it.
#[inline]
fn quote_in_place<P: Frame>(
    pkt: &mut P,
    inner_len: usize,
    quote_max: usize,
    hdrs: usize,
) -> Option<usize> {
    let quote = inner_len.min(quote_max);
    let new_len = ETH_HDR + hdrs + quote;
    if new_len > pkt.data().len() && !pkt.resize(new_len) {
        return None;
    }
    let out = pkt.data_mut();
    out.copy_within(ETH_HDR..ETH_HDR + quote, ETH_HDR + hdrs);
    if !pkt.resize(new_len) {
        return None;
    }
    Some(quote)
}

/// Turn `pkt`, an Ethernet frame holding an IPv4 packet from a client to a VIP that is too
/// big for the tunnel, into the ICMP "fragmentation needed" error (type 3 code 4) with
/// next-hop MTU `mtu`, from that VIP to the client, in place, as
/// [`icmp_error_in_place`]. Returns the client's address to route it to, or None when the
/// frame cannot hold it (unchanged then).
pub fn frag_needed_in_place<P: Frame>(pkt: &mut P, mtu: u16) -> Option<Ipv4Addr> {
    let [a, b] = mtu.to_be_bytes();
    icmp_error_in_place(
        pkt,
        icmpv4::msg_type::DST_UNREACHABLE,
        icmpv4::unreachable_code::FRAG_NEEDED,
        [0, 0, a, b],
    )
}

/// Turn `pkt`, an Ethernet frame holding an IPv4 packet from a client to a VIP, into the
/// ICMP error `ty`/`code` (second word `rest`) about it, from that VIP to the client, in
/// place. The error quotes the start of the packet (at most [`ICMP_QUOTE_MAX`] bytes),
/// as `icmp_send` does. Returns the client's address to route it to, or None when the
/// frame cannot hold it (unchanged then).
pub fn icmp_error_in_place<P: Frame>(
    pkt: &mut P,
    ty: u8,
    code: u8,
    rest: [u8; 4],
) -> Option<Ipv4Addr> {
    let data = pkt.data();
    if data.len() < ETH_HDR + IPV4_HDR {
        return None;
    }
    let inner = &data[ETH_HDR..];
    let inner_len = usize::from(u16::from_be_bytes([inner[2], inner[3]])).min(inner.len());
    let hdrs = IPV4_HDR + icmpv4::HEADER_LEN;
    let quote = quote_in_place(pkt, inner_len, ICMP_QUOTE_MAX, hdrs)?;
    Some(write_icmp_error(
        &mut pkt.data_mut()[ETH_HDR..],
        ty,
        code,
        rest,
        quote,
    ))
}

/// Write, in `ip`, the IPv4 + ICMP headers of an error about the packet already quoted at
/// `ip[28..28 + quote_len]` (at least its IPv4 header): from that packet's destination (a
/// VIP) to its source (the client), as Linux's `icmp_send` from the VIP: TOS bits of the
/// offending packet with precedence "internetwork control", TTL 64, ID 0, no DF. `rest` is
/// the ICMP header's second word. Returns the client's address.
///
/// # Panics
/// If `ip` is shorter than `28 + quote_len` or `quote_len < 20`.
pub fn write_icmp_error(
    ip: &mut [u8],
    ty: u8,
    code: u8,
    rest: [u8; 4],
    quote_len: usize,
) -> Ipv4Addr {
    let hdrs = IPV4_HDR + icmpv4::HEADER_LEN;
    let q = &ip[hdrs..hdrs + quote_len];
    let client = Ipv4Addr::new(q[12], q[13], q[14], q[15]);
    let vip = Ipv4Addr::new(q[16], q[17], q[18], q[19]);
    let tos = q[1];
    {
        let icmp = &mut ip[IPV4_HDR..hdrs + quote_len];
        icmp[0] = ty;
        icmp[1] = code;
        icmp[2..4].copy_from_slice(&[0, 0]);
        icmp[4..8].copy_from_slice(&rest);
        let c = checksum::internet(icmp);
        icmp[2..4].copy_from_slice(&c.to_be_bytes());
    }
    let h = &mut ip[..IPV4_HDR];
    let total = (hdrs + quote_len) as u16;
    h[0] = 0x45;
    h[1] = (tos & 0x1e) | 0xc0;
    h[2..4].copy_from_slice(&total.to_be_bytes());
    h[4..8].copy_from_slice(&[0, 0, 0, 0]);
    h[8] = 64;
    h[9] = ip_proto::ICMP;
    h[10..12].copy_from_slice(&[0, 0]);
    h[12..16].copy_from_slice(&vip.octets());
    h[16..20].copy_from_slice(&client.octets());
    let c = checksum::internet(h);
    h[10..12].copy_from_slice(&c.to_be_bytes());
    client
}

/// Turn `pkt`, an Ethernet frame holding an IPv6 packet from a client to a VIP that is too
/// big for the tunnel, into ICMPv6 Packet Too Big (type 2 code 0) reporting `mtu`, from
/// that VIP to the client, in place, as [`icmp6_error_in_place`]. Returns the client's
/// address to route it to, or None when the frame cannot hold it (unchanged then).
pub fn packet_too_big_in_place<P: Frame>(pkt: &mut P, mtu: u32) -> Option<Ipv6Addr> {
    icmp6_error_in_place(pkt, icmpv6::msg_type::PACKET_TOO_BIG, 0, mtu.to_be_bytes())
}

/// Turn `pkt`, an Ethernet frame holding an IPv6 packet from a client to a VIP, into the
/// ICMPv6 error `ty`/`code` (second word `rest`) about it, from that VIP to the client, in
/// place, as `icmpv6_send` does: hop limit 64, traffic class and flow label 0, quoting as
/// much of the packet as keeps the error within 1280 bytes. Returns the client's address
/// to route it to, or None when the frame cannot hold it (unchanged then).
pub fn icmp6_error_in_place<P: Frame>(
    pkt: &mut P,
    ty: u8,
    code: u8,
    rest: [u8; 4],
) -> Option<Ipv6Addr> {
    let data = pkt.data();
    if data.len() < ETH_HDR + IPV6_HDR {
        return None;
    }
    let inner = Ipv6Packet::new_unchecked(&data[ETH_HDR..]);
    let inner_len = (IPV6_HDR + inner.payload_len()).min(data.len() - ETH_HDR);
    let (client, vip) = (inner.src_addr(), inner.dst_addr());
    let quote = quote_in_place(pkt, inner_len, ICMP6_QUOTE_MAX, IPV6_HDR + ICMP6_ERROR_HDR)?;
    let ip = &mut pkt.data_mut()[ETH_HDR..];
    let icmp_len = (ICMP6_ERROR_HDR + quote) as u16;
    ip[0..4].copy_from_slice(&[0x60, 0, 0, 0]);
    ip[4..6].copy_from_slice(&icmp_len.to_be_bytes());
    ip[6] = ip_proto::ICMPV6;
    ip[7] = ICMP6_HOP_LIMIT;
    ip[8..24].copy_from_slice(&vip.octets());
    ip[24..40].copy_from_slice(&client.octets());
    let icmp = &mut ip[IPV6_HDR..];
    icmp[0] = ty;
    icmp[1] = code;
    icmp[2..4].copy_from_slice(&[0, 0]);
    icmp[4..8].copy_from_slice(&rest);
    let sum = checksum::combine(&[
        checksum::pseudo_header_v6(vip, client, ip_proto::ICMPV6, u32::from(icmp_len)),
        checksum::data(icmp),
    ]);
    icmp[2..4].copy_from_slice(&(!sum).to_be_bytes());
    Some(client)
}
