//! The per-worker connection table.

use core::hash::BuildHasher;

use hashbrown::{DefaultHashBuilder, HashTable};

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use crate::error::{ConfigError, InsertError};
use crate::index::{Index, Probe};
use crate::state::{
    tcp_next, ConnState, TableDir, TcpFlags, TcpState, Timeouts, INITIAL_TIMEOUT_S,
};
use crate::tuple::{
    addr_from, hash_v4, pack_ports, proto, Direction, HashSeed, Key, Method, TKey, TemplateKey,
    Tuple,
};
use crate::wheel::{Link, Linked, Wheel, NIL};

/// A template whose timer fires while it still controls connections is
/// checked again this many seconds later (`expire_later` in
/// `ip_vs_conn_expire` sets `cp->timeout = 60*HZ`).
pub const TEMPLATE_RECHECK_S: u32 = 60;

/// Largest capacity: slab indexes keep one bit for the direction.
pub const MAX_CAPACITY: u32 = (1 << 31) - 1;

/// Sizing of a [`ConnTable`]. Everything is allocated up front, so neither
/// inserts nor lookups ever allocate or rehash on the packet path.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Config {
    /// Most connections the table holds; more are refused with
    /// [`InsertError::Full`].
    pub capacity: u32,
    /// Most IPv6 connections (each takes a 64-byte side slot for its
    /// addresses on top of its entry). At most `capacity`.
    pub ipv6_capacity: u32,
    /// Most persistence templates.
    pub max_templates: u32,
    /// Real server ids run from 0 to `max_real_servers - 1`; the table keeps
    /// active/inactive/persistent counts for each.
    pub max_real_servers: u32,
    /// Timer wheel granularity in milliseconds: expiry happens at most one
    /// tick late.
    pub tick_ms: u32,
    /// Number of wheel slots, a power of two; `tick_ms * wheel_slots` should
    /// exceed the longest timeout to avoid re-arming (it stays correct if not).
    pub wheel_slots: u32,
}

impl Default for Config {
    fn default() -> Self {
        Config {
            capacity: 1 << 20,
            ipv6_capacity: 1 << 20,
            max_templates: 1 << 16,
            max_real_servers: 4096,
            tick_ms: 100,
            wheel_slots: 16384,
        }
    }
}

/// Handle of a connection: its slab slot. Valid from the `insert` or
/// `lookup` that returned it until the connection is removed or expired (a
/// later connection may reuse the slot), so use it within the processing of
/// one packet or one control request.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ConnId(pub u32);

/// Handle of a persistence template, valid like a [`ConnId`].
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct TemplateId(pub u32);

/// Connection flags visible to callers (a subset of `IP_VS_CONN_F_*`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Default)]
pub struct ConnFlags(pub u8);

impl ConnFlags {
    /// Counted in its real server's inactive connections
    /// (`IP_VS_CONN_F_INACTIVE`).
    pub const INACTIVE: ConnFlags = ConnFlags(F_INACTIVE);
    /// No reply seen yet on a DR/TUN connection: the state machine uses the
    /// input-only table (`IP_VS_CONN_F_NOOUTPUT`).
    pub const NO_OUTPUT: ConnFlags = ConnFlags(F_NO_OUTPUT);

    /// Whether every bit of `other` is set.
    pub const fn contains(self, other: ConnFlags) -> bool {
        self.0 & other.0 == other.0
    }
}

const F_INACTIVE: u8 = 0x01;
const F_NO_OUTPUT: u8 = 0x02;
const F_PUBLIC: u8 = F_INACTIVE | F_NO_OUTPUT;
const F_HAS_REPLY: u8 = 0x20;
const F_V6: u8 = 0x40;
const F_LIVE: u8 = 0x80;
const T_HASHED: u8 = 0x01;

/// What a new connection is made of; both tuples come from the caller (the
/// dataplane knows the rewrite it will apply).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct NewConn {
    /// The tuple of the client's packets as they arrive (client -> VIP).
    pub original: Tuple,
    /// The tuple of the packets that come back: RS -> client for NAT,
    /// RS -> local address for FULLNAT. `None` for DR/TUN, whose replies
    /// never reach the director, which saves an index entry.
    pub reply: Option<Tuple>,
    /// Real server id (`< Config::max_real_servers`).
    pub rs: u32,
    /// Virtual service id.
    pub svc: u32,
    /// Forwarding method.
    pub method: Method,
    /// The persistence template that chose `rs`, if any: it is then kept
    /// alive at least as long as this connection.
    pub template: Option<TemplateId>,
}

/// Packet and byte counters of a connection, per [`Direction`].
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub struct Counters {
    /// Packets, indexed by `Direction as usize`.
    pub packets: [u64; 2],
    /// Bytes, indexed by `Direction as usize`.
    pub bytes: [u64; 2],
}

/// A connection as plain data, for the dataplane's rewrite and for listings
/// (`ipvsadm -Lnc`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ConnInfo {
    /// Its handle.
    pub id: ConnId,
    /// Client -> virtual service tuple.
    pub original: Tuple,
    /// Reply tuple, if indexed.
    pub reply: Option<Tuple>,
    /// Real server id.
    pub rs: u32,
    /// Virtual service id.
    pub svc: u32,
    /// Forwarding method.
    pub method: Method,
    /// Protocol state.
    pub state: ConnState,
    /// Flags.
    pub flags: ConnFlags,
    /// Milliseconds until expiry (0 if already due).
    pub expires_in_ms: u64,
    /// Counters.
    pub counters: Counters,
    /// Controlling persistence template.
    pub template: Option<TemplateId>,
}

/// A live connection borrowed from its table ([`ConnTable::conn`]): the packet path reads
/// the few fields it needs (method, real server, the rewrite target, state) straight from
/// the entry, where [`ConnTable::get`] copies the whole record into a [`ConnInfo`] and
/// rebuilds both tuples. Valid while the table is not changed, which the borrow enforces.
#[derive(Clone, Copy, Debug)]
pub struct ConnRef<'a> {
    id: u32,
    c: &'a Conn,
    v6: &'a [[u128; 4]],
}

