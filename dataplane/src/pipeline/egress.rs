//! The pipeline's egress, written once over the address family: route + neighbour
//! resolution (ARP for IPv4, NDP for IPv6), the periodic re-probe of unresolved
//! neighbours, and the time-exceeded answer to a packet whose TTL / hop limit ran out on
//! its way to a real server (tunnel encapsulation is `xmit::tun`'s, for any
//! [`TunnelRoute`] family).

use std::net::{Ipv4Addr, Ipv6Addr};

use super::state::{set_macs, Pipeline, PipelineConfig};
use crate::counters::{bump, DropReason};
use crate::frame::{Frame, Io};
use crate::neigh::{HoldOutcome, NeighbourAddr, NeighbourTable};
use crate::route::Hop;
use crate::tables::Tables;
use crate::wire::{icmpv4, icmpv6};
use crate::xmit::tun::route::TunnelRoute;
use crate::xmit::tun::too_big::{icmp6_error_in_place, icmp_error_in_place};

/// What the pipeline's egress needs to know of an address family: its routes, its
/// neighbour table, and how to ask for a neighbour's MAC (ARP request or neighbour
/// solicitation).
pub(crate) trait Egress: TunnelRoute + NeighbourAddr {
    /// The next hop towards `dst` in this family's routes.
    fn next_hop(t: &Tables, dst: Self) -> Option<Hop<Self>>;
    /// This family's neighbour table of `p`, with `p`'s configuration (the ports' MACs,
    /// the counters) borrowed beside it.
    fn neighbours<P: Frame>(p: &mut Pipeline<P>)
        -> (&mut NeighbourTable<P, Self>, &PipelineConfig);
    /// Ask for `target`'s MAC on `port`.
    fn solicit<P: Frame>(
        p: &mut Pipeline<P>,
        t: &Tables,
        io: &mut impl Io<P>,
        port: usize,
        target: Self,
    );
    /// Turn `pkt` (a client's packet to a VIP) into this family's time exceeded ("hop
    /// limit / TTL exceeded in transit") about it, from the VIP to the client, in place;
    /// the client's address, or None when the frame cannot hold the error.
    fn time_exceeded_in_place<P: Frame>(pkt: &mut P) -> Option<Self>;
}

impl Egress for Ipv4Addr {
    #[inline(always)]
    fn next_hop(t: &Tables, dst: Self) -> Option<Hop<Self>> {
        t.routes.lookup(dst)
    }
    #[inline(always)]
    fn neighbours<P: Frame>(
        p: &mut Pipeline<P>,
    ) -> (&mut NeighbourTable<P, Self>, &PipelineConfig) {
        (&mut p.neigh, &p.cfg)
    }
    #[inline]
    fn solicit<P: Frame>(
        p: &mut Pipeline<P>,
        t: &Tables,
        io: &mut impl Io<P>,
        port: usize,
        target: Self,
    ) {
        p.send_arp_request(t, io, port, target)
    }
    #[inline]
    fn time_exceeded_in_place<P: Frame>(pkt: &mut P) -> Option<Self> {
        icmp_error_in_place(pkt, icmpv4::msg_type::TIME_EXCEEDED, 0, [0; 4])
    }
}

impl Egress for Ipv6Addr {
    #[inline(always)]
    fn next_hop(t: &Tables, dst: Self) -> Option<Hop<Self>> {
        t.routes6.lookup(dst)
    }
    #[inline(always)]
    fn neighbours<P: Frame>(
        p: &mut Pipeline<P>,
    ) -> (&mut NeighbourTable<P, Self>, &PipelineConfig) {
        (&mut p.neigh6, &p.cfg)
    }
    #[inline]
    fn solicit<P: Frame>(
        p: &mut Pipeline<P>,
        t: &Tables,
        io: &mut impl Io<P>,
        port: usize,
        target: Self,
    ) {
        p.send_ns(t, io, port, target)
    }
    #[inline]
    fn time_exceeded_in_place<P: Frame>(pkt: &mut P) -> Option<Self> {
        icmp6_error_in_place(pkt, icmpv6::msg_type::TIME_EXCEEDED, 0, [0; 4])
    }
}

impl<P: Frame> Pipeline<P> {
    /// Route `pkt` towards `dst` (either family), fill in the MACs and send it, or hold it
    /// while the next hop is resolved.
    pub(crate) fn forward<F: Egress>(
        &mut self,
        t: &Tables,
        pkt: P,
        dst: F,
        now_ms: u64,
        io: &mut impl Io<P>,
    ) {
        let Some(hop) = F::next_hop(t, dst) else {
            return self.drop_packet(DropReason::NoRoute);
        };
        let (neigh, cfg) = F::neighbours(self);
        match send_or_hold(neigh, &cfg.port_macs, hop, pkt, now_ms, io) {
            Delivery::Done => {}
            Delivery::Request => F::solicit(self, t, io, hop.port, hop.gateway),
            Delivery::Refused => self.drop_packet(DropReason::NeighbourUnresolved),
        }
    }

    /// A client's packet whose TTL / hop limit would reach zero on its way to a real server
    /// (`Verdict::TimeExceeded`, either family): dropped and counted, and answered with
    /// ICMP / ICMPv6 time exceeded from the VIP (`decrement_ttl` in IPVS's `ip_vs_xmit.c`)
    /// while this worker's ICMP error budget lasts (Linux's `icmp_msgs_per_sec` and
    /// `icmp_msgs_burst`, 1000/s and 50, here per worker).
    #[cold]
    pub(crate) fn time_exceeded<F: Egress>(
        &mut self,
        t: &Tables,
        mut pkt: P,
        now_ms: u64,
        io: &mut impl Io<P>,
    ) {
        self.drop_packet(DropReason::TtlExceeded);
        if !self.icmp_errors.take(now_ms) {
            return;
        }
        if let Some(client) = F::time_exceeded_in_place(&mut pkt) {
            bump(&self.cfg.stats.time_exceeded_sent, 1);
            self.forward(t, pkt, client, now_ms, io);
        }
    }

    /// Ask again for this family's neighbours still unresolved (at most 16 per tick);
    /// drop what waited too long for one.
    pub(super) fn probe_neighbours<F: Egress>(
        &mut self,
        t: &Tables,
        now_ms: u64,
        io: &mut impl Io<P>,
    ) {
        let mut probes: [Option<(usize, F)>; 16] = [None; 16];
        let mut n = 0;
        let (neigh, cfg) = F::neighbours(self);
        let stats = &cfg.stats;
        neigh.tick(
            now_ms,
            |port, ip| {
                if n < probes.len() {
                    probes[n] = Some((port, ip));
                    n += 1;
                }
            },
            |_dropped| stats.drop_packet(DropReason::NeighbourUnresolved),
        );
        for &(port, ip) in probes[..n].iter().flatten() {
            F::solicit(self, t, io, port, ip);
        }
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
    hop: Hop<A>,
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
