//! In-place address/port rewrites of IPv6 packets for NAT, with incremental updates
//! (RFC 1624) of the TCP/UDP checksum, whose pseudo-header holds both addresses. IPv6 has
//! no header checksum, so only the L4 checksum changes.
//!
//! Every function takes the IP packet from the first byte of the IPv6 header (Ethernet
//! padding after the payload is allowed), expects the upper-layer header right after the
//! fixed header (rvs drops packets with extension headers before they get here), and
//! either rewrites it completely or returns an error leaving it untouched.

use std::net::Ipv6Addr;

use super::bytes::{read_ipv6, read_u16, write_u16};
use super::error::Error;
use super::ipv6::{Ipv6Packet, HEADER_LEN};
use super::{checksum, ip_proto, tcp, udp};

/// Offsets of the ports and checksum in the L4 header (TCP and UDP share the ports).
const SRC_PORT: usize = 0;
const DST_PORT: usize = 2;
const TCP_CHECKSUM: usize = 16;
const UDP_CHECKSUM: usize = 6;

/// Validate `ip` (IPv6, then TCP or UDP right after the fixed header) and find where its
/// L4 checksum is; nothing is written.
#[inline(always)]
fn classify(ip: &[u8]) -> Result<usize, Error> {
    let p = Ipv6Packet::new_checked(ip)?;
    match p.next_header() {
        ip_proto::TCP => {
            tcp::TcpPacket::new_checked(p.payload())?;
            Ok(TCP_CHECKSUM)
        }
        ip_proto::UDP => {
            udp::UdpPacket::new_checked(p.payload())?;
            Ok(UDP_CHECKSUM)
        }
        _ => Err(Error::Unsupported),
    }
}

/// One end's change of a packet `classify` accepted (checksum field at `csum_at`): the
/// address and port written, and the checksum `c` (the field's value so far) updated.
#[inline(always)]
fn apply(ip: &mut [u8], csum_at: usize, dst_side: bool, addr: Ipv6Addr, port: u16, c: u16) -> u16 {
    let (addr_at, port_at) = if dst_side {
        (24, DST_PORT)
    } else {
        (8, SRC_PORT)
    };
    let old_addr = read_ipv6(&ip[addr_at..addr_at + 16]);
    let l4 = HEADER_LEN;
    let old_port = read_u16(&ip[l4 + port_at..]);
    let mut c = checksum::update_ipv6_addr(c, old_addr, addr);
    c = checksum::update_u16(c, old_port, port);
    if csum_at == UDP_CHECKSUM {
        // UDP over IPv6 always carries a checksum (RFC 8200 8.1): a computed 0 is 0xFFFF.
        c = checksum::udp_field(c);
    }
    ip[addr_at..addr_at + 16].copy_from_slice(&addr.octets());
    write_u16(&mut ip[l4 + port_at..], port);
    c
}

fn rewrite(ip: &mut [u8], dst_side: bool, addr: Ipv6Addr, port: u16) -> Result<(), Error> {
    let csum_at = classify(ip)?;
    let c = read_u16(&ip[HEADER_LEN + csum_at..]);
    let c = apply(ip, csum_at, dst_side, addr, port, c);
    write_u16(&mut ip[HEADER_LEN + csum_at..], c);
    Ok(())
}

/// Rewrite both ends of the IPv6 TCP/UDP packet in `ip` (FULLNAT): exactly
/// [`rewrite_src6`] then [`rewrite_dst6`], the same steps on the checksum, with one header
/// check and the checksum field read and written once. Errors as [`rewrite_dst6`], leaving
/// `ip` unchanged.
pub fn rewrite_both6(
    ip: &mut [u8],
    (saddr, sport): (Ipv6Addr, u16),
    (daddr, dport): (Ipv6Addr, u16),
) -> Result<(), Error> {
    let csum_at = classify(ip)?;
    let c = read_u16(&ip[HEADER_LEN + csum_at..]);
    let c = apply(ip, csum_at, false, saddr, sport, c);
    let c = apply(ip, csum_at, true, daddr, dport, c);
    write_u16(&mut ip[HEADER_LEN + csum_at..], c);
    Ok(())
}

/// Rewrite the destination address and port of the IPv6 TCP/UDP packet in `ip`: the
/// inbound half of NAT, virtual service to real server.
///
/// Errors, leaving `ip` unchanged: [`Error::Truncated`]/[`Error::Malformed`] from the
/// header checks, [`Error::Unsupported`] for other next headers (extension headers
/// included).
pub fn rewrite_dst6(ip: &mut [u8], addr: Ipv6Addr, port: u16) -> Result<(), Error> {
    rewrite(ip, true, addr, port)
}

