//! One worker's pipeline: its configuration, its state (connection table, neighbours,
//! scheduler state, SNAT share) and the helpers every stage uses.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::sync::Arc;

use conn_table::{ConnTable, Tuple};
use scheduler::SchedState;

use super::fragment::table::Fragments;
use crate::counters::{bump, DropReason, WorkerStats};
use crate::exception::{ExceptionConfig, TokenBucket};
use crate::frame::{Frame, Io};
use crate::neigh::NeighbourTable;
use crate::tables::Tables;
use crate::xmit::fullnat::isn::{IsnClock, IsnKey, SECRET_LEN};
use crate::xmit::fullnat::SnatPorts;

/// Static facts a pipeline is built from.
pub struct PipelineConfig {
    /// Worker index.
    pub worker: usize,
    /// MAC address of each port, by port index.
    pub port_macs: Vec<[u8; 6]>,
    /// This worker's counters.
    pub stats: Arc<WorkerStats>,
    /// Connection table capacity.
    pub conn_capacity: usize,
    /// Send gratuitous ARP for the VIPs at start.
    pub gratuitous_arp: bool,
    /// Number of workers (flows are owned by one of them).
    pub workers: usize,
    /// Which ports hand the director's own traffic to the kernel, and how fast.
    pub exception: ExceptionConfig,
}

/// Memory hints for the connection table, from the layer that knows the machine (the
/// worker passes DPDK's; unit tests none).
#[derive(Clone, Copy, Debug, Default)]
pub struct MemoryHooks {
    /// Advise the kernel to back `len` bytes at `addr` with transparent huge pages.
    pub advise_huge_pages: Option<fn(*const u8, usize) -> bool>,
    /// Start loading the cache line at an address (a hint, never faults).
    pub prefetch: Option<fn(*const u8)>,
}

impl MemoryHooks {
    /// No hints: plain allocations, no prefetch.
    pub const NONE: MemoryHooks = MemoryHooks {
        advise_huge_pages: None,
        prefetch: None,
    };
}

/// A neighbour one worker learned, for the others (plain data, sent between workers).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct NeighbourUpdate {
    /// Port index.
    pub port: usize,
    /// Neighbour address (ARP or NDP).
    pub ip: IpAddr,
    /// Its MAC.
    pub mac: [u8; 6],
}

impl Default for NeighbourUpdate {
    fn default() -> Self {
        NeighbourUpdate {
            port: 0,
            ip: IpAddr::V4(Ipv4Addr::UNSPECIFIED),
            mac: [0; 6],
        }
    }
}

/// A request from the control thread for the next chunk of a worker's connections.
/// The control thread supplies the buffer (with capacity reserved), so the worker
/// never allocates to answer.
#[derive(Debug)]
pub struct ConnListRequest {
    /// Where to continue (`ListCursor::START` first).
    pub cursor: conn_table::ListCursor,
    /// Filled by the worker, up to its capacity.
    pub buf: Vec<conn_table::ConnInfo>,
    /// Set by the worker: where the next chunk starts, None when done.
    pub next: Option<conn_table::ListCursor>,
}

/// Most real-server ids (stable ids, recycled once nothing refers to them) a worker
/// keeps counts for; its arrays grow with the tables up to this.
pub const MAX_REAL_SERVERS: u32 = crate::counters::MAX_REAL_SERVER_IDS as u32;

/// How often a worker starts publishing its per-real-server counts (ms).
pub(super) const COUNTS_EVERY_MS: u64 = 100;

/// Real-server ids whose counts one timer tick publishes (a pass over many ids is spread
/// over ticks, so a large configuration never stalls the poll loop).
pub(super) const COUNTS_PER_TICK: usize = 8192;

/// Neighbours tracked per worker.
const NEIGHBOUR_CAPACITY: usize = 4096;

/// Most RSTs for segments of no connection a worker sends a second (`reset`), and at
/// once: the kernel's `icmp_msgs_per_sec` and `icmp_msgs_burst` defaults.
pub const RESET_RATE: u32 = 1000;
/// See [`RESET_RATE`].
pub const RESET_BURST: u32 = 50;

/// Connection slots examined per timer tick.
pub(super) const EXPIRE_BUDGET: usize = 4096;

