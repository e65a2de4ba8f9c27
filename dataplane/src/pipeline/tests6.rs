//! The IPv6 path: NDP, steering, DR and persistence, tunnels.

use std::net::{IpAddr, Ipv6Addr};
use std::sync::Arc;

use super::ndp::{
    multicast_mac, solicited_node, ALL_NODES, ALL_NODES_MAC, NA_OVERRIDE, NA_SOLICITED,
};
use super::state::{set_macs, ETH_HDR};
use super::*;
use crate::counters::{DropReason, WorkerStats};
use crate::route::{Ipv6Prefix, RouteTable6};
use crate::service::{proto, Forward};
use crate::service::{LocalAddr6, Persistence, RealServer, ServiceTable, VirtualService};
use crate::tables::Tables;
use crate::test_io::Out;
use crate::wire::ipv6::HEADER_LEN as IP6_HDR;
use crate::wire::{ip_proto, Icmpv6Packet, Ipv6Packet};

const WAN_MAC: [u8; 6] = [2, 0, 0, 0, 0, 0xa0];
const LAN_MAC: [u8; 6] = [2, 0, 0, 0, 0, 0xb0];
const CLIENT_MAC: [u8; 6] = [2, 0, 0, 0, 0, 1];
const RS_MAC: [u8; 6] = [2, 0, 0, 0, 0, 0x11];

fn a(s: &str) -> Ipv6Addr {
    s.parse().unwrap()
}

fn tables(persistence: Option<Persistence>) -> Tables {
    let rs = |id, addr: &str| RealServer {
        id,
        addr: IpAddr::V6(a(addr)),
        port: 80,
        weight: 1,
        forward: Forward::Masq,
        upper_threshold: 0,
    };
    let servers = vec![rs(0, "2001:2:0:1::11"), rs(1, "2001:2:0:1::12")];
    let dests: Vec<_> = servers
        .iter()
        .map(|r| scheduler::Destination::new(r.addr, r.port, 1))
        .collect();
    let svc = VirtualService {
        id: 0,
        proto: proto::TCP,
        vip: IpAddr::V6(a("2001:2::100")),
        port: 80,
        members: vec![],
        real_servers: servers,
        scheduler: scheduler::Scheduler::build(
            scheduler::SchedulerKind::Rr,
            &dests,
            Default::default(),
        )
        .unwrap(),
        persistence,
        snat_pool: None,
    };
    let locals = vec![
        LocalAddr6 {
            port: 0,
            addr: a("2001:2::fe"),
            prefix_len: 64,
        },
        LocalAddr6 {
            port: 1,
            addr: a("2001:2:0:1::fe"),
            prefix_len: 64,
        },
    ];
    Tables {
        services: ServiceTable::new(vec![svc], vec![], 1).with_locals6(locals),
        routes6: RouteTable6::new(
            &[
                (Ipv6Prefix::new(a("2001:2::"), 64).unwrap(), 0),
                (Ipv6Prefix::new(a("2001:2:0:1::"), 64).unwrap(), 1),
            ],
            &[],
        ),
        ..Tables::default()
    }
}

fn pipeline(workers: usize) -> Pipeline<Vec<u8>> {
    Pipeline::new(PipelineConfig {
        worker: 0,
        port_macs: vec![WAN_MAC, LAN_MAC],
        stats: Arc::new(WorkerStats::default()),
        conn_capacity: 1024,
        gratuitous_arp: false,
        workers,
        exception: Default::default(),
    })
}

