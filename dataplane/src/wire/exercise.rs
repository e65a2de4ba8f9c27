//! Drive every view's checked constructor and every accessor over arbitrary bytes, and
//! check the invariants the rest of the dataplane relies on.
//!
//! Shared by the property tests (`wire::tests`) and the cargo-fuzz target
//! `dataplane/fuzz/fuzz_targets/parse_packet.rs`, which includes this file by path; it
//! is not part of the dataplane's API. Panics (assertions) mean a bug.

use crate::wire::arp::{ArpPacket, ArpRepr};
use crate::wire::ethernet::{EtherType, EthernetFrame};
use crate::wire::icmp6_error::{rewrite_icmp6_error_dst, rewrite_icmp6_error_src, Quote6};
use crate::wire::icmpv4::{Icmpv4Packet, Icmpv4Repr};
use crate::wire::icmpv6::Icmpv6Packet;
use crate::wire::ipv4::Ipv4Packet;
use crate::wire::ipv6::Ipv6Packet;
use crate::wire::nat::{
    decrement_ttl, rewrite_both, rewrite_both_parsed, rewrite_dst, rewrite_dst_parsed,
    rewrite_icmp_error_dst, rewrite_icmp_error_src, rewrite_src, rewrite_src_parsed,
};
use crate::wire::nat6::{decrement_hop_limit, rewrite_both6, rewrite_dst6, rewrite_src6};
use crate::wire::tcp::TcpPacket;
use crate::wire::udp::UdpPacket;
use crate::wire::{ip_proto, MacAddr};
use std::net::{Ipv4Addr, Ipv6Addr};

/// Feed `data` through every view, as an Ethernet frame and as a bare IP packet.
pub fn parse_packet(data: &[u8]) {
    if let Ok(eth) = EthernetFrame::new_checked(data) {
        let _ = (eth.dst_addr(), eth.src_addr(), eth.ethertype().to_string());
        assert_eq!(eth.payload().len(), data.len() - 14);
        match eth.ethertype() {
            EtherType::ARP => arp(eth.payload()),
            EtherType::IPV6 => ipv6(eth.payload()),
            _ => ipv4(eth.payload()),
        }
    }
    arp(data);
    ipv4(data);
    ipv6(data);
    l4(data);
}

fn arp(data: &[u8]) {
    let Ok(p) = ArpPacket::new_checked(data) else {
        assert!(data.len() < 28);
        return;
    };
    let _ = (
        p.hardware_type(),
        p.protocol_type(),
        p.hardware_len(),
        p.protocol_len(),
    );
    let _ = (
        p.operation(),
        p.source_hardware_addr(),
        p.source_protocol_addr(),
    );
    let _ = (p.target_hardware_addr(), p.target_protocol_addr());
    if let Ok(r) = ArpRepr::parse(&p) {
        let mut out = [0u8; 28];
        r.emit(&mut ArpPacket::new_unchecked(&mut out[..]));
        assert_eq!(ArpRepr::parse(&ArpPacket::new_unchecked(&out[..])), Ok(r));
    }
    let mut copy = data.to_vec();
    let mut p = ArpPacket::new_checked(&mut copy[..]).unwrap();
    let was_request = p.is_ethernet_ipv4() && p.operation() == crate::wire::ArpOperation::Request;
    assert_eq!(
        p.make_reply_in_place(MacAddr([2, 0, 0, 0, 0, 1])).is_ok(),
        was_request
    );
}