/// One worker's packet logic and state.
pub struct Pipeline<P> {
    pub(crate) cfg: PipelineConfig,
    pub(crate) conns: ConnTable,
    pub(crate) neigh: NeighbourTable<P>,
    /// IPv6 neighbours (NDP; see `ndp.rs`).
    pub(crate) neigh6: NeighbourTable<P, Ipv6Addr>,
    /// Scheduler state per virtual service of table `generation`.
    pub(crate) sched: Vec<SchedState>,
    pub(crate) generation: u64,
    /// When the last pass over the per-real-server counts started.
    pub(crate) counts_ms: u64,
    /// One past the highest real-server id of the tables adopted so far: a pass of the
    /// counts walks only these.
    pub(crate) rs_ids: usize,
    /// The next id of the pass under way (0: none under way).
    pub(crate) counts_cursor: usize,
    /// The table generation the pass under way started on.
    pub(crate) counts_pass_generation: u64,
    /// Neighbours learned since the worker last collected them.
    pub(crate) learned: [NeighbourUpdate; 8],
    pub(crate) learned_len: usize,
    /// This worker's share of the SNAT pools (FULLNAT local addresses and ports).
    pub(crate) snat: SnatPorts,
    /// TOA (client address and port, either family) to add to the packet being forwarded.
    pub(crate) toa: Option<(IpAddr, u16)>,
    /// Secret for FULLNAT's initial sequence numbers towards real servers (random until
    /// [`Pipeline::set_isn_secret`]).
    pub(crate) isn_key: IsnKey,
    /// The real-time clock of those numbers.
    pub(crate) isn_clock: IsnClock,
    /// Exception-path rate limit of this worker.
    pub(crate) to_kernel: TokenBucket,
    /// IPv4 and IPv6 fragments in flight (see `fragment`).
    pub(crate) frags4: Fragments<Ipv4Addr, P>,
    pub(crate) frags6: Fragments<Ipv6Addr, P>,
    /// This worker's share of the real servers' connection totals (thresholds).
    pub(crate) overload: crate::overload::OverloadShare,
    /// This worker's budget of ICMP errors it originates (time exceeded).
    pub(crate) icmp_errors: TokenBucket,
    /// Rate limit of the RSTs answering segments of no connection (`reset`).
    pub(crate) resets: TokenBucket,
}

pub(crate) use crate::wire::ethernet::HEADER_LEN as ETH_HDR;

pub(super) const ARP_LEN: usize = 28;

pub(super) const BROADCAST: [u8; 6] = [0xff; 6];

/// ICMP errors a worker originates per second at most, and their burst: Linux's
/// `icmp_msgs_per_sec` and `icmp_msgs_burst` defaults.
const ICMP_ERRORS_PER_S: u32 = 1000;
const ICMP_ERRORS_BURST: u32 = 50;

impl<P: Frame> Pipeline<P> {
    /// A pipeline with empty tables sized from `cfg`.
    pub fn new(cfg: PipelineConfig) -> Self {
        Self::with_memory_hooks(cfg, MemoryHooks::NONE)
    }

    /// A pipeline whose connection table uses `hooks` (the worker passes DPDK's huge-page
    /// advice and prefetch; the pipeline itself knows nothing of DPDK).
    pub fn with_memory_hooks(cfg: PipelineConfig, hooks: MemoryHooks) -> Self {
        let capacity = cfg
            .conn_capacity
            .clamp(1, conn_table::MAX_CAPACITY as usize) as u32;
        // The table's big arrays on transparent huge pages: fewer TLB misses per lookup.
        let mut conns = ConnTable::with_memory_advice(
            conn_table::Config {
                capacity,
                // IPv6 flows share the slab; their side index may hold every slot.
                ipv6_capacity: capacity,
                max_templates: capacity.min(1 << 16),
                // Grown by `sync` as the tables' ids grow.
                max_real_servers: crate::counters::REAL_SERVER_SEGMENT as u32,
                tick_ms: 10,
                wheel_slots: 1 << 16,
            },
            0,
            |addr, len| {
                if let Some(advise) = hooks.advise_huge_pages {
                    advise(addr, len);
                }
            },
        )
        .expect("valid connection table configuration");
        if let Some(prefetch) = hooks.prefetch {
            conns.set_prefetcher(prefetch);
        }
        Pipeline {
            conns,
            neigh: NeighbourTable::new(NEIGHBOUR_CAPACITY),
            neigh6: NeighbourTable::new(NEIGHBOUR_CAPACITY),
            sched: Vec::new(),
            generation: u64::MAX,
            learned: [NeighbourUpdate::default(); 8],
            learned_len: 0,
            counts_ms: 0,
            rs_ids: 0,
            counts_cursor: 0,
            counts_pass_generation: u64::MAX,
            snat: SnatPorts::new(cfg.worker, cfg.workers),
            toa: None,
            isn_key: IsnKey::default(),
            isn_clock: IsnClock::default(),
            to_kernel: TokenBucket::new(cfg.exception.rate, cfg.exception.burst()),
            frags4: Fragments::default(),
            frags6: Fragments::default(),
            overload: Default::default(),
            icmp_errors: TokenBucket::new(ICMP_ERRORS_PER_S, ICMP_ERRORS_BURST),
            resets: TokenBucket::new(RESET_RATE, RESET_BURST),
            cfg,
        }
    }

