//! The translation step: IPv6 NAT both ways, DR and TUN relays, FULLNAT, and what is
//! dropped and counted; where the two families answer differently (`families`).

use std::net::{IpAddr, Ipv6Addr};

use conn_table::{Method, NewConn, Tuple};

use super::fixture6::*;
use crate::counters::DropReason;
use crate::service::Forward;
use crate::test_io::Out;
use crate::wire::ipv6::HEADER_LEN as IP6_HDR;
use crate::wire::{checksum, ip_proto, write_u16};

#[test]
fn nat_errors_are_translated_both_ways() {
    let t = tables(Forward::Masq);
    let mut p = pipeline(&t, 0, 1);
    let mut out = Out::default();
    p.handle(
        &t,
        0,
        from_client(&tcp(CLIENT, 40000, VIP, 80, 0x02, b"")),
        1,
        &mut out,
    );
    assert_eq!(out.0.len(), 1, "the SYN reaches the real server");
    out.0.clear();

    // From the client's side: a router cannot forward a reply (VIP:80 -> client) and
    // says "packet too big, MTU 1280"; the RS gets it about its own packet, MTU kept,
    // hop limit decremented (#25 item 6: every packet towards the RS).
    let big_reply = tcp(VIP, 80, CLIENT, 40000, 0x10, &[7; 100]);
    let mtu = 1280u32.to_be_bytes();
    let ptb = error(2, mtu, ROUTER, VIP, &big_reply);
    p.handle(&t, 0, from_client(&ptb), 2, &mut out);
    let rs_sent = tcp(RS, 8080, CLIENT, 40000, 0x10, &[7; 100]);
    let (port, f) = out.0.pop().unwrap();
    assert_eq!(port, 1);
    let mut want = error(2, mtu, ROUTER, RS, &rs_sent);
    want[7] = 63;
    assert_eq!(f, frame(RS_MAC, LAN_MAC, &want));

    // From the real server's side: "port unreachable" from the RS about what it got
    // (client -> RS:8080, quoted in part); the client gets it from the VIP about its
    // own packet, hop limit decremented.
    let at_rs = tcp(CLIENT, 40000, RS, 8080, 0x02, b"");
    let unreach = error(1, [0; 4], RS, CLIENT, &at_rs[..50]);
    p.handle(&t, 1, from_rs(&unreach), 3, &mut out);
    let sent = tcp(CLIENT, 40000, VIP, 80, 0x02, b"");
    let mut want = error(1, [0; 4], VIP, CLIENT, &sent[..50]);
    want[7] = 63;
    let (port, f) = out.0.pop().unwrap();
    assert_eq!(port, 0);
    assert_eq!(f, frame(CLIENT_MAC, WAN_MAC, &want));
    assert_eq!(translated(&p), 2);
    assert!(out.0.is_empty());
}

#[test]
fn dr_client_side_errors_are_relayed_to_the_real_server() {
    let t = tables(Forward::Route);
    let mut p = pipeline(&t, 0, 1);
    let mut out = Out::default();
    p.handle(
        &t,
        0,
        from_client(&tcp(CLIENT, 40000, VIP, 80, 0x02, b"")),
        1,
        &mut out,
    );
    assert_eq!(out.0.len(), 1);
    // The RS replied from the VIP straight to the client; a router on the way says
    // "time exceeded": relayed to the RS with the MACs changed and the hop limit
    // decremented (#25 item 6), nothing else.
    let reply = tcp(VIP, 80, CLIENT, 40000, 0x12, b"");
    let te = error(3, [0; 4], ROUTER, VIP, &reply);
    p.handle(&t, 0, from_client(&te), 2, &mut out);
    let (port, f) = out.0.pop().unwrap();
    assert_eq!(port, 1);
    let mut want = te.clone();
    want[7] = 63;
    assert_eq!(f, frame(RS_MAC, LAN_MAC, &want));
    assert_eq!(translated(&p), 1);
}

