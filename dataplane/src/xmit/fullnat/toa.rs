//! TOA ("TCP option address"): how FULLNAT tells a real server the client's address,
//! which the SNAT to a local address hides.
//!
//! The option is the one LVS FULLNAT (Alibaba) and DPVS use, understood by their `toa`
//! kernel module on the real servers: kind 254, then the client's port and address in
//! network order; length 8 for an IPv4 client, 20 for an IPv6 one (DPVS's
//! `TCPOLEN_ADDR` and `TCPOLEN_IP6_ADDR`):
//!
//! ```text
//! +--------+--------+-----------------+-----------------------------------+
//! | 254    | 8      | client port     | client IPv4 address               |
//! +--------+--------+-----------------+-----------------------------------+
//! | 254    | 20     | client port     | client IPv6 address (16 bytes)    |
//! +--------+--------+-----------------+-----------------------------------+
//! ```
//!
//! rvs inserts it, right after the fixed TCP header, into the client's packets that carry
//! an ACK (not SYN, not RST) while the real server has sent nothing but its SYN-ACK:
//! the handshake's last ACK and the request data that follows, which is where the `toa`
//! module reads it when the connection is accepted. To leave room for it, the MSS the
//! client announces in its SYN is lowered by the option's length ([`clamp_mss`]), as DPVS
//! does. A packet whose TCP header has no room left for it (data offset 15 is 60 bytes)
//! or whose IP length would pass [`MAX_IP_LEN`] goes without it. A real server without the
//! module ignores the option (unknown TCP options are skipped).
//!
//! Both IP families share the code: only where the IP length lives (IPv4 total length
//! and header checksum, IPv6 payload length) and the option's length differ.

use std::net::IpAddr;

use crate::wire::checksum::{change_covered, update_bytes, update_u16};
use crate::wire::tcp::each_option;
use crate::wire::{ip_proto, Error, Ipv4Packet, Ipv6Packet, TcpPacket};

/// TCP option kind of TOA.
pub const KIND: u8 = 254;
/// TCP option length of TOA for an IPv4 client (kind, length, port, IPv4 address).
pub const LEN: usize = 8;
/// TCP option length of TOA for an IPv6 client (kind, length, port, IPv6 address).
pub const LEN6: usize = 20;
/// Largest IP packet (either family) rvs grows to (the Ethernet MTU).
pub const MAX_IP_LEN: usize = 1500;
/// Longest TCP header (data offset 15).
const TCP_MAX_HEADER: usize = 60;
/// TCP option kind of the maximum segment size.
const OPT_MSS: u8 = 2;
/// IPv6 fixed header length.
const IP6_HDR: usize = crate::wire::ipv6::HEADER_LEN;

/// Where a TCP segment sits in an IP packet of either family.
#[derive(Clone, Copy)]
struct Span {
    /// Offset of the TCP header.
    l4: usize,
    /// End of the IP packet (without link-layer padding).
    end: usize,
    /// IPv6 (else IPv4).
    v6: bool,
}

impl Span {
    /// The TOA option's length for this family.
    fn option_len(self) -> usize {
        if self.v6 {
            LEN6
        } else {
            LEN
        }
    }
}

/// The TCP segment of the IP packet in `ip` (IP header first, no IPv6 extension headers,
/// not an IPv4 fragment).
fn span(ip: &[u8]) -> Result<Span, Error> {
    let s = match ip.first().map(|b| b >> 4) {
        Some(4) => {
            let p = Ipv4Packet::new_checked(ip)?;
            if p.protocol() != ip_proto::TCP || p.is_fragment() {
                return Err(Error::Unsupported);
            }
            Span {
                l4: p.header_len(),
                end: p.total_len(),
                v6: false,
            }
        }
        Some(6) => {
            let p = Ipv6Packet::new_checked(ip)?;
            if p.next_header() != ip_proto::TCP {
                return Err(Error::Unsupported);
            }
            Span {
                l4: IP6_HDR,
                end: IP6_HDR + p.payload_len(),
                v6: true,
            }
        }
        _ => return Err(Error::Malformed),
    };
    TcpPacket::new_checked(&ip[s.l4..s.end])?;
    Ok(s)
}

