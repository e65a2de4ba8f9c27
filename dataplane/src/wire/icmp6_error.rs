//! ICMPv6 error messages (RFC 4443 §3) that quote a packet of a connection, and their NAT
//! (IPVS `ip_vs_in_icmp_v6` / `ip_vs_out_icmp_v6` / `ip_vs_nat_icmp_v6`).
//!
//! An error message is: type, code, checksum, four bytes (unused, the MTU of "packet too
//! big", the pointer of "parameter problem"), then as much of the invoking packet as fits
//! in the minimum IPv6 MTU. rvs reads the quoted IPv6 header, walks the extension headers
//! the kernel's `ipv6_find_hdr` walks (hop-by-hop, routing, destination options, fragment,
//! AH) and takes the TCP/UDP ports behind them. A quote of a non-first fragment has no
//! ports: [`Error::Unsupported`], as the kernel ignores it ("cannot handle fragmented
//! embedded protocol").
//!
//! The rewrite changes an outer address, the matching quoted address and port, the
//! quoted TCP/UDP checksum when the quote reaches it (IPVS leaves it stale; updating it
//! gives the peer back exactly the packet it sent), and the ICMPv6 checksum, whose
//! pseudo-header holds the outer addresses. Updates are incremental (RFC 1624), so a
//! valid message stays valid and the caller verifies the checksum beforehand (IPVS
//! recomputes it in full after checking it). The four bytes after the checksum are never
//! touched: a "packet too big" keeps its MTU.

use std::net::Ipv6Addr;

use super::bytes::{read_ipv6, read_u16, write_u16};
use super::error::Error;
use super::ipv6::{Ipv6Packet, HEADER_LEN as IP6_HDR};
use super::{checksum, ip_proto, tcp, udp};

/// Offset of the quoted packet in an ICMPv6 error message (type, code, checksum, 4 bytes).
pub const QUOTE_OFFSET: usize = 8;

/// ICMPv6 checksum offset within the message.
const CHECKSUM_AT: usize = 2;

/// IPv6 authentication header (its length counts 4-byte units, RFC 4302).
const AH: u8 = 51;

/// Most extension headers walked in a quote (the kernel has no limit but the quote's
/// length, which bounds the loop anyway; this only makes the bound explicit).
const MAX_EXTENSION_HEADERS: usize = 16;

/// The ICMPv6 errors that relate to a connection: destination unreachable, packet too
/// big, time exceeded, parameter problem. (IPVS takes every type below 128; RFC 4443
/// defines only these four, and the others are reserved or experimental.)
#[inline]
pub fn is_error(ty: u8) -> bool {
    matches!(ty, 1..=4)
}

/// What an ICMPv6 error quotes of the TCP/UDP packet that caused it.
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub struct Quote6 {
    /// Source address of the invoking packet.
    pub src_addr: Ipv6Addr,
    /// Destination address of the invoking packet.
    pub dst_addr: Ipv6Addr,
    /// Its upper-layer protocol (the first next header that is not an extension header).
    pub protocol: u8,
    /// Offset of the upper-layer header within the quote (40 without extension headers).
    pub l4_offset: usize,
    /// TCP/UDP source port; 0 for other protocols.
    pub src_port: u16,
    /// TCP/UDP destination port; 0 for other protocols.
    pub dst_port: u16,
}

