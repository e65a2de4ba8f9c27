//! ICMPv6 (RFC 4443): type, code and checksum only for now.

use std::net::Ipv6Addr;

use super::bytes::{read_u16, write_u16};
use super::error::Error;
use super::{checksum, ip_proto};

/// ICMPv6 message types rvs will read or send.
pub mod msg_type {
    /// Destination unreachable.
    pub const DST_UNREACHABLE: u8 = 1;
    /// Packet too big (the IPv6 "fragmentation needed").
    pub const PACKET_TOO_BIG: u8 = 2;
    /// Time exceeded.
    pub const TIME_EXCEEDED: u8 = 3;
    /// Parameter problem.
    pub const PARAM_PROBLEM: u8 = 4;
    /// Echo request.
    pub const ECHO_REQUEST: u8 = 128;
    /// Echo reply.
    pub const ECHO_REPLY: u8 = 129;
    /// Neighbour solicitation (NDP).
    pub const NEIGHBOR_SOLICIT: u8 = 135;
    /// Neighbour advertisement (NDP).
    pub const NEIGHBOR_ADVERT: u8 = 136;
}

mod field {
    use core::ops::{Range, RangeFrom};
    pub const TYPE: usize = 0;
    pub const CODE: usize = 1;
    pub const CHECKSUM: Range<usize> = 2..4;
    pub const DATA: RangeFrom<usize> = 4..;
}

/// Length of the common ICMPv6 header (type, code, checksum).
pub const HEADER_LEN: usize = field::DATA.start;

/// A read/write view of an ICMPv6 message (the upper-layer payload).
#[derive(Debug, Clone)]
pub struct Icmpv6Packet<T: AsRef<[u8]>> {
    buffer: T,
}

impl<T: AsRef<[u8]>> Icmpv6Packet<T> {
    /// Wrap `buffer` without checking it.
    pub const fn new_unchecked(buffer: T) -> Self {
        Icmpv6Packet { buffer }
    }

    /// Wrap `buffer`, checking it holds the 4-byte common header.
    pub fn new_checked(buffer: T) -> Result<Self, Error> {
        let p = Self::new_unchecked(buffer);
        p.check_len()?;
        Ok(p)
    }

    /// `Ok` when no accessor can panic.
    pub fn check_len(&self) -> Result<(), Error> {
        if self.buffer.as_ref().len() < HEADER_LEN {
            return Err(Error::Truncated);
        }
        Ok(())
    }

    /// The wrapped buffer.
    pub fn into_inner(self) -> T {
        self.buffer
    }

    /// Message type (see [`msg_type`]).
    pub fn msg_type(&self) -> u8 {
        self.buffer.as_ref()[field::TYPE]
    }

    /// Message code.
    pub fn msg_code(&self) -> u8 {
        self.buffer.as_ref()[field::CODE]
    }

    /// The checksum field.
    pub fn checksum(&self) -> u16 {
        read_u16(&self.buffer.as_ref()[field::CHECKSUM])
    }

    /// The message body after the common header.
    pub fn payload(&self) -> &[u8] {
        &self.buffer.as_ref()[field::DATA]
    }

    /// True when the checksum over the whole buffer, pseudo-header included, is right.
    pub fn verify_checksum(&self, src: Ipv6Addr, dst: Ipv6Addr) -> bool {
        let b = self.buffer.as_ref();
        let ph = checksum::pseudo_header_v6(src, dst, ip_proto::ICMPV6, b.len() as u32);
        checksum::combine(&[ph, checksum::data(b)]) == 0xFFFF
    }
}

impl<T: AsRef<[u8]> + AsMut<[u8]>> Icmpv6Packet<T> {
    /// Set the message type.
    pub fn set_msg_type(&mut self, v: u8) {
        self.buffer.as_mut()[field::TYPE] = v
    }

    /// Set the message code.
    pub fn set_msg_code(&mut self, v: u8) {
        self.buffer.as_mut()[field::CODE] = v
    }

    /// Set the checksum field.
    pub fn set_checksum(&mut self, v: u16) {
        write_u16(&mut self.buffer.as_mut()[field::CHECKSUM], v)
    }

    /// The message body, writable.
    pub fn payload_mut(&mut self) -> &mut [u8] {
        &mut self.buffer.as_mut()[field::DATA]
    }

    /// Compute the checksum over the whole buffer with the IPv6 pseudo-header.
    pub fn fill_checksum(&mut self, src: Ipv6Addr, dst: Ipv6Addr) {
        self.set_checksum(0);
        let b = self.buffer.as_ref();
        let ph = checksum::pseudo_header_v6(src, dst, ip_proto::ICMPV6, b.len() as u32);
        let c = !checksum::combine(&[ph, checksum::data(b)]);
        self.set_checksum(c);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn echo_request_checksum() {
        let src: Ipv6Addr = "2001:2::1".parse().unwrap();
        let dst: Ipv6Addr = "2001:2::2".parse().unwrap();
        // Echo request, id 1, seq 2, data "hi".
        let mut b = [128, 0, 0, 0, 0, 1, 0, 2, b'h', b'i'];
        let mut p = Icmpv6Packet::new_checked(&mut b[..]).unwrap();
        p.fill_checksum(src, dst);
        assert!(p.verify_checksum(src, dst));
        // (Swapping src and dst would not change the sum: one's-complement addition
        // commutes.)
        assert!(!p.verify_checksum(src, "2001:2::3".parse().unwrap()));
        // Independent computation over an explicit pseudo-header + message.
        let mut whole = [0u8; 50];
        whole[..16].copy_from_slice(&src.octets());
        whole[16..32].copy_from_slice(&dst.octets());
        whole[35] = 10;
        whole[39] = 58;
        whole[40..].copy_from_slice(&b);
        assert_eq!(checksum::data(&whole), 0xFFFF);
        let p = Icmpv6Packet::new_checked(&b[..]).unwrap();
        assert_eq!((p.msg_type(), p.msg_code()), (msg_type::ECHO_REQUEST, 0));
        assert_eq!(p.payload(), &[0, 1, 0, 2, b'h', b'i']);
    }

    #[test]
    fn truncated() {
        assert_eq!(
            Icmpv6Packet::new_checked(&[128u8, 0, 0][..]).unwrap_err(),
            Error::Truncated
        );
        let mut b = [1u8, 4, 0, 0];
        let mut p = Icmpv6Packet::new_checked(&mut b[..]).unwrap();
        p.set_msg_type(msg_type::PACKET_TOO_BIG);
        p.set_msg_code(0);
        p.set_checksum(0xbeef);
        assert_eq!(b, [2, 0, 0xbe, 0xef]);
    }
}
