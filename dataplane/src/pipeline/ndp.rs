//! NDP (RFC 4861), the IPv6 counterpart of ARP: neighbour solicitations answered for
//! VIPs, own addresses and FULLNAT local addresses, advertisements learned, next hops
//! solicited, unsolicited advertisements at start.

use std::net::{IpAddr, Ipv6Addr};

use super::state::*;
use crate::counters::{bump, DropReason};
use crate::frame::{Frame, Io};
use crate::tables::Tables;
use crate::wire::icmpv6::msg_type;
use crate::wire::ipv6::HEADER_LEN as IP6_HDR;
use crate::wire::{ip_proto, EtherType, EthernetFrame, Icmpv6Packet, Ipv6Packet, MacAddr};

/// ICMPv6 neighbour solicitation/advertisement body before options: type, code,
/// checksum, 4 bytes of flags/reserved, 16 bytes of target.
pub(super) const ND_LEN: usize = 24;
/// One link-layer address option on Ethernet: type, length (in 8-byte units), MAC.
const LLA_OPT_LEN: usize = 8;
/// Option types (RFC 4861 4.6).
const OPT_SOURCE_LLA: u8 = 1;
const OPT_TARGET_LLA: u8 = 2;
/// Neighbour advertisement flags.
pub(super) const NA_SOLICITED: u8 = 0x40;
pub(super) const NA_OVERRIDE: u8 = 0x20;
/// All-nodes multicast (ff02::1) and its MAC.
pub(super) const ALL_NODES: Ipv6Addr = Ipv6Addr::new(0xff02, 0, 0, 0, 0, 0, 0, 1);
pub(super) const ALL_NODES_MAC: [u8; 6] = [0x33, 0x33, 0, 0, 0, 1];

/// The solicited-node multicast address of `target` (ff02::1:ffXX:XXXX).
pub(super) fn solicited_node(target: Ipv6Addr) -> Ipv6Addr {
    let o = target.octets();
    Ipv6Addr::from([
        0xff, 0x02, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1, 0xff, o[13], o[14], o[15],
    ])
}

/// The Ethernet multicast address of IPv6 multicast `group` (33:33 + its last 32 bits).
pub(super) fn multicast_mac(group: Ipv6Addr) -> [u8; 6] {
    let o = group.octets();
    [0x33, 0x33, o[12], o[13], o[14], o[15]]
}

/// The link-layer address in the first option of type `kind` among `opts`, or Err when
/// an option is malformed (zero length or running past the end: RFC 4861 7.1.1).
fn find_lla(mut opts: &[u8], kind: u8) -> Result<Option<[u8; 6]>, ()> {
    let mut found = None;
    while !opts.is_empty() {
        if opts.len() < 2 || opts[1] == 0 {
            return Err(());
        }
        let len = usize::from(opts[1]) * 8;
        if len > opts.len() {
            return Err(());
        }
        if opts[0] == kind && found.is_none() && len >= LLA_OPT_LEN {
            let mut mac = [0; 6];
            mac.copy_from_slice(&opts[2..8]);
            found = Some(mac);
        }
        opts = &opts[len..];
    }
    Ok(found)
}

