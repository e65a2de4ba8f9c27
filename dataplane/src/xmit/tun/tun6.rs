//! TUN forwarding for IPv6 services (IPVS `ip_vs_tunnel_xmit_v6`): the client's IPv6
//! packet, unchanged, inside an outer IPv6 header from the director to the real server:
//! ip6ip6 (next header 41, the default), GUE (UDP + GUE with protocol 41) or GRE
//! (protocol type 0x86DD).
//!
//! The outer header follows the kernel: source = the director's address on the egress
//! port, destination = RIP, hop limit copied from the inner packet, traffic class copied
//! with the ECN bits encapsulated (`INET_ECN_encapsulate`: CE becomes ECT(0)), flow label
//! 0 (`ip_vs_tunnel_xmit_v6` clears it).
//!
//! Path MTU (`__mtu_check_toobig_v6`): IPv6 routers never fragment, so when the inner
//! packet plus the encapsulation exceeds the egress MTU the client gets an ICMPv6 Packet
//! Too Big from the VIP carrying `MTU - overhead` (never below the IPv6 minimum, 1280;
//! the kernel instead refuses to tunnel at all when the route's MTU less the overhead is
//! below 1280). Like Linux, which never rate-limits Packet Too Big ("do not limit pmtu
//! discovery, it would break it", `icmpv6_xrlim_allow`), rvs sends one per offending
//! packet and counts them (`packet_too_big_sent`).

use std::net::Ipv6Addr;

use crate::frame::Frame;
use crate::wire::{checksum, icmpv6, ip_proto, read_ipv6};
use crate::xmit::tun::{
    ecn_encapsulate, make_room, sport_from_hash, write_encap, EncapError, TunnelKind,
    ETHERTYPE_IPV6,
};

const ETH_HDR: usize = 14;
const IPV6_HDR: usize = 40;
/// The IPv6 minimum link MTU (RFC 8200): no Packet Too Big reports less.
pub const IPV6_MIN_MTU: usize = 1280;
/// Bytes of the offending packet a Packet Too Big quotes at most: the error must fit the
/// minimum MTU (RFC 4443 2.4 (c)), as Linux's `icmp6_send` trims it.
pub const ICMP6_QUOTE_MAX: usize = IPV6_MIN_MTU - IPV6_HDR - icmpv6::HEADER_LEN - 4;
/// Hop limit of the errors rvs sends (Linux's default `hop_limit`).
const ICMP6_HOP_LIMIT: u8 = 64;

impl TunnelKind {
    /// Bytes the encapsulation adds in front of the inner IPv6 packet.
    #[inline]
    pub const fn overhead6(self) -> usize {
        IPV6_HDR + self.encap_len()
    }

    /// The outer IPv6 header's next header for an IPv6 inner packet.
    const fn outer_next_header6(self) -> u8 {
        match self {
            TunnelKind::Ipip => ip_proto::IPV6,
            TunnelKind::Gue { .. } => ip_proto::UDP,
            TunnelKind::Gre { .. } => ip_proto::GRE,
        }
    }
}

/// The GUE source port of an IPv6 flow: a hash of the inner addresses, next header and
/// ports (when TCP/UDP follows the fixed header) folded into the local port range, so one
/// flow keeps one source port.
#[inline]
fn gue_source_port6(inner: &[u8]) -> u16 {
    let word = |i: usize| u32::from_be_bytes([inner[i], inner[i + 1], inner[i + 2], inner[i + 3]]);
    let nh = inner[6];
    let ports = match nh {
        ip_proto::TCP | ip_proto::UDP if inner.len() >= IPV6_HDR + 4 => word(IPV6_HDR),
        _ => 0,
    };
    let mut h = 0x9E37_79B1u32;
    for i in (8..40).step_by(4) {
        h = (h ^ word(i)).wrapping_mul(0x85EB_CA6B);
    }
    h ^= ports ^ u32::from(nh);
    h = (h ^ (h >> 15)).wrapping_mul(0xC2B2_AE35);
    h ^= h >> 13;
    sport_from_hash(h)
}

