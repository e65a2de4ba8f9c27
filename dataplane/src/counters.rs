//! Per-worker counters. Each worker owns one [`WorkerStats`] and is its only writer; it
//! updates with relaxed load + store (no read-modify-write), and the control thread reads
//! them with relaxed loads and sums across workers.

use std::sync::atomic::{AtomicU32, AtomicU64, Ordering::Relaxed};

/// Most ports rvs drives.
pub const MAX_PORTS: usize = 8;

/// Most real servers (by stable id) whose connection counts a worker reports.
pub const MAX_REAL_SERVERS: usize = 4096;

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
    /// IPv4 fragment (rvs does not reassemble).
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
    /// IPv6 fragment (rvs does not reassemble).
    Ipv6Fragment => "ipv6_fragment",
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
    /// Connection counts per real server id.
    pub real_servers: Box<[RealServerCounts]>,
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
            real_servers: (0..MAX_REAL_SERVERS)
                .map(|_| RealServerCounts::default())
                .collect(),
            snat_ports_in_use: AtomicU64::new(0),
            icmpv6_errors_translated: AtomicU64::new(0),
            toa_no_room: AtomicU64::new(0),
            packet_too_big_sent: AtomicU64::new(0),
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

    /// Drops for one reason.
    pub fn drops(&self, why: DropReason) -> u64 {
        get(&self.drops[why as usize])
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
