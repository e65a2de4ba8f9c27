//! In-place address/port rewrites for the NAT and FULLNAT forwarding methods, with
//! incremental checksum updates (RFC 1624) of the IPv4 header and of the TCP/UDP checksum
//! (pseudo-header included), so the payload is never re-read.
//!
//! Every function takes the IP packet (from the first byte of the IPv4 header; Ethernet
//! padding after `total_len` is allowed) and either rewrites it completely or returns an
//! error leaving it untouched.

use std::net::Ipv4Addr;

use super::bytes::{read_ipv4, read_u16, read_u32, write_u16, write_u32};
use super::checksum::{self, Delta};
use super::error::Error;
use super::icmpv4::{self, msg_type};
use super::ipv4::Ipv4Packet;
use super::{ip_proto, tcp, udp};

/// Which side of the packet a rewrite changes.
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
enum Side {
    Src,
    Dst,
}

/// Where the checksum to update lives and which rules it follows, found before anything
/// is written.
#[derive(Copy, Clone)]
enum L4 {
    /// TCP: checksum covers the pseudo-header.
    Tcp,
    /// UDP: like TCP, but 0 means "no checksum" and a computed 0 is sent as 0xFFFF.
    Udp,
    /// ICMP echo: the identifier plays the port on both sides; no pseudo-header.
    IcmpEcho,
}

/// Validate `ip` and find its L4 kind and offset; nothing is written. Always inlined: as
/// a call shared by the one-end and both-ends rewrites it cost NAT's rewrite 57
/// instructions per packet.
#[inline(always)]
fn classify(ip: &[u8]) -> Result<(L4, usize), Error> {
    let p = Ipv4Packet::new_checked(ip)?;
    // A fragment has no L4 header (or only the first part of the datagram the L4
    // checksum covers, and later fragments would keep the old address): rvs does not
    // forward fragments through NAT.
    if p.is_fragment() {
        return Err(Error::Unsupported);
    }
    let l4 = p.payload();
    let kind = match p.protocol() {
        ip_proto::TCP => {
            tcp::TcpPacket::new_checked(l4)?;
            L4::Tcp
        }
        ip_proto::UDP => {
            udp::UdpPacket::new_checked(l4)?;
            L4::Udp
        }
        ip_proto::ICMP => {
            let icmp = icmpv4::Icmpv4Packet::new_checked(l4)?;
            match icmp.msg_type() {
                msg_type::ECHO_REQUEST | msg_type::ECHO_REPLY => L4::IcmpEcho,
                _ => return Err(Error::Unsupported),
            }
        }
        _ => return Err(Error::Unsupported),
    };
    Ok((kind, p.header_len()))
}

/// How much a rewrite checks before it writes.
#[derive(Copy, Clone, PartialEq, Eq)]
enum Check {
    /// Everything [`classify`] checks: the public rewrites take any bytes.
    Full,
    /// Only what the writes need to stay inside the packet: the caller has parsed it as
    /// an unfragmented IPv4 TCP or UDP packet (see [`rewrite_dst_parsed`]).
    Parsed,
}

/// [`classify`] or, for a packet the caller has parsed ([`Check::Parsed`]), only the
/// lengths the writes rely on (28 instructions fewer per NAT packet under callgrind):
/// header length at least 20, the L4 header's minimum inside `total_len`, `total_len`
/// inside the buffer. TCP and UDP only.
#[inline(always)]
fn locate(ip: &[u8], check: Check) -> Result<(L4, usize), Error> {
    if check == Check::Full {
        return classify(ip);
    }
    // An explicit length check first, so the compiler sees the fixed header in bounds.
    if ip.len() < 20 {
        return Err(Error::Truncated);
    }
    let hl = usize::from(ip[0] & 0x0F) * 4;
    let total = usize::from(read_u16(&ip[2..4]));
    let (kind, min) = match ip[9] {
        ip_proto::TCP => (L4::Tcp, tcp::HEADER_LEN),
        ip_proto::UDP => (L4::Udp, udp::HEADER_LEN),
        _ => return Err(Error::Unsupported),
    };
    if hl < 20 || total > ip.len() || hl + min > total {
        return Err(Error::Truncated);
    }
    Ok((kind, hl))
}

