//! ICMP and ICMPv6 that no connection claims: errors quoting a connection go to
//! `xmit::icmp`, NDP to `ndp`, echo requests to VIPs and own addresses are answered,
//! and the rest to an own address is the kernel's.

use std::net::{Ipv4Addr, Ipv6Addr};

use super::ndp::ND_LEN;
use super::state::*;
use super::verdict::Verdict;
use crate::counters::{bump, DropReason};
use crate::frame::{Frame, Io};
use crate::tables::Tables;
use crate::wire::icmpv6::msg_type;
use crate::wire::ipv6::HEADER_LEN as IP6_HDR;
use crate::wire::{EthernetFrame, Icmpv4Packet, Icmpv6Packet, Ipv4Packet, Ipv6Packet, MacAddr};

impl<P: Frame> Pipeline<P> {
    /// Translate ICMP errors about a connection; answer ICMP echo requests to VIPs; ICMP to
    /// own addresses goes to the kernel when the port has an exception path (`kernel`),
    /// else echo requests are answered here too. Other ICMP to VIPs is not handled yet.
    pub(super) fn handle_icmp(
        &mut self,
        t: &Tables,
        ip_buf: &mut [u8],
        now_ms: u64,
        kernel: bool,
    ) -> Verdict<Ipv4Addr> {
        if let Some(v) = self.icmp_error::<Ipv4Addr>(t, ip_buf, now_ms) {
            return v;
        }
        let Ok(ip) = Ipv4Packet::new_checked(&ip_buf[..]) else {
            return Verdict::Drop(DropReason::Ipv4Malformed);
        };
        let (src, dst) = (ip.src_addr(), ip.dst_addr());
        let hl = ip.header_len();
        let total = ip.total_len();
        let vip = t.services.is_vip(dst);
        if !vip && t.services.is_local(dst) && kernel {
            return Verdict::ToKernel;
        }
        if !(vip || t.services.is_local(dst)) {
            return Verdict::Drop(DropReason::NoService);
        }
        let Ok(icmp) = Icmpv4Packet::new_checked(&ip_buf[hl..total]) else {
            return Verdict::Drop(DropReason::L4Malformed);
        };
        if icmp.msg_type() != 8 || icmp.msg_code() != 0 {
            return Verdict::Drop(DropReason::ForDirector);
        }
        {
            let mut icmp = Icmpv4Packet::new_unchecked(&mut ip_buf[hl..total]);
            icmp.set_msg_type(0);
            icmp.fill_checksum();
        }
        let mut ip = Ipv4Packet::new_unchecked(&mut ip_buf[..]);
        ip.set_src_addr(dst);
        ip.set_dst_addr(src);
        ip.set_ttl(64);
        ip.fill_checksum();
        bump(&self.cfg.stats.icmp_echo_replies, 1);
        Verdict::Reflect
    }

    /// ICMPv6: errors about connections, NDP, and echo requests to VIPs and own addresses.
    pub(super) fn handle_icmpv6(
        &mut self,
        t: &Tables,
        port: usize,
        mut pkt: P,
        now_ms: u64,
        io: &mut impl Io<P>,
    ) {
        let multicast = pkt.data()[0] & 1 == 1;
        if !multicast {
            if let Some(verdict) =
                self.icmp_error::<Ipv6Addr>(t, &mut pkt.data_mut()[ETH_HDR..], now_ms)
            {
                return self.deliver(t, port, pkt, verdict, now_ms, io);
            }
        }
        let ip_buf = &mut pkt.data_mut()[ETH_HDR..];
        let ip = Ipv6Packet::new_unchecked(&ip_buf[..]);
        let (src, dst, hop_limit, len) = (
            ip.src_addr(),
            ip.dst_addr(),
            ip.hop_limit(),
            ip.payload_len(),
        );
        let Ok(icmp) = Icmpv6Packet::new_checked(&ip_buf[IP6_HDR..IP6_HDR + len]) else {
            return self.drop_packet(DropReason::L4Malformed);
        };
        let ty = icmp.msg_type();
        if matches!(ty, msg_type::NEIGHBOR_SOLICIT | msg_type::NEIGHBOR_ADVERT) {
            // RFC 4861 7.1.1/7.1.2: hop limit 255 (so it cannot come from off-link), code
            // 0, a valid checksum, at least 24 bytes.
            if hop_limit != 255
                || icmp.msg_code() != 0
                || len < ND_LEN
                || !icmp.verify_checksum(src, dst)
            {
                return self.drop_packet(DropReason::NdpInvalid);
            }
            return if ty == msg_type::NEIGHBOR_SOLICIT {
                self.handle_ns(t, port, pkt, now_ms, io)
            } else {
                self.handle_na(t, port, pkt, now_ms, io)
            };
        }
        if multicast || dst.is_multicast() {
            return self.multicast6_to_kernel(port, pkt, now_ms, io);
        }
        // ICMPv6 to an own address that no connection claimed (echo requests and
        // replies, errors about the kernel's own flows): the kernel's, where it has a TAP.
        if self.for_kernel6(t, port, dst) {
            return self.hand_to_kernel(port, pkt, now_ms, io);
        }
        let ours = t.services.is_vip6(dst) || t.services.is_local6(dst);
        if !ours {
            return self.drop_packet(DropReason::NoService);
        }
        if !icmp.verify_checksum(src, dst) {
            return self.drop_packet(DropReason::Icmpv6BadChecksum);
        }
        if ty != msg_type::ECHO_REQUEST || icmp.msg_code() != 0 {
            return self.drop_packet(DropReason::ForDirector);
        }
        {
            let mut icmp = Icmpv6Packet::new_unchecked(&mut ip_buf[IP6_HDR..IP6_HDR + len]);
            icmp.set_msg_type(msg_type::ECHO_REPLY);
            icmp.fill_checksum(dst, src);
        }
        let mut ip = Ipv6Packet::new_unchecked(&mut ip_buf[..]);
        ip.set_src_addr(dst);
        ip.set_dst_addr(src);
        ip.set_hop_limit(64);
        bump(&self.cfg.stats.icmp_echo_replies, 1);
        let data = pkt.data_mut();
        let mut eth = EthernetFrame::new_unchecked(&mut data[..]);
        let peer = eth.src_addr();
        eth.set_dst_addr(peer);
        eth.set_src_addr(MacAddr(self.cfg.port_macs[port]));
        io.send(port, pkt);
    }
}