impl Quote6 {
    /// Parse `quote` (the bytes after the 8-byte error header): an IPv6 header whose
    /// payload length is the original's (not checked against the quote), extension
    /// headers, and for TCP/UDP at least 8 bytes of their header.
    ///
    /// Errors: [`Error::Truncated`] when the quote ends inside an extension header or
    /// before TCP/UDP's first 8 bytes; [`Error::Malformed`] when the version is not 6 or
    /// there are more than 16 extension headers; [`Error::Unsupported`] for a non-first
    /// fragment (its ports are in another fragment).
    pub fn parse(quote: &[u8]) -> Result<Quote6, Error> {
        if quote.len() < IP6_HDR {
            return Err(Error::Truncated);
        }
        if quote[0] >> 4 != 6 {
            return Err(Error::Malformed);
        }
        let mut nh = quote[6];
        let mut at = IP6_HDR;
        let mut walked = 0;
        while matches!(
            nh,
            ip_proto::HOPOPTS | ip_proto::ROUTING | ip_proto::DSTOPTS | ip_proto::FRAGMENT | AH
        ) {
            walked += 1;
            if walked > MAX_EXTENSION_HEADERS {
                return Err(Error::Malformed);
            }
            let h = quote.get(at..at + 8).ok_or(Error::Truncated)?;
            let len = match nh {
                ip_proto::FRAGMENT => {
                    // Fragment offset (13 bits) not 0: the ports are in another fragment.
                    if read_u16(&h[2..4]) & 0xFFF8 != 0 {
                        return Err(Error::Unsupported);
                    }
                    8
                }
                AH => (usize::from(h[1]) + 2) * 4,
                _ => (usize::from(h[1]) + 1) * 8,
            };
            nh = h[0];
            at += len;
        }
        let (src_port, dst_port) = if nh == ip_proto::TCP || nh == ip_proto::UDP {
            // RFC 4443 quotes as much as fits in 1280 bytes: at least the 8 bytes of
            // ports, length or sequence number IPVS relies on (RFC 792's for IPv4).
            let l4 = quote.get(at..at + 8).ok_or(Error::Truncated)?;
            (read_u16(&l4[0..2]), read_u16(&l4[2..4]))
        } else {
            if at > quote.len() {
                return Err(Error::Truncated);
            }
            (0, 0)
        };
        Ok(Quote6 {
            src_addr: read_ipv6(&quote[8..24]),
            dst_addr: read_ipv6(&quote[24..40]),
            protocol: nh,
            l4_offset: at,
            src_port,
            dst_port,
        })
    }
}

/// The ICMPv6 error message in IPv6 packet `ip` (ICMPv6 right after the fixed header)
/// and its quote, checked: the message is an error and its quote parses.
fn check(ip: &[u8]) -> Result<(usize, Quote6), Error> {
    let p = Ipv6Packet::new_checked(ip)?;
    if p.next_header() != ip_proto::ICMPV6 {
        return Err(Error::Unsupported);
    }
    let msg = p.payload();
    if msg.len() < QUOTE_OFFSET {
        return Err(Error::Truncated);
    }
    if !is_error(msg[0]) {
        return Err(Error::Unsupported);
    }
    let q = Quote6::parse(&msg[QUOTE_OFFSET..])?;
    if q.protocol != ip_proto::TCP && q.protocol != ip_proto::UDP {
        return Err(Error::Unsupported);
    }
    Ok((IP6_HDR + p.payload_len(), q))
}

/// Which outer address changes (the quoted packet's opposite one changes with it).
#[derive(Copy, Clone, PartialEq, Eq)]
enum Side {
    /// Outer source; quoted destination address and port.
    Src,
    /// Outer destination; quoted source address and port.
    Dst,
}

fn rewrite(ip: &mut [u8], outer: Side, addr: Ipv6Addr, port: u16) -> Result<(), Error> {
    // Validate everything before writing anything.
    let (end, q) = check(ip)?;
    let (outer_at, inner_at, port_at) = match outer {
        Side::Src => (8, 24, 2),
        Side::Dst => (24, 8, 0),
    };
    let quote = IP6_HDR + QUOTE_OFFSET;
    let msg = IP6_HDR;
    let mut ic = read_u16(&ip[msg + CHECKSUM_AT..]);

    // Outer address: only in the ICMPv6 pseudo-header.
    let old_outer = read_ipv6(&ip[outer_at..outer_at + 16]);
    ic = checksum::update_ipv6_addr(ic, old_outer, addr);
    ip[outer_at..outer_at + 16].copy_from_slice(&addr.octets());

    // Quoted address and port (both inside the message).
    let a = quote + inner_at;
    let old_inner = read_ipv6(&ip[a..a + 16]);
    ic = checksum::update_ipv6_addr(ic, old_inner, addr);
    ip[a..a + 16].copy_from_slice(&addr.octets());
    let l4 = quote + q.l4_offset;
    let pt = l4 + port_at;
    let old_port = read_u16(&ip[pt..]);
    ic = checksum::update_u16(ic, old_port, port);
    write_u16(&mut ip[pt..], port);

    // Quoted TCP/UDP checksum, when the quote holds it: its pseudo-header has the quoted
    // address. A UDP checksum of 0 (invalid over IPv6) is left as the peer sent it.
    let csum_at = l4
        + if q.protocol == ip_proto::TCP {
            tcp::CHECKSUM_OFFSET
        } else {
            udp::CHECKSUM_OFFSET
        };
    if csum_at + 2 <= end {
        let old = read_u16(&ip[csum_at..]);
        if !(q.protocol == ip_proto::UDP && old == 0) {
            let mut new = checksum::update_ipv6_addr(old, old_inner, addr);
            new = checksum::update_u16(new, old_port, port);
            if q.protocol == ip_proto::UDP {
                new = checksum::udp_field(new);
            }
            ic = checksum::update_u16(ic, old, new);
            write_u16(&mut ip[csum_at..], new);
        }
    }
    write_u16(&mut ip[msg + CHECKSUM_AT..], ic);
    Ok(())
}