/// Rewrite the source address and port of the IPv6 TCP/UDP packet in `ip`: the outbound
/// half of NAT (real server back to the virtual service). Errors as [`rewrite_dst6`].
pub fn rewrite_src6(ip: &mut [u8], addr: Ipv6Addr, port: u16) -> Result<(), Error> {
    rewrite(ip, false, addr, port)
}

/// Decrement the hop limit of the IPv6 packet in `ip` (there is no header checksum).
/// False (packet unchanged) when the hop limit is 0 or 1, or `ip` is shorter than an IPv6
/// header: the packet must not be forwarded.
pub fn decrement_hop_limit(ip: &mut [u8]) -> bool {
    if ip.len() < HEADER_LEN || ip[7] <= 1 {
        return false;
    }
    ip[7] -= 1;
    true
}

#[cfg(test)]
mod tests {
    use super::*;

    const CLIENT: &str = "2001:2::1";
    const VIP: &str = "2001:2::100";
    const RS: &str = "2001:2:0:1::11";

    fn a(s: &str) -> Ipv6Addr {
        s.parse().unwrap()
    }

    /// An IPv6 packet with a TCP or UDP header (+ 5 payload bytes) and a full checksum,
    /// followed by 2 bytes of Ethernet padding.
    fn packet(proto: u8, src: Ipv6Addr, sport: u16, dst: Ipv6Addr, dport: u16) -> Vec<u8> {
        packet_with(proto, src, sport, dst, dport, b"hello")
    }

    fn packet_with(
        proto: u8,
        src: Ipv6Addr,
        sport: u16,
        dst: Ipv6Addr,
        dport: u16,
        payload: &[u8],
    ) -> Vec<u8> {
        let l4_len = if proto == ip_proto::TCP { 20 } else { 8 } + payload.len();
        let mut b = vec![0u8; HEADER_LEN + l4_len + 2];
        b[0] = 0x60;
        write_u16(&mut b[4..], l4_len as u16);
        b[6] = proto;
        b[7] = 64;
        b[8..24].copy_from_slice(&src.octets());
        b[24..40].copy_from_slice(&dst.octets());
        let l4 = &mut b[HEADER_LEN..HEADER_LEN + l4_len];
        write_u16(&mut l4[0..], sport);
        write_u16(&mut l4[2..], dport);
        if proto == ip_proto::TCP {
            l4[12] = 0x50;
            l4[13] = 0x02;
        } else {
            write_u16(&mut l4[4..], l4_len as u16);
        }
        l4[l4_len - payload.len()..].copy_from_slice(payload);
        fill(&mut b);
        b
    }

    /// Recompute the L4 checksum from scratch.
    fn full(b: &[u8]) -> u16 {
        let p = Ipv6Packet::new_checked(b).unwrap();
        let at = if p.next_header() == ip_proto::TCP {
            16
        } else {
            6
        };
        let mut l4 = p.payload().to_vec();
        l4[at] = 0;
        l4[at + 1] = 0;
        let c = !checksum::combine(&[p.pseudo_header_sum(), checksum::data(&l4)]);
        if p.next_header() == ip_proto::UDP {
            checksum::udp_field(c)
        } else {
            c
        }
    }

    fn fill(b: &mut [u8]) {
        let c = full(b);
        let at = if b[6] == ip_proto::TCP { 16 } else { 6 };
        write_u16(&mut b[HEADER_LEN + at..], c);
    }

    fn stored(b: &[u8]) -> u16 {
        let at = if b[6] == ip_proto::TCP { 16 } else { 6 };
        read_u16(&b[HEADER_LEN + at..])
    }

    #[test]
    fn nat_both_ways_matches_a_full_recompute() {
        for proto in [ip_proto::TCP, ip_proto::UDP] {
            let mut b = packet(proto, a(CLIENT), 40000, a(VIP), 80);
            rewrite_dst6(&mut b, a(RS), 8080).unwrap();
            let p = Ipv6Packet::new_checked(&b[..]).unwrap();
            assert_eq!(p.dst_addr(), a(RS));
            assert_eq!(read_u16(&p.payload()[2..]), 8080);
            assert_eq!(stored(&b), full(&b), "proto {proto} inbound");
            let mut r = packet(proto, a(RS), 8080, a(CLIENT), 40000);
            rewrite_src6(&mut r, a(VIP), 80).unwrap();
            assert_eq!(r, packet(proto, a(VIP), 80, a(CLIENT), 40000));
            assert_eq!(&b[b.len() - 2..], &[0, 0], "padding untouched");
        }
    }

