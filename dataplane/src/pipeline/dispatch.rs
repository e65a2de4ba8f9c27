//! A received frame's first steps: by destination MAC and EtherType to ARP, IPv4 (the
//! header stage in `ipv4`) or IPv6 (its header checks and next-header dispatch here; TCP/UDP
//! fragments to `fragment`); and carrying out the verdict (forward, tunnel, reflect, the
//! kernel through the exception path, drop).

use std::net::Ipv6Addr;

use super::state::*;
use crate::counters::DropReason;
use crate::frame::{Frame, Io};
use crate::tables::Tables;
use crate::wire::{ip_proto, EtherType, EthernetFrame, Ipv6Packet};

/// Whether an extension header (or anything not an upper layer rvs parses) comes first.
fn is_extension_header(nh: u8) -> bool {
    matches!(
        nh,
        ip_proto::HOPOPTS | ip_proto::ROUTING | ip_proto::DSTOPTS | 51 /* AH */ | 135 /* mobility */ | 139 /* HIP */ | 140 /* shim6 */ | 253 | 254
    )
}

impl<P: Frame> Pipeline<P> {
    /// Handle one received frame from port `port`.
    #[inline]
    pub fn handle(
        &mut self,
        t: &Tables,
        port: usize,
        mut pkt: P,
        now_ms: u64,
        io: &mut impl Io<P>,
    ) {
        let port_mac = self.cfg.port_macs[port];
        let data = pkt.data_mut();
        let Ok(eth) = EthernetFrame::new_checked(&mut data[..]) else {
            return self.drop_packet(DropReason::EthTruncated);
        };
        let dst = eth.dst_addr().0;
        // IPv6 multicast (33:33:...) carries NDP: handle_ipv6 takes only NDP from it.
        let v6_multicast = dst[..2] == [0x33, 0x33] && eth.ethertype() == EtherType::IPV6;
        if dst != port_mac && dst != BROADCAST && !v6_multicast {
            // IPv4 multicast (VRRP, OSPF...) is the kernel's, where it has an interface.
            if dst[0] & 1 == 1
                && eth.ethertype() == EtherType::IPV4
                && self.cfg.exception.has_kernel(port)
            {
                return self.hand_to_kernel(port, pkt, now_ms, io);
            }
            return self.drop_packet(DropReason::NotOurMac);
        }
        match eth.ethertype() {
            EtherType::ARP => self.handle_arp(t, port, pkt, now_ms, io),
            EtherType::IPV4 => {
                let kernel = self.cfg.exception.has_kernel(port);
                let verdict = self.handle_ipv4(t, pkt.data_mut(), now_ms, kernel);
                self.deliver(t, port, pkt, verdict, now_ms, io)
            }
            EtherType::IPV6 => self.handle_ipv6(t, port, pkt, now_ms, io),
            _ => self.drop_packet(DropReason::UnsupportedEtherType),
        }
    }

    /// Handle one IPv6 frame from `port` (Ethernet header already checked; frames to
    /// IPv6 multicast MACs get here too and only NDP is taken from them).
    fn handle_ipv6(
        &mut self,
        t: &Tables,
        port: usize,
        mut pkt: P,
        now_ms: u64,
        io: &mut impl Io<P>,
    ) {
        let multicast = pkt.data()[0] & 1 == 1;
        let (nh, dst) = {
            let Ok(ip) = Ipv6Packet::new_checked(&pkt.data()[ETH_HDR..]) else {
                return self.drop_packet(DropReason::Ipv6Malformed);
            };
            (ip.next_header(), ip.dst_addr())
        };
        // Multicast (MLD, mDNS...) matters to the dataplane only as NDP; the rest is the
        // kernel's where the port has an exception path, as IPv4 multicast.
        if (multicast || dst.is_multicast()) && nh != ip_proto::ICMPV6 {
            return self.multicast6_to_kernel(port, pkt, now_ms, io);
        }
        match nh {
            ip_proto::ICMPV6 => self.handle_icmpv6(t, port, pkt, now_ms, io),
            ip_proto::TCP | ip_proto::UDP => {
                let verdict = self.handle_ipv6_l4(t, pkt.data_mut(), now_ms);
                self.deliver(t, port, pkt, verdict, now_ms, io)
            }
            // Fragments of connections (to a VIP, a FULLNAT local address, or through).
            ip_proto::FRAGMENT if !self.for_kernel6(t, port, dst) || t.snat.is_lip(dst) => {
                self.fragment::<Ipv6Addr>(t, port, pkt, now_ms, io)
            }
            // Anything else to an own address (fragments, extension headers, VRRP, OSPF...)
            // is the kernel's, which reassembles and walks headers itself.
            _ if self.for_kernel6(t, port, dst) => self.hand_to_kernel(port, pkt, now_ms, io),
            nh if is_extension_header(nh) => self.drop_packet(DropReason::Ipv6ExtensionHeader),
            _ => self.drop_packet(DropReason::NoService),
        }
    }
}

#[cfg(test)]
mod tests;
