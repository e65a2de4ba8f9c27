//! Fragments through the connection step, both families: forwarded in order and out of
//! order to the connection's real server, the datagram's checksum right after the
//! rewrite, replies, DR, tiny fragments, the timeout.

use std::net::IpAddr;

use crate::counters::DropReason;
use crate::service::{proto, Forward};
use crate::test_io::two_servers::*;
use crate::test_io::Out;
use crate::wire::{Ipv4Packet, Ipv6Packet, TcpPacket};

/// TCP payload bytes of the test datagrams: 20 header + 60 = 80 bytes of TCP.
const PAYLOAD: usize = 60;

/// A TCP segment with `flags` and 60 bytes of payload `src -> dst`, checksums filled in.
fn datagram(port: usize, src: (IpAddr, u16), dst: (IpAddr, u16), flags: u8) -> Vec<u8> {
    let f = segment(port, src, dst, proto::TCP, flags);
    // `segment` writes 4 payload bytes; rebuild with 60.
    let hdr = if f[12] == 0x08 { 14 + 20 } else { 14 + 40 };
    let mut f = f[..hdr + 20].to_vec();
    f.extend((0..PAYLOAD).map(|i| i as u8));
    let ip = &mut f[14..];
    let l4_len = ip.len() - (hdr - 14);
    match (src.0, dst.0) {
        (IpAddr::V4(s), IpAddr::V4(d)) => {
            let mut p = Ipv4Packet::new_unchecked(&mut ip[..]);
            p.set_total_len((20 + l4_len) as u16);
            p.fill_checksum();
            TcpPacket::new_unchecked(&mut ip[20..]).fill_checksum_v4(s, d);
        }
        (IpAddr::V6(s), IpAddr::V6(d)) => {
            Ipv6Packet::new_unchecked(&mut ip[..]).set_payload_len(l4_len as u16);
            TcpPacket::new_unchecked(&mut ip[40..]).fill_checksum_v6(s, d);
        }
        _ => unreachable!(),
    }
    f
}

/// The frame `f`'s packet cut into fragments at the TCP byte offsets `cuts` (multiples
/// of 8), identification `id`.
fn fragment(f: &[u8], cuts: &[usize], id: u32) -> Vec<Vec<u8>> {
    let v4 = f[12] == 0x08;
    let hdr = if v4 { 14 + 20 } else { 14 + 40 };
    let data = &f[hdr..];
    let mut bounds = vec![0];
    bounds.extend_from_slice(cuts);
    bounds.push(data.len());
    bounds
        .windows(2)
        .map(|w| {
            let (a, b) = (w[0], w[1]);
            let more = b < data.len();
            let mut out = f[..hdr].to_vec();
            if v4 {
                let mut p = Ipv4Packet::new_unchecked(&mut out[14..]);
                p.set_total_len((20 + b - a) as u16);
                p.set_ident(id as u16);
                p.set_more_frags(more);
                p.set_frag_offset(a as u16);
                p.fill_checksum();
            } else {
                let nh = out[14 + 6];
                out[14 + 6] = 44;
                out[14 + 4..14 + 6].copy_from_slice(&((8 + b - a) as u16).to_be_bytes());
                let off = (a as u16) | u16::from(more);
                out.extend_from_slice(&[nh, 0]);
                out.extend_from_slice(&off.to_be_bytes());
                out.extend_from_slice(&id.to_be_bytes());
            }
            out.extend_from_slice(&data[a..b]);
            out
        })
        .collect()
}

/// Reassemble the fragments of `frames` (any order): source, destination, the TCP bytes,
/// and whether the TCP checksum holds over the whole datagram.
fn reassemble(frames: &[Vec<u8>]) -> (IpAddr, IpAddr, Vec<u8>, bool) {
    let mut pieces: Vec<(usize, Vec<u8>)> = Vec::new();
    let (src, dst) = addrs(&frames[0]);
    for f in frames {
        assert_eq!(addrs(f), (src, dst), "every fragment rewritten alike");
        let ip = &f[14..];
        let (off, data) = if f[12] == 0x08 {
            let p = Ipv4Packet::new_checked(ip).unwrap();
            assert!(p.verify_checksum());
            (usize::from(p.frag_offset()), p.payload().to_vec())
        } else {
            assert_eq!(ip[6], 44);
            let off = usize::from(u16::from_be_bytes([ip[42], ip[43]]) & 0xfff8);
            (off, ip[48..].to_vec())
        };
        pieces.push((off, data));
    }
    pieces.sort();
    let mut tcp = Vec::new();
    for (off, d) in pieces {
        assert_eq!(off, tcp.len(), "no gap, no overlap");
        tcp.extend(d);
    }
    let seg = TcpPacket::new_checked(&tcp[..]).unwrap();
    let ok = match (src, dst) {
        (IpAddr::V4(s), IpAddr::V4(d)) => seg.verify_checksum_v4(s, d),
        (IpAddr::V6(s), IpAddr::V6(d)) => seg.verify_checksum_v6(s, d),
        _ => false,
    };
    (src, dst, tcp, ok)
}

fn handle_all(
    p: &mut crate::pipeline::Pipeline<Vec<u8>>,
    t: &crate::tables::Tables,
    port: usize,
    frags: impl IntoIterator<Item = Vec<u8>>,
    now: u64,
) -> Out {
    let mut out = Out::default();
    for f in frags {
        p.handle(t, port, f, now, &mut out);
    }
    out
}

fn frames_to(out: &Out, port: usize) -> Vec<Vec<u8>> {
    assert!(
        out.0.iter().all(|(p, _)| *p == port),
        "all out of port {port}"
    );
    out.0.iter().map(|(_, f)| f.clone()).collect()
}

