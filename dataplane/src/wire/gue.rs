//! Generic UDP Encapsulation headers (GUE, draft-ietf-intarea-gue), as IPVS's tunnel
//! mode sends them (`ipvs_gue_encap`): the 4-byte base header that follows the UDP header,
//! version 0.
//!
//! ```text
//!  0                   1                   2                   3
//!  0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1
//! +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//! |Ver|C|  Hlen   |  Proto/ctype  |             Flags             |
//! +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//! ```

use super::bytes::{read_u16, write_u16};
use super::error::Error;

mod field {
    use core::ops::Range;
    pub const VER_C_HLEN: usize = 0;
    pub const PROTO_CTYPE: usize = 1;
    pub const FLAGS: Range<usize> = 2..4;
}

/// Length of the GUE base header (without extension fields).
pub const HEADER_LEN: usize = field::FLAGS.end;

const VERSION_SHIFT: u8 = 6;
const CONTROL: u8 = 0x20;
const HLEN_MASK: u8 = 0x1f;

/// A read/write view of a GUE header and what follows it.
#[derive(Debug, Clone)]
pub struct GuePacket<T: AsRef<[u8]>> {
    buffer: T,
}

impl<T: AsRef<[u8]>> GuePacket<T> {
    /// Wrap `buffer` without checking it.
    pub const fn new_unchecked(buffer: T) -> Self {
        GuePacket { buffer }
    }

    /// Wrap `buffer`, checking the lengths (see [`GuePacket::check_len`]).
    pub fn new_checked(buffer: T) -> Result<Self, Error> {
        let p = Self::new_unchecked(buffer);
        p.check_len()?;
        Ok(p)
    }

    /// `Ok` when no accessor can panic: the base header and the extension fields its
    /// `Hlen` announces are present.
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

    /// Version (0 for the header rvs sends; 1 means a bare IP packet, no GUE header).
    pub fn version(&self) -> u8 {
        self.buffer.as_ref()[field::VER_C_HLEN] >> VERSION_SHIFT
    }

    /// The C bit: a control message rather than a data packet.
    pub fn is_control(&self) -> bool {
        self.buffer.as_ref()[field::VER_C_HLEN] & CONTROL != 0
    }

    /// Length of the header with its extension fields, in bytes (4 + 4 * `Hlen`).
    pub fn header_len(&self) -> usize {
        HEADER_LEN + 4 * usize::from(self.buffer.as_ref()[field::VER_C_HLEN] & HLEN_MASK)
    }

    /// The IP protocol of the payload (data messages) or the control type.
    pub fn protocol(&self) -> u8 {
        self.buffer.as_ref()[field::PROTO_CTYPE]
    }

    /// The flags field.
    pub fn flags(&self) -> u16 {
        read_u16(&self.buffer.as_ref()[field::FLAGS])
    }

    /// The encapsulated packet, after the header and its extension fields.
    pub fn payload(&self) -> &[u8] {
        &self.buffer.as_ref()[self.header_len()..]
    }
}

impl<T: AsRef<[u8]> + AsMut<[u8]>> GuePacket<T> {
    /// Set version, C bit and `Hlen` (extension words) at once: the first byte whole.
    pub fn set_version_control_hlen(&mut self, version: u8, control: bool, hlen_words: u8) {
        let c = if control { CONTROL } else { 0 };
        self.buffer.as_mut()[field::VER_C_HLEN] =
            (version << VERSION_SHIFT) | c | (hlen_words & HLEN_MASK);
    }

    /// Set the payload's IP protocol (or the control type).
    pub fn set_protocol(&mut self, v: u8) {
        self.buffer.as_mut()[field::PROTO_CTYPE] = v
    }

    /// Set the flags field.
    pub fn set_flags(&mut self, v: u16) {
        write_u16(&mut self.buffer.as_mut()[field::FLAGS], v)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fields_round_trip() {
        let mut b = [0xffu8; 12];
        let mut g = GuePacket::new_unchecked(&mut b[..]);
        g.set_version_control_hlen(0, false, 0);
        g.set_protocol(41);
        g.set_flags(0);
        assert_eq!(&b[..4], &[0, 41, 0, 0]);
        let g = GuePacket::new_checked(&b[..]).unwrap();
        assert_eq!((g.version(), g.is_control(), g.header_len()), (0, false, 4));
        assert_eq!((g.protocol(), g.flags()), (41, 0));
        assert_eq!(g.payload(), &[0xff; 8]);

        let mut b = [0u8; 8];
        GuePacket::new_unchecked(&mut b[..]).set_version_control_hlen(1, true, 2);
        assert_eq!(b[0], 0x62);
        let g = GuePacket::new_unchecked(&b[..]);
        assert_eq!((g.version(), g.is_control(), g.header_len()), (1, true, 12));
        assert_eq!(
            g.check_len(),
            Err(Error::Truncated),
            "extension words missing"
        );
        assert_eq!(
            GuePacket::new_checked(&b[..3]).err(),
            Some(Error::Truncated)
        );
    }
}
