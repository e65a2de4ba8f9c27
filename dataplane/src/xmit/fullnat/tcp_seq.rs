//! FULLNAT's TCP sequence translation, as DPVS and Alibaba's FULLNAT LVS do it.
//!
//! A FULLNAT director multiplexes many client connections onto few local address and
//! port pairs, so a real server soon sees a new SYN from `lip:lport` while it still holds
//! that tuple in TIME_WAIT (60 s on Linux) from an earlier client. Linux accepts such a
//! SYN only if its timestamp is newer than the old connection's (PAWS), or, without
//! timestamps, its sequence number lies after the old connection's. Clients randomise
//! both per connection, so about half of these SYNs are refused and the client waits a
//! second to retry. The director therefore
//! - gives the real server its own initial sequence number for the connection, like the
//!   kernel's `secure_tcp_seq`: a keyed hash of the server-side tuple plus a clock of
//!   64 ns ticks, so the numbers of one tuple only grow, also across a restart of rvsd
//!   ([`super::isn`]: a kept secret and the real time); the client's numbers are shifted
//!   by the difference on the way in and the real server's acknowledgements (and SACK
//!   blocks) shifted back on the way out;
//! - removes the timestamp option from the client's SYN (NOPs in its place), so the
//!   connection runs without timestamps and PAWS has nothing to refuse.

use crate::wire::checksum::{change_covered, update_u32};
use crate::wire::tcp::each_option;
use crate::wire::{read_u32, write_u32, SeqShift};

/// Offset of the TCP header's fields.
const SEQ: usize = 4;
const FLAGS: usize = 13;
const CHECKSUM: usize = 16;
const FLAG_SYN: u8 = 0x02;
const FLAG_ACK: u8 = 0x10;
const OPT_TIMESTAMP: u8 = 8;
const OPT_SACK: u8 = 5;

/// Offset of the TCP header in `ip` (IP header first; IPv6 without extension headers,
/// as the packet path takes them) and the end of the segment, if `ip` is TCP and the
/// header is there (so a UDP packet passed here is left alone).
#[inline(always)]
fn tcp_span(ip: &[u8]) -> Option<(usize, usize)> {
    let (l4, end, proto) = match ip.first()? >> 4 {
        4 => (
            usize::from(ip[0] & 0x0f) * 4,
            usize::from(u16::from_be_bytes([*ip.get(2)?, *ip.get(3)?])),
            *ip.get(9)?,
        ),
        6 => (
            40,
            40 + usize::from(u16::from_be_bytes([*ip.get(4)?, *ip.get(5)?])),
            *ip.get(6)?,
        ),
        _ => return None,
    };
    if proto != crate::wire::ip_proto::TCP {
        return None;
    }
    let end = end.min(ip.len());
    (l4 + 20 <= end).then_some((l4, end))
}

/// The TCP options of the segment at `l4`: (start, end), empty when there are none.
#[inline]
fn options(ip: &[u8], l4: usize, end: usize) -> (usize, usize) {
    let thl = usize::from(ip[l4 + 12] >> 4) * 4;
    let opt_end = (l4 + thl).min(end);
    (l4 + 20, opt_end.max(l4 + 20))
}

/// The sequence number of the TCP segment in `ip` (IP header first), if it has a TCP
/// header.
#[inline]
pub fn seq_of(ip: &[u8]) -> Option<u32> {
    tcp_span(ip).map(|(l4, _)| read_u32(&ip[l4 + SEQ..]))
}

/// Client to real server: add `delta` to the sequence number of the TCP segment in `ip`
/// (IP header first, already addressed to the real server) and, on a SYN, replace the
/// timestamp option with NOPs. The TCP checksum is updated; a packet too short for a TCP
/// header is left alone (false). (The established IPv4 path shifts in its rewrite and
/// calls [`syn_to_real_server`].)
pub fn to_real_server(ip: &mut [u8], delta: u32) -> bool {
    let Some((l4, end)) = tcp_span(ip) else {
        return false;
    };
    shift(ip, SeqShift::Seq(delta));
    if ip[l4 + FLAGS] & (FLAG_SYN | FLAG_ACK) == FLAG_SYN {
        remove_timestamp(ip, l4, end);
    }
    true
}

