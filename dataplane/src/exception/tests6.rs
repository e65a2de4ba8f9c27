//! The IPv6 exception path over `Vec<u8>` frames: what goes to the kernel (traffic for
//! the director's own addresses, NDP advertisements it needs, multicast), what the
//! dataplane keeps (NDP solicitations, VIP traffic), and the shared rate limit.

use std::net::{IpAddr, Ipv6Addr};
use std::sync::Arc;

use super::ExceptionConfig;
use crate::counters::{get, DropReason, WorkerStats};
use crate::pipeline::{Pipeline, PipelineConfig};
use crate::route::{Ipv6Prefix, RouteTable6};
use crate::service::{proto, Forward, LocalAddr6, RealServer, ServiceTable, VirtualService};
use crate::tables::Tables;
use crate::test_io::RecordingIo as TestIo;
use crate::wire::icmpv6::msg_type;
use crate::wire::{ip_proto, Icmpv6Packet, Ipv6Packet, TcpFlags, TcpPacket};

const MAC0: [u8; 6] = [2, 0, 0, 0, 0, 1];
const MAC1: [u8; 6] = [2, 0, 0, 0, 0, 2];
const PEER: [u8; 6] = [2, 0, 0, 0, 0, 9];
const ETH: usize = 14;
const IP6: usize = 40;

fn a(s: &str) -> Ipv6Addr {
    s.parse().unwrap()
}

fn wan() -> Ipv6Addr {
    a("2001:2::fe")
}
fn lan() -> Ipv6Addr {
    a("2001:2:0:1::fe")
}
fn client() -> Ipv6Addr {
    a("2001:2::1")
}
fn vip() -> Ipv6Addr {
    a("2001:2::100")
}
fn rs() -> Ipv6Addr {
    a("2001:2:0:1::11")
}

/// Port 0 (WAN) has a kernel interface, port 1 (LAN) has none. One TCP service on the
/// VIP (port 80) with one masq real server on the LAN.
fn setup(rate: u32) -> (Pipeline<Vec<u8>>, Tables, Arc<WorkerStats>) {
    let stats = Arc::new(WorkerStats::default());
    let p = Pipeline::new(PipelineConfig {
        worker: 0,
        port_macs: vec![MAC0, MAC1],
        stats: stats.clone(),
        conn_capacity: 1024,
        gratuitous_arp: false,
        workers: 1,
        exception: ExceptionConfig {
            ports: vec![true, false],
            rate,
        },
    });
    let server = RealServer {
        id: 0,
        addr: IpAddr::V6(rs()),
        port: 80,
        weight: 1,
        forward: Forward::Masq,
        upper_threshold: 0,
    };
    let dests = [scheduler::Destination::new(server.addr, 80, 1)];
    let svc = VirtualService {
        id: 0,
        proto: proto::TCP,
        vip: IpAddr::V6(vip()),
        port: 80,
        members: vec![],
        real_servers: vec![server],
        scheduler: scheduler::Scheduler::build(
            scheduler::SchedulerKind::Rr,
            &dests,
            Default::default(),
        )
        .unwrap(),
        persistence: None,
        snat_pool: None,
    };
    let locals = vec![
        LocalAddr6 {
            port: 0,
            addr: wan(),
            prefix_len: 64,
        },
        LocalAddr6 {
            port: 1,
            addr: lan(),
            prefix_len: 64,
        },
    ];
    let t = Tables {
        services: ServiceTable::new(vec![svc], vec![], 1).with_locals6(locals),
        routes6: RouteTable6::new(
            &[
                (Ipv6Prefix::new(a("2001:2::"), 64).unwrap(), 0),
                (Ipv6Prefix::new(a("2001:2:0:1::"), 64).unwrap(), 1),
            ],
            &[],
        ),
        ..Tables::default()
    };
    (p, t, stats)
}

/// Ethernet + IPv6 (next header `nh`, hop limit `hop`) + `l4`; ICMPv6 checksums filled.
fn ipv6(dst_mac: [u8; 6], src: Ipv6Addr, dst: Ipv6Addr, nh: u8, hop: u8, l4: &[u8]) -> Vec<u8> {
    let mut f = Vec::new();
    f.extend_from_slice(&dst_mac);
    f.extend_from_slice(&PEER);
    f.extend_from_slice(&[0x86, 0xdd]);
    f.resize(ETH + IP6, 0);
    {
        let mut ip = Ipv6Packet::new_unchecked(&mut f[ETH..]);
        ip.set_version();
        ip.set_payload_len(l4.len() as u16);
        ip.set_next_header(nh);
        ip.set_hop_limit(hop);
        ip.set_src_addr(src);
        ip.set_dst_addr(dst);
    }
    f.extend_from_slice(l4);
    if nh == ip_proto::ICMPV6 {
        Icmpv6Packet::new_unchecked(&mut f[ETH + IP6..]).fill_checksum(src, dst);
    }
    f
}

