//! ICMP for IPv4 (RFC 792, RFC 1191 for "fragmentation needed").

use std::net::Ipv4Addr;

use super::bytes::{read_ipv4, read_u16, write_u16};
use super::error::Error;
use super::{checksum, ip_proto};

/// ICMPv4 message types rvs reads or sends.
pub mod msg_type {
    /// Echo reply.
    pub const ECHO_REPLY: u8 = 0;
    /// Destination unreachable.
    pub const DST_UNREACHABLE: u8 = 3;
    /// Redirect.
    pub const REDIRECT: u8 = 5;
    /// Echo request.
    pub const ECHO_REQUEST: u8 = 8;
    /// Time exceeded.
    pub const TIME_EXCEEDED: u8 = 11;
    /// Parameter problem.
    pub const PARAM_PROBLEM: u8 = 12;
}

/// Codes of "destination unreachable".
pub mod unreachable_code {
    /// Network unreachable.
    pub const NET: u8 = 0;
    /// Host unreachable.
    pub const HOST: u8 = 1;
    /// Protocol unreachable.
    pub const PROTOCOL: u8 = 2;
    /// Port unreachable.
    pub const PORT: u8 = 3;
    /// Fragmentation needed and DF set; carries the next-hop MTU (RFC 1191).
    pub const FRAG_NEEDED: u8 = 4;
    /// Communication administratively prohibited (RFC 1812).
    pub const ADMIN_PROHIBITED: u8 = 13;
}

/// Codes of "time exceeded".
pub mod time_exceeded_code {
    /// TTL exceeded in transit.
    pub const TTL: u8 = 0;
    /// Fragment reassembly time exceeded.
    pub const REASSEMBLY: u8 = 1;
}

mod field {
    use core::ops::{Range, RangeFrom};
    pub const TYPE: usize = 0;
    pub const CODE: usize = 1;
    pub const CHECKSUM: Range<usize> = 2..4;
    // Echo request/reply.
    pub const ECHO_IDENT: Range<usize> = 4..6;
    pub const ECHO_SEQNO: Range<usize> = 6..8;
    // Destination unreachable, code 4.
    pub const MTU: Range<usize> = 6..8;
    pub const DATA: RangeFrom<usize> = 8..;
}

/// Length of the ICMP header (type, code, checksum and the 4-byte rest-of-header).
pub const HEADER_LEN: usize = field::DATA.start;
/// Offset of the echo identifier, for the in-place rewrite code.
pub(crate) const ECHO_IDENT_OFFSET: usize = field::ECHO_IDENT.start;
/// Offset of the checksum field, for the in-place rewrite code.
pub(crate) const CHECKSUM_OFFSET: usize = field::CHECKSUM.start;

/// True for the error messages that quote the invoking packet.
pub fn is_error(ty: u8) -> bool {
    matches!(
        ty,
        msg_type::DST_UNREACHABLE
            | msg_type::REDIRECT
            | msg_type::TIME_EXCEEDED
            | msg_type::PARAM_PROBLEM
    )
}

/// A read/write view of an ICMPv4 message (the IP payload).
#[derive(Debug, Clone)]
pub struct Icmpv4Packet<T: AsRef<[u8]>> {
    buffer: T,
}

impl<T: AsRef<[u8]>> Icmpv4Packet<T> {
    /// Wrap `buffer` without checking it.
    pub const fn new_unchecked(buffer: T) -> Self {
        Icmpv4Packet { buffer }
    }

    /// Wrap `buffer`, checking it holds the 8-byte header.
    pub fn new_checked(buffer: T) -> Result<Self, Error> {
        let p = Self::new_unchecked(buffer);
        p.check_len()?;
        Ok(p)
    }

    /// `Ok` when no accessor can panic (the buffer holds the 8-byte header).
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

    /// True when the checksum over the whole buffer is right (pass exactly the IP
    /// payload, padding excluded).
    pub fn verify_checksum(&self) -> bool {
        checksum::data(self.buffer.as_ref()) == 0xFFFF
    }