impl<'a> ConnRef<'a> {
    /// Its handle.
    #[inline]
    pub fn id(&self) -> ConnId {
        ConnId(self.id)
    }

    /// Real server id.
    #[inline]
    pub fn rs(&self) -> u32 {
        self.c.rs
    }

    /// Virtual service id.
    #[inline]
    pub fn svc(&self) -> u32 {
        self.c.svc
    }

    /// Forwarding method.
    #[inline]
    pub fn method(&self) -> Method {
        Method::from_u8(self.c.method)
    }

    /// Protocol state.
    #[inline]
    pub fn state(&self) -> ConnState {
        self.c.state()
    }

    /// Flags.
    #[inline]
    pub fn flags(&self) -> ConnFlags {
        ConnFlags(self.c.flags & F_PUBLIC)
    }

    /// Controlling persistence template.
    #[inline]
    pub fn template(&self) -> Option<TemplateId> {
        (self.c.template != NIL).then_some(TemplateId(self.c.template))
    }

    /// Packets seen in `dir`.
    #[inline]
    pub fn packets(&self, dir: Direction) -> u64 {
        self.c.counters[dir as usize * 2]
    }

    /// Bytes seen in `dir`.
    #[inline]
    pub fn bytes(&self, dir: Direction) -> u64 {
        self.c.counters[dir as usize * 2 + 1]
    }

    /// What the director adds to the client's TCP sequence numbers on the way to the
    /// real server, and takes from the real server's acknowledgements on the way back
    /// (FULLNAT; 0 until [`ConnTable::set_seq_delta`]).
    #[inline]
    pub fn seq_delta(&self) -> u32 {
        self.c.seq_delta
    }

    /// Whether the connection has an indexed reply tuple (not DR/TUN).
    #[inline]
    pub fn has_reply(&self) -> bool {
        self.c.flags & F_HAS_REPLY != 0
    }

    /// Address and port at position `k` of the entry (0 original source, 1 original
    /// destination, 2 reply source, 3 reply destination).
    #[inline]
    fn endpoint(&self, k: usize) -> (IpAddr, u16) {
        let a = if self.c.flags & F_V6 != 0 {
            IpAddr::V6(Ipv6Addr::from(self.v6[self.c.addrs[0] as usize][k]))
        } else {
            IpAddr::V4(Ipv4Addr::from(self.c.addrs[k]))
        };
        (a, self.c.ports[k])
    }

    /// [`ConnRef::src`] of an IPv4 connection, without the family dispatch: `None` for
    /// an IPv6 one too (the IPv4 packet path).
    #[inline]
    pub fn src_v4(&self, dir: Direction) -> Option<(Ipv4Addr, u16)> {
        self.endpoint_v4(dir, dir as usize * 2)
    }

    /// [`ConnRef::dst`] of an IPv4 connection (`None` for an IPv6 one too).
    #[inline]
    pub fn dst_v4(&self, dir: Direction) -> Option<(Ipv4Addr, u16)> {
        self.endpoint_v4(dir, dir as usize * 2 + 1)
    }

    /// [`ConnRef::src`] of an IPv6 connection (`None` for an IPv4 one too).
    #[inline]
    pub fn src_v6(&self, dir: Direction) -> Option<(Ipv6Addr, u16)> {
        self.endpoint_v6(dir, dir as usize * 2)
    }

    /// [`ConnRef::dst`] of an IPv6 connection (`None` for an IPv4 one too).
    #[inline]
    pub fn dst_v6(&self, dir: Direction) -> Option<(Ipv6Addr, u16)> {
        self.endpoint_v6(dir, dir as usize * 2 + 1)
    }

    /// Whether the entry keeps `dir`'s tuple (the reply's only with [`Self::has_reply`]).
    #[inline]
    fn keeps(&self, dir: Direction) -> bool {
        dir == Direction::Original || self.has_reply()
    }

    #[inline]
    fn endpoint_v4(&self, dir: Direction, k: usize) -> Option<(Ipv4Addr, u16)> {
        let known = self.c.flags & F_V6 == 0 && self.keeps(dir);
        known.then(|| (Ipv4Addr::from(self.c.addrs[k]), self.c.ports[k]))
    }

    #[inline]
    fn endpoint_v6(&self, dir: Direction, k: usize) -> Option<(Ipv6Addr, u16)> {
        if self.c.flags & F_V6 == 0 || !self.keeps(dir) {
            return None;
        }
        let a = self.v6.get(self.c.addrs[0] as usize)?;
        Some((Ipv6Addr::from(a[k]), self.c.ports[k]))
    }

    /// Source address and port of `dir`'s tuple (`None` for the reply of a connection
    /// without one). For a NAT connection the reply source is the real server.
    #[inline]
    pub fn src(&self, dir: Direction) -> Option<(IpAddr, u16)> {
        self.keeps(dir).then(|| self.endpoint(dir as usize * 2))
    }

    /// Destination address and port of `dir`'s tuple (`None` for the reply of a
    /// connection without one). For FULLNAT the reply destination is the local address.
    #[inline]
    pub fn dst(&self, dir: Direction) -> Option<(IpAddr, u16)> {
        self.keeps(dir).then(|| self.endpoint(dir as usize * 2 + 1))
    }

    /// Client -> virtual service tuple.
    pub fn original(&self) -> Tuple {
        tuple_of(self.c, self.v6, 0)
    }

    /// Reply tuple, if indexed.
    pub fn reply(&self) -> Option<Tuple> {
        self.has_reply().then(|| tuple_of(self.c, self.v6, 1))
    }

    /// The whole record as plain data (what [`ConnTable::get`] returns).
    pub fn info(&self, now_ms: u64) -> ConnInfo {
        info_of(self.id, self.c, self.v6, now_ms)
    }
}

/// A persistence template as plain data.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct TemplateInfo {
    /// Its handle.
    pub id: TemplateId,
    /// Its key.
    pub key: TemplateKey,
    /// Real server the client is bound to.
    pub rs: u32,
    /// Persistence timeout, seconds.
    pub timeout_s: u32,
    /// Milliseconds until its timer fires (it is re-armed then while it
    /// still controls connections).
    pub expires_in_ms: u64,
    /// Number of live connections it controls.
    pub controlled: u32,
    /// Whether new connections can still find it (false once invalidated).
    pub hashed: bool,
}

