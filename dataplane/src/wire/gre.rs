//! GRE headers (RFC 2784, with RFC 2890's key and sequence number flags), as IPVS's
//! tunnel mode sends them (`gre_build_header`): version 0, the checksum field present
//! when asked, never a key or sequence number.
//!
//! ```text
//!  0                   1                   2                   3
//!  0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1
//! +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//! |C| |K|S|       Reserved0       | Ver |         Protocol Type         |
//! +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//! |      Checksum (optional)      |       Reserved1 (optional)    |
//! +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//! ```

use super::bytes::{read_u16, write_u16};
use super::checksum;
use super::error::Error;

mod field {
    use core::ops::Range;
    pub const FLAGS_VER: Range<usize> = 0..2;
    pub const PROTOCOL: Range<usize> = 2..4;
    pub const CHECKSUM: Range<usize> = 4..6;
    pub const RESERVED1: Range<usize> = 6..8;
}

/// Length of the GRE base header (flags, version, protocol type).
pub const HEADER_LEN: usize = field::PROTOCOL.end;
/// Length of the optional checksum field and the reserved half-word after it.
pub const CSUM_LEN: usize = field::RESERVED1.end - field::CHECKSUM.start;

/// Flag bits of the first half-word (`GRE_CSUM`, `GRE_KEY`, `GRE_SEQ`).
pub mod flags {
    /// The checksum field is present.
    pub const CSUM: u16 = 0x8000;
    /// A key field is present (RFC 2890).
    pub const KEY: u16 = 0x2000;
    /// A sequence number field is present (RFC 2890).
    pub const SEQ: u16 = 0x1000;
    /// The version bits.
    pub const VERSION_MASK: u16 = 0x0007;
}

/// A read/write view of a GRE header and what follows it.
#[derive(Debug, Clone)]
pub struct GrePacket<T: AsRef<[u8]>> {
    buffer: T,
}

impl<T: AsRef<[u8]>> GrePacket<T> {
    /// Wrap `buffer` without checking it.
    pub const fn new_unchecked(buffer: T) -> Self {
        GrePacket { buffer }
    }

    /// Wrap `buffer`, checking the lengths (see [`GrePacket::check_len`]).
    pub fn new_checked(buffer: T) -> Result<Self, Error> {
        let p = Self::new_unchecked(buffer);
        p.check_len()?;
        Ok(p)
    }

    /// `Ok` when no accessor can panic: the base header and the optional fields its flags
    /// announce are present.
    pub fn check_len(&self) -> Result<(), Error> {
        let len = self.buffer.as_ref().len();
        if len < HEADER_LEN || len < self.header_len() {
            return Err(Error::Truncated);
        }
        Ok(())
    }

    /// The wrapped buffer.
    pub fn into_inner(self) -> T {
        self.buffer
    }

    /// The first half-word: flags and version (see [`flags`]).
    pub fn flags_version(&self) -> u16 {
        read_u16(&self.buffer.as_ref()[field::FLAGS_VER])
    }

    /// Whether the checksum field is present. Reads the first byte only, so it may be
    /// asked of a quote cut after it.
    pub fn csum_present(&self) -> bool {
        self.buffer.as_ref()[field::FLAGS_VER.start] & (flags::CSUM >> 8) as u8 != 0
    }

    /// The GRE version (0).
    pub fn version(&self) -> u8 {
        (self.flags_version() & flags::VERSION_MASK) as u8
    }

    /// The protocol type of the payload (an Ethernet type).
    pub fn protocol(&self) -> u16 {
        read_u16(&self.buffer.as_ref()[field::PROTOCOL])
    }

    /// The checksum field, if present.
    pub fn checksum(&self) -> Option<u16> {
        self.csum_present()
            .then(|| read_u16(&self.buffer.as_ref()[field::CHECKSUM]))
    }