    /// Echo identifier (meaningful for echo request/reply only).
    pub fn echo_ident(&self) -> u16 {
        read_u16(&self.buffer.as_ref()[field::ECHO_IDENT])
    }

    /// Echo sequence number (meaningful for echo request/reply only).
    pub fn echo_seq_no(&self) -> u16 {
        read_u16(&self.buffer.as_ref()[field::ECHO_SEQNO])
    }

    /// Next-hop MTU of "fragmentation needed" (0 from pre-RFC 1191 routers).
    pub fn next_hop_mtu(&self) -> u16 {
        read_u16(&self.buffer.as_ref()[field::MTU])
    }

    /// Everything after the 8-byte header: echo data, or for errors the invoking packet
    /// (its IP header and at least 8 bytes of its payload).
    pub fn data(&self) -> &[u8] {
        &self.buffer.as_ref()[field::DATA]
    }

    /// The addresses, protocol and ports of the packet an error message quotes.
    ///
    /// [`Error::Unsupported`] for non-error messages; [`Error::Truncated`] /
    /// [`Error::Malformed`] when the quote is too short or not IPv4.
    pub fn quoted(&self) -> Result<QuotedPacket, Error> {
        if !is_error(self.msg_type()) {
            return Err(Error::Unsupported);
        }
        QuotedPacket::parse(self.data())
    }
}

impl<T: AsRef<[u8]> + AsMut<[u8]>> Icmpv4Packet<T> {
    /// Set the message type (the checksum is not updated).
    pub fn set_msg_type(&mut self, v: u8) {
        self.buffer.as_mut()[field::TYPE] = v
    }

    /// Set the message code (the checksum is not updated).
    pub fn set_msg_code(&mut self, v: u8) {
        self.buffer.as_mut()[field::CODE] = v
    }

    /// Set the checksum field.
    pub fn set_checksum(&mut self, v: u16) {
        write_u16(&mut self.buffer.as_mut()[field::CHECKSUM], v)
    }

    /// Set the echo identifier.
    pub fn set_echo_ident(&mut self, v: u16) {
        write_u16(&mut self.buffer.as_mut()[field::ECHO_IDENT], v)
    }

    /// Set the echo sequence number.
    pub fn set_echo_seq_no(&mut self, v: u16) {
        write_u16(&mut self.buffer.as_mut()[field::ECHO_SEQNO], v)
    }

    /// Set the next-hop MTU (and zero the unused word before it).
    pub fn set_next_hop_mtu(&mut self, v: u16) {
        let b = self.buffer.as_mut();
        b[4] = 0;
        b[5] = 0;
        write_u16(&mut b[field::MTU], v)
    }

    /// Everything after the 8-byte header, writable.
    pub fn data_mut(&mut self) -> &mut [u8] {
        &mut self.buffer.as_mut()[field::DATA]
    }

    /// Recompute the checksum over the whole buffer.
    pub fn fill_checksum(&mut self) {
        self.set_checksum(0);
        let c = checksum::internet(self.buffer.as_ref());
        self.set_checksum(c);
    }
}

/// What an ICMP error quotes of the packet that caused it: enough to find the connection.
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub struct QuotedPacket {
    /// Source address of the invoking packet.
    pub src_addr: Ipv4Addr,
    /// Destination address of the invoking packet.
    pub dst_addr: Ipv4Addr,
    /// Its protocol.
    pub protocol: u8,
    /// Its IP header length (offset of the ports within the quote).
    pub header_len: usize,
    /// TCP/UDP source port, or the echo identifier for ICMP; 0 for other protocols.
    pub src_port: u16,
    /// TCP/UDP destination port, or the echo identifier for ICMP; 0 for other protocols.
    pub dst_port: u16,
}

