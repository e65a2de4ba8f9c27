//! The Internet checksum (RFC 1071), pseudo-header sums, and incremental updates
//! (RFC 1624).
//!
//! Conventions: a *sum* is the folded one's-complement sum of 16-bit big-endian words
//! (`0x0000` only when every word is zero); a *checksum* is the complement of a sum, the
//! value stored in a header field. Verifying a header means summing it with its checksum
//! field in place and getting `0xFFFF`.

use std::net::{Ipv4Addr, Ipv6Addr};

/// Fold a wide accumulator into 16 bits with end-around carry. Four fixed steps (64 ->
/// 33 -> 18 -> 17 -> 16 bits), each keeping the value congruent mod 0xFFFF and non-zero
/// unless it was zero, instead of a loop until it fits: the loop's trip count depends on
/// the data, so it was a branch the CPU mispredicted on some packets.
#[inline]
pub fn fold(sum: u64) -> u16 {
    let s = (sum & 0xFFFF_FFFF) + (sum >> 32);
    let s = (s & 0xFFFF) + (s >> 16);
    let s = (s & 0xFFFF) + (s >> 16);
    let s = (s & 0xFFFF) + (s >> 16);
    s as u16
}

/// [`fold`] for a 32-bit accumulator (a few incremental-update terms): two steps
/// (32 -> 17 -> 16 bits) suffice.
#[inline]
pub fn fold32(sum: u32) -> u16 {
    let s = (sum & 0xFFFF) + (sum >> 16);
    let s = (s & 0xFFFF) + (s >> 16);
    s as u16
}

/// One's-complement sum of `data` as big-endian 16-bit words; an odd trailing byte is
/// padded with a zero byte on the right (RFC 1071).
#[inline]
pub fn data(data: &[u8]) -> u16 {
    // Summing 32-bit words into a u64 is congruent mod 0xFFFF to summing 16-bit words
    // (2^16 = 1 mod 0xFFFF) and halves the loop count; no realistic packet overflows u64.
    let mut acc: u64 = 0;
    let mut words = data.chunks_exact(4);
    for w in &mut words {
        acc += u64::from(u32::from_be_bytes([w[0], w[1], w[2], w[3]]));
    }
    let rest = words.remainder();
    let mut tail = [0u8; 4];
    tail[..rest.len()].copy_from_slice(rest);
    acc += u64::from(u32::from_be_bytes(tail));
    fold(acc)
}

/// One's-complement sum of several partial sums.
#[inline]
pub fn combine(sums: &[u16]) -> u16 {
    fold(sums.iter().map(|&s| u64::from(s)).sum())
}

/// The checksum to store for `data`: the complement of its sum.
#[inline]
pub fn internet(bytes: &[u8]) -> u16 {
    !data(bytes)
}

/// Sum of the IPv4 pseudo-header (RFC 793/768): addresses, protocol and the L4 length.
#[inline]
pub fn pseudo_header_v4(src: Ipv4Addr, dst: Ipv4Addr, protocol: u8, l4_len: u16) -> u16 {
    let acc = u64::from(u32::from(src))
        + u64::from(u32::from(dst))
        + u64::from(protocol)
        + u64::from(l4_len);
    fold(acc)
}

/// Sum of the IPv6 pseudo-header (RFC 8200 §8.1): addresses, upper-layer length and next
/// header.
#[inline]
pub fn pseudo_header_v6(src: Ipv6Addr, dst: Ipv6Addr, next_header: u8, l4_len: u32) -> u16 {
    let s = u128::from(src);
    let d = u128::from(dst);
    let acc = (s as u64 & 0xFFFF_FFFF)
        + ((s >> 32) as u64 & 0xFFFF_FFFF)
        + ((s >> 64) as u64 & 0xFFFF_FFFF)
        + (s >> 96) as u64
        + (d as u64 & 0xFFFF_FFFF)
        + ((d >> 32) as u64 & 0xFFFF_FFFF)
        + ((d >> 64) as u64 & 0xFFFF_FFFF)
        + (d >> 96) as u64
        + u64::from(l4_len)
        + u64::from(next_header);
    fold(acc)
}

/// RFC 1624 eqn. 3 terms (`~m + m'`) of several changed words under one checksum field,
/// applied at once: `HC' = ~(~HC + sum of (~m + m'))`.
///
/// Eqn. 3 (rather than eqn. 2, `HC - m - m'`) never turns a valid non-zero-data checksum
/// into `0xFFFF`, so the result equals a full recompute bit for bit. The caller handles
/// protocol conventions on top: a UDP/IPv4 field of 0 means "no checksum" and must be left
/// alone, and a UDP result of 0 must be sent as `0xFFFF` (see [`udp_field`]).
///
/// The words are summed in network byte order, as they sit in the packet: one's-complement
/// sums are byte-order independent (RFC 1071 2.B), and the swaps of the host-order values
/// taken and returned cancel against those of the reads and writes around them, so the
/// compiled update of a rewrite has none. The bytes written are the same as with
/// host-order sums (the folded sum is in 1..=0xFFFF unless every term is zero, and within
/// that range a value and its byte swap are congruent mod 0xFFFF only as each other's
/// swap). A u32 holds the terms of up to 30 000 words.
#[derive(Clone, Copy, Debug, Default)]
pub struct Delta(u32);

