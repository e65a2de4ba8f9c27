//! TOA ("TCP option address"): how FULLNAT tells a real server the client's address,
//! which the SNAT to a local address hides.
//!
//! The option is the one LVS FULLNAT (Alibaba) and DPVS use, understood by their `toa`
//! kernel module on the real servers: kind 254, length 8, then the client's port and IPv4
//! address in network order:
//!
//! ```text
//! +--------+--------+-----------------+-----------------------------------+
//! | 254    | 8      | client port     | client IPv4 address               |
//! +--------+--------+-----------------+-----------------------------------+
//! ```
//!
//! rvs inserts it, right after the fixed TCP header, into the client's packets that carry
//! an ACK (not SYN, not RST) while the real server has sent nothing but its SYN-ACK:
//! the handshake's last ACK and the request data that follows, which is where the `toa`
//! module reads it when the connection is accepted. To leave room for it, the MSS the
//! client announces in its SYN is lowered by 8 bytes ([`clamp_mss`]), as DPVS does. A
//! packet whose TCP header is already full (60 bytes) or whose IP length would pass
//! [`MAX_IP_LEN`] goes without it. A real server without the module ignores the option
//! (unknown TCP options are skipped).

use std::net::Ipv4Addr;

use crate::wire::checksum::{update_bytes, update_u16};
use crate::wire::{ip_proto, Error, Ipv4Packet, TcpPacket};

/// TCP option kind of TOA.
pub const KIND: u8 = 254;
/// TCP option length of TOA (kind, length, port, IPv4 address).
pub const LEN: usize = 8;
/// Largest IPv4 packet rvs grows to (the Ethernet MTU).
pub const MAX_IP_LEN: usize = 1500;
/// Longest TCP header (data offset 15).
const TCP_MAX_HEADER: usize = 60;
/// TCP option kind of the maximum segment size.
const OPT_MSS: u8 = 2;

/// Where the TCP header starts and how long the IP packet is, when `ip` (IPv4 header
/// first) is a TCP packet with room for TOA in its header and under the MTU.
fn room(ip: &[u8]) -> Result<(usize, usize), Error> {
    let p = Ipv4Packet::new_checked(ip)?;
    if p.protocol() != ip_proto::TCP || p.is_fragment() {
        return Err(Error::Unsupported);
    }
    let (hl, total) = (p.header_len(), p.total_len());
    let tcp = TcpPacket::new_checked(&ip[hl..total])?;
    if tcp.header_len() + LEN > TCP_MAX_HEADER || total + LEN > MAX_IP_LEN {
        return Err(Error::Unsupported);
    }
    Ok((hl, total))
}

/// The frame length TOA needs, from the IPv4 packet `ip` at offset `l2` of its frame:
/// `None` when the packet cannot take it.
#[inline]
pub fn grown_len(ip: &[u8], l2: usize) -> Option<usize> {
    room(ip).ok().map(|(_, total)| l2 + total + LEN)
}

/// Insert the TOA option for `client:cport` into the TCP packet in `ip` (IPv4 header
/// first), which must hold [`LEN`] spare bytes after the IP packet's total length (see
/// [`grown_len`]). Updates the IPv4 total length and header checksum, the TCP data offset
/// and checksum incrementally. Errors leave `ip` unchanged.
pub fn insert(ip: &mut [u8], client: Ipv4Addr, cport: u16) -> Result<(), Error> {
    let (hl, total) = room(ip)?;
    if ip.len() < total + LEN {
        return Err(Error::Truncated);
    }
    let t = hl;
    let opt = t + 20;
    let a = client.octets();
    let option = [
        KIND,
        LEN as u8,
        (cport >> 8) as u8,
        cport as u8,
        a[0],
        a[1],
        a[2],
        a[3],
    ];

    // TCP checksum: the new option words, the data offset word, and the pseudo-header's
    // TCP length. (Moving the rest by 8 bytes keeps every word's alignment: its sum does
    // not change.)
    let tcp_len = (total - hl) as u16;
    let old_off = u16::from_be_bytes([ip[t + 12], ip[t + 13]]);
    let new_off = old_off + ((LEN as u16 / 4) << 12);
    let mut hc = u16::from_be_bytes([ip[t + 16], ip[t + 17]]);
    hc = update_bytes(hc, &[0; LEN], &option);
    hc = update_u16(hc, old_off, new_off);
    hc = update_u16(hc, tcp_len, tcp_len + LEN as u16);

    ip.copy_within(opt..total, opt + LEN);
    ip[opt..opt + LEN].copy_from_slice(&option);
    ip[t + 12..t + 14].copy_from_slice(&new_off.to_be_bytes());
    ip[t + 16..t + 18].copy_from_slice(&hc.to_be_bytes());

    let new_total = (total + LEN) as u16;
    let ihc = update_u16(
        u16::from_be_bytes([ip[10], ip[11]]),
        total as u16,
        new_total,
    );
    ip[2..4].copy_from_slice(&new_total.to_be_bytes());
    ip[10..12].copy_from_slice(&ihc.to_be_bytes());
    Ok(())
}

