//! Per-worker counters. Each worker owns one [`WorkerStats`] and is its only writer; it
//! updates with relaxed load + store (no read-modify-write), and the control thread reads
//! them with relaxed loads and sums across workers.

use std::sync::atomic::{AtomicU32, AtomicU64, Ordering::Acquire, Ordering::Relaxed};
use std::sync::OnceLock;

/// Most ports rvs drives.
pub const MAX_PORTS: usize = 8;

/// Real-server ids per segment of a worker's per-real-server counters: the control thread
/// adds segments as the configuration grows, a worker never allocates them.
pub const REAL_SERVER_SEGMENT: usize = 4096;

/// Most real-server ids (configured (service, real server) entries plus the deleted ones
/// that connections still refer to). The segment index is one of a fixed array, so a
/// worker finds a counter with two loads and no lock.
pub const MAX_REAL_SERVER_IDS: usize = 1 << 24;

const SEGMENT_SHIFT: u32 = REAL_SERVER_SEGMENT.trailing_zeros();
const SEGMENTS: usize = MAX_REAL_SERVER_IDS / REAL_SERVER_SEGMENT;

/// One real server's connections on one worker (ipvsadm's ActiveConn / InActConn /
/// PersistConn), copied from the worker's table a few times a second.
#[derive(Debug, Default)]
pub struct RealServerCounts {
    /// Active connections.
    pub active: AtomicU32,
    /// Inactive connections.
    pub inactive: AtomicU32,
    /// Persistence templates.
    pub persistent: AtomicU32,
    /// Connections scheduled to it (ipvsadm --stats Conns).
    pub conns: AtomicU64,
    /// Packets client -> real server.
    pub inpkts: AtomicU64,
    /// Packets real server -> client.
    pub outpkts: AtomicU64,
    /// Bytes client -> real server.
    pub inbytes: AtomicU64,
    /// Bytes real server -> client.
    pub outbytes: AtomicU64,
    /// Connections and templates of this worker that refer to the id (active + inactive +
    /// persistent, stored as one value so that a reader never adds halves of two
    /// publications): the control thread recycles a deleted server's id once this is 0 on
    /// every worker.
    pub refs: AtomicU32,
}

impl RealServerCounts {
    /// Count a packet of `bytes` in one direction (true = client to real server).
    #[inline]
    pub fn packet(&self, inbound: bool, bytes: u64) {
        if inbound {
            bump(&self.inpkts, 1);
            bump(&self.inbytes, bytes);
        } else {
            bump(&self.outpkts, 1);
            bump(&self.outbytes, bytes);
        }
    }
}

type Segment = Box<[RealServerCounts; REAL_SERVER_SEGMENT]>;

/// One worker's [`RealServerCounts`] by real-server id, in segments of
/// [`REAL_SERVER_SEGMENT`] ids. The control thread adds segments ([`Self::reserve`])
/// before it publishes tables that use their ids; the worker only reads what is there
/// (an id without a segment is not counted, never out of bounds) and never blocks.
#[derive(Debug)]
pub struct RealServerTable {
    segments: Box<[OnceLock<Segment>; SEGMENTS]>,
}

impl Default for RealServerTable {
    /// The first segment only (4096 ids, as many as a small configuration needs).
    fn default() -> Self {
        let segments: Box<[OnceLock<Segment>]> = (0..SEGMENTS).map(|_| OnceLock::new()).collect();
        let t = RealServerTable {
            segments: segments
                .try_into()
                .unwrap_or_else(|_| unreachable!("SEGMENTS cells were collected")),
        };
        t.reserve(REAL_SERVER_SEGMENT);
        t
    }
}

impl RealServerTable {
    /// The counters of real-server id `id`, if its segment exists. On the packet path:
    /// a shift, a mask, two loads and two branches.
    #[inline(always)]
    pub fn get(&self, id: usize) -> Option<&RealServerCounts> {
        let seg = self.segments.get(id >> SEGMENT_SHIFT)?.get()?;
        Some(&seg[id & (REAL_SERVER_SEGMENT - 1)])
    }

