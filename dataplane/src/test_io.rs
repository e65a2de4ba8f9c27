//! [`Io`] implementations for the pipeline's unit tests (frames are plain `Vec<u8>`), and
//! a packet builder they share.

use crate::frame::Io;
use crate::wire::ipv4::Ipv4Packet;
use crate::wire::tcp::TcpPacket;
use std::net::Ipv4Addr;

/// An IPv4 + TCP packet from `src` to `dst` with `flags`, `seq`, `ack`, `opts` (padded
/// with zeros to a multiple of 4 bytes) and `payload`, window 0xffff, TTL 64, both
/// checksums filled in.
pub(crate) fn tcp4_packet(
    src: (Ipv4Addr, u16),
    dst: (Ipv4Addr, u16),
    flags: u8,
    (seq, ack): (u32, u32),
    opts: &[u8],
    payload: &[u8],
) -> Vec<u8> {
    let thl = 20 + opts.len().div_ceil(4) * 4;
    let total = 20 + thl + payload.len();
    let mut p = vec![0u8; total];
    p[0] = 0x45;
    p[2..4].copy_from_slice(&(total as u16).to_be_bytes());
    p[8] = 64;
    p[9] = 6;
    p[12..16].copy_from_slice(&src.0.octets());
    p[16..20].copy_from_slice(&dst.0.octets());
    p[20..22].copy_from_slice(&src.1.to_be_bytes());
    p[22..24].copy_from_slice(&dst.1.to_be_bytes());
    p[24..28].copy_from_slice(&seq.to_be_bytes());
    p[28..32].copy_from_slice(&ack.to_be_bytes());
    p[32] = ((thl / 4) as u8) << 4;
    p[33] = flags;
    p[34..36].copy_from_slice(&[0xff, 0xff]);
    p[40..40 + opts.len()].copy_from_slice(opts);
    p[20 + thl..].copy_from_slice(payload);
    Ipv4Packet::new_unchecked(&mut p[..]).fill_checksum();
    TcpPacket::new_unchecked(&mut p[20..]).fill_checksum_v4(src.0, dst.0);
    p
}

/// Records what a pipeline sends out of the data ports, by port; a hand-off to the kernel
/// fails the test (for setups where no port has an exception path).
#[derive(Default)]
pub(crate) struct Out(pub(crate) Vec<(usize, Vec<u8>)>);

impl Io<Vec<u8>> for Out {
    fn send(&mut self, port: usize, pkt: Vec<u8>) {
        self.0.push((port, pkt));
    }
    fn alloc(&mut self) -> Option<Vec<u8>> {
        Some(Vec::new())
    }
    fn send_kernel(&mut self, _port: usize, _pkt: Vec<u8>) {
        panic!("no port of these tests has an exception path");
    }
}

/// Records what a pipeline sends out of the data ports (`sent`) and what it hands to the
/// kernel through a port's exception path (`kernel`), by port.
#[derive(Default)]
pub(crate) struct RecordingIo {
    pub(crate) sent: Vec<(usize, Vec<u8>)>,
    pub(crate) kernel: Vec<(usize, Vec<u8>)>,
}

impl Io<Vec<u8>> for RecordingIo {
    fn send(&mut self, port: usize, pkt: Vec<u8>) {
        self.sent.push((port, pkt));
    }
    fn send_kernel(&mut self, port: usize, pkt: Vec<u8>) {
        self.kernel.push((port, pkt));
    }
    fn alloc(&mut self) -> Option<Vec<u8>> {
        Some(Vec::new())
    }
}

/// One worker with one TCP virtual service `VIP:80` of one real server `RS:8080`
/// forwarded by `forward`, clients on port 0 (198.18.0.0/24), real servers on port 1
/// (198.19.0.0/24), both neighbours known: the bench of the per-method pipeline tests.
pub(crate) mod one_service {
    use std::net::Ipv4Addr;
    use std::sync::Arc;

    use super::{tcp4_packet, Out};
    use crate::counters::WorkerStats;
    use crate::pipeline::{NeighbourUpdate, Pipeline, PipelineConfig};
    use crate::route::{Ipv4Prefix, RouteTable};
    use crate::service::{proto, Forward, LocalAddr, RealServer, ServiceTable, VirtualService};
    use crate::tables::Tables;

