//! TCP headers (RFC 9293).

use core::fmt;
use core::ops::{BitOr, BitOrAssign};
use std::net::{Ipv4Addr, Ipv6Addr};

use super::bytes::{read_u16, read_u32, write_u16, write_u32};
use super::error::Error;
use super::{checksum, ip_proto};

mod field {
    use core::ops::Range;
    pub const SRC_PORT: Range<usize> = 0..2;
    pub const DST_PORT: Range<usize> = 2..4;
    pub const SEQ_NUM: Range<usize> = 4..8;
    pub const ACK_NUM: Range<usize> = 8..12;
    pub const DATA_OFF: usize = 12;
    pub const FLAGS: usize = 13;
    pub const WIN_SIZE: Range<usize> = 14..16;
    pub const CHECKSUM: Range<usize> = 16..18;
    pub const URGENT: Range<usize> = 18..20;
}

/// Length of a TCP header without options.
pub const HEADER_LEN: usize = field::URGENT.end;
/// Offset of the checksum field, for the in-place rewrite code.
pub(crate) const CHECKSUM_OFFSET: usize = field::CHECKSUM.start;

/// The TCP control bits (the low byte of the flags word).
#[derive(Copy, Clone, PartialEq, Eq, Hash, Default)]
pub struct TcpFlags(u8);

impl TcpFlags {
    /// No more data from sender.
    pub const FIN: TcpFlags = TcpFlags(0x01);
    /// Synchronise sequence numbers.
    pub const SYN: TcpFlags = TcpFlags(0x02);
    /// Reset the connection.
    pub const RST: TcpFlags = TcpFlags(0x04);
    /// Push.
    pub const PSH: TcpFlags = TcpFlags(0x08);
    /// Acknowledgement field is significant.
    pub const ACK: TcpFlags = TcpFlags(0x10);
    /// Urgent pointer is significant.
    pub const URG: TcpFlags = TcpFlags(0x20);
    /// ECN echo.
    pub const ECE: TcpFlags = TcpFlags(0x40);
    /// Congestion window reduced.
    pub const CWR: TcpFlags = TcpFlags(0x80);

    /// Flags from the raw byte.
    pub const fn from_bits(bits: u8) -> Self {
        TcpFlags(bits)
    }
    /// The raw byte.
    pub const fn bits(self) -> u8 {
        self.0
    }
    /// True when every flag in `other` is set.
    pub const fn contains(self, other: TcpFlags) -> bool {
        self.0 & other.0 == other.0
    }
    /// FIN set.
    pub const fn fin(self) -> bool {
        self.contains(Self::FIN)
    }
    /// SYN set.
    pub const fn syn(self) -> bool {
        self.contains(Self::SYN)
    }
    /// RST set.
    pub const fn rst(self) -> bool {
        self.contains(Self::RST)
    }
    /// PSH set.
    pub const fn psh(self) -> bool {
        self.contains(Self::PSH)
    }
    /// ACK set.
    pub const fn ack(self) -> bool {
        self.contains(Self::ACK)
    }
    /// URG set.
    pub const fn urg(self) -> bool {
        self.contains(Self::URG)
    }
}

impl BitOr for TcpFlags {
    type Output = TcpFlags;
    fn bitor(self, rhs: TcpFlags) -> TcpFlags {
        TcpFlags(self.0 | rhs.0)
    }
}

impl BitOrAssign for TcpFlags {
    fn bitor_assign(&mut self, rhs: TcpFlags) {
        self.0 |= rhs.0
    }
}

impl fmt::Debug for TcpFlags {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(self, f)
    }
}

/// tcpdump-style: `S`, `S.`, `F.`, `R`, `P.`...
impl fmt::Display for TcpFlags {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        const NAMES: [(TcpFlags, char); 8] = [
            (TcpFlags::SYN, 'S'),
            (TcpFlags::FIN, 'F'),
            (TcpFlags::RST, 'R'),
            (TcpFlags::PSH, 'P'),
            (TcpFlags::URG, 'U'),
            (TcpFlags::ECE, 'E'),
            (TcpFlags::CWR, 'W'),
            (TcpFlags::ACK, '.'),
        ];
        if self.0 == 0 {
            return f.write_str("none");
        }
        for (flag, c) in NAMES {
            if self.contains(flag) {
                write!(f, "{c}")?;
            }
        }
        Ok(())
    }
}

