//! TUN forwarding (IPVS `-i`): encapsulate the client's IPv4 packet, unchanged, in an
//! outer IPv4 header from the director to the real server, as Linux's `ip_vs_tunnel_xmit`
//! does: plain IP-in-IP (the default), GUE (UDP + a 4-byte GUE header) or GRE.
//!
//! The outer header follows the kernel: source = the director's address on the egress
//! port, destination = RIP, DF copied from the inner header, TTL copied, TOS copied with
//! the ECN bits encapsulated as RFC 6040's normal mode (`INET_ECN_encapsulate`), ID 0 when
//! DF is set (Linux's `ip_select_ident` without a socket).
//!
//! Path MTU: when the encapsulated packet would exceed the egress MTU and the inner packet
//! has DF set, the packet is answered with ICMP "fragmentation needed" carrying
//! `MTU - overhead`, from the VIP to the client (the kernel's `icmp_send` picks the
//! packet's local destination, the VIP, as source). Without DF IPVS would fragment the
//! outer packet; rvs does not fragment, it drops and counts. The MTU is the egress port's
//! (`interfaces[].mtu`).
//!
//! Checksums (`--tun-csum`, `--tun-remcsum`): GUE then carries the outer UDP checksum and
//! GRE the checksum flag and field (`gre_build_header`), both computed over the whole
//! encapsulated packet. IPv6 services are tunnelled by [`tun6`] with the same
//! encapsulation headers.

use std::net::Ipv4Addr;

use crate::frame::Frame;
use crate::wire::{checksum, icmpv4, ip_proto};

mod step;
pub mod tun6;

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

/// The egress MTU of a port whose configuration sets none (Ethernet's).
pub const DEFAULT_MTU: usize = 1500;

const ETH_HDR: usize = 14;
const IPV4_HDR: usize = 20;
const UDP_HDR: usize = 8;
const GUE_HDR: usize = 4;
const GRE_HDR: usize = 4;
/// The GRE checksum field and the reserved half-word after it.
const GRE_CSUM_LEN: usize = 4;
/// GRE flags: checksum present (`GRE_CSUM`).
const GRE_FLAG_CSUM: u8 = 0x80;
const ETHERTYPE_IPV4: [u8; 2] = [0x08, 0x00];
/// GUE source ports come from the flow hash, spread over Linux's default local port
/// range like `udp_flow_src_port` does (32768..=60999).
const GUE_SPORT_MIN: u32 = 32768;
const GUE_SPORT_END: u32 = 61000;
/// Bytes of the offending packet an ICMP error quotes at most: Linux fills the error up to
/// 576 bytes (RFC 1812 4.3.2.3), less the IP and ICMP headers.
pub const ICMP_QUOTE_MAX: usize = 576 - IPV4_HDR - icmpv4::HEADER_LEN;

impl TunnelKind {
    /// Bytes the encapsulation adds in front of the inner IPv4 packet.
    #[inline]
    pub const fn overhead(self) -> usize {
        IPV4_HDR + self.encap_len()
    }

    /// Bytes of the headers between the outer IP header and the inner packet.
    #[inline]
    pub(crate) const fn encap_len(self) -> usize {
        match self {
            TunnelKind::Ipip => 0,
            TunnelKind::Gue { .. } => UDP_HDR + GUE_HDR,
            TunnelKind::Gre { csum: false } => GRE_HDR,
            TunnelKind::Gre { csum: true } => GRE_HDR + GRE_CSUM_LEN,
        }
    }

    /// The outer header's protocol.
    const fn outer_protocol(self) -> u8 {
        match self {
            TunnelKind::Ipip => ip_proto::IPIP,
            TunnelKind::Gue { .. } => ip_proto::UDP,
            TunnelKind::Gre { .. } => ip_proto::GRE,
        }
    }
}