    pub(crate) const VIP: Ipv4Addr = Ipv4Addr::new(198, 18, 0, 100);
    pub(crate) const CLIENT: Ipv4Addr = Ipv4Addr::new(198, 18, 0, 10);
    pub(crate) const RS: Ipv4Addr = Ipv4Addr::new(198, 19, 0, 11);
    pub(crate) const MACS: [[u8; 6]; 2] = [[2, 0, 0, 0, 0, 0xa0], [2, 0, 0, 0, 0, 0xa1]];
    pub(crate) const CLIENT_MAC: [u8; 6] = [2, 0, 0, 0, 0, 1];
    pub(crate) const RS_MAC: [u8; 6] = [2, 0, 0, 0, 0, 0x11];

    /// The tables and a synced pipeline that knows both neighbours.
    pub(crate) fn bench(forward: Forward) -> (Tables, Pipeline<Vec<u8>>, Arc<WorkerStats>) {
        let rs = RealServer {
            id: 0,
            addr: RS.into(),
            port: 8080,
            weight: 1,
            forward,
            upper_threshold: 0,
        };
        let dest = scheduler::Destination::new(RS.into(), 8080, 1);
        let scheduler =
            scheduler::Scheduler::build(scheduler::SchedulerKind::Rr, &[dest], Default::default())
                .unwrap();
        let svc = VirtualService {
            id: 0,
            proto: proto::TCP,
            vip: VIP.into(),
            port: 80,
            members: vec![],
            real_servers: vec![rs],
            scheduler,
            persistence: None,
            snat_pool: None,
        };
        let local = |port, last| LocalAddr {
            port,
            addr: Ipv4Addr::new(198, 18 + port as u8, 0, last),
            prefix_len: 24,
        };
        let wan = Ipv4Prefix::new(Ipv4Addr::new(198, 18, 0, 0), 24).unwrap();
        let lan = Ipv4Prefix::new(Ipv4Addr::new(198, 19, 0, 0), 24).unwrap();
        let t = Tables {
            services: ServiceTable::new(vec![svc], vec![local(0, 254), local(1, 254)], 1),
            routes: RouteTable::new(&[(wan, 0), (lan, 1)], &[]),
            ..Tables::default()
        };
        let stats = Arc::new(WorkerStats::default());
        let mut p = Pipeline::new(PipelineConfig {
            worker: 0,
            port_macs: MACS.to_vec(),
            stats: stats.clone(),
            conn_capacity: 64,
            gratuitous_arp: false,
            workers: 1,
            exception: Default::default(),
        });
        p.sync(&t);
        let mut io = Out::default();
        for (port, ip, mac) in [(0, CLIENT, CLIENT_MAC), (1, RS, RS_MAC)] {
            let u = NeighbourUpdate {
                port,
                ip: ip.into(),
                mac,
            };
            p.learn_remote(u, 0, &mut io);
        }
        (t, p, stats)
    }

    /// An Ethernet frame to `dst_mac` from `src_mac` carrying a TCP segment `src -> dst`
    /// with `flags` and `payload`, checksums filled in.
    pub(crate) fn frame(
        (dst_mac, src_mac): ([u8; 6], [u8; 6]),
        src: (Ipv4Addr, u16),
        dst: (Ipv4Addr, u16),
        flags: u8,
        payload: &[u8],
    ) -> Vec<u8> {
        let mut f = Vec::with_capacity(14 + 40 + payload.len());
        f.extend_from_slice(&dst_mac);
        f.extend_from_slice(&src_mac);
        f.extend_from_slice(&[0x08, 0x00]);
        f.extend(tcp4_packet(src, dst, flags, (1000, 0), &[], payload));
        f
    }
}

/// One worker with one TCP virtual service `VIP:80` of real servers `rs(0)`, `rs(1)`...
/// (port 8080, round robin) in IPv4 or IPv6 ([`Fam`]): clients on port 0, real servers on
/// port 1, every neighbour known; persistence, weights, the exception path and the IPVS
/// switches as a [`Setup`] says. The bench of the connection step's tests, run over both
/// families.
pub(crate) mod two_servers {
    use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
    use std::sync::Arc;

