//! Finding connections: one lookup from either direction, the IPv4 lookup
//! without a `Tuple`, the staged burst lookup that overlaps its memory misses,
//! and the prefetch hints that warm what a later lookup or insert will read.

use std::net::Ipv4Addr;

use super::entry::{found_at, holds_tuple, holds_v4, Conn};
use super::layout::ConnTable;
use super::records::ConnId;
use crate::index::Probe;
use crate::tuple::{hash_v4, pack_ports, Direction, Key, Tuple};
use crate::wheel::NIL;

impl ConnTable {
    /// Use `prefetch` to bring cache lines in during [`ConnTable::lookup_burst`]
    /// and [`ConnTable::prefetch`], instead of plain loads. It is called with
    /// addresses inside the table's own arrays and must only hint the CPU
    /// (e.g. x86 `PREFETCHT0`, which never faults and writes nothing). A
    /// prefetch instruction retires at once, where a plain load holds its
    /// place in the CPU's reorder window until the line arrives, so more
    /// misses overlap: this crate forbids `unsafe`, and stable Rust offers
    /// prefetch only as an `unsafe` intrinsic, hence the hook.
    pub fn set_prefetcher(&mut self, prefetch: fn(*const u8)) {
        self.prefetcher = Some(prefetch);
    }

    /// Stage 2 of a burst: start reading `p`'s home bucket and the one after it
    /// (where [`Index::first_match`](crate::index::Index::first_match) looks when the home bucket overflowed).
    #[inline]
    fn warm_bucket(&self, p: Probe) -> u32 {
        match self.prefetcher {
            Some(f) => {
                f(self.index.bucket_addr(p));
                f(self.index.next_bucket_addr(p));
                0
            }
            None => self.index.touch(p),
        }
    }

    /// Stage 3 of a burst: start reading the entry of index value `v`.
    #[inline]
    fn warm_entry(&self, v: u32) -> u32 {
        let c = &self.conns.0[(v >> 1) as usize];
        match self.prefetcher {
            Some(f) => {
                f((c as *const Conn).cast());
                0
            }
            None => u32::from(c.proto),
        }
    }

    /// [`ConnTable::prefetch`]'s stage 3: start reading both cache lines of the entry
    /// of index value `v`. A 96-byte entry (32-byte aligned) always spans two lines: the
    /// first holds what a lookup compares, the second the expiry, counters and links
    /// that `on_packet` then updates.
    #[inline]
    fn warm_whole_entry(&self, v: u32) -> u32 {
        let c = &self.conns.0[(v >> 1) as usize];
        match self.prefetcher {
            Some(f) => {
                let start = (c as *const Conn).cast::<u8>();
                f(start);
                f(start.wrapping_add(core::mem::size_of::<Conn>() - 1));
                0
            }
            None => u32::from(c.proto) ^ c.link.tick,
        }
    }

    /// Find the connection a packet belongs to, from either direction.
    ///
    /// At millions of connections this is bound by memory latency (one index
    /// bucket line, then one entry line, each a likely cache and TLB miss);
    /// [`ConnTable::lookup_burst`] overlaps those misses across packets.
    #[inline]
    pub fn lookup(&self, t: &Tuple) -> Option<(ConnId, Direction)> {
        let key = Key::from_tuple(t)?;
        let p = self.probe(&key);
        let (conns, v6) = (&self.conns.0, &self.v6);
        self.index
            .find(p, |v| holds_tuple(conns, v6, v, t))
            .map(found_at)
    }

    /// [`ConnTable::lookup`] of an IPv4 tuple given by its parts: the same answer, without
    /// building a [`Tuple`] or matching address families (the IPv4 packet path).
    #[inline]
    pub fn lookup_v4(
        &self,
        proto: u8,
        (src, sport): (Ipv4Addr, u16),
        (dst, dport): (Ipv4Addr, u16),
    ) -> Option<(ConnId, Direction)> {
        let (s, d) = (u32::from(src), u32::from(dst));
        let p = self
            .index
            .probe(hash_v4(&self.seed, s, d, pack_ports(sport, dport), proto));
        let conns = &self.conns.0;
        self.index
            .find(p, |v| holds_v4(conns, v, proto, (s, sport), (d, dport)))
            .map(found_at)
    }

