//! The pipeline's egress by address family: route + neighbour resolution (ARP or NDP),
//! chosen at compile time so one generic path serves both (tunnel encapsulation is
//! `xmit::tun`'s, for any [`TunnelRoute`] family).

use std::net::{Ipv4Addr, Ipv6Addr};

use super::state::{set_macs, Pipeline};
use crate::counters::DropReason;
use crate::frame::{Frame, Io};
use crate::neigh::{HoldOutcome, NeighbourTable};
use crate::tables::Tables;
use crate::xmit::tun::route::TunnelRoute;

/// What the pipeline does with a packet towards an address of this family.
pub(crate) trait Egress: TunnelRoute {
    /// Route `pkt` towards `to`, fill in the MACs and send it (or hold it while the next
    /// hop is resolved).
    fn forward<P: Frame>(
        p: &mut Pipeline<P>,
        t: &Tables,
        pkt: P,
        to: Self,
        now_ms: u64,
        io: &mut impl Io<P>,
    );
}

impl Egress for Ipv4Addr {
    #[inline(always)]
    fn forward<P: Frame>(
        p: &mut Pipeline<P>,
        t: &Tables,
        pkt: P,
        to: Self,
        now_ms: u64,
        io: &mut impl Io<P>,
    ) {
        p.forward(t, pkt, to, now_ms, io)
    }
}

impl Egress for Ipv6Addr {
    #[inline(always)]
    fn forward<P: Frame>(
        p: &mut Pipeline<P>,
        t: &Tables,
        pkt: P,
        to: Self,
        now_ms: u64,
        io: &mut impl Io<P>,
    ) {
        p.forward6(t, pkt, to, now_ms, io)
    }
}

impl<P: Frame> Pipeline<P> {
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

    /// Route `pkt` towards IPv6 `dst`, fill in the MACs and send it, or hold it while the
    /// next hop is resolved by neighbour solicitation.
    pub(crate) fn forward6(
        &mut self,
        t: &Tables,
        pkt: P,
        dst: Ipv6Addr,
        now_ms: u64,
        io: &mut impl Io<P>,
    ) {
        let Some(hop) = t.routes6.lookup(dst) else {
            return self.drop_packet(DropReason::NoRoute);
        };
        match send_or_hold(&mut self.neigh6, &self.cfg.port_macs, hop, pkt, now_ms, io) {
            Delivery::Done => {}
            Delivery::Request => self.send_ns(t, io, hop.port, hop.gateway),
            Delivery::Refused => self.drop_packet(DropReason::NeighbourUnresolved),
        }
    }
}

/// What became of a packet handed to [`send_or_hold`].
pub(super) enum Delivery {
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
pub(super) fn send_or_hold<P: Frame, A: crate::neigh::NeighbourAddr>(
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
