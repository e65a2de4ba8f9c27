//! The tunnel types and the encapsulation itself, written once over the family.

use std::net::{Ipv4Addr, Ipv6Addr};

use super::too_big::IPV6_MIN_MTU;
use crate::family::Family;
use crate::frame::Frame;
use crate::wire::ethernet::{self, EtherType, EthernetFrame};
use crate::wire::gre::{self, GrePacket};
use crate::wire::gue::{self, GuePacket};
use crate::wire::{ip_proto, ipv4, ipv6, udp, Ipv4Packet, Ipv6Packet, UdpPacket};

/// The encapsulation of a tunnel real server (`ipvsadm --tun-type`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum TunnelKind {
    /// IP in IP (protocol 4; ip6ip6, next header 41, for IPv6), the IPVS default.
    Ipip,
    /// Generic UDP Encapsulation: UDP to `port` on the real server, GUE version 0 with
    /// protocol IPIP (IPv6 for IPv6 packets) and no options.
    Gue {
        /// Destination UDP port (`--tun-port`).
        port: u16,
        /// UDP checksum option (`--tun-nocsum|--tun-csum|--tun-remcsum`).
        csum: TunnelCsum,
    },
    /// GRE (protocol 47) with protocol type 0x0800 (0x86DD for IPv6) and no key or
    /// sequence number.
    Gre {
        /// `--tun-csum`: the GRE checksum flag and field are present.
        csum: bool,
    },
}

/// The checksum option of a GUE tunnel (`IP_VS_TUNNEL_ENCAP_FLAG_*`).
///
/// `RemCsum` is, as in the kernel's `ipvs_gue_encap`, remote checksum offload only for
/// packets whose inner checksum is still to be computed (`CHECKSUM_PARTIAL`, locally
/// generated); a forwarded client packet has a complete checksum, so the kernel sends it
/// without the GUE private option and with the outer UDP checksum, as `Csum` does.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub enum TunnelCsum {
    /// UDP checksum 0 (`--tun-nocsum`, the default; also over IPv6, as the kernel's
    /// `udp6_set_csum(nocheck)`: RFC 6935 allows it for tunnels).
    #[default]
    NoCsum,
    /// UDP checksum over the outer packet (`--tun-csum`).
    Csum,
    /// Remote checksum offload (`--tun-remcsum`); see the type's doc.
    RemCsum,
}

/// Why a packet could not be encapsulated.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum EncapError {
    /// Too big for the path: answer with "fragmentation needed" (IPv4, DF set) or Packet
    /// Too Big (IPv6) carrying this next-hop MTU (the egress MTU less the encapsulation
    /// overhead; for IPv6 never below 1280).
    FragNeeded {
        /// Next-hop MTU to report.
        mtu: u16,
    },
    /// Too big for the path, DF clear (IPVS would fragment the outer packet; rvs drops).
    TooBig,
    /// The frame has no headroom for the outer headers, or is not a whole IP packet.
    NoRoom,
}

/// The egress MTU of a port whose configuration sets none (Ethernet's).
pub const DEFAULT_MTU: usize = 1500;

const ETH_HDR: usize = ethernet::HEADER_LEN;
/// GUE source ports come from the flow hash, spread over Linux's default local port
/// range like `udp_flow_src_port` does (32768..=60999).
const GUE_SPORT_MIN: u32 = 32768;
const GUE_SPORT_END: u32 = 61000;

impl TunnelKind {
    /// Bytes the encapsulation adds in front of an inner packet of family `F`.
    #[inline]
    pub(crate) const fn overhead<F: TunnelFamily>(self) -> usize {
        F::HEADER_LEN + self.encap_len()
    }

    /// Bytes of the headers between the outer IP header and the inner packet.
    #[inline]
    pub(crate) const fn encap_len(self) -> usize {
        match self {
            TunnelKind::Ipip => 0,
            TunnelKind::Gue { .. } => udp::HEADER_LEN + gue::HEADER_LEN,
            TunnelKind::Gre { csum: false } => gre::HEADER_LEN,
            TunnelKind::Gre { csum: true } => gre::HEADER_LEN + gre::CSUM_LEN,
        }
    }

    /// The outer header's protocol / next header for inner packets of family `F`.
    const fn outer_protocol<F: TunnelFamily>(self) -> u8 {
        match self {
            TunnelKind::Ipip => F::INNER_PROTO,
            TunnelKind::Gue { .. } => ip_proto::UDP,
            TunnelKind::Gre { .. } => ip_proto::GRE,
        }
    }