/// Ethernet + IPv6 + `l4` (whose checksum, for ICMPv6, is filled in here).
fn frame(
    dst_mac: [u8; 6],
    src_mac: [u8; 6],
    src: Ipv6Addr,
    dst: Ipv6Addr,
    nh: u8,
    hop: u8,
    l4: &[u8],
) -> Vec<u8> {
    let mut f = vec![0u8; ETH_HDR + IP6_HDR + l4.len()];
    set_macs(&mut f, dst_mac, src_mac);
    f[12..14].copy_from_slice(&[0x86, 0xdd]);
    {
        let mut ip = Ipv6Packet::new_unchecked(&mut f[ETH_HDR..]);
        ip.set_version();
        ip.set_payload_len(l4.len() as u16);
        ip.set_next_header(nh);
        ip.set_hop_limit(hop);
        ip.set_src_addr(src);
        ip.set_dst_addr(dst);
    }
    f[ETH_HDR + IP6_HDR..].copy_from_slice(l4);
    if nh == ip_proto::ICMPV6 {
        Icmpv6Packet::new_unchecked(&mut f[ETH_HDR + IP6_HDR..]).fill_checksum(src, dst);
    }
    f
}

/// An NS or NA body: type, flags, target and options.
fn nd(ty: u8, flags: u8, target: Ipv6Addr, opts: &[u8]) -> Vec<u8> {
    let mut b = vec![ty, 0, 0, 0, flags, 0, 0, 0];
    b.extend_from_slice(&target.octets());
    b.extend_from_slice(opts);
    b
}

fn lla(kind: u8, mac: [u8; 6]) -> Vec<u8> {
    let mut o = vec![kind, 1];
    o.extend_from_slice(&mac);
    o
}

fn drops(p: &Pipeline<Vec<u8>>, why: DropReason) -> u64 {
    p.cfg.stats.drops(why)
}

#[test]
fn solicited_node_group_and_mac() {
    let g = solicited_node(a("2001:2:0:1::abc:1234"));
    assert_eq!(g, a("ff02::1:ffbc:1234"));
    assert_eq!(multicast_mac(g), [0x33, 0x33, 0xff, 0xbc, 0x12, 0x34]);
}

#[test]
fn ndp_rules_of_rfc4861_are_enforced() {
    let t = tables(None);
    let mut p = pipeline(1);
    let mut out = Out::default();
    let vip = a("2001:2::100");
    let client = a("2001:2::1");
    let (group, gmac) = (solicited_node(vip), multicast_mac(solicited_node(vip)));
    let ns = |opts: &[u8], src, dst| {
        frame(
            gmac,
            CLIENT_MAC,
            src,
            dst,
            ip_proto::ICMPV6,
            255,
            &nd(135, 0, vip, opts),
        )
    };
    // An option of length 0.
    p.handle(
        &t,
        0,
        ns(&[1, 0, 0, 0, 0, 0, 0, 0], client, group),
        0,
        &mut out,
    );
    // The solicited-node group of another address.
    let other = solicited_node(a("2001:2::7"));
    p.handle(&t, 0, ns(&lla(1, CLIENT_MAC), client, other), 0, &mut out);
    // Duplicate address detection carrying a source link-layer option.
    p.handle(
        &t,
        0,
        ns(&lla(1, CLIENT_MAC), Ipv6Addr::UNSPECIFIED, group),
        0,
        &mut out,
    );
    // A multicast advertisement claiming to be solicited.
    let na = nd(136, NA_SOLICITED, client, &lla(2, CLIENT_MAC));
    let na = frame(
        ALL_NODES_MAC,
        CLIENT_MAC,
        client,
        ALL_NODES,
        ip_proto::ICMPV6,
        255,
        &na,
    );
    p.handle(&t, 0, na, 0, &mut out);
    assert_eq!(drops(&p, DropReason::NdpInvalid), 4);
    // A plain duplicate address detection probe of the VIP: not answered.
    p.handle(&t, 0, ns(&[], Ipv6Addr::UNSPECIFIED, group), 0, &mut out);
    assert_eq!(drops(&p, DropReason::NdpNotForUs), 1);
    assert!(out.0.is_empty(), "nothing answered");
    // No neighbour was learned from any of them.
    assert_eq!(p.neigh6.len(), 0);
    // An MLD report (hop-by-hop header, to a multicast group) is not for rvs.
    let mld_group = a("ff02::16");
    let mld = frame(
        multicast_mac(mld_group),
        CLIENT_MAC,
        client,
        mld_group,
        ip_proto::HOPOPTS,
        1,
        &[0; 8],
    );
    p.handle(&t, 0, mld, 0, &mut out);
    assert_eq!(drops(&p, DropReason::NotOurMac), 1);
    assert_eq!(drops(&p, DropReason::Ipv6ExtensionHeader), 0);
}