fn syn(dst_mac: [u8; 6], dst: Ipv6Addr, dport: u16, sport: u16) -> Vec<u8> {
    let mut tcp = [0u8; 20];
    {
        let mut t = TcpPacket::new_unchecked(&mut tcp[..]);
        t.set_src_port(sport);
        t.set_dst_port(dport);
        t.set_header_len(20);
        t.set_flags(TcpFlags::SYN);
        t.set_window_len(1024);
        t.fill_checksum_v6(client(), dst);
    }
    ipv6(dst_mac, client(), dst, ip_proto::TCP, 64, &tcp)
}

fn echo(dst_mac: [u8; 6], dst: Ipv6Addr) -> Vec<u8> {
    ipv6(
        dst_mac,
        client(),
        dst,
        ip_proto::ICMPV6,
        64,
        &[msg_type::ECHO_REQUEST, 0, 0, 0, 0, 1, 0, 1],
    )
}

/// A neighbour solicitation or advertisement with one link-layer option of `PEER`.
fn nd(ty: u8, dst_mac: [u8; 6], src: Ipv6Addr, dst: Ipv6Addr, target: Ipv6Addr) -> Vec<u8> {
    let (flags, opt) = if ty == msg_type::NEIGHBOR_ADVERT {
        (if dst.is_multicast() { 0x20 } else { 0x60 }, 2)
    } else {
        (0, 1)
    };
    let mut b = vec![ty, 0, 0, 0, flags, 0, 0, 0];
    b.extend_from_slice(&target.octets());
    b.extend_from_slice(&[opt, 1]);
    b.extend_from_slice(&PEER);
    ipv6(dst_mac, src, dst, ip_proto::ICMPV6, 255, &b)
}

#[test]
fn own_addresses_go_to_the_kernel_vips_stay() {
    let (mut p, t, stats) = setup(10_000);
    let mut io = TestIo::default();
    p.sync(&t);
    // TCP to the WAN address (a port with a TAP): the kernel's, unchanged.
    p.handle(&t, 0, syn(MAC0, wan(), 22, 1000), 1, &mut io);
    assert_eq!(io.kernel, vec![(0, syn(MAC0, wan(), 22, 1000))]);
    // Ping to the WAN address: the kernel answers, not the dataplane.
    p.handle(&t, 0, echo(MAC0, wan()), 1, &mut io);
    assert_eq!(io.kernel.len(), 2);
    assert_eq!(get(&stats.icmp_echo_replies), 0);
    // Ping to the VIP: the dataplane answers.
    p.handle(&t, 0, echo(MAC0, vip()), 1, &mut io);
    assert_eq!(get(&stats.icmp_echo_replies), 1);
    assert_eq!(io.kernel.len(), 2);
    // VIP traffic creates a connection; nothing for the kernel.
    p.handle(&t, 0, syn(MAC0, vip(), 80, 1001), 1, &mut io);
    assert_eq!(get(&stats.conns_created), 1);
    // A port of the VIP without a service is not the kernel's either.
    p.handle(&t, 0, syn(MAC0, vip(), 22, 1002), 1, &mut io);
    assert_eq!(io.kernel.len(), 2);
    assert_eq!(stats.drops(DropReason::NoService), 1);
    // A fragment to the director's address: the kernel reassembles; to the VIP it goes to
    // the fragment step, which drops this one (a first fragment without a whole TCP header).
    let frag = [ip_proto::TCP, 0, 0, 1, 0, 0, 0, 7, 0, 0, 0, 0, 0, 0, 0, 0];
    p.handle(
        &t,
        0,
        ipv6(MAC0, client(), wan(), 44, 64, &frag),
        1,
        &mut io,
    );
    assert_eq!(io.kernel.len(), 3);
    p.handle(
        &t,
        0,
        ipv6(MAC0, client(), vip(), 44, 64, &frag),
        1,
        &mut io,
    );
    assert_eq!(stats.drops(DropReason::FragmentMalformed), 1);
    assert_eq!(io.kernel.len(), 3);
    // An ICMPv6 error about a flow the kernel opened (no connection of the dataplane).
    let mut err = vec![msg_type::DST_UNREACHABLE, 4, 0, 0, 0, 0, 0, 0];
    err.extend_from_slice(&syn(MAC1, client(), 80, 40000)[ETH..]);
    let quoted_src = wan();
    err[8 + 8..8 + 24].copy_from_slice(&quoted_src.octets());
    p.handle(
        &t,
        0,
        ipv6(MAC0, client(), wan(), ip_proto::ICMPV6, 64, &err),
        1,
        &mut io,
    );
    assert_eq!(io.kernel.len(), 4);
    assert_eq!(get(&stats.ports[0].to_kernel_packets), 4);
    // The same to the LAN port, which has no TAP: the dataplane answers pings, drops TCP.
    p.handle(&t, 1, echo(MAC1, lan()), 1, &mut io);
    assert_eq!(get(&stats.icmp_echo_replies), 2);
    p.handle(&t, 1, syn(MAC1, lan(), 22, 1003), 1, &mut io);
    assert_eq!(stats.drops(DropReason::ForDirector), 1);
    assert_eq!(io.kernel.len(), 4);
    assert_eq!(get(&stats.ports[1].to_kernel_packets), 0);
}