/// A read/write view of a TCP segment (the IP payload: header, options, data).
#[derive(Debug, Clone)]
pub struct TcpPacket<T: AsRef<[u8]>> {
    buffer: T,
}

impl<T: AsRef<[u8]>> TcpPacket<T> {
    /// Wrap `buffer` without checking it.
    pub const fn new_unchecked(buffer: T) -> Self {
        TcpPacket { buffer }
    }

    /// Wrap `buffer`, checking the header fits (see [`TcpPacket::check_len`]).
    pub fn new_checked(buffer: T) -> Result<Self, Error> {
        let p = Self::new_unchecked(buffer);
        p.check_len()?;
        Ok(p)
    }

    /// `Ok` when no accessor can panic: 20 bytes present, data offset at least 5 words
    /// and the header (options included) within the buffer.
    pub fn check_len(&self) -> Result<(), Error> {
        let len = self.buffer.as_ref().len();
        if len < HEADER_LEN {
            return Err(Error::Truncated);
        }
        let hl = self.header_len();
        if hl < HEADER_LEN {
            return Err(Error::Malformed);
        }
        if hl > len {
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

    /// Sequence number.
    pub fn seq_number(&self) -> u32 {
        read_u32(&self.buffer.as_ref()[field::SEQ_NUM])
    }

    /// Acknowledgement number.
    pub fn ack_number(&self) -> u32 {
        read_u32(&self.buffer.as_ref()[field::ACK_NUM])
    }

    /// Header length in bytes (data offset * 4).
    pub fn header_len(&self) -> usize {
        usize::from(self.buffer.as_ref()[field::DATA_OFF] >> 4) * 4
    }

    /// The control bits.
    pub fn flags(&self) -> TcpFlags {
        TcpFlags(self.buffer.as_ref()[field::FLAGS])
    }

    /// Window size (unscaled).
    pub fn window_len(&self) -> u16 {
        read_u16(&self.buffer.as_ref()[field::WIN_SIZE])
    }

    /// The checksum field.
    pub fn checksum(&self) -> u16 {
        read_u16(&self.buffer.as_ref()[field::CHECKSUM])
    }

    /// Urgent pointer.
    pub fn urgent_at(&self) -> u16 {
        read_u16(&self.buffer.as_ref()[field::URGENT])
    }

    /// The options bytes (empty when the data offset is 5).
    pub fn options(&self) -> &[u8] {
        &self.buffer.as_ref()[HEADER_LEN..self.header_len()]
    }

    /// The data after the header, to the end of the buffer; pass a buffer that ends where
    /// the IP payload ends (e.g. `Ipv4Packet::payload`).
    pub fn payload(&self) -> &[u8] {
        &self.buffer.as_ref()[self.header_len()..]
    }

    /// True when the checksum over the whole buffer, with the IPv4 pseudo-header, is right.
    pub fn verify_checksum_v4(&self, src: Ipv4Addr, dst: Ipv4Addr) -> bool {
        let b = self.buffer.as_ref();
        let Ok(len) = u16::try_from(b.len()) else {
            return false;
        };
        let ph = checksum::pseudo_header_v4(src, dst, ip_proto::TCP, len);
        checksum::combine(&[ph, checksum::data(b)]) == 0xFFFF
    }

    /// True when the checksum over the whole buffer, with the IPv6 pseudo-header, is right.
    pub fn verify_checksum_v6(&self, src: Ipv6Addr, dst: Ipv6Addr) -> bool {
        let b = self.buffer.as_ref();
        let ph = checksum::pseudo_header_v6(src, dst, ip_proto::TCP, b.len() as u32);
        checksum::combine(&[ph, checksum::data(b)]) == 0xFFFF
    }
}

impl<T: AsRef<[u8]> + AsMut<[u8]>> TcpPacket<T> {
    /// Set the source port (the checksum is not updated).
    pub fn set_src_port(&mut self, v: u16) {
        write_u16(&mut self.buffer.as_mut()[field::SRC_PORT], v)
    }

    /// Set the destination port (the checksum is not updated).
    pub fn set_dst_port(&mut self, v: u16) {
        write_u16(&mut self.buffer.as_mut()[field::DST_PORT], v)
    }

    /// Set the sequence number.
    pub fn set_seq_number(&mut self, v: u32) {
        write_u32(&mut self.buffer.as_mut()[field::SEQ_NUM], v)
    }

    /// Set the acknowledgement number.
    pub fn set_ack_number(&mut self, v: u32) {
        write_u32(&mut self.buffer.as_mut()[field::ACK_NUM], v)
    }

    /// Set the header length in bytes (a multiple of 4, 20..=60); keeps the reserved bits.
    pub fn set_header_len(&mut self, len: usize) {
        let b = &mut self.buffer.as_mut()[field::DATA_OFF];
        *b = (*b & 0x0F) | (((len / 4) as u8) << 4);
    }

    /// Set the control bits.
    pub fn set_flags(&mut self, flags: TcpFlags) {
        self.buffer.as_mut()[field::FLAGS] = flags.0
    }

    /// Set the window size.
    pub fn set_window_len(&mut self, v: u16) {
        write_u16(&mut self.buffer.as_mut()[field::WIN_SIZE], v)
    }

    /// Set the checksum field.
    pub fn set_checksum(&mut self, v: u16) {
        write_u16(&mut self.buffer.as_mut()[field::CHECKSUM], v)
    }

    /// Set the urgent pointer.
    pub fn set_urgent_at(&mut self, v: u16) {
        write_u16(&mut self.buffer.as_mut()[field::URGENT], v)
    }

    /// The options bytes, writable.
    pub fn options_mut(&mut self) -> &mut [u8] {
        let hl = self.header_len();
        &mut self.buffer.as_mut()[HEADER_LEN..hl]
    }

    /// The data after the header, writable.
    pub fn payload_mut(&mut self) -> &mut [u8] {
        let hl = self.header_len();
        &mut self.buffer.as_mut()[hl..]
    }

    /// Compute the checksum over the whole buffer with the IPv4 pseudo-header.
    pub fn fill_checksum_v4(&mut self, src: Ipv4Addr, dst: Ipv4Addr) {
        self.set_checksum(0);
        let b = self.buffer.as_ref();
        let ph = checksum::pseudo_header_v4(src, dst, ip_proto::TCP, b.len() as u16);
        let c = !checksum::combine(&[ph, checksum::data(b)]);
        self.set_checksum(c);
    }

    /// Compute the checksum over the whole buffer with the IPv6 pseudo-header.
    pub fn fill_checksum_v6(&mut self, src: Ipv6Addr, dst: Ipv6Addr) {
        self.set_checksum(0);
        let b = self.buffer.as_ref();
        let ph = checksum::pseudo_header_v6(src, dst, ip_proto::TCP, b.len() as u32);
        let c = !checksum::combine(&[ph, checksum::data(b)]);
        self.set_checksum(c);
    }
}

/// Walk the TCP options in `ip[start..end]` (a header's options, found by the caller):
/// `f(kind, at, len)` for each one with a length, until the end-of-list option or one
/// whose length is malformed (shorter than 2 or past `end`).
pub(crate) fn each_option(
    ip: &[u8],
    start: usize,
    end: usize,
    mut f: impl FnMut(u8, usize, usize),
) {
    let mut i = start;
    while i < end {
        match ip[i] {
            0 => return,
            1 => i += 1,
            kind => {
                let Some(&len) = ip.get(i + 1) else {
                    return;
                };
                let len = usize::from(len);
                if len < 2 || i + len > end {
                    return;
                }
                f(kind, i, len);
                i += len;
            }
        }
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    /// A SYN 198.18.0.1:40000 -> 198.18.0.2:80 with MSS 1460 and SACK-permitted options,
    /// checksum included.
    pub(crate) const SYN: [u8; 28] = [
        0x9c, 0x40, 0x00, 0x50, // ports 40000 -> 80
        0x00, 0x00, 0x03, 0xe8, // seq 1000
        0x00, 0x00, 0x00, 0x00, // ack 0
        0x70, 0x02, 0xff, 0xff, // data offset 7, SYN, window 65535
        0x56, 0x7f, 0x00, 0x00, // checksum (computed with a script), urgent
        0x02, 0x04, 0x05, 0xb4, // MSS 1460
        0x04, 0x02, 0x01, 0x01, // SACK permitted, NOP, NOP
    ];

    pub(crate) const SRC: Ipv4Addr = Ipv4Addr::new(198, 18, 0, 1);
    pub(crate) const DST: Ipv4Addr = Ipv4Addr::new(198, 18, 0, 2);

    #[test]
    fn parse_syn() {
        let p = TcpPacket::new_checked(&SYN[..]).unwrap();
        assert_eq!((p.src_port(), p.dst_port()), (40000, 80));
        assert_eq!((p.seq_number(), p.ack_number()), (1000, 0));
        assert_eq!(p.header_len(), 28);
        assert_eq!(p.flags(), TcpFlags::SYN);
        assert!(p.flags().syn() && !p.flags().ack() && !p.flags().fin() && !p.flags().rst());
        assert_eq!(p.window_len(), 65535);
        assert_eq!(p.urgent_at(), 0);
        assert_eq!(p.options(), &SYN[20..28]);
        assert!(p.payload().is_empty());
        assert!(p.verify_checksum_v4(SRC, DST));
        assert!(!p.verify_checksum_v4(SRC, Ipv4Addr::new(198, 18, 0, 3)));
    }

    #[test]
    fn fill_checksum_matches_fixed_bytes() {
        let mut b = SYN;
        b[16] = 0;
        b[17] = 0;
        TcpPacket::new_unchecked(&mut b[..]).fill_checksum_v4(SRC, DST);
        assert_eq!(b, SYN);
    }

    #[test]
    fn impossible_lengths() {
        assert_eq!(
            TcpPacket::new_checked(&SYN[..19]).unwrap_err(),
            Error::Truncated
        );
        // Options run past the buffer.
        assert_eq!(
            TcpPacket::new_checked(&SYN[..27]).unwrap_err(),
            Error::Truncated
        );
        let mut b = SYN;
        b[12] = 0x40; // data offset 4
        assert_eq!(
            TcpPacket::new_checked(&b[..]).unwrap_err(),
            Error::Malformed
        );
        b[12] = 0x00;
        assert_eq!(
            TcpPacket::new_checked(&b[..]).unwrap_err(),
            Error::Malformed
        );
        b[12] = 0xf0; // 60 bytes > 28
        assert_eq!(
            TcpPacket::new_checked(&b[..]).unwrap_err(),
            Error::Truncated
        );
    }

    #[test]
    fn setters_round_trip() {
        let mut b = [0u8; 24];
        let mut p = TcpPacket::new_unchecked(&mut b[..]);
        p.set_src_port(1);
        p.set_dst_port(2);
        p.set_seq_number(0xdead_beef);
        p.set_ack_number(0x0102_0304);
        p.set_header_len(20);
        p.set_flags(TcpFlags::SYN | TcpFlags::ACK);
        p.set_window_len(512);
        p.set_urgent_at(3);
        p.payload_mut().copy_from_slice(b"data");
        let s6: Ipv6Addr = "2001:2::1".parse().unwrap();
        let d6: Ipv6Addr = "2001:2::2".parse().unwrap();
        p.fill_checksum_v6(s6, d6);
        let p = TcpPacket::new_checked(&b[..]).unwrap();
        assert_eq!((p.src_port(), p.dst_port()), (1, 2));
        assert_eq!((p.seq_number(), p.ack_number()), (0xdead_beef, 0x0102_0304));
        assert_eq!(p.flags().to_string(), "S.");
        assert!(p.flags().contains(TcpFlags::SYN | TcpFlags::ACK));
        assert_eq!((p.window_len(), p.urgent_at()), (512, 3));
        assert_eq!(p.payload(), b"data");
        assert!(p.verify_checksum_v6(s6, d6));
        assert!(!p.verify_checksum_v6(d6, d6));
    }

    #[test]
    fn flags_display() {
        assert_eq!(TcpFlags::default().to_string(), "none");
        assert_eq!((TcpFlags::FIN | TcpFlags::ACK).to_string(), "F.");
        assert_eq!(TcpFlags::RST.to_string(), "R");
        assert_eq!(TcpFlags::from_bits(0x18).bits(), 0x18);
        assert!(TcpFlags::from_bits(0x18).psh() && !TcpFlags::from_bits(0x18).urg());
    }
}
