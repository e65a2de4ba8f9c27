//! IPv4 headers (RFC 791).

use std::net::Ipv4Addr;

use super::bytes::{read_ipv4, read_u16, write_u16};
use super::checksum;
use super::error::Error;

mod field {
    use core::ops::Range;
    pub const VER_IHL: usize = 0;
    pub const DSCP_ECN: usize = 1;
    pub const LENGTH: Range<usize> = 2..4;
    pub const IDENT: Range<usize> = 4..6;
    pub const FLG_OFF: Range<usize> = 6..8;
    pub const TTL: usize = 8;
    pub const PROTOCOL: usize = 9;
    pub const CHECKSUM: Range<usize> = 10..12;
    pub const SRC_ADDR: Range<usize> = 12..16;
    pub const DST_ADDR: Range<usize> = 16..20;
}

/// Length of an IPv4 header without options.
pub const HEADER_LEN: usize = field::DST_ADDR.end;
/// Longest IPv4 header (IHL 15).
pub const MAX_HEADER_LEN: usize = 60;

const FLAG_DF: u16 = 0x4000;
const FLAG_MF: u16 = 0x2000;
const OFFSET_MASK: u16 = 0x1FFF;

/// A read/write view of an IPv4 packet.
///
/// The buffer may extend past `total_len` (Ethernet pads short frames to 60 bytes);
/// [`Ipv4Packet::payload`] ends at `total_len`.
#[derive(Debug, Clone)]
pub struct Ipv4Packet<T: AsRef<[u8]>> {
    buffer: T,
}

impl<T: AsRef<[u8]>> Ipv4Packet<T> {
    /// Wrap `buffer` without checking it.
    pub const fn new_unchecked(buffer: T) -> Self {
        Ipv4Packet { buffer }
    }

    /// Wrap `buffer`, checking version and lengths (see [`Ipv4Packet::check_len`]).
    pub fn new_checked(buffer: T) -> Result<Self, Error> {
        let p = Self::new_unchecked(buffer);
        p.check_len()?;
        Ok(p)
    }

    /// `Ok` when no accessor can panic: the buffer holds 20 bytes, the version is 4, the
    /// header length is 20..=60 and fits the buffer, and the total length is at least the
    /// header length and fits the buffer.
    pub fn check_len(&self) -> Result<(), Error> {
        let len = self.buffer.as_ref().len();
        if len < HEADER_LEN {
            return Err(Error::Truncated);
        }
        if self.version() != 4 {
            return Err(Error::Malformed);
        }
        let hl = self.header_len();
        if hl < HEADER_LEN {
            return Err(Error::Malformed);
        }
        if hl > len {
            return Err(Error::Truncated);
        }
        let tl = self.total_len();
        if tl < hl {
            return Err(Error::Malformed);
        }
        if tl > len {
            return Err(Error::Truncated);
        }
        Ok(())
    }

    /// The wrapped buffer.
    pub fn into_inner(self) -> T {
        self.buffer
    }

    /// IP version (4 after a successful check).
    pub fn version(&self) -> u8 {
        self.buffer.as_ref()[field::VER_IHL] >> 4
    }

    /// Header length in bytes (IHL * 4).
    pub fn header_len(&self) -> usize {
        usize::from(self.buffer.as_ref()[field::VER_IHL] & 0x0F) * 4
    }

    /// The DSCP/ECN (former TOS) byte.
    pub fn dscp_ecn(&self) -> u8 {
        self.buffer.as_ref()[field::DSCP_ECN]
    }

    /// Total length (header + payload) in bytes.
    pub fn total_len(&self) -> usize {
        usize::from(read_u16(&self.buffer.as_ref()[field::LENGTH]))
    }

    /// Identification.
    pub fn ident(&self) -> u16 {
        read_u16(&self.buffer.as_ref()[field::IDENT])
    }

    fn flags_offset(&self) -> u16 {
        read_u16(&self.buffer.as_ref()[field::FLG_OFF])
    }

    /// Don't Fragment flag.
    pub fn dont_frag(&self) -> bool {
        self.flags_offset() & FLAG_DF != 0
    }

    /// More Fragments flag.
    pub fn more_frags(&self) -> bool {
        self.flags_offset() & FLAG_MF != 0
    }

    /// Fragment offset in bytes (the field counts 8-byte units).
    pub fn frag_offset(&self) -> u16 {
        (self.flags_offset() & OFFSET_MASK) << 3
    }

    /// True for any fragment: MF set or a non-zero offset.
    pub fn is_fragment(&self) -> bool {
        self.flags_offset() & (FLAG_MF | OFFSET_MASK) != 0
    }

