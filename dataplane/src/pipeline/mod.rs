//! The packet logic of one worker, independent of DPDK: parse in place, answer ARP and
//! ICMP echo, find or create the connection, rewrite (NAT), route, resolve the next hop,
//! and hand the frame to [`Io::send`] — or, for the director's own traffic, to the kernel
//! with [`Io::send_kernel`] (the exception path, see [`crate::exception`]).
//!
//! Generic over the frame type so the same code runs on DPDK mbufs in the worker and on
//! `Vec<u8>` in unit tests.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::sync::Arc;

use crate::counters::{bump, set, DropReason, WorkerStats};
use crate::exception::{ExceptionConfig, TokenBucket};
use crate::family::Family;
use crate::frame::{Frame, Io};
use crate::neigh::{HoldOutcome, NeighbourTable};
use crate::service::{proto, Forward};
use crate::tables::Tables;
use crate::wire::{
    ArpOperation, ArpPacket, ArpRepr, EtherType, EthernetFrame, Icmpv4Packet, Ipv4Packet, MacAddr,
    TcpPacket, UdpPacket,
};
use crate::xmit::fullnat::{port_owner, SnatPorts};
use crate::xmit::icmp as related;
use crate::xmit::icmp6 as related6;
use crate::xmit::tun::route::tunnel_verdict;
use conn_table::{ConnTable, Direction, Method, NewConn, TcpFlags, TcpState, TemplateKey, Tuple};
use scheduler::{DestLoad, DestLoads, FlowKey, SchedState};

mod conn_prefetch;
mod egress;
pub(crate) mod verdict;
pub(crate) use egress::Egress;
pub(crate) use verdict::Verdict;
// The IPv6 packet path and NDP: a child module, so it shares this one's private items.
mod ipv6;
pub use ipv6::owner_of6;

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

/// The worker that owns every flow of client address `client` among `workers`.
///
/// All flows of one client land on one worker, so its persistence templates and
/// connections live in one place; both directions of a NAT flow name the client (source
/// inbound, destination outbound), so both reach the same owner.
#[inline]
pub fn owner_of(client: Ipv4Addr, workers: usize) -> usize {
    // Multiplicative hash, then range reduction without division.
    let h = u32::from(client).wrapping_mul(0x9E37_79B1);
    ((h as u64 * workers as u64) >> 32) as usize
}

/// Most real servers (stable ids) a worker keeps connection counts for.
pub const MAX_REAL_SERVERS: u32 = crate::counters::MAX_REAL_SERVERS as u32;
/// How often a worker publishes its per-real-server counts (ms).
const COUNTS_EVERY_MS: u64 = 100;

/// A virtual service's real servers with this worker's connection counts, as the
/// scheduler reads them. IPVS counts connections globally; here each worker counts its
/// own (flows are spread over workers by client address, so the shares are alike).
struct Loads<'a> {
    conns: &'a ConnTable,
    servers: &'a [crate::service::RealServer],
}

impl DestLoads for Loads<'_> {
    #[inline]
    fn load(&self, index: usize) -> DestLoad {
        let Some(rs) = self.servers.get(index) else {
            return DestLoad::MISSING;
        };
        let c = self.conns.rs_counts(rs.id);
        let total = u64::from(c.active) + u64::from(c.inactive);
        DestLoad {
            active: c.active,
            inactive: c.inactive,
            overloaded: rs.upper_threshold != 0 && total >= u64::from(rs.upper_threshold),
            available: true,
        }
    }
}

/// Neighbours tracked per worker.
const NEIGHBOUR_CAPACITY: usize = 4096;
/// Connection slots examined per timer tick.
const EXPIRE_BUDGET: usize = 4096;

/// One worker's packet logic and state.
pub struct Pipeline<P> {
    pub(crate) cfg: PipelineConfig,
    pub(crate) conns: ConnTable,
    pub(crate) neigh: NeighbourTable<P>,
    /// IPv6 neighbours (NDP; see pipeline6.rs).
    pub(crate) neigh6: NeighbourTable<P, Ipv6Addr>,
    /// Scheduler state per virtual service of table `generation`.
    pub(crate) sched: Vec<SchedState>,
    pub(crate) generation: u64,
    /// When the per-real-server counts were last published.
    pub(crate) counts_ms: u64,
    /// Neighbours learned since the worker last collected them.
    pub(crate) learned: [NeighbourUpdate; 8],
    pub(crate) learned_len: usize,
    /// This worker's share of the SNAT pools (FULLNAT local addresses and ports).
    pub(crate) snat: SnatPorts,
    /// TOA (client address and port, either family) to add to the packet being forwarded.
    pub(crate) toa: Option<(IpAddr, u16)>,
    /// Secret for FULLNAT's initial sequence numbers towards real servers.
    pub(crate) isn_key: crate::xmit::fullnat::tcp_seq::IsnKey,
    /// Exception-path rate limit of this worker.
    pub(crate) to_kernel: TokenBucket,
}

pub(crate) use crate::wire::ethernet::HEADER_LEN as ETH_HDR;
const ARP_LEN: usize = 28;
const BROADCAST: [u8; 6] = [0xff; 6];

