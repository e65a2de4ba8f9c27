//! Where a tunnel connection's packets go, by family: the real server's address and
//! encapsulation in the current table, the egress port towards it and the director's
//! address there (the outer source), and how a too-big packet is answered and counted.

use std::net::{Ipv4Addr, Ipv6Addr};
use std::sync::atomic::AtomicU64;

use super::encap::{TunnelFamily, TunnelKind};
use super::too_big::{frag_needed_in_place, packet_too_big_in_place};
use crate::counters::WorkerStats;
use crate::frame::Frame;
use crate::tables::Tables;

/// What the tunnel stage looks up and answers differently for IPv4 and IPv6.
pub(crate) trait TunnelRoute: TunnelFamily {
    /// Address and encapsulation of tunnel real server `rs_id` in `t`.
    fn tunnel_of(t: &Tables, rs_id: u32) -> Option<(Self, TunnelKind)>;
    /// The egress port towards `rip` and the director's address on it; None without a
    /// route or an address.
    fn egress(t: &Tables, rip: Self) -> Option<(usize, Self)>;
    /// Turn the client's too-big packet in `pkt` into the error reporting `mtu`, from the
    /// VIP (ICMP "fragmentation needed", ICMPv6 Packet Too Big); the client's address, or
    /// None when the frame cannot hold it.
    fn too_big_in_place<P: Frame>(pkt: &mut P, mtu: u16) -> Option<Self>;
    /// The counter of those errors sent.
    fn too_big_sent(stats: &WorkerStats) -> &AtomicU64;
}

impl TunnelRoute for Ipv4Addr {
    #[inline]
    fn tunnel_of(t: &Tables, rs_id: u32) -> Option<(Self, TunnelKind)> {
        t.services.tunnel_of(rs_id)
    }
    #[inline]
    fn egress(t: &Tables, rip: Self) -> Option<(usize, Self)> {
        let hop = t.routes.lookup(rip)?;
        Some((hop.port, t.services.source_for(hop.port, rip)?))
    }
    #[inline]
    fn too_big_in_place<P: Frame>(pkt: &mut P, mtu: u16) -> Option<Self> {
        frag_needed_in_place(pkt, mtu)
    }
    #[inline]
    fn too_big_sent(stats: &WorkerStats) -> &AtomicU64 {
        &stats.frag_needed_sent
    }
}

impl TunnelRoute for Ipv6Addr {
    #[inline]
    fn tunnel_of(t: &Tables, rs_id: u32) -> Option<(Self, TunnelKind)> {
        t.services.tunnel6_of(rs_id)
    }
    #[inline]
    fn egress(t: &Tables, rip: Self) -> Option<(usize, Self)> {
        let hop = t.routes6.lookup(rip)?;
        Some((hop.port, t.services.source6_for(hop.port, rip)?))
    }
    #[inline]
    fn too_big_in_place<P: Frame>(pkt: &mut P, mtu: u16) -> Option<Self> {
        packet_too_big_in_place(pkt, u32::from(mtu))
    }
    #[inline]
    fn too_big_sent(stats: &WorkerStats) -> &AtomicU64 {
        &stats.packet_too_big_sent
    }
}