impl QuotedPacket {
    /// Parse the quote: an IPv4 header (its `total_len` is the original length, so it is
    /// not checked against the quote) and at least 8 bytes of payload for TCP/UDP/ICMP.
    pub fn parse(quote: &[u8]) -> Result<QuotedPacket, Error> {
        if quote.len() < 20 {
            return Err(Error::Truncated);
        }
        if quote[0] >> 4 != 4 {
            return Err(Error::Malformed);
        }
        let hl = usize::from(quote[0] & 0x0F) * 4;
        if hl < 20 {
            return Err(Error::Malformed);
        }
        let protocol = quote[9];
        let (src_port, dst_port) = match protocol {
            ip_proto::TCP | ip_proto::UDP | ip_proto::ICMP => {
                // RFC 792 guarantees 8 bytes of the original payload.
                let l4 = quote.get(hl..hl + 8).ok_or(Error::Truncated)?;
                if protocol == ip_proto::ICMP {
                    let id = read_u16(&l4[field::ECHO_IDENT]);
                    (id, id)
                } else {
                    (read_u16(&l4[0..2]), read_u16(&l4[2..4]))
                }
            }
            _ => {
                if hl > quote.len() {
                    return Err(Error::Truncated);
                }
                (0, 0)
            }
        };
        Ok(QuotedPacket {
            src_addr: read_ipv4(&quote[12..16]),
            dst_addr: read_ipv4(&quote[16..20]),
            protocol,
            header_len: hl,
            src_port,
            dst_port,
        })
    }
}

/// How many bytes of `original` (an IPv4 packet starting at its header) an ICMP error
/// quotes: the header plus 8 bytes of payload (RFC 792), or less if the packet is shorter.
pub fn quote_len(original: &[u8]) -> usize {
    let hl = original.first().map_or(0, |b| usize::from(b & 0x0F) * 4);
    (hl + 8).min(original.len())
}

/// ICMPv4 messages rvs builds itself (echo replies, errors towards clients).
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub enum Icmpv4Repr<'a> {
    /// Echo request.
    EchoRequest {
        /// Identifier.
        ident: u16,
        /// Sequence number.
        seq_no: u16,
        /// Data, echoed back.
        data: &'a [u8],
    },
    /// Echo reply.
    EchoReply {
        /// Identifier.
        ident: u16,
        /// Sequence number.
        seq_no: u16,
        /// Data of the request.
        data: &'a [u8],
    },
    /// Destination unreachable; `next_hop_mtu` is used with code 4 (fragmentation
    /// needed) and sent as 0 otherwise.
    DstUnreachable {
        /// See [`unreachable_code`].
        code: u8,
        /// Next-hop MTU for "fragmentation needed".
        next_hop_mtu: u16,
        /// The quoted invoking packet (see [`quote_len`]).
        quote: &'a [u8],
    },
    /// Time exceeded.
    TimeExceeded {
        /// See [`time_exceeded_code`].
        code: u8,
        /// The quoted invoking packet (see [`quote_len`]).
        quote: &'a [u8],
    },
}

