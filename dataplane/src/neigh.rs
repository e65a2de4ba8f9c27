//! Neighbour table of one worker (ARP for IPv4, NDP for IPv6): resolved MACs with expiry,
//! and a few packets held per address while its resolution is in flight.
//!
//! Generic over the held packet type so the logic is tested without DPDK (the worker
//! holds `Mbuf`s). Capacity is fixed at construction; lookups never allocate.

use std::cell::Cell;
use std::net::{Ipv4Addr, Ipv6Addr};

use hashbrown::HashMap;

/// Packets held per unresolved neighbour (Linux holds up to 101, `unres_qlen`): enough
/// for the first packets of a burst of new flows to one real server.
pub const HOLD_PER_NEIGHBOUR: usize = 16;

/// How long a resolved entry is trusted (ms) before it is re-requested.
pub const REACHABLE_MS: u64 = 300_000;
/// How long to wait for a reply before re-sending a request (ms).
pub const RETRY_MS: u64 = 1_000;
/// Requests sent before giving up on an address and dropping what it held.
pub const MAX_PROBES: u8 = 3;

#[derive(Debug)]
struct Entry<T> {
    mac: Option<[u8; 6]>,
    /// Resolved: when the entry goes stale. Incomplete: when to re-probe.
    deadline_ms: u64,
    probes: u8,
    held: [Option<T>; HOLD_PER_NEIGHBOUR],
}

/// What to do with a packet whose next hop has no known MAC.
#[derive(Debug, PartialEq, Eq)]
pub enum HoldOutcome<T> {
    /// Held; send an ARP request now (first packet for this address or retry due).
    HeldSendRequest,
    /// Held; a request is already in flight.
    Held,
    /// Not held (queue full or table full): the caller drops it.
    Refused(T),
}

/// Per-worker neighbour cache keyed by (port index, address): `A` is `Ipv4Addr` for ARP
/// (the default) and `Ipv6Addr` for NDP; both use the same timers and hold queues.
pub struct NeighbourTable<T, A = Ipv4Addr> {
    map: HashMap<(usize, A), Entry<T>>,
    capacity: usize,
    /// Copies of resolved entries that lookups found, by [`NeighbourAddr::slot`]: the
    /// packet path's lookup (one per forwarded packet) compares one slot instead of
    /// hashing and probing the map. Emptied by every change to the map, so a copy is
    /// never older than its entry.
    recent: [Cell<Option<Recent<A>>>; RECENT_SLOTS],
}

/// Slots of [`NeighbourTable`]'s recent-lookup cache (a power of two): a director's next
/// hops are its real servers and a few gateways.
const RECENT_SLOTS: usize = 64;

/// A resolved neighbour as [`NeighbourTable::lookup`] last found it.
#[derive(Clone, Copy)]
struct Recent<A> {
    port: usize,
    ip: A,
    mac: [u8; 6],
    deadline_ms: u64,
}

/// An address the neighbour table resolves (IPv4 for ARP, IPv6 for NDP).
pub trait NeighbourAddr: Copy + Eq + std::hash::Hash {
    /// Its slot in the recent-lookup cache on `port`: the low bits of the address, which
    /// differ between the hosts of a subnet.
    fn slot(&self, port: usize) -> usize;
}

impl NeighbourAddr for Ipv4Addr {
    #[inline]
    fn slot(&self, port: usize) -> usize {
        (u32::from(*self) as usize ^ port.wrapping_mul(7)) & (RECENT_SLOTS - 1)
    }
}

impl NeighbourAddr for Ipv6Addr {
    #[inline]
    fn slot(&self, port: usize) -> usize {
        (usize::from(self.octets()[15]) ^ port.wrapping_mul(7)) & (RECENT_SLOTS - 1)
    }
}

impl<T, A: NeighbourAddr> NeighbourTable<T, A> {
    /// A table holding at most `capacity` neighbours.
    pub fn new(capacity: usize) -> Self {
        NeighbourTable {
            map: HashMap::with_capacity(capacity),
            capacity,
            recent: std::array::from_fn(|_| Cell::new(None)),
        }
    }

    /// The MAC of `ip` on `port`, if resolved and not stale.
    #[inline]
    pub fn lookup(&self, port: usize, ip: A, now_ms: u64) -> Option<[u8; 6]> {
        let slot = &self.recent[ip.slot(port)];
        if let Some(r) = slot.get() {
            if r.port == port && r.ip == ip && r.deadline_ms > now_ms {
                return Some(r.mac);
            }
        }
        self.lookup_map(port, ip, now_ms, slot)
    }

