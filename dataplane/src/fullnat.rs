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
//!
//! Everything here is the same for both address families: a local address is an
//! [`IpAddr`], and a pool serves the services of its addresses' family (the control plane
//! checks that a service and its pool agree), as DPVS's FULLNAT does for IPv4 and IPv6.
//!
//! Local ports are exclusive per local address, across real servers. A FULLNAT
//! connection is unique by (LIP, lport, RIP, rport), so a port could serve several real
//! servers at once: DPVS's `sa_pool` splits each local address's ports into
//! `pool_hash_sz` buckets hashed by the real server's address and port, each with its
//! own free list. rvs does not (yet): every bucket costs a worker's ring of its share of
//! the range plus an 8 KiB bitmap per local address, a release must find the bucket its
//! port came from (so the bucket count cannot change with a configuration reload without
//! recording it per connection), and a small pool would no longer be exhausted the way
//! operators (and the tests) count it; more capacity comes as cheaply from one more
//! local address in the pool.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use hashbrown::{HashMap, HashSet};

use crate::pipeline::Tables;
use crate::wire::Error;

/// One SNAT pool as the dataplane needs it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SnatPool {
    /// Local addresses (LIPs), used in turn; all of one family.
    pub addrs: Vec<IpAddr>,
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
    lips: HashSet<IpAddr>,
    /// Bit `id` set when FULLNAT real server `id` (a stable id) belongs to a service with
    /// TOA switched off (YAML `toa: false`).
    toa_off: Vec<u64>,
}

impl SnatTable {
    /// A table of `pools` (a local address belongs to one pool: the control plane checks).
    pub fn new(pools: Vec<SnatPool>) -> Self {
        let lips = pools.iter().flat_map(|p| p.addrs.iter().copied()).collect();
        SnatTable {
            pools,
            lips,
            toa_off: Vec::new(),
        }
    }

    /// The same table, with TOA switched off for the real servers (stable ids) in `ids`.
    pub fn with_toa_off(mut self, ids: &[u32]) -> Self {
        for &id in ids {
            let word = id as usize / 64;
            if self.toa_off.len() <= word {
                self.toa_off.resize(word + 1, 0);
            }
            self.toa_off[word] |= 1 << (id % 64);
        }
        self
    }

