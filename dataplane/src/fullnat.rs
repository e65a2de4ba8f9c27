//! FULLNAT's local addresses: the SNAT pools the control thread publishes and each
//! worker's share of their (local address, port) space.
//!
//! A FULLNAT connection rewrites the client's packets from `CIP:cport -> VIP:vport` to
//! `LIP:lport -> RIP:rport`; the real server answers `RIP:rport -> LIP:lport`, which the
//! director turns back into `VIP:vport -> CIP:cport`. The local port is what tells the
//! reply's owner: worker `w` of `n` only hands out ports with `lport % n == w`
//! ([`port_owner`]), so a reply arriving on any queue is steered to the worker whose
//! connection table holds it, with no state shared between workers (as DPVS partitions
//! its local ports per lcore).
//!
//! Each worker's [`SnatPorts`] keeps, per local address, a FIFO ring of its free ports
//! and a bitmap of the ports in use: taking and releasing a port are O(1) and never
//! allocate. FIFO rather than LIFO, so a released port is reused as late as possible
//! (the real server may still hold the old connection in TIME_WAIT). The rings are
//! (re)built only when a new table generation changes the pools, off the packet path;
//! ports in use survive a rebuild.

use std::net::Ipv4Addr;

use hashbrown::{HashMap, HashSet};

use crate::pipeline::Tables;
use crate::wire::{rewrite_dst, rewrite_src, Error};

/// One SNAT pool as the dataplane needs it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SnatPool {
    /// Local addresses (LIPs), used in turn.
    pub addrs: Vec<Ipv4Addr>,
    /// First local port.
    pub port_min: u16,
    /// Last local port (inclusive).
    pub port_max: u16,
}

/// Index of a pool in a [`SnatTable`] (a virtual service names its pool by it).
pub type PoolId = u32;

/// The immutable SNAT pools of one configuration generation.
#[derive(Clone, Debug, Default)]
pub struct SnatTable {
    pools: Vec<SnatPool>,
    lips: HashSet<Ipv4Addr>,
}

impl SnatTable {
    /// A table of `pools` (a local address belongs to one pool: the control plane checks).
    pub fn new(pools: Vec<SnatPool>) -> Self {
        let lips = pools.iter().flat_map(|p| p.addrs.iter().copied()).collect();
        SnatTable { pools, lips }
    }

    /// A pool by id.
    #[inline]
    pub fn pool(&self, id: PoolId) -> Option<&SnatPool> {
        self.pools.get(id as usize)
    }

    /// All pools.
    pub fn pools(&self) -> &[SnatPool] {
        &self.pools
    }

    /// Whether `ip` is a local address of some pool (replies to it are FULLNAT replies).
    #[inline]
    pub fn is_lip(&self, ip: Ipv4Addr) -> bool {
        !self.lips.is_empty() && self.lips.contains(&ip)
    }
}

/// The worker that owns local port `lport` among `workers` (and with it every
/// connection whose reply is addressed to that port).
#[inline]
pub fn port_owner(lport: u16, workers: usize) -> usize {
    usize::from(lport) % workers.max(1)
}

/// Whether the director answers ARP for `ip` on `port` as a local address of a SNAT
/// pool: on the port its route leaves by (the port facing the real servers when the pool
/// sits on their subnet, as it should).
#[inline]
pub fn lip_on(t: &Tables, port: usize, ip: Ipv4Addr) -> bool {
    t.snat.is_lip(ip) && t.routes.lookup(ip).is_some_and(|h| h.port == port)
}

/// Rewrite a client's packet of FULLNAT connection `c` in place: source to the local
/// address and port, destination to the real server (both from the reply tuple).
#[inline]
pub fn to_real_server(ip: &mut [u8], c: &conn_table::ConnInfo) -> Result<(), Error> {
    let Some(r) = c.reply else {
        return Err(Error::Malformed);
    };
    let (std::net::IpAddr::V4(rip), std::net::IpAddr::V4(lip)) = (r.src, r.dst) else {
        return Err(Error::Unsupported);
    };
    rewrite_src(ip, lip, r.dport)?;
    rewrite_dst(ip, rip, r.sport)
}