/// Connection counts of one real server, as `ipvsadm -Ln` shows them.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub struct RsCounts {
    /// ActiveConn.
    pub active: u32,
    /// InActConn.
    pub inactive: u32,
    /// PersistConn: persistence templates bound to it.
    pub persistent: u32,
}

/// Table-wide counters.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub struct TableStats {
    /// Connection inserts refused because the table was full.
    pub refused_full: u64,
    /// Template creations refused because the template table was full.
    pub refused_templates_full: u64,
    /// Connections removed by expiry.
    pub expired: u64,
    /// Templates removed by expiry.
    pub templates_expired: u64,
}

/// Bytes reserved by a table, by part.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub struct MemoryUsage {
    /// Connection slab (capacity x entry size).
    pub slab: usize,
    /// IPv6 address side slab.
    pub ipv6: usize,
    /// Two-direction hash index.
    pub index: usize,
    /// Templates (slab and index).
    pub templates: usize,
    /// Timer wheels and per-real-server counts.
    pub other: usize,
}

impl MemoryUsage {
    /// Sum of all parts.
    pub const fn total(&self) -> usize {
        self.slab + self.ipv6 + self.index + self.templates + self.other
    }
}

/// Position in a listing; start with [`ListCursor::START`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ListCursor(pub u32);

impl ListCursor {
    /// The beginning of the table.
    pub const START: ListCursor = ListCursor(0);
}

/// One connection. 96 bytes: addresses inline for IPv4 (for IPv6, `addrs[0]`
/// is the index of its side slot). Everything a lookup compares (addresses,
/// ports, protocol, flags) is in the first 32 bytes, and entries are 32-byte
/// aligned, so a lookup reads one cache line of the entry.
#[derive(Clone, Copy, Debug)]
#[repr(C, align(32))]
struct Conn {
    /// original.src, original.dst, reply.src, reply.dst.
    addrs: [u32; 4],
    /// Ports in the same order.
    ports: [u16; 4],
    proto: u8,
    flags: u8,
    state: u8,
    method: u8,
    template: u32,
    expires: u64,
    /// packets original, bytes original, packets reply, bytes reply.
    counters: [u64; 4],
    rs: u32,
    svc: u32,
    link: Link,
    /// FULLNAT TCP: what the director adds to the client's sequence numbers on the way
    /// to the real server (in the entry's last 4 bytes, which were padding).
    seq_delta: u32,
}

const _: () = assert!(core::mem::size_of::<Conn>() == 96);

impl Conn {
    const FREE: Conn = Conn {
        addrs: [0; 4],
        ports: [0; 4],
        expires: 0,
        counters: [0; 4],
        rs: 0,
        svc: 0,
        link: Link::UNLINKED,
        seq_delta: 0,
        template: NIL,
        proto: 0,
        state: 0,
        method: 0,
        flags: 0,
    };

    fn state(&self) -> ConnState {
        match self.proto {
            proto::TCP => ConnState::Tcp(TcpState::from_u8(self.state).unwrap_or(TcpState::Close)),
            proto::UDP => ConnState::Udp,
            proto::ICMP | proto::ICMPV6 => ConnState::Icmp,
            _ => ConnState::Other,
        }
    }
}

#[derive(Clone, Copy, Debug)]
struct Template {
    client: u128,
    expires: u64,
    svc: u32,
    rs: u32,
    timeout_s: u32,
    n_control: u32,
    link: Link,
    vport: u16,
    v6: bool,
    /// In use (not on the free list).
    live: bool,
    /// T_HASHED while new connections can find it.
    flags: u8,
}

impl Template {
    fn key(&self) -> TKey {
        TKey {
            client: self.client,
            svc: self.svc,
            vport: self.vport,
            v6: self.v6,
        }
    }
}

struct ConnSlab(Vec<Conn>);
impl Linked for ConnSlab {
    #[inline]
    fn link_mut(&mut self, i: u32) -> &mut Link {
        &mut self.0[i as usize].link
    }
}

struct TplSlab(Vec<Template>);
impl Linked for TplSlab {
    #[inline]
    fn link_mut(&mut self, i: u32) -> &mut Link {
        &mut self.0[i as usize].link
    }
}

/// Per-worker IPVS connection table. See the crate documentation.
pub struct ConnTable {
    conns: ConnSlab,
    free: u32,
    len: usize,
    capacity: usize,
    v6: Vec<[u128; 4]>,
    v6_free: u32,
    v6_len: usize,
    v6_capacity: usize,
    index: Index,
    seed: HashSeed,
    hasher: DefaultHashBuilder,
    wheel: Wheel,
    tpls: TplSlab,
    tpl_free: u32,
    tpl_len: usize,
    tpl_capacity: usize,
    tpl_index: HashTable<u32>,
    tpl_wheel: Wheel,
    counts: Vec<RsCounts>,
    timeouts: Timeouts,
    secure_tcp: bool,
    stats: TableStats,
    /// The caller's prefetch instruction, if it gave one.
    prefetcher: Option<fn(*const u8)>,
}

/// Key of one direction of a slab entry; `v` is `slot << 1 | direction`.
#[inline]
fn key_of(conns: &[Conn], v6: &[[u128; 4]], v: u32) -> Key {
    let c = &conns[(v >> 1) as usize];
    let d = (v & 1) as usize * 2;
    let (src, dst, is_v6) = if c.flags & F_V6 != 0 {
        let a = &v6[c.addrs[0] as usize];
        (a[d], a[d + 1], true)
    } else {
        (c.addrs[d] as u128, c.addrs[d + 1] as u128, false)
    };
    Key {
        src,
        dst,
        ports: pack_ports(c.ports[d], c.ports[d + 1]),
        proto: c.proto,
        v6: is_v6,
    }
}