#[test]
fn advertisement_without_option_uses_the_frame_source() {
    let t = tables(None);
    let mut p = pipeline(1);
    p.sync(&t);
    let mut out = Out::default();
    let rs = a("2001:2:0:1::11");
    let syn = {
        let mut tcp = [0u8; 20];
        tcp[0..2].copy_from_slice(&40000u16.to_be_bytes());
        tcp[2..4].copy_from_slice(&80u16.to_be_bytes());
        tcp[12] = 0x50;
        tcp[13] = 0x02;
        frame(
            WAN_MAC,
            CLIENT_MAC,
            a("2001:2::1"),
            a("2001:2::100"),
            ip_proto::TCP,
            64,
            &tcp,
        )
    };
    p.handle(&t, 0, syn, 0, &mut out);
    assert_eq!(out.0.len(), 1, "a solicitation for the real server");
    assert_eq!(out.0[0].0, 1);
    assert_eq!(&out.0[0].1[0..6], &[0x33, 0x33, 0xff, 0, 0, 0x11]);
    let na = nd(136, NA_SOLICITED | NA_OVERRIDE, rs, &[]);
    let na = frame(
        LAN_MAC,
        RS_MAC,
        rs,
        a("2001:2:0:1::fe"),
        ip_proto::ICMPV6,
        255,
        &na,
    );
    p.handle(&t, 1, na, 1, &mut out);
    assert_eq!(out.0.len(), 2, "the held SYN is released");
    let (port, f) = &out.0[1];
    assert_eq!(*port, 1);
    assert_eq!(&f[0..12], &[RS_MAC, LAN_MAC].concat()[..]);
    assert_eq!(
        Ipv6Packet::new_checked(&f[ETH_HDR..]).unwrap().dst_addr(),
        rs
    );
}

#[test]
fn both_directions_of_a_flow_steer_to_one_worker() {
    let t = tables(None);
    let p = pipeline(4);
    let vip = a("2001:2::100");
    let rs = a("2001:2:0:1::11");
    let mut seen = [0usize; 4];
    for i in 1..200u16 {
        let client = Ipv6Addr::new(0x2001, 2, 0, 0, 0, 0, i, i.wrapping_mul(7));
        let l4 = [0u8; 20];
        let inbound = frame(WAN_MAC, CLIENT_MAC, client, vip, ip_proto::TCP, 64, &l4);
        let reply = frame(LAN_MAC, RS_MAC, rs, client, ip_proto::TCP, 64, &l4);
        let w = p.owner(&t, &inbound).unwrap();
        assert_eq!(p.owner(&t, &reply), Some(w), "client {client}");
        seen[w] += 1;
    }
    assert!(
        seen.iter().all(|&n| n > 20),
        "spread over workers: {seen:?}"
    );
    // NDP and ICMPv6 are handled where they arrive.
    let ns = frame(
        WAN_MAC,
        CLIENT_MAC,
        a("2001:2::1"),
        vip,
        ip_proto::ICMPV6,
        255,
        &[0; 24],
    );
    assert_eq!(p.owner(&t, &ns), None);
}