#[test]
fn fragments_follow_their_first_in_order_and_out_of_order() {
    for fam in FAMILIES {
        let (t, mut p, stats) = bench(fam, &Setup::default());
        let syn = datagram(0, (fam.client(), 40000), (fam.vip(), VPORT), SYN);
        let whole = syn[14..].len();
        // In order: three fragments, all to the real server the first one was scheduled to.
        let out = handle_all(&mut p, &t, 0, fragment(&syn, &[48, 72], 7), 0);
        let frames = frames_to(&out, 1);
        assert_eq!(frames.len(), 3, "{fam:?}");
        let (src, dst, tcp, ok) = reassemble(&frames);
        assert_eq!((src, dst), (fam.client(), fam.rs(0)), "{fam:?}");
        assert!(ok, "{fam:?}: the datagram's checksum after the rewrite");
        assert_eq!(u16::from_be_bytes([tcp[2], tcp[3]]), RPORT);
        assert_eq!(tcp.len(), 80);
        // Out of order, a data segment of the same connection: nothing leaves before the
        // first fragment, then all of them to the same real server.
        let data = datagram(0, (fam.client(), 40000), (fam.vip(), VPORT), ACK);
        let mut frags = fragment(&data, &[24, 48], 8);
        let first = frags.remove(0);
        let out = handle_all(&mut p, &t, 0, frags.into_iter().rev(), 1);
        assert!(
            out.0.is_empty(),
            "{fam:?}: later fragments wait for the first"
        );
        let out = handle_all(&mut p, &t, 0, [first], 2);
        let frames = frames_to(&out, 1);
        assert_eq!(frames.len(), 3, "{fam:?}");
        let (src, dst, _, ok) = reassemble(&frames);
        assert_eq!((src, dst), (fam.client(), fam.rs(0)), "{fam:?}");
        assert!(ok, "{fam:?}");
        // The real server's fragmented reply goes back from the VIP, TTL / hop limit less
        // one on every fragment.
        let reply = datagram(1, (fam.rs(0), RPORT), (fam.client(), 40000), SYN | ACK);
        let out = handle_all(&mut p, &t, 1, fragment(&reply, &[32], 9), 3);
        let frames = frames_to(&out, 0);
        let (src, dst, _, ok) = reassemble(&frames);
        assert_eq!((src, dst), (fam.vip(), fam.client()), "{fam:?}");
        assert!(ok, "{fam:?}");
        let hops = |f: &Vec<u8>| if f[12] == 0x08 { f[14 + 8] } else { f[14 + 7] };
        assert!(frames.iter().all(|f| hops(f) == 63), "{fam:?}");
        assert_eq!(
            stats
                .fragments_received
                .load(std::sync::atomic::Ordering::Relaxed),
            8
        );
        assert_eq!(whole, if fam == Fam::V4 { 100 } else { 120 });
    }
}

#[test]
fn direct_routing_sends_fragments_to_the_real_server_with_one_hop_less() {
    for fam in FAMILIES {
        let setup = Setup {
            forward: Forward::Route,
            ..Setup::default()
        };
        let (t, mut p, _) = bench(fam, &setup);
        let syn = datagram(0, (fam.client(), 40001), (fam.vip(), VPORT), SYN);
        let frags = fragment(&syn, &[40], 3);
        let out = handle_all(&mut p, &t, 0, frags.clone(), 0);
        let frames = frames_to(&out, 1);
        assert_eq!(frames.len(), 2);
        for (sent, given) in frames.iter().zip(&frags) {
            assert_eq!(&sent[0..6], &RS_MAC[..], "{fam:?}");
            // DR keeps the IP packet but for the TTL / hop limit (and IPv4's checksum).
            let mut want = given[14..].to_vec();
            if fam == Fam::V4 {
                want[8] -= 1;
                Ipv4Packet::new_unchecked(&mut want[..]).fill_checksum();
            } else {
                want[7] -= 1;
            }
            assert_eq!(sent[14..], want[..], "{fam:?}");
        }
    }
}

#[test]
fn tiny_and_overlapping_fragments_are_dropped_and_counted() {
    for fam in FAMILIES {
        let (t, mut p, stats) = bench(fam, &Setup::default());
        let syn = datagram(0, (fam.client(), 40002), (fam.vip(), VPORT), SYN);
        // A first fragment of 16 bytes lacks the TCP header's last 4 (and its second, at
        // offset 16, overlaps the header).
        let frags = fragment(&syn, &[16], 4);
        let out = handle_all(&mut p, &t, 0, frags, 0);
        assert!(out.0.is_empty());
        // A later fragment at offset 8 would overwrite TCP's flags.
        let frags = fragment(&syn, &[8], 5);
        let out = handle_all(&mut p, &t, 0, frags.into_iter().skip(1), 0);
        assert!(out.0.is_empty());
        assert_eq!(stats.drops(DropReason::FragmentMalformed), 3, "{fam:?}");
        assert_eq!(stats.drops(DropReason::FragmentTimeout), 0);
    }
}

#[test]
fn fragments_whose_first_never_comes_time_out() {
    for fam in FAMILIES {
        let (t, mut p, stats) = bench(fam, &Setup::default());
        let syn = datagram(0, (fam.client(), 40003), (fam.vip(), VPORT), SYN);
        let frags = fragment(&syn, &[24, 48], 6);
        let out = handle_all(&mut p, &t, 0, frags.into_iter().skip(1), 0);
        assert!(out.0.is_empty());
        let mut io = Out::default();
        p.tick(&t, 500, &mut io);
        assert_eq!(stats.drops(DropReason::FragmentTimeout), 0, "{fam:?}");
        p.tick(&t, 1_200, &mut io);
        assert_eq!(stats.drops(DropReason::FragmentTimeout), 2, "{fam:?}");
        assert!(io.0.is_empty());
    }
}
