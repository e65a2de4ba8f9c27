//! The scheduler: build (control thread) and pick (worker, allocation-free).

use crate::dest::{DestLoad, DestLoads, Destination};
use crate::flow::{addr_fold, hash_32, FlowKey};
use crate::kind::{SchedFlags, SchedulerKind};
use crate::locality::{Cache, DestSet, LocalityParams};
use crate::maglev::{self, EMPTY};
use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::Arc;

/// Buckets of the dh and sh tables (IP_VS_DH_TAB_BITS = IP_VS_SH_TAB_BITS = 8).
const HASH_TAB_BITS: u32 = 8;
const HASH_TAB_SIZE: usize = 1 << HASH_TAB_BITS;
const HASH_TAB_MASK: u32 = HASH_TAB_SIZE as u32 - 1;

/// The rr/wrr position "before the first real server" (the kernel's list head).
const HEAD: usize = usize::MAX;

/// Options of a virtual service that shape its scheduler.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct SchedOptions {
    /// `sh-fallback`/`sh-port`/`mh-fallback`/`mh-port`.
    pub flags: SchedFlags,
    /// Maglev lookup table size; must be a prime >= the number of real servers. Default
    /// [`crate::MH_TABLE_SIZE`] (65537); [`crate::MH_KERNEL_TABLE_SIZE`] (4093) gives the
    /// stock kernel's table.
    pub mh_table_size: u32,
    /// Sizing and expiry of the lblc/lblcr per-worker caches.
    pub locality: LocalityParams,
}

impl Default for SchedOptions {
    fn default() -> Self {
        SchedOptions {
            flags: SchedFlags::default(),
            mh_table_size: maglev::MH_TABLE_SIZE,
            locality: LocalityParams::default(),
        }
    }
}

/// Why a scheduler could not be built. The running configuration stays untouched.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum BuildError {
    /// The Maglev table size is not a prime (the permutation needs a prime size).
    #[error("mh table size {0} is not a prime number")]
    MhTableNotPrime(u32),
    /// More real servers than Maglev table slots (the kernel returns EINVAL too).
    #[error("mh table of {table} entries cannot hold {dests} real servers")]
    MhTooManyDests {
        /// Number of real servers.
        dests: usize,
        /// Table size.
        table: u32,
    },
    /// More real servers than a destination index can address.
    #[error("{0} real servers in one virtual service; at most {max}", max = Scheduler::MAX_DESTS)]
    TooManyDests(usize),
}

/// Per-worker mutable state of a [`Scheduler`]; created with [`Scheduler::new_state`] or
/// [`Scheduler::carry_state`], used only with the scheduler that made it.
#[derive(Clone, Debug)]
pub struct SchedState(State);

#[derive(Clone, Debug)]
enum State {
    Stateless,
    Rr { last: usize },
    Wrr { cl: usize, cw: i64 },
    Twos { rng: u64 },
    Lblc(Cache<u32>),
    Lblcr(Cache<DestSet>),
}

/// Precomputed, immutable per-algorithm data. The lookup tables are shared (`Arc`), so a
/// clone of a [`Scheduler`] (e.g. the previous generation a new service table keeps for
/// [`Scheduler::carry_state`]) does not copy a Maglev table (256 KiB at the default
/// size); the packet path only reads through them, like a `Box`.
#[derive(Clone, Debug)]
enum Algo {
    Plain,
    /// `di`: gcd of the non-zero weights (1 if none); `mw`: max weight - (di - 1).
    Wrr {
        di: i64,
        mw: i64,
    },
    Dh(Arc<[u32; HASH_TAB_SIZE]>),
    Sh(Arc<[u32; HASH_TAB_SIZE]>),
    Mh(Arc<[u32]>),
}

/// "Pick a real server for this new flow": implemented by [`Scheduler`] for every IPVS
/// algorithm. `pick` never allocates and never panics.
pub trait Schedule: Send + Sync {
    /// Per-worker mutable state.
    type State: Send;

