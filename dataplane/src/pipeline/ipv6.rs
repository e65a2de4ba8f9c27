//! The IPv6 half of the pipeline: NDP (RFC 4861 neighbour solicitation and
//! advertisement, beside ARP), ICMPv6 echo to VIPs and own addresses, NAT (masq) and
//! DR (route) forwarding over the same connection table as IPv4, and ICMPv6 errors about
//! those connections (`related6.rs`).
//!
//! A child module of [`crate::pipeline`], so it extends [`Pipeline`] with its own `impl`
//! block and reads the same private state; the IPv4 code only dispatches here.
//!
//! Extension headers are not walked: a packet whose next header is not TCP, UDP or ICMPv6
//! right after the fixed header is dropped and counted (`ipv6_fragment` for fragments,
//! `ipv6_extension_header` for hop-by-hop, routing, destination options, AH and the
//! others). NAT and DR (like IPVS) need the L4 ports at a known offset, and fragments are
//! not reassembled, as for IPv4. The exception: such packets to the director's own
//! addresses go to its kernel (see [`crate::exception`]), which reassembles.
//!
//! FULLNAT works as for IPv4, with the same SNAT machinery ([`crate::xmit::fullnat`]): local
//! addresses answered in NDP, replies steered by local port, TOA of length 20.
//!
//! TUN encapsulates in ip6ip6, GUE or GRE (`crate::xmit::tun`).

use super::*;
use crate::frame::{Frame, Io};
use crate::wire::icmpv6::msg_type;
use crate::wire::{ip_proto, Icmpv6Packet, Ipv6Packet};

/// IPv6 fixed header length.
pub(crate) use crate::wire::ipv6::HEADER_LEN as IP6_HDR;
/// ICMPv6 neighbour solicitation/advertisement body before options: type, code,
/// checksum, 4 bytes of flags/reserved, 16 bytes of target.
const ND_LEN: usize = 24;
/// One link-layer address option on Ethernet: type, length (in 8-byte units), MAC.
const LLA_OPT_LEN: usize = 8;
/// Option types (RFC 4861 4.6).
const OPT_SOURCE_LLA: u8 = 1;
const OPT_TARGET_LLA: u8 = 2;
/// Neighbour advertisement flags.
const NA_SOLICITED: u8 = 0x40;
const NA_OVERRIDE: u8 = 0x20;
/// All-nodes multicast (ff02::1) and its MAC.
const ALL_NODES: Ipv6Addr = Ipv6Addr::new(0xff02, 0, 0, 0, 0, 0, 0, 1);
const ALL_NODES_MAC: [u8; 6] = [0x33, 0x33, 0, 0, 0, 1];

/// The worker that owns every flow of IPv6 client address `client` (already masked by the
/// persistence prefix) among `workers`: the IPv6 counterpart of [`owner_of`].
#[inline]
pub fn owner_of6(client: Ipv6Addr, workers: usize) -> usize {
    let a = u128::from(client);
    // Fold to 64 bits, multiplicative hash, keep the well-mixed top 32 bits.
    let h = (((a >> 64) as u64) ^ (a as u64)).wrapping_mul(0x9E37_79B9_7F4A_7C15) >> 32;
    ((h * workers as u64) >> 32) as usize
}

/// The solicited-node multicast address of `target` (ff02::1:ffXX:XXXX).
fn solicited_node(target: Ipv6Addr) -> Ipv6Addr {
    let o = target.octets();
    Ipv6Addr::from([
        0xff, 0x02, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1, 0xff, o[13], o[14], o[15],
    ])
}

/// The Ethernet multicast address of IPv6 multicast `group` (33:33 + its last 32 bits).
fn multicast_mac(group: Ipv6Addr) -> [u8; 6] {
    let o = group.octets();
    [0x33, 0x33, o[12], o[13], o[14], o[15]]
}