    /// [`NeighbourTable::lookup`] in the map, remembering a fresh answer in `slot`.
    #[cold]
    fn lookup_map(
        &self,
        port: usize,
        ip: A,
        now_ms: u64,
        slot: &Cell<Option<Recent<A>>>,
    ) -> Option<[u8; 6]> {
        match self.map.get(&(port, ip)) {
            Some(Entry {
                mac: Some(mac),
                deadline_ms,
                ..
            }) if *deadline_ms > now_ms => {
                slot.set(Some(Recent {
                    port,
                    ip,
                    mac: *mac,
                    deadline_ms: *deadline_ms,
                }));
                Some(*mac)
            }
            _ => None,
        }
    }

    /// Forget every remembered lookup (before any change to the map).
    fn forget_recent(&mut self) {
        for r in &mut self.recent {
            *r.get_mut() = None;
        }
    }

    /// Hold `pkt` until `ip` on `port` resolves.
    pub fn hold(&mut self, port: usize, ip: A, pkt: T, now_ms: u64) -> HoldOutcome<T> {
        self.forget_recent();
        if !self.map.contains_key(&(port, ip)) && self.map.len() >= self.capacity {
            return HoldOutcome::Refused(pkt);
        }
        let e = self.map.entry((port, ip)).or_insert_with(|| Entry {
            mac: None,
            deadline_ms: 0,
            probes: 0,
            held: Default::default(),
        });
        // A stale resolved entry is re-resolved like a new one.
        let send = if e.mac.is_some() || e.deadline_ms <= now_ms {
            e.mac = None;
            e.deadline_ms = now_ms + RETRY_MS;
            e.probes = 1;
            true
        } else {
            false
        };
        match e.held.iter_mut().find(|s| s.is_none()) {
            Some(slot) => {
                *slot = Some(pkt);
                if send {
                    HoldOutcome::HeldSendRequest
                } else {
                    HoldOutcome::Held
                }
            }
            None => HoldOutcome::Refused(pkt),
        }
    }

    /// Record that `ip` on `port` is at `mac`. Only updates existing entries unless
    /// `create` (Linux creates entries from requests addressed to it, not from unsolicited
    /// replies). Held packets are passed to `release` in arrival order. Returns whether
    /// the table now knows `ip`.
    pub fn learn(
        &mut self,
        port: usize,
        ip: A,
        mac: [u8; 6],
        now_ms: u64,
        create: bool,
        mut release: impl FnMut(T, [u8; 6]),
    ) -> bool {
        self.forget_recent();
        if !self.map.contains_key(&(port, ip)) {
            if !create || self.map.len() >= self.capacity {
                return false;
            }
            self.map.insert(
                (port, ip),
                Entry {
                    mac: None,
                    deadline_ms: 0,
                    probes: 0,
                    held: Default::default(),
                },
            );
        }
        let Some(e) = self.map.get_mut(&(port, ip)) else {
            return false;
        };
        e.mac = Some(mac);
        e.deadline_ms = now_ms + REACHABLE_MS;
        e.probes = 0;
        for slot in e.held.iter_mut() {
            if let Some(p) = slot.take() {
                release(p, mac);
            }
        }
        true
    }

    /// Periodic work: re-probe unresolved entries (`probe(port, ip)` sends a request),
    /// give up after [`MAX_PROBES`] (held packets go to `drop`), and forget stale entries.
    pub fn tick(&mut self, now_ms: u64, mut probe: impl FnMut(usize, A), mut drop: impl FnMut(T)) {
        self.forget_recent();
        self.map.retain(|&(port, ip), e| {
            if e.deadline_ms > now_ms {
                return true;
            }
            if e.mac.is_some() {
                return false; // stale: forget; the next packet re-resolves
            }
            if e.probes < MAX_PROBES {
                e.probes += 1;
                e.deadline_ms = now_ms + RETRY_MS;
                probe(port, ip);
                return true;
            }
            for slot in e.held.iter_mut() {
                if let Some(p) = slot.take() {
                    drop(p);
                }
            }
            false
        });
    }

    /// Entries in the table (resolved or not).
    pub fn len(&self) -> usize {
        self.map.len()
    }