#[inline(always)]
fn rewrite(
    ip: &mut [u8],
    side: Side,
    addr: Ipv4Addr,
    port: u16,
    check: Check,
) -> Result<(), Error> {
    let (kind, hl) = locate(ip, check)?;
    let addr_off = match side {
        Side::Src => 12,
        Side::Dst => 16,
    };
    let old_addr = Ipv4Addr::new(
        ip[addr_off],
        ip[addr_off + 1],
        ip[addr_off + 2],
        ip[addr_off + 3],
    );
    // The address's terms, for both the IPv4 header and the L4 checksum.
    let mut addr_delta = Delta::default();
    addr_delta.u32(u32::from(old_addr), u32::from(addr));

    // IPv4 header checksum: only the address changes. A no-op is skipped so the packet
    // stays byte-identical (eqn. 3 with m == m' would turn a sender's 0xFFFF, valid but
    // unusual, into the equivalent 0x0000).
    if old_addr != addr {
        let hc = read_u16(&ip[10..12]);
        write_u16(&mut ip[10..12], addr_delta.apply(hc));
        ip[addr_off..addr_off + 4].copy_from_slice(&addr.octets());
    }

    let total = usize::from(read_u16(&ip[2..4]));
    let l4 = &mut ip[hl..total];
    match kind {
        L4::Tcp | L4::Udp => {
            let (port_off, csum_off) = match (side, kind) {
                (Side::Src, L4::Tcp) => (0, tcp::CHECKSUM_OFFSET),
                (Side::Dst, L4::Tcp) => (2, tcp::CHECKSUM_OFFSET),
                (Side::Src, _) => (0, udp::CHECKSUM_OFFSET),
                (Side::Dst, _) => (2, udp::CHECKSUM_OFFSET),
            };
            let old_port = read_u16(&l4[port_off..]);
            write_u16(&mut l4[port_off..], port);
            let hc = read_u16(&l4[csum_off..]);
            if matches!(kind, L4::Udp) && hc == 0 {
                // UDP over IPv4 without a checksum stays without one.
                return Ok(());
            }
            if old_addr == addr && old_port == port {
                return Ok(());
            }
            // One combined eqn. 3 update for the address words and the port.
            let mut d = addr_delta;
            d.u16(old_port, port);
            let mut c = d.apply(hc);
            if matches!(kind, L4::Udp) {
                c = checksum::udp_field(c);
            }
            write_u16(&mut l4[csum_off..], c);
        }
        L4::IcmpEcho => {
            let id_off = icmpv4::ECHO_IDENT_OFFSET;
            let csum_off = icmpv4::CHECKSUM_OFFSET;
            let old_id = read_u16(&l4[id_off..]);
            if old_id == port {
                return Ok(());
            }
            write_u16(&mut l4[id_off..], port);
            let hc = read_u16(&l4[csum_off..]);
            let mut c = checksum::update_u16(hc, old_id, port);
            // ICMP has no pseudo-header, so an echo reply can be all zeros after the
            // change; its checksum is then 0xFFFF, which eqn. 3 reports as 0x0000.
            if c == 0 && all_zero_except_checksum(l4, csum_off) {
                c = 0xFFFF;
            }
            write_u16(&mut l4[csum_off..], c);
        }
    }
    Ok(())
}

/// True when every byte but the two-byte checksum at `csum_off` is zero (rare path).
fn all_zero_except_checksum(b: &[u8], csum_off: usize) -> bool {
    b.iter()
        .enumerate()
        .all(|(i, &x)| x == 0 || i == csum_off || i == csum_off + 1)
}

/// Rewrite the destination address and port (TCP/UDP), or the echo identifier (ICMP echo),
/// of the IPv4 packet in `ip`: the inbound half of NAT/FULLNAT, virtual service to real
/// server.
///
/// Errors, leaving `ip` unchanged: [`Error::Truncated`]/[`Error::Malformed`] from the
/// IPv4 or L4 header checks, [`Error::Unsupported`] for fragments, other protocols and
/// ICMP messages other than echo.
pub fn rewrite_dst(ip: &mut [u8], addr: Ipv4Addr, port: u16) -> Result<(), Error> {
    rewrite(ip, Side::Dst, addr, port, Check::Full)
}