/// Whether an extension header (or anything not an upper layer rvs parses) comes first.
fn is_extension_header(nh: u8) -> bool {
    matches!(
        nh,
        ip_proto::HOPOPTS | ip_proto::ROUTING | ip_proto::DSTOPTS | 51 /* AH */ | 135 /* mobility */ | 139 /* HIP */ | 140 /* shim6 */ | 253 | 254
    )
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
    /// Which worker owns an IPv6 frame's flow (TCP/UDP, and ICMPv6 errors by the flow they
    /// quote; NDP and other ICMPv6 are handled where they arrive).
    #[inline]
    pub(crate) fn owner6(&self, t: &Tables, frame: &[u8]) -> Option<usize> {
        if frame.len() < ETH_HDR + IP6_HDR {
            return None;
        }
        let ip = &frame[ETH_HDR..];
        let (src, dst) = match ip[6] {
            ip_proto::TCP | ip_proto::UDP => (
                crate::wire::read_ipv6(&ip[8..24]),
                crate::wire::read_ipv6(&ip[24..40]),
            ),
            ip_proto::ICMPV6 => related6::quoted_flow6(ip)?,
            _ => return None,
        };
        if let Some(lport) = related6::quoted_local_port6(t, ip) {
            // An error about a FULLNAT packet sent to a real server.
            return Some(port_owner(lport, self.cfg.workers));
        }
        if ip[6] != ip_proto::ICMPV6 && t.snat.is_lip(dst) {
            // A FULLNAT reply: to the worker whose share of the local ports holds its
            // destination port (as for IPv4).
            let p = ip.get(IP6_HDR + 2..IP6_HDR + 4)?;
            return Some(port_owner(
                u16::from_be_bytes([p[0], p[1]]),
                self.cfg.workers,
            ));
        }
        let client = if t.services.is_vip6(dst) { src } else { dst };
        let IpAddr::V6(masked) =
            conn_table::mask_client(IpAddr::V6(client), t.services.steer_prefix6())
        else {
            return None;
        };
        Some(owner_of6(masked, self.cfg.workers))
    }

    /// Handle one IPv6 frame from `port` (Ethernet header already checked; frames to
    /// IPv6 multicast MACs get here too and only NDP is taken from them).
    pub(crate) fn handle_ipv6(
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
            // Anything else to an own address (fragments, extension headers, VRRP, OSPF...)
            // is the kernel's, which reassembles and walks headers itself.
            _ if self.for_kernel6(t, port, dst) => self.hand_to_kernel(port, pkt, now_ms, io),
            ip_proto::FRAGMENT => self.drop_packet(DropReason::Ipv6Fragment),
            nh if is_extension_header(nh) => self.drop_packet(DropReason::Ipv6ExtensionHeader),
            _ => self.drop_packet(DropReason::NoService),
        }
    }

    /// ICMPv6: errors about connections, NDP, and echo requests to VIPs and own addresses.
    fn handle_icmpv6(
        &mut self,
        t: &Tables,
        port: usize,
        mut pkt: P,
        now_ms: u64,
        io: &mut impl Io<P>,
    ) {
        let multicast = pkt.data()[0] & 1 == 1;
        if !multicast {
            if let Some(verdict) = self.icmpv6_error(t, &mut pkt.data_mut()[ETH_HDR..], now_ms) {
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

    /// A validated neighbour solicitation: learn the sender, answer for VIPs and own
    /// addresses on this port by turning the frame into the advertisement.
    fn handle_ns(&mut self, t: &Tables, port: usize, mut pkt: P, now_ms: u64, io: &mut impl Io<P>) {
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
    fn handle_na(&mut self, t: &Tables, port: usize, pkt: P, now_ms: u64, io: &mut impl Io<P>) {
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

    /// Whether a unicast packet to `dst` arriving on `port` is the kernel's: an own address
    /// (not a VIP) on a port with an exception path.
    #[inline]
    fn for_kernel6(&self, t: &Tables, port: usize, dst: Ipv6Addr) -> bool {
        self.cfg.exception.has_kernel(port) && t.services.is_local6(dst) && !t.services.is_vip6(dst)
    }

    /// IPv6 multicast that is not NDP: to the kernel where the port has an exception path
    /// (the kernel answers MLD queries, runs VRRP or OSPFv3), else dropped.
    fn multicast6_to_kernel(&mut self, port: usize, pkt: P, now_ms: u64, io: &mut impl Io<P>) {
        if !self.cfg.exception.has_kernel(port) {
            return self.drop_packet(DropReason::NotOurMac);
        }
        self.hand_to_kernel(port, pkt, now_ms, io)
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

    /// The connection stage for IPv6 TCP/UDP: the counterpart of `handle_ipv4`.
    fn handle_ipv6_l4(&mut self, t: &Tables, frame: &mut [u8], now_ms: u64) -> Verdict<Ipv6Addr> {
        use Verdict::Drop;
        let ip_buf = &mut frame[ETH_HDR..];
        let ip = Ipv6Packet::new_unchecked(&ip_buf[..]);
        let (src, dst, proto) = (ip.src_addr(), ip.dst_addr(), ip.next_header());
        let l4 = ip.payload();
        let (sport, dport, flags) = match proto {
            proto::TCP => match TcpPacket::new_checked(l4) {
                Ok(t) => (t.src_port(), t.dst_port(), Some(t.flags())),
                Err(_) => return Drop(DropReason::L4Malformed),
            },
            _ => match UdpPacket::new_checked(l4) {
                Ok(u) => (u.src_port(), u.dst_port(), None),
                Err(_) => return Drop(DropReason::L4Malformed),
            },
        };
        let tuple = Tuple::new(proto, IpAddr::V6(src), sport, IpAddr::V6(dst), dport);
        let tcp_flags = TcpFlags(flags.map(|f| f.bits()).unwrap_or(0));
        let bytes = (IP6_HDR + ip.payload_len()) as u32;

        let found = match self.find_connection(t, &tuple, tcp_flags, now_ms) {
            Ok(found) => found,
            Err(why) => return Drop(why),
        };
        if let Some((id, dir)) = found {
            self.conns.on_packet(id, dir, tcp_flags, bytes, now_ms);
            let from = (src, sport);
            return match self.established(t, id, dir, ip_buf, proto, tcp_flags, from, bytes) {
                Established::Forward(to) => Verdict::Forward(to),
                Established::Tunnel(rs_id) => tunnel_verdict(t, rs_id),
                Established::Drop(why) => Drop(why),
            };
        }

        let Some(sid) = t.services.find6(proto, dst, dport) else {
            // Traffic for the director itself (no connection, no service): the
            // kernel's, through the port's TAP (counted as for_director without).
            if t.services.is_local6(dst) {
                return Verdict::ToKernel;
            }
            return Drop(DropReason::NoService);
        };
        if let Some(f) = flags {
            if !f.syn() || f.ack() || f.rst() {
                return Drop(DropReason::NoConnection);
            }
        }
        let flow = FlowKey {
            protocol: proto,
            src_addr: IpAddr::V6(src),
            src_port: sport,
            dst_addr: IpAddr::V6(dst),
            dst_port: dport,
        };
        let (rs_index, template) = match self.schedule(t, sid, &flow, now_ms) {
            Ok(p) => p,
            Err(why) => return Drop(why),
        };
        let svc = t.services.get(sid);
        let rs = &svc.real_servers[rs_index];
        let IpAddr::V6(rip) = rs.addr else {
            return Drop(DropReason::NoRealServer);
        };
        if let Err(why) = self.start_connection(
            t, sid, rs, template, tuple, ip_buf, tcp_flags, bytes, now_ms,
        ) {
            return Drop(why);
        }
        if let Forward::Tunnel(kind) = rs.forward {
            return Verdict::Tunnel(rip, kind);
        }
        Verdict::Forward(rip)
    }

    /// Route `pkt` towards IPv6 `dst`, fill in the MACs and send it, or hold it while the
    /// next hop is resolved by neighbour solicitation.
    pub(crate) fn forward6(
        &mut self,
        t: &Tables,
        pkt: P,
        dst: Ipv6Addr,
        now_ms: u64,
        io: &mut impl Io<P>,
    ) {
        let Some(hop) = t.routes6.lookup(dst) else {
            return self.drop_packet(DropReason::NoRoute);
        };
        match send_or_hold(&mut self.neigh6, &self.cfg.port_macs, hop, pkt, now_ms, io) {
            Delivery::Done => {}
            Delivery::Request => self.send_ns(t, io, hop.port, hop.gateway),
            Delivery::Refused => self.drop_packet(DropReason::NeighbourUnresolved),
        }
    }

    /// Solicit `target`'s MAC on `port` (to its solicited-node group), from the port's
    /// address on `target`'s subnet.
    fn send_ns(&mut self, t: &Tables, io: &mut impl Io<P>, port: usize, target: Ipv6Addr) {
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

    /// Unsolicited neighbour advertisements for the IPv6 VIPs (the IPv6 gratuitous ARP),
    /// on the ports whose connected subnet holds each (all ports when none does), and for
    /// the IPv6 FULLNAT local addresses on the port facing the real servers.
    pub(crate) fn start6(&mut self, t: &Tables, io: &mut impl Io<P>) {
        let lips = t.snat.pools().iter().flat_map(|p| p.addrs.iter().copied());
        for lip in lips.filter_map(v6) {
            let Some(port) =
                (0..self.cfg.port_macs.len()).find(|&p| crate::xmit::fullnat::lip_on6(t, p, lip))
            else {
                continue;
            };
            self.send_unsolicited_na(io, port, lip);
        }
        let mut vips: Vec<Ipv6Addr> = t.services.vips6().collect();
        vips.sort();
        for vip in vips {
            let on_subnet = t
                .routes6
                .lookup(vip)
                .filter(|h| h.gateway == vip)
                .map(|h| h.port);
            for port in 0..self.cfg.port_macs.len() {
                if on_subnet.is_some_and(|p| p != port) {
                    continue;
                }
                self.send_unsolicited_na(io, port, vip);
            }
        }
    }

    /// One unsolicited neighbour advertisement for `addr` on `port`, to all nodes.
    fn send_unsolicited_na(&mut self, io: &mut impl Io<P>, port: usize, addr: Ipv6Addr) {
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

    /// Re-solicit IPv6 neighbours still unresolved; drop what waited too long.
    pub(crate) fn tick6(&mut self, t: &Tables, now_ms: u64, io: &mut impl Io<P>) {
        let mut probes: [(usize, Ipv6Addr); 16] = [(0, Ipv6Addr::UNSPECIFIED); 16];
        let mut n = 0;
        let stats = &self.cfg.stats;
        self.neigh6.tick(
            now_ms,
            |port, ip| {
                if n < probes.len() {
                    probes[n] = (port, ip);
                    n += 1;
                }
            },
            |_dropped| stats.drop_packet(DropReason::NeighbourUnresolved),
        );
        for &(port, ip) in &probes[..n] {
            self.send_ns(t, io, port, ip);
        }
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

/// The IPv6 address of an address the dataplane put there itself.
#[inline]
fn v6(a: IpAddr) -> Option<Ipv6Addr> {
    <Ipv6Addr as Family>::of(a)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::counters::WorkerStats;
    use crate::route::{Ipv6Prefix, RouteTable6};
    use crate::service::{LocalAddr6, Persistence, RealServer, ServiceTable, VirtualService};
    use crate::test_io::Out;

    const WAN_MAC: [u8; 6] = [2, 0, 0, 0, 0, 0xa0];
    const LAN_MAC: [u8; 6] = [2, 0, 0, 0, 0, 0xb0];
    const CLIENT_MAC: [u8; 6] = [2, 0, 0, 0, 0, 1];
    const RS_MAC: [u8; 6] = [2, 0, 0, 0, 0, 0x11];

    fn a(s: &str) -> Ipv6Addr {
        s.parse().unwrap()
    }

    fn tables(persistence: Option<Persistence>) -> Tables {
        let rs = |id, addr: &str| RealServer {
            id,
            addr: IpAddr::V6(a(addr)),
            port: 80,
            weight: 1,
            forward: Forward::Masq,
            upper_threshold: 0,
        };
        let servers = vec![rs(0, "2001:2:0:1::11"), rs(1, "2001:2:0:1::12")];
        let dests: Vec<_> = servers
            .iter()
            .map(|r| scheduler::Destination::new(r.addr, r.port, 1))
            .collect();
        let svc = VirtualService {
            id: 0,
            proto: proto::TCP,
            vip: IpAddr::V6(a("2001:2::100")),
            port: 80,
            members: vec![],
            real_servers: servers,
            scheduler: scheduler::Scheduler::build(
                scheduler::SchedulerKind::Rr,
                &dests,
                Default::default(),
            )
            .unwrap(),
            persistence,
            snat_pool: None,
        };
        let locals = vec![
            LocalAddr6 {
                port: 0,
                addr: a("2001:2::fe"),
                prefix_len: 64,
            },
            LocalAddr6 {
                port: 1,
                addr: a("2001:2:0:1::fe"),
                prefix_len: 64,
            },
        ];
        Tables {
            services: ServiceTable::new(vec![svc], vec![], 1).with_locals6(locals),
            routes6: RouteTable6::new(
                &[
                    (Ipv6Prefix::new(a("2001:2::"), 64).unwrap(), 0),
                    (Ipv6Prefix::new(a("2001:2:0:1::"), 64).unwrap(), 1),
                ],
                &[],
            ),
            ..Tables::default()
        }
    }

    fn pipeline(workers: usize) -> Pipeline<Vec<u8>> {
        Pipeline::new(PipelineConfig {
            worker: 0,
            port_macs: vec![WAN_MAC, LAN_MAC],
            stats: Arc::new(WorkerStats::default()),
            conn_capacity: 1024,
            gratuitous_arp: false,
            workers,
            exception: Default::default(),
        })
    }

    /// Ethernet + IPv6 + `l4` (whose checksum, for ICMPv6, is filled in here).
    fn frame(
        dst_mac: [u8; 6],
        src_mac: [u8; 6],
        src: Ipv6Addr,
        dst: Ipv6Addr,
        nh: u8,
        hop: u8,
        l4: &[u8],
    ) -> Vec<u8> {
        let mut f = vec![0u8; ETH_HDR + IP6_HDR + l4.len()];
        set_macs(&mut f, dst_mac, src_mac);
        f[12..14].copy_from_slice(&[0x86, 0xdd]);
        {
            let mut ip = Ipv6Packet::new_unchecked(&mut f[ETH_HDR..]);
            ip.set_version();
            ip.set_payload_len(l4.len() as u16);
            ip.set_next_header(nh);
            ip.set_hop_limit(hop);
            ip.set_src_addr(src);
            ip.set_dst_addr(dst);
        }
        f[ETH_HDR + IP6_HDR..].copy_from_slice(l4);
        if nh == ip_proto::ICMPV6 {
            Icmpv6Packet::new_unchecked(&mut f[ETH_HDR + IP6_HDR..]).fill_checksum(src, dst);
        }
        f
    }

    /// An NS or NA body: type, flags, target and options.
    fn nd(ty: u8, flags: u8, target: Ipv6Addr, opts: &[u8]) -> Vec<u8> {
        let mut b = vec![ty, 0, 0, 0, flags, 0, 0, 0];
        b.extend_from_slice(&target.octets());
        b.extend_from_slice(opts);
        b
    }

    fn lla(kind: u8, mac: [u8; 6]) -> Vec<u8> {
        let mut o = vec![kind, 1];
        o.extend_from_slice(&mac);
        o
    }

    fn drops(p: &Pipeline<Vec<u8>>, why: DropReason) -> u64 {
        p.cfg.stats.drops(why)
    }

    #[test]
    fn solicited_node_group_and_mac() {
        let g = solicited_node(a("2001:2:0:1::abc:1234"));
        assert_eq!(g, a("ff02::1:ffbc:1234"));
        assert_eq!(multicast_mac(g), [0x33, 0x33, 0xff, 0xbc, 0x12, 0x34]);
    }

    #[test]
    fn ndp_rules_of_rfc4861_are_enforced() {
        let t = tables(None);
        let mut p = pipeline(1);
        let mut out = Out::default();
        let vip = a("2001:2::100");
        let client = a("2001:2::1");
        let (group, gmac) = (solicited_node(vip), multicast_mac(solicited_node(vip)));
        let ns = |opts: &[u8], src, dst| {
            frame(
                gmac,
                CLIENT_MAC,
                src,
                dst,
                ip_proto::ICMPV6,
                255,
                &nd(135, 0, vip, opts),
            )
        };
        // An option of length 0.
        p.handle(
            &t,
            0,
            ns(&[1, 0, 0, 0, 0, 0, 0, 0], client, group),
            0,
            &mut out,
        );
        // The solicited-node group of another address.
        let other = solicited_node(a("2001:2::7"));
        p.handle(&t, 0, ns(&lla(1, CLIENT_MAC), client, other), 0, &mut out);
        // Duplicate address detection carrying a source link-layer option.
        p.handle(
            &t,
            0,
            ns(&lla(1, CLIENT_MAC), Ipv6Addr::UNSPECIFIED, group),
            0,
            &mut out,
        );
        // A multicast advertisement claiming to be solicited.
        let na = nd(136, NA_SOLICITED, client, &lla(2, CLIENT_MAC));
        let na = frame(
            ALL_NODES_MAC,
            CLIENT_MAC,
            client,
            ALL_NODES,
            ip_proto::ICMPV6,
            255,
            &na,
        );
        p.handle(&t, 0, na, 0, &mut out);
        assert_eq!(drops(&p, DropReason::NdpInvalid), 4);
        // A plain duplicate address detection probe of the VIP: not answered.
        p.handle(&t, 0, ns(&[], Ipv6Addr::UNSPECIFIED, group), 0, &mut out);
        assert_eq!(drops(&p, DropReason::NdpNotForUs), 1);
        assert!(out.0.is_empty(), "nothing answered");
        // No neighbour was learned from any of them.
        assert_eq!(p.neigh6.len(), 0);
        // An MLD report (hop-by-hop header, to a multicast group) is not for rvs.
        let mld_group = a("ff02::16");
        let mld = frame(
            multicast_mac(mld_group),
            CLIENT_MAC,
            client,
            mld_group,
            ip_proto::HOPOPTS,
            1,
            &[0; 8],
        );
        p.handle(&t, 0, mld, 0, &mut out);
        assert_eq!(drops(&p, DropReason::NotOurMac), 1);
        assert_eq!(drops(&p, DropReason::Ipv6ExtensionHeader), 0);
    }

    #[test]
    fn advertisement_without_option_uses_the_frame_source() {
        let t = tables(None);
        let mut p = pipeline(1);
        p.sync(&t);
        let mut out = Out::default();
        let rs = a("2001:2:0:1::11");
        let syn = {
            let mut tcp = [0u8; 20];
            tcp[0..2].copy_from_slice(&40000u16.to_be_bytes());
            tcp[2..4].copy_from_slice(&80u16.to_be_bytes());
            tcp[12] = 0x50;
            tcp[13] = 0x02;
            frame(
                WAN_MAC,
                CLIENT_MAC,
                a("2001:2::1"),
                a("2001:2::100"),
                ip_proto::TCP,
                64,
                &tcp,
            )
        };
        p.handle(&t, 0, syn, 0, &mut out);
        assert_eq!(out.0.len(), 1, "a solicitation for the real server");
        assert_eq!(out.0[0].0, 1);
        assert_eq!(&out.0[0].1[0..6], &[0x33, 0x33, 0xff, 0, 0, 0x11]);
        let na = nd(136, NA_SOLICITED | NA_OVERRIDE, rs, &[]);
        let na = frame(
            LAN_MAC,
            RS_MAC,
            rs,
            a("2001:2:0:1::fe"),
            ip_proto::ICMPV6,
            255,
            &na,
        );
        p.handle(&t, 1, na, 1, &mut out);
        assert_eq!(out.0.len(), 2, "the held SYN is released");
        let (port, f) = &out.0[1];
        assert_eq!(*port, 1);
        assert_eq!(&f[0..12], &[RS_MAC, LAN_MAC].concat()[..]);
        assert_eq!(
            Ipv6Packet::new_checked(&f[ETH_HDR..]).unwrap().dst_addr(),
            rs
        );
    }

    #[test]
    fn both_directions_of_a_flow_steer_to_one_worker() {
        let t = tables(None);
        let p = pipeline(4);
        let vip = a("2001:2::100");
        let rs = a("2001:2:0:1::11");
        let mut seen = [0usize; 4];
        for i in 1..200u16 {
            let client = Ipv6Addr::new(0x2001, 2, 0, 0, 0, 0, i, i.wrapping_mul(7));
            let l4 = [0u8; 20];
            let inbound = frame(WAN_MAC, CLIENT_MAC, client, vip, ip_proto::TCP, 64, &l4);
            let reply = frame(LAN_MAC, RS_MAC, rs, client, ip_proto::TCP, 64, &l4);
            let w = p.owner(&t, &inbound).unwrap();
            assert_eq!(p.owner(&t, &reply), Some(w), "client {client}");
            seen[w] += 1;
        }
        assert!(
            seen.iter().all(|&n| n > 20),
            "spread over workers: {seen:?}"
        );
        // NDP and ICMPv6 are handled where they arrive.
        let ns = frame(
            WAN_MAC,
            CLIENT_MAC,
            a("2001:2::1"),
            vip,
            ip_proto::ICMPV6,
            255,
            &[0; 24],
        );
        assert_eq!(p.owner(&t, &ns), None);
    }

    #[test]
    fn one_client_port_reaches_two_dr_vips_of_one_real_server() {
        // DR keeps no reply tuple: RS:80 -> client:1000 would be the same for both.
        let mut t = tables(None);
        let mut svcs = t.services.services().to_vec();
        for s in &mut svcs {
            s.real_servers.truncate(1);
            s.real_servers[0].forward = Forward::Route;
        }
        let mut second = svcs[0].clone();
        second.id = 1;
        second.vip = IpAddr::V6(a("2001:2::101"));
        svcs.push(second);
        let locals6 = vec![
            LocalAddr6 {
                port: 0,
                addr: a("2001:2::fe"),
                prefix_len: 64,
            },
            LocalAddr6 {
                port: 1,
                addr: a("2001:2:0:1::fe"),
                prefix_len: 64,
            },
        ];
        t.services = ServiceTable::new(svcs, vec![], 2).with_locals6(locals6);
        let rs = a("2001:2:0:1::11");
        assert_eq!(t.services.routed_of(0), Some(IpAddr::V6(rs)));
        let mut p = pipeline(1);
        p.sync(&t);
        let client = a("2001:2::1");
        let mut now = 1000;
        for flags in [0x02u8, 0x10] {
            for vip in [a("2001:2::100"), a("2001:2::101")] {
                let mut l4 = [0u8; 20];
                l4[0..2].copy_from_slice(&1000u16.to_be_bytes());
                l4[2..4].copy_from_slice(&80u16.to_be_bytes());
                l4[12] = 0x50;
                l4[13] = flags;
                let f = frame(WAN_MAC, CLIENT_MAC, client, vip, ip_proto::TCP, 64, &l4);
                let mut out = Out::default();
                now += 1;
                p.handle(&t, 0, f, now, &mut out);
            }
        }
        assert_eq!(p.conns.len(), 2);
        for why in [
            DropReason::ConnTableFull,
            DropReason::NoConnection,
            DropReason::NoRealServer,
            DropReason::NoService,
        ] {
            assert_eq!(drops(&p, why), 0, "{why:?}");
        }
    }

    #[test]
    fn persistence_prefix_groups_clients_on_one_worker() {
        let t = tables(Some(Persistence {
            timeout_s: 300,
            prefix_len: 64,
        }));
        assert_eq!(t.services.steer_prefix6(), 64);
        let p = pipeline(4);
        let vip = a("2001:2::100");
        let owners: Vec<_> = (1..50u16)
            .map(|i| {
                let client = Ipv6Addr::new(0x2001, 2, 0, 5, i, 0, 0, i);
                let f = frame(WAN_MAC, CLIENT_MAC, client, vip, ip_proto::UDP, 64, &[0; 8]);
                p.owner(&t, &f).unwrap()
            })
            .collect();
        assert!(owners.iter().all(|&w| w == owners[0]), "{owners:?}");
    }

    #[test]
    fn tunnel_connections_encapsulate_follow_the_table_and_check_the_port_mtu() {
        use crate::xmit::tun::{TunnelCsum, TunnelKind};
        let gue = TunnelKind::Gue {
            port: 6080,
            csum: TunnelCsum::Csum,
        };
        let with = |kind: Option<TunnelKind>, generation| {
            let t = tables(None);
            let mut svcs = t.services.services().to_vec();
            svcs[0].real_servers.truncate(1);
            match kind {
                Some(k) => svcs[0].real_servers[0].forward = Forward::Tunnel(k),
                None => svcs[0].real_servers.clear(),
            }
            let locals6 = vec![
                LocalAddr6 {
                    port: 0,
                    addr: a("2001:2::fe"),
                    prefix_len: 64,
                },
                LocalAddr6 {
                    port: 1,
                    addr: a("2001:2:0:1::fe"),
                    prefix_len: 64,
                },
            ];
            Tables {
                services: ServiceTable::new(svcs, vec![], generation)
                    .with_locals6(locals6)
                    .with_port_mtus(vec![1500, 1400]),
                ..t
            }
        };
        let t = with(Some(gue), 1);
        let rs = a("2001:2:0:1::11");
        assert_eq!(t.services.tunnel6_of(0), Some((rs, gue)));
        assert_eq!(t.services.port_mtu(1), 1400);
        let mut p = pipeline(1);
        p.sync(&t);
        let (client, vip) = (a("2001:2::1"), a("2001:2::100"));
        let segment = |flags: u8, payload: usize| {
            let mut l4 = vec![0u8; 20 + payload];
            l4[0..2].copy_from_slice(&1000u16.to_be_bytes());
            l4[2..4].copy_from_slice(&80u16.to_be_bytes());
            l4[12] = 0x50;
            l4[13] = flags;
            frame(WAN_MAC, CLIENT_MAC, client, vip, ip_proto::TCP, 64, &l4)
        };
        // The SYN is held while the real server is solicited, then released encapsulated.
        let mut out = Out::default();
        p.handle(&t, 0, segment(0x02, 0), 1000, &mut out);
        assert_eq!(out.0.len(), 1, "a neighbour solicitation");
        let na = frame(
            LAN_MAC,
            RS_MAC,
            rs,
            a("2001:2:0:1::fe"),
            ip_proto::ICMPV6,
            255,
            &nd(136, 0x60, rs, &lla(2, RS_MAC)),
        );
        p.handle(&t, 1, na, 1001, &mut out);
        let (port, f) = out.0.last().unwrap();
        assert_eq!(*port, 1);
        assert_eq!(&f[..6], &RS_MAC);
        let ip = Ipv6Packet::new_checked(&f[ETH_HDR..]).unwrap();
        assert_eq!(
            (ip.src_addr(), ip.dst_addr(), ip.next_header()),
            (a("2001:2:0:1::fe"), rs, 17)
        );
        assert_eq!(&f[ETH_HDR + 40 + 8..ETH_HDR + 40 + 12], &[0, 41, 0, 0]);
        assert_eq!(&f[ETH_HDR + 52..], &segment(0x02, 0)[ETH_HDR..]);

        // Too big for the lan port's 1400 bytes (+ 52): Packet Too Big to the client.
        let mut out = Out::default();
        p.handle(&t, 0, segment(0x10, 1400 - 52 - 60 + 1), 1002, &mut out);
        // (held while the client is solicited)
        assert_eq!(out.0.len(), 1, "a neighbour solicitation for the client");
        let na = frame(
            WAN_MAC,
            CLIENT_MAC,
            client,
            a("2001:2::fe"),
            ip_proto::ICMPV6,
            255,
            &nd(136, 0x60, client, &lla(2, CLIENT_MAC)),
        );
        p.handle(&t, 0, na, 1002, &mut out);
        let (port, f) = &out.0[1];
        assert_eq!(*port, 0);
        let ip = Ipv6Packet::new_checked(&f[ETH_HDR..]).unwrap();
        assert_eq!(
            (ip.src_addr(), ip.dst_addr(), ip.next_header()),
            (vip, client, 58)
        );
        assert_eq!(&f[ETH_HDR + 40..ETH_HDR + 41], &[2]);
        assert_eq!(&f[ETH_HDR + 44..ETH_HDR + 48], &1348u32.to_be_bytes());
        assert_eq!(
            p.cfg
                .stats
                .packet_too_big_sent
                .load(std::sync::atomic::Ordering::Relaxed),
            1
        );
        assert_eq!(drops(&p, DropReason::TunnelTooBig), 1);
        // One byte less fits.
        let mut out = Out::default();
        p.handle(&t, 0, segment(0x10, 1400 - 52 - 60), 1003, &mut out);
        assert_eq!(out.0.len(), 1);
        assert_eq!(out.0[0].1.len(), ETH_HDR + 1400);

        // The real server leaves the table: its connection's packets are dropped.
        let gone = with(None, 2);
        p.sync(&gone);
        let mut out = Out::default();
        p.handle(&gone, 0, segment(0x10, 0), 1004, &mut out);
        assert!(out.0.is_empty());
        assert_eq!(drops(&p, DropReason::NoRealServer), 1);
    }
}