#[test]
fn bad_errors_are_dropped_and_counted() {
    let t = tables(Forward::Masq);
    let mut p = pipeline(&t, 0, 1);
    let mut out = Out::default();
    p.handle(
        &t,
        0,
        from_client(&tcp(CLIENT, 40000, VIP, 80, 0x02, b"")),
        1,
        &mut out,
    );
    out.0.clear();
    let reply = tcp(VIP, 80, CLIENT, 40000, 0x12, b"");
    // Quote cut before the ports; a quote that is not IPv6.
    p.handle(
        &t,
        0,
        from_client(&error(1, [0; 4], ROUTER, VIP, &reply[..43])),
        2,
        &mut out,
    );
    let mut v4 = reply.clone();
    v4[0] = 0x45;
    p.handle(
        &t,
        0,
        from_client(&error(1, [0; 4], ROUTER, VIP, &v4)),
        2,
        &mut out,
    );
    // An error message shorter than its 8-byte header.
    let mut short = error(1, [0; 4], ROUTER, VIP, &[]);
    short.truncate(IP6_HDR + 6);
    write_u16(&mut short[4..], 6);
    p.handle(&t, 0, from_client(&short), 2, &mut out);
    assert_eq!(drops(&p, DropReason::Icmpv6ErrorMalformed), 3);
    // A quoted later fragment.
    let mut frag = vec![ip_proto::TCP, 0, 0, 8, 0, 0, 0, 1];
    frag.extend_from_slice(&reply[IP6_HDR..]);
    let mut fq = ip6(VIP, CLIENT, ip_proto::FRAGMENT, &frag);
    fq[7] = 63;
    p.handle(
        &t,
        0,
        from_client(&error(1, [0; 4], ROUTER, VIP, &fq)),
        2,
        &mut out,
    );
    assert_eq!(drops(&p, DropReason::Icmpv6ErrorUnsupported), 1);
    // A wrong checksum.
    let mut bad = error(1, [0; 4], ROUTER, VIP, &reply);
    let last = bad.len() - 1;
    bad[last] ^= 1;
    p.handle(&t, 0, from_client(&bad), 2, &mut out);
    assert_eq!(drops(&p, DropReason::Icmpv6BadChecksum), 1);
    // An unknown flow: to the VIP, counted; to our own address, the director's own
    // ICMPv6 (not answered here).
    let stray = tcp(VIP, 80, CLIENT, 1, 0x10, b"");
    p.handle(
        &t,
        0,
        from_client(&error(1, [0; 4], ROUTER, VIP, &stray)),
        2,
        &mut out,
    );
    assert_eq!(drops(&p, DropReason::Icmpv6ErrorNoConnection), 1);
    let own = tcp(WAN_IP, 5000, CLIENT, 1, 0x10, b"");
    p.handle(
        &t,
        0,
        from_client(&error(1, [0; 4], ROUTER, WAN_IP, &own)),
        2,
        &mut out,
    );
    assert_eq!(drops(&p, DropReason::ForDirector), 1);
    // A quote of an echo request the director sent: not about a connection.
    let echo = ip6(
        WAN_IP,
        CLIENT,
        ip_proto::ICMPV6,
        &[128, 0, 0, 0, 0, 1, 0, 1],
    );
    p.handle(
        &t,
        0,
        from_client(&error(1, [0; 4], ROUTER, WAN_IP, &echo)),
        2,
        &mut out,
    );
    assert_eq!(drops(&p, DropReason::ForDirector), 2);
    assert!(out.0.is_empty(), "nothing forwarded");
    assert_eq!(translated(&p), 0);
}

#[test]
fn the_owner_worker_translates_what_another_worker_would_not_know() {
    // Two workers: the connection lives on the client's owner; the other worker has
    // no such connection and would count the error as unknown.
    let t = tables(Forward::Masq);
    let probe = pipeline(&t, 0, 2);
    let syn = from_client(&tcp(CLIENT, 40000, VIP, 80, 0x02, b""));
    let owner = probe.owner(&t, &syn).unwrap();
    let mut w = [pipeline(&t, 0, 2), pipeline(&t, 1, 2)];
    let mut out = Out::default();
    w[owner].handle(&t, 0, syn, 1, &mut out);
    let reply = tcp(VIP, 80, CLIENT, 40000, 0x10, b"");
    let err = from_client(&error(3, [0; 4], ROUTER, VIP, &reply));
    assert_eq!(probe.owner(&t, &err), Some(owner));
    w[1 - owner].handle(&t, 0, err.clone(), 2, &mut out);
    assert_eq!(drops(&w[1 - owner], DropReason::Icmpv6ErrorNoConnection), 1);
    out.0.clear();
    w[owner].handle(&t, 0, err, 2, &mut out);
    assert_eq!(out.0.len(), 1);
    assert_eq!(translated(&w[owner]), 1);
}