    /// Whether a quoted outer IPv4 packet of protocol `proto` (with UDP destination port
    /// `dport` for GUE) is one of this encapsulation.
    #[inline]
    pub fn matches(self, proto: u8, dport: u16) -> bool {
        match self {
            TunnelKind::Gue { port, .. } => proto == ip_proto::UDP && dport == port,
            _ => proto == self.outer_protocol::<Ipv4Addr>(),
        }
    }
}

/// What encapsulation does differently for IPv4 and IPv6 packets: the outer header and
/// the path-MTU policy. Static dispatch: each family's path compiles to its own code.
pub(crate) trait TunnelFamily: Family {
    /// Length of the outer IP header (no options or extension headers).
    const HEADER_LEN: usize;
    /// Ethernet type of the outer packet, and GRE protocol type of the inner one.
    const ETHERTYPE: EtherType;
    /// IP protocol of this family's packets inside a tunnel: the GUE protocol and the
    /// outer protocol of IP-in-IP (IPIP, or IPv6 for ip6ip6).
    const INNER_PROTO: u8;
    /// Length of the packet starting `inner`, per its header; None when `inner` does not
    /// hold it whole.
    fn inner_len(inner: &[u8]) -> Option<usize>;
    /// The error for the packet `inner`, too big for the tunnel, with `mtu` the egress
    /// MTU less the overhead.
    fn too_big(inner: &[u8], mtu: usize) -> EncapError;
    /// A hash of the flow of packet `inner` (addresses, protocol, ports when TCP/UDP)
    /// for the GUE source port.
    fn flow_hash(inner: &[u8]) -> u32;
    /// Write outer header `hdr` ([`TunnelFamily::HEADER_LEN`] bytes) of a `len`-byte
    /// tunnel packet of protocol `proto` around packet `inner`, from `src` to `dst`.
    fn write_outer(hdr: &mut [u8], inner: &[u8], proto: u8, len: usize, src: Self, dst: Self);
    /// Fill the checksum of UDP datagram `udp` with the outer pseudo-header.
    fn fill_udp_checksum(udp: &mut [u8], src: Self, dst: Self);
}

/// The big-endian word at `inner[i..i + 4]`.
#[inline]
fn word(inner: &[u8], i: usize) -> u32 {
    u32::from_be_bytes([inner[i], inner[i + 1], inner[i + 2], inner[i + 3]])
}

impl TunnelFamily for Ipv4Addr {
    const HEADER_LEN: usize = ipv4::HEADER_LEN;
    const ETHERTYPE: EtherType = EtherType::IPV4;
    const INNER_PROTO: u8 = ip_proto::IPIP;

    #[inline]
    fn inner_len(inner: &[u8]) -> Option<usize> {
        if inner.len() < ipv4::HEADER_LEN {
            return None;
        }
        let len = Ipv4Packet::new_unchecked(inner).total_len();
        (ipv4::HEADER_LEN..=inner.len())
            .contains(&len)
            .then_some(len)
    }

    #[inline]
    fn too_big(inner: &[u8], mtu: usize) -> EncapError {
        if Ipv4Packet::new_unchecked(inner).dont_frag() {
            EncapError::FragNeeded {
                mtu: mtu.min(usize::from(u16::MAX)) as u16,
            }
        } else {
            EncapError::TooBig
        }
    }

    #[inline]
    fn flow_hash(inner: &[u8]) -> u32 {
        let hl = usize::from(inner[0] & 0x0f) * 4;
        let ports = match inner[9] {
            ip_proto::TCP | ip_proto::UDP if inner.len() >= hl + 4 => word(inner, hl),
            _ => 0,
        };
        let mut h = word(inner, 12).wrapping_mul(0x9E37_79B1) ^ word(inner, 16);
        h = h.wrapping_mul(0x85EB_CA6B) ^ ports ^ u32::from(inner[9]);
        h = (h ^ (h >> 15)).wrapping_mul(0xC2B2_AE35);
        h ^ (h >> 13)
    }