    /// Make ids `0..n` countable (capped at [`MAX_REAL_SERVER_IDS`]). Control thread only;
    /// allocates the missing segments, zeroed.
    pub fn reserve(&self, n: usize) {
        let segs = n.min(MAX_REAL_SERVER_IDS).div_ceil(REAL_SERVER_SEGMENT);
        for cell in &self.segments[..segs] {
            cell.get_or_init(|| {
                let v: Box<[RealServerCounts]> = (0..REAL_SERVER_SEGMENT)
                    .map(|_| RealServerCounts::default())
                    .collect();
                v.try_into()
                    .unwrap_or_else(|_| unreachable!("a segment's worth was collected"))
            });
        }
    }

    /// Ids `0..len()` have counters (segments are added in order).
    pub fn len(&self) -> usize {
        self.segments
            .iter()
            .take_while(|c| c.get().is_some())
            .count()
            * REAL_SERVER_SEGMENT
    }

    /// Whether no id has counters.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The counters of ids `first..` within `first`'s segment, with their ids (the worker
    /// publishes its connection counts a segment at a time).
    pub fn segment_from(&self, first: usize) -> Option<&[RealServerCounts]> {
        let seg = self.segments.get(first >> SEGMENT_SHIFT)?.get()?;
        Some(&seg[first & (REAL_SERVER_SEGMENT - 1)..])
    }
}