/// [`rewrite_dst`] of a packet the caller has already parsed as an unfragmented IPv4 TCP
/// or UDP packet with its whole L4 header inside `total_len` (the IPv4 packet path does,
/// before it looks the connection up): the same bytes, without repeating those checks.
/// Other bytes are still handled without a panic or a write outside `ip`, but are not
/// validated (a fragment would be rewritten as if unfragmented); ICMP is `Unsupported`.
#[inline(always)]
pub fn rewrite_dst_parsed(ip: &mut [u8], addr: Ipv4Addr, port: u16) -> Result<(), Error> {
    rewrite(ip, Side::Dst, addr, port, Check::Parsed)
}

/// Rewrite the source address and port (TCP/UDP), or the echo identifier (ICMP echo),
/// of the IPv4 packet in `ip`: the outbound half of NAT (real server to virtual service),
/// or the local address of FULLNAT. Errors as [`rewrite_dst`].
pub fn rewrite_src(ip: &mut [u8], addr: Ipv4Addr, port: u16) -> Result<(), Error> {
    rewrite(ip, Side::Src, addr, port, Check::Full)
}

/// [`rewrite_src`] of a parsed packet, as [`rewrite_dst_parsed`].
#[inline(always)]
pub fn rewrite_src_parsed(ip: &mut [u8], addr: Ipv4Addr, port: u16) -> Result<(), Error> {
    rewrite(ip, Side::Src, addr, port, Check::Parsed)
}

/// Rewrite both ends of the IPv4 packet in `ip` at once, source to `src` and destination
/// to `dst` (addresses and TCP/UDP ports): FULLNAT's rewrite in either direction. The same
/// bytes as [`rewrite_src`] then [`rewrite_dst`], for one header check and one update of
/// each checksum instead of two (eqn. 3 with the changed words of both ends: folding
/// after each update or once at the end gives the same one's-complement sum). One corner
/// differs in form only: when every changed word goes from 0xFFFF to 0x0000 (e.g. an
/// address 255.255.255.255 to 0.0.0.0) and the TCP checksum was 0xFFFF, this may write
/// 0xFFFF where the two rewrites write 0x0000 (the same sum, both valid; UDP sends a
/// computed 0 as 0xFFFF anyway). Following their rule instead (all words of an end that
/// changes) cost ~40 instructions per FULLNAT packet (callgrind, rvsd). ICMP echo
/// (its identifier plays both ports) takes the two rewrites in turn. Errors as
/// [`rewrite_dst`], leaving `ip` unchanged.
pub fn rewrite_both(
    ip: &mut [u8],
    src: (Ipv4Addr, u16),
    dst: (Ipv4Addr, u16),
) -> Result<(), Error> {
    rewrite_both_checking(ip, src, dst, Check::Full, SeqShift::None)
}

/// [`rewrite_both`] of a parsed packet, as [`rewrite_dst_parsed`].
#[inline(always)]
pub fn rewrite_both_parsed(
    ip: &mut [u8],
    src: (Ipv4Addr, u16),
    dst: (Ipv4Addr, u16),
) -> Result<(), Error> {
    rewrite_both_checking(ip, src, dst, Check::Parsed, SeqShift::None)
}

/// A shift of a TCP segment's sequence space made together with an address rewrite, in
/// the same checksum update (FULLNAT: `crate::xmit::fullnat::tcp_seq`). UDP packets ignore it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SeqShift {
    /// Leave the numbers alone.
    None,
    /// Add this to the sequence number.
    Seq(u32),
    /// Add this to the acknowledgement number, when the ACK flag is set.
    Ack(u32),
}

/// [`rewrite_both_parsed`] that also applies `shift` to a TCP segment.
#[inline(always)]
pub fn rewrite_both_parsed_shifted(
    ip: &mut [u8],
    src: (Ipv4Addr, u16),
    dst: (Ipv4Addr, u16),
    shift: SeqShift,
) -> Result<(), Error> {
    rewrite_both_checking(ip, src, dst, Check::Parsed, shift)
}

