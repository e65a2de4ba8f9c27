//! The IPv4 header stage, shared by the packet path (`dispatch`) and the fragment step
//! (`fragment`, on its unfragmented copy of a first fragment): length, checksum, fragments,
//! options, then TCP/UDP to the connection step (`l4`), ICMP to `echo`, other protocols to
//! an own address to the kernel.

use std::net::Ipv4Addr;

use super::l4::L4Packet;
use super::lookup::L4Family;
use super::state::*;
use super::verdict::Verdict;
use crate::counters::DropReason;
use crate::frame::Frame;
use crate::service::proto;
use crate::tables::Tables;
use crate::wire::ipv4::HEADER_LEN as IP4_HDR;
use crate::wire::{martian, Ipv4Packet};

impl<P: Frame> Pipeline<P> {
    /// The IPv4 header stage: checks (length, checksum, fragments), then TCP/UDP to the
    /// connection step, ICMP to the director's ICMP handling, and other protocols to an
    /// own address to the kernel. `kernel`: the port has an exception path.
    // Not inlined into `handle`: as a function of its own, LLVM inlines the connection
    // lookup and the service lookup into it (inlined into `handle` it did not, and a SYN
    // cost 33 instructions more). Never inlined: the fragment step calls it too.
    #[inline(never)]
    pub(super) fn handle_ipv4(
        &mut self,
        t: &Tables,
        frame: &mut [u8],
        now_ms: u64,
        kernel: bool,
    ) -> Verdict<Ipv4Addr> {
        use Verdict::Drop;
        let ip_buf = &mut frame[ETH_HDR..];
        let Ok(ip) = Ipv4Packet::new_checked(&ip_buf[..]) else {
            return Drop(DropReason::Ipv4Malformed);
        };
        if !ip.verify_checksum() {
            return Drop(DropReason::Ipv4BadChecksum);
        }
        if ip.is_fragment() {
            // TCP/UDP fragments to the fragment step; those to the director's own
            // addresses to its kernel, which reassembles.
            let dst = ip.dst_addr();
            let own = kernel && t.services.is_local(dst) && !t.services.is_vip(dst);
            return match ip.protocol() {
                _ if own && !t.snat.is_lip(dst) => Verdict::ToKernel,
                proto::TCP | proto::UDP => Verdict::Fragment,
                _ => Drop(DropReason::Ipv4Fragment),
            };
        }
        // One compare on the common path: options are rare and walked only when present.
        if ip.header_len() != IP4_HDR && !martian::ipv4_options_valid(ip.options()) {
            return Drop(DropReason::Ipv4BadOptions);
        }
        let (src, dst, proto) = (ip.src_addr(), ip.dst_addr(), ip.protocol());
        match proto {
            proto::TCP | proto::UDP => {}
            // ICMP has no connection step to check its source: checked here (an echo
            // request from a broadcast source is not answered).
            proto::ICMP if Ipv4Addr::martian_source(t, src) => {
                return Drop(DropReason::Ipv4MartianSource)
            }
            proto::ICMP => return self.handle_icmp(t, ip_buf, now_ms, kernel),
            // Other protocols to an own address (VRRP, OSPF, GRE...) are the kernel's.
            _ if kernel && t.services.is_local(dst) && !t.services.is_vip(dst) => {
                return Verdict::ToKernel
            }
            _ => return Drop(DropReason::NoService),
        }
        let pkt = L4Packet {
            src,
            dst,
            proto,
            l4: ip.header_len()..ip.total_len(),
            bytes: ip.total_len() as u32,
        };
        self.handle_l4(t, ip_buf, pkt, now_ms)
    }
}