/// One local address's ports on one worker.
struct LipPorts {
    /// The range the ring was built for.
    range: (u16, u16),
    /// Free ports, FIFO: `len` of them from `head` on (wrapping).
    ring: Box<[u16]>,
    head: usize,
    len: usize,
    /// Ports handed out and not yet released, one bit per port.
    in_use: Box<[u64]>,
}

impl LipPorts {
    fn new() -> Self {
        LipPorts {
            range: (1, 0),
            ring: Box::new([]),
            head: 0,
            len: 0,
            in_use: vec![0u64; 65536 / 64].into_boxed_slice(),
        }
    }

    #[inline]
    fn used(&self, p: u16) -> bool {
        self.in_use[usize::from(p) / 64] & (1 << (p % 64)) != 0
    }

    #[inline]
    fn mark(&mut self, p: u16, used: bool) {
        let w = &mut self.in_use[usize::from(p) / 64];
        if used {
            *w |= 1 << (p % 64);
        } else {
            *w &= !(1 << (p % 64));
        }
    }

    fn mine(&self, p: u16, worker: usize, workers: usize) -> bool {
        (self.range.0..=self.range.1).contains(&p) && port_owner(p, workers) == worker
    }

    /// Rebuild the free ring for `range` (off the packet path): this worker's ports of
    /// the range that are not in use.
    fn rebuild(&mut self, range: (u16, u16), worker: usize, workers: usize) {
        self.range = range;
        let free: Vec<u16> = (range.0..=range.1)
            .filter(|&p| port_owner(p, workers) == worker && !self.used(p))
            .collect();
        // Room for every port of the share, so releases never overflow the ring.
        let share = (range.0..=range.1)
            .filter(|&p| port_owner(p, workers) == worker)
            .count();
        let mut ring = vec![0u16; share.max(1)];
        ring[..free.len()].copy_from_slice(&free);
        self.ring = ring.into_boxed_slice();
        self.head = 0;
        self.len = free.len();
    }

    #[inline]
    fn take(&mut self) -> Option<u16> {
        if self.len == 0 {
            return None;
        }
        let p = self.ring[self.head];
        self.head = (self.head + 1) % self.ring.len();
        self.len -= 1;
        self.mark(p, true);
        Some(p)
    }

    #[inline]
    fn release(&mut self, p: u16, worker: usize, workers: usize) -> bool {
        if !self.used(p) {
            return false;
        }
        self.mark(p, false);
        // A port outside the current range (the pool changed) is simply forgotten.
        if self.mine(p, worker, workers) && self.len < self.ring.len() {
            let tail = (self.head + self.len) % self.ring.len();
            self.ring[tail] = p;
            self.len += 1;
        }
        true
    }
}

/// One worker's share of every SNAT pool.
pub struct SnatPorts {
    worker: usize,
    workers: usize,
    lips: HashMap<Ipv4Addr, LipPorts>,
    /// Per pool: the address to try first next time (addresses are used in turn).
    next: Vec<usize>,
    in_use: u64,
}

impl SnatPorts {
    /// Worker `worker` of `workers`, with no pools yet.
    pub fn new(worker: usize, workers: usize) -> Self {
        SnatPorts {
            worker,
            workers: workers.max(1),
            lips: HashMap::new(),
            next: Vec::new(),
            in_use: 0,
        }
    }

    /// Adopt the pools of a new table generation (allocates: call off the packet path).
    /// Addresses that left every pool keep their ports in use until those are released.
    pub fn sync(&mut self, t: &SnatTable) {
        self.next.resize(t.pools().len(), 0);
        for pool in t.pools() {
            let range = (pool.port_min, pool.port_max);
            for &a in &pool.addrs {
                let lp = self.lips.entry(a).or_insert_with(LipPorts::new);
                if lp.range != range {
                    lp.rebuild(range, self.worker, self.workers);
                }
            }
        }
    }