    /// Time to live.
    pub fn ttl(&self) -> u8 {
        self.buffer.as_ref()[field::TTL]
    }

    /// Protocol of the payload (see [`super::ip_proto`]).
    pub fn protocol(&self) -> u8 {
        self.buffer.as_ref()[field::PROTOCOL]
    }

    /// The header checksum field.
    pub fn checksum(&self) -> u16 {
        read_u16(&self.buffer.as_ref()[field::CHECKSUM])
    }

    /// True when the header checksum is correct.
    pub fn verify_checksum(&self) -> bool {
        checksum::data(&self.buffer.as_ref()[..self.header_len()]) == 0xFFFF
    }

    /// Source address.
    pub fn src_addr(&self) -> Ipv4Addr {
        read_ipv4(&self.buffer.as_ref()[field::SRC_ADDR])
    }

    /// Destination address.
    pub fn dst_addr(&self) -> Ipv4Addr {
        read_ipv4(&self.buffer.as_ref()[field::DST_ADDR])
    }

    /// The options bytes (empty when IHL is 5).
    pub fn options(&self) -> &[u8] {
        &self.buffer.as_ref()[HEADER_LEN..self.header_len()]
    }

    /// The payload: from the end of the header to `total_len` (padding excluded).
    pub fn payload(&self) -> &[u8] {
        &self.buffer.as_ref()[self.header_len()..self.total_len()]
    }

    /// Sum of the pseudo-header for the payload, for TCP/UDP checksums.
    pub fn pseudo_header_sum(&self) -> u16 {
        let l4_len = self.total_len().saturating_sub(self.header_len());
        checksum::pseudo_header_v4(
            self.src_addr(),
            self.dst_addr(),
            self.protocol(),
            l4_len as u16,
        )
    }
}

impl<T: AsRef<[u8]> + AsMut<[u8]>> Ipv4Packet<T> {
    /// Set version 4 and the header length in bytes (a multiple of 4, 20..=60).
    pub fn set_version_and_header_len(&mut self, header_len: usize) {
        debug_assert!(
            header_len.is_multiple_of(4) && (HEADER_LEN..=MAX_HEADER_LEN).contains(&header_len)
        );
        self.buffer.as_mut()[field::VER_IHL] = 0x40 | ((header_len / 4) as u8 & 0x0F);
    }

    /// Set the DSCP/ECN byte.
    pub fn set_dscp_ecn(&mut self, v: u8) {
        self.buffer.as_mut()[field::DSCP_ECN] = v
    }

    /// Set the total length.
    pub fn set_total_len(&mut self, v: u16) {
        write_u16(&mut self.buffer.as_mut()[field::LENGTH], v)
    }

    /// Set the identification.
    pub fn set_ident(&mut self, v: u16) {
        write_u16(&mut self.buffer.as_mut()[field::IDENT], v)
    }

    fn set_flags_offset(&mut self, v: u16) {
        write_u16(&mut self.buffer.as_mut()[field::FLG_OFF], v)
    }

    /// Set or clear Don't Fragment.
    pub fn set_dont_frag(&mut self, on: bool) {
        let v = self.flags_offset() & !FLAG_DF;
        self.set_flags_offset(if on { v | FLAG_DF } else { v })
    }

    /// Set or clear More Fragments.
    pub fn set_more_frags(&mut self, on: bool) {
        let v = self.flags_offset() & !FLAG_MF;
        self.set_flags_offset(if on { v | FLAG_MF } else { v })
    }

    /// Set the fragment offset in bytes (rounded down to 8-byte units).
    pub fn set_frag_offset(&mut self, bytes: u16) {
        let v = self.flags_offset() & !OFFSET_MASK;
        self.set_flags_offset(v | (bytes >> 3))
    }

    /// Set the time to live (the checksum is not updated).
    pub fn set_ttl(&mut self, v: u8) {
        self.buffer.as_mut()[field::TTL] = v
    }

    /// Set the protocol.
    pub fn set_protocol(&mut self, v: u8) {
        self.buffer.as_mut()[field::PROTOCOL] = v
    }

    /// Set the checksum field.
    pub fn set_checksum(&mut self, v: u16) {
        write_u16(&mut self.buffer.as_mut()[field::CHECKSUM], v)
    }

    /// Recompute the header checksum over the whole header.
    pub fn fill_checksum(&mut self) {
        self.set_checksum(0);
        let hl = self.header_len();
        let c = checksum::internet(&self.buffer.as_ref()[..hl]);
        self.set_checksum(c);
    }