    use super::Out;
    use crate::counters::WorkerStats;
    use crate::exception::ExceptionConfig;
    use crate::pipeline::{NeighbourUpdate, Pipeline, PipelineConfig};
    use crate::route::{Ipv4Prefix, Ipv6Prefix, RouteTable, RouteTable6};
    use crate::service::{proto, Forward, LocalAddr, LocalAddr6, Persistence};
    use crate::service::{RealServer, ServiceTable, VirtualService};
    use crate::tables::{IpvsSwitches, Tables};
    use crate::wire::{Ipv4Packet, Ipv6Packet, TcpPacket, UdpPacket};

    pub(crate) use super::one_service::{CLIENT_MAC, MACS, RS_MAC};

    /// The virtual service's port and its real servers' port.
    pub(crate) const VPORT: u16 = 80;
    /// The real servers' port.
    pub(crate) const RPORT: u16 = 8080;

    /// TCP flags, as on the wire.
    pub(crate) const FIN: u8 = 0x01;
    pub(crate) const SYN: u8 = 0x02;
    pub(crate) const RST: u8 = 0x04;
    pub(crate) const ACK: u8 = 0x10;

    /// The address family a bench runs in.
    #[derive(Clone, Copy, Debug, PartialEq, Eq)]
    pub(crate) enum Fam {
        V4,
        V6,
    }

    /// Both families, for tests that run once per family.
    pub(crate) const FAMILIES: [Fam; 2] = [Fam::V4, Fam::V6];

    impl Fam {
        /// Address `last` on the subnet of port `port` (198.18+port.0.0/24 or
        /// 2001:db8:port::/64).
        pub(crate) fn on(self, port: u8, last: u8) -> IpAddr {
            match self {
                Fam::V4 => Ipv4Addr::new(198, 18 + port, 0, last).into(),
                Fam::V6 => {
                    Ipv6Addr::new(0x2001, 0xdb8, port.into(), 0, 0, 0, 0, last.into()).into()
                }
            }
        }
        /// The virtual service's address.
        pub(crate) fn vip(self) -> IpAddr {
            self.on(0, 100)
        }
        /// The client.
        pub(crate) fn client(self) -> IpAddr {
            self.on(0, 10)
        }
        /// Real server `i`.
        pub(crate) fn rs(self, i: u8) -> IpAddr {
            self.on(1, 11 + i)
        }
        /// The director's own address on `port`.
        pub(crate) fn local(self, port: u8) -> IpAddr {
            self.on(port, 254)
        }
        /// Persistence per client address (the family's host prefix), 300 s.
        pub(crate) fn per_client(self) -> Persistence {
            let prefix_len = if self == Fam::V4 { 32 } else { 128 };
            Persistence {
                timeout_s: 300,
                prefix_len,
            }
        }
    }

    /// What a bench is made of; [`Setup::default`] is two NAT real servers of weight 1,
    /// no persistence, no exception path, the IPVS switches at their defaults.
    #[derive(Clone, Debug)]
    pub(crate) struct Setup {
        /// The real servers' method.
        pub forward: Forward,
        /// Weight per real server `rs(i)` (id `i`); `None`: not in the table.
        pub weights: Vec<Option<u32>>,
        /// The virtual service's persistence.
        pub persistence: Option<Persistence>,
        /// Port 0 has an exception path (port 1 never has).
        pub kernel: bool,
        /// IPVS's switches.
        pub ipvs: IpvsSwitches,
        /// The table's generation (a worker adopts a table of a new generation).
        pub generation: u64,
    }

    impl Default for Setup {
        fn default() -> Self {
            Setup {
                forward: Forward::Masq,
                weights: vec![Some(1), Some(1)],
                persistence: None,
                kernel: false,
                ipvs: IpvsSwitches::default(),
                generation: 1,
            }
        }
    }

