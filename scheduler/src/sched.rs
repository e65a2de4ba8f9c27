//! The scheduler: build (control thread) and pick (worker, allocation-free).
//!
//! This file holds the [`Scheduler`] type, its per-worker [`SchedState`] and the
//! dispatch from the algorithm to its picker; the pickers, one file per family of
//! schedulers, are in `crate::pick`.

use crate::dest::{DestLoad, DestLoads, Destination};
use crate::flow::FlowKey;
use crate::kind::{SchedFlags, SchedulerKind};
use crate::locality::{Cache, DestSet, LocalityParams};
use crate::maglev::{self, EMPTY};
use crate::pick::hash::{dh_table, pick_dh, pick_mh, pick_sh, sh_table, HASH_TAB_SIZE};
use crate::pick::least::{pick_fo, pick_lc, pick_nq, pick_ovf, sed_overhead, weighted_least};
use crate::pick::locality::{pick_lblc, pick_lblcr};
use crate::pick::rr::{pick_rr, pick_wrr, wrr_params, HEAD};
use crate::pick::twos::{pick_twos, splitmix64};
use crate::pick::weight::W;
use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::Arc;

/// Options of a virtual service that shape its scheduler.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct SchedOptions {
    /// `sh-fallback`/`sh-port`/`mh-fallback`/`mh-port`.
    pub flags: SchedFlags,
    /// Maglev lookup table size: one of the kernel's primes ([`crate::MH_TABLE_SIZES`],
    /// 251 ... 131071), at least the number of real servers. Default
    /// [`crate::MH_TABLE_SIZE`] (4093, the stock kernel's CONFIG_IP_VS_MH_TAB_INDEX=12).
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
    /// The Maglev table size is not one of the kernel's primes.
    #[error("mh table size {0} is not one of the kernel's sizes 251, 509, 1021, 2039, 4093, 8191, 16381, 32749, 65521, 131071")]
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
/// [`Scheduler::carry_state`]) does not copy a Maglev table (16 KiB at the default
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

impl Scheduler {
    /// Largest destination list (indices are stored as `u32`, with one value reserved).
    pub const MAX_DESTS: usize = u32::MAX as usize - 1;

    /// Value of an empty slot in [`Scheduler::hash_table`].
    pub const NO_DEST: u32 = EMPTY;

    /// Builds the scheduler of a virtual service over `dests` in the kernel's destination
    /// list order, which decides rr/wrr sequences, first-wins ties and the dh/sh/mh table
    /// layouts. The kernel adds a new real server at the head of its service's list
    /// (`list_add_rcu` in `ip_vs_add_dest`), so a caller holding real servers in the order
    /// they were added (a configuration file) passes them reversed, newest first.
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
                let (di, mw) = wrr_params(dests);
                Algo::Wrr { di, mw }
            }
            SchedulerKind::Dh => Algo::Dh(Arc::new(dh_table(n))),
            SchedulerKind::Sh => Algo::Sh(Arc::new(sh_table(dests))),
            SchedulerKind::Mh => {
                let size = opts.mh_table_size;
                if maglev::tab_bits(size).is_none() {
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

    /// This scheduler with each real server's `last_weight` continued from `prev`, the
    /// previous version of the same service, as the kernel keeps it (`__ip_vs_update_dest`
    /// sets `last_weight` when a server is added, and on an edit only to a non-zero
    /// weight): a server still present whose weight went to 0 keeps the last non-zero
    /// weight it had, so `mh` keeps its table slots instead of handing its flows to the
    /// others. `None` when nothing changes (no rebuild needed).
    pub fn continue_last_weights(&self, prev: &Scheduler) -> Option<Scheduler> {
        let before: HashMap<(IpAddr, u16), u16> = prev
            .dests
            .iter()
            .map(|d| ((d.addr, d.port), d.last_weight))
            .collect();
        let mut dests = self.dests.to_vec();
        let mut changed = false;
        for d in dests.iter_mut().filter(|d| d.weight == 0) {
            if let Some(&lw) = before.get(&(d.addr, d.port)) {
                changed |= d.last_weight != lw;
                d.last_weight = lw;
            }
        }
        // Built before with the same options and no more servers: it cannot fail now.
        changed
            .then(|| Scheduler::build(self.kind, &dests, self.opts).ok())
            .flatten()
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
    /// when that server left, its nearest surviving predecessor in the list, as
    /// `ip_vs_rr_del_dest` moves to the deleted server's predecessor); wrr keeps its whole
    /// position when the service's real servers are unchanged, else restarts at the list
    /// head with its current weight adjusted as `ip_vs_wrr_dest_changed` does; twos keeps
    /// its RNG; lblc/lblcr keep their cache entries remapped to the new indices (members
    /// that left are dropped). Falls back to [`Scheduler::new_state`] when the algorithm
    /// changed.
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
        // An index of `prev` -> the same real server's index here.
        let remap = |old: usize| -> Option<u32> {
            let d = prev.dests.get(old)?;
            index.get(&(d.addr, d.port)).copied()
        };
        let mut fresh = self.new_state(seed);
        match (&mut fresh.0, &prev_state.0) {
            (State::Rr { last }, State::Rr { last: old }) if *old != HEAD => {
                // The last pick, else the nearest predecessor that is still listed.
                *last = (0..=(*old).min(prev.dests.len().saturating_sub(1)))
                    .rev()
                    .find_map(remap)
                    .map_or(HEAD, |p| p as usize);
            }
            (
                State::Wrr { cl, cw },
                State::Wrr {
                    cl: old_cl,
                    cw: old_cw,
                },
            ) => {
                if prev.dests == self.dests {
                    // The kernel resets wrr only when this service's servers change.
                    (*cl, *cw) = (*old_cl, *old_cw);
                } else if let Algo::Wrr { di, mw } = self.algo {
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
                    if let Some(nd) = remap(d as usize) {
                        cache.restore(key, lastuse, nd);
                    }
                }
            }
            (State::Lblcr(cache), State::Lblcr(old)) => {
                for (key, lastuse, set) in old.entries() {
                    let mut kept: Option<DestSet> = None;
                    // Re-insert oldest first so the list order is preserved.
                    for &d in set.as_slice().iter().rev() {
                        if let Some(nd) = remap(d as usize) {
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