#[test]
fn ndp_answers_stay_in_the_dataplane_advertisements_reach_the_kernel() {
    let (mut p, t, stats) = setup(10_000);
    let mut io = TestIo::default();
    p.sync(&t);
    // A solicitation for the director's address: the dataplane answers, alone.
    let group = a("ff02::1:ff00:fe");
    let mut ns = nd(
        msg_type::NEIGHBOR_SOLICIT,
        [0x33, 0x33, 0xff, 0, 0, 0xfe],
        client(),
        group,
        wan(),
    );
    p.handle(&t, 0, ns.clone(), 1, &mut io);
    assert_eq!(io.sent.len(), 1);
    assert_eq!(io.sent[0].1[ETH + IP6], msg_type::NEIGHBOR_ADVERT);
    assert!(io.kernel.is_empty());
    // The same unicast (neighbour unreachability detection).
    ns[..6].copy_from_slice(&MAC0);
    let ns = {
        let body = ns[ETH + IP6..].to_vec();
        ipv6(MAC0, client(), wan(), ip_proto::ICMPV6, 255, &body)
    };
    p.handle(&t, 0, ns, 1, &mut io);
    assert_eq!(io.sent.len(), 2);
    assert!(io.kernel.is_empty());
    // The answer to the kernel's own solicitation: learned here, and the kernel's too.
    let na = nd(msg_type::NEIGHBOR_ADVERT, MAC0, client(), wan(), client());
    p.handle(&t, 0, na.clone(), 1, &mut io);
    assert_eq!(io.kernel, vec![(0, na)]);
    // An unsolicited advertisement to all nodes (a neighbour's new MAC) too.
    let all = a("ff02::1");
    let na = nd(
        msg_type::NEIGHBOR_ADVERT,
        [0x33, 0x33, 0, 0, 0, 1],
        client(),
        all,
        client(),
    );
    p.handle(&t, 0, na, 1, &mut io);
    assert_eq!(io.kernel.len(), 2);
    // An invalid one (hop limit below 255) reaches neither.
    let mut bad = nd(msg_type::NEIGHBOR_ADVERT, MAC0, client(), wan(), client());
    bad[ETH + 7] = 64;
    p.handle(&t, 0, bad, 1, &mut io);
    assert_eq!(stats.drops(DropReason::NdpInvalid), 1);
    assert_eq!(io.kernel.len(), 2);
    // Without a TAP (LAN port) an advertisement is only learned.
    let na = nd(msg_type::NEIGHBOR_ADVERT, MAC1, rs(), lan(), rs());
    p.handle(&t, 1, na, 1, &mut io);
    assert_eq!(io.kernel.len(), 2);
    assert_eq!(stats.drops(DropReason::NdpNotForUs), 0);
    assert_eq!(get(&stats.ports[0].to_kernel_packets), 2);
}

#[test]
fn ipv6_multicast_goes_to_the_kernel_where_it_has_one() {
    let (mut p, t, stats) = setup(10_000);
    let mut io = TestIo::default();
    p.sync(&t);
    // VRRPv3 over IPv6 (ff02::12, protocol 112) and a ping to all nodes.
    let vrrp = ipv6(
        [0x33, 0x33, 0, 0, 0, 0x12],
        a("fe80::9"),
        a("ff02::12"),
        112,
        255,
        &[0x31, 1, 100, 1, 0, 100, 0, 0],
    );
    p.handle(&t, 0, vrrp.clone(), 1, &mut io);
    let ping_all = ipv6(
        [0x33, 0x33, 0, 0, 0, 1],
        client(),
        a("ff02::1"),
        ip_proto::ICMPV6,
        1,
        &[msg_type::ECHO_REQUEST, 0, 0, 0, 0, 1, 0, 1],
    );
    p.handle(&t, 0, ping_all.clone(), 1, &mut io);
    assert_eq!(io.kernel.len(), 2);
    // Without a TAP: dropped as before.
    p.handle(&t, 1, vrrp, 1, &mut io);
    p.handle(&t, 1, ping_all, 1, &mut io);
    assert_eq!(stats.drops(DropReason::NotOurMac), 2);
    assert!(io.sent.is_empty());
}

#[test]
fn an_ipv6_flood_shares_the_rate_limit() {
    // 1000 pps per worker: a burst of 32, then one packet per ms, for both families.
    let (mut p, t, stats) = setup(1000);
    let mut io = TestIo::default();
    p.sync(&t);
    for i in 0..5_000u16 {
        p.handle(&t, 0, syn(MAC0, wan(), 22, 1024 + i), 5, &mut io);
    }
    assert_eq!(io.kernel.len(), 32);
    assert_eq!(stats.drops(DropReason::ExceptionRateLimited), 5_000 - 32);
    for i in 0..100u16 {
        p.handle(&t, 0, echo(MAC0, wan()), 15 + u64::from(i / 50), &mut io);
    }
    assert_eq!(io.kernel.len(), 32 + 11);
    assert_eq!(get(&stats.ports[0].to_kernel_packets), 43);
    assert_eq!(stats.drops(DropReason::ForDirector), 0);
}