    /// True when empty.
    pub fn is_empty(&self) -> bool {
        self.map.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const IP: Ipv4Addr = Ipv4Addr::new(198, 19, 0, 11);
    const MAC: [u8; 6] = [2, 0, 0, 0, 0, 0x11];

    #[test]
    fn hold_then_learn_releases_in_order() {
        let mut t = NeighbourTable::new(8);
        assert_eq!(t.lookup(1, IP, 0), None);
        assert_eq!(t.hold(1, IP, 'a', 0), HoldOutcome::HeldSendRequest);
        assert_eq!(t.hold(1, IP, 'b', 10), HoldOutcome::Held);
        let mut out = vec![];
        t.learn(1, IP, MAC, 20, false, |p, m| out.push((p, m)));
        assert_eq!(out, vec![('a', MAC), ('b', MAC)]);
        assert_eq!(t.lookup(1, IP, 21), Some(MAC));
        assert_eq!(t.lookup(0, IP, 21), None, "per port");
        assert_eq!(t.lookup(1, IP, 20 + REACHABLE_MS), None, "stale");
    }

    /// The map's answer, without the recent-lookup cache.
    fn uncached<A: NeighbourAddr>(
        t: &NeighbourTable<u8, A>,
        port: usize,
        ip: A,
        now: u64,
    ) -> Option<[u8; 6]> {
        match t.map.get(&(port, ip)) {
            Some(Entry {
                mac: Some(m),
                deadline_ms,
                ..
            }) if *deadline_ms > now => Some(*m),
            _ => None,
        }
    }

    proptest::proptest! {
        /// Lookups through the recent-lookup cache answer what the map answers, whatever
        /// happened between them: a neighbour's MAC changing, going stale, forgotten by a
        /// tick, and addresses that share a slot (x.x.0.11 and x.x.0.75 on 64 slots).
        #[test]
        fn cached_lookups_follow_the_map(
            ops in proptest::collection::vec((0u8..4, 0usize..2, 0usize..4, 0u8..3, 0u64..400_000), 1..60)
        ) {
            let ips = [IP, Ipv4Addr::new(198, 19, 0, 75), Ipv4Addr::new(198, 19, 0, 12), Ipv4Addr::new(198, 19, 1, 11)];
            let mut t: NeighbourTable<u8> = NeighbourTable::new(3);
            let mut now = 0;
            for (op, port, i, m, dt) in ops {
                let ip = ips[i];
                match op {
                    0 => { t.learn(port, ip, [2, 0, 0, 0, m, 0x11], now, true, |_, _| {}); }
                    1 => { let _ = t.hold(port, ip, m, now); }
                    2 => { now += dt; t.tick(now, |_, _| {}, |_| {}); }
                    _ => now += dt,
                }
                for port in 0..2 {
                    for ip in ips {
                        proptest::prop_assert_eq!(t.lookup(port, ip, now), uncached(&t, port, ip, now));
                    }
                }
            }
        }
    }

    #[test]
    fn a_changed_mac_is_seen_at_once() {
        let mut t: NeighbourTable<u8> = NeighbourTable::new(8);
        t.learn(0, IP, MAC, 0, true, |_, _| {});
        assert_eq!(t.lookup(0, IP, 1), Some(MAC));
        let other = [2, 0, 0, 0, 0, 0x99];
        t.learn(0, IP, other, 2, false, |_, _| {});
        assert_eq!(t.lookup(0, IP, 3), Some(other));
        // Two addresses in one slot take turns without mixing up their MACs.
        let ip2 = Ipv4Addr::new(198, 19, 0, 75);
        assert_eq!(IP.slot(0), ip2.slot(0));
        t.learn(0, ip2, MAC, 4, true, |_, _| {});
        for _ in 0..2 {
            assert_eq!(t.lookup(0, IP, 5), Some(other));
            assert_eq!(t.lookup(0, ip2, 5), Some(MAC));
        }
    }

    #[test]
    fn unsolicited_reply_creates_nothing_but_request_does() {
        let mut t: NeighbourTable<u8> = NeighbourTable::new(8);
        t.learn(0, IP, MAC, 0, false, |_, _| unreachable!());
        assert!(t.is_empty());
        t.learn(0, IP, MAC, 0, true, |_, _| unreachable!());
        assert_eq!(t.lookup(0, IP, 1), Some(MAC));
    }

    #[test]
    fn queue_and_table_limits_refuse() {
        let mut t = NeighbourTable::new(1);
        for i in 0..HOLD_PER_NEIGHBOUR {
            assert!(!matches!(t.hold(0, IP, i, 0), HoldOutcome::Refused(_)));
        }
        assert_eq!(t.hold(0, IP, 99, 0), HoldOutcome::Refused(99));
        assert_eq!(
            t.hold(0, Ipv4Addr::new(198, 19, 0, 12), 7, 0),
            HoldOutcome::Refused(7)
        );
    }

    #[test]
    fn probes_then_gives_up_and_drops_held() {
        let mut t = NeighbourTable::new(4);
        t.hold(0, IP, 1u32, 0);
        let (mut probes, mut dropped) = (0, vec![]);
        let mut now = 0;
        for _ in 0..10 {
            now += RETRY_MS;
            t.tick(now, |_, _| probes += 1, |p| dropped.push(p));
        }
        assert_eq!(probes, (MAX_PROBES - 1) as usize);
        assert_eq!(dropped, vec![1]);
        assert!(t.is_empty());
    }
}