/// Whether index value `v` (`slot << 1 | direction`) holds tuple `t`, compared as the
/// caller has it (no [`Key`] built). Reads only the entry's first 32 bytes (plus the side
/// slot for IPv6).
#[inline]
fn holds_tuple(conns: &[Conn], v6: &[[u128; 4]], v: u32, t: &Tuple) -> bool {
    match (t.src, t.dst) {
        (IpAddr::V4(s), IpAddr::V4(d)) => holds_v4(
            conns,
            v,
            t.proto,
            (u32::from(s), t.sport),
            (u32::from(d), t.dport),
        ),
        (IpAddr::V6(s), IpAddr::V6(dst)) => {
            let c = &conns[(v >> 1) as usize];
            let d = (v & 1) as usize * 2;
            c.proto == t.proto
                && c.ports[d] == t.sport
                && c.ports[d + 1] == t.dport
                && c.flags & F_V6 != 0
                && {
                    let a = &v6[c.addrs[0] as usize];
                    a[d] == u128::from(s) && a[d + 1] == u128::from(dst)
                }
        }
        _ => false,
    }
}

/// [`holds_tuple`] for an IPv4 tuple given by its parts (`lookup_v4` has no [`Tuple`]).
#[inline]
fn holds_v4(
    conns: &[Conn],
    v: u32,
    proto: u8,
    (s, sport): (u32, u16),
    (d, dport): (u32, u16),
) -> bool {
    let c = &conns[(v >> 1) as usize];
    let k = (v & 1) as usize * 2;
    c.proto == proto
        && c.ports[k] == sport
        && c.ports[k + 1] == dport
        && c.flags & F_V6 == 0
        && c.addrs[k] == s
        && c.addrs[k + 1] == d
}

#[inline]
fn found_at(v: u32) -> (ConnId, Direction) {
    let dir = if v & 1 == 0 {
        Direction::Original
    } else {
        Direction::Reply
    };
    (ConnId(v >> 1), dir)
}

fn tuple_of(c: &Conn, v6: &[[u128; 4]], dir: usize) -> Tuple {
    let d = dir * 2;
    let is_v6 = c.flags & F_V6 != 0;
    let (s, t) = if is_v6 {
        let a = &v6[c.addrs[0] as usize];
        (a[d], a[d + 1])
    } else {
        (c.addrs[d] as u128, c.addrs[d + 1] as u128)
    };
    Tuple {
        proto: c.proto,
        src: addr_from(s, is_v6),
        dst: addr_from(t, is_v6),
        sport: c.ports[d],
        dport: c.ports[d + 1],
    }
}

/// Four keys for [`Key::hash`] from a randomly keyed builder.
fn new_seed(h: &DefaultHashBuilder) -> HashSeed {
    HashSeed([0u64, 1, 2, 3].map(|i| h.hash_one(i) | 1))
}