    /// Answer one connection-listing request: fill its buffer (never beyond its
    /// capacity, so no allocation) from the table, starting at its cursor. DR and TUN
    /// connections keep no reply tuple; theirs is filled in for the listing from their real
    /// server's address in `t` (real server port = virtual port, as IPVS requires for
    /// them), so `-Lnc` shows the destination as ipvsadm does.
    pub fn list_connections(&self, t: &Tables, req: &mut ConnListRequest, now_ms: u64) {
        req.buf.clear();
        let max = req.buf.capacity();
        req.next = self.conns.list(req.cursor, max, now_ms, &mut req.buf);
        for c in req.buf.iter_mut() {
            if c.reply.is_none() && c.method.replies_bypass_director() {
                let o = c.original;
                c.reply = t
                    .services
                    .bypass_addr_of(c.rs)
                    .map(|rip| Tuple::new(o.proto, rip, o.dport, o.src, o.sport));
            }
        }
    }

    /// Key FULLNAT's initial sequence numbers with `secret`, the one every worker and
    /// every rvsd process of the host uses, so that real servers still holding a local
    /// port in TIME_WAIT accept new connections after a restart (see
    /// [`crate::xmit::fullnat::isn`]).
    pub fn set_isn_secret(&mut self, secret: &[u8; SECRET_LEN]) {
        self.isn_key = IsnKey::from_secret(secret);
    }

    /// Neighbours learned since the last call, to share with the other workers.
    pub fn take_learned(&mut self) -> &[NeighbourUpdate] {
        let n = std::mem::take(&mut self.learned_len);
        &self.learned[..n]
    }

    /// Learn a neighbour another worker resolved; release what was held for it.
    pub fn learn_remote(&mut self, u: NeighbourUpdate, now_ms: u64, io: &mut impl Io<P>) {
        let Some(&src) = self.cfg.port_macs.get(u.port) else {
            return;
        };
        let release = |mut held: P, mac| {
            set_macs(held.data_mut(), mac, src);
            io.send(u.port, held);
        };
        match u.ip {
            IpAddr::V4(ip) => self.neigh.learn(u.port, ip, u.mac, now_ms, true, release),
            IpAddr::V6(ip) => self.neigh6.learn(u.port, ip, u.mac, now_ms, true, release),
        };
    }

    #[inline]
    pub(crate) fn drop_packet(&self, why: DropReason) {
        self.cfg.stats.drop_packet(why);
    }

    /// Add TOA for `client:cport` to the IP packet after the Ethernet header of `pkt`;
    /// a packet without room for it goes unchanged and is counted.
    #[inline]
    pub(super) fn add_toa(&mut self, pkt: &mut P, client: IpAddr, cport: u16) {
        if !crate::xmit::fullnat::toa::add(pkt, ETH_HDR, client, cport) {
            bump(&self.cfg.stats.toa_no_room, 1);
        }
    }
}

#[inline]
pub(crate) fn set_macs(frame: &mut [u8], dst: [u8; 6], src: [u8; 6]) {
    frame[0..6].copy_from_slice(&dst);
    frame[6..12].copy_from_slice(&src);
}