fn ipv4(data: &[u8]) {
    let Ok(ip) = Ipv4Packet::new_checked(data) else {
        return;
    };
    let _ = (
        ip.version(),
        ip.dscp_ecn(),
        ip.ident(),
        ip.dont_frag(),
        ip.more_frags(),
    );
    let _ = (
        ip.frag_offset(),
        ip.is_fragment(),
        ip.ttl(),
        ip.checksum(),
        ip.verify_checksum(),
    );
    let _ = (
        ip.src_addr(),
        ip.dst_addr(),
        ip.options(),
        ip.pseudo_header_sum(),
    );
    assert!((20..=60).contains(&ip.header_len()));
    assert_eq!(ip.options().len(), ip.header_len() - 20);
    assert_eq!(ip.payload().len(), ip.total_len() - ip.header_len());
    let (src, dst) = (ip.src_addr(), ip.dst_addr());
    let payload = ip.payload();
    match ip.protocol() {
        ip_proto::TCP => tcp(payload, Some((src, dst)), None),
        ip_proto::UDP => udp(payload, Some((src, dst)), None),
        ip_proto::ICMP => icmpv4(payload),
        _ => {}
    }
    let valid_before = fully_valid(data);

    // Rewrites: all-or-nothing, and they keep valid checksums valid.
    for dst_side in [false, true] {
        let mut copy = data.to_vec();
        let addr = Ipv4Addr::new(198, 19, 255, 254);
        let r = if dst_side {
            rewrite_dst(&mut copy, addr, 0xfffe)
        } else {
            rewrite_src(&mut copy, addr, 0xfffe)
        };
        check_rewrite(data, &copy, r, valid_before, dst_side, addr);
        // The established path's variant (no panic on any bytes): on the packets the
        // full checks accept as TCP/UDP, the same result and bytes.
        let mut parsed = data.to_vec();
        let rp = if dst_side {
            rewrite_dst_parsed(&mut parsed, addr, 0xfffe)
        } else {
            rewrite_src_parsed(&mut parsed, addr, 0xfffe)
        };
        if r.is_ok() && matches!(ip.protocol(), ip_proto::TCP | ip_proto::UDP) {
            assert_eq!(rp, Ok(()));
            assert_eq!(
                parsed, copy,
                "the parsed rewrite differs from the checked one"
            );
        }
        if rp.is_err() {
            assert_eq!(parsed, data, "a failed parsed rewrite changed the packet");
        }
        let mut copy = data.to_vec();
        let r = if dst_side {
            rewrite_icmp_error_dst(&mut copy, addr, 0xfffe)
        } else {
            rewrite_icmp_error_src(&mut copy, addr, 0xfffe)
        };
        check_rewrite(data, &copy, r, valid_before, dst_side, addr);
    }
    // Both ends at once (FULLNAT): the bytes of the two one-end rewrites in turn, or
    // nothing at all.
    let (s_to, d_to) = (
        (Ipv4Addr::new(198, 19, 255, 253), 0xfffd),
        (Ipv4Addr::new(198, 19, 255, 254), 0xfffe),
    );
    let mut both = data.to_vec();
    let r = rewrite_both(&mut both, s_to, d_to);
    let mut twice = data.to_vec();
    let r2 = rewrite_src(&mut twice, s_to.0, s_to.1)
        .and_then(|()| rewrite_dst(&mut twice, d_to.0, d_to.1));
    let mut parsed = data.to_vec();
    let rp = rewrite_both_parsed(&mut parsed, s_to, d_to);
    if r.is_ok() && matches!(ip.protocol(), ip_proto::TCP | ip_proto::UDP) {
        assert_eq!(rp, Ok(()));
        assert_eq!(
            parsed, both,
            "rewrite_both_parsed differs from rewrite_both"
        );
    }
    if rp.is_err() {
        assert_eq!(parsed, data, "a failed parsed rewrite changed the packet");
    }
    match r {
        Ok(()) => {
            assert!(r2.is_ok());
            assert_eq!(
                both, twice,
                "rewrite_both differs from rewrite_src + rewrite_dst"
            );
        }
        Err(_) => {
            assert!(r2.is_err());
            assert_eq!(both, data, "failed rewrite changed the packet");
        }
    }
    let mut copy = data.to_vec();
    if decrement_ttl(&mut copy) {
        assert_eq!(copy[8], data[8] - 1);
        if ip.verify_checksum() {
            assert!(Ipv4Packet::new_checked(&copy[..])
                .unwrap()
                .verify_checksum());
        }
    } else {
        assert_eq!(copy, data);
    }

    // Setters on a checked view must not panic either.
    let mut copy = data.to_vec();
    let mut ip = Ipv4Packet::new_checked(&mut copy[..]).unwrap();
    ip.options_mut().fill(1);
    ip.payload_mut().fill(0);
    ip.set_dont_frag(true);
    ip.set_more_frags(false);
    ip.set_frag_offset(8);
    ip.fill_checksum();
    assert!(ip.verify_checksum());
}