/// The span of `ip`'s TCP segment when its header has room for TOA and the grown packet
/// stays under the MTU.
fn room(ip: &[u8]) -> Result<Span, Error> {
    let s = span(ip)?;
    let thl = TcpPacket::new_unchecked(&ip[s.l4..s.end]).header_len();
    if thl + s.option_len() > TCP_MAX_HEADER || s.end + s.option_len() > MAX_IP_LEN {
        return Err(Error::Unsupported);
    }
    Ok(s)
}

/// The frame length TOA needs, from the IP packet `ip` (either family) at offset `l2` of
/// its frame: `None` when the packet cannot take it.
#[inline]
pub fn grown_len(ip: &[u8], l2: usize) -> Option<usize> {
    room(ip).ok().map(|s| l2 + s.end + s.option_len())
}

/// Insert the TOA option for `client:cport` into the TCP packet in `ip` (IP header first,
/// of `client`'s family), which must hold the option's length ([`LEN`] or [`LEN6`]) in
/// spare bytes after the IP packet (see [`grown_len`]). Updates the IP length (and the
/// IPv4 header checksum), the TCP data offset and checksum incrementally. Errors leave
/// `ip` unchanged.
pub fn insert(ip: &mut [u8], client: IpAddr, cport: u16) -> Result<(), Error> {
    let s = room(ip)?;
    if s.v6 != client.is_ipv6() {
        return Err(Error::Unsupported);
    }
    let n = s.option_len();
    if ip.len() < s.end + n {
        return Err(Error::Truncated);
    }
    let mut option = [0u8; LEN6];
    option[0] = KIND;
    option[1] = n as u8;
    option[2..4].copy_from_slice(&cport.to_be_bytes());
    match client {
        IpAddr::V4(a) => option[4..8].copy_from_slice(&a.octets()),
        IpAddr::V6(a) => option[4..20].copy_from_slice(&a.octets()),
    }
    let option = &option[..n];
    let (t, end) = (s.l4, s.end);
    let opt = t + 20;

    // TCP checksum: the new option words, the data offset word, and the pseudo-header's
    // TCP length (16 bits for IPv4; the low half of IPv6's 32, below 64 KiB). Moving the
    // rest by a multiple of 4 bytes keeps every word's alignment: its sum does not change.
    let tcp_len = (end - t) as u16;
    let old_off = u16::from_be_bytes([ip[t + 12], ip[t + 13]]);
    let new_off = old_off + ((n as u16 / 4) << 12);
    let mut hc = u16::from_be_bytes([ip[t + 16], ip[t + 17]]);
    hc = update_bytes(hc, &[0; LEN6][..n], option);
    hc = update_u16(hc, old_off, new_off);
    hc = update_u16(hc, tcp_len, tcp_len + n as u16);

    ip.copy_within(opt..end, opt + n);
    ip[opt..opt + n].copy_from_slice(option);
    ip[t + 12..t + 14].copy_from_slice(&new_off.to_be_bytes());
    ip[t + 16..t + 18].copy_from_slice(&hc.to_be_bytes());

    if s.v6 {
        let payload = (end - IP6_HDR + n) as u16;
        ip[4..6].copy_from_slice(&payload.to_be_bytes());
    } else {
        let new_total = (end + n) as u16;
        let ihc = update_u16(u16::from_be_bytes([ip[10], ip[11]]), end as u16, new_total);
        ip[2..4].copy_from_slice(&new_total.to_be_bytes());
        ip[10..12].copy_from_slice(&ihc.to_be_bytes());
    }
    Ok(())
}

