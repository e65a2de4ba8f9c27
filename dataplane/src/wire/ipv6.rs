//! IPv6 fixed headers (RFC 8200). Extension headers are not walked yet: `next_header`
//! reports the first one.

use std::net::Ipv6Addr;

use super::bytes::{read_ipv6, read_u16, read_u32, write_u16, write_u32};
use super::checksum;
use super::error::Error;

mod field {
    use core::ops::Range;
    pub const VER_TC_FLOW: Range<usize> = 0..4;
    pub const LENGTH: Range<usize> = 4..6;
    pub const NXT_HDR: usize = 6;
    pub const HOP_LIMIT: usize = 7;
    pub const SRC_ADDR: Range<usize> = 8..24;
    pub const DST_ADDR: Range<usize> = 24..40;
}

/// Length of the fixed IPv6 header.
pub const HEADER_LEN: usize = field::DST_ADDR.end;

/// A read/write view of an IPv6 packet.
///
/// The buffer may extend past the payload (Ethernet padding); [`Ipv6Packet::payload`]
/// ends where `payload_len` says.
#[derive(Debug, Clone)]
pub struct Ipv6Packet<T: AsRef<[u8]>> {
    buffer: T,
}

impl<T: AsRef<[u8]>> Ipv6Packet<T> {
    /// Wrap `buffer` without checking it.
    pub const fn new_unchecked(buffer: T) -> Self {
        Ipv6Packet { buffer }
    }

    /// Wrap `buffer`, checking version and lengths (see [`Ipv6Packet::check_len`]).
    pub fn new_checked(buffer: T) -> Result<Self, Error> {
        let p = Self::new_unchecked(buffer);
        p.check_len()?;
        Ok(p)
    }

    /// `Ok` when no accessor can panic: the fixed header is present, the version is 6 and
    /// the payload length fits the buffer. (A jumbogram's payload length of 0 is accepted
    /// as an empty payload; rvs does not support jumbograms.)
    pub fn check_len(&self) -> Result<(), Error> {
        let len = self.buffer.as_ref().len();
        if len < HEADER_LEN {
            return Err(Error::Truncated);
        }
        if self.version() != 6 {
            return Err(Error::Malformed);
        }
        if HEADER_LEN + self.payload_len() > len {
            return Err(Error::Truncated);
        }
        Ok(())
    }

    /// The wrapped buffer.
    pub fn into_inner(self) -> T {
        self.buffer
    }

    fn first_word(&self) -> u32 {
        read_u32(&self.buffer.as_ref()[field::VER_TC_FLOW])
    }

    /// IP version (6 after a successful check).
    pub fn version(&self) -> u8 {
        self.buffer.as_ref()[0] >> 4
    }

    /// Traffic class.
    pub fn traffic_class(&self) -> u8 {
        (self.first_word() >> 20) as u8
    }

    /// Flow label (20 bits).
    pub fn flow_label(&self) -> u32 {
        self.first_word() & 0x000F_FFFF
    }

    /// Payload length in bytes (extension headers included).
    pub fn payload_len(&self) -> usize {
        usize::from(read_u16(&self.buffer.as_ref()[field::LENGTH]))
    }

    /// Next header: the protocol or first extension header (see [`super::ip_proto`]).
    pub fn next_header(&self) -> u8 {
        self.buffer.as_ref()[field::NXT_HDR]
    }

    /// Hop limit.
    pub fn hop_limit(&self) -> u8 {
        self.buffer.as_ref()[field::HOP_LIMIT]
    }

    /// Source address.
    pub fn src_addr(&self) -> Ipv6Addr {
        read_ipv6(&self.buffer.as_ref()[field::SRC_ADDR])
    }

    /// Destination address.
    pub fn dst_addr(&self) -> Ipv6Addr {
        read_ipv6(&self.buffer.as_ref()[field::DST_ADDR])
    }

    /// The payload, `payload_len` bytes after the fixed header.
    pub fn payload(&self) -> &[u8] {
        &self.buffer.as_ref()[HEADER_LEN..HEADER_LEN + self.payload_len()]
    }

    /// Sum of the pseudo-header for the payload when `next_header` is the upper layer.
    pub fn pseudo_header_sum(&self) -> u16 {
        checksum::pseudo_header_v6(
            self.src_addr(),
            self.dst_addr(),
            self.next_header(),
            self.payload_len() as u32,
        )
    }
}

impl<T: AsRef<[u8]> + AsMut<[u8]>> Ipv6Packet<T> {
    /// Set version 6 (keeping traffic class and flow label).
    pub fn set_version(&mut self) {
        let b = &mut self.buffer.as_mut()[0];
        *b = (*b & 0x0F) | 0x60;
    }

    /// Set the traffic class.
    pub fn set_traffic_class(&mut self, tc: u8) {
        let w = (self.first_word() & !0x0FF0_0000) | (u32::from(tc) << 20);
        write_u32(&mut self.buffer.as_mut()[field::VER_TC_FLOW], w)
    }