macro_rules! drop_reasons {
    ($($(#[doc = $doc:literal])* $name:ident => $text:literal,)*) => {
        /// Why a packet was dropped. One definition feeds the counters and `/metrics` names.
        #[repr(u8)]
        #[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
        pub enum DropReason {
            $($(#[doc = $doc])* $name,)*
        }

        impl DropReason {
            /// Every reason, in counter order.
            pub const ALL: &'static [DropReason] = &[$(DropReason::$name,)*];
            /// Number of reasons.
            pub const COUNT: usize = Self::ALL.len();

            /// Stable snake_case name (metric label, stats file key).
            pub const fn name(self) -> &'static str {
                match self { $(DropReason::$name => $text,)* }
            }
        }
    };
}

drop_reasons! {
    /// Frame shorter than an Ethernet header.
    EthTruncated => "eth_truncated",
    /// Unicast frame for another MAC address.
    NotOurMac => "not_our_mac",
    /// EtherType rvs does not handle (yet): VLAN, LLDP...
    UnsupportedEtherType => "unsupported_ethertype",
    /// ARP packet truncated or not Ethernet/IPv4.
    ArpMalformed => "arp_malformed",
    /// ARP for an address that is neither a VIP nor ours, or an ARP reply we did not need.
    ArpNotForUs => "arp_not_for_us",
    /// IPv4 header truncated, IHL or total length impossible, or not version 4.
    Ipv4Malformed => "ipv4_malformed",
    /// IPv4 header checksum wrong.
    Ipv4BadChecksum => "ipv4_bad_checksum",
    /// IPv4 fragment rvs does not forward: not TCP or UDP (to an address that is not
    /// the kernel's).
    Ipv4Fragment => "ipv4_fragment",
    /// TCP/UDP/ICMP header truncated or inconsistent.
    L4Malformed => "l4_malformed",
    /// Packet to a VIP with no matching virtual service, or to an address rvs does not serve.
    NoService => "no_service",
    /// TCP packet to a virtual service that is not a SYN and matches no connection.
    NoConnection => "no_connection",
    /// Virtual service has no usable real server (all weight 0 or overloaded).
    NoRealServer => "no_real_server",
    /// No route to the destination.
    NoRoute => "no_route",
    /// TTL would reach zero.
    TtlExceeded => "ttl_exceeded",
    /// Neighbour unresolved and its hold queue full, or resolution failed.
    NeighbourUnresolved => "neighbour_unresolved",
    /// Connection table full: new flow refused.
    ConnTableFull => "conn_table_full",
    /// Packet for the director itself that rvs does not answer and cannot hand to the
    /// kernel (the port has no exception path).
    ForDirector => "for_director",
    /// Multi-segment mbuf (jumbo frame) not handled.
    MultiSegment => "multi_segment",
    /// No mbuf available to build a packet (ARP request...).
    NoMbuf => "no_mbuf",
    /// The NIC's TX queue refused the packet.
    TxFull => "tx_full",
    /// The ring to the flow's owner worker was full.
    SteerRingFull => "steer_ring_full",
    /// A client packet of a connection whose real server was removed, with
    /// `expire_nodest_conn` on: the connection was expired.
    NoDestExpired => "nodest_expired",
    /// FULLNAT: the worker's share of the service's SNAT pool has no free (local
    /// address, port): new flow refused, existing flows untouched.
    SnatExhausted => "snat_exhausted",
    /// Packet for the kernel over the worker's exception-path rate limit.
    ExceptionRateLimited => "exception_rate_limited",
    /// The kernel interface (TAP) refused a packet for the kernel.
    ExceptionTxFull => "exception_tx_full",
    /// Tunnel: the encapsulated packet would exceed the egress MTU (with DF set, an ICMP
    /// "fragmentation needed" was sent back; without DF, rvs does not fragment).
    TunnelTooBig => "tunnel_too_big",
    /// Tunnel: no headroom in the buffer for the outer headers.
    TunnelNoRoom => "tunnel_no_room",
    /// IPv6 header truncated, not version 6, or payload length beyond the frame.
    Ipv6Malformed => "ipv6_malformed",
    /// IPv6 packet with an extension header (hop-by-hop, routing, destination options,
    /// ...): rvs forwards only packets whose upper-layer header follows the fixed header.
    Ipv6ExtensionHeader => "ipv6_extension_header",
    /// IPv6 fragment rvs does not forward: not TCP or UDP right after the Fragment
    /// header (to an address that is not the kernel's).
    Ipv6Fragment => "ipv6_fragment",
    /// A first fragment without its whole TCP/UDP header, or a later one overlapping
    /// that header (RFC 1858's tiny and overlapping fragments).
    FragmentMalformed => "fragment_malformed",
    /// A fragment that came before its datagram's first one, dropped when the table of
    /// datagrams in flight or of waiting fragments was full.
    FragmentTableFull => "fragment_table_full",
    /// A fragment that waited for its datagram's first fragment longer than the timeout.
    FragmentTimeout => "fragment_timeout",
    /// A first fragment whose step answered the client itself (an ICMP error), which rvs
    /// does not do for fragments.
    FragmentUnsupported => "fragment_unsupported",
    /// Neighbour solicitation/advertisement failing RFC 4861 validation (hop limit not
    /// 255, code not 0, bad ICMPv6 checksum, short, bad option).
    NdpInvalid => "ndp_invalid",
    /// Neighbour solicitation for an address that is neither a VIP nor ours, or an
    /// advertisement rvs did not need.
    NdpNotForUs => "ndp_not_for_us",
    /// ICMPv6 message to a VIP or own address with a wrong checksum.
    Icmpv6BadChecksum => "icmpv6_bad_checksum",
    /// ICMPv6 error (destination unreachable, packet too big, time exceeded, parameter
    /// problem) whose quoted packet is cut short or not IPv6.
    Icmpv6ErrorMalformed => "icmpv6_error_malformed",
    /// ICMPv6 error about a connection rvs cannot translate: a quoted non-first fragment,
    /// or a forwarding method whose IPv6 errors are not handled (TUN, FULLNAT).
    Icmpv6ErrorUnsupported => "icmpv6_error_unsupported",
    /// ICMPv6 error quoting a TCP/UDP flow that matches no connection.
    Icmpv6ErrorNoConnection => "icmpv6_error_no_connection",
    /// IPv4 packet from a source Linux's input path refuses (martian): 0.0.0.0/8,
    /// 127.0.0.0/8, multicast, class E and broadcast, a VIP, one of the director's own
    /// addresses or subnet broadcasts.
    Ipv4MartianSource => "ipv4_martian_source",
    /// IPv6 packet from a source Linux refuses: unspecified, loopback, multicast,
    /// IPv4-mapped, a VIP or one of the director's own addresses.
    Ipv6MartianSource => "ipv6_martian_source",
    /// IPv4 options that do not parse within the header (as `ip_options_compile` checks
    /// them), or a source route or CIPSO option, which Linux drops by default.
    Ipv4BadOptions => "ipv4_bad_options",
}

/// One worker's counters for one port.
#[derive(Debug, Default)]
pub struct PortCounters {
    /// Packets received on this port.
    pub rx_packets: AtomicU64,
    /// Bytes received on this port.
    pub rx_bytes: AtomicU64,
    /// Packets sent on this port.
    pub tx_packets: AtomicU64,
    /// Bytes sent on this port.
    pub tx_bytes: AtomicU64,
    /// Packets the TX queue refused.
    pub tx_dropped: AtomicU64,
    /// Packets handed to the kernel through this port's exception path.
    pub to_kernel_packets: AtomicU64,
    /// Packets the kernel sent out through this port's exception path.
    pub from_kernel_packets: AtomicU64,
}

/// One worker's counters. Cache-line aligned so two workers never share a line.
#[repr(align(64))]
#[derive(Debug)]
pub struct WorkerStats {
    /// Per port.
    pub ports: [PortCounters; MAX_PORTS],
    /// Per drop reason, indexed by `DropReason as usize`.
    pub drops: [AtomicU64; DropReason::COUNT],
    /// New connections created.
    pub conns_created: AtomicU64,
    /// Connections expired.
    pub conns_expired: AtomicU64,
    /// TCP connections in TIME_WAIT/CLOSE ended by a new SYN on the same client port and
    /// scheduled again (IPVS `conn_reuse_mode`).
    pub conns_reused: AtomicU64,
    /// Connections currently in the table.
    pub conns_current: AtomicU64,
    /// ARP replies and NDP neighbour advertisements sent (for VIPs and own addresses).
    pub arp_replies: AtomicU64,
    /// ARP requests and NDP neighbour solicitations sent (next-hop resolution), and
    /// gratuitous ARP / unsolicited advertisements.
    pub arp_requests: AtomicU64,
    /// ICMP and ICMPv6 echo replies sent.
    pub icmp_echo_replies: AtomicU64,
    /// Packets encapsulated to tunnel real servers (IPIP, GUE, GRE).
    pub tunnel_encapsulated: AtomicU64,
    /// ICMP "fragmentation needed" errors sent to clients (tunnel path MTU).
    pub frag_needed_sent: AtomicU64,
    /// ICMP errors about a connection, translated and forwarded to the other side.
    pub icmp_errors_translated: AtomicU64,
    /// Packets handed to their owner worker.
    pub steered_out: AtomicU64,
    /// Packets received from other workers.
    pub steered_in: AtomicU64,
    /// Loop iterations.
    pub loops: AtomicU64,
    /// Loop iterations that received at least one packet.
    pub busy_loops: AtomicU64,
    /// TSC cycles spent in busy iterations (for cycles per packet).
    pub busy_cycles: AtomicU64,
    /// Connection counts and traffic per real server id.
    pub real_servers: RealServerTable,
    /// The table generation every worker's published `refs` are at least as recent as:
    /// set (release) after a full pass over the per-real-server counts that started on
    /// that generation. 0 until the first pass.
    pub counts_generation: AtomicU64,
    /// FULLNAT local ports this worker has handed out (gauge).
    pub snat_ports_in_use: AtomicU64,
    /// ICMPv6 errors about a connection, translated (NAT) or relayed (DR) to the other
    /// side.
    pub icmpv6_errors_translated: AtomicU64,
    /// FULLNAT packets that were to carry TOA but had no room for it (full TCP header,
    /// past the MTU, no buffer room): forwarded without it.
    pub toa_no_room: AtomicU64,
    /// ICMPv6 Packet Too Big errors sent to clients (IPv6 tunnel path MTU).
    pub packet_too_big_sent: AtomicU64,
    /// TCP/UDP fragments (IPv4 and IPv6) received for forwarding.
    pub fragments_received: AtomicU64,
    /// ICMP and ICMPv6 time exceeded errors sent to clients whose packet's TTL / hop
    /// limit ran out at the director (within the worker's ICMP error rate limit).
    pub time_exceeded_sent: AtomicU64,
    /// RSTs sent from a VIP for TCP segments of no connection (each also counted as a
    /// `no_connection` drop; see `pipeline::reset`).
    pub rst_sent_no_connection: AtomicU64,
}

impl Default for WorkerStats {
    fn default() -> Self {
        WorkerStats {
            ports: Default::default(),
            drops: std::array::from_fn(|_| AtomicU64::new(0)),
            conns_created: AtomicU64::new(0),
            conns_expired: AtomicU64::new(0),
            conns_reused: AtomicU64::new(0),
            conns_current: AtomicU64::new(0),
            arp_replies: AtomicU64::new(0),
            arp_requests: AtomicU64::new(0),
            icmp_echo_replies: AtomicU64::new(0),
            tunnel_encapsulated: AtomicU64::new(0),
            frag_needed_sent: AtomicU64::new(0),
            icmp_errors_translated: AtomicU64::new(0),
            steered_out: AtomicU64::new(0),
            steered_in: AtomicU64::new(0),
            loops: AtomicU64::new(0),
            busy_loops: AtomicU64::new(0),
            busy_cycles: AtomicU64::new(0),
            real_servers: RealServerTable::default(),
            counts_generation: AtomicU64::new(0),
            snat_ports_in_use: AtomicU64::new(0),
            icmpv6_errors_translated: AtomicU64::new(0),
            toa_no_room: AtomicU64::new(0),
            packet_too_big_sent: AtomicU64::new(0),
            fragments_received: AtomicU64::new(0),
            time_exceeded_sent: AtomicU64::new(0),
            rst_sent_no_connection: AtomicU64::new(0),
        }
    }
}

/// Add to a counter this thread alone writes (no atomic read-modify-write).
#[inline]
pub fn bump(c: &AtomicU64, n: u64) {
    c.store(c.load(Relaxed).wrapping_add(n), Relaxed);
}

/// Set a gauge this thread alone writes.
#[inline]
pub fn set(c: &AtomicU64, v: u64) {
    c.store(v, Relaxed);
}

/// Read a counter.
#[inline]
pub fn get(c: &AtomicU64) -> u64 {
    c.load(Relaxed)
}

impl WorkerStats {
    /// Count one dropped packet.
    #[inline]
    pub fn drop_packet(&self, why: DropReason) {
        bump(&self.drops[why as usize], 1);
    }

    /// Count `n` dropped packets.
    #[inline]
    pub fn drop_packets(&self, why: DropReason, n: u64) {
        bump(&self.drops[why as usize], n);
    }

    /// Drops for one reason.
    pub fn drops(&self, why: DropReason) -> u64 {
        get(&self.drops[why as usize])
    }

    /// The generation of the last full pass of per-real-server counts (see
    /// [`WorkerStats::counts_generation`]); the `refs` read after this are at least that
    /// recent.
    pub fn counts_generation(&self) -> u64 {
        self.counts_generation.load(Acquire)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_unique_snake_case() {
        let mut names: Vec<_> = DropReason::ALL.iter().map(|d| d.name()).collect();
        assert!(names.iter().all(|n| n
            .chars()
            .all(|c| c.is_ascii_lowercase() || c == '_' || c.is_ascii_digit())));
        names.sort();
        names.dedup();
        assert_eq!(names.len(), DropReason::COUNT);
        assert_eq!(
            DropReason::ALL[DropReason::TxFull as usize],
            DropReason::TxFull
        );
    }

    #[test]
    fn real_server_counters_grow_by_segment_and_never_index_out_of_bounds() {
        let t = RealServerTable::default();
        assert_eq!(t.len(), REAL_SERVER_SEGMENT);
        assert!(t.get(REAL_SERVER_SEGMENT - 1).is_some());
        assert!(
            t.get(REAL_SERVER_SEGMENT).is_none(),
            "no segment yet: not counted"
        );
        assert!(t.get(usize::MAX).is_none());
        bump(&t.get(7).unwrap().conns, 3);
        t.reserve(100_000);
        assert_eq!(
            t.len(),
            100_000usize.div_ceil(REAL_SERVER_SEGMENT) * REAL_SERVER_SEGMENT
        );
        assert_eq!(get(&t.get(7).unwrap().conns), 3, "existing counters stay");
        assert_eq!(get(&t.get(99_999).unwrap().conns), 0);
        assert_eq!(
            t.segment_from(4097).map(<[_]>::len),
            Some(REAL_SERVER_SEGMENT - 1)
        );
    }

    #[test]
    fn counters_add_up() {
        let s = WorkerStats::default();
        s.drop_packet(DropReason::NoService);
        s.drop_packet(DropReason::NoService);
        bump(&s.ports[3].rx_bytes, 60);
        assert_eq!(s.drops(DropReason::NoService), 2);
        assert_eq!(get(&s.ports[3].rx_bytes), 60);
        assert_eq!(std::mem::align_of::<WorkerStats>(), 64);
    }
}
