//! Property tests across the wire module: incremental checksum updates equal a full
//! recompute, and no checked view panics on arbitrary bytes.

use std::net::{Ipv4Addr, Ipv6Addr};

use proptest::prelude::*;

use super::exercise::parse_packet;
use super::{checksum, ip_proto, nat, Icmpv4Packet, Ipv4Packet, TcpPacket, UdpPacket};

/// An address in the 198.18.0.0/15 benchmark range.
fn test_v4() -> impl Strategy<Value = Ipv4Addr> {
    (0u32..0x2_0000).prop_map(|low| Ipv4Addr::from(0xC612_0000 | low))
}

/// Checksum corner cases to force: none, computed L4 checksum 0 before the rewrite, or 0
/// after it.
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
enum Corner {
    None,
    ZeroBefore,
    ZeroAfter,
}

#[derive(Clone, Debug)]
struct Spec {
    proto: u8,
    src: Ipv4Addr,
    dst: Ipv4Addr,
    sport: u16,
    dport: u16,
    ident: u16,
    ttl: u8,
    ip_opt_words: usize,
    tcp_opt_words: usize,
    icmp_reply: bool,
    udp_no_csum: bool,
    payload: Vec<u8>,
    pad: usize,
    corner: Corner,
}

fn spec() -> impl Strategy<Value = Spec> {
    (
        prop_oneof![
            Just(ip_proto::TCP),
            Just(ip_proto::UDP),
            Just(ip_proto::ICMP)
        ],
        test_v4(),
        test_v4(),
        any::<u16>(),
        any::<u16>(),
        (any::<u16>(), 2u8..=255, 0usize..=10, 0usize..=10),
        (any::<bool>(), prop::bool::weighted(0.2)),
        prop::collection::vec(any::<u8>(), 2..48),
        0usize..6,
        prop_oneof![
            Just(Corner::None),
            Just(Corner::ZeroBefore),
            Just(Corner::ZeroAfter)
        ],
    )
        .prop_map(
            |(
                proto,
                src,
                dst,
                sport,
                dport,
                (ident, ttl, ipo, tcpo),
                (reply, nocs),
                payload,
                pad,
                corner,
            )| Spec {
                proto,
                src,
                dst,
                sport,
                dport,
                ident,
                ttl,
                ip_opt_words: ipo,
                tcp_opt_words: tcpo,
                icmp_reply: reply,
                udp_no_csum: nocs,
                payload,
                pad,
                corner,
            },
        )
}

/// Fill the IPv4 header checksum and the L4 checksum of `b` from scratch.
fn fill_all(b: &mut [u8], udp_no_csum: bool) {
    let mut ip = Ipv4Packet::new_checked(&mut b[..]).unwrap();
    ip.fill_checksum();
    let (s, d, proto) = (ip.src_addr(), ip.dst_addr(), ip.protocol());
    let l4 = ip.payload_mut();
    match proto {
        ip_proto::TCP => TcpPacket::new_unchecked(l4).fill_checksum_v4(s, d),
        ip_proto::UDP if udp_no_csum => UdpPacket::new_unchecked(l4).set_checksum(0),
        ip_proto::UDP => UdpPacket::new_unchecked(l4).fill_checksum_v4(s, d),
        _ => Icmpv4Packet::new_unchecked(l4).fill_checksum(),
    }
}

/// Offset of the first payload byte inside the IP packet.
fn payload_offset(b: &[u8]) -> usize {
    let ip = Ipv4Packet::new_checked(b).unwrap();
    let hl = ip.header_len();
    hl + match ip.protocol() {
        ip_proto::TCP => TcpPacket::new_checked(ip.payload()).unwrap().header_len(),
        _ => 8,
    }
}

/// Choose the first payload word so that the L4 checksum of `b` (with its current
/// addresses) computes to 0.
fn force_zero_l4_checksum(b: &mut [u8]) {
    let off = payload_offset(b);
    b[off] = 0;
    b[off + 1] = 0;
    let ip = Ipv4Packet::new_checked(&b[..]).unwrap();
    let hl = ip.header_len();
    let csum_off = hl
        + if ip.protocol() == ip_proto::TCP {
            16
        } else if ip.protocol() == ip_proto::UDP {
            6
        } else {
            2
        };
    let ph = if ip.protocol() == ip_proto::ICMP {
        0
    } else {
        ip.pseudo_header_sum()
    };
    let mut l4 = ip.payload().to_vec();
    l4[csum_off - hl] = 0;
    l4[csum_off - hl + 1] = 0;
    let s = checksum::combine(&[ph, checksum::data(&l4)]);
    b[off..off + 2].copy_from_slice(&(!s).to_be_bytes());
}