impl<P: Frame> Pipeline<P> {
    /// A pipeline with empty tables sized from `cfg`.
    pub fn new(cfg: PipelineConfig) -> Self {
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
                max_real_servers: MAX_REAL_SERVERS,
                tick_ms: 10,
                wheel_slots: 1 << 16,
            },
            0,
            |addr, len| {
                crate::dpdk::advise_huge_pages(addr, len);
            },
        )
        .expect("valid connection table configuration");
        conns.set_prefetcher(crate::dpdk::prefetch);
        Pipeline {
            conns,
            neigh: NeighbourTable::new(NEIGHBOUR_CAPACITY),
            neigh6: NeighbourTable::new(NEIGHBOUR_CAPACITY),
            sched: Vec::new(),
            generation: u64::MAX,
            learned: [NeighbourUpdate::default(); 8],
            learned_len: 0,
            counts_ms: 0,
            snat: SnatPorts::new(cfg.worker, cfg.workers),
            toa: None,
            isn_key: crate::xmit::fullnat::tcp_seq::IsnKey::default(),
            to_kernel: TokenBucket::new(cfg.exception.rate, cfg.exception.burst()),
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

    /// Which worker owns `frame`'s flow, or None when any worker may handle it (ARP,
    /// non-IP, malformed: those are handled, or counted, where they arrive).
    #[inline]
    pub fn owner(&self, t: &Tables, frame: &[u8]) -> Option<usize> {
        if self.cfg.workers >= 2 && frame.len() >= ETH_HDR && frame[12..14] == [0x86, 0xdd] {
            return self.owner6(t, frame);
        }
        if self.cfg.workers < 2 || frame.len() < ETH_HDR + 20 || frame[12..14] != [0x08, 0x00] {
            return None;
        }
        let ip = &frame[ETH_HDR..];
        let mut src = Ipv4Addr::new(ip[12], ip[13], ip[14], ip[15]);
        let mut dst = Ipv4Addr::new(ip[16], ip[17], ip[18], ip[19]);
        // An ICMP error belongs to the flow of the packet it quotes; a FULLNAT one from the
        // real server's side (quoting LIP:lport -> RIP) to the owner of the local port.
        if let Some(lport) = related::quoted_local_port(t, ip) {
            return Some(port_owner(lport, self.cfg.workers));
        }
        if let Some((s, d)) = related::quoted_flow(t, ip) {
            (src, dst) = (s, d);
        } else if t.snat.is_lip(dst) {
            // A FULLNAT reply belongs to the worker whose share of the local ports holds
            // its destination port.
            let l4 = usize::from(ip[0] & 0x0f) * 4;
            return match (ip[9], ip.get(l4 + 2..l4 + 4)) {
                (proto::TCP | proto::UDP, Some(p)) => Some(port_owner(
                    u16::from_be_bytes([p[0], p[1]]),
                    self.cfg.workers,
                )),
                _ => None,
            };
        }
        let client = if t.services.is_vip(dst) { src } else { dst };
        let prefix = t.services.steer_prefix();
        let masked = if prefix >= 32 {
            client
        } else {
            Ipv4Addr::from(u32::from(client) & !(u32::MAX >> prefix))
        };
        Some(owner_of(masked, self.cfg.workers))
    }

    /// Adopt table `t` if it is a new generation (existing connections keep their real
    /// server; per-service scheduler state continues where the table follows the one this
    /// worker ran, else restarts). Call once per loop iteration.
    #[inline]
    pub fn sync(&mut self, t: &Tables) {
        if t.services.generation() != self.generation {
            let seed = self.cfg.worker as u64;
            let old = std::mem::take(&mut self.sched);
            let services = t.services.services();
            self.sched.reserve(services.len());
            for (sid, s) in services.iter().enumerate() {
                let carried = t
                    .services
                    .predecessor(self.generation, sid as crate::service::ServiceId)
                    .and_then(|(prev_sid, prev)| {
                        let st = old.get(prev_sid as usize)?;
                        Some(s.scheduler.carry_state(seed, prev, st))
                    });
                self.sched
                    .push(carried.unwrap_or_else(|| s.scheduler.new_state(seed)));
            }
            self.generation = t.services.generation();
            self.conns
                .set_ipvsadm_timeouts(t.timeouts.tcp, t.timeouts.tcp_fin, t.timeouts.udp);
            self.snat.sync(&t.snat);
        }
    }

    /// Work done once when the worker starts: gratuitous ARP for every VIP, on the ports
    /// whose connected subnet holds it (all ports when none does). Only worker 0 sends.
    pub fn start(&mut self, t: &Tables, io: &mut impl Io<P>, _now_ms: u64) {
        if !self.cfg.gratuitous_arp || self.cfg.worker != 0 {
            return;
        }
        let mut vips: Vec<Ipv4Addr> = t.services.vips().collect();
        vips.sort();
        for vip in vips {
            let on_subnet: Vec<usize> = (0..self.cfg.port_macs.len())
                .filter(|&p| {
                    t.routes
                        .lookup(vip)
                        .map(|h| h.port == p && h.gateway == vip)
                        .unwrap_or(false)
                })
                .collect();
            let ports: Vec<usize> = if on_subnet.is_empty() {
                (0..self.cfg.port_macs.len()).collect()
            } else {
                on_subnet
            };
            for port in ports {
                self.send_arp(io, port, 1, vip, [0; 6], vip, BROADCAST);
            }
        }
        // FULLNAT local addresses, on the port facing the real servers.
        for lip in t.snat.pools().iter().flat_map(|p| p.addrs.iter().copied()) {
            let IpAddr::V4(lip) = lip else { continue };
            if let Some(port) =
                (0..self.cfg.port_macs.len()).find(|&p| crate::xmit::fullnat::lip_on(t, p, lip))
            {
                self.send_arp(io, port, 1, lip, [0; 6], lip, BROADCAST);
            }
        }
        self.start6(t, io);
    }

    /// Periodic work: neighbour probes and connection expiry, both bounded.
    pub fn tick(&mut self, t: &Tables, now_ms: u64, io: &mut impl Io<P>) {
        let mut probes: [(usize, Ipv4Addr); 16] = [(0, Ipv4Addr::UNSPECIFIED); 16];
        let mut n = 0;
        let stats = &self.cfg.stats;
        self.neigh.tick(
            now_ms,
            |port, ip| {
                if n < probes.len() {
                    probes[n] = (port, ip);
                    n += 1;
                }
            },
            |_dropped| stats.drop_packet(DropReason::NeighbourUnresolved),
        );
        for &(port, ip) in &probes[..n] {
            self.send_arp_request(t, io, port, ip);
        }
        self.tick6(t, now_ms, io);
        // expire() returns the work done; the table counts what actually expired.
        let snat = &mut self.snat;
        self.conns
            .expire_with(now_ms, EXPIRE_BUDGET, |method, reply| {
                if let Some((lip, lport)) = crate::xmit::fullnat::local_of(method, Some(*reply)) {
                    snat.release(lip, lport);
                }
            });
        set(&self.cfg.stats.snat_ports_in_use, self.snat.in_use());
        set(&self.cfg.stats.conns_expired, self.conns.stats().expired);
        set(&self.cfg.stats.conns_current, self.conns.len() as u64);
        if now_ms >= self.counts_ms + COUNTS_EVERY_MS {
            self.counts_ms = now_ms;
            for (cell, c) in self
                .cfg
                .stats
                .real_servers
                .iter()
                .zip(self.conns.all_rs_counts())
            {
                cell.active
                    .store(c.active, std::sync::atomic::Ordering::Relaxed);
                cell.inactive
                    .store(c.inactive, std::sync::atomic::Ordering::Relaxed);
                cell.persistent
                    .store(c.persistent, std::sync::atomic::Ordering::Relaxed);
            }
        }
    }

    #[inline]
    pub(crate) fn drop_packet(&self, why: DropReason) {
        self.cfg.stats.drop_packet(why);
    }

    /// Add TOA for `client:cport` to the IP packet after the Ethernet header of `pkt`;
    /// a packet without room for it goes unchanged and is counted.
    #[inline]
    fn add_toa(&mut self, pkt: &mut P, client: IpAddr, cport: u16) {
        if !crate::xmit::fullnat::toa::add(pkt, ETH_HDR, client, cport) {
            bump(&self.cfg.stats.toa_no_room, 1);
        }
    }
}