    /// A free (local address, port) of pool `id`, or None when this worker's share of
    /// the pool is exhausted. Addresses are tried in turn, starting after the last one
    /// used.
    #[inline]
    pub fn take(&mut self, t: &SnatTable, id: PoolId) -> Option<(Ipv4Addr, u16)> {
        let pool = t.pool(id)?;
        let n = pool.addrs.len();
        let start = *self.next.get(id as usize)?;
        for k in 0..n {
            let i = (start + k) % n;
            let a = pool.addrs[i];
            if let Some(p) = self.lips.get_mut(&a).and_then(LipPorts::take) {
                self.next[id as usize] = (i + 1) % n;
                self.in_use += 1;
                return Some((a, p));
            }
        }
        None
    }

    /// Give back a port taken with [`SnatPorts::take`] (an unknown or free one is
    /// ignored).
    #[inline]
    pub fn release(&mut self, lip: Ipv4Addr, lport: u16) {
        let (worker, workers) = (self.worker, self.workers);
        if let Some(lp) = self.lips.get_mut(&lip) {
            if lp.release(lport, worker, workers) {
                self.in_use -= 1;
            }
        }
    }

    /// Local ports this worker has handed out and not yet released.
    pub fn in_use(&self) -> u64 {
        self.in_use
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn lip(i: u8) -> Ipv4Addr {
        Ipv4Addr::new(198, 19, 0, 250 + i)
    }

    fn table(addrs: &[Ipv4Addr], min: u16, max: u16) -> SnatTable {
        SnatTable::new(vec![SnatPool {
            addrs: addrs.to_vec(),
            port_min: min,
            port_max: max,
        }])
    }

    #[test]
    fn workers_share_the_ports_disjointly_and_fully() {
        let t = table(&[lip(0), lip(1)], 1000, 1099);
        let mut seen = HashSet::new();
        for w in 0..3 {
            let mut s = SnatPorts::new(w, 3);
            s.sync(&t);
            while let Some((a, p)) = s.take(&t, 0) {
                assert_eq!(port_owner(p, 3), w, "port {p} handed out by worker {w}");
                assert!((1000..=1099).contains(&p));
                assert!(seen.insert((a, p)), "{a}:{p} twice");
            }
        }
        assert_eq!(seen.len(), 200);
    }

    #[test]
    fn addresses_in_turn_exhaustion_and_fifo_reuse() {
        let t = table(&[lip(0), lip(1)], 2000, 2001);
        let mut s = SnatPorts::new(0, 1);
        s.sync(&t);
        let got: Vec<_> = (0..4).map(|_| s.take(&t, 0).unwrap()).collect();
        assert_eq!(
            got,
            vec![
                (lip(0), 2000),
                (lip(1), 2000),
                (lip(0), 2001),
                (lip(1), 2001)
            ]
        );
        assert_eq!(s.take(&t, 0), None);
        assert_eq!(s.in_use(), 4);
        s.release(lip(0), 2000);
        s.release(lip(0), 2000); // twice: ignored
        s.release(lip(2), 2000); // unknown: ignored
        assert_eq!(s.in_use(), 3);
        assert_eq!(s.take(&t, 0), Some((lip(0), 2000)));
        assert_eq!(s.take(&t, 1), None, "no such pool");
    }

    #[test]
    fn a_released_port_goes_to_the_back_of_the_queue() {
        let t = table(&[lip(0)], 3000, 3002);
        let mut s = SnatPorts::new(0, 1);
        s.sync(&t);
        assert_eq!(s.take(&t, 0), Some((lip(0), 3000)));
        s.release(lip(0), 3000);
        assert_eq!(s.take(&t, 0), Some((lip(0), 3001)));
        assert_eq!(s.take(&t, 0), Some((lip(0), 3002)));
        assert_eq!(s.take(&t, 0), Some((lip(0), 3000)));
    }

    #[test]
    fn a_new_range_keeps_ports_in_use() {
        let mut s = SnatPorts::new(0, 1);
        let t1 = table(&[lip(0)], 4000, 4003);
        s.sync(&t1);
        assert_eq!(s.take(&t1, 0), Some((lip(0), 4000)));
        let t2 = table(&[lip(0)], 4000, 4001);
        s.sync(&t2);
        assert_eq!(s.take(&t2, 0), Some((lip(0), 4001)));
        assert_eq!(s.take(&t2, 0), None);
        s.release(lip(0), 4000);
        assert_eq!(s.take(&t2, 0), Some((lip(0), 4000)));
        assert_eq!(s.in_use(), 2);
    }
}

/// Two workers with real pipelines: each new FULLNAT flow gets a local port its worker
/// owns, and the reply to that port is steered back to it.
#[cfg(test)]
pub(crate) mod steering_tests {
    use std::net::Ipv4Addr;
    use std::sync::Arc;