    #[test]
    fn unsupported_and_truncated_leave_the_packet_alone() {
        let mut b = packet(ip_proto::TCP, a(CLIENT), 1, a(VIP), 2);
        b[6] = ip_proto::HOPOPTS;
        let before = b.clone();
        assert_eq!(rewrite_dst6(&mut b, a(RS), 3), Err(Error::Unsupported));
        assert_eq!(b, before);
        let mut short = packet(ip_proto::UDP, a(CLIENT), 1, a(VIP), 2);
        short.truncate(HEADER_LEN + 4);
        let before = short.clone();
        assert_eq!(rewrite_src6(&mut short, a(RS), 3), Err(Error::Truncated));
        assert_eq!(short, before);
    }

    proptest::proptest! {
        /// Any addresses, ports and payload: the incremental update equals a full
        /// recompute, and the rewrite equals building the packet with the new values.
        #[test]
        fn rewrite_matches_a_full_recompute(
            tcp in proptest::prelude::any::<bool>(),
            addrs in proptest::prelude::any::<(u128, u128, u128)>(),
            ports in proptest::prelude::any::<(u16, u16, u16)>(),
            payload in proptest::collection::vec(proptest::prelude::any::<u8>(), 0..64),
            dst_side in proptest::prelude::any::<bool>(),
        ) {
            let proto = if tcp { ip_proto::TCP } else { ip_proto::UDP };
            let (src, dst, new) = (
                Ipv6Addr::from(addrs.0),
                Ipv6Addr::from(addrs.1),
                Ipv6Addr::from(addrs.2),
            );
            let (sport, dport, nport) = ports;
            let mut b = packet_with(proto, src, sport, dst, dport, &payload);
            let want = if dst_side {
                rewrite_dst6(&mut b, new, nport).unwrap();
                packet_with(proto, src, sport, new, nport, &payload)
            } else {
                rewrite_src6(&mut b, new, nport).unwrap();
                packet_with(proto, new, nport, dst, dport, &payload)
            };
            proptest::prop_assert_eq!(stored(&b), full(&b));
            proptest::prop_assert_eq!(b, want);
        }
    }

    proptest::proptest! {
        /// rewrite_both6 gives exactly the bytes of rewrite_src6 then rewrite_dst6.
        #[test]
        fn rewrite_both6_equals_the_two_one_end_rewrites(
            tcp in proptest::prelude::any::<bool>(),
            addrs in proptest::prelude::any::<(u128, u128, u128, u128)>(),
            ports in proptest::prelude::any::<(u16, u16, u16, u16)>(),
            payload in proptest::collection::vec(proptest::prelude::any::<u8>(), 0..64),
        ) {
            let proto = if tcp { ip_proto::TCP } else { ip_proto::UDP };
            let [src, dst, nsrc, ndst] =
                [addrs.0, addrs.1, addrs.2, addrs.3].map(Ipv6Addr::from);
            let orig = packet_with(proto, src, ports.0, dst, ports.1, &payload);
            let mut want = orig.clone();
            rewrite_src6(&mut want, nsrc, ports.2).unwrap();
            rewrite_dst6(&mut want, ndst, ports.3).unwrap();
            let mut got = orig.clone();
            proptest::prop_assert_eq!(rewrite_both6(&mut got, (nsrc, ports.2), (ndst, ports.3)), Ok(()));
            proptest::prop_assert_eq!(stored(&got), full(&got));
            proptest::prop_assert_eq!(got, want);
        }
    }

    #[test]
    fn both_ends_refused_leave_the_packet_alone() {
        let mut b = packet(ip_proto::TCP, a(CLIENT), 1, a(VIP), 2);
        b[6] = ip_proto::HOPOPTS;
        let before = b.clone();
        assert_eq!(
            rewrite_both6(&mut b, (a(VIP), 3), (a(RS), 4)),
            Err(Error::Unsupported)
        );
        assert_eq!(b, before);
    }

    #[test]
    fn hop_limit_stops_at_one() {
        let mut b = packet(ip_proto::UDP, a(CLIENT), 1, a(VIP), 2);
        assert!(decrement_hop_limit(&mut b));
        assert_eq!(b[7], 63);
        b[7] = 1;
        assert!(!decrement_hop_limit(&mut b));
        assert_eq!(b[7], 1);
        assert!(!decrement_hop_limit(&mut [0u8; 10]));
    }
}
