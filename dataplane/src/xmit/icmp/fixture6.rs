//! The IPv6 fixture of the ICMP error tests: a NAT/DR/TUN service VIP:80 -> RS on a
//! two-port director, a pipeline that knows the neighbours, and packet builders.

use std::net::{IpAddr, Ipv6Addr};
use std::sync::Arc;

use crate::counters::{DropReason, WorkerStats};
use crate::pipeline::state::{set_macs, ETH_HDR};
use crate::pipeline::{NeighbourUpdate, Pipeline, PipelineConfig};
use crate::route::{Ipv6Prefix, RouteTable6};
use crate::service::{proto, Forward};
use crate::service::{LocalAddr6, RealServer, ServiceTable, VirtualService};
use crate::tables::Tables;
use crate::test_io::Out;
use crate::wire::ipv6::HEADER_LEN as IP6_HDR;
use crate::wire::{checksum, ip_proto, write_u16, Icmpv6Packet};

pub(super) const WAN_MAC: [u8; 6] = [2, 0, 0, 0, 0, 0xa0];
pub(super) const LAN_MAC: [u8; 6] = [2, 0, 0, 0, 0, 0xb0];
pub(super) const CLIENT_MAC: [u8; 6] = [2, 0, 0, 0, 0, 1];
pub(super) const RS_MAC: [u8; 6] = [2, 0, 0, 0, 0, 0x11];
pub(super) const CLIENT: &str = "2001:2::1";
pub(super) const VIP: &str = "2001:2::100";
pub(super) const RS: &str = "2001:2:0:1::11";
pub(super) const ROUTER: &str = "2001:2::7";
pub(super) const WAN_IP: &str = "2001:2::fe";

pub(super) fn a(s: &str) -> Ipv6Addr {
    s.parse().unwrap()
}

/// One TCP service VIP:80 -> RS:8080 with `forward` (NAT or DR).
pub(super) fn tables(forward: Forward) -> Tables {
    let rs = RealServer {
        id: 0,
        addr: IpAddr::V6(a(RS)),
        port: if forward == Forward::Masq { 8080 } else { 80 },
        weight: 1,
        forward,
        upper_threshold: 0,
    };
    let dests = [scheduler::Destination::new(rs.addr, rs.port, 1)];
    let svc = VirtualService {
        id: 0,
        proto: proto::TCP,
        vip: IpAddr::V6(a(VIP)),
        port: 80,
        members: vec![],
        real_servers: vec![rs],
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
            addr: a(WAN_IP),
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

/// A pipeline that knows the client's and the real server's MACs.
pub(super) fn pipeline(t: &Tables, worker: usize, workers: usize) -> Pipeline<Vec<u8>> {
    let mut p = Pipeline::new(PipelineConfig {
        worker,
        port_macs: vec![WAN_MAC, LAN_MAC],
        stats: Arc::new(WorkerStats::default()),
        conn_capacity: 64,
        gratuitous_arp: false,
        workers,
        exception: Default::default(),
    });
    p.sync(t);
    let mut out = Out::default();
    for (port, ip, mac) in [
        (0, CLIENT, CLIENT_MAC),
        (0, ROUTER, [2, 0, 0, 0, 0, 7]),
        (1, RS, RS_MAC),
    ] {
        let u = NeighbourUpdate {
            port,
            ip: IpAddr::V6(a(ip)),
            mac,
        };
        p.learn_remote(u, 0, &mut out);
    }
    p
}

/// An IPv6 packet (hop limit 64) with a TCP header + `data`, checksum computed in full.
pub(super) fn tcp(src: &str, sport: u16, dst: &str, dport: u16, flags: u8, data: &[u8]) -> Vec<u8> {
    let mut l4 = vec![0u8; 20];
    write_u16(&mut l4[0..], sport);
    write_u16(&mut l4[2..], dport);
    l4[12] = 0x50;
    l4[13] = flags;
    l4.extend_from_slice(data);
    let ph = checksum::pseudo_header_v6(a(src), a(dst), ip_proto::TCP, l4.len() as u32);
    let c = !checksum::combine(&[ph, checksum::data(&l4)]);
    write_u16(&mut l4[16..], c);
    ip6(src, dst, ip_proto::TCP, &l4)
}

pub(super) fn ip6(src: &str, dst: &str, nh: u8, payload: &[u8]) -> Vec<u8> {
    let mut b = vec![0x60, 0, 0, 0, 0, 0, nh, 64];
    write_u16(&mut b[4..], payload.len() as u16);
    b.extend_from_slice(&a(src).octets());
    b.extend_from_slice(&a(dst).octets());
    b.extend_from_slice(payload);
    b
}

/// An ICMPv6 error `ty` from `src` to `dst` with `rest` and `quote`, valid checksum.
pub(super) fn error(ty: u8, rest: [u8; 4], src: &str, dst: &str, quote: &[u8]) -> Vec<u8> {
    let mut m = vec![ty, 0, 0, 0];
    m.extend_from_slice(&rest);
    m.extend_from_slice(quote);
    let mut b = ip6(src, dst, ip_proto::ICMPV6, &m);
    Icmpv6Packet::new_unchecked(&mut b[IP6_HDR..]).fill_checksum(a(src), a(dst));
    b
}

pub(super) fn frame(dst_mac: [u8; 6], src_mac: [u8; 6], ip: &[u8]) -> Vec<u8> {
    let mut f = vec![0u8; ETH_HDR];
    set_macs(&mut f, dst_mac, src_mac);
    f[12..14].copy_from_slice(&[0x86, 0xdd]);
    f.extend_from_slice(ip);
    f
}

pub(super) fn from_client(ip: &[u8]) -> Vec<u8> {
    frame(WAN_MAC, CLIENT_MAC, ip)
}

pub(super) fn from_rs(ip: &[u8]) -> Vec<u8> {
    frame(LAN_MAC, RS_MAC, ip)
}

pub(super) fn drops(p: &Pipeline<Vec<u8>>, why: DropReason) -> u64 {
    p.cfg.stats.drops(why)
}

pub(super) fn translated(p: &Pipeline<Vec<u8>>) -> u64 {
    crate::counters::get(&p.cfg.stats.icmpv6_errors_translated)
}
