//! The connection step on an existing connection, over both families: IPVS's `revisit`
//! checks (conn_reuse_mode, expire_nodest_conn) and malformed TCP/UDP headers.

use conn_table::{ConnState, TcpState, Tuple};

use crate::counters::{get, DropReason};
use crate::pipeline::Pipeline;
use crate::service::{proto, Forward};
use crate::tables::{IpvsSwitches, Tables};
use crate::test_io::two_servers::*;

/// The state of the connection of the client's port `cport`.
fn state(p: &Pipeline<Vec<u8>>, fam: Fam, cport: u16) -> Option<ConnState> {
    let tuple = Tuple::new(proto::TCP, fam.client(), cport, fam.vip(), VPORT);
    let (id, _) = p.conns.lookup(&tuple)?;
    Some(p.conns.conn(id)?.state())
}

#[test]
fn a_syn_on_a_time_wait_or_closed_connection_is_scheduled_again() {
    let ends: [(&[u8], TcpState); 2] = [
        // SYN_RECV -> TIME_WAIT on the client's FIN.
        (&[FIN], TcpState::TimeWait),
        // SYN_RECV -> ESTABLISHED -> CLOSE on the client's RST.
        (&[ACK, RST], TcpState::Close),
    ];
    for fam in FAMILIES {
        for (then, end) in ends {
            let (t, mut p, stats) = bench(fam, &Setup::default());
            let mut now = 1;
            let out = run(&mut p, &t, 0, from_client(fam, 1000, SYN), now);
            assert_eq!(sent_to(&out), (1, fam.rs(0)), "{fam:?}");
            for &flags in then {
                now += 1;
                run(&mut p, &t, 0, from_client(fam, 1000, flags), now);
            }
            assert_eq!(state(&p, fam, 1000), Some(ConnState::Tcp(end)), "{fam:?}");
            // The client reuses its port: the round robin's next real server, not the old
            // connection's.
            let out = run(&mut p, &t, 0, from_client(fam, 1000, SYN), now + 1);
            assert_eq!(sent_to(&out), (1, fam.rs(1)), "{fam:?} {end:?}");
            assert_eq!(get(&stats.conns_reused), 1, "{fam:?} {end:?}");
            assert_eq!(get(&stats.conns_created), 2, "{fam:?} {end:?}");
            assert_eq!(p.conns.len(), 1, "the old connection ended");
            let syn_recv = ConnState::Tcp(TcpState::SynRecv);
            assert_eq!(state(&p, fam, 1000), Some(syn_recv), "{fam:?}");
        }
    }
}

#[test]
fn a_syn_on_a_live_connection_or_with_ack_stays_on_it() {
    let cases: [(&[u8], u8); 3] = [
        // ESTABLISHED: a retransmitted SYN is the connection's.
        (&[ACK], SYN),
        // TIME_WAIT, but not a bare SYN.
        (&[FIN], SYN | ACK),
        (&[FIN], SYN | FIN),
    ];
    for fam in FAMILIES {
        for (then, last) in cases {
            let (t, mut p, stats) = bench(fam, &Setup::default());
            run(&mut p, &t, 0, from_client(fam, 1000, SYN), 1);
            for &flags in then {
                run(&mut p, &t, 0, from_client(fam, 1000, flags), 2);
            }
            let out = run(&mut p, &t, 0, from_client(fam, 1000, last), 3);
            assert_eq!(sent_to(&out), (1, fam.rs(0)), "{fam:?} {last:#x}");
            assert_eq!(get(&stats.conns_reused), 0, "{fam:?} {last:#x}");
            assert_eq!(get(&stats.conns_created), 1, "{fam:?} {last:#x}");
        }
    }
}

