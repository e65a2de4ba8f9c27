//! The IPv6 tunnel stage (IPVS `ip_vs_tunnel_xmit_v6`): encapsulate a client's packet for
//! its tunnel real server, or answer the client with Packet Too Big when the encapsulated
//! packet would exceed the egress port's MTU.

use std::net::Ipv6Addr;

use crate::counters::{bump, DropReason};
use crate::frame::{Frame, Io};
use crate::pipeline::Pipeline;
use crate::tables::Tables;
use crate::xmit::tun::tun6 as tunnel6;
use crate::xmit::tun::{EncapError, TunnelKind};

impl<P: Frame> Pipeline<P> {
    /// Encapsulate `pkt` for IPv6 tunnel real server `rip` (from the director's address on
    /// the egress port) and forward it; when too big for that port's MTU, send the client
    /// an ICMPv6 Packet Too Big from the VIP instead (`__mtu_check_toobig_v6`).
    pub(crate) fn tunnel6(
        &mut self,
        t: &Tables,
        mut pkt: P,
        rip: Ipv6Addr,
        kind: TunnelKind,
        now_ms: u64,
        io: &mut impl Io<P>,
    ) {
        let Some(hop) = t.routes6.lookup(rip) else {
            return self.drop_packet(DropReason::NoRoute);
        };
        let Some(src) = t.services.source6_for(hop.port, rip) else {
            return self.drop_packet(DropReason::NoRoute);
        };
        let mtu = t.services.port_mtu(hop.port);
        match tunnel6::encapsulate6(&mut pkt, kind, src, rip, mtu) {
            Ok(()) => {
                bump(&self.cfg.stats.tunnel_encapsulated, 1);
                self.forward6(t, pkt, rip, now_ms, io);
            }
            Err(EncapError::FragNeeded { mtu }) => {
                self.drop_packet(DropReason::TunnelTooBig);
                if let Some(client) = tunnel6::packet_too_big_in_place(&mut pkt, u32::from(mtu)) {
                    bump(&self.cfg.stats.packet_too_big_sent, 1);
                    self.forward6(t, pkt, client, now_ms, io);
                }
            }
            Err(EncapError::TooBig) => self.drop_packet(DropReason::TunnelTooBig),
            Err(EncapError::NoRoom) => self.drop_packet(DropReason::TunnelNoRoom),
        }
    }
}