/// What becomes of an existing connection a client packet just matched.
enum Revisit {
    /// Handle the packet on the connection.
    Continue,
    /// The connection was ended: schedule the packet as a new connection.
    Reschedule,
    /// The connection was ended and the packet is dropped.
    Drop(DropReason),
}

impl<P: Frame> Pipeline<P> {
    /// IPVS's checks on a client packet that matched connection `id` (ip_vs_in), before
    /// the packet is handled on it:
    /// - `conn_reuse_mode` (the kernel's default, 1): a SYN (no ACK) on a TCP connection in
    ///   TIME_WAIT or CLOSE that no persistence template controls is a new connection
    ///   reusing the client port: the old one ends and the SYN is scheduled again, so a
    ///   client that recycles ports quickly is still balanced (and not sent to a removed
    ///   or quiescent server);
    /// - `expire_nodest_conn`: a packet of a connection whose real server was removed ends
    ///   it and is dropped, so the client gives up and reconnects to one that exists.
    #[inline(always)]
    fn revisit(
        &mut self,
        t: &Tables,
        id: conn_table::ConnId,
        dir: Direction,
        flags: TcpFlags,
    ) -> Revisit {
        if dir != Direction::Original {
            return Revisit::Continue;
        }
        // Read in place: this runs for every client packet of an established flow.
        let Some(c) = self.conns.conn(id) else {
            return Revisit::Continue;
        };
        let new_syn = flags.0
            & (TcpFlags::SYN.0 | TcpFlags::ACK.0 | TcpFlags::RST.0 | TcpFlags::FIN.0)
            == TcpFlags::SYN.0;
        if new_syn
            && c.template().is_none()
            && matches!(
                c.state(),
                conn_table::ConnState::Tcp(TcpState::TimeWait | TcpState::Close)
            )
        {
            self.end_connection(id);
            bump(&self.cfg.stats.conns_reused, 1);
            return Revisit::Reschedule;
        }
        if t.ipvs.expire_nodest_conn && !t.services.has_real_server(c.rs()) {
            self.end_connection(id);
            return Revisit::Drop(DropReason::NoDestExpired);
        }
        Revisit::Continue
    }

    /// The connection a packet of `tuple` belongs to, after [`Pipeline::revisit`]: `None`
    /// when there is none or the one found was ended for the packet to be scheduled anew;
    /// `Err` when the packet is to be dropped.
    #[inline(always)]
    fn find_connection(
        &mut self,
        t: &Tables,
        tuple: &Tuple,
        flags: TcpFlags,
        _now_ms: u64,
    ) -> Result<Option<(conn_table::ConnId, Direction)>, DropReason> {
        let Some((id, dir)) = self.conns.lookup(tuple) else {
            return Ok(None);
        };
        match self.revisit(t, id, dir, flags) {
            Revisit::Continue => Ok(Some((id, dir))),
            Revisit::Reschedule => Ok(None),
            Revisit::Drop(why) => Err(why),
        }
    }