/// Apply `shift` to the TCP segment in `ip` on its own (the IPv6 path; IPv4 shifts in
/// the address rewrite's checksum update).
pub fn shift(ip: &mut [u8], shift: SeqShift) {
    let Some((l4, _)) = tcp_span(ip) else {
        return;
    };
    let Some(h) = ip.get_mut(l4..l4 + 20) else {
        return;
    };
    let (at, add) = match shift {
        SeqShift::Seq(add) => (4, add),
        SeqShift::Ack(add) if h[FLAGS] & FLAG_ACK != 0 => (8, add),
        _ => return,
    };
    if add == 0 {
        // Nothing changes: leave the checksum as the sender wrote it.
        return;
    }
    let old = read_u32(&h[at..]);
    let new = old.wrapping_add(add);
    write_u32(&mut h[at..], new);
    let hc = update_u32(u16::from_be_bytes([h[16], h[17]]), old, new);
    h[16..18].copy_from_slice(&hc.to_be_bytes());
}

/// After the shift of a client's segment: a SYN (no ACK) loses its timestamp option.
#[inline(always)]
pub fn syn_to_real_server(ip: &mut [u8], flags: conn_table::TcpFlags) {
    if flags.0 & (FLAG_SYN | FLAG_ACK) == FLAG_SYN {
        if let Some((l4, end)) = tcp_span(ip) {
            remove_timestamp(ip, l4, end);
        }
    }
}

/// After the shift of a real server's segment: its SACK blocks, if it has options.
#[inline(always)]
pub fn sack_to_client(ip: &mut [u8], delta: u32) {
    if let Some((l4, end)) = tcp_span(ip) {
        if ip[l4 + 12] >> 4 > 5 {
            adjust_sack(ip, l4, end, delta);
        }
    }
}

/// Replace the timestamp option of the segment at `l4` with NOPs (checksum updated).
fn remove_timestamp(ip: &mut [u8], l4: usize, end: usize) {
    let (start, opt_end) = options(ip, l4, end);
    let mut at = None;
    each_option(ip, start, opt_end, |kind, i, len| {
        if kind == OPT_TIMESTAMP && len == 10 {
            at = Some(i);
        }
    });
    let Some(i) = at else {
        return;
    };
    change_covered(ip, (l4, end), l4 + CHECKSUM, i, 10, |b| b.fill(1));
}

/// Real server to client: take `delta` from the acknowledgement number (when ACK is
/// set) and from the edges of any SACK blocks of the TCP segment in `ip`, so the client
/// sees its own sequence space. Returns false for a packet too short for a TCP header.
/// (The established IPv4 path shifts in its rewrite and calls [`sack_to_client`].)
pub fn to_client(ip: &mut [u8], delta: u32) -> bool {
    if tcp_span(ip).is_none() {
        return false;
    }
    shift(ip, SeqShift::Ack(0u32.wrapping_sub(delta)));
    sack_to_client(ip, delta);
    true
}

/// Take `delta` from the edges of the SACK blocks of the segment at `l4`.
fn adjust_sack(ip: &mut [u8], l4: usize, end: usize, delta: u32) {
    let (start, opt_end) = options(ip, l4, end);
    let mut sack = None;
    each_option(ip, start, opt_end, |kind, i, len| {
        if kind == OPT_SACK && len >= 10 && (len - 2) % 8 == 0 {
            sack = Some((i, len));
        }
    });
    if let Some((i, len)) = sack {
        let mut at = i + 2;
        while at + 4 <= i + len {
            let v = read_u32(&ip[at..]).wrapping_sub(delta);
            // SACK blocks follow a 2-byte option header, at odd offsets after one NOP.
            change_covered(ip, (l4, end), l4 + CHECKSUM, at, 4, |b| {
                b.copy_from_slice(&v.to_be_bytes())
            });
            at += 4;
        }
    }
}