    #[inline]
    fn write_outer(hdr: &mut [u8], inner: &[u8], proto: u8, len: usize, src: Self, dst: Self) {
        let inner = Ipv4Packet::new_unchecked(inner);
        let df = inner.dont_frag();
        hdr.fill(0);
        let mut ip = Ipv4Packet::new_unchecked(hdr);
        ip.set_version_and_header_len(ipv4::HEADER_LEN);
        ip.set_dscp_ecn(ecn_encapsulate(inner.dscp_ecn()));
        ip.set_total_len(len as u16);
        // ip_select_ident: 0 for DF packets sent without a socket; otherwise a per-packet
        // ID (the inner one: stable, and distinct between the flow's packets).
        ip.set_ident(if df { 0 } else { inner.ident() });
        ip.set_dont_frag(df);
        ip.set_ttl(inner.ttl());
        ip.set_protocol(proto);
        ip.set_src_addr(src);
        ip.set_dst_addr(dst);
        ip.fill_checksum();
    }

    #[inline]
    fn fill_udp_checksum(udp: &mut [u8], src: Self, dst: Self) {
        UdpPacket::new_unchecked(udp).fill_checksum_v4(src, dst);
    }
}

impl TunnelFamily for Ipv6Addr {
    const HEADER_LEN: usize = ipv6::HEADER_LEN;
    const ETHERTYPE: EtherType = EtherType::IPV6;
    const INNER_PROTO: u8 = ip_proto::IPV6;

    #[inline]
    fn inner_len(inner: &[u8]) -> Option<usize> {
        if inner.len() < ipv6::HEADER_LEN {
            return None;
        }
        let len = ipv6::HEADER_LEN + Ipv6Packet::new_unchecked(inner).payload_len();
        (len <= inner.len()).then_some(len)
    }

    #[inline]
    fn too_big(_inner: &[u8], mtu: usize) -> EncapError {
        EncapError::FragNeeded {
            mtu: mtu.max(IPV6_MIN_MTU).min(usize::from(u16::MAX)) as u16,
        }
    }

    #[inline]
    fn flow_hash(inner: &[u8]) -> u32 {
        let nh = inner[6];
        let ports = match nh {
            ip_proto::TCP | ip_proto::UDP if inner.len() >= ipv6::HEADER_LEN + 4 => {
                word(inner, ipv6::HEADER_LEN)
            }
            _ => 0,
        };
        let mut h = 0x9E37_79B1u32;
        for i in (8..40).step_by(4) {
            h = (h ^ word(inner, i)).wrapping_mul(0x85EB_CA6B);
        }
        h ^= ports ^ u32::from(nh);
        h = (h ^ (h >> 15)).wrapping_mul(0xC2B2_AE35);
        h ^ (h >> 13)
    }

    #[inline]
    fn write_outer(hdr: &mut [u8], inner: &[u8], proto: u8, len: usize, src: Self, dst: Self) {
        let inner = Ipv6Packet::new_unchecked(inner);
        hdr.fill(0); // flow label 0
        let mut ip = Ipv6Packet::new_unchecked(hdr);
        ip.set_version();
        ip.set_traffic_class(ecn_encapsulate(inner.traffic_class()));
        ip.set_payload_len((len - ipv6::HEADER_LEN) as u16);
        ip.set_next_header(proto);
        ip.set_hop_limit(inner.hop_limit());
        ip.set_src_addr(src);
        ip.set_dst_addr(dst);
    }

    #[inline]
    fn fill_udp_checksum(udp: &mut [u8], src: Self, dst: Self) {
        UdpPacket::new_unchecked(udp).fill_checksum_v6(src, dst);
    }
}

/// Encapsulate the IP packet of `pkt` (an Ethernet frame holding a packet of family `F`
/// whose header the caller has validated) for real server `dst`, from the director's
/// address `src`, checking the result against egress `mtu`. On success the frame is
/// Ethernet + outer headers + the unchanged inner packet (Ethernet padding dropped); MAC
/// addresses are left for the caller to fill. On error the frame is unchanged (apart
/// from trailing padding).
pub(crate) fn encapsulate<F: TunnelFamily, P: Frame>(
    pkt: &mut P,
    kind: TunnelKind,
    src: F,
    dst: F,
    mtu: usize,
) -> Result<(), EncapError> {
    let inner = pkt.data().get(ETH_HDR..).unwrap_or_default();
    let inner_len = F::inner_len(inner).ok_or(EncapError::NoRoom)?;
    let overhead = kind.overhead::<F>();
    if inner_len + overhead > mtu {
        return Err(F::too_big(inner, mtu.saturating_sub(overhead)));
    }
    let sport = match kind {
        TunnelKind::Gue { .. } => sport_from_hash(F::flow_hash(&inner[..inner_len])),
        _ => 0,
    };
    make_room(pkt, inner_len, overhead)?;
    let out = pkt.data_mut();
    // MACs are set when the next hop is known.
    EthernetFrame::new_unchecked(&mut *out).set_ethertype(F::ETHERTYPE);
    let (hdr, l4) = out[ETH_HDR..].split_at_mut(F::HEADER_LEN);
    let (len, proto) = (overhead + inner_len, kind.outer_protocol::<F>());
    F::write_outer(hdr, &l4[kind.encap_len()..], proto, len, src, dst);
    write_encap(l4, kind, sport, inner_len, src, dst);
    Ok(())
}