/// Lower the MSS option of the TCP SYN in `ip` (IPv4 header first) by [`LEN`], leaving
/// room for TOA in the client's segments; the checksum is updated incrementally. Returns
/// whether an MSS option was changed (a SYN without one gets the default 536, which
/// needs no room).
pub fn clamp_mss(ip: &mut [u8]) -> bool {
    let Ok(p) = Ipv4Packet::new_checked(&ip[..]) else {
        return false;
    };
    let (hl, total) = (p.header_len(), p.total_len());
    let Ok(tcp) = TcpPacket::new_checked(&ip[hl..total]) else {
        return false;
    };
    let thl = tcp.header_len();
    // Walk the options for the MSS (kind 2, length 4).
    let mut i = hl + 20;
    let end = hl + thl;
    while i < end {
        match ip[i] {
            0 => return false,
            1 => i += 1,
            kind => {
                let Some(&len) = ip.get(i + 1) else {
                    return false;
                };
                let len = usize::from(len);
                if len < 2 || i + len > end {
                    return false;
                }
                if kind == OPT_MSS && len == 4 {
                    let v = i + 2;
                    let mss = u16::from_be_bytes([ip[v], ip[v + 1]]);
                    if mss <= 536 + LEN as u16 {
                        return false;
                    }
                    // The checksum is over 16-bit words from the TCP header's start (an
                    // even offset): update the aligned words that hold the value.
                    let w0 = v & !1;
                    let w1 = (v + 3) & !1;
                    let mut old = [0u8; 4];
                    old[..w1 - w0].copy_from_slice(&ip[w0..w1]);
                    ip[v..v + 2].copy_from_slice(&(mss - LEN as u16).to_be_bytes());
                    let mut new = [0u8; 4];
                    new[..w1 - w0].copy_from_slice(&ip[w0..w1]);
                    let c = hl + 16;
                    let hc = update_bytes(
                        u16::from_be_bytes([ip[c], ip[c + 1]]),
                        &old[..w1 - w0],
                        &new[..w1 - w0],
                    );
                    ip[c..c + 2].copy_from_slice(&hc.to_be_bytes());
                    return true;
                }
                i += len;
            }
        }
    }
    false
}

/// Add TOA for `client:cport` to the TCP/IPv4 packet at offset `l2` of `pkt`, growing
/// the frame by [`LEN`] bytes (dropping any Ethernet padding). A packet without room is
/// left as it is: TOA is best effort, the connection works without it.
#[inline]
pub fn add<P: crate::pipeline::Frame>(pkt: &mut P, l2: usize, client: Ipv4Addr, cport: u16) {
    let Some(len) = pkt.data().get(l2..).and_then(|ip| grown_len(ip, l2)) else {
        return;
    };
    if pkt.resize(len) {
        let _ = insert(&mut pkt.data_mut()[l2..], client, cport);
    }
}

/// Whether a client packet of a FULLNAT connection gets TOA: an ACK (not SYN, not RST)
/// while the real server has sent at most its SYN-ACK.
#[inline]
pub fn wanted(flags: conn_table::TcpFlags, c: &conn_table::ConnInfo) -> bool {
    wanted_after(
        flags,
        c.counters.packets[conn_table::Direction::Reply as usize],
    )
}

/// [`wanted`] from the number of packets the real server has sent so far (what the packet
/// path reads in place with `ConnRef::packets`).
#[inline]
pub fn wanted_after(flags: conn_table::TcpFlags, reply_packets: u64) -> bool {
    use conn_table::TcpFlags as F;
    flags.0 & F::ACK.0 != 0 && flags.0 & (F::SYN.0 | F::RST.0) == 0 && reply_packets <= 1
}