#[test]
fn one_client_port_reaches_two_dr_vips_of_one_real_server() {
    // DR keeps no reply tuple: RS:80 -> client:1000 would be the same for both.
    let mut t = tables(None);
    let mut svcs = t.services.services().to_vec();
    for s in &mut svcs {
        s.real_servers.truncate(1);
        s.real_servers[0].forward = Forward::Route;
    }
    let mut second = svcs[0].clone();
    second.id = 1;
    second.vip = IpAddr::V6(a("2001:2::101"));
    svcs.push(second);
    let locals6 = vec![
        LocalAddr6 {
            port: 0,
            addr: a("2001:2::fe"),
            prefix_len: 64,
        },
        LocalAddr6 {
            port: 1,
            addr: a("2001:2:0:1::fe"),
            prefix_len: 64,
        },
    ];
    t.services = ServiceTable::new(svcs, vec![], 2).with_locals6(locals6);
    let rs = a("2001:2:0:1::11");
    assert_eq!(t.services.routed_of(0), Some(IpAddr::V6(rs)));
    let mut p = pipeline(1);
    p.sync(&t);
    let client = a("2001:2::1");
    let mut now = 1000;
    for flags in [0x02u8, 0x10] {
        for vip in [a("2001:2::100"), a("2001:2::101")] {
            let mut l4 = [0u8; 20];
            l4[0..2].copy_from_slice(&1000u16.to_be_bytes());
            l4[2..4].copy_from_slice(&80u16.to_be_bytes());
            l4[12] = 0x50;
            l4[13] = flags;
            let f = frame(WAN_MAC, CLIENT_MAC, client, vip, ip_proto::TCP, 64, &l4);
            let mut out = Out::default();
            now += 1;
            p.handle(&t, 0, f, now, &mut out);
        }
    }
    assert_eq!(p.conns.len(), 2);
    for why in [
        DropReason::ConnTableFull,
        DropReason::NoConnection,
        DropReason::NoRealServer,
        DropReason::NoService,
    ] {
        assert_eq!(drops(&p, why), 0, "{why:?}");
    }
}

#[test]
fn persistence_prefix_groups_clients_on_one_worker() {
    let t = tables(Some(Persistence {
        timeout_s: 300,
        prefix_len: 64,
    }));
    assert_eq!(t.services.steer_prefix6(), 64);
    let p = pipeline(4);
    let vip = a("2001:2::100");
    let owners: Vec<_> = (1..50u16)
        .map(|i| {
            let client = Ipv6Addr::new(0x2001, 2, 0, 5, i, 0, 0, i);
            let f = frame(WAN_MAC, CLIENT_MAC, client, vip, ip_proto::UDP, 64, &[0; 8]);
            p.owner(&t, &f).unwrap()
        })
        .collect();
    assert!(owners.iter().all(|&w| w == owners[0]), "{owners:?}");
}

