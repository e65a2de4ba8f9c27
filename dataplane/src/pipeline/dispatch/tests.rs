//! A frame's IP header stages: IPv4 header drops, IPv6 fragments and extension headers,
//! and TCP/UDP that no virtual service takes: to the kernel for the director's own
//! addresses (where the port has an exception path, else dropped `ForDirector`), else
//! dropped `NoService`; over both families.

use crate::counters::{get, DropReason, WorkerStats};
use crate::pipeline::Pipeline;
use crate::service::proto;
use crate::tables::Tables;
use crate::test_io::two_servers::*;
use crate::test_io::RecordingIo;
use crate::wire::{ip_proto, Ipv4Packet};

/// Handle frame `f` arriving on `port`: what was sent and handed to the kernel.
fn recorded(p: &mut Pipeline<Vec<u8>>, t: &Tables, port: usize, f: Vec<u8>) -> RecordingIo {
    let mut io = RecordingIo::default();
    p.handle(t, port, f, 1, &mut io);
    io
}

/// `f` with its IPv4 header changed by `edit` (the header checksum filled in again).
fn edited(mut f: Vec<u8>, edit: impl Fn(&mut [u8])) -> Vec<u8> {
    edit(&mut f[14..]);
    Ipv4Packet::new_unchecked(&mut f[14..]).fill_checksum();
    f
}

#[test]
fn broken_or_fragmented_ipv4_headers_are_dropped() {
    let fam = Fam::V4;
    // With an exception path: none of these reaches the kernel either.
    let setup = Setup {
        kernel: true,
        ..Setup::default()
    };
    let (t, mut p, stats) = bench(fam, &setup);
    let syn = from_client(fam, 1000, SYN);
    let mut bad_sum = syn.clone();
    bad_sum[14 + 10] ^= 0x01;
    let cases = [
        (bad_sum, DropReason::Ipv4BadChecksum),
        // Fragments (more fragments; an offset) of a protocol other than TCP and UDP
        // (those go to the fragment step, see `fragment`'s tests).
        (
            edited(syn.clone(), |ip| (ip[6], ip[9]) = (0x20, 47)),
            DropReason::Ipv4Fragment,
        ),
        (
            edited(syn.clone(), |ip| (ip[7], ip[9]) = (0x10, 47)),
            DropReason::Ipv4Fragment,
        ),
        // A header length below 20 bytes, a total length beyond the frame.
        (
            edited(syn.clone(), |ip| ip[0] = 0x44),
            DropReason::Ipv4Malformed,
        ),
        (
            edited(syn.clone(), |ip| ip[3] += 1),
            DropReason::Ipv4Malformed,
        ),
    ];
    for (f, why) in cases {
        let before = stats.drops(why);
        let io = recorded(&mut p, &t, 0, f);
        assert!(io.sent.is_empty() && io.kernel.is_empty(), "{why:?}");
        assert_eq!(stats.drops(why), before + 1, "{why:?}");
    }
    assert_eq!(p.conns.len(), 0);
    // The SYN itself is taken.
    let io = recorded(&mut p, &t, 0, syn);
    assert_eq!(io.sent.len(), 1);
    assert_eq!(get(&stats.conns_created), 1);
}

/// TCP (a SYN and a stray ACK) and UDP from the client to the director's own address
/// on port 0.
fn for_the_director(fam: Fam) -> [Vec<u8>; 3] {
    let (client, own) = (fam.client(), fam.local(0));
    [
        segment(0, (client, 1000), (own, 22), proto::TCP, SYN),
        segment(0, (client, 1000), (own, 22), proto::TCP, ACK),
        segment(0, (client, 1000), (own, 53), proto::UDP, 0),
    ]
}

fn to_kernel(stats: &WorkerStats, port: usize) -> u64 {
    get(&stats.ports[port].to_kernel_packets)
}