    use super::*;
    use crate::counters::{DropReason, WorkerStats};
    use crate::pipeline::{Io, NeighbourUpdate, Pipeline, PipelineConfig};
    use crate::route::{Ipv4Prefix, RouteTable};
    use crate::service::{proto, Forward, LocalAddr, RealServer, ServiceTable, VirtualService};
    use crate::wire::Ipv4Packet;

    pub(crate) const VIP: Ipv4Addr = Ipv4Addr::new(198, 18, 0, 100);
    pub(crate) const RS: Ipv4Addr = Ipv4Addr::new(198, 19, 0, 11);
    pub(crate) const LIP: Ipv4Addr = Ipv4Addr::new(198, 19, 0, 250);
    pub(crate) const MACS: [[u8; 6]; 2] = [[2, 0, 0, 0, 0, 0xa0], [2, 0, 0, 0, 0, 0xa1]];

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

    pub(crate) fn tables() -> Tables {
        let rs = RealServer {
            id: 0,
            addr: RS.into(),
            port: 8080,
            weight: 1,
            forward: Forward::FullNat,
            upper_threshold: 0,
        };
        let dest = scheduler::Destination::new(RS.into(), 8080, 1);
        let svc = VirtualService {
            id: 0,
            proto: proto::TCP,
            vip: VIP.into(),
            port: 80,
            members: vec![],
            real_servers: vec![rs],
            scheduler: scheduler::Scheduler::build(
                scheduler::SchedulerKind::Rr,
                &[dest],
                Default::default(),
            )
            .unwrap(),
            persistence: None,
            snat_pool: Some(0),
        };
        let wan = Ipv4Prefix::new(Ipv4Addr::new(198, 18, 0, 0), 24).unwrap();
        let lan = Ipv4Prefix::new(Ipv4Addr::new(198, 19, 0, 0), 24).unwrap();
        let locals = vec![
            LocalAddr {
                port: 0,
                addr: Ipv4Addr::new(198, 18, 0, 254),
                prefix_len: 24,
            },
            LocalAddr {
                port: 1,
                addr: Ipv4Addr::new(198, 19, 0, 254),
                prefix_len: 24,
            },
        ];
        Tables {
            services: ServiceTable::new(vec![svc], locals, 1),
            routes: RouteTable::new(&[(wan, 0), (lan, 1)], &[]),
            timeouts: Default::default(),
            ipvs: Default::default(),
            snat: SnatTable::new(vec![SnatPool {
                addrs: vec![LIP],
                port_min: 5000,
                port_max: 5099,
            }]),
            ..Tables::default()
        }
    }

    /// An Ethernet + IPv4 + TCP frame (TCP checksum left 0: the pipeline updates it
    /// incrementally and never verifies it).
    fn tcp_frame(dst_mac: [u8; 6], src: (Ipv4Addr, u16), dst: (Ipv4Addr, u16)) -> Vec<u8> {
        tcp_flags_frame(dst_mac, src, dst, 0x02)
    }

    pub(crate) fn tcp_flags_frame(
        dst_mac: [u8; 6],
        src: (Ipv4Addr, u16),
        dst: (Ipv4Addr, u16),
        flags: u8,
    ) -> Vec<u8> {
        let mut f = vec![0u8; 14 + 20 + 20];
        f[0..6].copy_from_slice(&dst_mac);
        f[6..12].copy_from_slice(&[2, 0, 0, 0, 0, 1]);
        f[12..14].copy_from_slice(&[0x08, 0x00]);
        let ip = &mut f[14..];
        ip[0] = 0x45;
        ip[2..4].copy_from_slice(&40u16.to_be_bytes());
        ip[8] = 64;
        ip[9] = proto::TCP;
        ip[12..16].copy_from_slice(&src.0.octets());
        ip[16..20].copy_from_slice(&dst.0.octets());
        ip[20..22].copy_from_slice(&src.1.to_be_bytes());
        ip[22..24].copy_from_slice(&dst.1.to_be_bytes());
        ip[32] = 0x50;
        ip[33] = flags;
        Ipv4Packet::new_unchecked(&mut f[14..]).fill_checksum();
        f
    }