/// A successful rewrite set the address and kept valid checksums valid; a failed one
/// left the packet alone.
fn check_rewrite(
    data: &[u8],
    copy: &[u8],
    r: Result<(), crate::wire::Error>,
    valid_before: bool,
    dst_side: bool,
    addr: Ipv4Addr,
) {
    match r {
        Ok(()) => {
            if valid_before {
                assert!(fully_valid(copy), "rewrite broke a checksum");
            }
            let ip = Ipv4Packet::new_checked(copy).unwrap();
            assert_eq!(
                if dst_side {
                    ip.dst_addr()
                } else {
                    ip.src_addr()
                },
                addr
            );
        }
        Err(_) => assert_eq!(copy, data, "failed rewrite changed the packet"),
    }
}

/// IPv4 header checksum right and, for TCP/UDP/ICMP, the L4 checksum right too.
fn fully_valid(data: &[u8]) -> bool {
    let Ok(ip) = Ipv4Packet::new_checked(data) else {
        return false;
    };
    if !ip.verify_checksum() {
        return false;
    }
    let (s, d) = (ip.src_addr(), ip.dst_addr());
    match ip.protocol() {
        ip_proto::TCP => {
            TcpPacket::new_checked(ip.payload()).is_ok_and(|t| t.verify_checksum_v4(s, d))
        }
        ip_proto::UDP => UdpPacket::new_checked(ip.payload())
            .is_ok_and(|u| u.len() == ip.payload().len() && u.verify_checksum_v4(s, d)),
        ip_proto::ICMP => {
            Icmpv4Packet::new_checked(ip.payload()).is_ok_and(|i| i.verify_checksum())
        }
        _ => true,
    }
}

fn ipv6(data: &[u8]) {
    let Ok(ip) = Ipv6Packet::new_checked(data) else {
        return;
    };
    let _ = (
        ip.version(),
        ip.traffic_class(),
        ip.flow_label(),
        ip.hop_limit(),
    );
    let _ = (ip.src_addr(), ip.dst_addr(), ip.pseudo_header_sum());
    assert_eq!(ip.payload().len(), ip.payload_len());
    let addrs = (ip.src_addr(), ip.dst_addr());
    match ip.next_header() {
        ip_proto::TCP => tcp(ip.payload(), None, Some(addrs)),
        ip_proto::UDP => udp(ip.payload(), None, Some(addrs)),
        ip_proto::ICMPV6 => {
            if let Ok(p) = Icmpv6Packet::new_checked(ip.payload()) {
                let _ = (p.msg_type(), p.msg_code(), p.checksum(), p.payload());
                let _ = p.verify_checksum(addrs.0, addrs.1);
            }
        }
        _ => {}
    }
    // NAT rewrites: all-or-nothing, and a valid TCP/UDP checksum stays valid.
    let valid_before = l4_checksum_ok6(data);
    for dst_side in [false, true] {
        let mut copy = data.to_vec();
        let addr = Ipv6Addr::new(0x2001, 2, 0, 1, 0, 0, 0, 0xfffe);
        let r = if dst_side {
            rewrite_dst6(&mut copy, addr, 0xfffe)
        } else {
            rewrite_src6(&mut copy, addr, 0xfffe)
        };
        match r {
            Err(_) => assert_eq!(copy, data, "a failed IPv6 rewrite changed the packet"),
            Ok(()) => {
                let p = Ipv6Packet::new_checked(&copy[..]).unwrap();
                let got = if dst_side { p.dst_addr() } else { p.src_addr() };
                assert_eq!(got, addr);
                assert_eq!(&copy[40 + p.payload_len()..], &data[40 + p.payload_len()..]);
                if valid_before {
                    assert!(l4_checksum_ok6(&copy), "IPv6 rewrite broke the checksum");
                }
            }
        }
    }
    // Both ends at once (FULLNAT): the bytes of the two one-end rewrites, or nothing.
    let (s_to, d_to) = (
        (Ipv6Addr::new(0x2001, 2, 0, 1, 0, 0, 0, 0xfffd), 0xfffd),
        (Ipv6Addr::new(0x2001, 2, 0, 1, 0, 0, 0, 0xfffe), 0xfffe),
    );
    let mut both = data.to_vec();
    let r = rewrite_both6(&mut both, s_to, d_to);
    let mut twice = data.to_vec();
    let r2 = rewrite_src6(&mut twice, s_to.0, s_to.1)
        .and_then(|()| rewrite_dst6(&mut twice, d_to.0, d_to.1));
    assert_eq!(r.is_ok(), r2.is_ok());
    if r.is_ok() {
        assert_eq!(
            both, twice,
            "rewrite_both6 differs from the two one-end rewrites"
        );
    } else {
        assert_eq!(both, data, "a failed IPv6 rewrite changed the packet");
    }
    icmp6_error(data);
    let mut copy = data.to_vec();
    if decrement_hop_limit(&mut copy) {
        assert_eq!(copy[7], data[7] - 1);
        assert_eq!(&copy[..7], &data[..7]);
        assert_eq!(&copy[8..], &data[8..]);
    } else {
        assert_eq!(copy, data);
    }
    let mut copy = data.to_vec();
    let mut ip = Ipv6Packet::new_checked(&mut copy[..]).unwrap();
    ip.set_traffic_class(0xff);
    ip.set_flow_label(u32::MAX);
    ip.payload_mut().fill(0);
    assert_eq!(
        (ip.version(), ip.traffic_class(), ip.flow_label()),
        (6, 0xff, 0xfffff)
    );
}