    /// Fresh per-worker state; `seed` seeds randomised schedulers (twos), give each worker
    /// a different one.
    fn new_state(&self, seed: u64) -> Self::State;

    /// The index of the real server for a new flow, or `None` when no destination is
    /// available. `now_ms` is a monotonic clock in milliseconds (lblc/lblcr expiry).
    fn pick<L: DestLoads + ?Sized>(
        &self,
        state: &mut Self::State,
        loads: &L,
        flow: &FlowKey,
        now_ms: u64,
    ) -> Option<usize>;
}

/// The immutable part of a virtual service's scheduler: real servers and precomputed
/// tables. `Send + Sync`; share it between workers behind the service table's pointer.
#[derive(Clone, Debug)]
pub struct Scheduler {
    kind: SchedulerKind,
    opts: SchedOptions,
    dests: Box<[Destination]>,
    weights: Box<[W]>,
    algo: Algo,
}

fn gcd(mut a: u32, mut b: u32) -> u32 {
    while b != 0 {
        (a, b) = (b, a % b);
    }
    a
}

/// The weights, packed (2 bytes per real server) so that the O(n) scans touch as little
/// memory as possible; the field name keeps the scans reading `d.weight`.
#[derive(Clone, Copy, Debug)]
struct W {
    weight: u16,
}

/// Weight > 0, not overloaded, available: what every non-locality scheduler requires.
#[inline]
fn usable(d: &W, l: &DestLoad) -> bool {
    d.weight > 0 && !l.overloaded && l.available
}

impl Scheduler {
    /// Largest destination list (indices are stored as `u32`, with one value reserved).
    pub const MAX_DESTS: usize = u32::MAX as usize - 1;

    /// Value of an empty slot in [`Scheduler::hash_table`].
    pub const NO_DEST: u32 = EMPTY;

    /// Builds the scheduler of a virtual service over `dests` (their order is the kernel's
    /// destination list order, which decides ties and table layouts).
    pub fn build(
        kind: SchedulerKind,
        dests: &[Destination],
        opts: SchedOptions,
    ) -> Result<Self, BuildError> {
        if dests.len() > Self::MAX_DESTS {
            return Err(BuildError::TooManyDests(dests.len()));
        }
        let n = dests.len();
        let algo = match kind {
            SchedulerKind::Wrr => {
                let g = dests
                    .iter()
                    .map(|d| u32::from(d.weight))
                    .filter(|&w| w > 0)
                    .fold(0, |g, w| if g == 0 { w } else { gcd(g, w) });
                let di = i64::from(if g == 0 { 1 } else { g });
                let max = dests.iter().map(|d| i64::from(d.weight)).max().unwrap_or(0);
                Algo::Wrr {
                    di,
                    mw: max - (di - 1),
                }
            }
            SchedulerKind::Dh => {
                // ip_vs_dh_reassign: buckets cycle through the list, weights ignored.
                let mut t = [EMPTY; HASH_TAB_SIZE];
                if n > 0 {
                    for (b, slot) in t.iter_mut().enumerate() {
                        *slot = (b % n) as u32;
                    }
                }
                Algo::Dh(Arc::new(t))
            }
            SchedulerKind::Sh => {
                // ip_vs_sh_reassign: each server takes `weight` consecutive buckets (at
                // least one), cycling through the list until the 256 buckets are full.
                let mut t = [EMPTY; HASH_TAB_SIZE];
                if n > 0 {
                    let (mut p, mut count) = (0usize, 0u32);
                    for slot in t.iter_mut() {
                        *slot = p as u32;
                        count += 1;
                        if count >= u32::from(dests[p].weight) {
                            p = (p + 1) % n;
                            count = 0;
                        }
                    }
                }
                Algo::Sh(Arc::new(t))
            }
            SchedulerKind::Mh => {
                let size = opts.mh_table_size;
                if !maglev::is_prime(size) {
                    return Err(BuildError::MhTableNotPrime(size));
                }
                if n > size as usize {
                    return Err(BuildError::MhTooManyDests {
                        dests: n,
                        table: size,
                    });
                }
                Algo::Mh(maglev::build_table(dests, size).into())
            }
            _ => Algo::Plain,
        };
        Ok(Scheduler {
            kind,
            opts,
            dests: dests.into(),
            weights: dests.iter().map(|d| W { weight: d.weight }).collect(),
            algo,
        })
    }

