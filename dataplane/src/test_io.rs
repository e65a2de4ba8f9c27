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
