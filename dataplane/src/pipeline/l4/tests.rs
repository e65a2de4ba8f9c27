//! The connection step on an existing connection, over both families: IPVS's `revisit`
//! checks (conn_reuse_mode, expire_nodest_conn) and malformed TCP/UDP headers.

use conn_table::{ConnState, TcpState, Tuple};

use crate::counters::{get, DropReason};
use crate::pipeline::Pipeline;
use crate::service::proto;
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