/// Lower the MSS option of the TCP SYN in `ip` (IP header first, either family) by the
/// family's TOA length ([`LEN`] or [`LEN6`]), leaving room for TOA in the client's
/// segments; the checksum is updated incrementally. Returns whether an MSS option was
/// changed (a SYN without one gets the default, which needs no room).
pub fn clamp_mss(ip: &mut [u8]) -> bool {
    let Ok(s) = span(ip) else {
        return false;
    };
    let (hl, delta) = (s.l4, s.option_len() as u16);
    let thl = TcpPacket::new_unchecked(&ip[s.l4..s.end]).header_len();
    // The first MSS option (kind 2, length 4).
    let mut at = None;
    each_option(ip, hl + 20, hl + thl, |kind, i, len| {
        if kind == OPT_MSS && len == 4 && at.is_none() {
            at = Some(i + 2);
        }
    });
    let Some(v) = at else {
        return false;
    };
    let mss = u16::from_be_bytes([ip[v], ip[v + 1]]);
    if mss <= 536 + delta {
        return false;
    }
    change_covered(ip, (hl, s.end), hl + 16, v, 2, |b| {
        b.copy_from_slice(&(mss - delta).to_be_bytes())
    });
    true
}

/// Add TOA for `client:cport` to the TCP packet (of `client`'s family) at offset `l2` of
/// `pkt`, growing the frame by the option's length (dropping any Ethernet padding).
/// Returns false, leaving the packet as it is, when it has no room for the option: TOA is
/// best effort, the connection works without it (the caller counts it).
#[inline]
pub fn add<P: crate::frame::Frame>(pkt: &mut P, l2: usize, client: IpAddr, cport: u16) -> bool {
    let Some(len) = pkt.data().get(l2..).and_then(|ip| grown_len(ip, l2)) else {
        return false;
    };
    pkt.resize(len) && insert(&mut pkt.data_mut()[l2..], client, cport).is_ok()
}

/// Whether a client packet of a FULLNAT connection gets TOA: an ACK (not SYN, not RST)
/// while the real server has sent at most its SYN-ACK (`reply_packets`, read in place with
/// `ConnRef::packets`).
#[inline]
pub fn wanted(flags: conn_table::TcpFlags, reply_packets: u64) -> bool {
    use conn_table::TcpFlags as F;
    flags.0 & F::ACK.0 != 0 && flags.0 & (F::SYN.0 | F::RST.0) == 0 && reply_packets <= 1
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::net::Ipv4Addr;

    const CLIENT: Ipv4Addr = Ipv4Addr::new(198, 18, 0, 1);
    const LIP: Ipv4Addr = Ipv4Addr::new(198, 19, 0, 250);
    const RS: Ipv4Addr = Ipv4Addr::new(198, 19, 0, 11);

    /// IPv4 + TCP with `opts` and `payload`, both checksums computed in full.
    fn packet(flags: u8, opts: &[u8], payload: &[u8]) -> Vec<u8> {
        crate::test_io::tcp4_packet((LIP, 5000), (RS, 8080), flags, (7, 0), opts, payload)
    }

    fn checksums_ok(p: &[u8]) -> bool {
        let ip = Ipv4Packet::new_checked(p).unwrap();
        let tcp = TcpPacket::new_checked(ip.payload()).unwrap();
        ip.verify_checksum() && tcp.verify_checksum_v4(LIP, RS)
    }

    #[test]
    fn insert_matches_a_packet_built_with_the_option() {
        let ts = [1, 1, 8, 10, 0, 0, 0, 1, 0, 0, 0, 2];
        for (opts, payload) in [(&[][..], &b"GET / HTTP/1.1\r\n"[..]), (&ts[..], &b""[..])] {
            let mut p = packet(0x18, opts, payload);
            let n = p.len();
            p.resize(n + LEN, 0);
            insert(&mut p, CLIENT.into(), 40000).unwrap();
            let mut with = vec![KIND, 8, 0x9c, 0x40, 198, 18, 0, 1];
            with.extend_from_slice(opts);
            assert_eq!(p, packet(0x18, &with, payload));
            assert!(checksums_ok(&p));
        }
    }

    #[test]
    fn no_room_no_change() {
        // A full TCP header (40 bytes of options).
        let opts = [1u8; 40];
        let mut p = packet(0x10, &opts, b"");
        let n = p.len();
        p.resize(n + LEN, 0);
        let before = p.clone();
        assert_eq!(insert(&mut p, CLIENT.into(), 1), Err(Error::Unsupported));
        assert_eq!(p, before);
        // No spare bytes after the packet.
        let mut q = packet(0x10, &[], b"x");
        assert_eq!(insert(&mut q, CLIENT.into(), 1), Err(Error::Truncated));
        assert_eq!(grown_len(&q, 14), Some(14 + q.len() + LEN));
        // Past the MTU.
        let big = packet(0x10, &[], &[0u8; 1460]);
        assert_eq!(grown_len(&big, 14), None);
    }

    #[test]
    fn mss_is_lowered_at_either_alignment() {
        // MSS first (value at an even offset), and after one NOP (odd offset).
        for opts in [
            &[2u8, 4, 0x05, 0xb4, 1, 1, 4, 2][..],
            &[1u8, 2, 4, 0x05, 0xb4, 4, 2, 0][..],
        ] {
            let mut p = packet(0x02, opts, b"");
            assert!(clamp_mss(&mut p));
            let want: Vec<u8> = opts
                .iter()
                .map(|&b| if b == 0xb4 { 0xac } else { b })
                .collect();
            assert_eq!(p, packet(0x02, &want, b""), "options {opts:?}");
            assert!(checksums_ok(&p));
        }
        let mut none = packet(0x02, &[1, 1, 4, 2], b"");
        assert!(!clamp_mss(&mut none));
    }
}