/// Whether `data` is an IPv6 TCP/UDP packet whose L4 checksum verifies.
fn l4_checksum_ok6(data: &[u8]) -> bool {
    let Ok(ip) = Ipv6Packet::new_checked(data) else {
        return false;
    };
    let ok_len = match ip.next_header() {
        ip_proto::TCP => TcpPacket::new_checked(ip.payload()).is_ok(),
        ip_proto::UDP => UdpPacket::new_checked(ip.payload()).is_ok(),
        _ => false,
    };
    ok_len
        && crate::wire::checksum::combine(&[
            ip.pseudo_header_sum(),
            crate::wire::checksum::data(ip.payload()),
        ]) == 0xFFFF
}

fn tcp(data: &[u8], v4: Option<(Ipv4Addr, Ipv4Addr)>, v6: Option<(Ipv6Addr, Ipv6Addr)>) {
    let Ok(t) = TcpPacket::new_checked(data) else {
        return;
    };
    let _ = (
        t.src_port(),
        t.dst_port(),
        t.seq_number(),
        t.ack_number(),
        t.flags(),
    );
    let _ = (
        t.window_len(),
        t.checksum(),
        t.urgent_at(),
        t.flags().to_string(),
    );
    assert_eq!(t.options().len() + 20, t.header_len());
    assert_eq!(t.payload().len() + t.header_len(), data.len());
    let mut copy = data.to_vec();
    let mut t = TcpPacket::new_checked(&mut copy[..]).unwrap();
    t.options_mut().fill(1);
    t.payload_mut().fill(0);
    if let Some((s, d)) = v4 {
        let _ = t.verify_checksum_v4(s, d);
        if data.len() <= usize::from(u16::MAX) {
            t.fill_checksum_v4(s, d);
            assert!(t.verify_checksum_v4(s, d));
        }
    }
    if let Some((s, d)) = v6 {
        t.fill_checksum_v6(s, d);
        assert!(t.verify_checksum_v6(s, d));
    }
}