/// Write the encapsulation headers (UDP + GUE or GRE; nothing for IPIP) into `l4`, which
/// holds them followed by the `inner_len`-byte inner packet of IP protocol `inner_proto`
/// (IPIP or IPv6), and fill their checksum when `kind` asks for one. `pseudo` is the
/// outer pseudo-header sum for the UDP checksum (GUE).
pub(crate) fn write_encap(
    l4: &mut [u8],
    kind: TunnelKind,
    sport: u16,
    inner_len: usize,
    inner_proto: u8,
    pseudo: impl FnOnce(u16) -> u16,
) {
    match kind {
        TunnelKind::Ipip => {}
        TunnelKind::Gue { port, csum } => {
            let udp_len = (UDP_HDR + GUE_HDR + inner_len) as u16;
            l4[0..2].copy_from_slice(&sport.to_be_bytes());
            l4[2..4].copy_from_slice(&port.to_be_bytes());
            l4[4..6].copy_from_slice(&udp_len.to_be_bytes());
            l4[6..8].copy_from_slice(&[0, 0]);
            // GUE: version 0, C 0, hlen 0 | proto/ctype | flags 0.
            l4[8..12].copy_from_slice(&[0, inner_proto, 0, 0]);
            if csum != TunnelCsum::NoCsum {
                // udp_set_csum / udp6_set_csum on a packet without offload: the whole
                // datagram, 0 sent as 0xffff.
                let sum = checksum::combine(&[pseudo(udp_len), checksum::data(l4)]);
                l4[6..8].copy_from_slice(&checksum::udp_field(!sum).to_be_bytes());
            }
        }
        TunnelKind::Gre { csum } => {
            let ethertype = if inner_proto == ip_proto::IPV6 {
                ETHERTYPE_IPV6
            } else {
                ETHERTYPE_IPV4
            };
            // No K/S bits, version 0; C when asked (gre_build_header).
            let flags = if csum { GRE_FLAG_CSUM } else { 0 };
            l4[0..4].copy_from_slice(&[flags, 0, ethertype[0], ethertype[1]]);
            if csum {
                // The checksum covers the GRE header (checksum field 0) and payload.
                l4[4..8].copy_from_slice(&[0; 4]);
                let c = checksum::internet(l4);
                l4[4..6].copy_from_slice(&c.to_be_bytes());
            }
        }
    }
}

/// The Ethernet type of IPv6.
pub(crate) const ETHERTYPE_IPV6: [u8; 2] = [0x86, 0xdd];

/// Why a packet could not be encapsulated.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum EncapError {
    /// Too big for the path and DF set: answer with "fragmentation needed" carrying this
    /// next-hop MTU (the egress MTU less the encapsulation overhead).
    FragNeeded {
        /// Next-hop MTU to report.
        mtu: u16,
    },
    /// Too big for the path, DF clear (IPVS would fragment the outer packet; rvs drops).
    TooBig,
    /// The frame has no headroom for the outer headers, or is not a whole IPv4 packet.
    NoRoom,
}

/// The GUE source port for a flow (`udp_flow_src_port`): a hash of the inner packet's
/// addresses, protocol and ports, folded into the local port range, so one flow keeps one
/// source port and different flows spread over ECMP paths and RSS queues.
#[inline]
fn gue_source_port(inner: &[u8]) -> u16 {
    let word = |i: usize| u32::from_be_bytes([inner[i], inner[i + 1], inner[i + 2], inner[i + 3]]);
    let hl = usize::from(inner[0] & 0x0f) * 4;
    let ports = match inner[9] {
        ip_proto::TCP | ip_proto::UDP if inner.len() >= hl + 4 => word(hl),
        _ => 0,
    };
    let mut h = word(12).wrapping_mul(0x9E37_79B1) ^ word(16);
    h = h.wrapping_mul(0x85EB_CA6B) ^ ports ^ u32::from(inner[9]);
    h = (h ^ (h >> 15)).wrapping_mul(0xC2B2_AE35);
    h ^= h >> 13;
    sport_from_hash(h)
}

/// Fold a flow hash into the GUE source port range as the kernel does: mix the low half
/// up, then scale into [min, end).
#[inline]
pub(crate) fn sport_from_hash(mut h: u32) -> u16 {
    h ^= h << 16;
    (((u64::from(h) * u64::from(GUE_SPORT_END - GUE_SPORT_MIN)) >> 32) as u32 + GUE_SPORT_MIN)
        as u16
}