impl<P: Frame> Pipeline<P> {
    /// A validated neighbour solicitation: learn the sender, answer for VIPs and own
    /// addresses on this port by turning the frame into the advertisement.
    pub(super) fn handle_ns(
        &mut self,
        t: &Tables,
        port: usize,
        mut pkt: P,
        now_ms: u64,
        io: &mut impl Io<P>,
    ) {
        let port_mac = self.cfg.port_macs[port];
        let data = pkt.data();
        let ip = Ipv6Packet::new_unchecked(&data[ETH_HDR..]);
        let (src, dst, len) = (ip.src_addr(), ip.dst_addr(), ip.payload_len());
        let icmp = &ip.payload()[..len];
        let target = crate::wire::read_ipv6(&icmp[8..24]);
        let Ok(slla) = find_lla(&icmp[ND_LEN..], OPT_SOURCE_LLA) else {
            return self.drop_packet(DropReason::NdpInvalid);
        };
        // 7.1.1: the target is never multicast; a multicast destination must be the
        // target's solicited-node group; an unspecified source (duplicate address
        // detection) carries no source link-layer option.
        if target.is_multicast()
            || (dst.is_multicast() && dst != solicited_node(target))
            || (src.is_unspecified() && (slla.is_some() || !dst.is_multicast()))
        {
            return self.drop_packet(DropReason::NdpInvalid);
        }
        let for_us = t.services.is_vip6(target)
            || t.services.local6_on(port, target).is_some()
            || crate::xmit::fullnat::lip_on6(t, port, target);
        if let Some(mac) = slla {
            // 7.2.3: a solicitation for us creates the sender's entry; otherwise only
            // refresh one we have.
            self.learn6(port, src, mac, now_ms, for_us, io);
        }
        if !for_us {
            return self.drop_packet(DropReason::NdpNotForUs);
        }
        if src.is_unspecified() {
            // Someone probes (DAD) an address we hold; answering to all-nodes would
            // defend it, but VIPs may legitimately move to another director: stay quiet.
            return self.drop_packet(DropReason::NdpNotForUs);
        }
        // Reply to the sender's link-layer address: from its option, else the frame's.
        let peer_mac = slla.unwrap_or_else(|| {
            let mut m = [0; 6];
            m.copy_from_slice(&data[6..12]);
            m
        });
        if !pkt.resize(ETH_HDR + IP6_HDR + ND_LEN + LLA_OPT_LEN) {
            return self.drop_packet(DropReason::NoMbuf);
        }
        // Router flag off: rvs answers as a host for its VIPs. Override on, like Linux
        // for its own unicast addresses, so a VIP moved here takes over at once.
        write_na(
            pkt.data_mut(),
            port_mac,
            peer_mac,
            target,
            src,
            NA_SOLICITED | NA_OVERRIDE,
        );
        bump(&self.cfg.stats.arp_replies, 1);
        io.send(port, pkt);
    }

    /// A validated neighbour advertisement: learn the target's MAC and release what was
    /// held for it.
    pub(super) fn handle_na(
        &mut self,
        t: &Tables,
        port: usize,
        pkt: P,
        now_ms: u64,
        io: &mut impl Io<P>,
    ) {
        let port_mac = self.cfg.port_macs[port];
        let data = pkt.data();
        let ip = Ipv6Packet::new_unchecked(&data[ETH_HDR..]);
        let (dst, len) = (ip.dst_addr(), ip.payload_len());
        let icmp = &ip.payload()[..len];
        let flags = icmp[4];
        let target = crate::wire::read_ipv6(&icmp[8..24]);
        let Ok(tlla) = find_lla(&icmp[ND_LEN..], OPT_TARGET_LLA) else {
            return self.drop_packet(DropReason::NdpInvalid);
        };
        // 7.1.2: the target is not multicast; a multicast destination means unsolicited.
        if target.is_multicast() || (dst.is_multicast() && flags & NA_SOLICITED != 0) {
            return self.drop_packet(DropReason::NdpInvalid);
        }
        // Without the option (allowed in answers to unicast solicitations), the sender's
        // Ethernet address is the target's on a plain Ethernet link.
        let mac = tlla.unwrap_or_else(|| {
            let mut m = [0; 6];
            m.copy_from_slice(&data[6..12]);
            m
        });
        // A unicast answer to our MAC is one this director (maybe another worker) asked
        // for: create the entry; a multicast one only refreshes.
        let create = data[0..6] == port_mac;
        let known = self.learn6(port, target, mac, now_ms, create, io);
        // The kernel resolves its own neighbours through the TAP (its solicitations leave
        // by the data port): it needs the answers to an own address, and unsolicited
        // advertisements to all nodes (a neighbour's new MAC), as it needs ARP replies.
        // It ignores the ones answering the dataplane's solicitations (no entry there).
        if self.cfg.exception.has_kernel(port) && (dst.is_multicast() || t.services.is_local6(dst))
        {
            return self.hand_to_kernel(port, pkt, now_ms, io);
        }
        if !known {
            self.drop_packet(DropReason::NdpNotForUs);
        }
    }

    /// Learn (or refresh) IPv6 neighbour `ip` on `port`, send what was held for it, and
    /// queue the news for the other workers. True when the neighbour is (now) known.
    fn learn6(
        &mut self,
        port: usize,
        ip: Ipv6Addr,
        mac: [u8; 6],
        now_ms: u64,
        create: bool,
        io: &mut impl Io<P>,
    ) -> bool {
        let (neigh, macs) = (&mut self.neigh6, &self.cfg.port_macs);
        let known = neigh.learn(port, ip, mac, now_ms, create, |mut held, mac| {
            set_macs(held.data_mut(), mac, macs[port]);
            io.send(port, held);
        });
        if known && self.cfg.workers > 1 && self.learned_len < self.learned.len() {
            self.learned[self.learned_len] = NeighbourUpdate {
                port,
                ip: IpAddr::V6(ip),
                mac,
            };
            self.learned_len += 1;
        }
        known
    }