#[test]
fn tunnel_client_side_errors_are_encapsulated_to_the_real_server() {
    let t = tables(Forward::Tunnel(crate::xmit::tun::TunnelKind::Ipip));
    let mut p = pipeline(&t, 0, 1);
    let new = NewConn {
        original: Tuple::new(
            ip_proto::TCP,
            IpAddr::V6(a(CLIENT)),
            40000,
            IpAddr::V6(a(VIP)),
            80,
        ),
        reply: None,
        rs: 0,
        svc: 0,
        method: Method::Tunnel,
        template: None,
    };
    p.conns.insert(&new, 1).unwrap();
    let reply = tcp(VIP, 80, CLIENT, 40000, 0x10, b"");
    let err = error(2, [0, 0, 5, 0], ROUTER, VIP, &reply);
    let mut out = Out::default();
    p.handle(&t, 0, from_client(&err), 2, &mut out);
    let [(1, f)] = out.0.as_slice() else {
        panic!(
            "expected the error encapsulated to the real server: {:?}",
            out.0
        );
    };
    // ip6ip6 from the director's lan address to the RS, the error inside unchanged but
    // for its hop limit, decremented before encapsulation (#25 item 6).
    assert_eq!(f[20], 41, "next header IPv6 (ip6ip6)");
    assert_eq!(crate::wire::read_ipv6(&f[22..38]), a("2001:2:0:1::fe"));
    assert_eq!(crate::wire::read_ipv6(&f[38..54]), a(RS));
    let mut inner = err.clone();
    inner[7] = 63;
    assert_eq!(&f[54..], &inner[..]);
    assert_eq!(translated(&p), 1);
    // The real server's side of a TUN connection never passes the director: an error
    // quoting RS -> client is no connection's.
    let at_rs = tcp(CLIENT, 40000, RS, 80, 0x10, b"");
    p.handle(
        &t,
        1,
        from_rs(&error(1, [0; 4], RS, CLIENT, &at_rs)),
        2,
        &mut out,
    );
    assert_eq!(out.0.len(), 1);
    assert_eq!(drops(&p, DropReason::Icmpv6ErrorNoConnection), 1);
}

#[test]
fn fullnat_errors_are_translated_both_ways() {
    let t = tables(Forward::Masq);
    let mut p = pipeline(&t, 0, 1);
    let lip = a("2001:2:0:1::200");
    let tuple = |s: &str, sp, d: Ipv6Addr, dp| {
        Tuple::new(ip_proto::TCP, IpAddr::V6(a(s)), sp, IpAddr::V6(d), dp)
    };
    let conns = [(Method::FullNat, 40001, Some(tuple(RS, 8080, lip, 2000)))];
    for (method, cport, reply) in conns {
        let new = NewConn {
            original: tuple(CLIENT, cport, a(VIP), 80),
            reply,
            rs: 0,
            svc: 0,
            method,
            template: None,
        };
        let id = p.conns.insert(&new, 1).unwrap();
        // The real server sees sequence numbers 5000 ahead of the client's.
        p.conns.set_seq_delta(id, 5000);
    }
    // Addresses and ports of a forwarded error: outer (src, dst), quoted (src:port,
    // dst:port).
    let fields = |f: &[u8]| {
        let ip = |at: usize| crate::wire::read_ipv6(&f[at..at + 16]);
        let port = |at: usize| u16::from_be_bytes([f[at], f[at + 1]]);
        (ip(22), ip(38), (ip(70), port(102)), (ip(86), port(104)))
    };
    let mut out = Out::default();
    let reply = tcp(VIP, 80, CLIENT, 40001, 0x10, b"");
    p.handle(
        &t,
        0,
        from_client(&error(2, [0, 0, 5, 0], ROUTER, VIP, &reply)),
        2,
        &mut out,
    );
    let [(1, f)] = out.0.as_slice() else {
        panic!(
            "expected the FULLNAT error towards the real server: {:?}",
            out.0
        );
    };
    // To the RS, from the local address, quoting what the RS sent (RS:8080 -> LIP:2000).
    assert_eq!(fields(f), (lip, a(RS), (a(RS), 8080), (lip, 2000)));
    assert_eq!(
        &f[58..62],
        &[0, 0, 5, 0],
        "the MTU of a packet too big is kept"
    );
    assert!(crate::wire::Icmpv6Packet::new_unchecked(&f[54..]).verify_checksum(lip, a(RS)));
    // From the real server's side (quote LIP:2000 -> RS:8080): to the client, from
    // the VIP, quoting what the client sent.
    out.0.clear();
    let at_rs = tcp(&lip.to_string(), 2000, RS, 8080, 0x10, b"");
    p.handle(
        &t,
        1,
        from_rs(&error(1, [0; 4], RS, &lip.to_string(), &at_rs)),
        2,
        &mut out,
    );
    let [(0, f)] = out.0.as_slice() else {
        panic!("expected the FULLNAT error towards the client: {:?}", out.0);
    };
    assert_eq!(
        fields(f),
        (a(VIP), a(CLIENT), (a(CLIENT), 40001), (a(VIP), 80))
    );
    // The quoted segment (sequence number 0 at the real server) is the client's own:
    // its sequence number 5000 back, its checksum right for it, and so the ICMPv6
    // checksum.
    let quoted = &f[102..];
    assert_eq!(
        crate::wire::read_u32(&quoted[4..8]),
        0u32.wrapping_sub(5000)
    );
    let ph = checksum::pseudo_header_v6(a(CLIENT), a(VIP), ip_proto::TCP, 20);
    assert_eq!(checksum::combine(&[ph, checksum::data(quoted)]), 0xFFFF);
    assert!(crate::wire::Icmpv6Packet::new_unchecked(&f[54..]).verify_checksum(a(VIP), a(CLIENT)));
    assert_eq!(translated(&p), 2);
}

