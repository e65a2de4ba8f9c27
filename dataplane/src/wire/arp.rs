//! ARP (RFC 826) for Ethernet/IPv4, the only combination rvs answers.

use std::net::Ipv4Addr;

use super::bytes::{read_ipv4, read_u16, write_u16};
use super::error::Error;
use super::ethernet::{EtherType, MacAddr};

/// The ARP operation field.
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub enum ArpOperation {
    /// Who has `target_protocol_addr`?
    Request,
    /// `source_protocol_addr` is at `source_hardware_addr`.
    Reply,
    /// Any other value (RARP, InARP...), kept so it round-trips.
    Unknown(u16),
}

impl From<u16> for ArpOperation {
    fn from(v: u16) -> Self {
        match v {
            1 => ArpOperation::Request,
            2 => ArpOperation::Reply,
            o => ArpOperation::Unknown(o),
        }
    }
}

impl From<ArpOperation> for u16 {
    fn from(op: ArpOperation) -> u16 {
        match op {
            ArpOperation::Request => 1,
            ArpOperation::Reply => 2,
            ArpOperation::Unknown(o) => o,
        }
    }
}

/// Hardware type for Ethernet.
pub const HTYPE_ETHERNET: u16 = 1;

mod field {
    use core::ops::Range;
    pub const HTYPE: Range<usize> = 0..2;
    pub const PTYPE: Range<usize> = 2..4;
    pub const HLEN: usize = 4;
    pub const PLEN: usize = 5;
    pub const OPER: Range<usize> = 6..8;
    // Offsets below hold for Ethernet/IPv4 (HLEN 6, PLEN 4), the only layout this view
    // accepts in `ArpRepr::parse`.
    pub const SHA: Range<usize> = 8..14;
    pub const SPA: Range<usize> = 14..18;
    pub const THA: Range<usize> = 18..24;
    pub const TPA: Range<usize> = 24..28;
}

/// Length of an Ethernet/IPv4 ARP packet.
pub const PACKET_LEN: usize = field::TPA.end;

/// A read/write view of an Ethernet/IPv4 ARP packet.
///
/// The address accessors use the fixed Ethernet/IPv4 offsets; check
/// [`ArpPacket::is_ethernet_ipv4`] (or use [`ArpRepr::parse`]) before trusting them.
#[derive(Debug, Clone)]
pub struct ArpPacket<T: AsRef<[u8]>> {
    buffer: T,
}

impl<T: AsRef<[u8]>> ArpPacket<T> {
    /// Wrap `buffer` without checking its length.
    pub const fn new_unchecked(buffer: T) -> Self {
        ArpPacket { buffer }
    }

    /// Wrap `buffer`, checking it holds a full Ethernet/IPv4 ARP packet.
    pub fn new_checked(buffer: T) -> Result<Self, Error> {
        let p = Self::new_unchecked(buffer);
        p.check_len()?;
        Ok(p)
    }

    /// `Ok` when no accessor can panic (the buffer holds at least 28 bytes; trailing
    /// Ethernet padding is allowed).
    pub fn check_len(&self) -> Result<(), Error> {
        if self.buffer.as_ref().len() < PACKET_LEN {
            return Err(Error::Truncated);
        }
        Ok(())
    }

    /// The wrapped buffer.
    pub fn into_inner(self) -> T {
        self.buffer
    }

    /// Hardware type (1 = Ethernet).
    pub fn hardware_type(&self) -> u16 {
        read_u16(&self.buffer.as_ref()[field::HTYPE])
    }

    /// Protocol type (an EtherType; 0x0800 = IPv4).
    pub fn protocol_type(&self) -> EtherType {
        EtherType(read_u16(&self.buffer.as_ref()[field::PTYPE]))
    }

    /// Hardware address length.
    pub fn hardware_len(&self) -> u8 {
        self.buffer.as_ref()[field::HLEN]
    }

    /// Protocol address length.
    pub fn protocol_len(&self) -> u8 {
        self.buffer.as_ref()[field::PLEN]
    }

    /// True when the fixed header says Ethernet/IPv4 with 6/4-byte addresses.
    pub fn is_ethernet_ipv4(&self) -> bool {
        self.hardware_type() == HTYPE_ETHERNET
            && self.protocol_type() == EtherType::IPV4
            && self.hardware_len() == 6
            && self.protocol_len() == 4
    }

    /// The operation.
    pub fn operation(&self) -> ArpOperation {
        read_u16(&self.buffer.as_ref()[field::OPER]).into()
    }

    /// Sender hardware address.
    pub fn source_hardware_addr(&self) -> MacAddr {
        MacAddr::from_bytes(&self.buffer.as_ref()[field::SHA])
    }

    /// Sender protocol address.
    pub fn source_protocol_addr(&self) -> Ipv4Addr {
        read_ipv4(&self.buffer.as_ref()[field::SPA])
    }