    pub(crate) fn ports_of(f: &[u8]) -> (Ipv4Addr, u16, Ipv4Addr, u16) {
        let ip = &f[14..];
        (
            Ipv4Addr::new(ip[12], ip[13], ip[14], ip[15]),
            u16::from_be_bytes([ip[20], ip[21]]),
            Ipv4Addr::new(ip[16], ip[17], ip[18], ip[19]),
            u16::from_be_bytes([ip[22], ip[23]]),
        )
    }

    #[test]
    fn replies_reach_the_worker_that_owns_the_local_port() {
        let t = tables();
        let stats: Vec<_> = (0..2).map(|_| Arc::new(WorkerStats::default())).collect();
        let mut workers: Vec<Pipeline<Vec<u8>>> = (0..2)
            .map(|w| {
                let mut p = Pipeline::new(PipelineConfig {
                    worker: w,
                    port_macs: MACS.to_vec(),
                    stats: stats[w].clone(),
                    conn_capacity: 1024,
                    gratuitous_arp: false,
                    workers: 2,
                    exception: Default::default(),
                });
                p.sync(&t);
                p
            })
            .collect();
        let mut io = Out::default();
        for p in &mut workers {
            p.learn_remote(
                NeighbourUpdate {
                    port: 1,
                    ip: RS.into(),
                    mac: [2, 0, 0, 0, 0, 0x11],
                },
                0,
                &mut io,
            );
        }
        let mut per_worker = [0; 2];
        for i in 0..16u8 {
            let client = Ipv4Addr::new(198, 18, 0, 10 + i);
            let syn = tcp_frame(MACS[0], (client, 40000), (VIP, 80));
            let owner = workers[0].owner(&t, &syn).expect("two workers: an owner");
            assert_eq!(workers[1].owner(&t, &syn), Some(owner));
            workers[owner].handle(&t, 0, syn, 0, &mut io);
            let (port, out) = io.0.pop().expect("SYN forwarded");
            assert_eq!(port, 1);
            let (src, lport, dst, dport) = ports_of(&out);
            assert_eq!((src, dst, dport), (LIP, RS, 8080));
            assert_eq!(port_owner(lport, 2), owner);
            per_worker[owner] += 1;
            // The real server's answer to LIP:lport goes to the same worker...
            let synack = tcp_frame(MACS[1], (RS, 8080), (LIP, lport));
            assert_eq!(workers[0].owner(&t, &synack), Some(owner));
            // ...which alone knows the connection.
            let other = 1 - owner;
            let before = stats[other].drops(DropReason::NoService);
            workers[other].handle(&t, 1, synack.clone(), 0, &mut io);
            assert_eq!(stats[other].drops(DropReason::NoService), before + 1);
            workers[owner].learn_remote(
                NeighbourUpdate {
                    port: 0,
                    ip: client.into(),
                    mac: [2, 0, 0, 0, 0, 1],
                },
                0,
                &mut io,
            );
            workers[owner].handle(&t, 1, synack, 0, &mut io);
            let (port, back) = io.0.pop().unwrap_or_else(|| {
                let d: Vec<_> = DropReason::ALL
                    .iter()
                    .map(|r| (r.name(), stats[owner].drops(*r)))
                    .filter(|x| x.1 > 0)
                    .collect();
                panic!("reply not forwarded: drops {d:?}")
            });
            assert_eq!(port, 0);
            assert_eq!(ports_of(&back), (VIP, 80, client, 40000));
        }
        assert!(per_worker.iter().all(|&n| n > 0), "{per_worker:?}");
        // Expiry (SYN_RECV: 60 s) gives every local port back.
        for (w, p) in workers.iter_mut().enumerate() {
            p.tick(&t, 0, &mut io);
            let in_use = crate::counters::get(&stats[w].snat_ports_in_use);
            assert_eq!(in_use, per_worker[w]);
            for _ in 0..20 {
                p.tick(&t, 200_000, &mut io);
            }
            assert_eq!(crate::counters::get(&stats[w].snat_ports_in_use), 0);
            assert_eq!(crate::counters::get(&stats[w].conns_current), 0);
        }
    }
}

#[cfg(test)]
mod toa_tests {
    use std::sync::Arc;