/// Encapsulate the IPv6 packet of `pkt` (an Ethernet frame holding at least a whole IPv6
/// header) for real server `dst`, from the director's address `src`, checking the result
/// against egress `mtu`. On success the frame is Ethernet + outer headers + the unchanged
/// inner packet (Ethernet padding dropped); MACs are left for the caller. On error the
/// frame is unchanged (apart from trailing padding). `EncapError::FragNeeded` here means
/// "answer with Packet Too Big reporting this MTU".
pub fn encapsulate6<P: Frame>(
    pkt: &mut P,
    kind: TunnelKind,
    src: Ipv6Addr,
    dst: Ipv6Addr,
    mtu: usize,
) -> Result<(), EncapError> {
    let data = pkt.data();
    if data.len() < ETH_HDR + IPV6_HDR {
        return Err(EncapError::NoRoom);
    }
    let inner = &data[ETH_HDR..];
    let inner_len = IPV6_HDR + usize::from(u16::from_be_bytes([inner[4], inner[5]]));
    if inner_len > inner.len() {
        return Err(EncapError::NoRoom);
    }
    let overhead = kind.overhead6();
    if inner_len + overhead > mtu {
        let report = mtu.saturating_sub(overhead).max(IPV6_MIN_MTU);
        return Err(EncapError::FragNeeded {
            mtu: report.min(usize::from(u16::MAX)) as u16,
        });
    }
    let tc = (inner[0] << 4) | (inner[1] >> 4);
    let hop_limit = inner[7];
    let sport = match kind {
        TunnelKind::Gue { .. } => gue_source_port6(&inner[..inner_len]),
        _ => 0,
    };
    make_room(pkt, inner_len, overhead)?;
    let out = pkt.data_mut();
    out[12..14].copy_from_slice(&ETHERTYPE_IPV6);
    let tc = ecn_encapsulate(tc);
    let payload_len = (overhead - IPV6_HDR + inner_len) as u16;
    let ip = &mut out[ETH_HDR..ETH_HDR + IPV6_HDR];
    ip[0] = 0x60 | (tc >> 4);
    ip[1] = tc << 4; // flow label 0
    ip[2..4].copy_from_slice(&[0, 0]);
    ip[4..6].copy_from_slice(&payload_len.to_be_bytes());
    ip[6] = kind.outer_next_header6();
    ip[7] = hop_limit;
    ip[8..24].copy_from_slice(&src.octets());
    ip[24..40].copy_from_slice(&dst.octets());
    write_encap(
        &mut out[ETH_HDR + IPV6_HDR..],
        kind,
        sport,
        inner_len,
        ip_proto::IPV6,
        |len| checksum::pseudo_header_v6(src, dst, ip_proto::UDP, u32::from(len)),
    );
    Ok(())
}