    /// Solicit `target`'s MAC on `port` (to its solicited-node group), from the port's
    /// address on `target`'s subnet.
    pub(super) fn send_ns(
        &mut self,
        t: &Tables,
        io: &mut impl Io<P>,
        port: usize,
        target: Ipv6Addr,
    ) {
        let Some(src) = t.services.source6_for(port, target) else {
            return self.drop_packet(DropReason::NoRoute);
        };
        let Some(mut pkt) = io.alloc() else { return };
        if !pkt.resize(ETH_HDR + IP6_HDR + ND_LEN + LLA_OPT_LEN) {
            return self.drop_packet(DropReason::NoMbuf);
        }
        let mac = self.cfg.port_macs[port];
        let group = solicited_node(target);
        write_nd(
            pkt.data_mut(),
            mac,
            multicast_mac(group),
            src,
            group,
            msg_type::NEIGHBOR_SOLICIT,
            0,
            target,
            OPT_SOURCE_LLA,
        );
        bump(&self.cfg.stats.arp_requests, 1);
        io.send(port, pkt);
    }

    /// One unsolicited neighbour advertisement for `addr` on `port`, to all nodes.
    pub(super) fn send_unsolicited_na(&mut self, io: &mut impl Io<P>, port: usize, addr: Ipv6Addr) {
        let Some(mut pkt) = io.alloc() else { return };
        if !pkt.resize(ETH_HDR + IP6_HDR + ND_LEN + LLA_OPT_LEN) {
            return self.drop_packet(DropReason::NoMbuf);
        }
        let mac = self.cfg.port_macs[port];
        write_na(
            pkt.data_mut(),
            mac,
            ALL_NODES_MAC,
            addr,
            ALL_NODES,
            NA_OVERRIDE,
        );
        bump(&self.cfg.stats.arp_requests, 1);
        io.send(port, pkt);
    }
}

/// Write a neighbour advertisement for `target` from `src_mac` (also its target
/// link-layer option) to `dst`/`dst_mac` into `frame` (exactly the NA's length).
fn write_na(
    frame: &mut [u8],
    src_mac: [u8; 6],
    dst_mac: [u8; 6],
    target: Ipv6Addr,
    dst: Ipv6Addr,
    flags: u8,
) {
    write_nd(
        frame,
        src_mac,
        dst_mac,
        target,
        dst,
        msg_type::NEIGHBOR_ADVERT,
        flags,
        target,
        OPT_TARGET_LLA,
    );
}

/// Write a whole NDP frame (Ethernet, IPv6 with hop limit 255, NS or NA with one
/// link-layer option carrying `src_mac`) into `frame`, checksum included.
#[allow(clippy::too_many_arguments)]
fn write_nd(
    frame: &mut [u8],
    src_mac: [u8; 6],
    dst_mac: [u8; 6],
    src: Ipv6Addr,
    dst: Ipv6Addr,
    ty: u8,
    flags: u8,
    target: Ipv6Addr,
    option: u8,
) {
    {
        let mut eth = EthernetFrame::new_unchecked(&mut frame[..]);
        eth.set_dst_addr(MacAddr(dst_mac));
        eth.set_src_addr(MacAddr(src_mac));
        eth.set_ethertype(EtherType::IPV6);
    }
    let ip_buf = &mut frame[ETH_HDR..ETH_HDR + IP6_HDR + ND_LEN + LLA_OPT_LEN];
    {
        let mut ip = Ipv6Packet::new_unchecked(&mut ip_buf[..]);
        ip.set_version();
        ip.set_traffic_class(0);
        ip.set_flow_label(0);
        ip.set_payload_len((ND_LEN + LLA_OPT_LEN) as u16);
        ip.set_next_header(ip_proto::ICMPV6);
        ip.set_hop_limit(255);
        ip.set_src_addr(src);
        ip.set_dst_addr(dst);
    }
    let icmp_buf = &mut ip_buf[IP6_HDR..];
    icmp_buf[4] = flags;
    icmp_buf[5..8].fill(0);
    icmp_buf[8..24].copy_from_slice(&target.octets());
    icmp_buf[24] = option;
    icmp_buf[25] = 1;
    icmp_buf[26..32].copy_from_slice(&src_mac);
    let mut icmp = Icmpv6Packet::new_unchecked(icmp_buf);
    icmp.set_msg_type(ty);
    icmp.set_msg_code(0);
    icmp.fill_checksum(src, dst);
}