    /// A packet of established connection `id` (direction `dir`, already counted by
    /// `on_packet`), IPv4 or IPv6 (`ip_buf` from the IP header; `from` its source address
    /// and port): rewritten in place as the connection's method wants, and where it goes.
    #[allow(clippy::too_many_arguments)]
    #[inline(always)]
    fn established<F: Family>(
        &mut self,
        t: &Tables,
        id: conn_table::ConnId,
        dir: Direction,
        ip_buf: &mut [u8],
        proto: u8,
        tcp_flags: TcpFlags,
        from: (F, u16),
        bytes: u32,
    ) -> Established<F> {
        use Established::Drop;
        // Borrowed, not copied: only the fields this packet's rewrite needs are read.
        let Some(c) = self.conns.conn(id) else {
            return Drop(DropReason::NoService);
        };
        let (method, rs_id) = (c.method(), c.rs());
        if let Some(rs) = self.cfg.stats.real_servers.get(rs_id as usize) {
            rs.packet(dir == Direction::Original, u64::from(bytes));
        }
        // The spec never mixes families in a service; a connection of the other family
        // (its endpoints read as None in this one) is not forwarded.
        match dir {
            Direction::Original => {
                // TUN and DR keep no reply tuple: their real server by id, in the current
                // table (the caller encapsulates for TUN).
                if method == Method::Tunnel {
                    return Established::Tunnel(rs_id);
                }
                if method == Method::Route {
                    return match t.services.routed_of(rs_id).and_then(F::of) {
                        Some(rip) => Established::Forward(rip),
                        None => Drop(DropReason::NoRealServer),
                    };
                }
                let Some(rs) = F::src(&c, Direction::Reply) else {
                    return Drop(DropReason::NoService);
                };
                let rewritten = match method {
                    Method::Masq => F::rewrite_dst(ip_buf, rs),
                    Method::FullNat => {
                        // Source to the local address and port (the reply's destination),
                        // destination to the RS.
                        let Some(local) = F::dst(&c, Direction::Reply) else {
                            return Drop(DropReason::NoService);
                        };
                        if proto == proto::TCP
                            && crate::xmit::fullnat::toa::wanted(
                                tcp_flags,
                                c.packets(Direction::Reply),
                            )
                            && t.snat.toa_for(rs_id)
                        {
                            self.toa = Some((from.0.into(), from.1));
                        }
                        // TCP: into the director's sequence space (`tcp_seq`); a UDP
                        // connection's offset is 0 and the shift is TCP's only.
                        let shift = crate::wire::SeqShift::Seq(c.seq_delta());
                        F::rewrite_both(ip_buf, local, rs, shift).map(|()| {
                            crate::xmit::fullnat::tcp_seq::syn_to_real_server(ip_buf, tcp_flags);
                        })
                    }
                    _ => Ok(()),
                };
                if rewritten.is_err() {
                    return Drop(DropReason::L4Malformed);
                }
                Established::Forward(rs.0)
            }
            Direction::Reply => {
                let (Some(client), Some(vip)) = (
                    F::src(&c, Direction::Original),
                    F::dst(&c, Direction::Original),
                ) else {
                    return Drop(DropReason::NoService);
                };
                // The reply is routed through the director: like Linux's forward path,
                // decrement the TTL / hop limit.
                if !F::decrement_hops(ip_buf) {
                    return Drop(DropReason::TtlExceeded);
                }
                // FULLNAT: the reply was addressed to the local address; back to the
                // client, both ends in one rewrite.
                let rewritten = if method == Method::FullNat {
                    // TCP: back to the client's sequence space (UDP: offset 0, no shift).
                    let delta = c.seq_delta();
                    let shift = crate::wire::SeqShift::Ack(0u32.wrapping_sub(delta));
                    F::rewrite_both(ip_buf, vip, client, shift).map(|()| {
                        crate::xmit::fullnat::tcp_seq::sack_to_client(ip_buf, delta);
                    })
                } else {
                    F::rewrite_src(ip_buf, vip)
                };
                if rewritten.is_err() {
                    return Drop(DropReason::L4Malformed);
                }
                Established::Forward(client.0)
            }
        }
    }

    /// End a connection now, giving back what it holds (a FULLNAT local port).
    pub(crate) fn end_connection(&mut self, id: conn_table::ConnId) {
        let Some(c) = self.conns.conn(id) else {
            return;
        };
        if c.method() == Method::FullNat {
            // Either family: the local address and port are the reply's destination.
            if let Some((lip, lport)) = c.dst(Direction::Reply) {
                self.snat.release(lip, lport);
            }
        }
        self.conns.remove(id);
    }
}

/// What the established-connection step decided for a packet of either family.
enum Established<F> {
    /// Forward (rewritten) towards this address.
    Forward(F),
    /// Encapsulate for tunnel real server (stable id).
    Tunnel(u32),
    /// Drop and count.
    Drop(DropReason),
}

impl<P: Frame> Pipeline<P> {
    /// Handle one received frame from port `port`.
    #[inline]
    pub fn handle(
        &mut self,
        t: &Tables,
        port: usize,
        mut pkt: P,
        now_ms: u64,
        io: &mut impl Io<P>,
    ) {
        let port_mac = self.cfg.port_macs[port];
        let data = pkt.data_mut();
        let Ok(eth) = EthernetFrame::new_checked(&mut data[..]) else {
            return self.drop_packet(DropReason::EthTruncated);
        };
        let dst = eth.dst_addr().0;
        // IPv6 multicast (33:33:...) carries NDP: handle_ipv6 takes only NDP from it.
        let v6_multicast = dst[..2] == [0x33, 0x33] && eth.ethertype() == EtherType::IPV6;
        if dst != port_mac && dst != BROADCAST && !v6_multicast {
            // IPv4 multicast (VRRP, OSPF...) is the kernel's, where it has an interface.
            if dst[0] & 1 == 1
                && eth.ethertype() == EtherType::IPV4
                && self.cfg.exception.has_kernel(port)
            {
                return self.hand_to_kernel(port, pkt, now_ms, io);
            }
            return self.drop_packet(DropReason::NotOurMac);
        }
        match eth.ethertype() {
            EtherType::ARP => self.handle_arp(t, port, pkt, now_ms, io),
            EtherType::IPV4 => {
                let kernel = self.cfg.exception.has_kernel(port);
                let verdict = self.handle_ipv4(t, pkt.data_mut(), now_ms, kernel);
                self.deliver(t, port, pkt, verdict, now_ms, io)
            }
            EtherType::IPV6 => self.handle_ipv6(t, port, pkt, now_ms, io),
            _ => self.drop_packet(DropReason::UnsupportedEtherType),
        }
    }

