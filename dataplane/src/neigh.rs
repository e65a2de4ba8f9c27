//! Neighbour table of one worker (ARP for IPv4, NDP for IPv6): resolved MACs with expiry,
//! and a few packets held per address while its resolution is in flight.
//!
//! Generic over the held packet type so the logic is tested without DPDK (the worker
//! holds `Mbuf`s). Capacity is fixed at construction; lookups never allocate.

use std::net::Ipv4Addr;

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
}

impl<T, A: Copy + Eq + std::hash::Hash> NeighbourTable<T, A> {
    /// A table holding at most `capacity` neighbours.
    pub fn new(capacity: usize) -> Self {
        NeighbourTable {
            map: HashMap::with_capacity(capacity),
            capacity,
        }
    }

    /// The MAC of `ip` on `port`, if resolved and not stale.
    #[inline]
    pub fn lookup(&self, port: usize, ip: A, now_ms: u64) -> Option<[u8; 6]> {
        match self.map.get(&(port, ip)) {
            Some(Entry {
                mac: Some(mac),
                deadline_ms,
                ..
            }) if *deadline_ms > now_ms => Some(*mac),
            _ => None,
        }
    }

    /// Hold `pkt` until `ip` on `port` resolves.
    pub fn hold(&mut self, port: usize, ip: A, pkt: T, now_ms: u64) -> HoldOutcome<T> {
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