/// Write the encapsulation headers (UDP + GUE or GRE; nothing for IPIP) into `l4`, which
/// holds them followed by the `inner_len`-byte inner packet of family `F`, and fill their
/// checksum when `kind` asks for one (the outer addresses `src`, `dst` for GUE's UDP).
#[inline]
fn write_encap<F: TunnelFamily>(
    l4: &mut [u8],
    kind: TunnelKind,
    sport: u16,
    inner_len: usize,
    src: F,
    dst: F,
) {
    match kind {
        TunnelKind::Ipip => {}
        TunnelKind::Gue { port, csum } => {
            let mut udp = UdpPacket::new_unchecked(&mut *l4);
            udp.set_src_port(sport);
            udp.set_dst_port(port);
            udp.set_len((udp::HEADER_LEN + gue::HEADER_LEN + inner_len) as u16);
            udp.set_checksum(0);
            let mut gue = GuePacket::new_unchecked(&mut l4[udp::HEADER_LEN..]);
            gue.set_version_control_hlen(0, false, 0);
            gue.set_protocol(F::INNER_PROTO);
            gue.set_flags(0);
            if csum != TunnelCsum::NoCsum {
                // udp_set_csum / udp6_set_csum on a packet without offload: the whole
                // datagram, 0 sent as 0xffff.
                F::fill_udp_checksum(l4, src, dst);
            }
        }
        TunnelKind::Gre { csum } => {
            // No K/S bits, version 0; C when asked (gre_build_header).
            let mut gre = GrePacket::new_unchecked(l4);
            gre.set_flags_version(if csum { gre::flags::CSUM } else { 0 });
            gre.set_protocol(F::ETHERTYPE.0);
            if csum {
                gre.fill_checksum();
            }
        }
    }
}

/// Fold a flow hash into the GUE source port range as the kernel's `udp_flow_src_port`
/// does: mix the low half up, then scale into [min, end). One flow keeps one source port
/// and different flows spread over ECMP paths and RSS queues.
#[inline]
pub(super) fn sport_from_hash(mut h: u32) -> u16 {
    h ^= h << 16;
    (((u64::from(h) * u64::from(GUE_SPORT_END - GUE_SPORT_MIN)) >> 32) as u32 + GUE_SPORT_MIN)
        as u16
}

/// Drop the frame's Ethernet padding after the `inner_len`-byte IP packet, then make
/// room for `overhead` bytes of encapsulation in front of it.
#[inline]
fn make_room<P: Frame>(pkt: &mut P, inner_len: usize, overhead: usize) -> Result<(), EncapError> {
    if pkt.data().len() > ETH_HDR + inner_len && !pkt.resize(ETH_HDR + inner_len) {
        return Err(EncapError::NoRoom);
    }
    if !pkt.prepend(overhead) {
        return Err(EncapError::NoRoom);
    }
    Ok(())
}

/// The outer TOS / traffic class for inner `tos` (INET_ECN_encapsulate): the inner one with
/// its ECN copied, except CE, which becomes ECT(0) outside.
#[inline]
fn ecn_encapsulate(tos: u8) -> u8 {
    let ecn = if tos & 3 == 3 { 2 } else { tos & 3 };
    (tos & !3) | ecn
}

/// Where the inner packet starts in an IPv4 tunnel packet of IP protocol `proto` whose
/// outer header is `hl` bytes and whose first bytes after it are `l4` (as far as quoted),
/// as rvs encapsulates (GRE with at most a checksum, GUE without options); None for other
/// protocols.
#[inline]
pub fn inner_offset(proto: u8, hl: usize, l4: &[u8]) -> Option<usize> {
    match proto {
        ip_proto::IPIP => Some(hl),
        ip_proto::GRE if l4.is_empty() => None,
        ip_proto::GRE => {
            let csum = GrePacket::new_unchecked(l4).csum_present();
            Some(hl + gre::HEADER_LEN + if csum { gre::CSUM_LEN } else { 0 })
        }
        ip_proto::UDP => Some(hl + udp::HEADER_LEN + gue::HEADER_LEN),
        _ => None,
    }
}