    /// Whether FULLNAT connections to real server `rs_id` carry TOA (the default).
    #[inline]
    pub fn toa_for(&self, rs_id: u32) -> bool {
        self.toa_off
            .get(rs_id as usize / 64)
            .is_none_or(|w| w & (1 << (rs_id % 64)) == 0)
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

    /// Whether `ip` (either family) is a local address of some pool (replies to it are
    /// FULLNAT replies).
    #[inline]
    pub fn is_lip(&self, ip: impl Into<IpAddr>) -> bool {
        !self.lips.is_empty() && self.lips.contains(&ip.into())
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

/// [`lip_on`] for IPv6: whether the director answers neighbour solicitations for `ip` on
/// `port` as a local address of a SNAT pool.
#[inline]
pub fn lip_on6(t: &Tables, port: usize, ip: Ipv6Addr) -> bool {
    t.snat.is_lip(ip) && t.routes6.lookup(ip).is_some_and(|h| h.port == port)
}

/// The inbound half of FULLNAT for the packet that creates a connection (a SYN for TCP):
/// the client's packet in `ip` (either family) rewritten to `local -> rs` with
/// [`crate::wire::rewrite_both_ip`], and with `toa` its MSS option lowered by the TOA
/// length so later segments have room for the option (see `crate::toa`).
#[inline]
pub fn rewrite_first_to_real_server(
    ip: &mut [u8],
    local: (IpAddr, u16),
    rs: (IpAddr, u16),
    toa: bool,
) -> Result<(), Error> {
    crate::wire::rewrite_both_ip(ip, local, rs)?;
    if toa {
        crate::toa::clamp_mss(ip);
    }
    Ok(())
}

/// The local address and port a FULLNAT connection holds (None for other methods).
#[inline]
pub fn local_of(
    method: conn_table::Method,
    reply: Option<conn_table::Tuple>,
) -> Option<(IpAddr, u16)> {
    (method == conn_table::Method::FullNat)
        .then_some(reply)
        .flatten()
        .map(|r| (r.dst, r.dport))
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
    lips: HashMap<IpAddr, LipPorts>,
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
    pub fn take(&mut self, t: &SnatTable, id: PoolId) -> Option<(IpAddr, u16)> {
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
    pub fn release(&mut self, lip: IpAddr, lport: u16) {
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

    fn lip(i: u8) -> IpAddr {
        Ipv4Addr::new(198, 19, 0, 250 + i).into()
    }

    fn table(addrs: &[IpAddr], min: u16, max: u16) -> SnatTable {
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

/// The same pool machinery with IPv6 local addresses.
#[cfg(test)]
mod tests6 {
    use super::*;
    use proptest::prelude::*;

    fn lip(i: u16) -> IpAddr {
        Ipv6Addr::new(0x2001, 2, 0, 1, 0, 0, 0, 0xfa + i).into()
    }

    fn table(n: u16, min: u16, max: u16) -> SnatTable {
        SnatTable::new(vec![SnatPool {
            addrs: (0..n).map(lip).collect(),
            port_min: min,
            port_max: max,
        }])
    }

    #[test]
    fn ipv6_local_addresses_are_shared_like_ipv4_ones() {
        let t = table(2, 1000, 1099);
        assert!(t.is_lip(Ipv6Addr::new(0x2001, 2, 0, 1, 0, 0, 0, 0xfa)));
        assert!(!t.is_lip(Ipv6Addr::new(0x2001, 2, 0, 1, 0, 0, 0, 0x11)));
        let mut seen = HashSet::new();
        for w in 0..2 {
            let mut s = SnatPorts::new(w, 2);
            s.sync(&t);
            while let Some((a, p)) = s.take(&t, 0) {
                assert!(a.is_ipv6());
                assert_eq!(port_owner(p, 2), w);
                assert!(seen.insert((a, p)), "{a}:{p} twice");
            }
            assert_eq!(s.in_use(), 100);
        }
        assert_eq!(seen.len(), 200);
    }

    #[test]
    fn toa_switch_by_real_server_id() {
        let t = table(1, 1, 2).with_toa_off(&[3, 130]);
        assert!(t.toa_for(0) && t.toa_for(2) && t.toa_for(129) && t.toa_for(100_000));
        assert!(!t.toa_for(3) && !t.toa_for(130));
    }

    proptest! {
        /// Any sequence of takes and releases matches a model set: no (address, port)
        /// handed out twice, every port of this worker's share, released ones reusable,
        /// exhaustion only when the share is all in use.
        #[test]
        fn takes_and_releases_match_a_model(
            ops in proptest::collection::vec((any::<bool>(), 0usize..64), 1..400),
            worker in 0usize..3,
        ) {
            let t = table(2, 2000, 2047);
            let mut s = SnatPorts::new(worker, 3);
            s.sync(&t);
            let share = 2 * (2000..=2047u16).filter(|&p| port_owner(p, 3) == worker).count();
            let mut held: Vec<(IpAddr, u16)> = Vec::new();
            for (take, i) in ops {
                if take {
                    match s.take(&t, 0) {
                        Some(got) => {
                            prop_assert!(!held.contains(&got), "{:?} twice", got);
                            prop_assert_eq!(port_owner(got.1, 3), worker);
                            prop_assert!((2000..=2047).contains(&got.1));
                            held.push(got);
                        }
                        None => prop_assert_eq!(held.len(), share),
                    }
                } else if !held.is_empty() {
                    let (a, p) = held.swap_remove(i % held.len());
                    s.release(a, p);
                }
                prop_assert_eq!(s.in_use(), held.len() as u64);
            }
        }
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
    use crate::pipeline::{NeighbourUpdate, Pipeline, PipelineConfig};
    use crate::route::{Ipv4Prefix, RouteTable};
    use crate::service::{proto, Forward, LocalAddr, RealServer, ServiceTable, VirtualService};
    pub(crate) use crate::test_io::Out;
    use crate::wire::Ipv4Packet;

    pub(crate) const VIP: Ipv4Addr = Ipv4Addr::new(198, 18, 0, 100);
    pub(crate) const RS: Ipv4Addr = Ipv4Addr::new(198, 19, 0, 11);
    pub(crate) const LIP: Ipv4Addr = Ipv4Addr::new(198, 19, 0, 250);
    pub(crate) const MACS: [[u8; 6]; 2] = [[2, 0, 0, 0, 0, 0xa0], [2, 0, 0, 0, 0, 0xa1]];

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
                addrs: vec![LIP.into()],
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

    /// The client of these tests.
    const CLIENT: Ipv4Addr = Ipv4Addr::new(198, 18, 0, 7);

    /// One worker with the tables of `t`, the client and the real server known as
    /// neighbours.
    fn one_worker(t: &crate::pipeline::Tables) -> (Pipeline<Vec<u8>>, Out) {
        let mut p: Pipeline<Vec<u8>> = Pipeline::new(PipelineConfig {
            worker: 0,
            port_macs: MACS.to_vec(),
            stats: Arc::new(WorkerStats::default()),
            conn_capacity: 64,
            gratuitous_arp: false,
            workers: 1,
            exception: Default::default(),
        });
        p.sync(t);
        let mut io = Out::default();
        for (port, ip) in [(1, RS), (0, CLIENT)] {
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
        io.0.clear();
        (p, io)
    }

    /// TOA rides on the client's ACKs until the real server sends more than its SYN-ACK.
    #[test]
    fn toa_only_before_the_real_server_answers() {
        let t = tables();
        let (mut p, mut io) = one_worker(&t);
        let c = (CLIENT, 40000);
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

    fn with_seq_ack(mut f: Vec<u8>, seq: u32, ack: u32) -> Vec<u8> {
        crate::wire::write_u32(&mut f[14 + 24..], seq);
        crate::wire::write_u32(&mut f[14 + 28..], ack);
        f
    }

    fn seq_ack(f: &[u8]) -> (u32, u32) {
        let r = |at: usize| crate::wire::read_u32(&f[at..]);
        (r(14 + 24), r(14 + 28))
    }

    /// The real server sees the director's sequence numbers for the local port (see
    /// `tcp_seq`), the client its own: the SYN, its retransmission and the client's
    /// data are shifted by one offset, the real server's acknowledgements shifted back.
    #[test]
    fn sequence_numbers_are_translated_both_ways() {
        let t = tables();
        let (mut p, mut io) = one_worker(&t);
        let c = (CLIENT, 40000);
        let mut send = |p: &mut Pipeline<Vec<u8>>, port, f: Vec<u8>| {
            p.handle(&t, port, f, 0, &mut io);
            io.0.pop().expect("forwarded").1
        };
        let isn = 1_000_000u32;
        let syn = tcp_flags_frame(MACS[0], c, (VIP, 80), 0x02);
        let out = send(&mut p, 0, with_seq_ack(syn.clone(), isn, 0));
        let (lport, (server_isn, _)) = (ports_of(&out).1, seq_ack(&out));
        assert_ne!(
            server_isn, isn,
            "the real server gets the director's number"
        );
        let again = send(&mut p, 0, with_seq_ack(syn, isn, 0));
        assert_eq!(
            seq_ack(&again).0,
            server_isn,
            "a retransmitted SYN: the same"
        );
        let synack = tcp_flags_frame(MACS[1], (RS, 8080), (LIP, lport), 0x12);
        let back = send(
            &mut p,
            1,
            with_seq_ack(synack, 77, server_isn.wrapping_add(1)),
        );
        assert_eq!(
            seq_ack(&back),
            (77, isn + 1),
            "the client sees its own number"
        );
        let data = tcp_flags_frame(MACS[0], c, (VIP, 80), 0x18);
        let out = send(&mut p, 0, with_seq_ack(data, isn + 1, 78));
        assert_eq!(
            seq_ack(&out),
            (server_isn.wrapping_add(1), 78),
            "the server's own numbers in the ack stay"
        );
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

/// IPv6 FULLNAT through real pipelines: both directions rewritten, replies steered by
/// local port, TOA of length 20, NDP for the local address, exhaustion counted.
#[cfg(test)]
mod pipeline6_tests {
    use std::net::{IpAddr, Ipv6Addr};
    use std::sync::Arc;

    use super::steering_tests::{Out, MACS};
    use super::*;
    use crate::counters::{DropReason, WorkerStats};
    use crate::pipeline::{NeighbourUpdate, Pipeline, PipelineConfig};
    use crate::route6::{Ipv6Prefix, RouteTable6};
    use crate::service::{proto, Forward, LocalAddr6, RealServer, ServiceTable, VirtualService};
    use crate::wire::{Icmpv6Packet, Ipv6Packet, TcpPacket};

    fn a(s: &str) -> Ipv6Addr {
        s.parse().unwrap()
    }
    const VIP: &str = "2001:2::100";
    const RS: &str = "2001:2:0:1::11";
    const LIP: &str = "2001:2:0:1::fa";

    fn tables(ports: (u16, u16), toa: bool) -> Tables {
        let rs = RealServer {
            id: 0,
            addr: IpAddr::V6(a(RS)),
            port: 8080,
            weight: 1,
            forward: Forward::FullNat,
            upper_threshold: 0,
        };
        let svc = |id, p| VirtualService {
            id,
            proto: p,
            vip: IpAddr::V6(a(VIP)),
            port: 80,
            members: vec![],
            real_servers: vec![rs.clone()],
            scheduler: scheduler::Scheduler::build(
                scheduler::SchedulerKind::Rr,
                &[scheduler::Destination::new(rs.addr, 8080, 1)],
                Default::default(),
            )
            .unwrap(),
            persistence: None,
            snat_pool: Some(0),
        };
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
        let snat = SnatTable::new(vec![SnatPool {
            addrs: vec![IpAddr::V6(a(LIP))],
            port_min: ports.0,
            port_max: ports.1,
        }]);
        Tables {
            services: ServiceTable::new(vec![svc(0, proto::TCP), svc(1, proto::UDP)], vec![], 1)
                .with_locals6(locals6),
            routes6: RouteTable6::new(
                &[
                    (Ipv6Prefix::new(a("2001:2::"), 64).unwrap(), 0),
                    (Ipv6Prefix::new(a("2001:2:0:1::"), 64).unwrap(), 1),
                ],
                &[],
            ),
            snat: if toa { snat } else { snat.with_toa_off(&[0]) },
            ..Tables::default()
        }
    }

    fn pipeline(w: usize, workers: usize, garp: bool) -> (Pipeline<Vec<u8>>, Arc<WorkerStats>) {
        let stats = Arc::new(WorkerStats::default());
        let p = Pipeline::new(PipelineConfig {
            worker: w,
            port_macs: MACS.to_vec(),
            stats: stats.clone(),
            conn_capacity: 256,
            gratuitous_arp: garp,
            workers,
            exception: Default::default(),
        });
        (p, stats)
    }

    /// Ethernet + IPv6 + TCP (`flags`, options `opts`) or UDP (`flags` None), with a
    /// valid L4 checksum.
    fn frame(
        dst_mac: [u8; 6],
        src: (Ipv6Addr, u16),
        dst: (Ipv6Addr, u16),
        flags: Option<u8>,
        opts: &[u8],
    ) -> Vec<u8> {
        let l4_len = if flags.is_some() {
            20 + opts.len()
        } else {
            8 + 4
        };
        let mut f = vec![0u8; 14 + 40 + l4_len];
        f[0..6].copy_from_slice(&dst_mac);
        f[6..12].copy_from_slice(&[2, 0, 0, 0, 0, 1]);
        f[12..14].copy_from_slice(&[0x86, 0xdd]);
        {
            let mut ip = Ipv6Packet::new_unchecked(&mut f[14..]);
            ip.set_version();
            ip.set_payload_len(l4_len as u16);
            ip.set_next_header(if flags.is_some() {
                proto::TCP
            } else {
                proto::UDP
            });
            ip.set_hop_limit(64);
            ip.set_src_addr(src.0);
            ip.set_dst_addr(dst.0);
        }
        let l4 = &mut f[54..];
        l4[0..2].copy_from_slice(&src.1.to_be_bytes());
        l4[2..4].copy_from_slice(&dst.1.to_be_bytes());
        match flags {
            Some(fl) => {
                l4[12] = (((20 + opts.len()) / 4) as u8) << 4;
                l4[13] = fl;
                l4[20..].copy_from_slice(opts);
                TcpPacket::new_unchecked(&mut f[54..]).fill_checksum_v6(src.0, dst.0);
            }
            None => {
                l4[4..6].copy_from_slice(&(l4_len as u16).to_be_bytes());
                l4[8..12].copy_from_slice(b"ping");
                let mut u = crate::wire::UdpPacket::new_unchecked(&mut f[54..]);
                u.fill_checksum_v6(src.0, dst.0);
            }
        }
        f
    }

    fn addrs(f: &[u8]) -> ((Ipv6Addr, u16), (Ipv6Addr, u16)) {
        let ip = Ipv6Packet::new_checked(&f[14..]).unwrap();
        let l4 = ip.payload();
        (
            (ip.src_addr(), u16::from_be_bytes([l4[0], l4[1]])),
            (ip.dst_addr(), u16::from_be_bytes([l4[2], l4[3]])),
        )
    }

    fn l4_checksum_ok(f: &[u8]) -> bool {
        let ip = Ipv6Packet::new_checked(&f[14..]).unwrap();
        match ip.next_header() {
            proto::TCP => TcpPacket::new_checked(ip.payload())
                .unwrap()
                .verify_checksum_v6(ip.src_addr(), ip.dst_addr()),
            _ => crate::wire::UdpPacket::new_checked(ip.payload())
                .unwrap()
                .verify_checksum_v6(ip.src_addr(), ip.dst_addr()),
        }
    }

    fn learn(p: &mut Pipeline<Vec<u8>>, client: Ipv6Addr, io: &mut Out) {
        for (port, ip) in [(1, a(RS)), (0, client)] {
            let u = NeighbourUpdate {
                port,
                ip: ip.into(),
                mac: [2, 0, 0, 0, 0, 9],
            };
            p.learn_remote(u, 0, io);
        }
    }

    #[test]
    fn tcp_and_udp_both_ways_with_replies_steered_by_local_port() {
        let t = tables((5000, 5099), true);
        let (mut workers, stats): (Vec<_>, Vec<_>) = (0..2)
            .map(|w| {
                let (mut p, s) = pipeline(w, 2, false);
                p.sync(&t);
                (p, s)
            })
            .unzip();
        let mut io = Out::default();
        let mut per_worker = [0; 2];
        for i in 0..12u16 {
            let client = Ipv6Addr::new(0x2001, 2, 0, 0, 0, 0, 7, i);
            let udp = i % 3 == 0;
            let flags = (!udp).then_some(0x02);
            let syn = frame(MACS[0], (client, 40000 + i), (a(VIP), 80), flags, &[]);
            let owner = workers[0].owner(&t, &syn).unwrap();
            learn(&mut workers[owner], client, &mut io);
            workers[owner].handle(&t, 0, syn, 0, &mut io);
            let (port, out) = io.0.pop().expect("forwarded");
            assert_eq!(port, 1);
            let ((s, lport), d) = addrs(&out);
            assert_eq!((s, d), (a(LIP), (a(RS), 8080)));
            assert_eq!(port_owner(lport, 2), owner);
            assert!(l4_checksum_ok(&out), "client -> RS checksum");
            per_worker[owner] += 1;
            // The answer to LIP:lport is steered to the owner by its port alone.
            let reply = frame(
                MACS[1],
                (a(RS), 8080),
                (a(LIP), lport),
                flags.map(|_| 0x12),
                &[],
            );
            assert_eq!(workers[1 - owner].owner(&t, &reply), Some(owner));
            workers[owner].handle(&t, 1, reply, 0, &mut io);
            let (port, back) = io.0.pop().expect("reply forwarded");
            assert_eq!(port, 0);
            assert_eq!(addrs(&back), ((a(VIP), 80), (client, 40000 + i)));
            assert!(l4_checksum_ok(&back), "RS -> client checksum");
        }
        assert!(per_worker.iter().all(|&n| n > 0), "{per_worker:?}");
        for (w, p) in workers.iter_mut().enumerate() {
            p.tick(&t, 0, &mut io);
            assert_eq!(
                crate::counters::get(&stats[w].snat_ports_in_use),
                per_worker[w]
            );
            for _ in 0..40 {
                p.tick(&t, 400_000, &mut io);
            }
            assert_eq!(crate::counters::get(&stats[w].snat_ports_in_use), 0);
        }
    }

    #[test]
    fn toa_of_length_20_after_mss_clamp_by_20_and_off_when_switched_off() {
        for toa in [true, false] {
            let t = tables((5000, 5099), toa);
            let (mut p, stats) = pipeline(0, 1, false);
            p.sync(&t);
            let mut io = Out::default();
            let client = a("2001:2::7");
            learn(&mut p, client, &mut io);
            let c = (client, 40000);
            let mut send = |p: &mut Pipeline<Vec<u8>>, port, f: Vec<u8>| {
                p.handle(&t, port, f, 0, &mut io);
                io.0.pop().expect("forwarded").1
            };
            let mss = [2, 4, 0x05, 0xa0];
            let syn = send(&mut p, 0, frame(MACS[0], c, (a(VIP), 80), Some(0x02), &mss));
            let want_mss: u16 = if toa { 1440 - 20 } else { 1440 };
            assert_eq!(u16::from_be_bytes([syn[54 + 22], syn[54 + 23]]), want_mss);
            assert!(l4_checksum_ok(&syn));
            let ((_, lport), _) = addrs(&syn);
            send(
                &mut p,
                1,
                frame(MACS[1], (a(RS), 8080), (a(LIP), lport), Some(0x12), &[]),
            );
            let ack = send(&mut p, 0, frame(MACS[0], c, (a(VIP), 80), Some(0x10), &[]));
            assert!(l4_checksum_ok(&ack));
            if toa {
                assert_eq!(ack.len(), 14 + 40 + 40);
                let mut want = vec![254, 20, 0x9c, 0x40];
                want.extend_from_slice(&client.octets());
                assert_eq!(&ack[74..94], &want[..]);
                assert_eq!(ack[54 + 12] >> 4, 10);
            } else {
                assert_eq!(ack.len(), 14 + 40 + 20, "TOA switched off");
            }
            // A full TCP header has no room: forwarded without TOA, counted.
            let full = send(
                &mut p,
                0,
                frame(MACS[0], c, (a(VIP), 80), Some(0x10), &[1u8; 40]),
            );
            assert_eq!(full.len(), 14 + 40 + 60);
            assert_eq!(crate::counters::get(&stats.toa_no_room), u64::from(toa));
        }
    }

    #[test]
    fn local_address_answered_in_ndp_and_announced_at_start() {
        let t = tables((5000, 5001), true);
        let (mut p, _) = pipeline(0, 1, true);
        p.sync(&t);
        let mut io = Out::default();
        p.start(&t, &mut io, 0);
        let lip = a(LIP);
        let na_for =
            |f: &[u8]| f[12..14] == [0x86, 0xdd] && f[54] == 136 && f[62..78] == lip.octets();
        let announced: Vec<_> =
            io.0.iter()
                .filter(|(_, f)| na_for(f))
                .map(|(port, _)| *port)
                .collect();
        assert_eq!(
            announced,
            vec![1],
            "unsolicited NA for the LIP on the RS port"
        );
        io.0.clear();
        // A solicitation from the real server for the LIP is answered on port 1 only.
        let mut ns = vec![135, 0, 0, 0, 0, 0, 0, 0];
        ns.extend_from_slice(&lip.octets());
        ns.extend_from_slice(&[1, 1, 2, 0, 0, 0, 0, 0x11]);
        let group = {
            let o = lip.octets();
            Ipv6Addr::from([
                0xff, 2, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1, 0xff, o[13], o[14], o[15],
            ])
        };
        let mut f = vec![0u8; 14 + 40 + ns.len()];
        f[0..6].copy_from_slice(&[0x33, 0x33, 0xff, 0, 0, 0xfa]);
        f[6..12].copy_from_slice(&[2, 0, 0, 0, 0, 0x11]);
        f[12..14].copy_from_slice(&[0x86, 0xdd]);
        {
            let mut ip = Ipv6Packet::new_unchecked(&mut f[14..]);
            ip.set_version();
            ip.set_payload_len(ns.len() as u16);
            ip.set_next_header(58);
            ip.set_hop_limit(255);
            ip.set_src_addr(a(RS));
            ip.set_dst_addr(group);
        }
        f[54..].copy_from_slice(&ns);
        Icmpv6Packet::new_unchecked(&mut f[54..]).fill_checksum(a(RS), group);
        p.handle(&t, 1, f.clone(), 0, &mut io);
        assert_eq!(io.0.len(), 1);
        assert_eq!(io.0[0].0, 1);
        assert!(na_for(&io.0[0].1));
        io.0.clear();
        p.handle(&t, 0, f, 0, &mut io);
        assert!(io.0.is_empty(), "not on the client side");
    }

    #[test]
    fn exhaustion_is_refused_and_counted() {
        // Two ports, one worker: the third flow finds none.
        let t = tables((5000, 5001), true);
        let (mut p, stats) = pipeline(0, 1, false);
        p.sync(&t);
        let mut io = Out::default();
        for i in 0..3u16 {
            let client = Ipv6Addr::new(0x2001, 2, 0, 0, 0, 0, 9, i);
            learn(&mut p, client, &mut io);
            let syn = frame(MACS[0], (client, 1000), (a(VIP), 80), Some(0x02), &[]);
            p.handle(&t, 0, syn, 0, &mut io);
        }
        assert_eq!(io.0.len(), 2);
        assert_eq!(stats.drops(DropReason::SnatExhausted), 1);
    }
}