    /// The algorithm.
    pub fn kind(&self) -> SchedulerKind {
        self.kind
    }

    /// The options it was built with.
    pub fn options(&self) -> &SchedOptions {
        &self.opts
    }

    /// The real servers, in list order; `pick` returns indices into this slice.
    pub fn destinations(&self) -> &[Destination] {
        &self.dests
    }

    /// The dh/sh 256-bucket table or the Maglev lookup table (destination index per slot,
    /// [`Scheduler::NO_DEST`] when empty); `None` for the other schedulers.
    pub fn hash_table(&self) -> Option<&[u32]> {
        match &self.algo {
            Algo::Dh(t) | Algo::Sh(t) => Some(&t[..]),
            Algo::Mh(t) => Some(t),
            _ => None,
        }
    }

    /// Fresh per-worker state (allocates the lblc/lblcr cache: see [`LocalityParams`]).
    pub fn new_state(&self, seed: u64) -> SchedState {
        SchedState(match self.kind {
            SchedulerKind::Rr => State::Rr { last: HEAD },
            SchedulerKind::Wrr => State::Wrr {
                cl: HEAD,
                cw: match self.algo {
                    Algo::Wrr { mw, .. } => mw,
                    _ => 0,
                },
            },
            SchedulerKind::Twos => State::Twos {
                rng: splitmix64(seed) | 1,
            },
            SchedulerKind::Lblc => State::Lblc(Cache::new(&self.opts.locality, 0)),
            SchedulerKind::Lblcr => {
                State::Lblcr(Cache::new(&self.opts.locality, DestSet::single(0, 0)))
            }
            _ => State::Stateless,
        })
    }

    /// Per-worker state for this (new) scheduler that continues `prev_state` of the
    /// previous version `prev` of the same service, the way the kernel keeps scheduler data
    /// across real-server changes: rr keeps its position (by real-server address and port;
    /// the list head if that server is gone), wrr restarts at the head with its current
    /// weight adjusted as `ip_vs_wrr_dest_changed` does, twos keeps its RNG, lblc/lblcr keep
    /// their cache entries remapped to the new indices (members that left are dropped).
    /// Falls back to [`Scheduler::new_state`] when the algorithm changed.
    pub fn carry_state(&self, seed: u64, prev: &Scheduler, prev_state: &SchedState) -> SchedState {
        if prev.kind != self.kind {
            return self.new_state(seed);
        }
        let index: HashMap<(IpAddr, u16), u32> = self
            .dests
            .iter()
            .enumerate()
            .map(|(i, d)| ((d.addr, d.port), i as u32))
            .collect();
        let remap = |old: u32| -> Option<u32> {
            let d = prev.dests.get(old as usize)?;
            index.get(&(d.addr, d.port)).copied()
        };
        let mut fresh = self.new_state(seed);
        match (&mut fresh.0, &prev_state.0) {
            (State::Rr { last }, State::Rr { last: old }) if *old != HEAD => {
                *last = u32::try_from(*old)
                    .ok()
                    .and_then(remap)
                    .map_or(HEAD, |i| i as usize);
            }
            (State::Wrr { cw, .. }, State::Wrr { cw: old_cw, .. }) => {
                if let Algo::Wrr { di, mw } = self.algo {
                    *cw = if *old_cw > mw || *old_cw == 0 {
                        mw
                    } else if di > 1 {
                        (*old_cw / di) * di + 1
                    } else {
                        *old_cw
                    };
                }
            }
            (State::Twos { rng }, State::Twos { rng: old }) => *rng = *old,
            (State::Lblc(cache), State::Lblc(old)) => {
                for (key, lastuse, &d) in old.entries() {
                    if let Some(nd) = remap(d) {
                        cache.restore(key, lastuse, nd);
                    }
                }
            }
            (State::Lblcr(cache), State::Lblcr(old)) => {
                for (key, lastuse, set) in old.entries() {
                    let mut kept: Option<DestSet> = None;
                    // Re-insert oldest first so the list order is preserved.
                    for &d in set.as_slice().iter().rev() {
                        if let Some(nd) = remap(d) {
                            match kept.as_mut() {
                                None => kept = Some(DestSet::single(nd, set.lastmod)),
                                Some(s) => s.insert(nd, set.lastmod),
                            }
                        }
                    }
                    if let Some(mut s) = kept {
                        s.lastmod = set.lastmod;
                        cache.restore(key, lastuse, s);
                    }
                }
            }
            _ => {}
        }
        fresh
    }

