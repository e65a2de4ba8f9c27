//! Tests of the encapsulation and of the too-big answers, for each family.

/// IPv4 (`ip_vs_tunnel_xmit`).
mod v4 {
    use std::net::Ipv4Addr;

    use crate::wire::{checksum, Icmpv4Packet, Ipv4Packet};
    use crate::xmit::tun::encap::*;
    use crate::xmit::tun::*;

    fn gue_source_port(inner: &[u8]) -> u16 {
        sport_from_hash(<Ipv4Addr as TunnelFamily>::flow_hash(inner))
    }

    const CLIENT: Ipv4Addr = Ipv4Addr::new(198, 18, 0, 1);
    const VIP: Ipv4Addr = Ipv4Addr::new(198, 18, 0, 100);
    const DIP: Ipv4Addr = Ipv4Addr::new(198, 19, 0, 254);
    const RIP: Ipv4Addr = Ipv4Addr::new(198, 19, 0, 11);

    /// Ethernet + IPv4 (DF per `df`, TOS 0x03 = CE) + UDP 40000 -> 53 + `payload` bytes.
    fn frame(df: bool, payload: usize) -> Vec<u8> {
        let total = 20 + 8 + payload;
        let mut f = vec![0u8; 14 + total];
        f[12..14].copy_from_slice(&[8, 0]);
        f[14..34].copy_from_slice(&[
            0x45,
            0x03,
            (total >> 8) as u8,
            total as u8,
            0xab,
            0xcd,
            if df { 0x40 } else { 0 },
            0,
            61,
            17,
            0,
            0,
            198,
            18,
            0,
            1,
            198,
            18,
            0,
            100,
        ]);
        f[34..42].copy_from_slice(&[
            0x9c,
            0x40,
            0,
            53,
            ((total - 20) >> 8) as u8,
            (total - 20) as u8,
            0,
            0,
        ]);
        Ipv4Packet::new_unchecked(&mut f[14..]).fill_checksum();
        f
    }

    #[test]
    fn ipip_gue_gre_headers() {
        for (kind, proto) in [
            (TunnelKind::Ipip, 4),
            (
                TunnelKind::Gue {
                    port: 6080,
                    csum: TunnelCsum::NoCsum,
                },
                17,
            ),
            (TunnelKind::Gre { csum: false }, 47),
        ] {
            let inner = frame(true, 10);
            let mut f = inner.clone();
            f.extend_from_slice(&[0xee; 4]); // Ethernet padding, dropped
            encapsulate(&mut f, kind, DIP, RIP, DEFAULT_MTU).unwrap();
            let o = kind.overhead::<Ipv4Addr>();
            assert_eq!(f.len(), inner.len() + o);
            assert_eq!(
                &f[14 + o..],
                &inner[14..],
                "{kind:?}: inner packet unchanged"
            );
            let ip = Ipv4Packet::new_checked(&f[14..]).unwrap();
            assert!(ip.verify_checksum());
            assert_eq!(
                (ip.src_addr(), ip.dst_addr(), ip.protocol()),
                (DIP, RIP, proto)
            );
            assert_eq!((ip.ttl(), ip.dscp_ecn(), ip.ident()), (61, 0x02, 0));
            assert!(ip.dont_frag());
            assert_eq!(ip.total_len(), inner.len() - 14 + o);
            match kind {
                TunnelKind::Gue { .. } => {
                    let u = &f[34..46];
                    assert_eq!(&u[2..4], &6080u16.to_be_bytes());
                    assert_eq!(
                        u16::from_be_bytes([u[4], u[5]]) as usize,
                        8 + 4 + inner.len() - 14
                    );
                    assert_eq!(&u[6..12], &[0, 0, 0, 4, 0, 0]);
                    let sport = u16::from_be_bytes([u[0], u[1]]);
                    assert!((32768..61000).contains(&sport));
                }
                TunnelKind::Gre { .. } => assert_eq!(&f[34..38], &[0, 0, 8, 0]),
                TunnelKind::Ipip => {}
            }
        }
    }

    #[test]
    fn gue_source_port_is_per_flow() {
        let a = frame(true, 0);
        let mut b = frame(true, 0);
        b[35] ^= 1; // other client port
        let pa = gue_source_port(&a[14..]);
        assert_eq!(pa, gue_source_port(&frame(true, 50)[14..]));
        assert_ne!(pa, gue_source_port(&b[14..]));
    }