#[test]
fn tunnel_connections_encapsulate_follow_the_table_and_check_the_port_mtu() {
    use crate::xmit::tun::{TunnelCsum, TunnelKind};
    let gue = TunnelKind::Gue {
        port: 6080,
        csum: TunnelCsum::Csum,
    };
    let with = |kind: Option<TunnelKind>, generation| {
        let t = tables(None);
        let mut svcs = t.services.services().to_vec();
        svcs[0].real_servers.truncate(1);
        match kind {
            Some(k) => svcs[0].real_servers[0].forward = Forward::Tunnel(k),
            None => svcs[0].real_servers.clear(),
        }
        let locals6 = vec![
            LocalAddr6 {
                port: 0,
                addr: a("2001:2::fe"),
                prefix_len: 64,
            },
            LocalAddr6 {
                port: 1,
                addr: a("2001:2:0:1::fe"),
                prefix_len: 64,
            },
        ];
        Tables {
            services: ServiceTable::new(svcs, vec![], generation)
                .with_locals6(locals6)
                .with_port_mtus(vec![1500, 1400]),
            ..t
        }
    };
    let t = with(Some(gue), 1);
    let rs = a("2001:2:0:1::11");
    assert_eq!(t.services.tunnel6_of(0), Some((rs, gue)));
    assert_eq!(t.services.port_mtu(1), 1400);
    let mut p = pipeline(1);
    p.sync(&t);
    let (client, vip) = (a("2001:2::1"), a("2001:2::100"));
    let segment = |flags: u8, payload: usize| {
        let mut l4 = vec![0u8; 20 + payload];
        l4[0..2].copy_from_slice(&1000u16.to_be_bytes());
        l4[2..4].copy_from_slice(&80u16.to_be_bytes());
        l4[12] = 0x50;
        l4[13] = flags;
        frame(WAN_MAC, CLIENT_MAC, client, vip, ip_proto::TCP, 64, &l4)
    };
    // The SYN is held while the real server is solicited, then released encapsulated.
    let mut out = Out::default();
    p.handle(&t, 0, segment(0x02, 0), 1000, &mut out);
    assert_eq!(out.0.len(), 1, "a neighbour solicitation");
    let na = frame(
        LAN_MAC,
        RS_MAC,
        rs,
        a("2001:2:0:1::fe"),
        ip_proto::ICMPV6,
        255,
        &nd(136, 0x60, rs, &lla(2, RS_MAC)),
    );
    p.handle(&t, 1, na, 1001, &mut out);
    let (port, f) = out.0.last().unwrap();
    assert_eq!(*port, 1);
    assert_eq!(&f[..6], &RS_MAC);
    let ip = Ipv6Packet::new_checked(&f[ETH_HDR..]).unwrap();
    assert_eq!(
        (ip.src_addr(), ip.dst_addr(), ip.next_header()),
        (a("2001:2:0:1::fe"), rs, 17)
    );
    assert_eq!(&f[ETH_HDR + 40 + 8..ETH_HDR + 40 + 12], &[0, 41, 0, 0]);
    // The inner packet as the client sent it but for its hop limit, decremented before
    // encapsulation (#25 item 6).
    let mut inner = segment(0x02, 0);
    inner[ETH_HDR + 7] = 63;
    assert_eq!(&f[ETH_HDR + 52..], &inner[ETH_HDR..]);

    // Too big for the lan port's 1400 bytes (+ 52): Packet Too Big to the client.
    let mut out = Out::default();
    p.handle(&t, 0, segment(0x10, 1400 - 52 - 60 + 1), 1002, &mut out);
    // (held while the client is solicited)
    assert_eq!(out.0.len(), 1, "a neighbour solicitation for the client");
    let na = frame(
        WAN_MAC,
        CLIENT_MAC,
        client,
        a("2001:2::fe"),
        ip_proto::ICMPV6,
        255,
        &nd(136, 0x60, client, &lla(2, CLIENT_MAC)),
    );
    p.handle(&t, 0, na, 1002, &mut out);
    let (port, f) = &out.0[1];
    assert_eq!(*port, 0);
    let ip = Ipv6Packet::new_checked(&f[ETH_HDR..]).unwrap();
    assert_eq!(
        (ip.src_addr(), ip.dst_addr(), ip.next_header()),
        (vip, client, 58)
    );
    assert_eq!(&f[ETH_HDR + 40..ETH_HDR + 41], &[2]);
    assert_eq!(&f[ETH_HDR + 44..ETH_HDR + 48], &1348u32.to_be_bytes());
    assert_eq!(
        p.cfg
            .stats
            .packet_too_big_sent
            .load(std::sync::atomic::Ordering::Relaxed),
        1
    );
    assert_eq!(drops(&p, DropReason::TunnelTooBig), 1);
    // One byte less fits.
    let mut out = Out::default();
    p.handle(&t, 0, segment(0x10, 1400 - 52 - 60), 1003, &mut out);
    assert_eq!(out.0.len(), 1);
    assert_eq!(out.0[0].1.len(), ETH_HDR + 1400);

    // The real server leaves the table: its connection's packets are dropped.
    let gone = with(None, 2);
    p.sync(&gone);
    let mut out = Out::default();
    p.handle(&gone, 0, segment(0x10, 0), 1004, &mut out);
    assert!(out.0.is_empty());
    assert_eq!(drops(&p, DropReason::NoRealServer), 1);
}