/// Turn `pkt`, an Ethernet frame holding an IPv6 packet from a client to a VIP that is too
/// big for the tunnel, into ICMPv6 Packet Too Big (type 2 code 0) reporting `mtu`, from
/// that VIP to the client, in place, as `icmpv6_send` does: hop limit 64, traffic class
/// and flow label 0, quoting as much of the packet as keeps the error within 1280 bytes.
/// Returns the client's address to route it to, or None when the frame cannot hold it
/// (unchanged then).
pub fn packet_too_big_in_place<P: Frame>(pkt: &mut P, mtu: u32) -> Option<Ipv6Addr> {
    let data = pkt.data();
    if data.len() < ETH_HDR + IPV6_HDR {
        return None;
    }
    let inner = &data[ETH_HDR..];
    let inner_len =
        (IPV6_HDR + usize::from(u16::from_be_bytes([inner[4], inner[5]]))).min(inner.len());
    let client = read_ipv6(&inner[8..24]);
    let vip = read_ipv6(&inner[24..40]);
    let quote = inner_len.min(ICMP6_QUOTE_MAX);
    let hdrs = IPV6_HDR + icmpv6::HEADER_LEN + 4;
    let new_len = ETH_HDR + hdrs + quote;
    if new_len > data.len() && !pkt.resize(new_len) {
        return None;
    }
    let out = pkt.data_mut();
    out.copy_within(ETH_HDR..ETH_HDR + quote, ETH_HDR + hdrs);
    if !pkt.resize(new_len) {
        return None;
    }
    let ip = &mut pkt.data_mut()[ETH_HDR..];
    let icmp_len = (icmpv6::HEADER_LEN + 4 + quote) as u16;
    ip[0..4].copy_from_slice(&[0x60, 0, 0, 0]);
    ip[4..6].copy_from_slice(&icmp_len.to_be_bytes());
    ip[6] = ip_proto::ICMPV6;
    ip[7] = ICMP6_HOP_LIMIT;
    ip[8..24].copy_from_slice(&vip.octets());
    ip[24..40].copy_from_slice(&client.octets());
    let icmp = &mut ip[IPV6_HDR..];
    icmp[0] = icmpv6::msg_type::PACKET_TOO_BIG;
    icmp[1] = 0;
    icmp[2..4].copy_from_slice(&[0, 0]);
    icmp[4..8].copy_from_slice(&mtu.to_be_bytes());
    let sum = checksum::combine(&[
        checksum::pseudo_header_v6(vip, client, ip_proto::ICMPV6, u32::from(icmp_len)),
        checksum::data(icmp),
    ]);
    icmp[2..4].copy_from_slice(&(!sum).to_be_bytes());
    Some(client)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::wire::{Icmpv6Packet, Ipv6Packet};
    use crate::xmit::tun::TunnelCsum;

    fn a(s: &str) -> Ipv6Addr {
        s.parse().unwrap()
    }
    fn client() -> Ipv6Addr {
        a("2001:2::1")
    }
    fn vip() -> Ipv6Addr {
        a("2001:2::100")
    }
    fn dip() -> Ipv6Addr {
        a("2001:2:1::254")
    }
    fn rip() -> Ipv6Addr {
        a("2001:2:1::11")
    }

    /// Ethernet + IPv6 (traffic class 0xb7: DSCP 45, ECN CE; flow label 0x12345, hop
    /// limit 61) + UDP 40000 -> 53 + `payload` bytes.
    fn frame(payload: usize) -> Vec<u8> {
        let plen = 8 + payload;
        let mut f = vec![0u8; 14 + 40 + plen];
        f[12..14].copy_from_slice(&[0x86, 0xdd]);
        let ip = &mut f[14..];
        ip[0..4].copy_from_slice(&[0x6b, 0x71, 0x23, 0x45]);
        ip[4..6].copy_from_slice(&(plen as u16).to_be_bytes());
        ip[6] = 17;
        ip[7] = 61;
        ip[8..24].copy_from_slice(&client().octets());
        ip[24..40].copy_from_slice(&vip().octets());
        ip[40..44].copy_from_slice(&[0x9c, 0x40, 0, 53]);
        ip[44..46].copy_from_slice(&(plen as u16).to_be_bytes());
        for (i, b) in ip[48..].iter_mut().enumerate() {
            *b = i as u8;
        }
        f
    }

    /// The internet checksum of `l4` (next header `nh`) in an IPv6 packet from `src` to
    /// `dst` verifies.
    fn l4_sum_ok(src: Ipv6Addr, dst: Ipv6Addr, nh: u8, l4: &[u8]) -> bool {
        checksum::combine(&[
            checksum::pseudo_header_v6(src, dst, nh, l4.len() as u32),
            checksum::data(l4),
        ]) == 0xffff
    }

    #[test]
    fn ip6ip6_gue_gre_headers() {
        let gue = |csum| TunnelKind::Gue { port: 6080, csum };
        for (kind, nh) in [
            (TunnelKind::Ipip, 41),
            (gue(TunnelCsum::NoCsum), 17),
            (gue(TunnelCsum::Csum), 17),
            (gue(TunnelCsum::RemCsum), 17),
            (TunnelKind::Gre { csum: false }, 47),
            (TunnelKind::Gre { csum: true }, 47),
        ] {
            let inner = frame(10);
            let mut f = inner.clone();
            f.extend_from_slice(&[0xee; 4]); // Ethernet padding, dropped
            encapsulate6(&mut f, kind, dip(), rip(), 1500).unwrap();
            let o = kind.overhead6();
            assert_eq!(f.len(), inner.len() + o, "{kind:?}");
            assert_eq!(&f[14 + o..], &inner[14..], "{kind:?}: inner unchanged");
            assert_eq!(&f[12..14], &[0x86, 0xdd]);
            let ip = Ipv6Packet::new_checked(&f[14..]).unwrap();
            assert_eq!(
                (
                    ip.src_addr(),
                    ip.dst_addr(),
                    ip.next_header(),
                    ip.hop_limit()
                ),
                (dip(), rip(), nh, 61),
                "{kind:?}"
            );
            // Traffic class 0xb7 with CE -> 0xb6 (ECT(0)), flow label cleared.
            assert_eq!(&f[14..18], &[0x6b, 0x60, 0, 0], "{kind:?}");
            assert_eq!(ip.payload_len(), inner.len() - 14 + o - 40);
            let l4 = &f[54..];
            match kind {
                TunnelKind::Gue { csum, .. } => {
                    assert_eq!(&l4[2..4], &6080u16.to_be_bytes());
                    assert_eq!(usize::from(u16::from_be_bytes([l4[4], l4[5]])), l4.len());
                    assert_eq!(&l4[8..12], &[0, 41, 0, 0], "GUE v0, proto IPv6");
                    let sport = u16::from_be_bytes([l4[0], l4[1]]);
                    assert!((32768..61000).contains(&sport));
                    if csum == TunnelCsum::NoCsum {
                        assert_eq!(&l4[6..8], &[0, 0], "udp6_set_csum(nocheck)");
                    } else {
                        assert_ne!(&l4[6..8], &[0, 0]);
                        assert!(l4_sum_ok(dip(), rip(), 17, l4), "{kind:?}: UDP checksum");
                    }
                }
                TunnelKind::Gre { csum: false } => assert_eq!(&l4[..4], &[0, 0, 0x86, 0xdd]),
                TunnelKind::Gre { csum: true } => {
                    assert_eq!(&l4[..4], &[0x80, 0, 0x86, 0xdd]);
                    assert_eq!(&l4[6..8], &[0, 0], "reserved1");
                    assert_eq!(checksum::data(l4), 0xffff, "GRE checksum");
                }
                TunnelKind::Ipip => {}
            }
        }
    }

    #[test]
    fn gue_source_port_is_per_flow() {
        let a = frame(0);
        let mut b = frame(0);
        b[54] ^= 1; // other client port
        let pa = gue_source_port6(&a[14..]);
        assert_eq!(pa, gue_source_port6(&frame(50)[14..]));
        assert_ne!(pa, gue_source_port6(&b[14..]));
    }

    #[test]
    fn too_big_answers_packet_too_big_from_the_vip() {
        // 1460-byte inner + 40 fits ip6ip6 at MTU 1500 exactly; one byte more does not.
        let mut fits = frame(1460 - 48);
        assert_eq!(
            encapsulate6(&mut fits, TunnelKind::Ipip, dip(), rip(), 1500),
            Ok(())
        );
        let big = frame(1461 - 48);
        let mut f = big.clone();
        let gue = TunnelKind::Gue {
            port: 1,
            csum: TunnelCsum::NoCsum,
        };
        assert_eq!(
            encapsulate6(&mut f, gue, dip(), rip(), 1500),
            Err(EncapError::FragNeeded { mtu: 1500 - 52 })
        );
        assert_eq!(f, big, "unchanged on error");
        // Never below the IPv6 minimum.
        let mut small_mtu = frame(1300);
        assert_eq!(
            encapsulate6(&mut small_mtu, TunnelKind::Ipip, dip(), rip(), 1300),
            Err(EncapError::FragNeeded { mtu: 1280 })
        );

        assert_eq!(packet_too_big_in_place(&mut f, 1448), Some(client()));
        assert_eq!(f.len(), 14 + 1280);
        let ip = Ipv6Packet::new_checked(&f[14..]).unwrap();
        assert_eq!(
            (
                ip.src_addr(),
                ip.dst_addr(),
                ip.next_header(),
                ip.hop_limit()
            ),
            (vip(), client(), 58, 64)
        );
        assert_eq!(&f[14..18], &[0x60, 0, 0, 0]);
        assert_eq!(ip.payload_len(), 1240);
        let icmp = Icmpv6Packet::new_checked(ip.payload()).unwrap();
        assert!(icmp.verify_checksum(vip(), client()));
        assert_eq!((icmp.msg_type(), icmp.msg_code()), (2, 0));
        assert_eq!(&icmp.payload()[..4], &1448u32.to_be_bytes());
        assert_eq!(&icmp.payload()[4..], &big[14..14 + ICMP6_QUOTE_MAX]);
        // A short packet is quoted whole.
        let mut s = frame(3);
        let want = s[14..].to_vec();
        packet_too_big_in_place(&mut s, 1280).unwrap();
        assert_eq!(&s[14 + 48..], &want[..]);
        assert_eq!(packet_too_big_in_place(&mut vec![0u8; 40], 1), None);
    }

    fn kinds() -> impl proptest::strategy::Strategy<Value = TunnelKind> {
        use proptest::prelude::*;
        let csum = prop_oneof![
            Just(TunnelCsum::NoCsum),
            Just(TunnelCsum::Csum),
            Just(TunnelCsum::RemCsum)
        ];
        prop_oneof![
            Just(TunnelKind::Ipip),
            (1u16.., csum).prop_map(|(port, csum)| TunnelKind::Gue { port, csum }),
            any::<bool>().prop_map(|csum| TunnelKind::Gre { csum }),
        ]
    }

    proptest::proptest! {
        /// Whatever the kind and size: either the packet is encapsulated unchanged with
        /// consistent lengths and verifying checksums, or it is too big exactly when
        /// inner + overhead exceeds the MTU.
        #[test]
        fn encapsulation_is_consistent(
            kind in kinds(),
            payload in 0usize..1600,
            mtu in 1280usize..=1600,
            pad in 0usize..8,
        ) {
            let inner = frame(payload);
            let mut f = inner.clone();
            f.extend(std::iter::repeat_n(0xee, pad));
            let r = encapsulate6(&mut f, kind, dip(), rip(), mtu);
            let o = kind.overhead6();
            if inner.len() - 14 + o > mtu {
                let want = (mtu - o).max(IPV6_MIN_MTU) as u16;
                proptest::prop_assert_eq!(r, Err(EncapError::FragNeeded { mtu: want }));
                return Ok(());
            }
            proptest::prop_assert_eq!(r, Ok(()));
            proptest::prop_assert_eq!(&f[14 + o..], &inner[14..]);
            let plen = usize::from(u16::from_be_bytes([f[18], f[19]]));
            proptest::prop_assert_eq!(plen, f.len() - 54);
            let l4 = &f[54..];
            match kind {
                TunnelKind::Gue { csum, .. } => {
                    proptest::prop_assert_eq!(usize::from(u16::from_be_bytes([l4[4], l4[5]])), l4.len());
                    if csum != TunnelCsum::NoCsum {
                        proptest::prop_assert!(l4_sum_ok(dip(), rip(), 17, l4));
                    }
                }
                TunnelKind::Gre { csum: true } => {
                    proptest::prop_assert_eq!(checksum::data(l4), 0xffff);
                }
                _ => {}
            }
        }
    }

    #[test]
    fn malformed_frames_are_refused() {
        let mut short = vec![0u8; 50];
        assert_eq!(
            encapsulate6(&mut short, TunnelKind::Ipip, dip(), rip(), 1500),
            Err(EncapError::NoRoom)
        );
        let mut lying = frame(0);
        lying[18] = 9; // payload length beyond the frame
        assert_eq!(
            encapsulate6(&mut lying, TunnelKind::Ipip, dip(), rip(), 1500),
            Err(EncapError::NoRoom)
        );
    }
}