#[inline]
fn ms(seconds: u32) -> u64 {
    u64::from(seconds) * 1000
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
        if cfg.capacity > MAX_CAPACITY || cfg.max_templates > MAX_CAPACITY {
            return Err(ConfigError::CapacityTooLarge);
        }
        if cfg.ipv6_capacity > cfg.capacity {
            return Err(ConfigError::Ipv6CapacityTooLarge);
        }
        if cfg.tick_ms == 0 {
            return Err(ConfigError::ZeroTick);
        }
        if !cfg.wheel_slots.is_power_of_two() || cfg.wheel_slots < 2 {
            return Err(ConfigError::WheelSlots(cfg.wheel_slots));
        }
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
    /// (where [`Index::first_match`] looks when the home bucket overflowed).
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

    #[inline]
    fn probe(&self, k: &Key) -> Probe {
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

    /// Set the sequence-number offset of live connection `id` (FULLNAT TCP: see
    /// [`ConnRef::seq_delta`]); a stale id is ignored.
    pub fn set_seq_delta(&mut self, id: ConnId, delta: u32) {
        if let Some(c) = self
            .conns
            .0
            .get_mut(id.0 as usize)
            .filter(|c| c.flags & F_LIVE != 0)
        {
            c.seq_delta = delta;
        }
    }

    fn conn_live(&self, id: ConnId) -> Option<&Conn> {
        self.conns
            .0
            .get(id.0 as usize)
            .filter(|c| c.flags & F_LIVE != 0)
    }

    fn template_live(&self, id: TemplateId) -> Option<&Template> {
        self.tpls.0.get(id.0 as usize).filter(|t| t.live)
    }

    /// Create a connection in state NONE (TCP), counted inactive for its real
    /// server, expiring in 3 s unless a packet is accounted with
    /// [`ConnTable::on_packet`] — normally the packet that created it, right
    /// away, as IPVS does.
    pub fn insert(&mut self, c: &NewConn, now_ms: u64) -> Result<ConnId, InsertError> {
        let ok = Key::from_tuple(&c.original).ok_or(InsertError::FamilyMismatch)?;
        let rk = match &c.reply {
            Some(r) => {
                let k = Key::from_tuple(r).ok_or(InsertError::FamilyMismatch)?;
                if k.v6 != ok.v6 {
                    return Err(InsertError::FamilyMismatch);
                }
                if k.proto != ok.proto {
                    return Err(InsertError::ProtocolMismatch);
                }
                if k == ok {
                    return Err(InsertError::ReplyExists);
                }
                Some(k)
            }
            None => None,
        };
        if c.rs as usize >= self.counts.len() {
            return Err(InsertError::RealServerOutOfRange {
                rs: c.rs,
                max: self.counts.len() as u32,
            });
        }
        if let Some(t) = c.template {
            if self.template_live(t).is_none() {
                return Err(InsertError::StaleTemplate);
            }
        }
        let op = self.probe(&ok);
        let rp = rk.map(|k| self.probe(&k));
        {
            let (conns, v6) = (&self.conns.0, &self.v6);
            if self
                .index
                .find(op, |v| holds_tuple(conns, v6, v, &c.original))
                .is_some()
            {
                return Err(InsertError::Exists);
            }
            if let (Some(r), Some(p)) = (&c.reply, rp) {
                if self
                    .index
                    .find(p, |v| holds_tuple(conns, v6, v, r))
                    .is_some()
                {
                    return Err(InsertError::ReplyExists);
                }
            }
        }

        if self.len >= self.capacity || (ok.v6 && self.v6_len >= self.v6_capacity) {
            self.stats.refused_full += 1;
            return Err(InsertError::Full);
        }

        // Everything checked: nothing below can fail.
        let rkey = rk.unwrap_or(Key {
            src: 0,
            dst: 0,
            ports: 0,
            proto: ok.proto,
            v6: ok.v6,
        });
        // IPVS binds every new connection inactive; TCP moves it to active
        // when it reaches an active state.
        let mut flags = F_LIVE | F_INACTIVE;
        let addrs = if ok.v6 {
            let addrs = [ok.src, ok.dst, rkey.src, rkey.dst];
            let slot = if self.v6_free != NIL {
                let s = self.v6_free;
                self.v6_free = self.v6[s as usize][0] as u32;
                self.v6[s as usize] = addrs;
                s
            } else {
                self.v6.push(addrs);
                (self.v6.len() - 1) as u32
            };
            self.v6_len += 1;
            flags |= F_V6;
            [slot, 0, 0, 0]
        } else {
            [
                ok.src as u32,
                ok.dst as u32,
                rkey.src as u32,
                rkey.dst as u32,
            ]
        };
        if c.method.replies_bypass_director() {
            flags |= F_NO_OUTPUT;
        }
        if rk.is_some() {
            flags |= F_HAS_REPLY;
        }
        let expires = now_ms.saturating_add(ms(INITIAL_TIMEOUT_S));
        // Written once, in place (not a template patched field by field and copied).
        let entry = Conn {
            addrs,
            ports: [
                (ok.ports >> 16) as u16,
                ok.ports as u16,
                (rkey.ports >> 16) as u16,
                rkey.ports as u16,
            ],
            proto: ok.proto,
            flags,
            state: TcpState::None as u8,
            method: c.method as u8,
            template: c.template.map_or(NIL, |t| t.0),
            expires,
            counters: [0; 4],
            rs: c.rs,
            svc: c.svc,
            link: Link::UNLINKED,
            seq_delta: 0,
        };
        let idx = if self.free != NIL {
            let i = self.free;
            let e = &mut self.conns.0[i as usize];
            self.free = e.link.next;
            *e = entry;
            i
        } else {
            self.conns.0.push(entry);
            (self.conns.0.len() - 1) as u32
        };

        self.index.insert(op, idx << 1);
        if let Some(p) = rp {
            self.index.insert(p, (idx << 1) | 1);
        }
        self.wheel.link(&mut self.conns, idx, expires);
        self.counts[c.rs as usize].inactive += 1;
        if let Some(t) = c.template {
            self.template_control_add(t.0, now_ms);
        }
        self.len += 1;
        Ok(ConnId(idx))
    }

    /// A new controlled connection refreshes the template to a full
    /// persistence timeout (IPVS puts the template back with `svc->timeout`
    /// each time it schedules through it).
    fn template_control_add(&mut self, i: u32, now_ms: u64) {
        let t = &mut self.tpls.0[i as usize];
        t.n_control += 1;
        let exp = now_ms.saturating_add(ms(t.timeout_s));
        t.expires = exp;
        let armed = t.link.tick;
        if self.tpl_wheel.needs_rearm(armed, exp) {
            self.tpl_wheel.unlink(&mut self.tpls, i);
            self.tpl_wheel.link(&mut self.tpls, i, exp);
        }
    }

    /// Account one packet of `bytes` bytes travelling in `dir`: counters,
    /// protocol state (TCP: the kernel's table for `flags`), active/inactive
    /// counts and expiry (`now_ms` + the new state's timeout). Returns the
    /// new state, or `None` if `id` is not a live connection.
    #[inline]
    pub fn on_packet(
        &mut self,
        id: ConnId,
        dir: Direction,
        flags: TcpFlags,
        bytes: u32,
        now_ms: u64,
    ) -> Option<ConnState> {
        let c = self.conns.0.get_mut(id.0 as usize)?;
        if c.flags & F_LIVE == 0 {
            return None;
        }
        let d = dir as usize * 2;
        c.counters[d] += 1;
        c.counters[d + 1] += u64::from(bytes);
        let first = c.counters[0] + c.counters[2] == 1;
        let timeout_s = match c.proto {
            proto::TCP => {
                let mut tdir = match dir {
                    Direction::Original => TableDir::Input,
                    Direction::Reply => TableDir::Output,
                };
                if c.flags & F_NO_OUTPUT != 0 {
                    if dir == Direction::Reply {
                        c.flags &= !F_NO_OUTPUT;
                    } else {
                        tdir = TableDir::InputOnly;
                    }
                }
                let old = TcpState::from_u8(c.state).unwrap_or(TcpState::Close);
                let new = tcp_next(self.secure_tcp, tdir, flags, old);
                if new != old {
                    let counts = &mut self.counts[c.rs as usize];
                    let inactive = c.flags & F_INACTIVE != 0;
                    if !inactive && !new.is_active() {
                        counts.active = counts.active.saturating_sub(1);
                        counts.inactive += 1;
                        c.flags |= F_INACTIVE;
                    } else if inactive && new.is_active() {
                        counts.active += 1;
                        counts.inactive = counts.inactive.saturating_sub(1);
                        c.flags &= !F_INACTIVE;
                    }
                    c.state = new as u8;
                }
                self.timeouts.tcp_state(new)
            }
            proto::UDP => self.timeouts.udp,
            proto::ICMP | proto::ICMPV6 => self.timeouts.icmp,
            _ => self.timeouts.other,
        };
        let exp = now_ms.saturating_add(ms(timeout_s));
        c.expires = exp;
        let state = c.state();
        let armed = c.link.tick;
        // The first packet replaces the 3 s of `insert` with its state's timeout: re-link
        // now, while the slot lists it touches (this connection's, the previous new one's)
        // are in the cache, instead of leaving it to the sweep, which would re-arm every
        // new connection 3 s later, cold. Later packets only write `expires` (lazy re-arm).
        if first || self.wheel.needs_rearm(armed, exp) {
            self.wheel.unlink(&mut self.conns, id.0);
            self.wheel.link(&mut self.conns, id.0, exp);
        }
        Some(state)
    }

    /// A connection as plain data (`None` if `id` is not live).
    pub fn get(&self, id: ConnId, now_ms: u64) -> Option<ConnInfo> {
        let c = self.conn_live(id)?;
        Some(self.info(id.0, c, now_ms))
    }

    fn info(&self, i: u32, c: &Conn, now_ms: u64) -> ConnInfo {
        info_of(i, c, &self.v6, now_ms)
    }

    /// A live connection, borrowed: see [`ConnRef`]. What the packet path uses instead of
    /// [`ConnTable::get`].
    #[inline]
    pub fn conn(&self, id: ConnId) -> Option<ConnRef<'_>> {
        let c = self.conn_live(id)?;
        Some(ConnRef {
            id: id.0,
            c,
            v6: &self.v6,
        })
    }
}

