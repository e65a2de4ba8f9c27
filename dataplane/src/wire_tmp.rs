//! TEMPORARY minimal packet views used by the pipeline until `wire` lands; same API names.
#![allow(missing_docs, dead_code)]

use std::net::Ipv4Addr;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct MacAddr(pub [u8; 6]);

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct EtherType(pub u16);
impl EtherType {
    pub const ARP: EtherType = EtherType(0x0806);
    pub const IPV4: EtherType = EtherType(0x0800);
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Error {
    Truncated,
    Malformed,
}

pub struct EthernetFrame<T>(T);
impl<T: AsRef<[u8]>> EthernetFrame<T> {
    pub fn new_unchecked(b: T) -> Self {
        EthernetFrame(b)
    }
    pub fn new_checked(b: T) -> Result<Self, Error> {
        if b.as_ref().len() < 14 {
            return Err(Error::Truncated);
        }
        Ok(EthernetFrame(b))
    }
    pub fn dst_addr(&self) -> MacAddr {
        MacAddr(self.0.as_ref()[0..6].try_into().unwrap())
    }
    pub fn src_addr(&self) -> MacAddr {
        MacAddr(self.0.as_ref()[6..12].try_into().unwrap())
    }
    pub fn ethertype(&self) -> EtherType {
        let b = self.0.as_ref();
        EtherType(u16::from_be_bytes([b[12], b[13]]))
    }
}
impl<T: AsRef<[u8]> + AsMut<[u8]>> EthernetFrame<T> {
    pub fn set_dst_addr(&mut self, m: MacAddr) {
        self.0.as_mut()[0..6].copy_from_slice(&m.0)
    }
    pub fn set_src_addr(&mut self, m: MacAddr) {
        self.0.as_mut()[6..12].copy_from_slice(&m.0)
    }
    pub fn set_ethertype(&mut self, e: EtherType) {
        self.0.as_mut()[12..14].copy_from_slice(&e.0.to_be_bytes())
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ArpOperation {
    Request,
    Reply,
    Unknown(u16),
}

pub struct ArpPacket<T>(T);
impl<T: AsRef<[u8]>> ArpPacket<T> {
    pub fn new_unchecked(b: T) -> Self {
        ArpPacket(b)
    }
    pub fn new_checked(b: T) -> Result<Self, Error> {
        if b.as_ref().len() < 28 {
            return Err(Error::Truncated);
        }
        Ok(ArpPacket(b))
    }
}
pub struct ArpRepr {
    pub operation: ArpOperation,
    pub source_hardware_addr: MacAddr,
    pub source_protocol_addr: Ipv4Addr,
    pub target_hardware_addr: MacAddr,
    pub target_protocol_addr: Ipv4Addr,
}
impl ArpRepr {
    pub fn parse<T: AsRef<[u8]>>(p: &ArpPacket<T>) -> Result<ArpRepr, Error> {
        let b = p.0.as_ref();
        if b[0..6] != [0, 1, 8, 0, 6, 4] {
            return Err(Error::Malformed);
        }
        let op = match u16::from_be_bytes([b[6], b[7]]) {
            1 => ArpOperation::Request,
            2 => ArpOperation::Reply,
            o => ArpOperation::Unknown(o),
        };
        Ok(ArpRepr {
            operation: op,
            source_hardware_addr: MacAddr(b[8..14].try_into().unwrap()),
            source_protocol_addr: Ipv4Addr::new(b[14], b[15], b[16], b[17]),
            target_hardware_addr: MacAddr(b[18..24].try_into().unwrap()),
            target_protocol_addr: Ipv4Addr::new(b[24], b[25], b[26], b[27]),
        })
    }
    pub fn emit<T: AsRef<[u8]> + AsMut<[u8]>>(&self, p: &mut ArpPacket<T>) {
        let b = p.0.as_mut();
        b[0..6].copy_from_slice(&[0, 1, 8, 0, 6, 4]);
        let op: u16 = match self.operation {
            ArpOperation::Request => 1,
            ArpOperation::Reply => 2,
            ArpOperation::Unknown(o) => o,
        };
        b[6..8].copy_from_slice(&op.to_be_bytes());
        b[8..14].copy_from_slice(&self.source_hardware_addr.0);
        b[14..18].copy_from_slice(&self.source_protocol_addr.octets());
        b[18..24].copy_from_slice(&self.target_hardware_addr.0);
        b[24..28].copy_from_slice(&self.target_protocol_addr.octets());
    }
}

fn csum_add(mut sum: u32, data: &[u8]) -> u32 {
    for c in data.chunks(2) {
        sum += if c.len() == 2 {
            u16::from_be_bytes([c[0], c[1]])
        } else {
            u16::from_be_bytes([c[0], 0])
        } as u32;
    }
    sum
}
fn fold(mut sum: u32) -> u16 {
    while sum > 0xffff {
        sum = (sum & 0xffff) + (sum >> 16);
    }
    sum as u16
}

pub struct Ipv4Packet<T>(T);
impl<T: AsRef<[u8]>> Ipv4Packet<T> {
    pub fn new_unchecked(b: T) -> Self {
        Ipv4Packet(b)
    }
    pub fn new_checked(b: T) -> Result<Self, Error> {
        let s = b.as_ref();
        if s.len() < 20 || s[0] >> 4 != 4 {
            return Err(Error::Malformed);
        }
        let hl = (s[0] & 0xf) as usize * 4;
        let tl = u16::from_be_bytes([s[2], s[3]]) as usize;
        if hl < 20 || hl > s.len() || tl < hl || tl > s.len() {
            return Err(Error::Malformed);
        }
        Ok(Ipv4Packet(b))
    }
    pub fn header_len(&self) -> usize {
        (self.0.as_ref()[0] & 0xf) as usize * 4
    }
    pub fn total_len(&self) -> usize {
        let s = self.0.as_ref();
        u16::from_be_bytes([s[2], s[3]]) as usize
    }
    pub fn verify_checksum(&self) -> bool {
        fold(csum_add(0, &self.0.as_ref()[..self.header_len()])) == 0xffff
    }
    pub fn is_fragment(&self) -> bool {
        let s = self.0.as_ref();
        (u16::from_be_bytes([s[6], s[7]]) & 0x3fff) != 0
    }
    pub fn protocol(&self) -> u8 {
        self.0.as_ref()[9]
    }
    pub fn src_addr(&self) -> Ipv4Addr {
        let s = self.0.as_ref();
        Ipv4Addr::new(s[12], s[13], s[14], s[15])
    }
    pub fn dst_addr(&self) -> Ipv4Addr {
        let s = self.0.as_ref();
        Ipv4Addr::new(s[16], s[17], s[18], s[19])
    }
    pub fn payload(&self) -> &[u8] {
        &self.0.as_ref()[self.header_len()..self.total_len()]
    }
}
impl<T: AsRef<[u8]> + AsMut<[u8]>> Ipv4Packet<T> {
    pub fn set_src_addr(&mut self, a: Ipv4Addr) {
        self.0.as_mut()[12..16].copy_from_slice(&a.octets())
    }
    pub fn set_dst_addr(&mut self, a: Ipv4Addr) {
        self.0.as_mut()[16..20].copy_from_slice(&a.octets())
    }
    pub fn set_ttl(&mut self, t: u8) {
        self.0.as_mut()[8] = t
    }
    pub fn fill_checksum(&mut self) {
        let hl = self.header_len();
        let b = self.0.as_mut();
        b[10] = 0;
        b[11] = 0;
        let c = !fold(csum_add(0, &b[..hl]));
        b[10..12].copy_from_slice(&c.to_be_bytes());
    }
}

#[derive(Clone, Copy)]
pub struct TcpFlags(u8);
impl TcpFlags {
    pub fn syn(&self) -> bool {
        self.0 & 2 != 0
    }
    pub fn fin(&self) -> bool {
        self.0 & 1 != 0
    }
    pub fn rst(&self) -> bool {
        self.0 & 4 != 0
    }
    pub fn ack(&self) -> bool {
        self.0 & 0x10 != 0
    }
}
pub struct TcpPacket<T>(T);
impl<T: AsRef<[u8]>> TcpPacket<T> {
    pub fn new_checked(b: T) -> Result<Self, Error> {
        let s = b.as_ref();
        if s.len() < 20 || ((s[12] >> 4) as usize) < 5 || ((s[12] >> 4) as usize) * 4 > s.len() {
            return Err(Error::Malformed);
        }
        Ok(TcpPacket(b))
    }
    pub fn src_port(&self) -> u16 {
        let s = self.0.as_ref();
        u16::from_be_bytes([s[0], s[1]])
    }
    pub fn dst_port(&self) -> u16 {
        let s = self.0.as_ref();
        u16::from_be_bytes([s[2], s[3]])
    }
    pub fn flags(&self) -> TcpFlags {
        TcpFlags(self.0.as_ref()[13])
    }
}
pub struct UdpPacket<T>(T);
impl<T: AsRef<[u8]>> UdpPacket<T> {
    pub fn new_checked(b: T) -> Result<Self, Error> {
        let s = b.as_ref();
        if s.len() < 8 {
            return Err(Error::Malformed);
        }
        let l = u16::from_be_bytes([s[4], s[5]]) as usize;
        if l < 8 || l > s.len() {
            return Err(Error::Malformed);
        }
        Ok(UdpPacket(b))
    }
    pub fn src_port(&self) -> u16 {
        let s = self.0.as_ref();
        u16::from_be_bytes([s[0], s[1]])
    }
    pub fn dst_port(&self) -> u16 {
        let s = self.0.as_ref();
        u16::from_be_bytes([s[2], s[3]])
    }
}
pub struct Icmpv4Packet<T>(T);
impl<T: AsRef<[u8]>> Icmpv4Packet<T> {
    pub fn new_unchecked(b: T) -> Self {
        Icmpv4Packet(b)
    }
    pub fn new_checked(b: T) -> Result<Self, Error> {
        if b.as_ref().len() < 8 {
            return Err(Error::Malformed);
        }
        Ok(Icmpv4Packet(b))
    }
    pub fn msg_type(&self) -> u8 {
        self.0.as_ref()[0]
    }
    pub fn msg_code(&self) -> u8 {
        self.0.as_ref()[1]
    }
}
impl<T: AsRef<[u8]> + AsMut<[u8]>> Icmpv4Packet<T> {
    pub fn set_msg_type(&mut self, t: u8) {
        self.0.as_mut()[0] = t
    }
    pub fn fill_checksum(&mut self) {
        let b = self.0.as_mut();
        b[2] = 0;
        b[3] = 0;
        let c = !fold(csum_add(0, b));
        b[2..4].copy_from_slice(&c.to_be_bytes());
    }
}

/// Incremental update (RFC 1624 eqn 3) of checksum field value `hc` for a 16-bit word m -> m2.
fn upd(hc: u16, m: u16, m2: u16) -> u16 {
    !fold(!hc as u32 + !m as u32 + m2 as u32)
}

fn rewrite(
    ip: &mut [u8],
    addr_off: usize,
    port_off: usize,
    addr: Ipv4Addr,
    port: u16,
) -> Result<(), Error> {
    let hl = (ip[0] & 0xf) as usize * 4;
    let proto = ip[9];
    let old_addr: [u8; 4] = ip[addr_off..addr_off + 4].try_into().unwrap();
    let new_addr = addr.octets();
    let mut ipc = u16::from_be_bytes([ip[10], ip[11]]);
    for i in [0, 2] {
        ipc = upd(
            ipc,
            u16::from_be_bytes([old_addr[i], old_addr[i + 1]]),
            u16::from_be_bytes([new_addr[i], new_addr[i + 1]]),
        );
    }
    ip[10..12].copy_from_slice(&ipc.to_be_bytes());
    ip[addr_off..addr_off + 4].copy_from_slice(&new_addr);
    let l4 = &mut ip[hl..];
    let coff = match proto {
        6 => 16,
        17 => 6,
        _ => return Err(Error::Malformed),
    };
    let old_port = u16::from_be_bytes([l4[port_off], l4[port_off + 1]]);
    l4[port_off..port_off + 2].copy_from_slice(&port.to_be_bytes());
    let mut c = u16::from_be_bytes([l4[coff], l4[coff + 1]]);
    if proto == 17 && c == 0 {
        return Ok(());
    }
    for i in [0, 2] {
        c = upd(
            c,
            u16::from_be_bytes([old_addr[i], old_addr[i + 1]]),
            u16::from_be_bytes([new_addr[i], new_addr[i + 1]]),
        );
    }
    c = upd(c, old_port, port);
    if proto == 17 && c == 0 {
        c = 0xffff;
    }
    l4[coff..coff + 2].copy_from_slice(&c.to_be_bytes());
    Ok(())
}

pub fn rewrite_dst(ip: &mut [u8], addr: Ipv4Addr, port: u16) -> Result<(), Error> {
    rewrite(ip, 16, 2, addr, port)
}
pub fn rewrite_src(ip: &mut [u8], addr: Ipv4Addr, port: u16) -> Result<(), Error> {
    rewrite(ip, 12, 0, addr, port)
}
pub fn decrement_ttl(ip: &mut [u8]) -> bool {
    if ip[8] <= 1 {
        return false;
    }
    let old = u16::from_be_bytes([ip[8], ip[9]]);
    ip[8] -= 1;
    let new = u16::from_be_bytes([ip[8], ip[9]]);
    let c = upd(u16::from_be_bytes([ip[10], ip[11]]), old, new);
    ip[10..12].copy_from_slice(&c.to_be_bytes());
    true
}