    /// Carry out `verdict` for `pkt` (either family), received on `port`: TOA added to
    /// a forwarded FULLNAT packet that asked for it, then route + neighbour, tunnel,
    /// reflect, the kernel, or a counted drop.
    #[inline(always)]
    pub(crate) fn deliver<F: Egress>(
        &mut self,
        t: &Tables,
        port: usize,
        mut pkt: P,
        verdict: Verdict<F>,
        now_ms: u64,
        io: &mut impl Io<P>,
    ) {
        let toa = self.toa.take();
        match verdict {
            Verdict::ToKernel => self.hand_to_kernel(port, pkt, now_ms, io),
            Verdict::Forward(dst) => {
                if let Some((client, cport)) = toa {
                    self.add_toa(&mut pkt, client, cport);
                }
                F::forward(self, t, pkt, dst, now_ms, io)
            }
            Verdict::Reflect => {
                let mut eth = EthernetFrame::new_unchecked(pkt.data_mut());
                let src = eth.src_addr();
                eth.set_dst_addr(src);
                eth.set_src_addr(MacAddr(self.cfg.port_macs[port]));
                io.send(port, pkt);
            }
            Verdict::Drop(why) => self.drop_packet(why),
            Verdict::Tunnel(rip, kind) => F::tunnel(self, t, pkt, rip, kind, now_ms, io),
            Verdict::ForwardTrimmed(dst, len) => {
                if pkt.resize(len) {
                    F::forward(self, t, pkt, dst, now_ms, io)
                }
            }
        }
    }

    /// Hand `pkt` to the kernel through `port`'s TAP, within the rate limit.
    #[inline]
    fn hand_to_kernel(&mut self, port: usize, pkt: P, now_ms: u64, io: &mut impl Io<P>) {
        if !self.cfg.exception.has_kernel(port) {
            return self.drop_packet(DropReason::ForDirector);
        }
        if !self.to_kernel.take(now_ms) {
            return self.drop_packet(DropReason::ExceptionRateLimited);
        }
        bump(&self.cfg.stats.ports[port].to_kernel_packets, 1);
        io.send_kernel(port, pkt);
    }

    fn handle_arp(
        &mut self,
        t: &Tables,
        port: usize,
        mut pkt: P,
        now_ms: u64,
        io: &mut impl Io<P>,
    ) {
        let port_mac = self.cfg.port_macs[port];
        let data = pkt.data_mut();
        let Ok(arp) = ArpPacket::new_checked(&data[ETH_HDR..]) else {
            return self.drop_packet(DropReason::ArpMalformed);
        };
        let Ok(repr) = ArpRepr::parse(&arp) else {
            return self.drop_packet(DropReason::ArpMalformed);
        };
        let (op, sha, spa, tpa) = (
            repr.operation,
            repr.source_hardware_addr.0,
            repr.source_protocol_addr,
            repr.target_protocol_addr,
        );
        let for_us = t.services.is_vip(tpa)
            || t.services.local_on(port, tpa).is_some()
            || crate::xmit::fullnat::lip_on(t, port, tpa);
        let valid_sender = !spa.is_unspecified() && sha != BROADCAST && sha[0] & 1 == 0;
        // Learn the sender: create an entry when the request or reply was addressed to us
        // (with several workers, another worker may have sent the request this reply
        // answers), otherwise only refresh one we already have; release what it held.
        let mut known = false;
        if valid_sender {
            let (neigh, macs) = (&mut self.neigh, &self.cfg.port_macs);
            known = neigh.learn(
                port,
                spa,
                sha,
                now_ms,
                for_us && matches!(op, ArpOperation::Request | ArpOperation::Reply),
                |mut held, mac| {
                    set_macs(held.data_mut(), mac, macs[port]);
                    io.send(port, held);
                },
            );
            // Other workers may hold packets for this neighbour too.
            if known && self.cfg.workers > 1 && self.learned_len < self.learned.len() {
                self.learned[self.learned_len] = NeighbourUpdate {
                    port,
                    ip: IpAddr::V4(spa),
                    mac: sha,
                };
                self.learned_len += 1;
            }
        }
        // The kernel resolves its own neighbours through the TAP: it needs the replies to
        // its requests (the dataplane learned from them above as well).
        if op == ArpOperation::Reply
            && self.cfg.exception.has_kernel(port)
            && t.services.is_local(tpa)
        {
            return self.hand_to_kernel(port, pkt, now_ms, io);
        }
        if op != ArpOperation::Request || !for_us {
            if op == ArpOperation::Reply && known {
                return; // consumed by learning
            }
            return self.drop_packet(DropReason::ArpNotForUs);
        }
        // Turn the request into the reply in place.
        let reply = ArpRepr {
            operation: ArpOperation::Reply,
            source_hardware_addr: MacAddr(port_mac),
            source_protocol_addr: tpa,
            target_hardware_addr: MacAddr(sha),
            target_protocol_addr: spa,
        };
        let data = pkt.data_mut();
        reply.emit(&mut ArpPacket::new_unchecked(
            &mut data[ETH_HDR..ETH_HDR + ARP_LEN],
        ));
        set_macs(data, sha, port_mac);
        if pkt.data().len() > ETH_HDR + ARP_LEN {
            pkt.resize(ETH_HDR + ARP_LEN);
        }
        bump(&self.cfg.stats.arp_replies, 1);
        io.send(port, pkt);
    }