    use std::net::Ipv4Addr;

    use super::steering_tests::*;
    use crate::counters::WorkerStats;
    use crate::pipeline::{NeighbourUpdate, Pipeline, PipelineConfig};

    /// TOA rides on the client's ACKs until the real server sends more than its SYN-ACK.
    #[test]
    fn toa_only_before_the_real_server_answers() {
        let t = tables();
        let mut p: Pipeline<Vec<u8>> = Pipeline::new(PipelineConfig {
            worker: 0,
            port_macs: MACS.to_vec(),
            stats: Arc::new(WorkerStats::default()),
            conn_capacity: 64,
            gratuitous_arp: false,
            workers: 1,
            exception: Default::default(),
        });
        p.sync(&t);
        let mut io = Out::default();
        let client = Ipv4Addr::new(198, 18, 0, 7);
        for (port, ip) in [(1, RS), (0, client)] {
            let mac = [2, 0, 0, 0, 0, 9];
            p.learn_remote(
                NeighbourUpdate {
                    port,
                    ip: ip.into(),
                    mac,
                },
                0,
                &mut io,
            );
        }
        let c = (client, 40000);
        let mut send = |p: &mut Pipeline<Vec<u8>>, port, f: Vec<u8>| {
            p.handle(&t, port, f, 0, &mut io);
            io.0.pop().expect("forwarded").1
        };
        let syn = send(&mut p, 0, tcp_flags_frame(MACS[0], c, (VIP, 80), 0x02));
        let (_, lport, _, _) = ports_of(&syn);
        assert_eq!(syn.len(), 54, "no TOA on the SYN");
        send(
            &mut p,
            1,
            tcp_flags_frame(MACS[1], (RS, 8080), (LIP, lport), 0x12),
        );
        let ack = send(&mut p, 0, tcp_flags_frame(MACS[0], c, (VIP, 80), 0x10));
        assert_eq!(ack.len(), 62);
        assert_eq!(&ack[54..62], &[254, 8, 0x9c, 0x40, 198, 18, 0, 7]);
        assert_eq!(ack[14 + 20 + 12] >> 4, 7, "data offset 28 bytes");
        let data = send(&mut p, 0, tcp_flags_frame(MACS[0], c, (VIP, 80), 0x18));
        assert_eq!(data.len(), 62, "request data still carries TOA");
        send(
            &mut p,
            1,
            tcp_flags_frame(MACS[1], (RS, 8080), (LIP, lport), 0x18),
        );
        let later = send(&mut p, 0, tcp_flags_frame(MACS[0], c, (VIP, 80), 0x10));
        assert_eq!(later.len(), 54, "no TOA once the real server has answered");
    }
}

#[cfg(test)]
mod garp_tests {
    use std::sync::Arc;

    use super::steering_tests::*;
    use crate::counters::WorkerStats;
    use crate::pipeline::{Pipeline, PipelineConfig};

    #[test]
    fn gratuitous_arp_for_local_addresses_on_the_real_servers_port() {
        let t = tables();
        let mut p: Pipeline<Vec<u8>> = Pipeline::new(PipelineConfig {
            worker: 0,
            port_macs: MACS.to_vec(),
            stats: Arc::new(WorkerStats::default()),
            conn_capacity: 64,
            gratuitous_arp: true,
            workers: 1,
            exception: Default::default(),
        });
        let mut io = Out::default();
        p.start(&t, &mut io, 0);
        let lip_arps: Vec<_> =
            io.0.iter()
                .filter(|(_, f)| f[12..14] == [0x08, 0x06] && f[14 + 14..14 + 18] == LIP.octets())
                .map(|(port, f)| (*port, f[14 + 24..14 + 28].to_vec()))
                .collect();
        assert_eq!(lip_arps, vec![(1, LIP.octets().to_vec())]);
    }
}