/// Encapsulate the IPv4 packet of `pkt` (an Ethernet frame whose IPv4 header the caller
/// has validated) for real server `dst`, from the director's address `src`, checking the
/// result against egress `mtu`. On success the frame is Ethernet + outer headers + the
/// unchanged inner packet (Ethernet padding dropped); MAC addresses are left for the
/// caller to fill. On error the frame is unchanged (apart from trailing padding).
pub fn encapsulate<P: Frame>(
    pkt: &mut P,
    kind: TunnelKind,
    src: Ipv4Addr,
    dst: Ipv4Addr,
    mtu: usize,
) -> Result<(), EncapError> {
    let data = pkt.data();
    if data.len() < ETH_HDR + IPV4_HDR {
        return Err(EncapError::NoRoom);
    }
    let inner = &data[ETH_HDR..];
    let inner_len = usize::from(u16::from_be_bytes([inner[2], inner[3]]));
    if inner_len < IPV4_HDR || inner_len > inner.len() {
        return Err(EncapError::NoRoom);
    }
    let overhead = kind.overhead();
    let df = inner[6] & 0x40 != 0;
    if inner_len + overhead > mtu {
        return Err(if df {
            EncapError::FragNeeded {
                mtu: mtu.saturating_sub(overhead).min(usize::from(u16::MAX)) as u16,
            }
        } else {
            EncapError::TooBig
        });
    }
    let tos = inner[1];
    let ttl = inner[8];
    let sport = match kind {
        TunnelKind::Gue { .. } => gue_source_port(&inner[..inner_len]),
        _ => 0,
    };
    make_room(pkt, inner_len, overhead)?;
    let out = pkt.data_mut();
    // Ethernet header: MACs are set when the next hop is known.
    out[12..14].copy_from_slice(&ETHERTYPE_IPV4);
    let total = (overhead + inner_len) as u16;
    let ip = &mut out[ETH_HDR..ETH_HDR + IPV4_HDR];
    ip[0] = 0x45;
    ip[1] = ecn_encapsulate(tos);
    ip[2..4].copy_from_slice(&total.to_be_bytes());
    // ip_select_ident: 0 for DF packets sent without a socket; otherwise a per-packet ID
    // (the inner one: stable, and distinct between the flow's packets).
    let ident = if df {
        [0, 0]
    } else {
        [out[ETH_HDR + overhead + 4], out[ETH_HDR + overhead + 5]]
    };
    let ip = &mut out[ETH_HDR..ETH_HDR + IPV4_HDR];
    ip[4..6].copy_from_slice(&ident);
    ip[6] = if df { 0x40 } else { 0 };
    ip[7] = 0;
    ip[8] = ttl;
    ip[9] = kind.outer_protocol();
    ip[10..12].copy_from_slice(&[0, 0]);
    ip[12..16].copy_from_slice(&src.octets());
    ip[16..20].copy_from_slice(&dst.octets());
    let c = checksum::internet(ip);
    ip[10..12].copy_from_slice(&c.to_be_bytes());
    write_encap(
        &mut out[ETH_HDR + IPV4_HDR..],
        kind,
        sport,
        inner_len,
        ip_proto::IPIP,
        |len| checksum::pseudo_header_v4(src, dst, ip_proto::UDP, len),
    );
    Ok(())
}