impl Delta {
    /// A 16-bit word changing from `old` to `new` (host order).
    #[inline(always)]
    pub fn u16(&mut self, old: u16, new: u16) {
        self.0 += u32::from(!old.to_be()) + u32::from(new.to_be());
    }
    /// A 32-bit field (two words) changing from `old` to `new` (host order).
    #[inline(always)]
    pub fn u32(&mut self, old: u32, new: u32) {
        let (o, n) = (!old.to_be(), new.to_be());
        self.0 += (o & 0xFFFF) + (o >> 16) + (n & 0xFFFF) + (n >> 16);
    }
    /// A 128-bit field (eight words, an IPv6 address) changing from `old` to `new`.
    #[inline(always)]
    pub fn u128(&mut self, old: u128, new: u128) {
        let (o, n) = (!old.to_be(), new.to_be());
        for i in 0..8 {
            self.0 += u32::from((o >> (16 * i)) as u16) + u32::from((n >> (16 * i)) as u16);
        }
    }
    /// The updated checksum field (host order, like `hc`).
    #[inline(always)]
    pub fn apply(self, hc: u16) -> u16 {
        u16::from_be(!fold32(u32::from(!hc.to_be()) + self.0))
    }
}

/// Eqn. 3 for one 16-bit word changing from `old` to `new` (see [`Delta`]).
#[inline]
pub fn update_u16(hc: u16, old: u16, new: u16) -> u16 {
    let mut d = Delta::default();
    d.u16(old, new);
    d.apply(hc)
}

/// Eqn. 3 for a 32-bit field (two words) changing from `old` to `new`.
#[inline]
pub fn update_u32(hc: u16, old: u32, new: u32) -> u16 {
    let mut d = Delta::default();
    d.u32(old, new);
    d.apply(hc)
}

/// Eqn. 3 for an IPv4 address changing from `old` to `new`.
#[inline]
pub fn update_ipv4_addr(hc: u16, old: Ipv4Addr, new: Ipv4Addr) -> u16 {
    update_u32(hc, u32::from(old), u32::from(new))
}

/// Eqn. 3 for an IPv6 address changing from `old` to `new`.
#[inline]
pub fn update_ipv6_addr(hc: u16, old: Ipv6Addr, new: Ipv6Addr) -> u16 {
    let mut d = Delta::default();
    d.u128(u128::from(old), u128::from(new));
    d.apply(hc)
}

/// Eqn. 3 for an arbitrary run of bytes at an even offset changing from `old` to `new`
/// (same length, even length); a trailing odd byte is treated as padded with zero.
#[inline]
pub fn update_bytes(hc: u16, old: &[u8], new: &[u8]) -> u16 {
    // ~m summed word by word equals ~(sum of m) in one's-complement arithmetic.
    !combine(&[!hc, !data(old), data(new)])
}

/// Change the `len` (at most 10) bytes at `at` of `ip` with `f`, updating the 16-bit
/// one's-complement checksum at `csum`, which sums the words of `ip[base..end]` (a TCP
/// segment or an ICMP message): the aligned words that cover the change enter the
/// update, so a change at an odd offset (after NOP padding) is counted right.
pub(crate) fn change_covered(
    ip: &mut [u8],
    (base, end): (usize, usize),
    csum: usize,
    at: usize,
    len: usize,
    f: impl FnOnce(&mut [u8]),
) {
    let w0 = base + ((at - base) & !1);
    let w1 = (base + ((at - base + len + 1) & !1)).min(end);
    let mut old = [0u8; 12];
    let n = w1 - w0;
    old[..n].copy_from_slice(&ip[w0..w1]);
    f(&mut ip[at..at + len]);
    let hc = update_bytes(
        u16::from_be_bytes([ip[csum], ip[csum + 1]]),
        &old[..n],
        &ip[w0..w1],
    );
    ip[csum..csum + 2].copy_from_slice(&hc.to_be_bytes());
}

