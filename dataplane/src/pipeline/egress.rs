//! The pipeline's egress, written once over the address family: route + neighbour
//! resolution (ARP for IPv4, NDP for IPv6) and the periodic re-probe of unresolved
//! neighbours (tunnel encapsulation is `xmit::tun`'s, for any [`TunnelRoute`] family).

use std::net::{Ipv4Addr, Ipv6Addr};

use super::state::{set_macs, Pipeline, PipelineConfig};
use crate::counters::DropReason;
use crate::frame::{Frame, Io};
use crate::neigh::{HoldOutcome, NeighbourAddr, NeighbourTable};
use crate::route::Hop;
use crate::tables::Tables;
use crate::xmit::tun::route::TunnelRoute;

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