    #[test]
    fn mtu_check_and_frag_needed() {
        // 1480-byte inner + 20 fits IPIP exactly; one byte more does not.
        let mut fits = frame(true, 1480 - 28);
        assert_eq!(
            encapsulate(&mut fits, TunnelKind::Ipip, DIP, RIP, 1500),
            Ok(())
        );
        let big = frame(true, 1481 - 28);
        let mut f = big.clone();
        assert_eq!(
            encapsulate(
                &mut f,
                TunnelKind::Gue {
                    port: 1,
                    csum: TunnelCsum::NoCsum
                },
                DIP,
                RIP,
                1500
            ),
            Err(EncapError::FragNeeded { mtu: 1468 })
        );
        assert_eq!(f, big, "unchanged on error");
        let mut nodf = frame(false, 1481 - 28);
        assert_eq!(
            encapsulate(&mut nodf, TunnelKind::Ipip, DIP, RIP, 1500),
            Err(EncapError::TooBig)
        );
        // Without DF the outer ID is the inner one.
        let mut small = frame(false, 4);
        encapsulate(&mut small, TunnelKind::Gre { csum: false }, DIP, RIP, 1500).unwrap();
        assert_eq!(&small[18..22], &[0xab, 0xcd, 0, 0]);

        assert_eq!(frag_needed_in_place(&mut f, 1480), Some(CLIENT));
        assert_eq!(f.len(), 14 + 20 + 8 + ICMP_QUOTE_MAX);
        let ip = Ipv4Packet::new_checked(&f[14..]).unwrap();
        assert!(ip.verify_checksum());
        assert_eq!(
            (ip.src_addr(), ip.dst_addr(), ip.protocol()),
            (VIP, CLIENT, 1)
        );
        assert_eq!((ip.ttl(), ip.dscp_ecn()), (64, 0xc2));
        let icmp = Icmpv4Packet::new_checked(ip.payload()).unwrap();
        assert!(icmp.verify_checksum());
        assert_eq!(
            (icmp.msg_type(), icmp.msg_code(), icmp.next_hop_mtu()),
            (3, 4, 1480)
        );
        assert_eq!(icmp.data(), &big[14..14 + ICMP_QUOTE_MAX]);
        // A short packet is quoted whole.
        let mut s = frame(true, 3);
        let want = s[14..].to_vec();
        frag_needed_in_place(&mut s, 1000).unwrap();
        assert_eq!(&s[42..], &want[..]);
        assert_eq!(frag_needed_in_place(&mut vec![0u8; 20], 1), None);
    }

    #[test]
    fn csum_options_over_ipv4() {
        for csum in [TunnelCsum::Csum, TunnelCsum::RemCsum] {
            let mut f = frame(true, 33);
            let kind = TunnelKind::Gue { port: 6080, csum };
            encapsulate(&mut f, kind, DIP, RIP, 1500).unwrap();
            let udp = &f[34..];
            assert_ne!(&udp[6..8], &[0, 0], "{csum:?}");
            let sum = checksum::combine(&[
                checksum::pseudo_header_v4(DIP, RIP, 17, udp.len() as u16),
                checksum::data(udp),
            ]);
            assert_eq!(sum, 0xffff, "{csum:?}: UDP checksum verifies");
            // No remote-checksum private option: the forwarded packet's checksum is
            // complete (see TunnelCsum::RemCsum).
            assert_eq!(&udp[8..12], &[0, 4, 0, 0]);
        }
        let inner = frame(true, 7);
        let mut f = inner.clone();
        let gre = TunnelKind::Gre { csum: true };
        assert_eq!(gre.overhead::<Ipv4Addr>(), 28);
        encapsulate(&mut f, gre, DIP, RIP, 1500).unwrap();
        assert_eq!(&f[34..36], &[0x80, 0]);
        assert_eq!(&f[40..42], &[0, 0], "reserved1");
        assert_eq!(checksum::data(&f[34..]), 0xffff, "GRE checksum verifies");
        assert_eq!(&f[42..], &inner[14..]);
        assert_eq!(inner_offset(47, 20, &f[34..]), Some(28));
        assert_eq!(inner_offset(47, 20, &[0, 0, 8, 0]), Some(24));
    }

    #[test]
    fn malformed_frames_are_refused() {
        let mut short = vec![0u8; 30];
        assert_eq!(
            encapsulate(&mut short, TunnelKind::Ipip, DIP, RIP, 1500),
            Err(EncapError::NoRoom)
        );
        let mut lying = frame(true, 0);
        lying[17] = 200; // total length beyond the frame
        assert_eq!(
            encapsulate(&mut lying, TunnelKind::Ipip, DIP, RIP, 1500),
            Err(EncapError::NoRoom)
        );
    }
}

/// IPv6 (`ip_vs_tunnel_xmit_v6`).
mod v6 {
    use std::net::Ipv6Addr;

    use crate::wire::{checksum, Icmpv6Packet, Ipv6Packet};
    use crate::xmit::tun::encap::*;
    use crate::xmit::tun::*;

    fn gue_source_port6(inner: &[u8]) -> u16 {
        sport_from_hash(<Ipv6Addr as TunnelFamily>::flow_hash(inner))
    }

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
            encapsulate(&mut f, kind, dip(), rip(), 1500).unwrap();
            let o = kind.overhead::<Ipv6Addr>();
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
            encapsulate(&mut fits, TunnelKind::Ipip, dip(), rip(), 1500),
            Ok(())
        );
        let big = frame(1461 - 48);
        let mut f = big.clone();
        let gue = TunnelKind::Gue {
            port: 1,
            csum: TunnelCsum::NoCsum,
        };
        assert_eq!(
            encapsulate(&mut f, gue, dip(), rip(), 1500),
            Err(EncapError::FragNeeded { mtu: 1500 - 52 })
        );
        assert_eq!(f, big, "unchanged on error");
        // Never below the IPv6 minimum.
        let mut small_mtu = frame(1300);
        assert_eq!(
            encapsulate(&mut small_mtu, TunnelKind::Ipip, dip(), rip(), 1300),
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
            let r = encapsulate(&mut f, kind, dip(), rip(), mtu);
            let o = kind.overhead::<Ipv6Addr>();
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
            encapsulate(&mut short, TunnelKind::Ipip, dip(), rip(), 1500),
            Err(EncapError::NoRoom)
        );
        let mut lying = frame(0);
        lying[18] = 9; // payload length beyond the frame
        assert_eq!(
            encapsulate(&mut lying, TunnelKind::Ipip, dip(), rip(), 1500),
            Err(EncapError::NoRoom)
        );
    }
}