fn info_of(i: u32, c: &Conn, v6: &[[u128; 4]], now_ms: u64) -> ConnInfo {
    ConnInfo {
        id: ConnId(i),
        original: tuple_of(c, v6, 0),
        reply: (c.flags & F_HAS_REPLY != 0).then(|| tuple_of(c, v6, 1)),
        rs: c.rs,
        svc: c.svc,
        method: Method::from_u8(c.method),
        state: c.state(),
        flags: ConnFlags(c.flags & F_PUBLIC),
        expires_in_ms: c.expires.saturating_sub(now_ms),
        counters: Counters {
            packets: [c.counters[0], c.counters[2]],
            bytes: [c.counters[1], c.counters[3]],
        },
        template: (c.template != NIL).then_some(TemplateId(c.template)),
    }
}

impl ConnTable {
    /// Remove a connection now (e.g. `expire_nodest_conn`, a control
    /// request). Returns whether it was live.
    pub fn remove(&mut self, id: ConnId) -> bool {
        if self.conn_live(id).is_none() {
            return false;
        }
        self.wheel.unlink(&mut self.conns, id.0);
        self.free_conn(id.0);
        true
    }

    /// Free a live connection already unlinked from the wheel.
    fn free_conn(&mut self, i: u32) {
        let c = self.conns.0[i as usize];
        let dirs: &[u32] = if c.flags & F_HAS_REPLY != 0 {
            &[0, 1]
        } else {
            &[0]
        };
        for &d in dirs {
            let v = (i << 1) | d;
            let p = self.probe(&key_of(&self.conns.0, &self.v6, v));
            self.index.remove(p, v);
        }
        let counts = &mut self.counts[c.rs as usize];
        if c.flags & F_INACTIVE != 0 {
            counts.inactive = counts.inactive.saturating_sub(1);
        } else {
            counts.active = counts.active.saturating_sub(1);
        }
        if c.template != NIL {
            let t = &mut self.tpls.0[c.template as usize];
            t.n_control = t.n_control.saturating_sub(1);
        }
        if c.flags & F_V6 != 0 {
            let s = c.addrs[0];
            self.v6[s as usize][0] = u128::from(self.v6_free);
            self.v6_free = s;
            self.v6_len -= 1;
        }
        let e = &mut self.conns.0[i as usize];
        *e = Conn::FREE;
        e.link.next = self.free;
        self.free = i;
        self.len -= 1;
    }

    /// Run the timer wheels up to `now_ms`, doing at most `budget` units of
    /// work (one unit per connection or template examined and per empty
    /// wheel slot passed). Returns the units spent; less than `budget` means
    /// the wheels have caught up. Connections are served first; templates
    /// whose timer fires while they still control connections are checked
    /// again [`TEMPLATE_RECHECK_S`] later (IPVS `expire_later`).
    pub fn expire(&mut self, now_ms: u64, budget: usize) -> usize {
        self.expire_with(now_ms, budget, |_, _| {})
    }

    /// [`ConnTable::expire`], calling `on_expired(method, reply)` for each
    /// connection that has a reply tuple just before it is freed: FULLNAT
    /// gives its local address and port (the reply's destination) back to
    /// the worker's SNAT pool there.
    pub fn expire_with(
        &mut self,
        now_ms: u64,
        budget: usize,
        mut on_expired: impl FnMut(Method, &Tuple),
    ) -> usize {
        let mut left = budget;
        while let Some(i) = self.wheel.pop_due(&mut self.conns, now_ms, &mut left) {
            let exp = self.conns.0[i as usize].expires;
            if exp <= now_ms {
                let c = &self.conns.0[i as usize];
                if c.flags & F_HAS_REPLY != 0 {
                    let info = self.info(i, c, now_ms);
                    if let Some(reply) = &info.reply {
                        on_expired(info.method, reply);
                    }
                }
                self.free_conn(i);
                self.stats.expired += 1;
            } else {
                self.wheel.link(&mut self.conns, i, exp);
            }
        }
        while let Some(i) = self.tpl_wheel.pop_due(&mut self.tpls, now_ms, &mut left) {
            let t = &mut self.tpls.0[i as usize];
            if t.expires > now_ms {
                let exp = t.expires;
                self.tpl_wheel.link(&mut self.tpls, i, exp);
            } else if t.n_control > 0 {
                t.expires = now_ms.saturating_add(ms(TEMPLATE_RECHECK_S));
                let exp = t.expires;
                self.tpl_wheel.link(&mut self.tpls, i, exp);
            } else {
                self.free_template(i);
                self.stats.templates_expired += 1;
            }
        }
        budget - left
    }

    /// Up to `max` live connections from `cursor` on, appended to `out`, as
    /// plain data; examines at most `8 * max` slots so a worker answering a
    /// listing request in chunks does bounded work per chunk. Returns the
    /// cursor to continue from, or `None` when the table has been walked.
    /// Connections created or removed between chunks may or may not appear.
    pub fn list(
        &self,
        cursor: ListCursor,
        max: usize,
        now_ms: u64,
        out: &mut Vec<ConnInfo>,
    ) -> Option<ListCursor> {
        let slots = self.conns.0.len();
        let mut i = cursor.0 as usize;
        let mut found = 0;
        let scan_end = i.saturating_add(max.max(1).saturating_mul(8)).min(slots);
        while i < scan_end && found < max {
            let c = &self.conns.0[i];
            if c.flags & F_LIVE != 0 {
                out.push(self.info(i as u32, c, now_ms));
                found += 1;
            }
            i += 1;
        }
        (i < slots).then_some(ListCursor(i as u32))
    }

