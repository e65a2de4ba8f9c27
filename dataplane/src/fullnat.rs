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