#[inline(always)]
fn rewrite_both_checking(
    ip: &mut [u8],
    (saddr, sport): (Ipv4Addr, u16),
    (daddr, dport): (Ipv4Addr, u16),
    check: Check,
    shift: SeqShift,
) -> Result<(), Error> {
    let (kind, hl) = locate(ip, check)?;
    if matches!(kind, L4::IcmpEcho) {
        rewrite_src(ip, saddr, sport)?;
        return rewrite_dst(ip, daddr, dport);
    }
    let (old_s, old_d) = (read_ipv4(&ip[12..16]), read_ipv4(&ip[16..20]));
    // Only the words that change enter an update: a no-op term (`~m + m`) could turn a
    // sender's valid 0xFFFF into the equivalent 0x0000, which the one-end rewrites avoid.
    let mut addrs = Delta::default();
    if old_s != saddr {
        addrs.u32(u32::from(old_s), u32::from(saddr));
    }
    if old_d != daddr {
        addrs.u32(u32::from(old_d), u32::from(daddr));
    }
    let addrs_changed = old_s != saddr || old_d != daddr;
    if addrs_changed {
        let hc = read_u16(&ip[10..12]);
        write_u16(&mut ip[10..12], addrs.apply(hc));
        ip[12..16].copy_from_slice(&saddr.octets());
        ip[16..20].copy_from_slice(&daddr.octets());
    }
    let total = usize::from(read_u16(&ip[2..4]));
    let l4 = &mut ip[hl..total];
    let csum_off = match kind {
        L4::Tcp => tcp::CHECKSUM_OFFSET,
        _ => udp::CHECKSUM_OFFSET,
    };
    let (old_sp, old_dp) = (read_u16(&l4[0..2]), read_u16(&l4[2..4]));
    write_u16(&mut l4[0..2], sport);
    write_u16(&mut l4[2..4], dport);
    let hc = read_u16(&l4[csum_off..]);
    if matches!(kind, L4::Udp) && hc == 0 {
        // UDP over IPv4 without a checksum stays without one.
        return Ok(());
    }
    let mut delta = addrs;
    if old_sp != sport {
        delta.u16(old_sp, sport);
    }
    if old_dp != dport {
        delta.u16(old_dp, dport);
    }
    // The TCP header is in bounds (locate checked its 20 bytes).
    let field = match (kind, shift) {
        (L4::Tcp, SeqShift::Seq(add)) => Some((4, add)),
        (L4::Tcp, SeqShift::Ack(add)) if l4[13] & 0x10 != 0 => Some((8, add)), // ACK
        _ => None,
    };
    let mut shifted = false;
    if let Some((at, add)) = field {
        let old = read_u32(&l4[at..at + 4]);
        let new = old.wrapping_add(add);
        if new != old {
            write_u32(&mut l4[at..at + 4], new);
            delta.u32(old, new);
            shifted = true;
        }
    }
    if !addrs_changed && old_sp == sport && old_dp == dport && !shifted {
        return Ok(());
    }
    let mut c = delta.apply(hc);
    if matches!(kind, L4::Udp) {
        c = checksum::udp_field(c);
    }
    write_u16(&mut l4[csum_off..], c);
    Ok(())
}

