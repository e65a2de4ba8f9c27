//! The pipeline's egress by address family: route + neighbour resolution (ARP or NDP)
//! and tunnel encapsulation, chosen at compile time so one generic path serves both.

use std::net::{Ipv4Addr, Ipv6Addr};

use super::Pipeline;
use crate::family::Family;
use crate::frame::{Frame, Io};
use crate::tables::Tables;
use crate::xmit::tun::TunnelKind;

/// What the pipeline does with a packet towards an address of this family.
pub(crate) trait Egress: Family {
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
    /// Encapsulate `pkt` for tunnel real server `rip` and forward it (or answer the client
    /// that it is too big).
    fn tunnel<P: Frame>(
        p: &mut Pipeline<P>,
        t: &Tables,
        pkt: P,
        rip: Self,
        kind: TunnelKind,
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
    #[inline(always)]
    fn tunnel<P: Frame>(
        p: &mut Pipeline<P>,
        t: &Tables,
        pkt: P,
        rip: Self,
        kind: TunnelKind,
        now_ms: u64,
        io: &mut impl Io<P>,
    ) {
        p.tunnel(t, pkt, rip, kind, now_ms, io)
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
    #[inline(always)]
    fn tunnel<P: Frame>(
        p: &mut Pipeline<P>,
        t: &Tables,
        pkt: P,
        rip: Self,
        kind: TunnelKind,
        now_ms: u64,
        io: &mut impl Io<P>,
    ) {
        p.tunnel(t, pkt, rip, kind, now_ms, io)
    }
}