#[test]
fn a_time_wait_connection_under_a_persistence_template_is_not_reused() {
    for fam in FAMILIES {
        let setup = Setup {
            persistence: Some(fam.per_client()),
            ..Setup::default()
        };
        let (t, mut p, stats) = bench(fam, &setup);
        run(&mut p, &t, 0, from_client(fam, 1000, SYN), 1);
        run(&mut p, &t, 0, from_client(fam, 1000, FIN), 2);
        let time_wait = ConnState::Tcp(TcpState::TimeWait);
        assert_eq!(state(&p, fam, 1000), Some(time_wait), "{fam:?}");
        let out = run(&mut p, &t, 0, from_client(fam, 1000, SYN), 3);
        assert_eq!(sent_to(&out), (1, fam.rs(0)), "{fam:?}");
        assert_eq!(get(&stats.conns_reused), 0, "{fam:?}");
        assert_eq!(get(&stats.conns_created), 1, "{fam:?}");
        // The SYN went on the old connection: TIME_WAIT -> SYN_RECV.
        let syn_recv = ConnState::Tcp(TcpState::SynRecv);
        assert_eq!(state(&p, fam, 1000), Some(syn_recv), "{fam:?}");
    }
}

/// A bench whose connection from the client's port 1000 is established to `rs(0)`, then
/// a table of generation 2 without `rs(0)` (with `expire_nodest_conn` as given).
fn real_server_0_leaves(fam: Fam, expire_nodest_conn: bool) -> (Tables, Pipeline<Vec<u8>>) {
    let (t, mut p, _) = bench(fam, &Setup::default());
    let out = run(&mut p, &t, 0, from_client(fam, 1000, SYN), 1);
    assert_eq!(sent_to(&out), (1, fam.rs(0)), "{fam:?}");
    run(&mut p, &t, 1, from_rs(fam, 0, 1000, SYN | ACK), 2);
    run(&mut p, &t, 0, from_client(fam, 1000, ACK), 3);
    let established = ConnState::Tcp(TcpState::Established);
    assert_eq!(state(&p, fam, 1000), Some(established), "{fam:?}");
    let gone = Setup {
        weights: vec![None, Some(1)],
        ipvs: IpvsSwitches {
            expire_nodest_conn,
            ..IpvsSwitches::default()
        },
        generation: 2,
        ..Setup::default()
    };
    let t = tables(fam, &gone);
    p.sync(&t);
    (t, p)
}

#[test]
fn expire_nodest_conn_ends_a_connection_whose_real_server_left() {
    for fam in FAMILIES {
        let (t, mut p) = real_server_0_leaves(fam, true);
        let drops = |p: &Pipeline<Vec<u8>>, why| p.cfg.stats.drops(why);
        // The real server's reply is not revisited: back to the client.
        let out = run(&mut p, &t, 1, from_rs(fam, 0, 1000, ACK), 4);
        assert_eq!(sent_to(&out), (0, fam.client()), "{fam:?}");
        // The client's next packet ends the connection and is dropped.
        let out = run(&mut p, &t, 0, from_client(fam, 1000, ACK), 5);
        assert!(out.0.is_empty(), "{fam:?}");
        assert_eq!(drops(&p, DropReason::NoDestExpired), 1, "{fam:?}");
        assert_eq!(p.conns.len(), 0, "{fam:?}");
        // It is gone: a stray ACK, and a new SYN goes to the real server left.
        run(&mut p, &t, 0, from_client(fam, 1000, ACK), 6);
        assert_eq!(drops(&p, DropReason::NoConnection), 1, "{fam:?}");
        assert_eq!(drops(&p, DropReason::NoDestExpired), 1, "{fam:?}");
        let out = run(&mut p, &t, 0, from_client(fam, 1000, SYN), 7);
        assert_eq!(sent_to(&out), (1, fam.rs(1)), "{fam:?}");
    }
}