    /// The tables `s` describes, in family `fam`.
    pub(crate) fn tables(fam: Fam, s: &Setup) -> Tables {
        let real_servers: Vec<_> = (0..s.weights.len() as u8)
            .filter_map(|i| {
                Some(RealServer {
                    id: i.into(),
                    addr: fam.rs(i),
                    port: RPORT,
                    weight: s.weights[usize::from(i)]?,
                    forward: s.forward,
                    upper_threshold: 0,
                })
            })
            .collect();
        let dests: Vec<_> = real_servers
            .iter()
            .map(|r| scheduler::Destination::new(r.addr, r.port, r.weight as u16))
            .collect();
        let scheduler =
            scheduler::Scheduler::build(scheduler::SchedulerKind::Rr, &dests, Default::default())
                .unwrap();
        let svc = VirtualService {
            id: 0,
            proto: proto::TCP,
            vip: fam.vip(),
            port: VPORT,
            members: vec![],
            real_servers,
            scheduler,
            persistence: s.persistence,
            snat_pool: None,
        };
        let mut t = Tables {
            ipvs: s.ipvs,
            ..Tables::default()
        };
        let ports = [0u8, 1];
        match fam {
            Fam::V4 => {
                let v4 = |a: IpAddr| match a {
                    IpAddr::V4(a) => a,
                    IpAddr::V6(_) => unreachable!(),
                };
                let locals = ports.map(|port| LocalAddr {
                    port: port.into(),
                    addr: v4(fam.local(port)),
                    prefix_len: 24,
                });
                let nets = ports.map(|port| {
                    let net = Ipv4Prefix::new(v4(fam.on(port, 0)), 24).unwrap();
                    (net, usize::from(port))
                });
                t.services = ServiceTable::new(vec![svc], locals.to_vec(), s.generation);
                t.routes = RouteTable::new(&nets, &[]);
            }
            Fam::V6 => {
                let v6 = |a: IpAddr| match a {
                    IpAddr::V6(a) => a,
                    IpAddr::V4(_) => unreachable!(),
                };
                let locals = ports.map(|port| LocalAddr6 {
                    port: port.into(),
                    addr: v6(fam.local(port)),
                    prefix_len: 64,
                });
                let nets = ports.map(|port| {
                    let net = Ipv6Prefix::new(v6(fam.on(port, 0)), 64).unwrap();
                    (net, usize::from(port))
                });
                t.services = ServiceTable::new(vec![svc], vec![], s.generation)
                    .with_locals6(locals.to_vec());
                t.routes6 = RouteTable6::new(&nets, &[]);
            }
        }
        t
    }

    /// The tables of `s` and a synced pipeline that knows the client and every real
    /// server of `s` as neighbours.
    pub(crate) fn bench(fam: Fam, s: &Setup) -> (Tables, Pipeline<Vec<u8>>, Arc<WorkerStats>) {
        let t = tables(fam, s);
        let stats = Arc::new(WorkerStats::default());
        let mut p = Pipeline::new(PipelineConfig {
            worker: 0,
            port_macs: MACS.to_vec(),
            stats: stats.clone(),
            conn_capacity: 64,
            gratuitous_arp: false,
            workers: 1,
            exception: ExceptionConfig {
                ports: vec![s.kernel, false],
                rate: 1000,
            },
        });
        p.sync(&t);
        let mut io = Out::default();
        let rss = (0..s.weights.len() as u8).map(|i| (1, fam.rs(i), RS_MAC));
        for (port, ip, mac) in [(0, fam.client(), CLIENT_MAC)].into_iter().chain(rss) {
            p.learn_remote(NeighbourUpdate { port, ip, mac }, 0, &mut io);
        }
        (t, p, stats)
    }