    /// Set the source address (the checksum is not updated).
    pub fn set_src_addr(&mut self, a: Ipv4Addr) {
        self.buffer.as_mut()[field::SRC_ADDR].copy_from_slice(&a.octets())
    }

    /// Set the destination address (the checksum is not updated).
    pub fn set_dst_addr(&mut self, a: Ipv4Addr) {
        self.buffer.as_mut()[field::DST_ADDR].copy_from_slice(&a.octets())
    }

    /// Decrement the TTL and update the checksum incrementally. Returns false, leaving
    /// the packet unchanged, when the TTL is 0 or 1: the packet must not be forwarded
    /// (RFC 1812 §5.3.1; the caller may answer ICMP time exceeded).
    ///
    /// Every forwarded packet pays this (a dozen instructions, inlined), so it is Linux's
    /// `ip_decrease_ttl` rather than a general update: the TTL is the high byte of its
    /// word, so the sum falls by 0x0100 and the checksum, its complement, rises by 0x0100
    /// with the end-around carry; a result of 0xFFFF becomes 0x0000, the form a full
    /// computation gives (the header's sum is never zero).
    #[inline]
    pub fn decrement_ttl(&mut self) -> bool {
        let ttl = self.ttl();
        if ttl <= 1 {
            return false;
        }
        let c = u32::from(self.checksum()) + 0x0100;
        let c = c + u32::from(c >= 0xFFFF);
        self.set_ttl(ttl - 1);
        self.set_checksum(c as u16);
        true
    }

    /// The options bytes, writable.
    pub fn options_mut(&mut self) -> &mut [u8] {
        let hl = self.header_len();
        &mut self.buffer.as_mut()[HEADER_LEN..hl]
    }