fn build(s: &Spec) -> Vec<u8> {
    let hl = 20 + 4 * s.ip_opt_words;
    let l4_hdr = match s.proto {
        ip_proto::TCP => 20 + 4 * s.tcp_opt_words,
        _ => 8,
    };
    let total = hl + l4_hdr + s.payload.len();
    let mut b = vec![0u8; total + s.pad];
    {
        let mut ip = Ipv4Packet::new_unchecked(&mut b[..]);
        ip.set_version_and_header_len(hl);
        ip.set_total_len(total as u16);
        ip.set_ident(s.ident);
        ip.set_dont_frag(true);
        ip.set_ttl(s.ttl);
        ip.set_protocol(s.proto);
        ip.set_src_addr(s.src);
        ip.set_dst_addr(s.dst);
        ip.options_mut().fill(1); // NOPs
        let l4 = ip.payload_mut();
        l4[l4_hdr..].copy_from_slice(&s.payload);
        match s.proto {
            ip_proto::TCP => {
                let mut t = TcpPacket::new_unchecked(l4);
                t.set_src_port(s.sport);
                t.set_dst_port(s.dport);
                t.set_seq_number(u32::from(s.ident) << 7);
                t.set_header_len(l4_hdr);
                t.set_flags(super::TcpFlags::SYN);
                t.set_window_len(s.sport ^ s.dport);
                t.options_mut().fill(1);
            }
            ip_proto::UDP => {
                let mut u = UdpPacket::new_unchecked(l4);
                u.set_src_port(s.sport);
                u.set_dst_port(s.dport);
                u.set_len((8 + s.payload.len()) as u16);
            }
            _ => {
                let mut i = Icmpv4Packet::new_unchecked(l4);
                i.set_msg_type(if s.icmp_reply { 0 } else { 8 });
                i.set_echo_ident(s.sport);
                i.set_echo_seq_no(s.dport);
            }
        }
    }
    // Padding is junk that no checksum may cover.
    for (i, p) in b[total..].iter_mut().enumerate() {
        *p = 0xA5 ^ i as u8;
    }
    if s.corner == Corner::ZeroBefore && !(s.proto == ip_proto::UDP && s.udp_no_csum) {
        force_zero_l4_checksum(&mut b);
    }
    fill_all(&mut b, s.udp_no_csum);
    b
}

/// The packet `rewrite_*` must produce, computed the slow way: set fields, recompute all.
fn expected(orig: &[u8], dst_side: bool, addr: Ipv4Addr, port: u16, udp_no_csum: bool) -> Vec<u8> {
    let mut b = orig.to_vec();
    let mut ip = Ipv4Packet::new_checked(&mut b[..]).unwrap();
    if dst_side {
        ip.set_dst_addr(addr);
    } else {
        ip.set_src_addr(addr);
    }
    let proto = ip.protocol();
    let l4 = ip.payload_mut();
    match (proto, dst_side) {
        (ip_proto::TCP | ip_proto::UDP, true) => l4[2..4].copy_from_slice(&port.to_be_bytes()),
        (ip_proto::TCP | ip_proto::UDP, false) => l4[0..2].copy_from_slice(&port.to_be_bytes()),
        _ => Icmpv4Packet::new_unchecked(l4).set_echo_ident(port),
    }
    fill_all(&mut b, udp_no_csum);
    b
}

fn config(cases: u32) -> ProptestConfig {
    ProptestConfig {
        cases,
        failure_persistence: None,
        ..ProptestConfig::default()
    }
}

