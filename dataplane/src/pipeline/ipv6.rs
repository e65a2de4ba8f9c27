//! The IPv6 TCP/UDP packet's way into the connection step, shared by the packet path
//! (`dispatch`, after its IPv6 header checks) and the fragment step (`fragment`, on its
//! unfragmented copy of a first fragment).

use std::net::Ipv6Addr;

use super::l4::L4Packet;
use super::state::*;
use super::verdict::Verdict;
use crate::frame::Frame;
use crate::tables::Tables;
use crate::wire::ipv6::HEADER_LEN as IP6_HDR;
use crate::wire::Ipv6Packet;

impl<P: Frame> Pipeline<P> {
    /// The IPv6 header facts of a TCP/UDP packet (its next header right after the fixed
    /// header, checked by `handle_ipv6`), then the connection step.
    // Always inlined, into each caller: called out of line from two places it lost the
    // inlining of the lookups (+34 instructions per established IPv6 packet, measured).
    #[inline(always)]
    pub(super) fn handle_ipv6_l4(
        &mut self,
        t: &Tables,
        frame: &mut [u8],
        now_ms: u64,
    ) -> Verdict<Ipv6Addr> {
        let ip_buf = &mut frame[ETH_HDR..];
        let ip = Ipv6Packet::new_unchecked(&ip_buf[..]);
        let len = ip.payload_len();
        let pkt = L4Packet {
            src: ip.src_addr(),
            dst: ip.dst_addr(),
            proto: ip.next_header(),
            l4: IP6_HDR..IP6_HDR + len,
            bytes: (IP6_HDR + len) as u32,
        };
        self.handle_l4(t, ip_buf, pkt, now_ms)
    }
}
