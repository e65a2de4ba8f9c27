//! The tunnel stage (IPVS `ip_vs_tunnel_xmit` / `ip_vs_tunnel_xmit_v6`): encapsulate a
//! client's packet for its tunnel real server, or answer the client that it is too big
//! when the encapsulated packet would exceed the egress port's MTU. One generic stage for
//! both families.

use super::route::TunnelRoute;
use super::{encapsulate, EncapError, TunnelKind};
use crate::counters::{bump, DropReason};
use crate::frame::{Frame, Io};
use crate::pipeline::{Egress, Pipeline};
use crate::tables::Tables;

impl<P: Frame> Pipeline<P> {
    /// Encapsulate `pkt` for tunnel real server `rip` (from the director's address on the
    /// egress port) and forward it; or, when it is too big for that port's MTU, answer the
    /// client from the VIP: "fragmentation needed" when the IPv4 packet has DF set,
    /// ICMPv6 Packet Too Big (`__mtu_check_toobig_v6`).
    pub(crate) fn tunnel<F: TunnelRoute + Egress>(
        &mut self,
        t: &Tables,
        mut pkt: P,
        rip: F,
        kind: TunnelKind,
        now_ms: u64,
        io: &mut impl Io<P>,
    ) {
        let Some((port, src)) = F::egress(t, rip) else {
            return self.drop_packet(DropReason::NoRoute);
        };
        let mtu = t.services.port_mtu(port);
        match encapsulate(&mut pkt, kind, src, rip, mtu) {
            Ok(()) => {
                bump(&self.cfg.stats.tunnel_encapsulated, 1);
                F::forward(self, t, pkt, rip, now_ms, io);
            }
            Err(EncapError::FragNeeded { mtu }) => {
                self.drop_packet(DropReason::TunnelTooBig);
                if let Some(client) = F::too_big_in_place(&mut pkt, mtu) {
                    bump(F::too_big_sent(&self.cfg.stats), 1);
                    F::forward(self, t, pkt, client, now_ms, io);
                }
            }
            Err(EncapError::TooBig) => self.drop_packet(DropReason::TunnelTooBig),
            Err(EncapError::NoRoom) => self.drop_packet(DropReason::TunnelNoRoom),
        }
    }
}