    /// `kernel`: the port has an exception path (packets for the director go there).
    fn handle_ipv4(
        &mut self,
        t: &Tables,
        frame: &mut [u8],
        now_ms: u64,
        kernel: bool,
    ) -> Verdict<Ipv4Addr> {
        use Verdict::Drop;
        let ip_buf = &mut frame[ETH_HDR..];
        let Ok(ip) = Ipv4Packet::new_checked(&ip_buf[..]) else {
            return Drop(DropReason::Ipv4Malformed);
        };
        if !ip.verify_checksum() {
            return Drop(DropReason::Ipv4BadChecksum);
        }
        if ip.is_fragment() {
            return Drop(DropReason::Ipv4Fragment);
        }
        let (src, dst, proto) = (ip.src_addr(), ip.dst_addr(), ip.protocol());
        let l4 = ip.payload();
        let (sport, dport, flags) = match proto {
            proto::TCP => match TcpPacket::new_checked(l4) {
                Ok(t) => (t.src_port(), t.dst_port(), Some(t.flags())),
                Err(_) => return Drop(DropReason::L4Malformed),
            },
            proto::UDP => match UdpPacket::new_checked(l4) {
                Ok(u) => (u.src_port(), u.dst_port(), None),
                Err(_) => return Drop(DropReason::L4Malformed),
            },
            proto::ICMP => return self.handle_icmp(t, ip_buf, now_ms, kernel),
            // Other protocols to an own address (VRRP, OSPF, GRE...) are the kernel's.
            _ if kernel && t.services.is_local(dst) && !t.services.is_vip(dst) => {
                return Verdict::ToKernel
            }
            _ => return Drop(DropReason::NoService),
        };
        let tcp_flags = TcpFlags(flags.map(|f| f.bits()).unwrap_or(0));
        let bytes = ip.total_len() as u32;

        let found = match self.conns.lookup_v4(proto, (src, sport), (dst, dport)) {
            None => None,
            Some((id, dir)) => match self.revisit(t, id, dir, tcp_flags) {
                Revisit::Continue => Some((id, dir)),
                Revisit::Reschedule => None,
                Revisit::Drop(why) => return Drop(why),
            },
        };
        if let Some((id, dir)) = found {
            self.conns.on_packet(id, dir, tcp_flags, bytes, now_ms);
            let from = (src, sport);
            return match self.established(t, id, dir, ip_buf, proto, tcp_flags, from, bytes) {
                Established::Forward(to) => Verdict::Forward(to),
                Established::Tunnel(rs_id) => tunnel_verdict(t, rs_id),
                Established::Drop(why) => Drop(why),
            };
        }

        let services = &t.services;
        if let Some(sid) = services.find(proto, dst, dport) {
            // IPVS creates TCP connections on a SYN only; anything else is a stray.
            if let Some(f) = flags {
                if !f.syn() || f.ack() || f.rst() {
                    return Drop(DropReason::NoConnection);
                }
            }
            let svc = services.get(sid);
            let tuple = Tuple::new(proto, IpAddr::V4(src), sport, IpAddr::V4(dst), dport);
            let flow = FlowKey {
                protocol: proto,
                src_addr: IpAddr::V4(src),
                src_port: sport,
                dst_addr: IpAddr::V4(dst),
                dst_port: dport,
            };
            let (rs_index, template) = match self.schedule(t, sid, &flow, now_ms) {
                Ok(picked) => picked,
                Err(why) => return Drop(why),
            };
            let rs = &svc.real_servers[rs_index];
            // config keeps a service's real servers in its family (NAT and DR).
            let IpAddr::V4(rip) = rs.addr else {
                return Drop(DropReason::NoRealServer);
            };
            if let Err(why) = self.start_connection(
                t, sid, rs, template, tuple, ip_buf, tcp_flags, bytes, now_ms,
            ) {
                return Drop(why);
            }
            if let Forward::Tunnel(kind) = rs.forward {
                return Verdict::Tunnel(rip, kind);
            }
            return Verdict::Forward(rip);
        }
        if services.is_local(dst) {
            return if kernel {
                Verdict::ToKernel
            } else {
                Drop(DropReason::ForDirector)
            };
        }
        Drop(DropReason::NoService)
    }

    /// Translate ICMP errors about a connection; answer ICMP echo requests to VIPs; ICMP to
    /// own addresses goes to the kernel when the port has an exception path (`kernel`),
    /// else echo requests are answered here too. Other ICMP to VIPs is not handled yet.
    fn handle_icmp(
        &mut self,
        t: &Tables,
        ip_buf: &mut [u8],
        now_ms: u64,
        kernel: bool,
    ) -> Verdict<Ipv4Addr> {
        if let Some(v) = self.icmp_error(t, ip_buf, now_ms) {
            return v;
        }
        let Ok(ip) = Ipv4Packet::new_checked(&ip_buf[..]) else {
            return Verdict::Drop(DropReason::Ipv4Malformed);
        };
        let (src, dst) = (ip.src_addr(), ip.dst_addr());
        let hl = ip.header_len();
        let total = ip.total_len();
        let vip = t.services.is_vip(dst);
        if !vip && t.services.is_local(dst) && kernel {
            return Verdict::ToKernel;
        }
        if !(vip || t.services.is_local(dst)) {
            return Verdict::Drop(DropReason::NoService);
        }
        let Ok(icmp) = Icmpv4Packet::new_checked(&ip_buf[hl..total]) else {
            return Verdict::Drop(DropReason::L4Malformed);
        };
        if icmp.msg_type() != 8 || icmp.msg_code() != 0 {
            return Verdict::Drop(DropReason::ForDirector);
        }
        {
            let mut icmp = Icmpv4Packet::new_unchecked(&mut ip_buf[hl..total]);
            icmp.set_msg_type(0);
            icmp.fill_checksum();
        }
        let mut ip = Ipv4Packet::new_unchecked(&mut ip_buf[..]);
        ip.set_src_addr(dst);
        ip.set_dst_addr(src);
        ip.set_ttl(64);
        ip.fill_checksum();
        bump(&self.cfg.stats.icmp_echo_replies, 1);
        Verdict::Reflect
    }