#[test]
fn without_expire_nodest_conn_a_connection_keeps_its_removed_real_server() {
    for fam in FAMILIES {
        let (t, mut p) = real_server_0_leaves(fam, false);
        let out = run(&mut p, &t, 0, from_client(fam, 1000, ACK), 4);
        assert_eq!(sent_to(&out), (1, fam.rs(0)), "{fam:?}");
        assert_eq!(p.cfg.stats.drops(DropReason::NoDestExpired), 0);
        assert_eq!(p.conns.len(), 1, "{fam:?}");
    }
}

#[test]
fn malformed_tcp_and_udp_headers_are_dropped() {
    for fam in FAMILIES {
        let (t, mut p, stats) = bench(fam, &Setup::default());
        let l4 = 14 + if fam == Fam::V4 { 20 } else { 40 };
        let (client, vip) = ((fam.client(), 1000), (fam.vip(), VPORT));
        let broken = [
            // TCP data offset below 20 bytes, and beyond the segment.
            (proto::TCP, 12, 0x40),
            (proto::TCP, 12, 0xf0),
            // UDP length below 8 bytes, and beyond the datagram.
            (proto::UDP, 5, 4),
            (proto::UDP, 5, 100),
        ];
        for (i, (l4_proto, at, byte)) in broken.into_iter().enumerate() {
            let mut f = segment(0, client, vip, l4_proto, SYN);
            f[l4 + at] = byte;
            let out = run(&mut p, &t, 0, f, 1);
            assert!(out.0.is_empty(), "{fam:?} {l4_proto} {byte:#x}");
            let n = stats.drops(DropReason::L4Malformed);
            assert_eq!(n, i as u64 + 1, "{fam:?} {l4_proto} {byte:#x}");
        }
        assert_eq!(p.conns.len(), 0, "{fam:?}");
        // The same SYN, whole, makes a connection.
        let out = run(&mut p, &t, 0, segment(0, client, vip, proto::TCP, SYN), 2);
        assert_eq!(sent_to(&out), (1, fam.rs(0)), "{fam:?}");
        assert_eq!(get(&stats.conns_created), 1, "{fam:?}");
    }
}

/// `f`, a frame of `segment`, with TTL / hop limit `hops` (the IPv4 header checksum
/// filled in again).
fn with_hops(fam: Fam, mut f: Vec<u8>, hops: u8) -> Vec<u8> {
    match fam {
        Fam::V4 => {
            f[14 + 8] = hops;
            crate::wire::Ipv4Packet::new_unchecked(&mut f[14..]).fill_checksum();
        }
        Fam::V6 => f[14 + 7] = hops,
    }
    f
}

/// The TTL / hop limit of the client's packet in frame `f` as it left for a real server
/// (inside the tunnel for TUN; the outer header takes it from the inner one).
fn hops_towards_rs(fam: Fam, forward: Forward, f: &[u8]) -> u8 {
    let outer = if matches!(forward, Forward::Tunnel(_)) {
        if fam == Fam::V4 {
            20
        } else {
            40
        }
    } else {
        0
    };
    let ip = &f[14 + outer..];
    let inner = if fam == Fam::V4 { ip[8] } else { ip[7] };
    let outer_hops = if fam == Fam::V4 { f[14 + 8] } else { f[14 + 7] };
    assert_eq!(
        outer_hops, inner,
        "{fam:?} {forward:?}: the outer header copies it"
    );
    inner
}