fn rewrite_icmp_error(ip: &mut [u8], outer: Side, addr: Ipv4Addr, port: u16) -> Result<(), Error> {
    // Validate everything before writing anything.
    let (hl, total) = {
        let p = Ipv4Packet::new_checked(&*ip)?;
        if p.is_fragment() {
            return Err(Error::Unsupported);
        }
        if p.protocol() != ip_proto::ICMP {
            return Err(Error::Unsupported);
        }
        let icmp = icmpv4::Icmpv4Packet::new_checked(p.payload())?;
        let q = icmp.quoted()?;
        if q.protocol != ip_proto::TCP && q.protocol != ip_proto::UDP {
            return Err(Error::Unsupported);
        }
        (p.header_len(), p.total_len())
    };
    let (outer_off, inner_addr_off, inner_port_off) = match outer {
        Side::Src => (12, 16, 2), // outer source, quoted destination
        Side::Dst => (16, 12, 0), // outer destination, quoted source
    };

    // Outer header.
    let old_outer = read_ipv4(&ip[outer_off..outer_off + 4]);
    let hc = read_u16(&ip[10..12]);
    if old_outer != addr {
        write_u16(
            &mut ip[10..12],
            checksum::update_ipv4_addr(hc, old_outer, addr),
        );
        ip[outer_off..outer_off + 4].copy_from_slice(&addr.octets());
    }

    let icmp = &mut ip[hl..total];
    let mut icmp_delta = Delta::default();
    let quote_off = icmpv4::HEADER_LEN;
    let inner_hl = usize::from(icmp[quote_off] & 0x0F) * 4;
    let inner_proto = icmp[quote_off + 9];

    // Quoted IP header: address and its header checksum.
    let a = quote_off + inner_addr_off;
    let old_inner = read_ipv4(&icmp[a..a + 4]);
    icmp_delta.u32(u32::from(old_inner), u32::from(addr));
    icmp[a..a + 4].copy_from_slice(&addr.octets());
    let c = quote_off + 10;
    let old_inner_hc = read_u16(&icmp[c..c + 2]);
    let new_inner_hc = checksum::update_ipv4_addr(old_inner_hc, old_inner, addr);
    icmp_delta.u16(old_inner_hc, new_inner_hc);
    write_u16(&mut icmp[c..c + 2], new_inner_hc);

    // Quoted port.
    let l4 = quote_off + inner_hl;
    let pt = l4 + inner_port_off;
    let old_port = read_u16(&icmp[pt..pt + 2]);
    icmp_delta.u16(old_port, port);
    write_u16(&mut icmp[pt..pt + 2], port);

    // Quoted L4 checksum, when the quote reaches it (Linux IPVS leaves it stale; updating
    // it keeps the quote identical to what the peer sent).
    let csum_off = l4
        + if inner_proto == ip_proto::TCP {
            tcp::CHECKSUM_OFFSET
        } else {
            udp::CHECKSUM_OFFSET
        };
    if let Some(field) = icmp.get(csum_off..csum_off + 2) {
        let old_l4c = read_u16(field);
        if !(inner_proto == ip_proto::UDP && old_l4c == 0) {
            let mut d = Delta::default();
            d.u32(u32::from(old_inner), u32::from(addr));
            d.u16(old_port, port);
            let mut new_l4c = d.apply(old_l4c);
            if inner_proto == ip_proto::UDP {
                new_l4c = checksum::udp_field(new_l4c);
            }
            icmp_delta.u16(old_l4c, new_l4c);
            write_u16(&mut icmp[csum_off..csum_off + 2], new_l4c);
        }
    }

    // ICMP checksum over all of the above (no pseudo-header; an error message is never
    // all zeros, its type is non-zero).
    let ic = read_u16(&icmp[icmpv4::CHECKSUM_OFFSET..]);
    write_u16(&mut icmp[icmpv4::CHECKSUM_OFFSET..], icmp_delta.apply(ic));
    Ok(())
}

/// NAT an ICMP error travelling towards a real server (or, in FULLNAT, towards the
/// client): the outer destination becomes `addr`, and the quoted packet, which that host
/// sent, gets `addr` as its source and `port` as its source port. IP header, quoted IP
/// header, quoted TCP/UDP (when quoted in full enough) and ICMP checksums are updated
/// incrementally.
///
/// Errors, leaving `ip` unchanged: length errors from the outer or quoted headers,
/// [`Error::Unsupported`] for fragments, ICMP messages that are not errors, and quotes of
/// protocols other than TCP/UDP.
pub fn rewrite_icmp_error_dst(ip: &mut [u8], addr: Ipv4Addr, port: u16) -> Result<(), Error> {
    rewrite_icmp_error(ip, Side::Dst, addr, port)
}

/// NAT an ICMP error coming from a real server (e.g. "port unreachable" about a datagram
/// the client sent to the virtual service): the outer source becomes `addr` (the virtual address), and
/// the quoted packet, which the client sent to the virtual service, gets `addr` as its
/// destination and `port` as its destination port. Errors as [`rewrite_icmp_error_dst`].
pub fn rewrite_icmp_error_src(ip: &mut [u8], addr: Ipv4Addr, port: u16) -> Result<(), Error> {
    rewrite_icmp_error(ip, Side::Src, addr, port)
}

