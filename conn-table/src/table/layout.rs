//! The table itself: its arrays (connection slab, IPv6 side slab, index,
//! template slab and index, timer wheels, per-real-server counts), how they are
//! sized and reserved up front, the hash that places a key in the index, and
//! the table's settings and counts.

use core::hash::BuildHasher;

use hashbrown::{DefaultHashBuilder, HashTable};

use super::config::{Config, ConfigError};
use super::entry::{Conn, Template, F_LIVE};
use super::records::{ConnId, MemoryUsage, RsCounts, TableStats, TemplateId};
use crate::index::{Index, Probe};
use crate::state::Timeouts;
use crate::tuple::{HashSeed, Key};
use crate::wheel::{Link, Linked, Wheel, NIL};

/// The connection slab, whose entries carry their timer-wheel links.
pub(super) struct ConnSlab(pub(super) Vec<Conn>);
impl Linked for ConnSlab {
    #[inline]
    fn link_mut(&mut self, i: u32) -> &mut Link {
        &mut self.0[i as usize].link
    }
}

/// The template slab, whose entries carry their timer-wheel links.
pub(super) struct TplSlab(pub(super) Vec<Template>);
impl Linked for TplSlab {
    #[inline]
    fn link_mut(&mut self, i: u32) -> &mut Link {
        &mut self.0[i as usize].link
    }
}

/// Per-worker IPVS connection table. See the crate documentation.
pub struct ConnTable {
    pub(super) conns: ConnSlab,
    pub(super) free: u32,
    pub(super) len: usize,
    pub(super) capacity: usize,
    pub(super) v6: Vec<[u128; 4]>,
    pub(super) v6_free: u32,
    pub(super) v6_len: usize,
    pub(super) v6_capacity: usize,
    pub(super) index: Index,
    pub(super) seed: HashSeed,
    pub(super) hasher: DefaultHashBuilder,
    pub(super) wheel: Wheel,
    pub(super) tpls: TplSlab,
    pub(super) tpl_free: u32,
    pub(super) tpl_len: usize,
    pub(super) tpl_capacity: usize,
    pub(super) tpl_index: HashTable<u32>,
    pub(super) tpl_wheel: Wheel,
    pub(super) counts: Vec<RsCounts>,
    pub(super) timeouts: Timeouts,
    pub(super) secure_tcp: bool,
    pub(super) stats: TableStats,
    /// The caller's prefetch instruction, if it gave one.
    pub(super) prefetcher: Option<fn(*const u8)>,
}

/// Four keys for [`Key::hash`] from a randomly keyed builder.
fn new_seed(h: &DefaultHashBuilder) -> HashSeed {
    HashSeed([0u64, 1, 2, 3].map(|i| h.hash_one(i) | 1))
}

impl ConnTable {
    /// An empty table; `now_ms` is the caller's monotonic clock in
    /// milliseconds (the same clock every later call must use).
    pub fn new(cfg: Config, now_ms: u64) -> Result<ConnTable, ConfigError> {
        Self::with_memory_advice(cfg, now_ms, |_, _| {})
    }

    /// [`ConnTable::new`], calling `advise(address, length)` for each of the
    /// large arrays (connection slab, IPv6 side slab, index) after it is
    /// reserved and before any of it is written, so the caller can back
    /// them with huge pages (e.g. `madvise(MADV_HUGEPAGE)`): at millions of
    /// connections every lookup otherwise misses the TLB as well as the
    /// caches. The address is only reported, never dereferenced by the
    /// caller's contract with this crate; the arrays never move afterwards.
    pub fn with_memory_advice(
        cfg: Config,
        now_ms: u64,
        mut advise: impl FnMut(*const u8, usize),
    ) -> Result<ConnTable, ConfigError> {
        cfg.validate()?;
        let tick = u64::from(cfg.tick_ms);
        let slots = cfg.wheel_slots as usize;
        let conns: Vec<Conn> = Vec::with_capacity(cfg.capacity as usize);
        advise(
            conns.as_ptr().cast(),
            conns.capacity() * core::mem::size_of::<Conn>(),
        );
        let v6: Vec<[u128; 4]> = Vec::with_capacity(cfg.ipv6_capacity as usize);
        advise(
            v6.as_ptr().cast(),
            v6.capacity() * core::mem::size_of::<[u128; 4]>(),
        );
        // Two index entries per connection, sized now: a rehash of millions
        // of entries would stall the worker for a long time.
        let index = Index::new(cfg.capacity as usize * 2, &mut advise);
        // hashbrown's builder is randomly keyed; the index hash takes its keys from it.
        let hasher = DefaultHashBuilder::default();
        Ok(ConnTable {
            conns: ConnSlab(conns),
            free: NIL,
            len: 0,
            capacity: cfg.capacity as usize,
            v6,
            v6_free: NIL,
            v6_len: 0,
            v6_capacity: cfg.ipv6_capacity as usize,
            index,
            seed: new_seed(&hasher),
            hasher,
            wheel: Wheel::new(slots, tick, now_ms),
            tpls: TplSlab(Vec::with_capacity(cfg.max_templates as usize)),
            tpl_free: NIL,
            tpl_len: 0,
            tpl_capacity: cfg.max_templates as usize,
            tpl_index: HashTable::with_capacity(cfg.max_templates as usize),
            tpl_wheel: Wheel::new(slots, tick, now_ms),
            counts: vec![RsCounts::default(); cfg.max_real_servers as usize],
            timeouts: Timeouts::default(),
            secure_tcp: false,
            stats: TableStats::default(),
            prefetcher: None,
        })
    }