#[cfg(test)]
mod tests6 {
    use super::*;
    use proptest::prelude::*;
    use std::net::Ipv6Addr;

    const CLIENT: Ipv6Addr = Ipv6Addr::new(0x2001, 2, 0, 0, 0, 0, 0, 1);
    const LIP: Ipv6Addr = Ipv6Addr::new(0x2001, 2, 0, 1, 0, 0, 0, 0xfa);
    const RS: Ipv6Addr = Ipv6Addr::new(0x2001, 2, 0, 1, 0, 0, 0, 0x11);

    /// IPv6 + TCP with `opts` and `payload`, checksum computed in full.
    fn packet(flags: u8, opts: &[u8], payload: &[u8]) -> Vec<u8> {
        let thl = 20 + opts.len();
        let mut p = vec![0u8; IP6_HDR + thl + payload.len()];
        {
            let mut ip = Ipv6Packet::new_unchecked(&mut p[..]);
            ip.set_version();
            ip.set_payload_len((thl + payload.len()) as u16);
            ip.set_next_header(ip_proto::TCP);
            ip.set_hop_limit(64);
            ip.set_src_addr(LIP);
            ip.set_dst_addr(RS);
        }
        let t = &mut p[IP6_HDR..];
        t[0..2].copy_from_slice(&5000u16.to_be_bytes());
        t[2..4].copy_from_slice(&8080u16.to_be_bytes());
        t[4..8].copy_from_slice(&7u32.to_be_bytes());
        t[12] = ((thl / 4) as u8) << 4;
        t[13] = flags;
        t[14..16].copy_from_slice(&[0xff, 0xff]);
        t[20..20 + opts.len()].copy_from_slice(opts);
        t[20 + opts.len()..].copy_from_slice(payload);
        TcpPacket::new_unchecked(&mut p[IP6_HDR..]).fill_checksum_v6(LIP, RS);
        p
    }

    fn checksum_ok(p: &[u8]) -> bool {
        let ip = Ipv6Packet::new_checked(p).unwrap();
        TcpPacket::new_checked(ip.payload())
            .unwrap()
            .verify_checksum_v6(LIP, RS)
    }

    fn option(port: u16) -> Vec<u8> {
        let mut o = vec![KIND, 20];
        o.extend_from_slice(&port.to_be_bytes());
        o.extend_from_slice(&CLIENT.octets());
        o
    }

    #[test]
    fn the_ipv6_option_is_kind_254_length_20_port_then_address() {
        let mut p = packet(0x10, &[], b"");
        let n = p.len();
        assert_eq!(grown_len(&p, 14), Some(14 + n + LEN6));
        p.resize(n + LEN6, 0);
        insert(&mut p, CLIENT.into(), 40000).unwrap();
        assert_eq!(
            &p[IP6_HDR + 20..IP6_HDR + 40],
            &[254, 20, 0x9c, 0x40, 0x20, 0x01, 0, 2, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1]
        );
        assert_eq!(p[IP6_HDR + 12] >> 4, 10, "data offset 40 bytes");
        assert_eq!(Ipv6Packet::new_checked(&p[..]).unwrap().payload_len(), 40);
        assert!(checksum_ok(&p));
    }