/// Where the two families answer differently for an error the step cannot translate,
/// each keeps its own answer (see `IcmpFamily::untranslated` and `count_translated`).
mod families {
    use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
    use std::sync::Arc;

    use conn_table::{Method, NewConn, Tuple};

    use super::super::fixture6::{self as f6, a, error, pipeline, tables, tcp};
    use crate::counters::{get, DropReason, WorkerStats};
    use crate::pipeline::verdict::Verdict;
    use crate::pipeline::{Pipeline, PipelineConfig};
    use crate::service::Forward;
    use crate::tables::Tables;
    use crate::wire::{checksum, ip_proto, write_u16, Ipv4Packet};

    const CLIENT: Ipv4Addr = Ipv4Addr::new(198, 18, 0, 1);
    const VIP: Ipv4Addr = Ipv4Addr::new(198, 18, 0, 100);
    const RIP: Ipv4Addr = Ipv4Addr::new(198, 19, 0, 11);
    const ROUTER: Ipv4Addr = Ipv4Addr::new(198, 18, 0, 7);

    fn pipeline4() -> Pipeline<Vec<u8>> {
        Pipeline::new(PipelineConfig {
            worker: 0,
            port_macs: vec![[2, 0, 0, 0, 0, 1]; 2],
            stats: Arc::new(WorkerStats::default()),
            conn_capacity: 64,
            gratuitous_arp: false,
            workers: 1,
            exception: Default::default(),
        })
    }

    /// An IPv4 "port unreachable" from `src` to `dst` quoting a UDP packet `q.0 -> q.1`,
    /// checksums right.
    fn error4(src: Ipv4Addr, dst: Ipv4Addr, q: ((Ipv4Addr, u16), (Ipv4Addr, u16))) -> Vec<u8> {
        let mut ip = vec![0u8; 20 + 8 + 28];
        ip[0] = 0x45;
        write_u16(&mut ip[2..], 56);
        (ip[8], ip[9]) = (64, ip_proto::ICMP);
        ip[12..16].copy_from_slice(&src.octets());
        ip[16..20].copy_from_slice(&dst.octets());
        (ip[20], ip[21]) = (3, 3);
        let quote = &mut ip[28..];
        quote[0] = 0x45;
        write_u16(&mut quote[2..], 28);
        (quote[8], quote[9]) = (64, ip_proto::UDP);
        quote[12..16].copy_from_slice(&q.0 .0.octets());
        quote[16..20].copy_from_slice(&q.1 .0.octets());
        write_u16(&mut quote[20..], q.0 .1);
        write_u16(&mut quote[22..], q.1 .1);
        write_u16(&mut quote[24..], 8);
        let c = checksum::internet(&ip[20..]);
        write_u16(&mut ip[22..], c);
        Ipv4Packet::new_unchecked(&mut ip[..]).fill_checksum();
        ip
    }