    #[inline]
    pub(super) fn probe(&self, k: &Key) -> Probe {
        self.index.probe(k.hash(&self.seed))
    }

    /// Number of live connections.
    pub fn len(&self) -> usize {
        self.len
    }

    /// Whether the table holds no connection.
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// Most connections the table holds.
    pub fn capacity(&self) -> usize {
        self.capacity
    }

    /// Number of live persistence templates (invalidated ones included until
    /// they expire).
    pub fn templates_len(&self) -> usize {
        self.tpl_len
    }

    /// Table-wide counters.
    pub fn stats(&self) -> TableStats {
        self.stats
    }

    /// Current timeouts.
    pub fn timeouts(&self) -> Timeouts {
        self.timeouts
    }

    /// Replace the timeouts. Existing connections keep their current expiry
    /// and take the new values at their next packet, as in IPVS.
    pub fn set_timeouts(&mut self, t: Timeouts) {
        self.timeouts = t;
    }

    /// ipvsadm `--set tcp tcpfin udp` (0 leaves a value unchanged).
    pub fn set_ipvsadm_timeouts(&mut self, tcp: u32, tcpfin: u32, udp: u32) {
        self.timeouts.set_ipvsadm(tcp, tcpfin, udp);
    }

    /// Switch between the normal and the `secure_tcp` (DoS) TCP state table.
    pub fn set_secure_tcp(&mut self, on: bool) {
        self.secure_tcp = on;
    }

    /// Whether the `secure_tcp` table is in use.
    pub fn secure_tcp(&self) -> bool {
        self.secure_tcp
    }

    /// Active/inactive/persistent counts of a real server (zero for an id
    /// out of range).
    pub fn rs_counts(&self, rs: u32) -> RsCounts {
        self.counts.get(rs as usize).copied().unwrap_or_default()
    }

    /// Counts of every real server, indexed by id.
    pub fn all_rs_counts(&self) -> &[RsCounts] {
        &self.counts
    }

    /// Make real-server ids `0..n` usable (the configuration grew). Allocates when the
    /// table grows, so it is called when a new configuration is adopted, never per packet.
    pub fn reserve_real_servers(&mut self, n: u32) {
        if n as usize > self.counts.len() {
            self.counts.resize(n as usize, RsCounts::default());
        }
    }

    /// The entry of `id` if it is a live connection.
    pub(super) fn conn_live(&self, id: ConnId) -> Option<&Conn> {
        self.conns
            .0
            .get(id.0 as usize)
            .filter(|c| c.flags & F_LIVE != 0)
    }

    /// The entry of `id` if it is a live template.
    pub(super) fn template_live(&self, id: TemplateId) -> Option<&Template> {
        self.tpls.0.get(id.0 as usize).filter(|t| t.live)
    }

    /// Bytes reserved by the table (allocated capacity, whether touched or
    /// not).
    pub fn memory_usage(&self) -> MemoryUsage {
        use core::mem::size_of;
        MemoryUsage {
            slab: self.conns.0.capacity() * size_of::<Conn>(),
            ipv6: self.v6.capacity() * size_of::<[u128; 4]>(),
            index: self.index.allocation_size(),
            templates: self.tpls.0.capacity() * size_of::<Template>()
                + self.tpl_index.allocation_size(),
            other: (self.wheel.slots() + self.tpl_wheel.slots()) * size_of::<u32>()
                + self.counts.capacity() * size_of::<RsCounts>(),
        }
    }

    /// Size of one connection entry in the slab, in bytes.
    pub const ENTRY_SIZE: usize = core::mem::size_of::<Conn>();
}
