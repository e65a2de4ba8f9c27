//! UDP headers (RFC 768).

use std::net::{Ipv4Addr, Ipv6Addr};

use super::bytes::{read_u16, write_u16};
use super::error::Error;
use super::{checksum, ip_proto};

mod field {
    use core::ops::Range;
    pub const SRC_PORT: Range<usize> = 0..2;
    pub const DST_PORT: Range<usize> = 2..4;
    pub const LENGTH: Range<usize> = 4..6;
    pub const CHECKSUM: Range<usize> = 6..8;
}

/// Length of the UDP header.
pub const HEADER_LEN: usize = field::CHECKSUM.end;
/// Offset of the checksum field, for the in-place rewrite code.
pub(crate) const CHECKSUM_OFFSET: usize = field::CHECKSUM.start;

/// A read/write view of a UDP datagram.
#[derive(Debug, Clone)]
pub struct UdpPacket<T: AsRef<[u8]>> {
    buffer: T,
}

impl<T: AsRef<[u8]>> UdpPacket<T> {
    /// Wrap `buffer` without checking it.
    pub const fn new_unchecked(buffer: T) -> Self {
        UdpPacket { buffer }
    }

    /// Wrap `buffer`, checking the lengths (see [`UdpPacket::check_len`]).
    pub fn new_checked(buffer: T) -> Result<Self, Error> {
        let p = Self::new_unchecked(buffer);
        p.check_len()?;
        Ok(p)
    }

    /// `Ok` when no accessor can panic: 8 bytes present and the length field is at least
    /// 8 and within the buffer.
    pub fn check_len(&self) -> Result<(), Error> {
        let len = self.buffer.as_ref().len();
        if len < HEADER_LEN {
            return Err(Error::Truncated);
        }
        let l = self.len();
        if l < HEADER_LEN {
            return Err(Error::Malformed);
        }
        if l > len {
            return Err(Error::Truncated);
        }
        Ok(())
    }

    /// The wrapped buffer.
    pub fn into_inner(self) -> T {
        self.buffer
    }

    /// Source port.
    pub fn src_port(&self) -> u16 {
        read_u16(&self.buffer.as_ref()[field::SRC_PORT])
    }

    /// Destination port.
    pub fn dst_port(&self) -> u16 {
        read_u16(&self.buffer.as_ref()[field::DST_PORT])
    }

    /// The length field (header + data) in bytes.
    #[allow(clippy::len_without_is_empty)] // a header field, never empty after a check
    pub fn len(&self) -> usize {
        usize::from(read_u16(&self.buffer.as_ref()[field::LENGTH]))
    }

    /// The checksum field; over IPv4, 0 means the sender computed none.
    pub fn checksum(&self) -> u16 {
        read_u16(&self.buffer.as_ref()[field::CHECKSUM])
    }

    /// The data, from the header to the length field.
    pub fn payload(&self) -> &[u8] {
        &self.buffer.as_ref()[HEADER_LEN..self.len()]
    }

    fn sum_with(&self, pseudo: u16) -> u16 {
        let b = &self.buffer.as_ref()[..self.len()];
        checksum::combine(&[pseudo, checksum::data(b)])
    }

    /// True when the checksum is right or absent (0), with the IPv4 pseudo-header.
    pub fn verify_checksum_v4(&self, src: Ipv4Addr, dst: Ipv4Addr) -> bool {
        if self.checksum() == 0 {
            return true;
        }
        let ph = checksum::pseudo_header_v4(src, dst, ip_proto::UDP, self.len() as u16);
        self.sum_with(ph) == 0xFFFF
    }

    /// True when the checksum is right with the IPv6 pseudo-header (0 is not allowed over
    /// IPv6, RFC 8200 §8.1).
    pub fn verify_checksum_v6(&self, src: Ipv6Addr, dst: Ipv6Addr) -> bool {
        if self.checksum() == 0 {
            return false;
        }
        let ph = checksum::pseudo_header_v6(src, dst, ip_proto::UDP, self.len() as u32);
        self.sum_with(ph) == 0xFFFF
    }
}

impl<T: AsRef<[u8]> + AsMut<[u8]>> UdpPacket<T> {
    /// Set the source port (the checksum is not updated).
    pub fn set_src_port(&mut self, v: u16) {
        write_u16(&mut self.buffer.as_mut()[field::SRC_PORT], v)
    }

    /// Set the destination port (the checksum is not updated).
    pub fn set_dst_port(&mut self, v: u16) {
        write_u16(&mut self.buffer.as_mut()[field::DST_PORT], v)
    }

    /// Set the length field.
    pub fn set_len(&mut self, v: u16) {
        write_u16(&mut self.buffer.as_mut()[field::LENGTH], v)
    }

    /// Set the checksum field.
    pub fn set_checksum(&mut self, v: u16) {
        write_u16(&mut self.buffer.as_mut()[field::CHECKSUM], v)
    }

    /// The data, writable.
    pub fn payload_mut(&mut self) -> &mut [u8] {
        let l = self.len();
        &mut self.buffer.as_mut()[HEADER_LEN..l]
    }