    /// Picks the real server for a new flow; see [`Schedule::pick`]. Allocation-free.
    #[inline]
    pub fn pick<L: DestLoads + ?Sized>(
        &self,
        state: &mut SchedState,
        loads: &L,
        flow: &FlowKey,
        now_ms: u64,
    ) -> Option<usize> {
        let dests = &self.weights[..];
        match (&self.algo, &mut state.0) {
            (_, State::Rr { last }) if self.kind == SchedulerKind::Rr => {
                pick_rr(dests, loads, last)
            }
            (Algo::Wrr { di, mw }, State::Wrr { cl, cw }) => {
                pick_wrr(dests, loads, *di, *mw, cl, cw)
            }
            (Algo::Plain, State::Stateless) => match self.kind {
                SchedulerKind::Lc => pick_lc(dests, loads),
                SchedulerKind::Wlc => weighted_least(dests, loads, DestLoad::overhead),
                SchedulerKind::Sed => weighted_least(dests, loads, sed_overhead),
                SchedulerKind::Nq => pick_nq(dests, loads),
                SchedulerKind::Fo => pick_fo(dests, loads),
                SchedulerKind::Ovf => pick_ovf(dests, loads),
                _ => None,
            },
            (Algo::Plain, State::Twos { rng }) => pick_twos(dests, loads, rng),
            (Algo::Plain, State::Lblc(cache)) => pick_lblc(dests, loads, cache, flow, now_ms),
            (Algo::Plain, State::Lblcr(cache)) => pick_lblcr(
                dests,
                loads,
                cache,
                flow,
                now_ms,
                self.opts.locality.expiration_ms,
            ),
            (Algo::Dh(t), State::Stateless) => pick_dh(dests, loads, t, flow),
            (Algo::Sh(t), State::Stateless) => pick_sh(dests, loads, t, flow, self.opts.flags),
            (Algo::Mh(t), State::Stateless) => pick_mh(dests, loads, t, flow, self.opts.flags),
            // A state made by another scheduler: a caller bug, asserted in debug builds and
            // answered with "no destination" in release builds.
            _ => {
                debug_assert!(false, "SchedState used with a different scheduler");
                None
            }
        }
    }
}

impl Schedule for Scheduler {
    type State = SchedState;

    fn new_state(&self, seed: u64) -> SchedState {
        Scheduler::new_state(self, seed)
    }

    #[inline]
    fn pick<L: DestLoads + ?Sized>(
        &self,
        state: &mut SchedState,
        loads: &L,
        flow: &FlowKey,
        now_ms: u64,
    ) -> Option<usize> {
        Scheduler::pick(self, state, loads, flow, now_ms)
    }
}