#[cfg(test)]
mod tests {
    use super::*;

    const CLIENT: Ipv4Addr = Ipv4Addr::new(198, 18, 0, 1);
    const LIP: Ipv4Addr = Ipv4Addr::new(198, 19, 0, 250);
    const RS: Ipv4Addr = Ipv4Addr::new(198, 19, 0, 11);

    /// IPv4 + TCP with `opts` and `payload`, both checksums computed in full.
    fn packet(flags: u8, opts: &[u8], payload: &[u8]) -> Vec<u8> {
        let thl = 20 + opts.len();
        let total = 20 + thl + payload.len();
        let mut p = vec![0u8; total];
        p[0] = 0x45;
        p[2..4].copy_from_slice(&(total as u16).to_be_bytes());
        p[8] = 64;
        p[9] = 6;
        p[12..16].copy_from_slice(&LIP.octets());
        p[16..20].copy_from_slice(&RS.octets());
        p[20..22].copy_from_slice(&5000u16.to_be_bytes());
        p[22..24].copy_from_slice(&8080u16.to_be_bytes());
        p[24..28].copy_from_slice(&7u32.to_be_bytes());
        p[32] = ((thl / 4) as u8) << 4;
        p[33] = flags;
        p[34..36].copy_from_slice(&[0xff, 0xff]);
        p[40..40 + opts.len()].copy_from_slice(opts);
        p[40 + opts.len()..].copy_from_slice(payload);
        Ipv4Packet::new_unchecked(&mut p[..]).fill_checksum();
        TcpPacket::new_unchecked(&mut p[20..]).fill_checksum_v4(LIP, RS);
        p
    }

    fn checksums_ok(p: &[u8]) -> bool {
        let ip = Ipv4Packet::new_checked(p).unwrap();
        let tcp = TcpPacket::new_checked(ip.payload()).unwrap();
        ip.verify_checksum() && tcp.verify_checksum_v4(LIP, RS)
    }

    #[test]
    fn insert_matches_a_packet_built_with_the_option() {
        let ts = [1, 1, 8, 10, 0, 0, 0, 1, 0, 0, 0, 2];
        for (opts, payload) in [(&[][..], &b"GET / HTTP/1.1\r\n"[..]), (&ts[..], &b""[..])] {
            let mut p = packet(0x18, opts, payload);
            let n = p.len();
            p.resize(n + LEN, 0);
            insert(&mut p, CLIENT, 40000).unwrap();
            let mut with = vec![KIND, 8, 0x9c, 0x40, 198, 18, 0, 1];
            with.extend_from_slice(opts);
            assert_eq!(p, packet(0x18, &with, payload));
            assert!(checksums_ok(&p));
        }
    }

    #[test]
    fn no_room_no_change() {
        // A full TCP header (40 bytes of options).
        let opts = [1u8; 40];
        let mut p = packet(0x10, &opts, b"");
        let n = p.len();
        p.resize(n + LEN, 0);
        let before = p.clone();
        assert_eq!(insert(&mut p, CLIENT, 1), Err(Error::Unsupported));
        assert_eq!(p, before);
        // No spare bytes after the packet.
        let mut q = packet(0x10, &[], b"x");
        assert_eq!(insert(&mut q, CLIENT, 1), Err(Error::Truncated));
        assert_eq!(grown_len(&q, 14), Some(14 + q.len() + LEN));
        // Past the MTU.
        let big = packet(0x10, &[], &[0u8; 1460]);
        assert_eq!(grown_len(&big, 14), None);
    }

    #[test]
    fn mss_is_lowered_at_either_alignment() {
        // MSS first (value at an even offset), and after one NOP (odd offset).
        for opts in [
            &[2u8, 4, 0x05, 0xb4, 1, 1, 4, 2][..],
            &[1u8, 2, 4, 0x05, 0xb4, 4, 2, 0][..],
        ] {
            let mut p = packet(0x02, opts, b"");
            assert!(clamp_mss(&mut p));
            let want: Vec<u8> = opts
                .iter()
                .map(|&b| if b == 0xb4 { 0xac } else { b })
                .collect();
            assert_eq!(p, packet(0x02, &want, b""), "options {opts:?}");
            assert!(checksums_ok(&p));
        }
        let mut none = packet(0x02, &[1, 1, 4, 2], b"");
        assert!(!clamp_mss(&mut none));
    }
}