/// Drop the frame's Ethernet padding after the `inner_len`-byte IP packet, then make
/// room for `overhead` bytes of encapsulation in front of it (both families).
pub(crate) fn make_room<P: Frame>(
    pkt: &mut P,
    inner_len: usize,
    overhead: usize,
) -> Result<(), EncapError> {
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
pub(crate) fn ecn_encapsulate(tos: u8) -> u8 {
    let ecn = if tos & 3 == 3 { 2 } else { tos & 3 };
    (tos & !3) | ecn
}

/// Turn `pkt`, an Ethernet frame holding an IPv4 packet from a client to a VIP that is too
/// big for the tunnel, into the ICMP "fragmentation needed" error (type 3 code 4) with
/// next-hop MTU `mtu`, from that VIP to the client, in place. The error quotes the start
/// of the packet (at most [`ICMP_QUOTE_MAX`] bytes), as `icmp_send` does. Returns the
/// client's address to route it to, or None when the frame cannot hold it (unchanged then).
pub fn frag_needed_in_place<P: Frame>(pkt: &mut P, mtu: u16) -> Option<Ipv4Addr> {
    let data = pkt.data();
    if data.len() < ETH_HDR + IPV4_HDR {
        return None;
    }
    let inner = &data[ETH_HDR..];
    let inner_len = usize::from(u16::from_be_bytes([inner[2], inner[3]])).min(inner.len());
    let quote = inner_len.min(ICMP_QUOTE_MAX);
    let hdrs = IPV4_HDR + icmpv4::HEADER_LEN;
    let new_len = ETH_HDR + hdrs + quote;
    if new_len > data.len() && !pkt.resize(new_len) {
        return None;
    }
    let out = pkt.data_mut();
    out.copy_within(ETH_HDR..ETH_HDR + quote, ETH_HDR + hdrs);
    if !pkt.resize(new_len) {
        return None;
    }
    let [a, b] = mtu.to_be_bytes();
    Some(write_icmp_error(
        &mut pkt.data_mut()[ETH_HDR..],
        icmpv4::msg_type::DST_UNREACHABLE,
        icmpv4::unreachable_code::FRAG_NEEDED,
        [0, 0, a, b],
        quote,
    ))
}

/// Write, in `ip`, the IPv4 + ICMP headers of an error about the packet already quoted at
/// `ip[28..28 + quote_len]` (at least its IPv4 header): from that packet's destination (a
/// VIP) to its source (the client), as Linux's `icmp_send` from the VIP: TOS bits of the
/// offending packet with precedence "internetwork control", TTL 64, ID 0, no DF. `rest` is
/// the ICMP header's second word. Returns the client's address.
///
/// # Panics
/// If `ip` is shorter than `28 + quote_len` or `quote_len < 20`.
pub fn write_icmp_error(
    ip: &mut [u8],
    ty: u8,
    code: u8,
    rest: [u8; 4],
    quote_len: usize,
) -> Ipv4Addr {
    let hdrs = IPV4_HDR + icmpv4::HEADER_LEN;
    let q = &ip[hdrs..hdrs + quote_len];
    let client = Ipv4Addr::new(q[12], q[13], q[14], q[15]);
    let vip = Ipv4Addr::new(q[16], q[17], q[18], q[19]);
    let tos = q[1];
    {
        let icmp = &mut ip[IPV4_HDR..hdrs + quote_len];
        icmp[0] = ty;
        icmp[1] = code;
        icmp[2..4].copy_from_slice(&[0, 0]);
        icmp[4..8].copy_from_slice(&rest);
        let c = checksum::internet(icmp);
        icmp[2..4].copy_from_slice(&c.to_be_bytes());
    }
    let h = &mut ip[..IPV4_HDR];
    let total = (hdrs + quote_len) as u16;
    h[0] = 0x45;
    h[1] = (tos & 0x1e) | 0xc0;
    h[2..4].copy_from_slice(&total.to_be_bytes());
    h[4..8].copy_from_slice(&[0, 0, 0, 0]);
    h[8] = 64;
    h[9] = ip_proto::ICMP;
    h[10..12].copy_from_slice(&[0, 0]);
    h[12..16].copy_from_slice(&vip.octets());
    h[16..20].copy_from_slice(&client.octets());
    let c = checksum::internet(h);
    h[10..12].copy_from_slice(&c.to_be_bytes());
    client
}

/// Where the inner packet starts in a tunnel packet of IP protocol `proto` whose outer
/// header is `hl` bytes and whose first bytes after it are `l4` (as far as quoted), as
/// rvs encapsulates (GRE with at most a checksum, GUE without options); None for other
/// protocols.
#[inline]
pub fn inner_offset(proto: u8, hl: usize, l4: &[u8]) -> Option<usize> {
    match proto {
        ip_proto::IPIP => Some(hl),
        ip_proto::GRE if l4.first()? & GRE_FLAG_CSUM != 0 => Some(hl + GRE_HDR + GRE_CSUM_LEN),
        ip_proto::GRE => Some(hl + GRE_HDR),
        ip_proto::UDP => Some(hl + UDP_HDR + GUE_HDR),
        _ => None,
    }
}

impl TunnelKind {
    /// Whether a quoted outer packet of protocol `proto` (with UDP destination port
    /// `dport` for GUE) is one of this encapsulation.
    #[inline]
    pub fn matches(self, proto: u8, dport: u16) -> bool {
        match self {
            TunnelKind::Gue { port, .. } => proto == ip_proto::UDP && dport == port,
            _ => proto == self.outer_protocol(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::wire::{Icmpv4Packet, Ipv4Packet};

    const CLIENT: Ipv4Addr = Ipv4Addr::new(198, 18, 0, 1);
    const VIP: Ipv4Addr = Ipv4Addr::new(198, 18, 0, 100);
    const DIP: Ipv4Addr = Ipv4Addr::new(198, 19, 0, 254);
    const RIP: Ipv4Addr = Ipv4Addr::new(198, 19, 0, 11);

    /// Ethernet + IPv4 (DF per `df`, TOS 0x03 = CE) + UDP 40000 -> 53 + `payload` bytes.
    fn frame(df: bool, payload: usize) -> Vec<u8> {
        let total = 20 + 8 + payload;
        let mut f = vec![0u8; 14 + total];
        f[12..14].copy_from_slice(&[8, 0]);
        f[14..34].copy_from_slice(&[
            0x45,
            0x03,
            (total >> 8) as u8,
            total as u8,
            0xab,
            0xcd,
            if df { 0x40 } else { 0 },
            0,
            61,
            17,
            0,
            0,
            198,
            18,
            0,
            1,
            198,
            18,
            0,
            100,
        ]);
        f[34..42].copy_from_slice(&[
            0x9c,
            0x40,
            0,
            53,
            ((total - 20) >> 8) as u8,
            (total - 20) as u8,
            0,
            0,
        ]);
        Ipv4Packet::new_unchecked(&mut f[14..]).fill_checksum();
        f
    }

    #[test]
    fn ipip_gue_gre_headers() {
        for (kind, proto) in [
            (TunnelKind::Ipip, 4),
            (
                TunnelKind::Gue {
                    port: 6080,
                    csum: TunnelCsum::NoCsum,
                },
                17,
            ),
            (TunnelKind::Gre { csum: false }, 47),
        ] {
            let inner = frame(true, 10);
            let mut f = inner.clone();
            f.extend_from_slice(&[0xee; 4]); // Ethernet padding, dropped
            encapsulate(&mut f, kind, DIP, RIP, DEFAULT_MTU).unwrap();
            let o = kind.overhead();
            assert_eq!(f.len(), inner.len() + o);
            assert_eq!(
                &f[14 + o..],
                &inner[14..],
                "{kind:?}: inner packet unchanged"
            );
            let ip = Ipv4Packet::new_checked(&f[14..]).unwrap();
            assert!(ip.verify_checksum());
            assert_eq!(
                (ip.src_addr(), ip.dst_addr(), ip.protocol()),
                (DIP, RIP, proto)
            );
            assert_eq!((ip.ttl(), ip.dscp_ecn(), ip.ident()), (61, 0x02, 0));
            assert!(ip.dont_frag());
            assert_eq!(ip.total_len(), inner.len() - 14 + o);
            match kind {
                TunnelKind::Gue { .. } => {
                    let u = &f[34..46];
                    assert_eq!(&u[2..4], &6080u16.to_be_bytes());
                    assert_eq!(
                        u16::from_be_bytes([u[4], u[5]]) as usize,
                        8 + 4 + inner.len() - 14
                    );
                    assert_eq!(&u[6..12], &[0, 0, 0, 4, 0, 0]);
                    let sport = u16::from_be_bytes([u[0], u[1]]);
                    assert!((32768..61000).contains(&sport));
                }
                TunnelKind::Gre { .. } => assert_eq!(&f[34..38], &[0, 0, 8, 0]),
                TunnelKind::Ipip => {}
            }
        }
    }

    #[test]
    fn gue_source_port_is_per_flow() {
        let a = frame(true, 0);
        let mut b = frame(true, 0);
        b[35] ^= 1; // other client port
        let pa = gue_source_port(&a[14..]);
        assert_eq!(pa, gue_source_port(&frame(true, 50)[14..]));
        assert_ne!(pa, gue_source_port(&b[14..]));
    }

    #[test]
    fn mtu_check_and_frag_needed() {
        // 1480-byte inner + 20 fits IPIP exactly; one byte more does not.
        let mut fits = frame(true, 1480 - 28);
        assert_eq!(
            encapsulate(&mut fits, TunnelKind::Ipip, DIP, RIP, 1500),
            Ok(())
        );
        let big = frame(true, 1481 - 28);
        let mut f = big.clone();
        assert_eq!(
            encapsulate(
                &mut f,
                TunnelKind::Gue {
                    port: 1,
                    csum: TunnelCsum::NoCsum
                },
                DIP,
                RIP,
                1500
            ),
            Err(EncapError::FragNeeded { mtu: 1468 })
        );
        assert_eq!(f, big, "unchanged on error");
        let mut nodf = frame(false, 1481 - 28);
        assert_eq!(
            encapsulate(&mut nodf, TunnelKind::Ipip, DIP, RIP, 1500),
            Err(EncapError::TooBig)
        );
        // Without DF the outer ID is the inner one.
        let mut small = frame(false, 4);
        encapsulate(&mut small, TunnelKind::Gre { csum: false }, DIP, RIP, 1500).unwrap();
        assert_eq!(&small[18..22], &[0xab, 0xcd, 0, 0]);

        assert_eq!(frag_needed_in_place(&mut f, 1480), Some(CLIENT));
        assert_eq!(f.len(), 14 + 20 + 8 + ICMP_QUOTE_MAX);
        let ip = Ipv4Packet::new_checked(&f[14..]).unwrap();
        assert!(ip.verify_checksum());
        assert_eq!(
            (ip.src_addr(), ip.dst_addr(), ip.protocol()),
            (VIP, CLIENT, 1)
        );
        assert_eq!((ip.ttl(), ip.dscp_ecn()), (64, 0xc2));
        let icmp = Icmpv4Packet::new_checked(ip.payload()).unwrap();
        assert!(icmp.verify_checksum());
        assert_eq!(
            (icmp.msg_type(), icmp.msg_code(), icmp.next_hop_mtu()),
            (3, 4, 1480)
        );
        assert_eq!(icmp.data(), &big[14..14 + ICMP_QUOTE_MAX]);
        // A short packet is quoted whole.
        let mut s = frame(true, 3);
        let want = s[14..].to_vec();
        frag_needed_in_place(&mut s, 1000).unwrap();
        assert_eq!(&s[42..], &want[..]);
        assert_eq!(frag_needed_in_place(&mut vec![0u8; 20], 1), None);
    }

    #[test]
    fn csum_options_over_ipv4() {
        for csum in [TunnelCsum::Csum, TunnelCsum::RemCsum] {
            let mut f = frame(true, 33);
            let kind = TunnelKind::Gue { port: 6080, csum };
            encapsulate(&mut f, kind, DIP, RIP, 1500).unwrap();
            let udp = &f[34..];
            assert_ne!(&udp[6..8], &[0, 0], "{csum:?}");
            let sum = checksum::combine(&[
                checksum::pseudo_header_v4(DIP, RIP, 17, udp.len() as u16),
                checksum::data(udp),
            ]);
            assert_eq!(sum, 0xffff, "{csum:?}: UDP checksum verifies");
            // No remote-checksum private option: the forwarded packet's checksum is
            // complete (see TunnelCsum::RemCsum).
            assert_eq!(&udp[8..12], &[0, 4, 0, 0]);
        }
        let inner = frame(true, 7);
        let mut f = inner.clone();
        let gre = TunnelKind::Gre { csum: true };
        assert_eq!(gre.overhead(), 28);
        encapsulate(&mut f, gre, DIP, RIP, 1500).unwrap();
        assert_eq!(&f[34..36], &[0x80, 0]);
        assert_eq!(&f[40..42], &[0, 0], "reserved1");
        assert_eq!(checksum::data(&f[34..]), 0xffff, "GRE checksum verifies");
        assert_eq!(&f[42..], &inner[14..]);
        assert_eq!(inner_offset(47, 20, &f[34..]), Some(28));
        assert_eq!(inner_offset(47, 20, &[0, 0, 8, 0]), Some(24));
    }

    #[test]
    fn malformed_frames_are_refused() {
        let mut short = vec![0u8; 30];
        assert_eq!(
            encapsulate(&mut short, TunnelKind::Ipip, DIP, RIP, 1500),
            Err(EncapError::NoRoom)
        );
        let mut lying = frame(true, 0);
        lying[17] = 200; // total length beyond the frame
        assert_eq!(
            encapsulate(&mut lying, TunnelKind::Ipip, DIP, RIP, 1500),
            Err(EncapError::NoRoom)
        );
    }
}
