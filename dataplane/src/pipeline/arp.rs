//! ARP: answers for VIPs, own addresses and FULLNAT local addresses, learning of
//! neighbours, requests for next hops, and the replies the kernel needs.

use std::net::{IpAddr, Ipv4Addr};

use super::state::*;
use crate::counters::{bump, DropReason};
use crate::frame::{Frame, Io};
use crate::tables::Tables;
use crate::wire::{ArpOperation, ArpPacket, ArpRepr, EtherType, EthernetFrame, MacAddr};

impl<P: Frame> Pipeline<P> {
    pub(super) fn handle_arp(
        &mut self,
        t: &Tables,
        port: usize,
        mut pkt: P,
        now_ms: u64,
        io: &mut impl Io<P>,
    ) {
        let port_mac = self.cfg.port_macs[port];
        let data = pkt.data_mut();
        let Ok(arp) = ArpPacket::new_checked(&data[ETH_HDR..]) else {
            return self.drop_packet(DropReason::ArpMalformed);
        };
        let Ok(repr) = ArpRepr::parse(&arp) else {
            return self.drop_packet(DropReason::ArpMalformed);
        };
        let (op, sha, spa, tpa) = (
            repr.operation,
            repr.source_hardware_addr.0,
            repr.source_protocol_addr,
            repr.target_protocol_addr,
        );
        let for_us = t.services.is_vip(tpa)
            || t.services.local_on(port, tpa).is_some()
            || crate::xmit::fullnat::lip_on(t, port, tpa);
        let valid_sender = !spa.is_unspecified() && sha != BROADCAST && sha[0] & 1 == 0;
        // Learn the sender: create an entry when the request or reply was addressed to us
        // (with several workers, another worker may have sent the request this reply
        // answers), otherwise only refresh one we already have; release what it held.
        let mut known = false;
        if valid_sender {
            let (neigh, macs) = (&mut self.neigh, &self.cfg.port_macs);
            known = neigh.learn(
                port,
                spa,
                sha,
                now_ms,
                for_us && matches!(op, ArpOperation::Request | ArpOperation::Reply),
                |mut held, mac| {
                    set_macs(held.data_mut(), mac, macs[port]);
                    io.send(port, held);
                },
            );
            // Other workers may hold packets for this neighbour too.
            if known && self.cfg.workers > 1 && self.learned_len < self.learned.len() {
                self.learned[self.learned_len] = NeighbourUpdate {
                    port,
                    ip: IpAddr::V4(spa),
                    mac: sha,
                };
                self.learned_len += 1;
            }
        }
        // The kernel resolves its own neighbours through the TAP: it needs the replies to
        // its requests (the dataplane learned from them above as well).
        if op == ArpOperation::Reply
            && self.cfg.exception.has_kernel(port)
            && t.services.is_local(tpa)
        {
            return self.hand_to_kernel(port, pkt, now_ms, io);
        }
        if op != ArpOperation::Request || !for_us {
            if op == ArpOperation::Reply && known {
                return; // consumed by learning
            }
            return self.drop_packet(DropReason::ArpNotForUs);
        }
        // Turn the request into the reply in place.
        let reply = ArpRepr {
            operation: ArpOperation::Reply,
            source_hardware_addr: MacAddr(port_mac),
            source_protocol_addr: tpa,
            target_hardware_addr: MacAddr(sha),
            target_protocol_addr: spa,
        };
        let data = pkt.data_mut();
        reply.emit(&mut ArpPacket::new_unchecked(
            &mut data[ETH_HDR..ETH_HDR + ARP_LEN],
        ));
        set_macs(data, sha, port_mac);
        if pkt.data().len() > ETH_HDR + ARP_LEN {
            pkt.resize(ETH_HDR + ARP_LEN);
        }
        bump(&self.cfg.stats.arp_replies, 1);
        io.send(port, pkt);
    }

    pub(super) fn send_arp_request(
        &mut self,
        t: &Tables,
        io: &mut impl Io<P>,
        port: usize,
        target: Ipv4Addr,
    ) {
        let Some(src) = t.services.source_for(port, target) else {
            return self.drop_packet(DropReason::NoRoute);
        };
        self.send_arp(io, port, 1, src, [0; 6], target, BROADCAST);
    }

    /// Build and send an ARP packet (`op` 1 = request, 2 = reply) from `port`.
    #[allow(clippy::too_many_arguments)]
    pub(super) fn send_arp(
        &mut self,
        io: &mut impl Io<P>,
        port: usize,
        op: u16,
        spa: Ipv4Addr,
        tha: [u8; 6],
        tpa: Ipv4Addr,
        eth_dst: [u8; 6],
    ) {
        let Some(mut pkt) = io.alloc() else { return };
        if !pkt.resize(ETH_HDR + ARP_LEN) {
            return self.drop_packet(DropReason::NoMbuf);
        }
        let mac = self.cfg.port_macs[port];
        let data = pkt.data_mut();
        {
            let mut eth = EthernetFrame::new_unchecked(&mut data[..]);
            eth.set_dst_addr(MacAddr(eth_dst));
            eth.set_src_addr(MacAddr(mac));
            eth.set_ethertype(EtherType::ARP);
        }
        ArpRepr {
            operation: if op == 1 {
                ArpOperation::Request
            } else {
                ArpOperation::Reply
            },
            source_hardware_addr: MacAddr(mac),
            source_protocol_addr: spa,
            target_hardware_addr: MacAddr(tha),
            target_protocol_addr: tpa,
        }
        .emit(&mut ArpPacket::new_unchecked(&mut data[ETH_HDR..]));
        bump(&self.cfg.stats.arp_requests, 1);
        io.send(port, pkt);
    }
}