/// Assert that `out` is one ICMP / ICMPv6 time exceeded (TTL / hop limit exceeded in
/// transit) from the VIP to the client, quoting the start of `sent` as it was sent.
fn assert_time_exceeded(fam: Fam, out: &crate::test_io::Out, sent: &[u8]) {
    assert_eq!(out.0.len(), 1, "{fam:?}: one answer");
    let (port, f) = &out.0[0];
    assert_eq!(*port, 0, "{fam:?}: towards the client");
    assert_eq!(addrs(f), (fam.vip(), fam.client()), "{fam:?}");
    let (icmp, ty) = match fam {
        Fam::V4 => {
            assert_eq!(f[14 + 9], proto::ICMP);
            (&f[34..], 11)
        }
        Fam::V6 => {
            assert_eq!(f[14 + 6], crate::wire::ip_proto::ICMPV6);
            (&f[54..], 3)
        }
    };
    assert_eq!(
        (icmp[0], icmp[1]),
        (ty, 0),
        "{fam:?}: time exceeded in transit"
    );
    assert_eq!(&icmp[8..], &sent[14..], "{fam:?}: the whole packet quoted");
    let sum = match fam {
        Fam::V4 => crate::wire::checksum::internet(icmp),
        Fam::V6 => {
            let std::net::IpAddr::V6(v) = fam.vip() else {
                unreachable!()
            };
            let std::net::IpAddr::V6(c) = fam.client() else {
                unreachable!()
            };
            !crate::wire::checksum::combine(&[
                crate::wire::checksum::pseudo_header_v6(v, c, 58, icmp.len() as u32),
                crate::wire::checksum::data(icmp),
            ])
        }
    };
    assert_eq!(sum, 0, "{fam:?}: ICMP checksum");
}

#[test]
fn ttl_and_hop_limit_run_out_towards_the_real_server_with_time_exceeded() {
    use crate::xmit::tun::TunnelKind;
    for fam in FAMILIES {
        for forward in [
            Forward::Masq,
            Forward::Route,
            Forward::Tunnel(TunnelKind::Ipip),
        ] {
            let setup = Setup {
                forward,
                ..Setup::default()
            };
            let (t, mut p, stats) = bench(fam, &setup);
            let what = format!("{fam:?} {forward:?}");
            // A SYN with TTL 2 goes on with 1, the data after it with 63.
            let out = run(
                &mut p,
                &t,
                0,
                with_hops(fam, from_client(fam, 1000, SYN), 2),
                1,
            );
            assert_eq!(out.0.len(), 1, "{what}");
            assert_eq!(hops_towards_rs(fam, forward, &out.0[0].1), 1, "{what}");
            let out = run(&mut p, &t, 0, from_client(fam, 1000, ACK), 2);
            assert_eq!(hops_towards_rs(fam, forward, &out.0[0].1), 63, "{what}");
            // TTL 1 on the established connection: time exceeded from the VIP.
            let dying = with_hops(fam, from_client(fam, 1000, ACK), 1);
            let out = run(&mut p, &t, 0, dying.clone(), 3);
            assert_time_exceeded(fam, &out, &dying);
            // A new connection's SYN with TTL 1: answered too, and no connection made.
            let dying = with_hops(fam, from_client(fam, 1001, SYN), 1);
            let out = run(&mut p, &t, 0, dying.clone(), 4);
            assert_time_exceeded(fam, &out, &dying);
            assert_eq!(p.conns.len(), 1, "{what}");
            assert_eq!(stats.drops(DropReason::TtlExceeded), 2, "{what}");
            assert_eq!(get(&stats.time_exceeded_sent), 2, "{what}");
        }
    }
}

#[test]
fn time_exceeded_answers_are_rate_limited() {
    let fam = Fam::V4;
    let (t, mut p, stats) = bench(fam, &Setup::default());
    let mut answered = 0;
    for i in 0..100 {
        let dying = with_hops(fam, from_client(fam, 2000 + i, SYN), 1);
        answered += run(&mut p, &t, 0, dying, 10).0.len();
    }
    // Linux's icmp_msgs_burst: 50 at once, then 1000 a second (1 a millisecond).
    assert_eq!(answered, 50);
    assert_eq!(stats.drops(DropReason::TtlExceeded), 100);
    assert_eq!(get(&stats.time_exceeded_sent), 50);
    let dying = with_hops(fam, from_client(fam, 3000, SYN), 1);
    assert_eq!(run(&mut p, &t, 0, dying, 11).0.len(), 1);
}