proptest! {
    #![proptest_config(config(512))]

    /// rewrite_dst / rewrite_src give exactly the bytes of a full recompute, including
    /// computed checksums of 0 (TCP 0x0000, UDP sent as 0xFFFF) before or after, UDP
    /// without a checksum, no-op rewrites, IP options, and Ethernet padding.
    #[test]
    fn nat_rewrite_equals_full_recompute(
        s in spec(),
        dst_side in any::<bool>(),
        new_addr in prop_oneof![3 => test_v4(), 1 => Just(Ipv4Addr::new(0, 0, 0, 0))],
        new_port in prop_oneof![3 => any::<u16>(), 1 => Just(0xFFFFu16), 1 => Just(0u16)],
        same_addr in prop::bool::weighted(0.15),
        same_port in prop::bool::weighted(0.15),
    ) {
        let orig = build(&s);
        let cur_port = match (s.proto, dst_side) {
            (ip_proto::ICMP, _) => s.sport,
            (_, true) => s.dport,
            (_, false) => s.sport,
        };
        let addr = if same_addr { if dst_side { s.dst } else { s.src } } else { new_addr };
        let port = if same_port { cur_port } else { new_port };
        let mut orig = orig;
        if s.corner == Corner::ZeroAfter && !(s.proto == ip_proto::UDP && s.udp_no_csum) {
            // Make the checksum computed *after* the rewrite be 0, then re-derive the
            // original's checksums: the payload word is the same in both.
            let mut after = expected(&orig, dst_side, addr, port, s.udp_no_csum);
            force_zero_l4_checksum(&mut after);
            let off = payload_offset(&orig);
            let word = [after[off], after[off + 1]];
            orig[off..off + 2].copy_from_slice(&word);
            fill_all(&mut orig, s.udp_no_csum);
        }
        let want = expected(&orig, dst_side, addr, port, s.udp_no_csum);
        let mut got = orig.clone();
        let r = if dst_side {
            nat::rewrite_dst(&mut got, addr, port)
        } else {
            nat::rewrite_src(&mut got, addr, port)
        };
        prop_assert_eq!(r, Ok(()));
        prop_assert_eq!(&got, &want);
        if s.proto == ip_proto::UDP {
            let hl = Ipv4Packet::new_checked(&got[..]).unwrap().header_len();
            let c = UdpPacket::new_checked(&got[hl..]).unwrap().checksum();
            prop_assert_eq!(c == 0, s.udp_no_csum);
        }
        // The other fuzz-level invariants hold on these valid packets too.
        parse_packet(&orig);
    }

    /// rewrite_both (FULLNAT: both ends at once) gives exactly the bytes of rewrite_src
    /// then rewrite_dst, including ends left as they are, words changing between 0xFFFF
    /// and 0x0000 (a zero eqn. 3 term) and UDP without a checksum.
    #[test]
    fn rewrite_both_equals_the_two_one_end_rewrites(
        s in spec(),
        saddr in prop_oneof![3 => test_v4(), 1 => Just(Ipv4Addr::new(0, 0, 0, 0)), 1 => Just(Ipv4Addr::new(255, 255, 255, 255))],
        daddr in prop_oneof![3 => test_v4(), 1 => Just(Ipv4Addr::new(0, 0, 0, 0)), 1 => Just(Ipv4Addr::new(255, 255, 255, 255))],
        sport in prop_oneof![3 => any::<u16>(), 1 => Just(0xFFFFu16), 1 => Just(0u16)],
        dport in prop_oneof![3 => any::<u16>(), 1 => Just(0xFFFFu16), 1 => Just(0u16)],
        keep in 0u8..4,
    ) {
        let orig = build(&s);
        // Sometimes an end keeps its address or port (a no-op for that end).
        let (saddr, daddr) = match keep {
            1 => (s.src, daddr),
            2 => (saddr, s.dst),
            _ => (saddr, daddr),
        };
        let (sport, dport) = if keep == 3 && s.proto != ip_proto::ICMP {
            (s.sport, s.dport)
        } else {
            (sport, dport)
        };
        let mut want = orig.clone();
        nat::rewrite_src(&mut want, saddr, sport).unwrap();
        nat::rewrite_dst(&mut want, daddr, dport).unwrap();
        let mut got = orig.clone();
        prop_assert_eq!(nat::rewrite_both(&mut got, (saddr, sport), (daddr, dport)), Ok(()));
        prop_assert_eq!(got, want);
    }

    /// decrement_ttl equals a full header recompute.
    #[test]
    fn ttl_equals_full_recompute(s in spec()) {
        let orig = build(&s);
        let mut got = orig.clone();
        prop_assert!(nat::decrement_ttl(&mut got));
        let mut want = orig.clone();
        let mut ip = Ipv4Packet::new_checked(&mut want[..]).unwrap();
        ip.set_ttl(s.ttl - 1);
        ip.fill_checksum();
        prop_assert_eq!(got, want);
    }

    /// The checksum update primitives equal a full recompute for any data that is not all
    /// zero, including results forced to 0x0000 before or after the change.
    #[test]
    fn checksum_updates_equal_full_recompute(
        data in prop::collection::vec(any::<u8>(), 40..120),
        at_word in 0usize..11,
        new16 in any::<u16>(),
        new32 in any::<u32>(),
        new128 in any::<u128>(),
        corner in prop_oneof![Just(Corner::None), Just(Corner::ZeroBefore), Just(Corner::ZeroAfter)],
    ) {
        // The changed field is at an even offset in 0..=20 (ends before 38); word 19 (bytes 38..40) is free
        // for forcing the corner case.
        let at = at_word * 2;
        let fix = 38;
        for width in [2usize, 4, 16] {
            let mut before = data.clone();
            let mut after = data.clone();
            match width {
                2 => after[at..at + 2].copy_from_slice(&new16.to_be_bytes()),
                4 => after[at..at + 4].copy_from_slice(&new32.to_be_bytes()),
                _ => after[at..at + 16].copy_from_slice(&new128.to_be_bytes()),
            }
            let forced = match corner {
                Corner::None => None,
                Corner::ZeroBefore => Some(&before),
                Corner::ZeroAfter => Some(&after),
            };
            if let Some(target) = forced {
                let mut t = target.clone();
                t[fix] = 0;
                t[fix + 1] = 0;
                let w = (!checksum::data(&t)).to_be_bytes();
                before[fix..fix + 2].copy_from_slice(&w);
                after[fix..fix + 2].copy_from_slice(&w);
            }
            prop_assume!(after.iter().any(|&x| x != 0));
            let hc = checksum::internet(&before);
            let want = checksum::internet(&after);
            let old = &before[at..at + width];
            let new = &after[at..at + width];
            let got = match width {
                2 => checksum::update_u16(hc, u16::from_be_bytes([old[0], old[1]]), new16),
                4 => {
                    let o = u32::from_be_bytes([old[0], old[1], old[2], old[3]]);
                    let a = checksum::update_u32(hc, o, new32);
                    prop_assert_eq!(
                        a,
                        checksum::update_ipv4_addr(hc, Ipv4Addr::from(o), Ipv4Addr::from(new32))
                    );
                    a
                }
                _ => {
                    let mut o = [0u8; 16];
                    o.copy_from_slice(old);
                    checksum::update_ipv6_addr(hc, Ipv6Addr::from(o), Ipv6Addr::from(new128))
                }
            };
            if old != new {
                prop_assert_eq!(got, want, "width {}", width);
                prop_assert_eq!(checksum::update_bytes(hc, old, new), want);
            }
        }
    }

    /// No checked constructor or accessor panics on arbitrary bytes, and the exercise
    /// invariants hold (failed rewrites leave the buffer alone...).
    #[test]
    fn arbitrary_bytes_never_panic(data in prop::collection::vec(any::<u8>(), 0..160)) {
        parse_packet(&data);
    }

    /// Same, starting from valid packets with a few bytes flipped, to get past the length
    /// checks more often than random bytes do.
    #[test]
    fn mutated_packets_never_panic(
        s in spec(),
        flips in prop::collection::vec((any::<prop::sample::Index>(), any::<u8>()), 0..4),
        with_ethernet in any::<bool>(),
    ) {
        let mut b = build(&s);
        for (i, v) in flips {
            let i = i.index(b.len());
            b[i] = v;
        }
        if with_ethernet {
            let mut f = vec![0x02, 0, 0, 0, 0, 1, 0x02, 0, 0, 0, 0, 2, 0x08, 0x00];
            f.extend_from_slice(&b);
            parse_packet(&f);
        } else {
            parse_packet(&b);
        }
    }
}