/// Decrement the TTL of the IPv4 packet in `ip`, updating the header checksum
/// incrementally. False (packet unchanged) when the TTL is 0 or 1, or `ip` is shorter than
/// an IPv4 header: the packet must not be forwarded.
#[inline]
pub fn decrement_ttl(ip: &mut [u8]) -> bool {
    if ip.len() < super::ipv4::HEADER_LEN {
        return false;
    }
    Ipv4Packet::new_unchecked(ip).decrement_ttl()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::wire::tcp::tests::SYN;
    use crate::wire::{Icmpv4Packet, TcpPacket, UdpPacket};

    const CLIENT: Ipv4Addr = Ipv4Addr::new(198, 18, 0, 1);
    const VIP: Ipv4Addr = Ipv4Addr::new(198, 18, 0, 2);
    const RS: Ipv4Addr = Ipv4Addr::new(198, 19, 0, 10);

    /// CLIENT:40000 -> VIP:80 SYN in an IPv4 header, checksums valid, 2 padding bytes.
    fn syn_packet() -> [u8; 50] {
        let mut b = [0u8; 50];
        b[..20].copy_from_slice(&[
            0x45, 0, 0, 48, 0, 1, 0x40, 0, 64, 6, 0, 0, 198, 18, 0, 1, 198, 18, 0, 2,
        ]);
        b[20..48].copy_from_slice(&SYN);
        Ipv4Packet::new_unchecked(&mut b[..]).fill_checksum();
        b
    }

    fn valid(b: &[u8]) -> bool {
        let ip = Ipv4Packet::new_checked(b).unwrap();
        let ok_l4 = match ip.protocol() {
            6 => TcpPacket::new_checked(ip.payload())
                .unwrap()
                .verify_checksum_v4(ip.src_addr(), ip.dst_addr()),
            17 => UdpPacket::new_checked(ip.payload())
                .unwrap()
                .verify_checksum_v4(ip.src_addr(), ip.dst_addr()),
            1 => Icmpv4Packet::new_checked(ip.payload())
                .unwrap()
                .verify_checksum(),
            _ => true,
        };
        ip.verify_checksum() && ok_l4
    }

    #[test]
    fn nat_round_trip_tcp() {
        let orig = syn_packet();
        assert!(valid(&orig));
        let mut b = orig;
        rewrite_dst(&mut b, RS, 8080).unwrap();
        assert!(valid(&b));
        let ip = Ipv4Packet::new_checked(&b[..]).unwrap();
        assert_eq!((ip.src_addr(), ip.dst_addr()), (CLIENT, RS));
        let t = TcpPacket::new_checked(ip.payload()).unwrap();
        assert_eq!((t.src_port(), t.dst_port()), (40000, 8080));
        // The reply path undoes it bit for bit (source side of the reverse packet here).
        rewrite_dst(&mut b, VIP, 80).unwrap();
        assert_eq!(b, orig);
        rewrite_src(&mut b, Ipv4Addr::new(198, 18, 9, 9), 1).unwrap();
        assert!(valid(&b));
        assert_eq!(&b[48..], &[0, 0], "padding untouched");
    }

    /// The parsed variants check what their writes need: a header length under 20, a
    /// total length past the buffer or short of the L4 header, a short buffer, another
    /// protocol: an error and the packet untouched, never a panic.
    #[test]
    fn parsed_rewrites_refuse_what_they_cannot_write() {
        let orig = syn_packet();
        let mut ok = orig;
        rewrite_dst_parsed(&mut ok, RS, 8080).unwrap();
        let mut want = orig;
        rewrite_dst(&mut want, RS, 8080).unwrap();
        assert_eq!(ok, want);
        let set_total = |b: &mut [u8; 50], t: u16| b[2..4].copy_from_slice(&t.to_be_bytes());
        let mut cases = Vec::new();
        let mut b = orig;
        b[0] = 0x44; // 16-byte header
        cases.push(b.to_vec());
        let mut b = orig;
        set_total(&mut b, 51); // past the buffer
        cases.push(b.to_vec());
        let mut b = orig;
        set_total(&mut b, 39); // one byte short of the TCP header
        cases.push(b.to_vec());
        let mut b = orig;
        b[9] = 1; // ICMP
        cases.push(b.to_vec());
        cases.push(orig[..19].to_vec());
        for case in cases {
            for f in [rewrite_dst_parsed, rewrite_src_parsed] {
                let mut b = case.clone();
                assert!(f(&mut b, RS, 8080).is_err());
                assert_eq!(b, case);
            }
            let mut b = case.clone();
            assert!(rewrite_both_parsed(&mut b, (RS, 1), (VIP, 2)).is_err());
            assert_eq!(b, case);
        }
    }

    #[test]
    fn udp_without_checksum_stays_without() {
        let mut b = crate::wire::ipv4::tests::UDP_PACKET;
        Ipv4Packet::new_unchecked(&mut b[..]).fill_checksum();
        rewrite_dst(&mut b, RS, 5353).unwrap();
        let ip = Ipv4Packet::new_checked(&b[..]).unwrap();
        assert!(ip.verify_checksum());
        let u = UdpPacket::new_checked(ip.payload()).unwrap();
        assert_eq!((u.dst_port(), u.checksum()), (5353, 0));
    }

    #[test]
    fn icmp_echo_ident() {
        let mut b = [0u8; 36];
        b[..20].copy_from_slice(&[
            0x45, 0, 0, 36, 0, 1, 0, 0, 64, 1, 0, 0, 198, 18, 0, 1, 198, 18, 0, 2,
        ]);
        b[20..].copy_from_slice(&[8, 0, 0, 0, 0x12, 0x34, 0, 1, 1, 2, 3, 4, 5, 6, 7, 8]);
        Ipv4Packet::new_unchecked(&mut b[..]).fill_checksum();
        Icmpv4Packet::new_unchecked(&mut b[20..]).fill_checksum();
        rewrite_src(&mut b, RS, 0x4321).unwrap();
        assert!(valid(&b));
        assert_eq!(
            Icmpv4Packet::new_checked(&b[20..]).unwrap().echo_ident(),
            0x4321
        );
    }

    #[test]
    fn icmp_all_zero_echo_reply() {
        // Echo reply, id 7 -> 0, no data: the message becomes all zeros, checksum 0xFFFF.
        let mut b = [0u8; 28];
        b[..20].copy_from_slice(&[
            0x45, 0, 0, 28, 0, 1, 0, 0, 64, 1, 0, 0, 198, 18, 0, 1, 198, 18, 0, 2,
        ]);
        b[20..].copy_from_slice(&[0, 0, 0, 0, 0, 7, 0, 0]);
        Ipv4Packet::new_unchecked(&mut b[..]).fill_checksum();
        Icmpv4Packet::new_unchecked(&mut b[20..]).fill_checksum();
        rewrite_dst(&mut b, VIP, 0).unwrap();
        assert_eq!(&b[20..], &[0, 0, 0xff, 0xff, 0, 0, 0, 0]);
        assert!(valid(&b));
    }

    #[test]
    fn not_rewritable_leaves_packet_alone() {
        let orig = syn_packet();
        type Mutation = fn(&mut [u8; 50]);
        let cases: [(Mutation, Error); 6] = [
            (|b| b[6] = 0x20, Error::Unsupported), // MF: first fragment
            (|b| b[7] = 0x10, Error::Unsupported), // offset: later fragment
            (|b| b[9] = 47, Error::Unsupported),   // GRE
            (|b| b[32] = 0x40, Error::Malformed),  // TCP data offset 4
            (|b| b[3] = 39, Error::Truncated),     // TCP options past total_len
            (|b| b[0] = 0x44, Error::Malformed),   // IHL 4
        ];
        for (mutate, err) in cases {
            let mut b = orig;
            mutate(&mut b);
            let before = b;
            assert_eq!(rewrite_dst(&mut b, RS, 1), Err(err));
            assert_eq!(rewrite_src(&mut b, RS, 1), Err(err));
            assert_eq!(b, before);
        }
        let mut icmp_err = [0u8; 28];
        icmp_err[..20].copy_from_slice(&[
            0x45, 0, 0, 28, 0, 1, 0, 0, 64, 1, 0, 0, 198, 18, 0, 1, 198, 18, 0, 2,
        ]);
        icmp_err[20] = msg_type::DST_UNREACHABLE;
        assert_eq!(rewrite_dst(&mut icmp_err, RS, 1), Err(Error::Unsupported));
        assert_eq!(rewrite_dst(&mut [0u8; 10], RS, 1), Err(Error::Truncated));
    }

    #[test]
    fn ttl() {
        let mut b = syn_packet();
        assert!(decrement_ttl(&mut b));
        assert_eq!(b[8], 63);
        assert!(valid(&b));
        b[8] = 1;
        assert!(!decrement_ttl(&mut b));
        assert!(!decrement_ttl(&mut [0u8; 19]));
    }
}
