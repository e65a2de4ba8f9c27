//! The RST answering a TCP segment of no connection, over both families: RFC 793's
//! numbers, from the VIP back to the client, never for a RST, rate-limited, and off with
//! the switch.

use std::net::IpAddr;

use super::*;
use crate::counters::{get, DropReason};
use crate::pipeline::state::RESET_BURST;
use crate::pipeline::Pipeline;
use crate::tables::IpvsSwitches;
use crate::test_io::two_servers::*;
use crate::wire::{Ipv4Packet, Ipv6Packet, TcpPacket};

#[test]
fn the_answer_follows_rfc_793() {
    let a = |seq, ack, flags: u8, payload| {
        answer(seq, ack, TcpFlags::from_bits(flags), payload).map(|(s, a, f)| (s, a, f.bits()))
    };
    // With ACK: the RST takes the segment's acknowledgement as its sequence number.
    assert_eq!(a(100, 5000, ACK, 0), Some((5000, 0, RST)));
    assert_eq!(a(100, 5000, ACK | 0x08, 9), Some((5000, 0, RST)));
    assert_eq!(a(1, 77, ACK | SYN, 0), Some((77, 0, RST)));
    // Without: it acknowledges the segment (SYN and FIN count as one each).
    assert_eq!(a(100, 9, 0, 10), Some((0, 110, RST | ACK)));
    assert_eq!(a(100, 9, FIN, 0), Some((0, 101, RST | ACK)));
    assert_eq!(a(u32::MAX, 9, FIN | SYN, 1), Some((0, 2, RST | ACK)));
    // Never a RST for a RST.
    assert_eq!(a(100, 9, RST, 0), None);
    assert_eq!(a(100, 9, RST | ACK, 0), None);
}

/// A segment from the client's port 1000 to the VIP with `flags`, sequence number 1000,
/// acknowledgement number `ack` and 4 bytes of payload.
fn stray(fam: Fam, flags: u8, ack: u32) -> Vec<u8> {
    let mut f = from_client(fam, 1000, flags);
    let (l4, (c, v)) = match fam {
        Fam::V4 => (34, (fam.client(), fam.vip())),
        Fam::V6 => (54, (fam.client(), fam.vip())),
    };
    let mut tcp = TcpPacket::new_unchecked(&mut f[l4..]);
    tcp.set_ack_number(ack);
    match (c, v) {
        (IpAddr::V4(c), IpAddr::V4(v)) => tcp.fill_checksum_v4(c, v),
        (IpAddr::V6(c), IpAddr::V6(v)) => tcp.fill_checksum_v6(c, v),
        _ => unreachable!(),
    }
    f
}

/// The RST in frame `f` (checked: Ethernet to the client, IP from the VIP with hop
/// limit 64, a 20-byte TCP header from port 80 to 1000, window 0, right checksums):
/// its sequence number, acknowledgement number and flags.
fn rst_of(fam: Fam, f: &[u8]) -> (u32, u32, u8) {
    assert_eq!(&f[0..6], &CLIENT_MAC, "to the client's MAC");
    assert_eq!(&f[6..12], &MACS[0], "from the client side's port");
    assert_eq!(addrs(f), (fam.vip(), fam.client()));
    let l4 = match fam {
        Fam::V4 => {
            let ip = Ipv4Packet::new_checked(&f[14..]).unwrap();
            assert!(ip.verify_checksum());
            assert_eq!((ip.ttl(), ip.total_len()), (64, 40));
            assert_eq!(f.len(), 14 + 40);
            34
        }
        Fam::V6 => {
            let ip = Ipv6Packet::new_checked(&f[14..]).unwrap();
            assert_eq!((ip.hop_limit(), ip.payload_len()), (64, 20));
            assert_eq!(f.len(), 14 + 60);
            54
        }
    };
    let tcp = TcpPacket::new_checked(&f[l4..]).unwrap();
    let ok = match (fam.vip(), fam.client()) {
        (IpAddr::V4(v), IpAddr::V4(c)) => tcp.verify_checksum_v4(v, c),
        (IpAddr::V6(v), IpAddr::V6(c)) => tcp.verify_checksum_v6(v, c),
        _ => unreachable!(),
    };
    assert!(ok, "TCP checksum");
    assert_eq!((tcp.src_port(), tcp.dst_port()), (VPORT, 1000));
    assert_eq!((tcp.header_len(), tcp.window_len()), (20, 0));
    (tcp.seq_number(), tcp.ack_number(), tcp.flags().bits())
}