/// Real server's ICMP error about a segment the director sent it, on its way to the
/// client: the quoted TCP header at `quoted_l4` of `ip` (the ICMP message is
/// `ip[icmp..end]`) gets its sequence number back in the client's space (a client checks
/// that a quoted sequence number is one it sent before acting on, say, "fragmentation
/// needed"), and the quoted TCP checksum with it when the quote reaches it, so the quote
/// is the client's segment as it was sent. The ICMP checksum is updated. False when the
/// quote is too short for the sequence number.
pub fn quoted_to_client(
    ip: &mut [u8],
    (icmp, end): (usize, usize),
    quoted_l4: usize,
    delta: u32,
) -> bool {
    let end = end.min(ip.len());
    let at = quoted_l4 + SEQ;
    if at < icmp + 8 || at + 4 > end {
        return false;
    }
    let old = read_u32(&ip[at..]);
    let new = old.wrapping_sub(delta);
    let qc = quoted_l4 + CHECKSUM;
    if qc + 2 <= end {
        let hc = update_u32(u16::from_be_bytes([ip[qc], ip[qc + 1]]), old, new);
        change_covered(ip, (icmp, end), icmp + 2, qc, 2, |b| {
            b.copy_from_slice(&hc.to_be_bytes())
        });
    }
    change_covered(ip, (icmp, end), icmp + 2, at, 4, |b| {
        b.copy_from_slice(&new.to_be_bytes())
    });
    true
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::wire::checksum;
    use std::net::Ipv4Addr;

    /// An IPv4 TCP segment from 198.19.0.250:2000 to 198.19.0.11:80 with `flags`, `seq`,
    /// `ack`, `opts` (padded to 4 bytes) and a correct checksum.
    fn seg(flags: u8, seq: u32, ack: u32, opts: &[u8], payload: &[u8]) -> Vec<u8> {
        let (lip, rs) = (
            Ipv4Addr::new(198, 19, 0, 250),
            Ipv4Addr::new(198, 19, 0, 11),
        );
        let p =
            crate::test_io::tcp4_packet((lip, 2000), (rs, 80), flags, (seq, ack), opts, payload);
        assert_eq!(u16::from_be_bytes([p[36], p[37]]), tcp_checksum(&p));
        p
    }

    /// The TCP checksum `p` should carry (computed with the field zeroed).
    fn tcp_checksum(p: &[u8]) -> u16 {
        let mut q = p.to_vec();
        q[36..38].fill(0);
        let l4 = &q[20..];
        let ph = checksum::pseudo_header_v4(
            Ipv4Addr::new(p[12], p[13], p[14], p[15]),
            Ipv4Addr::new(p[16], p[17], p[18], p[19]),
            6,
            l4.len() as u16,
        );
        !checksum::combine(&[ph, checksum::data(l4)])
    }

    fn checksum_ok(p: &[u8]) -> bool {
        u16::from_be_bytes([p[36], p[37]]) == tcp_checksum(p)
    }

    const SYN_OPTS: [u8; 20] = [
        2, 4, 0x05, 0xb4, 4, 2, 8, 10, 1, 2, 3, 4, 0, 0, 0, 0, 1, 3, 3, 7,
    ];

    #[test]
    fn a_syn_gets_the_new_sequence_number_and_no_timestamps() {
        let mut p = seg(FLAG_SYN, 1000, 0, &SYN_OPTS, &[]);
        assert!(to_real_server(&mut p, 5000));
        assert_eq!(read_u32(&p[24..]), 6000);
        assert!(checksum_ok(&p));
        let opts = &p[40..60];
        assert_eq!(&opts[..6], &SYN_OPTS[..6], "MSS and SACK-permitted stay");
        assert_eq!(&opts[6..16], &[1u8; 10], "the timestamp option is NOPs");
        assert_eq!(&opts[16..], &SYN_OPTS[16..], "window scale stays");
    }

    #[test]
    fn later_segments_keep_their_options_and_shift_sequence_numbers() {
        // A timestamp option on a non-SYN stays (the connection did not negotiate it,
        // but the director only acts on the SYN).
        let ts = [1, 1, 8, 10, 0, 0, 0, 9, 0, 0, 0, 8];
        let mut p = seg(FLAG_ACK, u32::MAX - 10, 77, &ts, b"GET /");
        assert!(to_real_server(&mut p, 20));
        assert_eq!(read_u32(&p[24..]), 9, "wraps around");
        assert_eq!(read_u32(&p[28..]), 77, "the ack is the server's own number");
        assert_eq!(&p[40..52], &ts);
        assert!(checksum_ok(&p));
    }

    #[test]
    fn replies_get_acks_and_sack_blocks_back_in_the_clients_space() {
        // NOP, NOP, SACK with two blocks: the blocks sit at an even offset; with one NOP
        // they sit at an odd one.
        for lead in [&[1u8, 1][..], &[1u8][..]] {
            let mut opts = lead.to_vec();
            opts.extend_from_slice(&[5, 18]);
            for v in [6100u32, 6200, 6300, 6400] {
                opts.extend_from_slice(&v.to_be_bytes());
            }
            let mut p = seg(FLAG_ACK, 42, 6001, &opts, &[]);
            assert!(to_client(&mut p, 5000));
            assert_eq!(read_u32(&p[28..]), 1001);
            assert_eq!(
                read_u32(&p[24..]),
                42,
                "the server's own sequence number stays"
            );
            let at = 40 + lead.len() + 2;
            let blocks: Vec<u32> = (0..4).map(|k| read_u32(&p[at + 4 * k..])).collect();
            assert_eq!(blocks, [1100, 1200, 1300, 1400]);
            assert!(checksum_ok(&p), "lead {}", lead.len());
        }
    }

    #[test]
    fn a_reply_without_ack_keeps_its_ack_field() {
        let mut p = seg(0x04, 42, 6001, &[], &[]); // RST without ACK
        assert!(to_client(&mut p, 5000));
        assert_eq!(read_u32(&p[28..]), 6001);
        assert!(checksum_ok(&p));
    }

    /// The helpers act on TCP only: a UDP packet (a UDP FULLNAT connection's, whose
    /// bytes could read as options) goes through unchanged.
    #[test]
    fn udp_is_left_alone() {
        let mut opts = vec![1, 1, 5, 10];
        opts.extend_from_slice(&[0, 0, 0, 9, 0, 0, 0, 10]);
        let mut p = seg(FLAG_SYN | FLAG_ACK, 1, 2, &opts, b"");
        p[9] = 17;
        let before = p.clone();
        assert!(!to_real_server(&mut p, 7));
        assert!(!to_client(&mut p, 7));
        shift(&mut p, SeqShift::Seq(7));
        sack_to_client(&mut p, 7);
        syn_to_real_server(&mut p, conn_table::TcpFlags(FLAG_SYN));
        assert_eq!(p, before);
        assert_eq!(seq_of(&p), None);
    }

    #[test]
    fn there_and_back_is_the_identity() {
        let mut p = seg(FLAG_ACK | 0x08, 123_456, 0, &[], b"data");
        assert!(to_real_server(&mut p, 0x8000_0001));
        // The server acknowledges what it received: its ack equals the shifted seq.
        let shifted = read_u32(&p[24..]);
        let mut r = seg(FLAG_ACK, 9, shifted.wrapping_add(4), &[], &[]);
        assert!(to_client(&mut r, 0x8000_0001));
        assert_eq!(read_u32(&r[28..]), 123_460);
    }

    #[test]
    fn short_or_odd_packets_are_left_alone() {
        let p = seg(FLAG_SYN, 1, 0, &SYN_OPTS, &[]);
        for n in [0, 1, 20, 39] {
            let mut q = p[..n].to_vec();
            assert!(!to_real_server(&mut q, 9));
            assert_eq!(q, &p[..n]);
            assert!(!to_client(&mut q, 9));
        }
        // Options claiming more than the header holds: the walk stops, nothing panics.
        let mut q = seg(FLAG_SYN, 1, 0, &[8, 40, 0, 0], &[]);
        assert!(to_real_server(&mut q, 1));
        let mut q = seg(FLAG_ACK, 1, 1, &[5, 200, 0, 0], &[]);
        assert!(to_client(&mut q, 1));
        assert!(checksum_ok(&q));
    }

    proptest::proptest! {
        /// Arbitrary bytes never make the translation panic.
        #[test]
        fn arbitrary_bytes_never_panic(
            mut b in proptest::collection::vec(proptest::prelude::any::<u8>(), 0..120),
            delta: u32,
            icmp in 0usize..130,
            quoted in 0usize..130,
        ) {
            let _ = seq_of(&b);
            to_real_server(&mut b, delta);
            to_client(&mut b, delta);
            let end = b.len();
            quoted_to_client(&mut b, (icmp, end), quoted, delta);
        }

        /// The IPv4 rewrite with a shift in the same checksum update gives the bytes of
        /// the rewrite and the shift one after the other, and a right checksum.
        #[test]
        fn shifted_rewrite_is_rewrite_then_shift(
            flags: u8,
            seq: u32,
            ack: u32,
            add: u32,
            on_ack: bool,
            payload in proptest::collection::vec(proptest::prelude::any::<u8>(), 0..8),
        ) {
            let p = seg(flags, seq, ack, &[], &payload);
            let src = (Ipv4Addr::new(198, 18, 0, 100), 80);
            let dst = (Ipv4Addr::new(198, 18, 0, 1), 40000);
            let how = if on_ack { SeqShift::Ack(add) } else { SeqShift::Seq(add) };
            let mut one = p.clone();
            crate::wire::rewrite_both_parsed_shifted(&mut one, src, dst, how).unwrap();
            let mut two = p.clone();
            crate::wire::rewrite_both_parsed(&mut two, src, dst).unwrap();
            shift(&mut two, how);
            proptest::prop_assert_eq!(&one, &two);
            proptest::prop_assert!(checksum_ok(&one));
        }

        /// On well-formed segments with any options, flags and numbers, the checksum
        /// stays right and a reply's ack comes back to the client's number.
        #[test]
        fn checksums_stay_right(
            opts in proptest::collection::vec(proptest::prelude::any::<u8>(), 0..40),
            flags: u8,
            seq: u32,
            delta: u32,
            payload in proptest::collection::vec(proptest::prelude::any::<u8>(), 0..8),
        ) {
            let mut p = seg(flags, seq, 0, &opts, &payload);
            to_real_server(&mut p, delta);
            proptest::prop_assert!(checksum_ok(&p));
            proptest::prop_assert_eq!(read_u32(&p[24..]), seq.wrapping_add(delta));
            let mut r = seg(flags | FLAG_ACK, 1, seq.wrapping_add(delta), &opts, &payload);
            to_client(&mut r, delta);
            proptest::prop_assert!(checksum_ok(&r));
            proptest::prop_assert_eq!(read_u32(&r[28..]), seq);
        }
    }

    #[test]
    fn a_quoted_sequence_number_goes_back_with_the_icmp_checksum() {
        // ICMP header (8 bytes) + the quoted IPv4 header and 8 bytes of TCP, then the same
        // with the whole quoted segment (its checksum then goes back too).
        let client_seg = seg(FLAG_ACK, 1001, 1, &[], b"data");
        let mut sent = client_seg.clone();
        assert!(to_real_server(&mut sent, 5000));
        for quote_len in [28, sent.len()] {
            let mut m = vec![0u8; 20 + 8];
            m[0] = 0x45;
            m[20] = 3;
            m[21] = 1;
            m.extend_from_slice(&sent[..quote_len]);
            let c = !checksum::data(&m[20..]);
            m[22..24].copy_from_slice(&c.to_be_bytes());
            let end = m.len();
            m.extend_from_slice(&[0xee; 6]); // Ethernet padding: never touched
            assert!(quoted_to_client(&mut m, (20, end), 48, 5000));
            assert_eq!(read_u32(&m[52..]), 1001);
            if quote_len == sent.len() {
                assert_eq!(&m[28..end], &client_seg[..], "the client's own segment");
            }
            let mut z = m[20..end].to_vec();
            z[2..4].fill(0);
            assert_eq!(u16::from_be_bytes([m[22], m[23]]), !checksum::data(&z));
            assert_eq!(&m[end..], &[0xee; 6]);
            assert!(
                !quoted_to_client(&mut m, (20, 54), 48, 1),
                "quote too short"
            );
        }
    }
}
