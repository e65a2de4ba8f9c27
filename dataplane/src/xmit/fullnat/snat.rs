//! FULLNAT's local addresses: the SNAT pools the control thread publishes and each
//! worker's share of their (local address, port) space.
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

use std::net::IpAddr;
#[cfg(test)]
use std::net::{Ipv4Addr, Ipv6Addr};

use hashbrown::{HashMap, HashSet};

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