#[test]
fn tcp_and_udp_to_an_own_address_go_to_the_kernel() {
    for fam in FAMILIES {
        let setup = Setup {
            kernel: true,
            ..Setup::default()
        };
        let (t, mut p, stats) = bench(fam, &setup);
        for (i, f) in for_the_director(fam).into_iter().enumerate() {
            let io = recorded(&mut p, &t, 0, f.clone());
            assert!(io.sent.is_empty(), "{fam:?} {i}");
            assert_eq!(
                io.kernel,
                [(0, f)],
                "{fam:?} {i}: unchanged, through port 0"
            );
        }
        assert_eq!(to_kernel(&stats, 0), 3, "{fam:?}");
        assert_eq!(stats.drops(DropReason::ForDirector), 0, "{fam:?}");
        assert_eq!(stats.drops(DropReason::NoConnection), 0, "{fam:?}");
        assert_eq!(p.conns.len(), 0, "{fam:?}");
        // Port 1 has no exception path: its own address there is not the kernel's.
        let own1 = (fam.local(1), 22);
        let f = segment(1, (fam.rs(0), 1000), own1, proto::TCP, SYN);
        let io = recorded(&mut p, &t, 1, f);
        assert!(io.sent.is_empty() && io.kernel.is_empty(), "{fam:?}");
        assert_eq!(stats.drops(DropReason::ForDirector), 1, "{fam:?}");
        assert_eq!(to_kernel(&stats, 1), 0, "{fam:?}");
    }
}

#[test]
fn without_an_exception_path_traffic_for_the_director_is_dropped() {
    for fam in FAMILIES {
        let (t, mut p, stats) = bench(fam, &Setup::default());
        for f in for_the_director(fam) {
            let io = recorded(&mut p, &t, 0, f);
            assert!(io.sent.is_empty() && io.kernel.is_empty(), "{fam:?}");
        }
        assert_eq!(stats.drops(DropReason::ForDirector), 3, "{fam:?}");
        assert_eq!(to_kernel(&stats, 0), 0, "{fam:?}");
    }
}

#[test]
fn tcp_and_udp_for_no_service_are_dropped() {
    for fam in FAMILIES {
        // Even with an exception path: the VIP and foreign addresses are not the kernel's.
        let setup = Setup {
            kernel: true,
            ..Setup::default()
        };
        let (t, mut p, stats) = bench(fam, &setup);
        let (client, vip) = ((fam.client(), 1000), fam.vip());
        let strays = [
            // Another port of the VIP, UDP to the TCP service's port, an address not ours.
            segment(0, client, (vip, VPORT + 1), proto::TCP, SYN),
            segment(0, client, (vip, VPORT), proto::UDP, 0),
            segment(0, client, (fam.on(0, 77), VPORT), proto::TCP, SYN),
        ];
        for f in strays {
            let io = recorded(&mut p, &t, 0, f);
            assert!(io.sent.is_empty() && io.kernel.is_empty(), "{fam:?}");
        }
        assert_eq!(stats.drops(DropReason::NoService), 3, "{fam:?}");
        assert_eq!(stats.drops(DropReason::ForDirector), 0, "{fam:?}");
        assert_eq!(p.conns.len(), 0, "{fam:?}");
    }
}

#[test]
fn ipv6_fragments_and_extension_headers_are_dropped_unless_for_the_director() {
    let fam = Fam::V6;
    let setup = Setup {
        kernel: true,
        ..Setup::default()
    };
    let (t, mut p, stats) = bench(fam, &setup);
    // A TCP segment behind a fragment header or a destination options header (read as a
    // Fragment header, the TCP ports name next header 3: not TCP or UDP, not forwarded).
    let behind = |dst: std::net::IpAddr, nh: u8| {
        let mut f = segment(0, (fam.client(), 1000), (dst, VPORT), proto::TCP, SYN);
        f[14 + 6] = nh;
        f
    };
    let cases = [
        (fam.vip(), ip_proto::FRAGMENT, DropReason::Ipv6Fragment),
        (
            fam.vip(),
            ip_proto::DSTOPTS,
            DropReason::Ipv6ExtensionHeader,
        ),
    ];
    for (dst, nh, why) in cases {
        let io = recorded(&mut p, &t, 0, behind(dst, nh));
        assert!(io.sent.is_empty() && io.kernel.is_empty(), "{why:?}");
        assert_eq!(stats.drops(why), 1, "{why:?}");
    }
    // To an own address: the kernel reassembles and walks the headers.
    for nh in [ip_proto::FRAGMENT, ip_proto::DSTOPTS] {
        let f = behind(fam.local(0), nh);
        let io = recorded(&mut p, &t, 0, f.clone());
        assert_eq!(io.kernel, [(0, f)], "next header {nh}");
    }
    assert_eq!(to_kernel(&stats, 0), 2);
    assert_eq!(p.conns.len(), 0);
}

/// A SYN from `src` to the virtual service.
fn syn_from(fam: Fam, src: std::net::IpAddr) -> Vec<u8> {
    segment(0, (src, 1000), (fam.vip(), VPORT), proto::TCP, SYN)
}