    /// Pick the real server of service `sid` for a new flow of either family.
    ///
    /// Persistence (ip_vs_sched_persist): a live template for the client (masked) and
    /// service sends the flow to the same real server, even a quiescent one (unless
    /// `expire_quiescent_template`); a template whose server left the service is dropped;
    /// else the scheduler picks and the choice is remembered in a new template. Returns
    /// the index into the service's real servers and the template.
    fn schedule(
        &mut self,
        t: &Tables,
        sid: crate::service::ServiceId,
        flow: &FlowKey,
        now_ms: u64,
    ) -> Result<(usize, Option<conn_table::TemplateId>), DropReason> {
        let svc = t.services.get(sid);
        let Some(state) = self.sched.get_mut(sid as usize) else {
            return Err(DropReason::NoRealServer);
        };
        let persist = svc.persistence.map(|p| {
            let key = TemplateKey {
                svc: svc.id,
                client: conn_table::mask_client(flow.src_addr, p.prefix_len),
                vport: svc.port,
            };
            (key, p.timeout_s)
        });
        if let Some((key, _)) = &persist {
            let known = self.conns.template_get(key, now_ms);
            if let Some((tid, rs)) = known {
                let usable = svc
                    .real_servers
                    .iter()
                    .position(|r| r.id == rs)
                    .filter(|&i| {
                        !(t.ipvs.expire_quiescent_template && svc.real_servers[i].weight == 0)
                    });
                match usable {
                    Some(i) => return Ok((i, Some(tid))),
                    None => {
                        self.conns.template_invalidate(tid);
                    }
                }
            }
        }
        let loads = Loads {
            conns: &self.conns,
            servers: &svc.real_servers,
        };
        let Some(i) = svc.scheduler.pick(state, &loads, flow, now_ms) else {
            return Err(DropReason::NoRealServer);
        };
        let template = match &persist {
            Some((key, timeout_s)) => self
                .conns
                .template_create(key, svc.real_servers[i].id, *timeout_s, now_ms)
                .ok(),
            None => None,
        };
        Ok((i, template))
    }

    /// A new connection for `tuple` (its first packet in `ip`) to real server `rs` of
    /// service `sid`, as picked by the scheduler: take a FULLNAT local address and port
    /// from this worker's share of the service's pool, rewrite the packet towards the real
    /// server (NAT, FULLNAT; DR and TUN leave it), insert the connection and account its
    /// first packet (state change, counters). The drop reason otherwise; a packet the
    /// rewrite refuses is dropped after its connection is made, as before. The
    /// new-connection step of the IPv4 and IPv6 paths, always inlined (as a call its
    /// insert-and-account part alone cost the SYN path 25 instructions).
    #[inline(always)]
    #[allow(clippy::too_many_arguments)]
    fn start_connection(
        &mut self,
        t: &Tables,
        sid: crate::service::ServiceId,
        rs: &crate::service::RealServer,
        template: Option<conn_table::TemplateId>,
        tuple: Tuple,
        ip: &mut [u8],
        tcp_flags: TcpFlags,
        bytes: u32,
        now_ms: u64,
    ) -> Result<(), DropReason> {
        let svc = t.services.get(sid);
        let rport = if rs.port == 0 { tuple.dport } else { rs.port };
        let method = match rs.forward {
            Forward::Masq => Method::Masq,
            Forward::Route => Method::Route,
            Forward::FullNat => Method::FullNat,
            Forward::Tunnel(_) => Method::Tunnel,
        };
        // FULLNAT: the client is replaced by a local address and port of this worker's
        // share of the service's pool; the real server replies to it.
        let (reply_dst, reply_dport) = if method == Method::FullNat {
            match svc.snat_pool.and_then(|id| self.snat.take(&t.snat, id)) {
                Some(local) if local.0.is_ipv4() == tuple.src.is_ipv4() => local,
                Some((lip, lport)) => {
                    // A pool of the other family (NAT64): spec refuses it; never mix.
                    self.snat.release(lip, lport);
                    return Err(DropReason::NoRealServer);
                }
                None => return Err(DropReason::SnatExhausted),
            }
        } else {
            (tuple.src, tuple.sport)
        };
        // DR and tunnel connections keep no reply tuple: their replies never come back
        // through the director, and RIP:port -> client:port is the same for one client
        // port towards several VIPs of one real server; the RS (and its encapsulation)
        // come from the table by id.
        let reply = (!method.replies_bypass_director())
            .then(|| Tuple::new(tuple.proto, rs.addr, rport, reply_dst, reply_dport));
        // The reply's index bucket is a likely cache miss at millions of connections:
        // start it now and rewrite the packet before inserting, so the two overlap.
        if self.conns.len() >= conn_prefetch::PREFETCH_MIN_CONNS {
            self.conns.prefetch_insert(reply.as_ref());
        }
        let rewritten = match method {
            Method::Masq => crate::wire::rewrite_dst_ip(ip, rs.addr, rport),
            Method::FullNat => crate::xmit::fullnat::rewrite_first_to_real_server(
                ip,
                (reply_dst, reply_dport),
                (rs.addr, rport),
                tuple.proto == proto::TCP && t.snat.toa_for(rs.id),
            ),
            _ => Ok(()),
        };
        let new = NewConn {
            original: tuple,
            reply,
            rs: rs.id,
            svc: sid,
            method,
            template,
        };
        let Ok(id) = self.conns.insert(&new, now_ms) else {
            if method == Method::FullNat {
                self.snat.release(reply_dst, reply_dport);
            }
            return Err(DropReason::ConnTableFull);
        };
        // FULLNAT TCP: the real server gets the director's own sequence numbers for
        // the local port (see `tcp_seq`).
        if method == Method::FullNat && tuple.proto == proto::TCP {
            if let Some(seq) = crate::xmit::fullnat::tcp_seq::seq_of(ip) {
                let isn = self
                    .isn_key
                    .isn((reply_dst, reply_dport), (rs.addr, rport), now_ms);
                let delta = isn.wrapping_sub(seq);
                crate::xmit::fullnat::tcp_seq::to_real_server(ip, delta);
                self.conns.set_seq_delta(id, delta);
            }
        }
        // The packet that created the connection drives its first state change.
        self.conns
            .on_packet(id, Direction::Original, tcp_flags, bytes, now_ms);
        bump(&self.cfg.stats.conns_created, 1);
        if let Some(c) = self.cfg.stats.real_servers.get(rs.id as usize) {
            bump(&c.conns, 1);
            c.packet(true, u64::from(bytes));
        }
        rewritten.map_err(|_| DropReason::L4Malformed)
    }