    /// Target hardware address.
    pub fn target_hardware_addr(&self) -> MacAddr {
        MacAddr::from_bytes(&self.buffer.as_ref()[field::THA])
    }

    /// Target protocol address.
    pub fn target_protocol_addr(&self) -> Ipv4Addr {
        read_ipv4(&self.buffer.as_ref()[field::TPA])
    }
}

impl<T: AsRef<[u8]> + AsMut<[u8]>> ArpPacket<T> {
    /// Set the hardware type.
    pub fn set_hardware_type(&mut self, v: u16) {
        write_u16(&mut self.buffer.as_mut()[field::HTYPE], v)
    }

    /// Set the protocol type.
    pub fn set_protocol_type(&mut self, v: EtherType) {
        write_u16(&mut self.buffer.as_mut()[field::PTYPE], v.0)
    }

    /// Set the hardware address length.
    pub fn set_hardware_len(&mut self, v: u8) {
        self.buffer.as_mut()[field::HLEN] = v
    }

    /// Set the protocol address length.
    pub fn set_protocol_len(&mut self, v: u8) {
        self.buffer.as_mut()[field::PLEN] = v
    }

    /// Set the operation.
    pub fn set_operation(&mut self, op: ArpOperation) {
        write_u16(&mut self.buffer.as_mut()[field::OPER], op.into())
    }

    /// Set the sender hardware address.
    pub fn set_source_hardware_addr(&mut self, a: MacAddr) {
        self.buffer.as_mut()[field::SHA].copy_from_slice(&a.0)
    }

    /// Set the sender protocol address.
    pub fn set_source_protocol_addr(&mut self, a: Ipv4Addr) {
        self.buffer.as_mut()[field::SPA].copy_from_slice(&a.octets())
    }

    /// Set the target hardware address.
    pub fn set_target_hardware_addr(&mut self, a: MacAddr) {
        self.buffer.as_mut()[field::THA].copy_from_slice(&a.0)
    }

    /// Set the target protocol address.
    pub fn set_target_protocol_addr(&mut self, a: Ipv4Addr) {
        self.buffer.as_mut()[field::TPA].copy_from_slice(&a.octets())
    }

    /// Turn a request in this buffer into the reply that `local_mac` sends for the
    /// requested address: sender and target swap, the sender MAC becomes `local_mac`.
    ///
    /// Returns [`Error::Unsupported`] for anything but an Ethernet/IPv4 request. The caller
    /// decides whether the target address is one it answers for, and fixes the Ethernet
    /// header (destination = the requester, source = `local_mac`).
    pub fn make_reply_in_place(&mut self, local_mac: MacAddr) -> Result<(), Error> {
        if !self.is_ethernet_ipv4() || self.operation() != ArpOperation::Request {
            return Err(Error::Unsupported);
        }
        let requester_mac = self.source_hardware_addr();
        let requester_ip = self.source_protocol_addr();
        let wanted_ip = self.target_protocol_addr();
        self.set_operation(ArpOperation::Reply);
        self.set_source_hardware_addr(local_mac);
        self.set_source_protocol_addr(wanted_ip);
        self.set_target_hardware_addr(requester_mac);
        self.set_target_protocol_addr(requester_ip);
        Ok(())
    }
}

/// The fields of an Ethernet/IPv4 ARP packet that rvs reads and builds.
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub struct ArpRepr {
    /// Request or reply.
    pub operation: ArpOperation,
    /// Sender MAC.
    pub source_hardware_addr: MacAddr,
    /// Sender IPv4 address.
    pub source_protocol_addr: Ipv4Addr,
    /// Target MAC (zero in requests).
    pub target_hardware_addr: MacAddr,
    /// Target IPv4 address.
    pub target_protocol_addr: Ipv4Addr,
}

impl ArpRepr {
    /// Parse a checked packet; [`Error::Unsupported`] for anything but Ethernet/IPv4.
    pub fn parse<T: AsRef<[u8]>>(p: &ArpPacket<T>) -> Result<ArpRepr, Error> {
        p.check_len()?;
        if !p.is_ethernet_ipv4() {
            return Err(Error::Unsupported);
        }
        Ok(ArpRepr {
            operation: p.operation(),
            source_hardware_addr: p.source_hardware_addr(),
            source_protocol_addr: p.source_protocol_addr(),
            target_hardware_addr: p.target_hardware_addr(),
            target_protocol_addr: p.target_protocol_addr(),
        })
    }

    /// Bytes [`ArpRepr::emit`] writes.
    pub const fn buffer_len(&self) -> usize {
        PACKET_LEN
    }