/// NAT an ICMPv6 error travelling towards a real server (about a packet the director sent
/// to the client for it): the outer destination becomes `addr`, and the quoted packet,
/// which that host sent, gets `addr` as its source and `port` as its source port.
///
/// `ip` starts at the IPv6 header (Ethernet padding after the payload is allowed), with
/// the ICMPv6 message right after it. Errors, leaving `ip` unchanged: length and version
/// errors of the outer packet or the quote, [`Error::Unsupported`] when the message is not
/// an ICMPv6 error or its quote is not of TCP/UDP (see [`Quote6::parse`]).
pub fn rewrite_icmp6_error_dst(ip: &mut [u8], addr: Ipv6Addr, port: u16) -> Result<(), Error> {
    rewrite(ip, Side::Dst, addr, port)
}

/// NAT an ICMPv6 error coming from a real server's side (about a packet the director sent
/// it for the client): the outer source becomes `addr` (the virtual address), and the
/// quoted packet, which the client sent to the virtual service, gets `addr` as its
/// destination and `port` as its destination port. Errors as [`rewrite_icmp6_error_dst`].
pub fn rewrite_icmp6_error_src(ip: &mut [u8], addr: Ipv6Addr, port: u16) -> Result<(), Error> {
    rewrite(ip, Side::Src, addr, port)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::wire::icmpv6::Icmpv6Packet;

    fn a(s: &str) -> Ipv6Addr {
        s.parse().unwrap()
    }

    const CLIENT: &str = "2001:2::1";
    const VIP: &str = "2001:2::100";
    const RS: &str = "2001:2:0:1::11";
    const ROUTER: &str = "2001:2::7";

    /// A TCP or UDP packet over IPv6 with `ext` (already chained: the fixed header's next
    /// header is `first`) before the upper layer, checksum computed in full.
    #[allow(clippy::too_many_arguments)]
    fn inner(
        proto: u8,
        src: Ipv6Addr,
        sport: u16,
        dst: Ipv6Addr,
        dport: u16,
        first: u8,
        ext: &[u8],
        payload: &[u8],
    ) -> Vec<u8> {
        let l4_len = if proto == ip_proto::TCP { 20 } else { 8 } + payload.len();
        let mut l4 = vec![0u8; l4_len];
        write_u16(&mut l4[0..], sport);
        write_u16(&mut l4[2..], dport);
        if proto == ip_proto::TCP {
            l4[12] = 0x50;
            l4[13] = 0x12;
        } else {
            write_u16(&mut l4[4..], l4_len as u16);
        }
        l4[l4_len - payload.len()..].copy_from_slice(payload);
        let ph = checksum::pseudo_header_v6(src, dst, proto, l4_len as u32);
        let c = !checksum::combine(&[ph, checksum::data(&l4)]);
        let at = if proto == ip_proto::TCP { 16 } else { 6 };
        write_u16(
            &mut l4[at..],
            if proto == ip_proto::UDP {
                checksum::udp_field(c)
            } else {
                c
            },
        );
        let mut b = vec![0x60, 0, 0, 0, 0, 0, first, 63];
        b.extend_from_slice(&src.octets());
        b.extend_from_slice(&dst.octets());
        write_u16(&mut b[4..], (ext.len() + l4_len) as u16);
        b.extend_from_slice(ext);
        b.extend_from_slice(&l4);
        b
    }

    fn plain(proto: u8, src: &str, sport: u16, dst: &str, dport: u16) -> Vec<u8> {
        inner(proto, a(src), sport, a(dst), dport, proto, &[], b"hello")
    }

    /// An ICMPv6 error `ty` from `src` to `dst` quoting `quote`, with a valid checksum and
    /// `rest` as the 4 bytes after it.
    fn error(ty: u8, rest: [u8; 4], src: &str, dst: &str, quote: &[u8]) -> Vec<u8> {
        let mut m = vec![ty, 0, 0, 0];
        m.extend_from_slice(&rest);
        m.extend_from_slice(quote);
        let mut b = vec![0x60, 0, 0, 0, 0, 0, ip_proto::ICMPV6, 64];
        b.extend_from_slice(&a(src).octets());
        b.extend_from_slice(&a(dst).octets());
        write_u16(&mut b[4..], m.len() as u16);
        b.extend_from_slice(&m);
        Icmpv6Packet::new_unchecked(&mut b[IP6_HDR..]).fill_checksum(a(src), a(dst));
        b
    }

    fn icmp_ok(b: &[u8]) -> bool {
        let p = Ipv6Packet::new_checked(b).unwrap();
        Icmpv6Packet::new_checked(p.payload())
            .unwrap()
            .verify_checksum(p.src_addr(), p.dst_addr())
    }

    #[test]
    fn parses_tcp_and_udp_quotes() {
        let q = Quote6::parse(&plain(ip_proto::TCP, CLIENT, 40000, VIP, 80)).unwrap();
        assert_eq!(
            q,
            Quote6 {
                src_addr: a(CLIENT),
                dst_addr: a(VIP),
                protocol: ip_proto::TCP,
                l4_offset: 40,
                src_port: 40000,
                dst_port: 80,
            }
        );
        // Only the first 8 bytes of the upper layer are needed.
        let udp = plain(ip_proto::UDP, RS, 53, CLIENT, 1000);
        let q = Quote6::parse(&udp[..48]).unwrap();
        assert_eq!(
            (q.protocol, q.src_port, q.dst_port),
            (ip_proto::UDP, 53, 1000)
        );
        assert_eq!(Quote6::parse(&udp[..47]), Err(Error::Truncated));
        assert_eq!(Quote6::parse(&udp[..39]), Err(Error::Truncated));
    }

    #[test]
    fn walks_extension_headers_like_the_kernel() {
        // Hop-by-hop (8 bytes) -> destination options (16) -> fragment (first) -> AH
        // (12) -> UDP.
        let mut ext = vec![ip_proto::DSTOPTS, 0, 1, 4, 0, 0, 0, 0];
        ext.extend_from_slice(&[ip_proto::FRAGMENT, 1, 1, 12, 0, 0, 0, 0]);
        ext.extend_from_slice(&[0; 8]);
        ext.extend_from_slice(&[AH, 0, 0, 1, 0, 0, 0, 7]);
        ext.extend_from_slice(&[ip_proto::UDP, 1, 0, 0, 0, 0, 0, 1, 0, 0, 0, 1]);
        let b = inner(
            ip_proto::UDP,
            a(CLIENT),
            5,
            a(VIP),
            53,
            ip_proto::HOPOPTS,
            &ext,
            b"",
        );
        let q = Quote6::parse(&b).unwrap();
        assert_eq!(q.l4_offset, 40 + ext.len());
        assert_eq!((q.src_port, q.dst_port), (5, 53));
        // Cut inside the chain or before the ports.
        for cut in [41, 40 + 8 + 3, 40 + ext.len() + 7] {
            assert_eq!(Quote6::parse(&b[..cut]), Err(Error::Truncated), "cut {cut}");
        }
        // A non-first fragment has no ports.
        let mut later = b.clone();
        later[40 + 24 + 3] = 0x08; // offset 1 (8 bytes)
        assert_eq!(Quote6::parse(&later), Err(Error::Unsupported));
        // Upper layers other than TCP/UDP, and "no next header": no ports, and not
        // rewritten.
        for nh in [ip_proto::ICMPV6, ip_proto::NONE, 50 /* ESP */] {
            let mut x = plain(ip_proto::TCP, CLIENT, 1, VIP, 2);
            x[6] = nh;
            let q = Quote6::parse(&x[..40]).unwrap();
            assert_eq!((q.protocol, q.src_port, q.dst_port), (nh, 0, 0));
            let mut b = error(1, [0; 4], ROUTER, CLIENT, &x);
            let before = b.clone();
            assert_eq!(
                rewrite_icmp6_error_dst(&mut b, a(VIP), 9),
                Err(Error::Unsupported)
            );
            assert_eq!(b, before);
        }
        // Not IPv6 inside.
        let mut v4 = plain(ip_proto::TCP, CLIENT, 1, VIP, 2);
        v4[0] = 0x45;
        assert_eq!(Quote6::parse(&v4), Err(Error::Malformed));
        // A chain of 17 empty destination options headers.
        let mut long = vec![];
        for _ in 0..17 {
            long.extend_from_slice(&[ip_proto::DSTOPTS, 0, 1, 4, 0, 0, 0, 0]);
        }
        let x = inner(
            ip_proto::TCP,
            a(CLIENT),
            1,
            a(VIP),
            2,
            ip_proto::DSTOPTS,
            &long,
            b"",
        );
        assert_eq!(Quote6::parse(&x), Err(Error::Malformed));
    }

    #[test]
    fn nat_from_the_real_server_side_restores_the_client_packet() {
        // The RS answers a datagram it got (client -> RS:5353) with port unreachable; the
        // client must see it from the VIP about its own datagram to the VIP.
        for proto in [ip_proto::UDP, ip_proto::TCP] {
            let at_rs = plain(proto, CLIENT, 40000, RS, 5353);
            let sent = plain(proto, CLIENT, 40000, VIP, 53);
            let mut b = error(1, [0; 4], RS, CLIENT, &at_rs);
            // The shared fuzz/property invariants hold on a valid error too.
            crate::wire::exercise::parse_packet(&b);
            rewrite_icmp6_error_src(&mut b, a(VIP), 53).unwrap();
            assert_eq!(b, error(1, [0; 4], VIP, CLIENT, &sent), "proto {proto}");
        }
    }

    #[test]
    fn nat_from_the_client_side_keeps_the_mtu() {
        // A router on the client's path cannot forward a reply (VIP:80 -> client) and says
        // "packet too big, MTU 1400": the RS must get it about its own packet.
        let mtu = 1400u32.to_be_bytes();
        let sent = plain(ip_proto::TCP, VIP, 80, CLIENT, 40000);
        let at_rs = plain(ip_proto::TCP, RS, 8080, CLIENT, 40000);
        let mut b = error(2, mtu, ROUTER, VIP, &sent);
        rewrite_icmp6_error_dst(&mut b, a(RS), 8080).unwrap();
        assert_eq!(b, error(2, mtu, ROUTER, RS, &at_rs));
    }

    #[test]
    fn short_quote_keeps_its_stale_part_and_a_valid_icmp_checksum() {
        // The TCP checksum is past the quote's end: only ports and addresses change.
        let at_rs = plain(ip_proto::TCP, CLIENT, 40000, RS, 80);
        let mut b = error(3, [0; 4], ROUTER, CLIENT, &at_rs[..48]);
        rewrite_icmp6_error_src(&mut b, a(VIP), 81).unwrap();
        assert!(icmp_ok(&b));
        let q = Quote6::parse(&b[48..]).unwrap();
        assert_eq!((q.dst_addr, q.dst_port), (a(VIP), 81));
        // UDP with a zero checksum: left zero.
        let mut udp = plain(ip_proto::UDP, CLIENT, 1, RS, 2);
        udp[46] = 0;
        udp[47] = 0;
        let mut b = error(4, [0, 0, 0, 6], ROUTER, CLIENT, &udp);
        rewrite_icmp6_error_src(&mut b, a(VIP), 3).unwrap();
        assert_eq!(&b[48 + 46..48 + 48], &[0, 0]);
        assert!(icmp_ok(&b));
    }

    #[test]
    fn refusals_leave_the_packet_alone() {
        let q = plain(ip_proto::TCP, CLIENT, 1, RS, 2);
        let cases = [
            // Not an error (echo request).
            (error(128, [0; 4], ROUTER, CLIENT, &q), Error::Unsupported),
            // Quote cut before the ports.
            (error(1, [0; 4], ROUTER, CLIENT, &q[..44]), Error::Truncated),
            // Message shorter than the error header.
            (
                error(1, [0; 4], ROUTER, CLIENT, &[])[..46].to_vec(),
                Error::Truncated,
            ),
        ];
        for (mut b, want) in cases {
            if b.len() == 46 {
                write_u16(&mut b[4..], 6);
            }
            let before = b.clone();
            assert_eq!(rewrite_icmp6_error_dst(&mut b, a(VIP), 9), Err(want));
            assert_eq!(b, before);
        }
        // Extension header before the outer ICMPv6: refused.
        let mut b = error(1, [0; 4], ROUTER, CLIENT, &q);
        b[6] = ip_proto::HOPOPTS;
        assert_eq!(
            rewrite_icmp6_error_src(&mut b, a(VIP), 9),
            Err(Error::Unsupported)
        );
    }

    proptest::proptest! {
        /// Random bytes, as a quote and as a whole packet: never a panic, and a rewrite is
        /// all or nothing.
        #[test]
        fn random_bytes_never_panic(
            bytes in proptest::collection::vec(proptest::prelude::any::<u8>(), 0..200),
            as_error in proptest::prelude::any::<bool>(),
        ) {
            let _ = Quote6::parse(&bytes);
            let mut b = bytes.clone();
            if as_error && b.len() > 48 {
                // Make the outer header plausible so the quote parser is reached.
                b[0] = 0x60;
                b[6] = ip_proto::ICMPV6;
                let len = (b.len() - 40) as u16;
                write_u16(&mut b[4..], len);
                b[40] = 1 + b[40] % 4;
                b[48] = 0x60 | (b[48] & 0x0f);
            }
            let before = b.clone();
            for dst in [false, true] {
                let mut c = b.clone();
                let r = if dst {
                    rewrite_icmp6_error_dst(&mut c, a(RS), 1)
                } else {
                    rewrite_icmp6_error_src(&mut c, a(VIP), 1)
                };
                if r.is_err() {
                    proptest::prop_assert_eq!(&c, &before);
                }
            }
        }

        /// Any addresses, ports, extension-header-free quote length and payload: the
        /// rewrite equals building the message with the new values, so the incremental
        /// checksums equal full recomputes.
        #[test]
        fn rewrite_equals_building_the_translated_message(
            tcp in proptest::prelude::any::<bool>(),
            addrs in proptest::prelude::any::<(u128, u128, u128, u128)>(),
            ports in proptest::prelude::any::<(u16, u16, u16)>(),
            payload in proptest::collection::vec(proptest::prelude::any::<u8>(), 0..40),
            cut in 48usize..120,
            ty in 1u8..=4,
            rest in proptest::prelude::any::<[u8; 4]>(),
            dst_side in proptest::prelude::any::<bool>(),
        ) {
            let proto = if tcp { ip_proto::TCP } else { ip_proto::UDP };
            let [o_src, o_dst, q_other, new] = [addrs.0, addrs.1, addrs.2, addrs.3].map(Ipv6Addr::from);
            let (sport, dport, nport) = ports;
            let s = |x: Ipv6Addr| x.to_string();
            let (mut b, mut want) = if dst_side {
                // Outer dst and quoted src change.
                let q = inner(proto, o_dst, sport, q_other, dport, proto, &[], &payload);
                let q2 = inner(proto, new, nport, q_other, dport, proto, &[], &payload);
                let cut = cut.min(q.len());
                (
                    error(ty, rest, &s(o_src), &s(o_dst), &q[..cut]),
                    error(ty, rest, &s(o_src), &s(new), &q2[..cut]),
                )
            } else {
                let q = inner(proto, q_other, sport, o_src, dport, proto, &[], &payload);
                let q2 = inner(proto, q_other, sport, new, nport, proto, &[], &payload);
                let cut = cut.min(q.len());
                (
                    error(ty, rest, &s(o_src), &s(o_dst), &q[..cut]),
                    error(ty, rest, &s(new), &s(o_dst), &q2[..cut]),
                )
            };
            let before = b.clone();
            if dst_side {
                rewrite_icmp6_error_dst(&mut b, new, nport).unwrap();
            } else {
                rewrite_icmp6_error_src(&mut b, new, nport).unwrap();
            }
            // A quote that ends inside the TCP checksum keeps its half as it was (the new
            // value of one byte depends on the missing one through the carry).
            if tcp && b.len() == 48 + 57 {
                let last = b.len() - 1;
                want[last] = before[last];
                let (src, dst) = (read_ipv6(&want[8..24]), read_ipv6(&want[24..40]));
                Icmpv6Packet::new_unchecked(&mut want[IP6_HDR..]).fill_checksum(src, dst);
            }
            // Byte for byte, checksums included.
            proptest::prop_assert!(icmp_ok(&b));
            proptest::prop_assert_eq!(b, want);
        }
    }
}