    // ----- persistence templates -----

    fn tkey_hash(&self, k: &TKey) -> u64 {
        self.hasher.hash_one(k)
    }

    /// Find the template of a (service, masked client, vport): the real
    /// server the client is bound to. A template past its timeout that no
    /// longer controls any connection is dropped here rather than returned.
    pub fn template_get(&mut self, key: &TemplateKey, now_ms: u64) -> Option<(TemplateId, u32)> {
        let k = TKey::from_key(key);
        let h = self.tkey_hash(&k);
        let tpls = &self.tpls.0;
        let i = *self.tpl_index.find(h, |&v| tpls[v as usize].key() == k)?;
        let t = self.tpls.0[i as usize];
        if t.expires <= now_ms && t.n_control == 0 {
            self.tpl_wheel.unlink(&mut self.tpls, i);
            self.free_template(i);
            self.stats.templates_expired += 1;
            return None;
        }
        Some((TemplateId(i), t.rs))
    }

    /// Create a persistence template binding `key` to real server `rs` for
    /// `timeout_s` seconds (the service's persistence timeout).
    pub fn template_create(
        &mut self,
        key: &TemplateKey,
        rs: u32,
        timeout_s: u32,
        now_ms: u64,
    ) -> Result<TemplateId, InsertError> {
        if rs as usize >= self.counts.len() {
            return Err(InsertError::RealServerOutOfRange {
                rs,
                max: self.counts.len() as u32,
            });
        }
        let k = TKey::from_key(key);
        let h = self.tkey_hash(&k);
        {
            let tpls = &self.tpls.0;
            if self
                .tpl_index
                .find(h, |&v| tpls[v as usize].key() == k)
                .is_some()
            {
                return Err(InsertError::Exists);
            }
        }
        if self.tpl_len >= self.tpl_capacity {
            self.stats.refused_templates_full += 1;
            return Err(InsertError::TemplatesFull);
        }
        let t = Template {
            client: k.client,
            expires: now_ms.saturating_add(ms(timeout_s)),
            svc: k.svc,
            rs,
            timeout_s,
            n_control: 0,
            link: Link::UNLINKED,
            vport: k.vport,
            v6: k.v6,
            live: true,
            flags: T_HASHED,
        };
        let i = if self.tpl_free != NIL {
            let i = self.tpl_free;
            self.tpl_free = self.tpls.0[i as usize].link.next;
            self.tpls.0[i as usize] = t;
            i
        } else {
            self.tpls.0.push(t);
            (self.tpls.0.len() - 1) as u32
        };
        let tpls = &self.tpls.0;
        let hasher = &self.hasher;
        self.tpl_index
            .insert_unique(h, i, |&v| hasher.hash_one(tpls[v as usize].key()));
        self.tpl_wheel.link(&mut self.tpls, i, t.expires);
        self.counts[rs as usize].persistent += 1;
        self.tpl_len += 1;
        Ok(TemplateId(i))
    }

    /// Make a template unfindable (its real server was removed or became
    /// quiescent with `expire_quiescent_template`, as `ip_vs_check_template`
    /// does): new connections get a fresh scheduling decision, connections
    /// it already controls keep their real server, and it is freed once its
    /// timer fires with no connection left. Returns whether it was hashed.
    pub fn template_invalidate(&mut self, id: TemplateId) -> bool {
        let Some(t) = self.template_live(id) else {
            return false;
        };
        if t.flags & T_HASHED == 0 {
            return false;
        }
        self.unhash_template(id.0);
        true
    }

    fn unhash_template(&mut self, i: u32) {
        let k = self.tpls.0[i as usize].key();
        let h = self.tkey_hash(&k);
        if let Ok(e) = self.tpl_index.find_entry(h, |&v| v == i) {
            e.remove();
        }
        self.tpls.0[i as usize].flags &= !T_HASHED;
    }

    /// Free a live template already unlinked from its wheel.
    fn free_template(&mut self, i: u32) {
        if self.tpls.0[i as usize].flags & T_HASHED != 0 {
            self.unhash_template(i);
        }
        let t = &mut self.tpls.0[i as usize];
        let rs = t.rs as usize;
        t.live = false;
        t.link.next = self.tpl_free;
        self.tpl_free = i;
        self.tpl_len -= 1;
        let c = &mut self.counts[rs];
        c.persistent = c.persistent.saturating_sub(1);
    }

    /// A template as plain data.
    pub fn template_info(&self, id: TemplateId, now_ms: u64) -> Option<TemplateInfo> {
        let t = self.template_live(id)?;
        Some(TemplateInfo {
            id,
            key: t.key().to_key(),
            rs: t.rs,
            timeout_s: t.timeout_s,
            expires_in_ms: t.expires.saturating_sub(now_ms),
            controlled: t.n_control,
            hashed: t.flags & T_HASHED != 0,
        })
    }

    /// Listing of templates, chunked like [`ConnTable::list`].
    pub fn list_templates(
        &self,
        cursor: ListCursor,
        max: usize,
        now_ms: u64,
        out: &mut Vec<TemplateInfo>,
    ) -> Option<ListCursor> {
        let slots = self.tpls.0.len();
        let mut i = cursor.0 as usize;
        let mut found = 0;
        let scan_end = i.saturating_add(max.max(1).saturating_mul(8)).min(slots);
        while i < scan_end && found < max {
            if let Some(info) = self.template_info(TemplateId(i as u32), now_ms) {
                out.push(info);
                found += 1;
            }
            i += 1;
        }
        (i < slots).then_some(ListCursor(i as u32))
    }

    // ----- memory -----

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