    /// Write the whole packet (fixed header included).
    ///
    /// # Panics
    /// If the buffer is shorter than [`ArpRepr::buffer_len`].
    pub fn emit<T: AsRef<[u8]> + AsMut<[u8]>>(&self, p: &mut ArpPacket<T>) {
        p.set_hardware_type(HTYPE_ETHERNET);
        p.set_protocol_type(EtherType::IPV4);
        p.set_hardware_len(6);
        p.set_protocol_len(4);
        p.set_operation(self.operation);
        p.set_source_hardware_addr(self.source_hardware_addr);
        p.set_source_protocol_addr(self.source_protocol_addr);
        p.set_target_hardware_addr(self.target_hardware_addr);
        p.set_target_protocol_addr(self.target_protocol_addr);
    }

    /// The reply that `local_mac` sends to this request.
    pub fn reply(&self, local_mac: MacAddr) -> ArpRepr {
        ArpRepr {
            operation: ArpOperation::Reply,
            source_hardware_addr: local_mac,
            source_protocol_addr: self.target_protocol_addr,
            target_hardware_addr: self.source_hardware_addr,
            target_protocol_addr: self.source_protocol_addr,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Who has 198.18.0.1? Tell 198.18.0.2 (02:00:00:00:00:02).
    const REQUEST: [u8; 28] = [
        0x00, 0x01, 0x08, 0x00, 0x06, 0x04, 0x00, 0x01, // Ethernet/IPv4, request
        0x02, 0x00, 0x00, 0x00, 0x00, 0x02, 198, 18, 0, 2, // sender
        0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 198, 18, 0, 1, // target
    ];

    /// 198.18.0.1 is at 02:00:00:00:00:01, to 198.18.0.2.
    const REPLY: [u8; 28] = [
        0x00, 0x01, 0x08, 0x00, 0x06, 0x04, 0x00, 0x02, // Ethernet/IPv4, reply
        0x02, 0x00, 0x00, 0x00, 0x00, 0x01, 198, 18, 0, 1, // sender
        0x02, 0x00, 0x00, 0x00, 0x00, 0x02, 198, 18, 0, 2, // target
    ];

    const LOCAL: MacAddr = MacAddr([2, 0, 0, 0, 0, 1]);

    #[test]
    fn parse_request() {
        let p = ArpPacket::new_checked(&REQUEST[..]).unwrap();
        let r = ArpRepr::parse(&p).unwrap();
        assert_eq!(r.operation, ArpOperation::Request);
        assert_eq!(r.source_hardware_addr, MacAddr([2, 0, 0, 0, 0, 2]));
        assert_eq!(r.source_protocol_addr, Ipv4Addr::new(198, 18, 0, 2));
        assert_eq!(r.target_hardware_addr, MacAddr::ZERO);
        assert_eq!(r.target_protocol_addr, Ipv4Addr::new(198, 18, 0, 1));
    }

    #[test]
    fn emit_reply_matches_fixed_bytes() {
        let req = ArpRepr::parse(&ArpPacket::new_checked(&REQUEST[..]).unwrap()).unwrap();
        let mut buf = [0xaau8; 28];
        req.reply(LOCAL)
            .emit(&mut ArpPacket::new_unchecked(&mut buf[..]));
        assert_eq!(buf, REPLY);
    }

    #[test]
    fn reply_in_place() {
        let mut buf = REQUEST;
        ArpPacket::new_checked(&mut buf[..])
            .unwrap()
            .make_reply_in_place(LOCAL)
            .unwrap();
        assert_eq!(buf, REPLY);
        // A reply is not turned into another reply.
        let err = ArpPacket::new_checked(&mut buf[..])
            .unwrap()
            .make_reply_in_place(LOCAL);
        assert_eq!(err, Err(Error::Unsupported));
        assert_eq!(buf, REPLY);
    }

    #[test]
    fn truncated_and_unsupported() {
        assert_eq!(
            ArpPacket::new_checked(&REQUEST[..27]).unwrap_err(),
            Error::Truncated
        );
        let mut ipx = REQUEST;
        ipx[5] = 16; // protocol length 16: not IPv4
        let p = ArpPacket::new_checked(&ipx[..]).unwrap();
        assert_eq!(ArpRepr::parse(&p), Err(Error::Unsupported));
        let mut tr = REQUEST;
        tr[1] = 6; // IEEE 802 hardware type
        let p = ArpPacket::new_checked(&tr[..]).unwrap();
        assert_eq!(ArpRepr::parse(&p), Err(Error::Unsupported));
    }

    #[test]
    fn unknown_operation_round_trips() {
        let mut b = REQUEST;
        b[7] = 9;
        let r = ArpRepr::parse(&ArpPacket::new_checked(&b[..]).unwrap()).unwrap();
        assert_eq!(r.operation, ArpOperation::Unknown(9));
        let mut out = [0u8; 28];
        r.emit(&mut ArpPacket::new_unchecked(&mut out[..]));
        assert_eq!(out, b);
    }
}