fn splitmix64(mut x: u64) -> u64 {
    x = x.wrapping_add(0x9E37_79B9_7F4A_7C15);
    x = (x ^ (x >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    x = (x ^ (x >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    x ^ (x >> 31)
}

/// xorshift64*: a small, fast per-worker PRNG standing in for the kernel's prandom_u32().
#[inline]
fn next_u32(state: &mut u64) -> u32 {
    let mut x = *state;
    x ^= x >> 12;
    x ^= x << 25;
    x ^= x >> 27;
    *state = x;
    (x.wrapping_mul(0x2545_F491_4F6C_DD1D) >> 32) as u32
}

/// ip_vs_rr_schedule: the first usable server after the last one picked, wrapping once.
/// O(n) worst case, O(1) when servers are usable.
#[inline]
fn pick_rr<L: DestLoads + ?Sized>(dests: &[W], loads: &L, last: &mut usize) -> Option<usize> {
    let n = dests.len();
    let start = if *last >= n { 0 } else { *last + 1 };
    let found = (start..n)
        .find(|&i| usable(&dests[i], &loads.load(i)))
        .or_else(|| (0..start.min(n)).find(|&i| usable(&dests[i], &loads.load(i))));
    if let Some(i) = found {
        *last = i;
    }
    found
}

/// ip_vs_wrr_schedule, pass by pass: the current weight `cw` steps down from `mw` by the
/// gcd `di` to 1, and each pass takes the servers whose weight is >= cw. Overloaded (and
/// unavailable) servers are skipped; the `stop` logic ends the search after every server
/// was checked at the lowest weight. O(n) amortised, O(n * mw/di) worst case.
#[inline]
fn pick_wrr<L: DestLoads + ?Sized>(
    dests: &[W],
    loads: &L,
    di: i64,
    mw: i64,
    cl: &mut usize,
    cw: &mut i64,
) -> Option<usize> {
    let n = dests.len();
    if mw <= 0 || n == 0 {
        return None;
    }
    if *cl != HEAD && *cl >= n {
        *cl = HEAD;
    }
    let last = *cl;
    let mut from = if last == HEAD { 0 } else { last + 1 };
    let mut stop = HEAD;
    let mut last_pass = false;
    let mut restarted = false;
    loop {
        for (i, d) in dests.iter().enumerate().skip(from) {
            let l = loads.load(i);
            if !l.overloaded && l.available && i64::from(d.weight) >= *cw {
                *cl = i;
                return Some(i);
            }
            if i == stop {
                *cl = i;
                return None;
            }
        }
        from = 0;
        *cw -= di;
        if *cw <= 0 {
            *cw = mw;
            if last_pass || last == HEAD {
                *cl = HEAD;
                return None;
            }
            restarted = true;
        }
        last_pass = *cw <= di;
        if last_pass && restarted && last != HEAD {
            // The first traversal covered only the servers after `last`; finish the
            // lowest-weight pass at `last` itself.
            stop = last;
        }
    }
}

/// ip_vs_lc_schedule: least overhead (active*256 + inactive); ties go to the first. O(n).
#[inline]
fn pick_lc<L: DestLoads + ?Sized>(dests: &[W], loads: &L) -> Option<usize> {
    let mut least: Option<(usize, u64)> = None;
    for (i, d) in dests.iter().enumerate() {
        let l = loads.load(i);
        if !usable(d, &l) {
            continue;
        }
        let doh = l.overhead();
        if least.is_none_or(|(_, loh)| doh < loh) {
            least = Some((i, doh));
        }
    }
    least.map(|(i, _)| i)
}

#[inline]
fn sed_overhead(l: &DestLoad) -> u64 {
    u64::from(l.active) + 1
}

/// ip_vs_wlc_schedule (and sed, and the lblc/lblcr fallback): the server minimising
/// overhead/weight, compared as loh * w(d) > doh * w(least); ties go to the first. O(n).
#[inline]
fn weighted_least<L: DestLoads + ?Sized>(
    dests: &[W],
    loads: &L,
    overhead: fn(&DestLoad) -> u64,
) -> Option<usize> {
    let mut iter = dests.iter().enumerate();
    let (mut least, mut loh) = loop {
        let (i, d) = iter.next()?;
        let l = loads.load(i);
        if usable(d, &l) {
            break (i, overhead(&l));
        }
    };
    for (i, d) in iter {
        let l = loads.load(i);
        if l.overloaded || !l.available {
            continue;
        }
        let doh = overhead(&l);
        // Weight-0 servers never win: loh * 0 > doh * w is false.
        if loh * u64::from(d.weight) > doh * u64::from(dests[least].weight) {
            least = i;
            loh = doh;
        }
    }
    Some(least)
}

/// ip_vs_nq_schedule: the first idle server (no active connection), else sed. O(n).
#[inline]
fn pick_nq<L: DestLoads + ?Sized>(dests: &[W], loads: &L) -> Option<usize> {
    let mut least: Option<(usize, u64)> = None;
    for (i, d) in dests.iter().enumerate() {
        let l = loads.load(i);
        if !usable(d, &l) {
            continue;
        }
        if l.active == 0 {
            return Some(i);
        }
        let doh = sed_overhead(&l);
        let better = match least {
            None => true,
            Some((li, loh)) => loh * u64::from(d.weight) > doh * u64::from(dests[li].weight),
        };
        if better {
            least = Some((i, doh));
        }
    }
    least.map(|(i, _)| i)
}

/// ip_vs_fo_schedule: the highest weight; ties go to the first. O(n).
#[inline]
fn pick_fo<L: DestLoads + ?Sized>(dests: &[W], loads: &L) -> Option<usize> {
    let mut best: Option<(usize, u16)> = None;
    for (i, d) in dests.iter().enumerate() {
        let l = loads.load(i);
        if usable(d, &l) && best.is_none_or(|(_, hw)| d.weight > hw) {
            best = Some((i, d.weight));
        }
    }
    best.map(|(i, _)| i)
}

/// ip_vs_ovf_schedule: the highest weight among servers whose active count does not
/// exceed their weight; ties go to the first. O(n).
#[inline]
fn pick_ovf<L: DestLoads + ?Sized>(dests: &[W], loads: &L) -> Option<usize> {
    let mut best: Option<(usize, u16)> = None;
    for (i, d) in dests.iter().enumerate() {
        let l = loads.load(i);
        if !usable(d, &l) || l.active > u32::from(d.weight) {
            continue;
        }
        if best.is_none_or(|(_, hw)| d.weight > hw) {
            best = Some((i, d.weight));
        }
    }
    best.map(|(i, _)| i)
}

/// ip_vs_twos_schedule: two weighted random draws in [0, total weight], then the one with
/// the lower overhead/weight (choice 2 only if strictly better). O(n).
#[inline]
fn pick_twos<L: DestLoads + ?Sized>(dests: &[W], loads: &L, rng: &mut u64) -> Option<usize> {
    let mut total: u64 = 0;
    for (i, d) in dests.iter().enumerate() {
        if usable(d, &loads.load(i)) {
            total += u64::from(d.weight);
        }
    }
    if total == 0 {
        return None;
    }
    // "+1 so that the random weights are inclusive from 0 to total_weight".
    let total = total + 1;
    let mut r1 = (u64::from(next_u32(rng)) % total) as i64;
    let mut r2 = (u64::from(next_u32(rng)) % total) as i64;
    let mut c1: Option<(usize, u64, u64)> = None;
    let mut c2: Option<(usize, u64, u64)> = None;
    for (i, d) in dests.iter().enumerate() {
        let l = loads.load(i);
        if !usable(d, &l) {
            continue;
        }
        let w = i64::from(d.weight);
        r1 -= w;
        r2 -= w;
        if r1 <= 0 && c1.is_none() {
            c1 = Some((i, u64::from(d.weight), l.overhead()));
        }
        if r2 <= 0 && c2.is_none() {
            c2 = Some((i, u64::from(d.weight), l.overhead()));
        }
        if c1.is_some() && c2.is_some() {
            break;
        }
    }
    let (i1, w1, o1) = c1?;
    match c2 {
        Some((i2, w2, o2)) if w2 * o1 > w1 * o2 => Some(i2),
        _ => Some(i1),
    }
}

/// lblc/lblcr's `is_overloaded`: more active connections than weight while some other
/// server is below half its weight. O(1) unless active > weight, then O(n).
#[inline]
fn locality_overloaded<L: DestLoads + ?Sized>(dests: &[W], loads: &L, i: usize) -> bool {
    let (Some(d), l) = (dests.get(i), loads.load(i)) else {
        return true;
    };
    if l.active <= u32::from(d.weight) {
        return false;
    }
    dests.iter().enumerate().any(|(j, dj)| {
        let lj = loads.load(j);
        lj.available && u64::from(lj.active) * 2 < u64::from(dj.weight)
    })
}

/// ip_vs_lblc_schedule: the cached server for the packet's destination address if it is
/// available, weighted and not locality-overloaded (the kernel does not check the
/// OVERLOAD flag here), else wlc and cache the result. O(1) on a hit, O(n) on a miss.
#[inline]
fn pick_lblc<L: DestLoads + ?Sized>(
    dests: &[W],
    loads: &L,
    cache: &mut Cache<u32>,
    flow: &FlowKey,
    now: u64,
) -> Option<usize> {
    if let Some(&mut d) = cache.get(&flow.dst_addr, now) {
        let i = d as usize;
        if let Some(dest) = dests.get(i) {
            if loads.load(i).available && dest.weight > 0 && !locality_overloaded(dests, loads, i) {
                return Some(i);
            }
        }
    }
    let i = weighted_least(dests, loads, DestLoad::overhead)?;
    cache.insert(flow.dst_addr, now, i as u32);
    Some(i)
}

/// `ip_vs_dest_set_min`: weighted least-connection member that is available and not
/// overloaded.
fn set_min<L: DestLoads + ?Sized>(dests: &[W], loads: &L, set: &DestSet) -> Option<usize> {
    let mut iter = set.as_slice().iter().map(|&d| d as usize);
    let (mut least, mut loh) = loop {
        let i = iter.next()?;
        let (Some(d), l) = (dests.get(i), loads.load(i)) else {
            continue;
        };
        if !l.overloaded && d.weight > 0 && l.available {
            break (i, l.overhead());
        }
    };
    for i in iter {
        let (Some(d), l) = (dests.get(i), loads.load(i)) else {
            continue;
        };
        if l.overloaded {
            continue;
        }
        let doh = l.overhead();
        if loh * u64::from(d.weight) > doh * u64::from(dests[least].weight) && l.available {
            least = i;
            loh = doh;
        }
    }
    Some(least)
}

/// `ip_vs_dest_set_max`: weighted most-connection member with a non-zero weight.
fn set_max<L: DestLoads + ?Sized>(dests: &[W], loads: &L, set: &DestSet) -> Option<usize> {
    let mut iter = set.as_slice().iter().map(|&d| d as usize);
    let (mut most, mut moh) = loop {
        let i = iter.next()?;
        if dests.get(i).is_some_and(|d| d.weight > 0) {
            break (i, loads.load(i).overhead());
        }
    };
    for i in iter {
        let Some(d) = dests.get(i) else { continue };
        let doh = loads.load(i).overhead();
        if moh * u64::from(d.weight) < doh * u64::from(dests[most].weight) && d.weight > 0 {
            most = i;
            moh = doh;
        }
    }
    Some(most)
}

/// ip_vs_lblcr_schedule: the least loaded member of the destination address's server
/// set; a set of several members that has not changed for `expiration` drops its most
/// loaded member; when the chosen member is locality-overloaded (or none is usable), wlc
/// picks a server that joins the set. O(set) on a hit, O(n) on a miss.
#[inline]
fn pick_lblcr<L: DestLoads + ?Sized>(
    dests: &[W],
    loads: &L,
    cache: &mut Cache<DestSet>,
    flow: &FlowKey,
    now: u64,
    expiration: u64,
) -> Option<usize> {
    if let Some(set) = cache.get(&flow.dst_addr, now) {
        let dest = set_min(dests, loads, set);
        if set.len > 1 && now > set.lastmod.saturating_add(expiration) {
            if let Some(m) = set_max(dests, loads, set) {
                set.erase(m as u32, now);
            }
        }
        if let Some(i) = dest {
            if !locality_overloaded(dests, loads, i) {
                return Some(i);
            }
        }
        let i = weighted_least(dests, loads, DestLoad::overhead)?;
        set.insert(i as u32, now);
        return Some(i);
    }
    let i = weighted_least(dests, loads, DestLoad::overhead)?;
    cache.insert(flow.dst_addr, now, DestSet::single(i as u32, now));
    Some(i)
}

/// ip_vs_dh_schedule: bucket (folded destination address * 2654435761) & 255; fails if
/// that server is unavailable, weight 0 or overloaded. O(1).
#[inline]
fn pick_dh<L: DestLoads + ?Sized>(
    dests: &[W],
    loads: &L,
    table: &[u32; HASH_TAB_SIZE],
    flow: &FlowKey,
) -> Option<usize> {
    let b = addr_fold(&flow.dst_addr).wrapping_mul(2_654_435_761) & HASH_TAB_MASK;
    let i = table[b as usize] as usize;
    let d = dests.get(i)?;
    usable(d, &loads.load(i)).then_some(i)
}

#[inline]
fn sh_hashkey(addr: &IpAddr, port: u16, offset: u32) -> usize {
    let h = hash_32(u32::from(port).wrapping_add(addr_fold(addr)), HASH_TAB_BITS);
    (offset.wrapping_add(h) & HASH_TAB_MASK) as usize
}

/// ip_vs_sh_schedule: bucket hash_32(source port (sh-port) + folded source address);
/// with sh-fallback, walk the table (offsets 0..255 re-hashed) to the first usable
/// server. O(1), O(256) worst case with fallback.
#[inline]
fn pick_sh<L: DestLoads + ?Sized>(
    dests: &[W],
    loads: &L,
    table: &[u32; HASH_TAB_SIZE],
    flow: &FlowKey,
    flags: SchedFlags,
) -> Option<usize> {
    let port = if flags.port { flow.hash_port() } else { 0 };
    let addr = &flow.src_addr;
    let ok = |i: usize| dests.get(i).is_some_and(|d| usable(d, &loads.load(i)));
    let ihash = sh_hashkey(addr, port, 0);
    let i = table[ihash];
    if i == EMPTY {
        return None;
    }
    if ok(i as usize) {
        return Some(i as usize);
    }
    if !flags.fallback {
        return None;
    }
    for offset in 0..HASH_TAB_SIZE as u32 {
        let roffset = (offset + ihash as u32) & HASH_TAB_MASK;
        let i = table[sh_hashkey(addr, port, roffset)];
        if i == EMPTY {
            break;
        }
        if ok(i as usize) {
            return Some(i as usize);
        }
    }
    None
}

/// ip_vs_mh_schedule: lookup[hsiphash(source port (mh-port) + folded source address) % M];
/// with mh-fallback, re-hash with offsets 0..M-1 to the first usable server. O(1),
/// O(M) worst case with fallback.
#[inline]
fn pick_mh<L: DestLoads + ?Sized>(
    dests: &[W],
    loads: &L,
    table: &[u32],
    flow: &FlowKey,
    flags: SchedFlags,
) -> Option<usize> {
    let size = table.len() as u32;
    if size == 0 {
        return None;
    }
    let port = if flags.port { flow.hash_port() } else { 0 };
    let addr = &flow.src_addr;
    let ok = |i: usize| dests.get(i).is_some_and(|d| usable(d, &loads.load(i)));
    let ihash = maglev::mh_hashkey(addr, port, maglev::HASH1, 0) % size;
    let i = table[ihash as usize];
    if i == EMPTY {
        return None;
    }
    if ok(i as usize) {
        return Some(i as usize);
    }
    if !flags.fallback {
        return None;
    }
    for offset in 0..size {
        let roffset = (offset + ihash) % size;
        let h = maglev::mh_hashkey(addr, port, maglev::HASH1, roffset) % size;
        let i = table[h as usize];
        if i == EMPTY {
            break;
        }
        if ok(i as usize) {
            return Some(i as usize);
        }
    }
    None
}