impl<'a> Icmpv4Repr<'a> {
    /// Parse the messages this enum covers; [`Error::Unsupported`] for others, and
    /// [`Error::Malformed`] when the checksum is wrong.
    pub fn parse<T>(p: &Icmpv4Packet<&'a T>) -> Result<Icmpv4Repr<'a>, Error>
    where
        T: AsRef<[u8]> + ?Sized,
    {
        p.check_len()?;
        if !p.verify_checksum() {
            return Err(Error::Malformed);
        }
        let data = &p.buffer.as_ref()[field::DATA];
        match (p.msg_type(), p.msg_code()) {
            (msg_type::ECHO_REQUEST, 0) => Ok(Icmpv4Repr::EchoRequest {
                ident: p.echo_ident(),
                seq_no: p.echo_seq_no(),
                data,
            }),
            (msg_type::ECHO_REPLY, 0) => Ok(Icmpv4Repr::EchoReply {
                ident: p.echo_ident(),
                seq_no: p.echo_seq_no(),
                data,
            }),
            (msg_type::DST_UNREACHABLE, code) => Ok(Icmpv4Repr::DstUnreachable {
                code,
                next_hop_mtu: if code == unreachable_code::FRAG_NEEDED {
                    p.next_hop_mtu()
                } else {
                    0
                },
                quote: data,
            }),
            (msg_type::TIME_EXCEEDED, code) => Ok(Icmpv4Repr::TimeExceeded { code, quote: data }),
            _ => Err(Error::Unsupported),
        }
    }

    /// Bytes [`Icmpv4Repr::emit`] writes.
    pub fn buffer_len(&self) -> usize {
        HEADER_LEN
            + match self {
                Icmpv4Repr::EchoRequest { data, .. } | Icmpv4Repr::EchoReply { data, .. } => {
                    data.len()
                }
                Icmpv4Repr::DstUnreachable { quote, .. }
                | Icmpv4Repr::TimeExceeded { quote, .. } => quote.len(),
            }
    }

    /// Write the message, checksum included, into the first [`Icmpv4Repr::buffer_len`]
    /// bytes; the caller sizes the packet (and the IP total length) to exactly that.
    ///
    /// # Panics
    /// If the buffer is shorter than [`Icmpv4Repr::buffer_len`].
    pub fn emit<T: AsRef<[u8]> + AsMut<[u8]>>(&self, p: &mut Icmpv4Packet<T>) {
        let len = self.buffer_len();
        let mut p = Icmpv4Packet::new_unchecked(&mut p.buffer.as_mut()[..len]);
        let body = match *self {
            Icmpv4Repr::EchoRequest {
                ident,
                seq_no,
                data,
            }
            | Icmpv4Repr::EchoReply {
                ident,
                seq_no,
                data,
            } => {
                let ty = if matches!(self, Icmpv4Repr::EchoRequest { .. }) {
                    msg_type::ECHO_REQUEST
                } else {
                    msg_type::ECHO_REPLY
                };
                p.set_msg_type(ty);
                p.set_msg_code(0);
                p.set_echo_ident(ident);
                p.set_echo_seq_no(seq_no);
                data
            }
            Icmpv4Repr::DstUnreachable {
                code,
                next_hop_mtu,
                quote,
            } => {
                p.set_msg_type(msg_type::DST_UNREACHABLE);
                p.set_msg_code(code);
                let mtu = if code == unreachable_code::FRAG_NEEDED {
                    next_hop_mtu
                } else {
                    0
                };
                p.set_next_hop_mtu(mtu);
                quote
            }
            Icmpv4Repr::TimeExceeded { code, quote } => {
                p.set_msg_type(msg_type::TIME_EXCEEDED);
                p.set_msg_code(code);
                p.set_next_hop_mtu(0); // unused word
                quote
            }
        };
        p.data_mut().copy_from_slice(body);
        p.fill_checksum();
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::wire::ipv4::tests::UDP_PACKET;

    /// Echo request id 0x1234 seq 1, data "abcd"; checksum included.
    const ECHO: [u8; 12] = [
        0x08, 0x00, 0x21, 0x04, 0x12, 0x34, 0x00, 0x01, b'a', b'b', b'c', b'd',
    ];

    #[test]
    fn parse_echo_request() {
        let p = Icmpv4Packet::new_checked(&ECHO[..]).unwrap();
        assert_eq!((p.msg_type(), p.msg_code()), (msg_type::ECHO_REQUEST, 0));
        assert_eq!((p.echo_ident(), p.echo_seq_no()), (0x1234, 1));
        assert!(p.verify_checksum());
        assert_eq!(p.data(), b"abcd");
        assert_eq!(p.quoted(), Err(Error::Unsupported));
        let r = Icmpv4Repr::parse(&p).unwrap();
        assert_eq!(
            r,
            Icmpv4Repr::EchoRequest {
                ident: 0x1234,
                seq_no: 1,
                data: b"abcd"
            }
        );
    }

    #[test]
    fn echo_reply_emit() {
        let mut out = [0u8; 12];
        Icmpv4Repr::EchoReply {
            ident: 0x1234,
            seq_no: 1,
            data: b"abcd",
        }
        .emit(&mut Icmpv4Packet::new_unchecked(&mut out[..]));
        // Type 8 -> 0 removes 0x0800 from the sum, adds it to the checksum.
        assert_eq!(out[..2], [0, 0]);
        assert_eq!(out[2..4], [0x29, 0x04]);
        assert_eq!(out[4..], ECHO[4..]);
        // In-place conversion as the pipeline does it gives the same bytes.
        let mut inplace = ECHO;
        let mut p = Icmpv4Packet::new_checked(&mut inplace[..]).unwrap();
        p.set_msg_type(msg_type::ECHO_REPLY);
        p.fill_checksum();
        assert_eq!(inplace, out);
    }

    #[test]
    fn frag_needed_round_trip() {
        let original = &UDP_PACKET[..28];
        let quote = &original[..quote_len(original)];
        assert_eq!(quote.len(), 28);
        let repr = Icmpv4Repr::DstUnreachable {
            code: unreachable_code::FRAG_NEEDED,
            next_hop_mtu: 1400,
            quote,
        };
        let mut out = [0u8; 36];
        assert_eq!(repr.buffer_len(), 36);
        repr.emit(&mut Icmpv4Packet::new_unchecked(&mut out[..]));
        let p = Icmpv4Packet::new_checked(&out[..]).unwrap();
        assert!(p.verify_checksum());
        assert_eq!((p.msg_type(), p.msg_code(), p.next_hop_mtu()), (3, 4, 1400));
        assert_eq!(&out[4..6], &[0, 0]);
        assert_eq!(Icmpv4Repr::parse(&p).unwrap(), repr);
        let q = p.quoted().unwrap();
        assert_eq!(q.src_addr, Ipv4Addr::new(198, 18, 0, 1));
        assert_eq!(q.dst_addr, Ipv4Addr::new(198, 18, 0, 2));
        assert_eq!(
            (q.protocol, q.header_len, q.src_port, q.dst_port),
            (17, 20, 12345, 53)
        );
    }

    #[test]
    fn time_exceeded_and_bad_quotes() {
        let original = &UDP_PACKET[..28];
        let repr = Icmpv4Repr::TimeExceeded {
            code: time_exceeded_code::TTL,
            quote: original,
        };
        let mut out = [0u8; 36];
        repr.emit(&mut Icmpv4Packet::new_unchecked(&mut out[..]));
        let p = Icmpv4Packet::new_checked(&out[..]).unwrap();
        assert_eq!(Icmpv4Repr::parse(&p).unwrap(), repr);
        // Quote cut inside the UDP header.
        let p = Icmpv4Packet::new_checked(&out[..35]).unwrap();
        assert_eq!(p.quoted(), Err(Error::Truncated));
        // Quote that is not IPv4.
        let mut bad = out;
        bad[8] = 0x60;
        assert_eq!(
            Icmpv4Packet::new_checked(&bad[..]).unwrap().quoted(),
            Err(Error::Malformed)
        );
        bad[8] = 0x43;
        assert_eq!(
            Icmpv4Packet::new_checked(&bad[..]).unwrap().quoted(),
            Err(Error::Malformed)
        );
        // Wrong checksum.
        let mut bad = out;
        bad[20] ^= 1;
        let p = Icmpv4Packet::new_checked(&bad[..]).unwrap();
        assert_eq!(Icmpv4Repr::parse(&p), Err(Error::Malformed));
        assert_eq!(
            Icmpv4Packet::new_checked(&out[..7]).unwrap_err(),
            Error::Truncated
        );
        assert_eq!(quote_len(&[]), 0);
        assert_eq!(quote_len(&UDP_PACKET), 28);
    }
}