/// An ICMP error from `from` to `to` quoting `quote` (type 3 code 3, or 11/0).
fn icmp_error(from: Ipv4Addr, to: Ipv4Addr, time_exceeded: bool, quote: &[u8]) -> Vec<u8> {
    let mut b = vec![0u8; 28 + quote.len()];
    let mut ip = Ipv4Packet::new_unchecked(&mut b[..]);
    ip.set_version_and_header_len(20);
    ip.set_total_len((28 + quote.len()) as u16);
    ip.set_ttl(64);
    ip.set_protocol(ip_proto::ICMP);
    ip.set_src_addr(from);
    ip.set_dst_addr(to);
    ip.fill_checksum();
    let mut icmp = Icmpv4Packet::new_unchecked(ip.payload_mut());
    if time_exceeded {
        icmp.set_msg_type(11);
    } else {
        icmp.set_msg_type(3);
        icmp.set_msg_code(3);
    }
    icmp.data_mut().copy_from_slice(quote);
    icmp.fill_checksum();
    b
}

proptest! {
    #![proptest_config(config(256))]

    /// ICMP error NAT equals rebuilding the error from the rewritten invoking packet
    /// with every checksum recomputed, for full quotes and RFC 792 minimal quotes.
    #[test]
    fn icmp_error_rewrite_equals_full_recompute(
        s in spec(),
        outer_src in test_v4(),
        outer_dst in test_v4(),
        dst_side in any::<bool>(),
        addr in test_v4(),
        port in any::<u16>(),
        short_quote in any::<bool>(),
        time_exceeded in any::<bool>(),
    ) {
        let mut s = s;
        if s.proto == ip_proto::ICMP {
            s.proto = ip_proto::UDP;
        }
        s.pad = 0;
        let inner = build(&s);
        let hl = Ipv4Packet::new_checked(&inner[..]).unwrap().header_len();
        let qlen = if short_quote { hl + 8 } else { inner.len() };
        // rewrite_icmp_error_dst: outer dst + quoted src; _src: outer src + quoted dst.
        let mut inner_want = inner.clone();
        {
            let mut ip = Ipv4Packet::new_unchecked(&mut inner_want[..]);
            if dst_side { ip.set_src_addr(addr) } else { ip.set_dst_addr(addr) }
            let l4 = ip.payload_mut();
            let at = if dst_side { 0 } else { 2 };
            l4[at..at + 2].copy_from_slice(&port.to_be_bytes());
        }
        fill_all(&mut inner_want, s.udp_no_csum);
        let orig = icmp_error(outer_src, outer_dst, time_exceeded, &inner[..qlen]);
        let (want_src, want_dst) = if dst_side { (outer_src, addr) } else { (addr, outer_dst) };
        let want = icmp_error(want_src, want_dst, time_exceeded, &inner_want[..qlen]);
        let mut got = orig.clone();
        let r = if dst_side {
            nat::rewrite_icmp_error_dst(&mut got, addr, port)
        } else {
            nat::rewrite_icmp_error_src(&mut got, addr, port)
        };
        prop_assert_eq!(r, Ok(()));
        prop_assert_eq!(got, want);
        parse_packet(&orig);
    }
}