    fn conn<A: Into<IpAddr>>(proto: u8, client: A, vip: A, reply: Option<Tuple>) -> NewConn {
        NewConn {
            original: Tuple::new(proto, client.into(), 40000, vip.into(), 80),
            method: if reply.is_some() {
                Method::Masq
            } else {
                Method::Route
            },
            reply,
            rs: 9,
            svc: 0,
            template: None,
        }
    }

    #[test]
    fn unknown_flows_and_bad_checksums() {
        // IPv4: an unknown flow is handed back to the ICMP handling; a wrong checksum on
        // a known one is dropped as malformed L4.
        let t = Tables::default();
        let mut p = pipeline4();
        let reply = Tuple::new(ip_proto::UDP, RIP.into(), 8080, CLIENT.into(), 40000);
        p.conns
            .insert(&conn(ip_proto::UDP, CLIENT, VIP, Some(reply)), 1)
            .unwrap();
        let mut stray = error4(ROUTER, VIP, ((VIP, 80), (CLIENT, 1)));
        assert_eq!(p.icmp_error::<Ipv4Addr>(&t, &mut stray, 2), None);
        let mut bad = error4(ROUTER, VIP, ((VIP, 80), (CLIENT, 40000)));
        bad[22] ^= 1;
        assert_eq!(
            p.icmp_error::<Ipv4Addr>(&t, &mut bad, 2),
            Some(Verdict::Drop(DropReason::L4Malformed))
        );
        // IPv6: an unknown flow to the VIP is dropped and counted, one to an own address
        // is handed back; a wrong checksum has a reason of its own.
        let t = tables(Forward::Masq);
        let mut p = pipeline(&t, 0, 1);
        let reply = Tuple::new(
            ip_proto::TCP,
            a(f6::RS).into(),
            8080,
            a(f6::CLIENT).into(),
            40000,
        );
        let c = conn(ip_proto::TCP, a(f6::CLIENT), a(f6::VIP), Some(reply));
        p.conns.insert(&c, 1).unwrap();
        let stray = tcp(f6::VIP, 80, f6::CLIENT, 1, 0x10, b"");
        let mut to_vip = error(1, [0; 4], f6::ROUTER, f6::VIP, &stray);
        assert_eq!(
            p.icmp_error::<Ipv6Addr>(&t, &mut to_vip, 2),
            Some(Verdict::Drop(DropReason::Icmpv6ErrorNoConnection))
        );
        let mut to_own = error(1, [0; 4], f6::ROUTER, f6::WAN_IP, &stray);
        assert_eq!(p.icmp_error::<Ipv6Addr>(&t, &mut to_own, 2), None);
        let known = tcp(f6::VIP, 80, f6::CLIENT, 40000, 0x10, b"");
        let mut bad = error(1, [0; 4], f6::ROUTER, f6::VIP, &known);
        bad[42] ^= 1;
        assert_eq!(
            p.icmp_error::<Ipv6Addr>(&t, &mut bad, 2),
            Some(Verdict::Drop(DropReason::Icmpv6BadChecksum))
        );
    }

    #[test]
    fn a_relay_to_a_real_server_gone_from_the_table_is_dropped() {
        // A DR connection whose real server (id 9) is no longer configured: both drop
        // the error; IPv4 counts it as translated, IPv6 counts only what it sends on.
        let t = Tables::default();
        let mut p = pipeline4();
        p.conns
            .insert(&conn(ip_proto::UDP, CLIENT, VIP, None), 1)
            .unwrap();
        let mut err = error4(ROUTER, VIP, ((VIP, 80), (CLIENT, 40000)));
        assert_eq!(
            p.icmp_error::<Ipv4Addr>(&t, &mut err, 2),
            Some(Verdict::Drop(DropReason::NoRealServer))
        );
        assert_eq!(get(&p.cfg.stats.icmp_errors_translated), 1);

        let t = tables(Forward::Route);
        let mut p = pipeline(&t, 0, 1);
        let c = conn(ip_proto::TCP, a(f6::CLIENT), a(f6::VIP), None);
        p.conns.insert(&c, 1).unwrap();
        let reply = tcp(f6::VIP, 80, f6::CLIENT, 40000, 0x10, b"");
        let mut err = error(3, [0; 4], f6::ROUTER, f6::VIP, &reply);
        assert_eq!(
            p.icmp_error::<Ipv6Addr>(&t, &mut err, 2),
            Some(Verdict::Drop(DropReason::NoRealServer))
        );
        assert_eq!(get(&p.cfg.stats.icmpv6_errors_translated), 0);
    }
}