    /// Internal consistency check for tests: index, wheel and counts agree
    /// with the slab. Returns a description of the first mismatch.
    #[doc(hidden)]
    pub fn check_invariants(&self) -> Result<(), String> {
        let mut counts = vec![RsCounts::default(); self.counts.len()];
        let mut live = 0;
        let mut index_entries = 0;
        for (i, c) in self.conns.0.iter().enumerate() {
            if c.flags & F_LIVE == 0 {
                continue;
            }
            live += 1;
            let dirs: &[u32] = if c.flags & F_HAS_REPLY != 0 {
                &[0, 1]
            } else {
                &[0]
            };
            for &d in dirs {
                index_entries += 1;
                let t = tuple_of(c, &self.v6, d as usize);
                match self.lookup(&t) {
                    Some((id, dir)) if id.0 as usize == i && dir as u32 == d => {}
                    other => return Err(format!("slot {i} dir {d}: lookup gave {other:?}")),
                }
            }
            let rc = &mut counts[c.rs as usize];
            if c.flags & F_INACTIVE != 0 {
                rc.inactive += 1;
            } else {
                rc.active += 1;
            }
            let expect_active = c.state().is_active();
            if expect_active == (c.flags & F_INACTIVE != 0) {
                return Err(format!(
                    "slot {i}: INACTIVE flag disagrees with state {:?}",
                    c.state()
                ));
            }
        }
        let mut controlled = vec![0u32; self.tpls.0.len()];
        for c in self.conns.0.iter().filter(|c| c.flags & F_LIVE != 0) {
            if c.template != NIL {
                controlled[c.template as usize] += 1;
            }
        }
        let mut tpl_live = 0;
        for (i, t) in self.tpls.0.iter().enumerate() {
            if !t.live {
                if controlled[i] != 0 {
                    return Err(format!("template {i} freed while controlling connections"));
                }
                continue;
            }
            tpl_live += 1;
            counts[t.rs as usize].persistent += 1;
            if t.n_control != controlled[i] {
                return Err(format!(
                    "template {i}: n_control {} but {} connections",
                    t.n_control, controlled[i]
                ));
            }
        }
        if live != self.len || self.index.len() != index_entries || self.wheel.len() != live {
            return Err(format!(
                "len {} live {live} index {} (expected {index_entries}) wheel {}",
                self.len,
                self.index.len(),
                self.wheel.len()
            ));
        }
        if tpl_live != self.tpl_len || self.tpl_wheel.len() != tpl_live {
            return Err("template counts".into());
        }
        if counts != self.counts {
            return Err("real server counts differ".into());
        }
        self.index
            .check(|v| self.probe(&key_of(&self.conns.0, &self.v6, v)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::tuple::proto;

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap()
    }

    /// The sequence offset belongs to the connection: set on a live one, 0 on a new
    /// connection that reuses a removed one's slot, and a stale id changes nothing.
    #[test]
    fn seq_delta_is_per_connection() {
        let cfg = Config {
            capacity: 4,
            ipv6_capacity: 4,
            max_templates: 1,
            max_real_servers: 4,
            tick_ms: 100,
            wheel_slots: 64,
        };
        let mut t = ConnTable::new(cfg, 0).unwrap();
        let nc = |port| NewConn {
            original: Tuple::new(proto::TCP, ip("198.18.0.1"), port, ip("198.18.0.100"), 80),
            reply: Some(Tuple::new(
                proto::TCP,
                ip("198.19.0.11"),
                80,
                ip("198.19.0.250"),
                port,
            )),
            rs: 1,
            svc: 1,
            method: Method::FullNat,
            template: None,
        };
        let a = t.insert(&nc(40000), 0).unwrap();
        let b = t.insert(&nc(40001), 0).unwrap();
        t.set_seq_delta(a, 0xdead_beef);
        assert_eq!(t.conn(a).unwrap().seq_delta(), 0xdead_beef);
        assert_eq!(t.conn(b).unwrap().seq_delta(), 0);
        t.remove(a);
        t.set_seq_delta(a, 7);
        let c = t.insert(&nc(40002), 0).unwrap();
        assert_eq!(c, a, "the freed slot is reused");
        assert_eq!(t.conn(c).unwrap().seq_delta(), 0);
    }

    /// `holds_tuple` (every lookup's compare, against the caller's tuple) answers as
    /// equality of the entry's stored key with the tuple's key, for both directions of
    /// IPv4 and IPv6 entries and for tuples differing in any one field: a compare a
    /// lookup only reaches on a tag match, which a different key makes once in 2^31.
    #[test]
    fn holds_tuple_agrees_with_the_stored_key() {
        let cfg = Config {
            capacity: 8,
            ipv6_capacity: 8,
            max_templates: 1,
            max_real_servers: 4,
            tick_ms: 100,
            wheel_slots: 64,
        };
        let mut t = ConnTable::new(cfg, 0).unwrap();
        let flows = [
            (ip("198.18.0.1"), ip("198.18.0.100"), ip("198.19.0.11")),
            (ip("2001:2::1"), ip("2001:2::100"), ip("2001:2:1::11")),
        ];
        let mut probes = Vec::new();
        for (c, vip, rip) in flows {
            let nc = NewConn {
                original: Tuple::new(proto::TCP, c, 40000, vip, 80),
                reply: Some(Tuple::new(proto::TCP, rip, 8080, c, 40000)),
                rs: 1,
                svc: 1,
                method: Method::Masq,
                template: None,
            };
            let id = t.insert(&nc, 0).unwrap();
            for (dir, tu) in [(0, nc.original), (1, nc.reply.unwrap())] {
                let v = id.0 << 1 | dir;
                let mut variants = vec![tu];
                let mut x = tu;
                x.proto = proto::UDP;
                variants.push(x);
                let mut x = tu;
                x.sport ^= 1;
                variants.push(x);
                let mut x = tu;
                x.dport ^= 1;
                variants.push(x);
                let mut x = tu;
                (x.src, x.dst) = (x.dst, x.src);
                variants.push(x);
                for other in [ip("198.18.0.9"), ip("2001:2::9")] {
                    let mut x = tu;
                    x.src = other;
                    variants.push(x);
                    let mut x = tu;
                    x.dst = other;
                    variants.push(x);
                }
                probes.push((v, variants));
            }
        }
        let (conns, v6) = (&t.conns.0, &t.v6);
        let mut held = 0;
        for (v, variants) in &probes {
            for tu in variants {
                let want = Key::from_tuple(tu) == Some(key_of(conns, v6, *v));
                assert_eq!(holds_tuple(conns, v6, *v, tu), want, "{v} {tu:?}");
                held += usize::from(want);
            }
        }
        assert_eq!(
            held, 4,
            "each direction of each entry holds its own tuple only"
        );
    }
}