#[test]
fn icmp_error_rewrite_rejects() {
    let inner = build(&Spec {
        proto: ip_proto::TCP,
        src: Ipv4Addr::new(198, 18, 0, 1),
        dst: Ipv4Addr::new(198, 18, 0, 2),
        sport: 40000,
        dport: 80,
        ident: 1,
        ttl: 64,
        ip_opt_words: 0,
        tcp_opt_words: 0,
        icmp_reply: false,
        udp_no_csum: false,
        payload: vec![1, 2],
        pad: 0,
        corner: Corner::None,
    });
    let a = Ipv4Addr::new(198, 19, 0, 1);
    // Quote shorter than header + 8 bytes.
    let mut e = icmp_error(a, a, false, &inner[..27]);
    let before = e.clone();
    assert_eq!(
        nat::rewrite_icmp_error_dst(&mut e, a, 1),
        Err(super::Error::Truncated)
    );
    assert_eq!(e, before);
    // Not an error message.
    let mut e = icmp_error(a, a, false, &inner[..28]);
    e[20] = 8;
    assert_eq!(
        nat::rewrite_icmp_error_src(&mut e, a, 1),
        Err(super::Error::Unsupported)
    );
    // Quoted protocol not TCP/UDP.
    let mut e = icmp_error(a, a, false, &inner[..28]);
    e[28 + 9] = ip_proto::GRE;
    assert_eq!(
        nat::rewrite_icmp_error_src(&mut e, a, 1),
        Err(super::Error::Unsupported)
    );
    // Outer packet not ICMP.
    let mut e = icmp_error(a, a, false, &inner[..28]);
    e[9] = ip_proto::UDP;
    assert_eq!(
        nat::rewrite_icmp_error_src(&mut e, a, 1),
        Err(super::Error::Unsupported)
    );
}

#[test]
fn fixed_frames_through_exercise() {
    // An ARP request frame and the SYN frame run through the same invariants.
    let mut arp = vec![0xff; 6];
    arp.extend_from_slice(&[0x02, 0, 0, 0, 0, 2, 0x08, 0x06]);
    arp.extend_from_slice(&[
        0x00, 0x01, 0x08, 0x00, 0x06, 0x04, 0x00, 0x01, 0x02, 0x00, 0x00, 0x00, 0x00, 0x02, 198,
        18, 0, 2, 0, 0, 0, 0, 0, 0, 198, 18, 0, 1,
    ]);
    parse_packet(&arp);
    let mut syn = vec![0u8; 48];
    syn[..20].copy_from_slice(&[
        0x45, 0, 0, 48, 0, 1, 0x40, 0, 64, 6, 0, 0, 198, 18, 0, 1, 198, 18, 0, 2,
    ]);
    syn[20..].copy_from_slice(&super::tcp::tests::SYN);
    fill_all(&mut syn, false);
    parse_packet(&syn);
}