    /// Set the flow label (low 20 bits of `label`).
    pub fn set_flow_label(&mut self, label: u32) {
        let w = (self.first_word() & !0x000F_FFFF) | (label & 0x000F_FFFF);
        write_u32(&mut self.buffer.as_mut()[field::VER_TC_FLOW], w)
    }

    /// Set the payload length.
    pub fn set_payload_len(&mut self, v: u16) {
        write_u16(&mut self.buffer.as_mut()[field::LENGTH], v)
    }

    /// Set the next header.
    pub fn set_next_header(&mut self, v: u8) {
        self.buffer.as_mut()[field::NXT_HDR] = v
    }

    /// Set the hop limit.
    pub fn set_hop_limit(&mut self, v: u8) {
        self.buffer.as_mut()[field::HOP_LIMIT] = v
    }

    /// Set the source address.
    pub fn set_src_addr(&mut self, a: Ipv6Addr) {
        self.buffer.as_mut()[field::SRC_ADDR].copy_from_slice(&a.octets())
    }

    /// Set the destination address.
    pub fn set_dst_addr(&mut self, a: Ipv6Addr) {
        self.buffer.as_mut()[field::DST_ADDR].copy_from_slice(&a.octets())
    }

    /// The payload, writable.
    pub fn payload_mut(&mut self) -> &mut [u8] {
        let end = HEADER_LEN + self.payload_len();
        &mut self.buffer.as_mut()[HEADER_LEN..end]
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::wire::ip_proto;

    /// 2001:2::1 -> 2001:2::2, TC 0xb8, flow 0x12345, UDP, hop limit 64, 8-byte payload,
    /// then 2 padding bytes.
    fn packet() -> [u8; 50] {
        let mut b = [0u8; 50];
        b[..8].copy_from_slice(&[0x6b, 0x81, 0x23, 0x45, 0x00, 0x08, 17, 64]);
        b[8..24].copy_from_slice(&"2001:2::1".parse::<Ipv6Addr>().unwrap().octets());
        b[24..40].copy_from_slice(&"2001:2::2".parse::<Ipv6Addr>().unwrap().octets());
        b[40..48].copy_from_slice(&[0x30, 0x39, 0x00, 0x35, 0x00, 0x08, 0x00, 0x00]);
        b[48..].copy_from_slice(&[0xee, 0xee]);
        b
    }

    #[test]
    fn parse_fixed_packet() {
        let b = packet();
        let p = Ipv6Packet::new_checked(&b[..]).unwrap();
        assert_eq!(p.version(), 6);
        assert_eq!(p.traffic_class(), 0xb8);
        assert_eq!(p.flow_label(), 0x12345);
        assert_eq!(p.payload_len(), 8);
        assert_eq!(p.next_header(), ip_proto::UDP);
        assert_eq!(p.hop_limit(), 64);
        assert_eq!(p.src_addr(), "2001:2::1".parse::<Ipv6Addr>().unwrap());
        assert_eq!(p.dst_addr(), "2001:2::2".parse::<Ipv6Addr>().unwrap());
        assert_eq!(p.payload(), &b[40..48]);
        let manual = checksum::pseudo_header_v6(p.src_addr(), p.dst_addr(), 17, 8);
        assert_eq!(p.pseudo_header_sum(), manual);
    }

    #[test]
    fn impossible_lengths() {
        let b = packet();
        assert_eq!(
            Ipv6Packet::new_checked(&b[..39]).unwrap_err(),
            Error::Truncated
        );
        assert_eq!(
            Ipv6Packet::new_checked(&b[..47]).unwrap_err(),
            Error::Truncated
        );
        let mut v4 = b;
        v4[0] = 0x45;
        assert_eq!(
            Ipv6Packet::new_checked(&v4[..]).unwrap_err(),
            Error::Malformed
        );
        let mut long = b;
        long[4] = 0xff;
        assert_eq!(
            Ipv6Packet::new_checked(&long[..]).unwrap_err(),
            Error::Truncated
        );
    }

    #[test]
    fn setters_round_trip() {
        let mut b = [0u8; 44];
        let mut p = Ipv6Packet::new_unchecked(&mut b[..]);
        p.set_version();
        p.set_traffic_class(0x12);
        p.set_flow_label(0xfffff);
        p.set_payload_len(4);
        p.set_next_header(ip_proto::TCP);
        p.set_hop_limit(3);
        p.set_src_addr("2001:2::a".parse().unwrap());
        p.set_dst_addr("2001:2::b".parse().unwrap());
        p.payload_mut().copy_from_slice(b"wxyz");
        let p = Ipv6Packet::new_checked(&b[..]).unwrap();
        assert_eq!(
            (p.version(), p.traffic_class(), p.flow_label()),
            (6, 0x12, 0xfffff)
        );
        assert_eq!((p.payload_len(), p.next_header(), p.hop_limit()), (4, 6, 3));
        assert_eq!(p.src_addr(), "2001:2::a".parse::<Ipv6Addr>().unwrap());
        assert_eq!(p.dst_addr(), "2001:2::b".parse::<Ipv6Addr>().unwrap());
        assert_eq!(p.payload(), b"wxyz");
    }
}