    /// Length of the header with its optional fields (checksum, key, sequence number).
    pub fn header_len(&self) -> usize {
        let f = self.flags_version();
        let opt = |flag: u16, len: usize| if f & flag != 0 { len } else { 0 };
        HEADER_LEN + opt(flags::CSUM, CSUM_LEN) + opt(flags::KEY, 4) + opt(flags::SEQ, 4)
    }

    /// True when the checksum is absent, or present and right over the whole buffer
    /// (header and payload).
    pub fn verify_checksum(&self) -> bool {
        !self.csum_present() || checksum::data(self.buffer.as_ref()) == 0xffff
    }

    /// The encapsulated packet, after the header and its optional fields.
    pub fn payload(&self) -> &[u8] {
        &self.buffer.as_ref()[self.header_len()..]
    }
}

impl<T: AsRef<[u8]> + AsMut<[u8]>> GrePacket<T> {
    /// Set the first half-word: flags and version (see [`flags`]).
    pub fn set_flags_version(&mut self, v: u16) {
        write_u16(&mut self.buffer.as_mut()[field::FLAGS_VER], v)
    }

    /// Set the protocol type.
    pub fn set_protocol(&mut self, v: u16) {
        write_u16(&mut self.buffer.as_mut()[field::PROTOCOL], v)
    }

    /// Set the checksum field (which the flags must announce).
    pub fn set_checksum(&mut self, v: u16) {
        write_u16(&mut self.buffer.as_mut()[field::CHECKSUM], v)
    }

    /// Set the reserved half-word after the checksum.
    pub fn set_reserved1(&mut self, v: u16) {
        write_u16(&mut self.buffer.as_mut()[field::RESERVED1], v)
    }

    /// Compute the checksum (present per the flags) over the header, with the reserved
    /// half-word 0, and the whole payload: the buffer must end where the packet does.
    pub fn fill_checksum(&mut self) {
        self.set_checksum(0);
        self.set_reserved1(0);
        let c = checksum::internet(self.buffer.as_ref());
        self.set_checksum(c);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn header_with_and_without_checksum() {
        let mut b = [0xffu8; 12];
        let mut g = GrePacket::new_unchecked(&mut b[..]);
        g.set_flags_version(0);
        g.set_protocol(0x0800);
        assert_eq!(&b[..4], &[0, 0, 8, 0]);
        let g = GrePacket::new_checked(&b[..]).unwrap();
        assert_eq!(
            (g.csum_present(), g.checksum(), g.version()),
            (false, None, 0)
        );
        assert_eq!((g.header_len(), g.protocol()), (4, 0x0800));
        assert!(g.verify_checksum());
        assert_eq!(g.payload(), &[0xff; 8]);

        let mut b = [0xffu8; 11];
        let mut g = GrePacket::new_unchecked(&mut b[..]);
        g.set_flags_version(flags::CSUM);
        g.set_protocol(0x86dd);
        g.fill_checksum();
        assert_eq!(&b[..2], &[0x80, 0]);
        assert_eq!(&b[6..8], &[0, 0], "reserved1");
        let g = GrePacket::new_checked(&b[..]).unwrap();
        assert_eq!((g.header_len(), g.payload().len()), (8, 3));
        assert!(g.verify_checksum());
        assert_eq!(checksum::data(&b), 0xffff);
        b[10] ^= 1;
        assert!(!GrePacket::new_unchecked(&b[..]).verify_checksum());
    }

    #[test]
    fn optional_fields_and_short_buffers() {
        let b = [0x30u8, 0, 0x88, 0xbe, 0, 0, 0, 1, 0, 0, 0, 2];
        let g = GrePacket::new_checked(&b[..]).unwrap();
        assert_eq!(g.header_len(), 12, "key and sequence number");
        assert_eq!(
            GrePacket::new_checked(&b[..11]).err(),
            Some(Error::Truncated)
        );
        assert_eq!(
            GrePacket::new_checked(&[0x80u8, 0, 8, 0][..]).err(),
            Some(Error::Truncated)
        );
        assert!(GrePacket::new_unchecked(&[0x80u8][..]).csum_present());
    }
}