    /// [`ConnTable::lookup`] for a burst of packets (e.g. one RX burst):
    /// `out[i]` receives the result for `tuples[i]` (only the first
    /// `min(tuples.len(), out.len())` are looked up).
    ///
    /// Works in stages over chunks of 32, as DPDK's `rte_hash_lookup_bulk`
    /// does: hash each key and start reading its home bucket (and the next);
    /// pick each tag match and start reading its entry; then compare. The reads
    /// of one stage do not depend on each other, so their cache and TLB misses
    /// overlap instead of being paid one after the other.
    pub fn lookup_burst(&self, tuples: &[Tuple], out: &mut [Option<(ConnId, Direction)>]) {
        const CHUNK: usize = 32;
        let n = tuples.len().min(out.len());
        let (conns, v6) = (&self.conns.0, &self.v6);
        // Per lane only the 8-byte probe and the 4-byte candidate are kept between
        // stages; the last stage compares the entry with the caller's tuple itself
        // (still in L1) rather than with a 48-byte canonical key copied per lane.
        let mut probes = [Probe::default(); CHUNK];
        let mut cands = [0u32; CHUNK];
        for (tc, oc) in tuples[..n].chunks(CHUNK).zip(out[..n].chunks_mut(CHUNK)) {
            // Stages 1 and 2: hash each key and start its bucket read at once,
            // so the first reads are under way while later keys are hashed.
            // Bit i of `valid`: tuple i is a single-family flow.
            let mut valid = 0u32;
            let mut sink = 0u32;
            for (i, t) in tc.iter().enumerate() {
                if let Some(k) = Key::from_tuple(t) {
                    probes[i] = self.probe(&k);
                    sink ^= self.warm_bucket(probes[i]);
                    valid |= 1 << i;
                }
            }
            // Stage 3: tag match in each bucket; start every entry read. Bit i of
            // `found`: lane i has a candidate; of `decisive`: no other slot can
            // hold its key (so no candidate, or a wrong one, means absent).
            let (mut found, mut decisive) = (0u32, 0u32);
            let mut todo = valid;
            while todo != 0 {
                let i = todo.trailing_zeros() as usize;
                todo &= todo - 1;
                let (cand, sure) = self.index.first_match(probes[i]);
                if let Some(v) = cand {
                    cands[i] = v;
                    found |= 1 << i;
                    sink ^= self.warm_entry(v);
                }
                decisive |= u32::from(sure) << i;
            }
            core::hint::black_box(sink);
            // Stage 4: compare; rare cases (several tag matches, overflowed
            // buckets) take the full probe.
            for (i, (o, t)) in oc.iter_mut().zip(tc).enumerate() {
                let bit = 1 << i;
                *o = if found & bit != 0 && holds_tuple(conns, v6, cands[i], t) {
                    Some(found_at(cands[i]))
                } else if (valid & !decisive) & bit != 0 {
                    self.index
                        .find(probes[i], |v| holds_tuple(conns, v6, v, t))
                        .map(found_at)
                } else {
                    None
                };
            }
        }
    }

    /// Bring the index buckets and entries of `tuples` into the cache,
    /// without answering: stages 1 to 3 of [`ConnTable::lookup_burst`], for
    /// a caller that then handles the packets one by one with
    /// [`ConnTable::lookup`] (which then finds its lines in the cache) and
    /// [`ConnTable::on_packet`] (both lines of each entry are read). Looks at
    /// most 32 tuples; costs a hash and three loads per tuple, so it pays
    /// only when the table is larger than the caches.
    pub fn prefetch(&self, tuples: &[Tuple]) {
        const CHUNK: usize = 32;
        let m = tuples.len().min(CHUNK);
        let mut probes = [Probe::default(); CHUNK];
        for (p, t) in probes.iter_mut().zip(&tuples[..m]) {
            *p = Key::from_tuple(t).map_or(Probe::default(), |k| self.probe(&k));
        }
        let mut sink = 0u32;
        for p in &probes[..m] {
            sink ^= self.warm_bucket(*p);
        }
        for p in &probes[..m] {
            if let (Some(v), _) = self.index.first_match(*p) {
                sink ^= self.warm_whole_entry(v);
            }
        }
        core::hint::black_box(sink);
    }

    /// Start reading what the next [`ConnTable::insert`] will touch that is
    /// not in the cache yet, without waiting for it: the home index bucket
    /// of the new connection's `reply` tuple (random, so at millions of
    /// connections a cache and TLB miss) and the slab slot it will take.
    /// The original tuple's bucket needs nothing: the lookup that missed it
    /// has just read it. Call it as soon as the reply tuple is known (after
    /// scheduling) and do other work for the packet before inserting, so
    /// the misses overlap with that work instead of stalling the insert.
    /// Only a hint: does nothing without a [`ConnTable::set_prefetcher`]
    /// (a plain load here would stall exactly where the caller wants to get
    /// on), and changes no result.
    #[inline]
    pub fn prefetch_insert(&self, reply: Option<&Tuple>) {
        let Some(f) = self.prefetcher else {
            return;
        };
        if let Some(k) = reply.and_then(Key::from_tuple) {
            f(self.index.bucket_addr(self.probe(&k)));
        }
        // The slot on the free list (its link is read to pop it), or the next unused one
        // (only its address is taken: `wrapping_add` within the reserved capacity).
        let slab = self.conns.0.as_ptr();
        let next = if self.free != NIL {
            self.free as usize
        } else {
            self.conns.0.len()
        };
        if next < self.conns.0.capacity() {
            f(slab.wrapping_add(next).cast());
        }
    }
}
