//! The exception path's pipeline stage: what goes to the director's own kernel through a
//! port's TAP (traffic for the director's own addresses, the ARP replies and NDP the
//! kernel needs, multicast it runs protocols on), within the worker's rate limit.

use std::net::Ipv6Addr;

use super::state::Pipeline;
use crate::counters::{bump, DropReason};
use crate::frame::{Frame, Io};
use crate::tables::Tables;

impl<P: Frame> Pipeline<P> {
    /// Hand `pkt` to the kernel through `port`'s TAP, within the rate limit.
    #[inline]
    pub(super) fn hand_to_kernel(&mut self, port: usize, pkt: P, now_ms: u64, io: &mut impl Io<P>) {
        if !self.cfg.exception.has_kernel(port) {
            return self.drop_packet(DropReason::ForDirector);
        }
        if !self.to_kernel.take(now_ms) {
            return self.drop_packet(DropReason::ExceptionRateLimited);
        }
        bump(&self.cfg.stats.ports[port].to_kernel_packets, 1);
        io.send_kernel(port, pkt);
    }

    /// Whether a unicast packet to `dst` arriving on `port` is the kernel's: an own address
    /// (not a VIP) on a port with an exception path.
    #[inline]
    pub(super) fn for_kernel6(&self, t: &Tables, port: usize, dst: Ipv6Addr) -> bool {
        self.cfg.exception.has_kernel(port) && t.services.is_local6(dst) && !t.services.is_vip6(dst)
    }

    /// IPv6 multicast that is not NDP: to the kernel where the port has an exception path
    /// (the kernel answers MLD queries, runs VRRP or OSPFv3), else dropped.
    pub(super) fn multicast6_to_kernel(
        &mut self,
        port: usize,
        pkt: P,
        now_ms: u64,
        io: &mut impl Io<P>,
    ) {
        if !self.cfg.exception.has_kernel(port) {
            return self.drop_packet(DropReason::NotOurMac);
        }
        self.hand_to_kernel(port, pkt, now_ms, io)
    }
}