    /// An Ethernet frame arriving on `port` (0: from the client, 1: from a real server)
    /// with a TCP segment (`proto::TCP`, with `flags`) or a UDP datagram (`proto::UDP`)
    /// `src -> dst` of 4 bytes of payload, every checksum filled in.
    pub(crate) fn segment(
        port: usize,
        src: (IpAddr, u16),
        dst: (IpAddr, u16),
        l4_proto: u8,
        flags: u8,
    ) -> Vec<u8> {
        let mut l4 = vec![0u8; if l4_proto == proto::TCP { 24 } else { 12 }];
        l4[0..2].copy_from_slice(&src.1.to_be_bytes());
        l4[2..4].copy_from_slice(&dst.1.to_be_bytes());
        if l4_proto == proto::TCP {
            l4[4..8].copy_from_slice(&1000u32.to_be_bytes());
            l4[12] = 0x50;
            l4[13] = flags;
            l4[14..16].copy_from_slice(&[0xff, 0xff]);
        } else {
            let len = l4.len() as u16;
            l4[4..6].copy_from_slice(&len.to_be_bytes());
        }
        let (ip_hdr, ethertype) = match (src.0, dst.0) {
            (IpAddr::V4(_), IpAddr::V4(_)) => (20, [0x08, 0x00]),
            (IpAddr::V6(_), IpAddr::V6(_)) => (40, [0x86, 0xdd]),
            _ => panic!("one family per packet"),
        };
        let (to, from) = if port == 0 {
            (MACS[0], CLIENT_MAC)
        } else {
            (MACS[1], RS_MAC)
        };
        let mut f = [&to[..], &from[..], &ethertype[..]].concat();
        f.resize(14 + ip_hdr, 0);
        f.extend_from_slice(&l4);
        let ip = &mut f[14..];
        match (src.0, dst.0) {
            (IpAddr::V4(s), IpAddr::V4(d)) => {
                let total = (ip.len() as u16).to_be_bytes();
                ip[..4].copy_from_slice(&[0x45, 0, total[0], total[1]]);
                ip[8..10].copy_from_slice(&[64, l4_proto]);
                ip[12..16].copy_from_slice(&s.octets());
                ip[16..20].copy_from_slice(&d.octets());
                Ipv4Packet::new_unchecked(&mut ip[..]).fill_checksum();
                let l4 = &mut ip[20..];
                match l4_proto {
                    proto::TCP => TcpPacket::new_unchecked(l4).fill_checksum_v4(s, d),
                    _ => UdpPacket::new_unchecked(l4).fill_checksum_v4(s, d),
                }
            }
            (IpAddr::V6(s), IpAddr::V6(d)) => {
                let mut v6 = Ipv6Packet::new_unchecked(&mut ip[..]);
                v6.set_version();
                v6.set_payload_len(l4.len() as u16);
                v6.set_next_header(l4_proto);
                v6.set_hop_limit(64);
                v6.set_src_addr(s);
                v6.set_dst_addr(d);
                let l4 = &mut ip[40..];
                match l4_proto {
                    proto::TCP => TcpPacket::new_unchecked(l4).fill_checksum_v6(s, d),
                    _ => UdpPacket::new_unchecked(l4).fill_checksum_v6(s, d),
                }
            }
            _ => unreachable!(),
        }
        f
    }

    /// A TCP segment with `flags` from the client's port `cport` to the virtual service.
    pub(crate) fn from_client(fam: Fam, cport: u16, flags: u8) -> Vec<u8> {
        segment(
            0,
            (fam.client(), cport),
            (fam.vip(), VPORT),
            proto::TCP,
            flags,
        )
    }

    /// Real server `i`'s TCP segment with `flags` to the client's port `cport` (a NAT reply).
    pub(crate) fn from_rs(fam: Fam, i: u8, cport: u16, flags: u8) -> Vec<u8> {
        segment(
            1,
            (fam.rs(i), RPORT),
            (fam.client(), cport),
            proto::TCP,
            flags,
        )
    }

    /// Handle frame `f` arriving on `port` at `now`: what was sent, by port.
    pub(crate) fn run(
        p: &mut Pipeline<Vec<u8>>,
        t: &Tables,
        port: usize,
        f: Vec<u8>,
        now: u64,
    ) -> Out {
        let mut out = Out::default();
        p.handle(t, port, f, now, &mut out);
        out
    }

    /// Where the one frame of `out` went: its port and destination address.
    pub(crate) fn sent_to(out: &Out) -> (usize, IpAddr) {
        assert_eq!(out.0.len(), 1, "one frame out");
        (out.0[0].0, addrs(&out.0[0].1).1)
    }

    /// The source and destination address of a frame's IPv4 or IPv6 packet.
    pub(crate) fn addrs(f: &[u8]) -> (IpAddr, IpAddr) {
        match f[12..14] {
            [0x08, 0x00] => {
                let ip = Ipv4Packet::new_checked(&f[14..]).unwrap();
                (ip.src_addr().into(), ip.dst_addr().into())
            }
            [0x86, 0xdd] => {
                let ip = Ipv6Packet::new_checked(&f[14..]).unwrap();
                (ip.src_addr().into(), ip.dst_addr().into())
            }
            _ => panic!("not IP: {:02x?}", &f[12..14]),
        }
    }
}