/// The UDP checksum field for a computed checksum: UDP sends a computed `0x0000` as
/// `0xFFFF`, because `0` in the field means "no checksum" (RFC 768).
#[inline]
pub fn udp_field(computed: u16) -> u16 {
    if computed == 0 {
        0xFFFF
    } else {
        computed
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    /// The definition: end-around carries until the value fits 16 bits.
    fn fold_by_loop(mut sum: u64) -> u16 {
        while sum > 0xFFFF {
            sum = (sum & 0xFFFF) + (sum >> 16);
        }
        sum as u16
    }

    #[test]
    fn fold_edges() {
        for s in [0, 1, 0xFFFF, 0x1_0000, 0x1_FFFE, 0xFFFF_FFFF, 0xFFFE_FFFF] {
            assert_eq!(fold32(s), fold_by_loop(u64::from(s)), "{s:#x}");
        }
        for s in [
            0,
            1,
            0xFFFF,
            0x1_0000,
            0x1_FFFE,
            0xFFFF_FFFF,
            0x1_0000_0000,
            0xFFFF_0000_FFFF,
            u64::MAX,
            u64::MAX - 1,
        ] {
            assert_eq!(fold(s), fold_by_loop(s), "{s:#x}");
        }
    }

    proptest! {
        #[test]
        fn fold_matches_the_loop(s in any::<u64>(), small in 0u64..(1 << 24)) {
            prop_assert_eq!(fold(s), fold_by_loop(s));
            prop_assert_eq!(fold(small), fold_by_loop(small));
        }

        /// Delta (network order, u32, two-step fold) writes what a host-order eqn. 3 sum
        /// (u64, full fold) writes, for any field and any changed words (including
        /// 0xFFFF <-> 0x0000).
        #[test]
        fn delta_equals_a_host_order_update(
            hc in any::<u16>(),
            words in prop::collection::vec(any::<(u16, u16)>(), 0..8),
            addrs in prop::collection::vec(any::<(u32, u32)>(), 0..3),
            addr6 in prop::option::of(any::<(u128, u128)>()),
        ) {
            let mut d = Delta::default();
            let mut acc = u64::from(!hc);
            for &(o, n) in &words {
                d.u16(o, n);
                acc += u64::from(!o) + u64::from(n);
            }
            for &(o, n) in &addrs {
                d.u32(o, n);
                acc += u64::from(!(o >> 16) as u16) + u64::from(!(o as u16));
                acc += u64::from(n >> 16) + u64::from(n as u16);
            }
            if let Some((o, n)) = addr6 {
                d.u128(o, n);
                for i in 0..8 {
                    acc += u64::from(!((o >> (16 * i)) as u16)) + u64::from((n >> (16 * i)) as u16);
                }
            }
            prop_assert_eq!(d.apply(hc), !fold(acc));
        }

        #[test]
        fn fold32_matches_the_loop(s in any::<u32>(), small in 0u32..(1 << 20)) {
            prop_assert_eq!(fold32(s), fold_by_loop(u64::from(s)));
            prop_assert_eq!(fold32(small), fold_by_loop(u64::from(small)));
        }
    }

    #[test]
    fn rfc1071_example() {
        // RFC 1071 §3: words 0001 f203 f4f5 f6f7 sum to 0xddf2.
        assert_eq!(
            data(&[0x00, 0x01, 0xf2, 0x03, 0xf4, 0xf5, 0xf6, 0xf7]),
            0xddf2
        );
        assert_eq!(
            internet(&[0x00, 0x01, 0xf2, 0x03, 0xf4, 0xf5, 0xf6, 0xf7]),
            !0xddf2
        );
    }

    #[test]
    fn odd_length_pads_right() {
        assert_eq!(data(&[0x12]), 0x1200);
        assert_eq!(data(&[0x12, 0x34, 0x56]), 0x1234 + 0x5600);
        assert_eq!(data(&[]), 0);
    }

    #[test]
    fn carries_wrap_around() {
        assert_eq!(data(&[0xff, 0xff, 0x00, 0x01]), 0x0001);
        assert_eq!(data(&[0xff, 0xff, 0xff, 0xff]), 0xffff);
        assert_eq!(combine(&[0xffff, 0x0001]), 0x0001);
    }

    #[test]
    fn rfc1624_corner_case() {
        // RFC 1624 §3: header sums to 0xCD7A except a word that changes 0x5555 -> 0x3285;
        // eqn. 3 must give 0x0000, never the invalid 0xFFFF of eqn. 2.
        let hc = 0xDD2F;
        assert_eq!(update_u16(hc, 0x5555, 0x3285), 0x0000);
    }

    #[test]
    fn pseudo_headers() {
        let v4 = pseudo_header_v4(
            Ipv4Addr::new(198, 18, 0, 1),
            Ipv4Addr::new(198, 18, 0, 2),
            17,
            8,
        );
        let manual = data(&[198, 18, 0, 1, 198, 18, 0, 2, 0, 17, 0, 8]);
        assert_eq!(v4, manual);

        let s: Ipv6Addr = "2001:2::1".parse().unwrap();
        let d: Ipv6Addr = "2001:2::ffff:2".parse().unwrap();
        let mut buf = [0u8; 40];
        buf[..16].copy_from_slice(&s.octets());
        buf[16..32].copy_from_slice(&d.octets());
        buf[32..36].copy_from_slice(&70000u32.to_be_bytes());
        buf[39] = 6;
        assert_eq!(pseudo_header_v6(s, d, 6, 70000), data(&buf));
    }

    #[test]
    fn udp_zero_is_sent_as_ffff() {
        assert_eq!(udp_field(0), 0xFFFF);
        assert_eq!(udp_field(0x1234), 0x1234);
    }
}