fn rst_sent(p: &Pipeline<Vec<u8>>) -> u64 {
    get(&p.cfg.stats.rst_sent_no_connection)
}

#[test]
fn a_segment_of_no_connection_gets_a_rst_from_the_vip() {
    let cases = [
        // (flags, ack) -> (seq, ack, flags) of the RST; 4 bytes of payload at seq 1000.
        (ACK, 5000, Some((5000, 0, RST))),
        (ACK | FIN, 5000, Some((5000, 0, RST))),
        (SYN | ACK, 77, Some((77, 0, RST))),
        (0x18, 9, Some((9, 0, RST))), // PSH|ACK
        (FIN, 0, Some((0, 1005, RST | ACK))),
        (0, 0, Some((0, 1004, RST | ACK))),
        (RST, 0, None),
        (RST | ACK, 5000, None),
    ];
    for fam in FAMILIES {
        let (t, mut p, stats) = bench(fam, &Setup::default());
        for (i, (flags, ack, want)) in cases.into_iter().enumerate() {
            let out = run(&mut p, &t, 0, stray(fam, flags, ack), 1);
            let got = out.0.first().map(|(port, f)| {
                assert_eq!(*port, 0, "back out of the client's port");
                rst_of(fam, f)
            });
            assert!(out.0.len() <= 1);
            assert_eq!(got, want, "{fam:?} flags {flags:#x}");
            assert_eq!(stats.drops(DropReason::NoConnection), i as u64 + 1);
        }
        assert_eq!(rst_sent(&p), 6, "{fam:?}");
        assert_eq!(p.conns.len(), 0, "{fam:?}: no connection made");
    }
}

#[test]
fn resets_are_rate_limited_per_worker() {
    for fam in FAMILIES {
        let (t, mut p, _) = bench(fam, &Setup::default());
        let answered = |p: &mut Pipeline<Vec<u8>>, n: usize, now: u64| {
            (0..n)
                .filter(|_| !run(p, &t, 0, stray(fam, ACK, 1), now).0.is_empty())
                .count()
        };
        assert_eq!(answered(&mut p, 80, 1), RESET_BURST as usize, "{fam:?}");
        // 1,000 a second: one more each millisecond.
        assert_eq!(answered(&mut p, 5, 2), 1, "{fam:?}");
        assert_eq!(answered(&mut p, 100, 12), 10, "{fam:?}");
        assert_eq!(rst_sent(&p), u64::from(RESET_BURST) + 11);
        assert_eq!(p.cfg.stats.drops(DropReason::NoConnection), 185);
    }
}

#[test]
fn the_switch_turns_the_resets_off() {
    for fam in FAMILIES {
        let setup = Setup {
            ipvs: IpvsSwitches {
                reset_unknown_conn: false,
                ..IpvsSwitches::default()
            },
            ..Setup::default()
        };
        let (t, mut p, stats) = bench(fam, &setup);
        let out = run(&mut p, &t, 0, stray(fam, ACK, 1), 1);
        assert!(out.0.is_empty(), "{fam:?}");
        assert_eq!(stats.drops(DropReason::NoConnection), 1);
        assert_eq!(rst_sent(&p), 0);
    }
}

/// Only a virtual service's segments are answered: another port of the VIP is nobody's
/// (no service), and a connection's segments go on to its real server.
#[test]
fn only_segments_of_no_connection_to_a_service_are_answered() {
    for fam in FAMILIES {
        let (t, mut p, stats) = bench(fam, &Setup::default());
        let other_port = segment(0, (fam.client(), 1000), (fam.vip(), 81), 6, ACK);
        assert!(run(&mut p, &t, 0, other_port, 1).0.is_empty());
        assert_eq!(stats.drops(DropReason::NoService), 1, "{fam:?}");
        let out = run(&mut p, &t, 0, from_client(fam, 1000, SYN), 2);
        assert_eq!(sent_to(&out).0, 1, "{fam:?}");
        let out = run(&mut p, &t, 0, stray(fam, ACK, 1), 3);
        assert_eq!(
            sent_to(&out),
            (1, fam.rs(0)),
            "{fam:?}: on to the real server"
        );
        assert_eq!(rst_sent(&p), 0);
    }
}