    /// The payload up to `total_len`, writable.
    pub fn payload_mut(&mut self) -> &mut [u8] {
        let (hl, tl) = (self.header_len(), self.total_len());
        &mut self.buffer.as_mut()[hl..tl]
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    /// 198.18.0.1 -> 198.18.0.2, UDP, 28 bytes, DF, TTL 64, followed by 4 pad bytes.
    pub(crate) const UDP_PACKET: [u8; 32] = [
        0x45, 0x00, 0x00, 0x1c, // v4, IHL 5, total 28
        0x12, 0x34, 0x40, 0x00, // ident, DF
        0x40, 0x11, 0x00, 0x00, // TTL 64, UDP, checksum (filled by test)
        198, 18, 0, 1, 198, 18, 0, 2, // src, dst
        0x30, 0x39, 0x00, 0x35, 0x00, 0x08, 0x00, 0x00, // UDP 12345 -> 53, len 8, no csum
        0xee, 0xee, 0xee, 0xee, // Ethernet padding
    ];

    fn with_checksum() -> [u8; 32] {
        let mut b = UDP_PACKET;
        Ipv4Packet::new_unchecked(&mut b[..]).fill_checksum();
        b
    }

    #[test]
    fn parse_fixed_packet() {
        let b = with_checksum();
        // Checksum computed by hand: sum of header words = 0x4500+0x001c+0x1234+0x4000
        // +0x4011+0xc612+0x0001+0xc612+0x0002 = 0x2_6388 -> 0x638a, complement 0x9c75.
        assert_eq!(&b[10..12], &[0x9c, 0x75]);
        let p = Ipv4Packet::new_checked(&b[..]).unwrap();
        assert!(p.verify_checksum());
        assert_eq!(p.version(), 4);
        assert_eq!(p.header_len(), 20);
        assert_eq!(p.total_len(), 28);
        assert_eq!(p.ident(), 0x1234);
        assert!(p.dont_frag() && !p.more_frags() && !p.is_fragment());
        assert_eq!(p.frag_offset(), 0);
        assert_eq!(p.ttl(), 64);
        assert_eq!(p.protocol(), super::super::ip_proto::UDP);
        assert_eq!(p.src_addr(), Ipv4Addr::new(198, 18, 0, 1));
        assert_eq!(p.dst_addr(), Ipv4Addr::new(198, 18, 0, 2));
        assert!(p.options().is_empty());
        // Padding past total_len is not payload.
        assert_eq!(p.payload(), &UDP_PACKET[20..28]);
    }

    #[test]
    fn impossible_lengths() {
        let b = with_checksum();
        assert_eq!(
            Ipv4Packet::new_checked(&b[..19]).unwrap_err(),
            Error::Truncated
        );
        // total_len 28 > 27-byte buffer
        assert_eq!(
            Ipv4Packet::new_checked(&b[..27]).unwrap_err(),
            Error::Truncated
        );
        let mut bad = b;
        bad[0] = 0x44; // IHL 4 (16 bytes)
        assert_eq!(
            Ipv4Packet::new_checked(&bad[..]).unwrap_err(),
            Error::Malformed
        );
        bad[0] = 0x4f; // IHL 15 (60 bytes) > buffer
        assert_eq!(
            Ipv4Packet::new_checked(&bad[..]).unwrap_err(),
            Error::Truncated
        );
        bad[0] = 0x46; // IHL 6 (24) within buffer, total_len 28 ok
        assert!(Ipv4Packet::new_checked(&bad[..]).is_ok());
        bad[0] = 0x48; // IHL 8 (32) > total_len 28
        assert_eq!(
            Ipv4Packet::new_checked(&bad[..]).unwrap_err(),
            Error::Malformed
        );
        let mut v6 = b;
        v6[0] = 0x65;
        assert_eq!(
            Ipv4Packet::new_checked(&v6[..]).unwrap_err(),
            Error::Malformed
        );
        let mut short = b;
        short[3] = 19; // total_len below the header
        assert_eq!(
            Ipv4Packet::new_checked(&short[..]).unwrap_err(),
            Error::Malformed
        );
    }

    #[test]
    fn fragments() {
        let mut b = with_checksum();
        let mut p = Ipv4Packet::new_unchecked(&mut b[..]);
        p.set_more_frags(true);
        assert!(p.is_fragment() && p.more_frags() && p.dont_frag());
        p.set_more_frags(false);
        p.set_frag_offset(1480);
        assert!(p.is_fragment());
        assert_eq!(p.frag_offset(), 1480);
        p.set_dont_frag(false);
        assert!(!p.dont_frag());
        assert_eq!(p.frag_offset(), 1480);
        p.set_frag_offset(0);
        assert!(!p.is_fragment());
    }

    #[test]
    fn decrement_ttl_updates_checksum() {
        let mut b = with_checksum();
        let mut p = Ipv4Packet::new_unchecked(&mut b[..]);
        assert!(p.decrement_ttl());
        assert_eq!(p.ttl(), 63);
        assert!(p.verify_checksum());
        p.set_ttl(1);
        p.fill_checksum();
        let before = b;
        let mut p = Ipv4Packet::new_unchecked(&mut b[..]);
        assert!(!p.decrement_ttl());
        assert_eq!(b, before);
    }

    /// The incremental update gives the bytes of a full computation for every checksum
    /// value the header can have (its identification word walks all 65 536 values).
    #[test]
    fn decrement_ttl_matches_a_full_computation_for_every_checksum() {
        let mut b = with_checksum();
        for ident in 0..=u16::MAX {
            for ttl in [2, 64, 255] {
                let mut p = Ipv4Packet::new_unchecked(&mut b[..]);
                p.set_ident(ident);
                p.set_ttl(ttl);
                p.fill_checksum();
                assert!(p.decrement_ttl());
                let got = p.checksum();
                p.fill_checksum();
                assert_eq!(got, p.checksum(), "ident {ident:#x} ttl {ttl}");
            }
        }
    }

    #[test]
    fn setters_round_trip() {
        let mut b = [0u8; 24];
        let mut p = Ipv4Packet::new_unchecked(&mut b[..]);
        p.set_version_and_header_len(24);
        p.set_total_len(24);
        p.set_dscp_ecn(0xb8);
        p.set_ident(7);
        p.set_ttl(9);
        p.set_protocol(6);
        p.set_src_addr(Ipv4Addr::new(198, 19, 1, 2));
        p.set_dst_addr(Ipv4Addr::new(198, 19, 3, 4));
        p.options_mut().copy_from_slice(&[1, 1, 1, 0]);
        p.fill_checksum();
        let p = Ipv4Packet::new_checked(&b[..]).unwrap();
        assert_eq!((p.version(), p.header_len(), p.total_len()), (4, 24, 24));
        assert_eq!(
            (p.dscp_ecn(), p.ident(), p.ttl(), p.protocol()),
            (0xb8, 7, 9, 6)
        );
        assert_eq!(p.src_addr(), Ipv4Addr::new(198, 19, 1, 2));
        assert_eq!(p.dst_addr(), Ipv4Addr::new(198, 19, 3, 4));
        assert_eq!(p.options(), &[1, 1, 1, 0]);
        assert!(p.payload().is_empty());
        assert!(p.verify_checksum());
    }
}