    /// Compute the checksum with the IPv4 pseudo-header (a computed 0 is sent as 0xFFFF).
    pub fn fill_checksum_v4(&mut self, src: Ipv4Addr, dst: Ipv4Addr) {
        self.set_checksum(0);
        let ph = checksum::pseudo_header_v4(src, dst, ip_proto::UDP, self.len() as u16);
        let c = checksum::udp_field(!self.sum_with(ph));
        self.set_checksum(c);
    }

    /// Compute the checksum with the IPv6 pseudo-header (a computed 0 is sent as 0xFFFF).
    pub fn fill_checksum_v6(&mut self, src: Ipv6Addr, dst: Ipv6Addr) {
        self.set_checksum(0);
        let ph = checksum::pseudo_header_v6(src, dst, ip_proto::UDP, self.len() as u32);
        let c = checksum::udp_field(!self.sum_with(ph));
        self.set_checksum(c);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// 198.18.0.1:12345 -> 198.18.0.2:53, "hello", checksum included, then 2 padding bytes.
    const DGRAM: [u8; 15] = [
        0x30, 0x39, 0x00, 0x35, // ports
        0x00, 0x0d, 0x00, 0x00, // length 13, checksum (patched below)
        b'h', b'e', b'l', b'l', b'o', 0, 0,
    ];
    const SRC: Ipv4Addr = Ipv4Addr::new(198, 18, 0, 1);
    const DST: Ipv4Addr = Ipv4Addr::new(198, 18, 0, 2);

    #[test]
    fn parse_fixed_datagram() {
        let mut b = DGRAM;
        UdpPacket::new_unchecked(&mut b[..]).fill_checksum_v4(SRC, DST);
        // Pseudo-header + datagram words summed by hand:
        // c612+0001+c612+0002+0011+000d + 3039+0035+000d+6865+6c6c+6f00 = 0x3_0091
        // -> 0x0094, complement 0xff6b.
        assert_eq!(&b[6..8], &[0xff, 0x6b]);
        let p = UdpPacket::new_checked(&b[..]).unwrap();
        assert_eq!((p.src_port(), p.dst_port(), p.len()), (12345, 53, 13));
        assert_eq!(p.payload(), b"hello");
        assert!(p.verify_checksum_v4(SRC, DST));
        assert!(!p.verify_checksum_v4(DST, DST));
        // No checksum is accepted over IPv4, never over IPv6.
        let p = UdpPacket::new_checked(&DGRAM[..]).unwrap();
        assert!(p.verify_checksum_v4(DST, DST));
        let a6: Ipv6Addr = "2001:2::1".parse().unwrap();
        assert!(!p.verify_checksum_v6(a6, a6));
    }

    #[test]
    fn impossible_lengths() {
        assert_eq!(
            UdpPacket::new_checked(&DGRAM[..7]).unwrap_err(),
            Error::Truncated
        );
        assert_eq!(
            UdpPacket::new_checked(&DGRAM[..12]).unwrap_err(),
            Error::Truncated
        );
        let mut b = DGRAM;
        b[5] = 7;
        assert_eq!(
            UdpPacket::new_checked(&b[..]).unwrap_err(),
            Error::Malformed
        );
        b[5] = 8;
        assert!(UdpPacket::new_checked(&b[..]).unwrap().payload().is_empty());
    }

    #[test]
    fn computed_zero_is_sent_as_ffff() {
        // Choose two data bytes so the sum (pseudo-header included) is 0xFFFF, i.e. the
        // computed checksum is 0.
        let mut b = [0x30, 0x39, 0x00, 0x35, 0x00, 0x0a, 0x00, 0x00, 0x00, 0x00];
        let ph = checksum::pseudo_header_v4(SRC, DST, ip_proto::UDP, 10);
        let partial = checksum::combine(&[ph, checksum::data(&b)]);
        b[8..10].copy_from_slice(&(!partial).to_be_bytes());
        let mut p = UdpPacket::new_unchecked(&mut b[..]);
        p.fill_checksum_v4(SRC, DST);
        assert_eq!(p.checksum(), 0xFFFF);
        assert!(p.verify_checksum_v4(SRC, DST));
        let a6: Ipv6Addr = "2001:2::1".parse().unwrap();
        p.set_len(10);
        p.fill_checksum_v6(a6, a6);
        assert!(p.verify_checksum_v6(a6, a6));
    }

    #[test]
    fn setters_round_trip() {
        let mut b = [0u8; 12];
        let mut p = UdpPacket::new_unchecked(&mut b[..]);
        p.set_src_port(7);
        p.set_dst_port(9);
        p.set_len(12);
        p.payload_mut().copy_from_slice(b"ping");
        p.set_checksum(0xabcd);
        let p = UdpPacket::new_checked(&b[..]).unwrap();
        assert_eq!(
            (p.src_port(), p.dst_port(), p.len(), p.checksum()),
            (7, 9, 12, 0xabcd)
        );
        assert_eq!(p.payload(), b"ping");
    }
}