#[test]
fn martian_sources_are_dropped_and_counted() {
    let ip = |s: &str| -> std::net::IpAddr { s.parse().unwrap() };
    for fam in FAMILIES {
        let (t, mut p, stats) = bench(fam, &Setup::default());
        let martians: Vec<std::net::IpAddr> = match fam {
            Fam::V4 => [
                "255.255.255.255",
                "224.0.0.5",
                "0.0.0.0",
                "0.1.2.3",
                "127.0.0.1",
                "240.0.0.1",
                // The director's subnet broadcast on port 0.
                "198.18.0.255",
            ]
            .map(ip)
            .to_vec(),
            Fam::V6 => ["::", "::1", "ff02::1", "::ffff:198.18.0.10"]
                .map(ip)
                .to_vec(),
        };
        // The VIP itself and the director's own addresses, in both families.
        let own = [fam.vip(), fam.local(0), fam.local(1)];
        let why = match fam {
            Fam::V4 => DropReason::Ipv4MartianSource,
            Fam::V6 => DropReason::Ipv6MartianSource,
        };
        for (i, src) in martians.iter().chain(&own).enumerate() {
            let io = recorded(&mut p, &t, 0, syn_from(fam, *src));
            assert!(io.sent.is_empty() && io.kernel.is_empty(), "{fam:?} {src}");
            assert_eq!(stats.drops(why), i as u64 + 1, "{fam:?} {src}");
        }
        assert_eq!(p.conns.len(), 0, "{fam:?}");
        assert_eq!(get(&stats.conns_created), 0, "{fam:?}");
        // The client's own SYN is still taken.
        let io = recorded(&mut p, &t, 0, syn_from(fam, fam.client()));
        assert_eq!(io.sent.len(), 1, "{fam:?}");
    }
}

#[test]
fn echo_requests_from_martian_sources_are_not_answered() {
    let fam = Fam::V4;
    let (t, mut p, stats) = bench(fam, &Setup::default());
    let echo_from = |src: [u8; 4]| {
        let mut f = syn_from(fam, fam.client());
        let ip = &mut f[14..];
        ip[9] = ip_proto::ICMP;
        ip[12..16].copy_from_slice(&src);
        let icmp = &mut ip[20..];
        icmp.fill(0);
        icmp[0] = 8;
        let c = crate::wire::checksum::internet(icmp);
        icmp[2..4].copy_from_slice(&c.to_be_bytes());
        Ipv4Packet::new_unchecked(&mut f[14..]).fill_checksum();
        f
    };
    let io = recorded(&mut p, &t, 0, echo_from([255, 255, 255, 255]));
    assert!(io.sent.is_empty());
    assert_eq!(stats.drops(DropReason::Ipv4MartianSource), 1);
    let io = recorded(&mut p, &t, 0, echo_from([198, 18, 0, 10]));
    assert_eq!(io.sent.len(), 1, "the client's echo request is answered");
}

/// `f` (an IPv4 frame with a 20-byte header) with `opts` (a multiple of 4 bytes) as
/// its header's options.
fn with_options(f: &[u8], opts: &[u8]) -> Vec<u8> {
    let out = [&f[..34], opts, &f[34..]].concat();
    edited(out, |ip| {
        ip[0] = 0x40 | (5 + opts.len() / 4) as u8;
        let total = u16::from_be_bytes([ip[2], ip[3]]) + opts.len() as u16;
        ip[2..4].copy_from_slice(&total.to_be_bytes());
    })
}

#[test]
fn ipv4_options_that_do_not_parse_are_dropped() {
    let fam = Fam::V4;
    let (t, mut p, stats) = bench(fam, &Setup::default());
    let syn = from_client(fam, 1000, SYN);
    for bad in [
        // The packet: record route whose length (39) runs past the header.
        [7, 0x27, 4, 0],
        [30, 1, 0, 0],
        [148, 3, 0, 0],
        // A loose source route (Linux's accept_source_route is 0 by default).
        [1, 131, 3, 4],
    ] {
        let io = recorded(&mut p, &t, 0, with_options(&syn, &bad));
        assert!(io.sent.is_empty(), "{bad:?}");
    }
    assert_eq!(stats.drops(DropReason::Ipv4BadOptions), 4);
    assert_eq!(p.conns.len(), 0);
    // Options that parse (NOOPs, router alert) are forwarded with the packet.
    let io = recorded(
        &mut p,
        &t,
        0,
        with_options(&syn, &[148, 4, 0, 0, 1, 1, 1, 0]),
    );
    assert_eq!(io.sent.len(), 1);
    assert_eq!(stats.drops(DropReason::Ipv4BadOptions), 4);
}