    /// Route `pkt` towards `dst`, fill in the MACs and send it, or hold it while the next
    /// hop is resolved.
    pub(crate) fn forward(
        &mut self,
        t: &Tables,
        pkt: P,
        dst: Ipv4Addr,
        now_ms: u64,
        io: &mut impl Io<P>,
    ) {
        let Some(hop) = t.routes.lookup(dst) else {
            return self.drop_packet(DropReason::NoRoute);
        };
        match send_or_hold(&mut self.neigh, &self.cfg.port_macs, hop, pkt, now_ms, io) {
            Delivery::Done => {}
            Delivery::Request => self.send_arp_request(t, io, hop.port, hop.gateway),
            Delivery::Refused => self.drop_packet(DropReason::NeighbourUnresolved),
        }
    }

    fn send_arp_request(&mut self, t: &Tables, io: &mut impl Io<P>, port: usize, target: Ipv4Addr) {
        let Some(src) = t.services.source_for(port, target) else {
            return self.drop_packet(DropReason::NoRoute);
        };
        self.send_arp(io, port, 1, src, [0; 6], target, BROADCAST);
    }

    /// Build and send an ARP packet (`op` 1 = request, 2 = reply) from `port`.
    #[allow(clippy::too_many_arguments)]
    fn send_arp(
        &mut self,
        io: &mut impl Io<P>,
        port: usize,
        op: u16,
        spa: Ipv4Addr,
        tha: [u8; 6],
        tpa: Ipv4Addr,
        eth_dst: [u8; 6],
    ) {
        let Some(mut pkt) = io.alloc() else { return };
        if !pkt.resize(ETH_HDR + ARP_LEN) {
            return self.drop_packet(DropReason::NoMbuf);
        }
        let mac = self.cfg.port_macs[port];
        let data = pkt.data_mut();
        {
            let mut eth = EthernetFrame::new_unchecked(&mut data[..]);
            eth.set_dst_addr(MacAddr(eth_dst));
            eth.set_src_addr(MacAddr(mac));
            eth.set_ethertype(EtherType::ARP);
        }
        ArpRepr {
            operation: if op == 1 {
                ArpOperation::Request
            } else {
                ArpOperation::Reply
            },
            source_hardware_addr: MacAddr(mac),
            source_protocol_addr: spa,
            target_hardware_addr: MacAddr(tha),
            target_protocol_addr: tpa,
        }
        .emit(&mut ArpPacket::new_unchecked(&mut data[ETH_HDR..]));
        bump(&self.cfg.stats.arp_requests, 1);
        io.send(port, pkt);
    }
}

/// What became of a packet handed to [`send_or_hold`].
enum Delivery {
    /// Sent, or held behind a request already under way.
    Done,
    /// Held: the caller must ask for the gateway's MAC (ARP request or neighbour
    /// solicitation, by family).
    Request,
    /// The hold queue is full: dropped.
    Refused,
}

/// Send `pkt` to next hop `hop` if its MAC is known, else hold it until the neighbour
/// answers (either family).
#[inline]
fn send_or_hold<P: Frame, A: crate::neigh::NeighbourAddr>(
    neigh: &mut NeighbourTable<P, A>,
    port_macs: &[[u8; 6]],
    hop: crate::route::Hop<A>,
    mut pkt: P,
    now_ms: u64,
    io: &mut impl Io<P>,
) -> Delivery {
    if let Some(mac) = neigh.lookup(hop.port, hop.gateway, now_ms) {
        set_macs(pkt.data_mut(), mac, port_macs[hop.port]);
        io.send(hop.port, pkt);
        return Delivery::Done;
    }
    match neigh.hold(hop.port, hop.gateway, pkt, now_ms) {
        HoldOutcome::HeldSendRequest => Delivery::Request,
        HoldOutcome::Held => Delivery::Done,
        HoldOutcome::Refused(_pkt) => Delivery::Refused,
    }
}

#[inline]
pub(crate) fn set_macs(frame: &mut [u8], dst: [u8; 6], src: [u8; 6]) {
    frame[0..6].copy_from_slice(&dst);
    frame[6..12].copy_from_slice(&src);
}