fn udp(data: &[u8], v4: Option<(Ipv4Addr, Ipv4Addr)>, v6: Option<(Ipv6Addr, Ipv6Addr)>) {
    let Ok(u) = UdpPacket::new_checked(data) else {
        return;
    };
    let _ = (u.src_port(), u.dst_port(), u.checksum());
    assert_eq!(u.payload().len() + 8, u.len());
    let mut copy = data.to_vec();
    let mut u = UdpPacket::new_checked(&mut copy[..]).unwrap();
    u.payload_mut().fill(0xff);
    if let Some((s, d)) = v4 {
        let _ = u.verify_checksum_v4(s, d);
        u.fill_checksum_v4(s, d);
        assert!(u.checksum() != 0 && u.verify_checksum_v4(s, d));
    }
    if let Some((s, d)) = v6 {
        let _ = u.verify_checksum_v6(s, d);
        u.fill_checksum_v6(s, d);
        assert!(u.checksum() != 0 && u.verify_checksum_v6(s, d));
    }
}

fn icmpv4(data: &[u8]) {
    let Ok(p) = Icmpv4Packet::new_checked(data) else {
        return;
    };
    let _ = (
        p.msg_type(),
        p.msg_code(),
        p.checksum(),
        p.verify_checksum(),
    );
    let _ = (
        p.echo_ident(),
        p.echo_seq_no(),
        p.next_hop_mtu(),
        p.data(),
        p.quoted(),
    );
    if let Ok(r) = Icmpv4Repr::parse(&p) {
        let mut out = vec![0u8; r.buffer_len()];
        assert_eq!(out.len(), data.len());
        r.emit(&mut Icmpv4Packet::new_unchecked(&mut out[..]));
        let again = Icmpv4Packet::new_checked(&out[..]).unwrap();
        assert_eq!(Icmpv4Repr::parse(&again), Ok(r));
    }
}

/// Feed `data` to the L4 views directly (they are also reached through IP above, but
/// only with consistent lengths).
fn l4(data: &[u8]) {
    let v4 = (Ipv4Addr::new(198, 18, 0, 1), Ipv4Addr::new(198, 18, 0, 2));
    let v6 = (
        Ipv6Addr::new(0x2001, 2, 0, 0, 0, 0, 0, 1),
        Ipv6Addr::new(0x2001, 2, 0, 0, 0, 0, 0, 2),
    );
    tcp(data, Some(v4), Some(v6));
    udp(data, Some(v4), Some(v6));
    icmpv4(data);
    if let Ok(p) = Icmpv6Packet::new_checked(data) {
        let _ = (p.msg_type(), p.msg_code(), p.checksum(), p.payload());
    }
}

/// ICMPv6 error NAT over an IPv6 packet: all or nothing, a valid ICMPv6 checksum stays
/// valid, and the quote parsed afterwards carries the new address and port.
fn icmp6_error(data: &[u8]) {
    let ok = |b: &[u8]| {
        let p = Ipv6Packet::new_checked(b).unwrap();
        p.next_header() == ip_proto::ICMPV6
            && Icmpv6Packet::new_checked(p.payload())
                .is_ok_and(|m| m.verify_checksum(p.src_addr(), p.dst_addr()))
    };
    let valid_before = ok(data);
    let addr = Ipv6Addr::new(0x2001, 2, 0, 1, 0, 0, 0, 0xfffd);
    for dst_side in [false, true] {
        let mut copy = data.to_vec();
        let r = if dst_side {
            rewrite_icmp6_error_dst(&mut copy, addr, 0xfffd)
        } else {
            rewrite_icmp6_error_src(&mut copy, addr, 0xfffd)
        };
        match r {
            Err(_) => assert_eq!(
                copy, data,
                "a failed ICMPv6 error rewrite changed the packet"
            ),
            Ok(()) => {
                let q = Quote6::parse(&copy[48..]).expect("the quote still parses");
                if dst_side {
                    assert_eq!((q.src_addr, q.src_port), (addr, 0xfffd));
                } else {
                    assert_eq!((q.dst_addr, q.dst_port), (addr, 0xfffd));
                }
                if valid_before {
                    assert!(ok(&copy), "ICMPv6 error rewrite broke the checksum");
                }
            }
        }
    }
}