    #[test]
    fn a_client_of_the_other_family_is_refused() {
        let mut p = packet(0x10, &[], b"");
        let n = p.len();
        p.resize(n + LEN6, 0);
        let before = p.clone();
        let v4: IpAddr = std::net::Ipv4Addr::new(198, 18, 0, 1).into();
        assert_eq!(insert(&mut p, v4, 1), Err(Error::Unsupported));
        assert_eq!(p, before);
    }

    #[test]
    fn no_room_in_a_header_of_data_offset_15() {
        // 40 bytes of options: data offset 15.
        let mut p = packet(0x10, &[1u8; 40], b"");
        let n = p.len();
        assert_eq!(grown_len(&p, 14), None);
        p.resize(n + LEN6, 0);
        let before = p.clone();
        assert_eq!(insert(&mut p, CLIENT.into(), 1), Err(Error::Unsupported));
        assert_eq!(p, before);
        // 24 bytes of options leave 16: not enough for 20 either.
        assert_eq!(grown_len(&packet(0x10, &[1u8; 24], b""), 14), None);
        // 20 bytes of options leave exactly 20.
        assert!(grown_len(&packet(0x10, &[1u8; 20], b""), 14).is_some());
        // Past the MTU (40 + 20 + 1440 = 1500 already).
        assert_eq!(grown_len(&packet(0x10, &[], &[0u8; 1440]), 14), None);
        // add() leaves such a frame alone and says so.
        let mut frame = vec![0u8; 14];
        frame.extend_from_slice(&packet(0x10, &[1u8; 40], b""));
        let before = frame.clone();
        assert!(!add(&mut frame, 14, CLIENT.into(), 1));
        assert_eq!(frame, before);
    }

    #[test]
    fn mss_is_lowered_by_20_for_ipv6() {
        for opts in [
            &[2u8, 4, 0x05, 0xa0, 1, 1, 4, 2][..],
            &[1u8, 2, 4, 0x05, 0xa0, 4, 2, 0][..],
        ] {
            let mut p = packet(0x02, opts, b"");
            assert!(clamp_mss(&mut p));
            // 1440 - 20 = 1420 = 0x058c.
            let want: Vec<u8> = opts
                .iter()
                .map(|&b| if b == 0xa0 { 0x8c } else { b })
                .collect();
            assert_eq!(p, packet(0x02, &want, b""), "options {opts:?}");
            assert!(checksum_ok(&p));
        }
        // Small MSS values are left alone.
        let mut small = packet(0x02, &[2, 4, 0x02, 0x2c], b"");
        assert!(!clamp_mss(&mut small));
    }

    proptest! {
        /// Inserting into any TCP segment gives the segment built with the option in
        /// front of its own options, checksum valid; or, without room, no change.
        #[test]
        fn insert_is_building_with_the_option(
            words in 0usize..=10,
            fill in any::<u8>(),
            payload in proptest::collection::vec(any::<u8>(), 0..64),
            port in any::<u16>(),
            flags in any::<u8>(),
        ) {
            // NOPs/any bytes as options: the option area is opaque to insert().
            let opts = vec![fill; words * 4];
            let mut p = packet(flags, &opts, &payload);
            let n = p.len();
            p.resize(n + LEN6, 0);
            let before = p.clone();
            let r = insert(&mut p, CLIENT.into(), port);
            if 20 + opts.len() + LEN6 > 60 {
                prop_assert_eq!(r, Err(Error::Unsupported));
                prop_assert_eq!(p, before);
            } else {
                prop_assert_eq!(r, Ok(()));
                let mut with = option(port);
                with.extend_from_slice(&opts);
                prop_assert_eq!(&p, &packet(flags, &with, &payload));
                prop_assert!(checksum_ok(&p));
            }
        }
    }
}
