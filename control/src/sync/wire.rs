//! The messages of IPVS's connection synchronisation protocol, version 1 (the kernel's
//! `ip_vs_sync.c` since Linux 2.6.39, what `ipvsadm --start-daemon` speaks), to and from
//! bytes. A message is an 8-byte header (reserved 0, sync id, size, entry count, version
//! 1, spare 0) and entries, each 32-bit aligned: type (bit 0: IPv6), protocol, version and
//! size, flags, state, the client, virtual and destination ports, firewall mark, timeout in
//! seconds and the three addresses, then optional parameters (type, length, data): the
//! sequence adjustments (`IPVS_OPT_SEQ_DATA`), persistence-engine data and name.
//!
//! rvs adds one parameter of its own, FULLNAT's local address and port and its sequence
//! offset, with the "optional" bit (`IPVS_OPT_F_PARAM`) set, so a kernel backup skips it.
//!
//! Decoding follows the kernel's receiver: a message whose header or size is wrong is
//! dropped whole; an entry that cannot be parsed drops it from there on (the entries before
//! it stand); an entry of an unknown protocol, state or mandatory parameter is skipped.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

/// The UDP port of sync messages (the kernel's `IP_VS_SYNC_PORT`).
pub const SYNC_PORT: u16 = 8848;
/// The IPv4 multicast group of sync messages (the kernel's `IP_VS_SYNC_GROUP`).
pub const SYNC_GROUP: Ipv4Addr = Ipv4Addr::new(224, 0, 0, 81);
/// The protocol version rvs speaks.
pub const VERSION: u8 = 1;
/// The message header's length.
pub const HEADER_LEN: usize = 8;
/// Entry lengths without options.
const ENTRY_V4: usize = 36;
const ENTRY_V6: usize = 72;
/// The sequence option's data: two `struct ip_vs_seq` of three 32-bit fields.
const SEQ_DATA_LEN: usize = 24;
/// Option types (`IPVS_OPT_*`); the bit that marks an option a receiver may skip.
const OPT_SEQ_DATA: u8 = 1;
const OPT_PE_DATA: u8 = 2;
const OPT_PE_NAME: u8 = 3;
const OPT_F_PARAM: u8 = 1 << 6;
/// rvs's FULLNAT option: optional, so kernels skip it.
const OPT_RVS_FULLNAT: u8 = OPT_F_PARAM | 0x20;
/// The longest persistence-engine data and name a kernel accepts.
const PE_DATA_MAX: usize = 255;
const PE_NAME_MAX: usize = 16;

/// `IP_VS_CONN_F_*`: a connection's flags as the kernel keeps and sends them.
pub mod conn_flags {
    /// The forwarding method's bits.
    pub const FWD_MASK: u32 = 0x0007;
    /// NAT (LVS-NAT, Masq).
    pub const MASQ: u32 = 0x0000;
    /// Local node.
    pub const LOCALNODE: u32 = 0x0001;
    /// TUN (IP tunnelling).
    pub const TUNNEL: u32 = 0x0002;
    /// DR (direct routing).
    pub const DROUTE: u32 = 0x0003;
    /// Cache bypass.
    pub const BYPASS: u32 = 0x0004;
    /// Created by sync.
    pub const SYNC: u32 = 0x0020;
    /// Hashed (never sent).
    pub const HASHED: u32 = 0x0040;
    /// No output packets.
    pub const NOOUTPUT: u32 = 0x0080;
    /// Not active (counted as inactive).
    pub const INACTIVE: u32 = 0x0100;
    /// Outgoing sequence adjustment in use.
    pub const OUT_SEQ: u32 = 0x0200;
    /// Incoming sequence adjustment in use.
    pub const IN_SEQ: u32 = 0x0400;
    /// Either sequence adjustment.
    pub const SEQ_MASK: u32 = 0x0600;
    /// Client port not set yet (persistence with port 0).
    pub const NO_CPORT: u32 = 0x0800;
    /// A persistence template.
    pub const TEMPLATE: u32 = 0x1000;
    /// One-packet scheduling (never synced).
    pub const ONE_PACKET: u32 = 0x2000;
    /// The flags a backup takes from a message (`IP_VS_CONN_F_BACKUP_MASK`).
    pub const BACKUP_MASK: u32 = FWD_MASK | NOOUTPUT | INACTIVE | SEQ_MASK | NO_CPORT | TEMPLATE;
}

/// How many states each protocol has (`IP_VS_TCP_S_LAST`, `IP_VS_UDP_S_LAST`,
/// `IP_VS_SCTP_S_LAST`), for the receiver's check.
fn states_of(protocol: u8) -> Option<u16> {
    match protocol {
        6 => Some(11),
        17 => Some(1),
        132 => Some(10),
        _ => None,
    }
}

/// One direction's sequence adjustment (`struct ip_vs_seq`).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct SeqAdjust {
    /// The sequence number where the adjustment starts.
    pub init_seq: u32,
    /// The adjustment after it.
    pub delta: u32,
    /// The adjustment before it.
    pub previous_delta: u32,
}

/// rvs's FULLNAT extension: the local address and port the real server sees, and the
/// offset of the director's initial sequence number, so a backup continues the same
/// connection towards the real server.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct FullNatLocal {
    /// Local address (same family as the real server).
    pub addr: IpAddr,
    /// Local port.
    pub port: u16,
    /// Sequence offset, client to real server.
    pub seq_offset: u32,
}

/// One connection (or persistence template) of a sync message.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SyncConn {
    /// IP protocol (TCP 6, UDP 17, SCTP 132; templates carry the service's).
    pub protocol: u8,
    /// [`conn_flags`].
    pub flags: u32,
    /// The protocol's state (`IP_VS_TCP_S_*`...; a template's `IP_VS_CTPL_S_*`).
    pub state: u16,
    /// Client address and port.
    pub client: (IpAddr, u16),
    /// Virtual address and port.
    pub virt: (IpAddr, u16),
    /// Real server (destination) address and port.
    pub dest: (IpAddr, u16),
    /// Firewall mark of a firewall-mark service.
    pub fwmark: u32,
    /// Timeout in seconds (0: the backup uses its own for the state).
    pub timeout_s: u32,
    /// Sequence adjustments (incoming, outgoing), sent when `flags` has [`conn_flags::SEQ_MASK`] bits.
    pub seq: Option<(SeqAdjust, SeqAdjust)>,
    /// rvs's FULLNAT extension.
    pub fullnat: Option<FullNatLocal>,
}

impl SyncConn {
    fn is_v6(&self) -> bool {
        self.client.0.is_ipv6()
    }

    /// This entry's length on the wire, without padding.
    fn wire_len(&self) -> usize {
        let base = if self.is_v6() { ENTRY_V6 } else { ENTRY_V4 };
        let seq = if self.seq.is_some() {
            2 + SEQ_DATA_LEN
        } else {
            0
        };
        let fullnat = match self.fullnat {
            Some(f) if f.addr.is_ipv6() => 2 + 1 + 16 + 2 + 4,
            Some(_) => 2 + 1 + 4 + 2 + 4,
            None => 0,
        };
        base + seq + fullnat
    }
}

/// Why a connection cannot be encoded.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum EncodeError {
    /// Its addresses are not all of one family.
    #[error("sync entry with addresses of two families; expected all IPv4 or all IPv6")]
    MixedFamilies,
    /// It does not fit an empty message of the maximum length.
    #[error("sync entry of {len} bytes does not fit a message of at most {maxlen} bytes")]
    TooLong {
        /// The entry's length.
        len: usize,
        /// The message's maximum length.
        maxlen: usize,
    },
}

/// Fills messages of at most `maxlen` bytes (and 255 entries, the count's range).
#[derive(Debug)]
pub struct MessageWriter {
    syncid: u8,
    maxlen: usize,
    buf: Vec<u8>,
    count: u8,
}

impl MessageWriter {
    /// A writer of messages with sync id `syncid`, each at most `maxlen` bytes (the
    /// kernel's `sync_maxlen`: the interface's MTU less the IP and UDP headers).
    pub fn new(syncid: u8, maxlen: usize) -> Self {
        let mut w = MessageWriter {
            syncid,
            maxlen: maxlen.clamp(HEADER_LEN + ENTRY_V4, u16::MAX as usize),
            buf: Vec::new(),
            count: 0,
        };
        w.reset();
        w
    }

    fn reset(&mut self) {
        self.buf.clear();
        self.buf
            .extend_from_slice(&[0, self.syncid, 0, HEADER_LEN as u8, 0, VERSION, 0, 0]);
        self.count = 0;
    }

    /// Whether no entry was added since the last message was taken.
    pub fn is_empty(&self) -> bool {
        self.count == 0
    }

    /// Add `c`; when it does not fit, the message so far is returned (complete) and `c`
    /// starts the next one.
    pub fn push(&mut self, c: &SyncConn) -> Result<Option<Vec<u8>>, EncodeError> {
        let len = c.wire_len();
        let fam = c.is_v6();
        if c.virt.0.is_ipv6() != fam || c.dest.0.is_ipv6() != fam {
            return Err(EncodeError::MixedFamilies);
        }
        if HEADER_LEN + len > self.maxlen {
            return Err(EncodeError::TooLong {
                len,
                maxlen: self.maxlen,
            });
        }
        let pad = (4 - self.buf.len() % 4) % 4;
        let full = self.count == u8::MAX || self.buf.len() + pad + len > self.maxlen;
        let done = if full { self.take() } else { None };
        let pad = (4 - self.buf.len() % 4) % 4;
        self.buf.resize(self.buf.len() + pad, 0);
        write_entry(&mut self.buf, c, len);
        self.count += 1;
        let size = self.buf.len() as u16;
        self.buf[2..4].copy_from_slice(&size.to_be_bytes());
        self.buf[4] = self.count;
        Ok(done)
    }

    /// The message so far, if it has entries; the writer starts a new one.
    pub fn take(&mut self) -> Option<Vec<u8>> {
        if self.count == 0 {
            return None;
        }
        let m = std::mem::take(&mut self.buf);
        self.reset();
        Some(m)
    }
}

fn put_addr(buf: &mut Vec<u8>, a: IpAddr) {
    match a {
        IpAddr::V4(a) => buf.extend_from_slice(&a.octets()),
        IpAddr::V6(a) => buf.extend_from_slice(&a.octets()),
    }
}

fn write_entry(buf: &mut Vec<u8>, c: &SyncConn, len: usize) {
    let start = buf.len();
    buf.push(u8::from(c.is_v6()));
    buf.push(c.protocol);
    // Version 0 in the top 4 bits, the length in the low 12.
    buf.extend_from_slice(&((len & 0x0fff) as u16).to_be_bytes());
    buf.extend_from_slice(&(c.flags & !conn_flags::HASHED).to_be_bytes());
    buf.extend_from_slice(&c.state.to_be_bytes());
    for port in [c.client.1, c.virt.1, c.dest.1] {
        buf.extend_from_slice(&port.to_be_bytes());
    }
    buf.extend_from_slice(&c.fwmark.to_be_bytes());
    buf.extend_from_slice(&c.timeout_s.to_be_bytes());
    for a in [c.client.0, c.virt.0, c.dest.0] {
        put_addr(buf, a);
    }
    if let Some((inward, outward)) = c.seq {
        buf.extend_from_slice(&[OPT_SEQ_DATA, SEQ_DATA_LEN as u8]);
        for s in [inward, outward] {
            for v in [s.init_seq, s.delta, s.previous_delta] {
                buf.extend_from_slice(&v.to_be_bytes());
            }
        }
    }
    if let Some(f) = c.fullnat {
        let alen = if f.addr.is_ipv6() { 16 } else { 4 };
        buf.extend_from_slice(&[OPT_RVS_FULLNAT, (1 + alen + 2 + 4) as u8]);
        buf.push(u8::from(f.addr.is_ipv6()));
        put_addr(buf, f.addr);
        buf.extend_from_slice(&f.port.to_be_bytes());
        buf.extend_from_slice(&f.seq_offset.to_be_bytes());
    }
    debug_assert_eq!(buf.len() - start, len);
}

/// Why a whole message was dropped, or the rest of it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
pub enum MessageError {
    /// Shorter than a header.
    #[error("sync message of {0} bytes is shorter than its header")]
    TooShort(usize),
    /// The header's size is not the datagram's.
    #[error("sync message says {said} bytes but has {got}")]
    SizeMismatch {
        /// The header's size.
        said: usize,
        /// The datagram's length.
        got: usize,
    },
    /// Another sync id than the one this backup follows.
    #[error("sync message of sync id {0} ignored")]
    OtherSyncId(u8),
    /// A version 0 message (the kernel's `sync_version=0`), which rvs does not read.
    #[error("sync message of protocol version 0; set net.ipv4.vs.sync_version=1 on the master")]
    Version0,
    /// An entry runs past the message's end.
    #[error("sync entry {0} runs past the message's end")]
    EntryOverrun(usize),
    /// An entry of an unknown version.
    #[error("sync entry {index} of version {version}")]
    EntryVersion {
        /// Which entry.
        index: usize,
        /// Its version.
        version: u8,
    },
    /// An entry whose type or options do not parse.
    #[error("sync entry {0} is malformed")]
    EntryMalformed(usize),
}

/// Why one entry was skipped (the rest of the message was still read).
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
pub enum EntryError {
    /// A protocol rvs does not know.
    #[error("sync entry for protocol {0}")]
    Protocol(u8),
    /// A state past the protocol's last.
    #[error("sync entry for protocol {protocol} in state {state}")]
    State {
        /// The protocol.
        protocol: u8,
        /// The state.
        state: u16,
    },
    /// A mandatory option rvs does not know.
    #[error("sync entry with unknown mandatory option {0}")]
    Option(u8),
    /// Persistence-engine data (SIP), which rvs does not have.
    #[error("sync entry with persistence-engine data")]
    PersistenceEngine,
}

/// What a message held.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Decoded {
    /// The entries read, in order.
    pub conns: Vec<SyncConn>,
    /// The entries skipped, and why.
    pub skipped: Vec<EntryError>,
    /// Why the entries after the last read ones were dropped, if they were.
    pub dropped_rest: Option<MessageError>,
}

/// Read the message `buf`; `syncid`: the one this backup follows (0: any, as the kernel).
pub fn decode(buf: &[u8], syncid: u8) -> Result<Decoded, MessageError> {
    if buf.len() < HEADER_LEN {
        return Err(MessageError::TooShort(buf.len()));
    }
    let said = usize::from(u16::from_be_bytes([buf[2], buf[3]]));
    if said != buf.len() {
        return Err(MessageError::SizeMismatch {
            said,
            got: buf.len(),
        });
    }
    if syncid != 0 && buf[1] != syncid {
        return Err(MessageError::OtherSyncId(buf[1]));
    }
    if buf[5] != VERSION || buf[0] != 0 || buf[6..8] != [0, 0] {
        return Err(MessageError::Version0);
    }
    let mut out = Decoded::default();
    let mut at = HEADER_LEN;
    for index in 0..usize::from(buf[4]) {
        if at + ENTRY_V4 > buf.len() {
            out.dropped_rest = Some(MessageError::EntryOverrun(index));
            break;
        }
        let ver_size = u16::from_be_bytes([buf[at + 2], buf[at + 3]]);
        let size = usize::from(ver_size & 0x0fff);
        if at + size > buf.len() {
            out.dropped_rest = Some(MessageError::EntryOverrun(index));
            break;
        }
        if ver_size >> 12 != 0 {
            let version = (ver_size >> 12) as u8;
            out.dropped_rest = Some(MessageError::EntryVersion { index, version });
            break;
        }
        match entry(&buf[at..at + size]) {
            Err(()) => {
                out.dropped_rest = Some(MessageError::EntryMalformed(index));
                break;
            }
            Ok(Ok(c)) => out.conns.push(c),
            Ok(Err(e)) => out.skipped.push(e),
        }
        at += (size + 3) & !3;
    }
    Ok(out)
}

fn u16_at(b: &[u8], at: usize) -> u16 {
    u16::from_be_bytes([b[at], b[at + 1]])
}

fn u32_at(b: &[u8], at: usize) -> u32 {
    u32::from_be_bytes([b[at], b[at + 1], b[at + 2], b[at + 3]])
}

fn addr_at(b: &[u8], at: usize, v6: bool) -> IpAddr {
    if v6 {
        let mut o = [0u8; 16];
        o.copy_from_slice(&b[at..at + 16]);
        IpAddr::V6(Ipv6Addr::from(o))
    } else {
        IpAddr::V4(Ipv4Addr::new(b[at], b[at + 1], b[at + 2], b[at + 3]))
    }
}

/// One entry (`e`: exactly its bytes): `Err(())` when it does not parse (the rest of the
/// message is dropped), `Ok(Err(_))` when it is skipped.
fn entry(e: &[u8]) -> Result<Result<SyncConn, EntryError>, ()> {
    let v6 = match e[0] {
        0 => false,
        1 => true,
        _ => return Err(()),
    };
    let fixed = if v6 { ENTRY_V6 } else { ENTRY_V4 };
    if e.len() < fixed {
        return Err(());
    }
    let alen = if v6 { 16 } else { 4 };
    let mut c = SyncConn {
        protocol: e[1],
        flags: u32_at(e, 4) & conn_flags::BACKUP_MASK | conn_flags::SYNC,
        state: u16_at(e, 8),
        client: (addr_at(e, 24, v6), u16_at(e, 10)),
        virt: (addr_at(e, 24 + alen, v6), u16_at(e, 12)),
        dest: (addr_at(e, 24 + 2 * alen, v6), u16_at(e, 14)),
        fwmark: u32_at(e, 16),
        timeout_s: u32_at(e, 20),
        seq: None,
        fullnat: None,
    };
    let mut skip = options(&e[fixed..], &mut c)?;
    if skip.is_none() && c.flags & conn_flags::TEMPLATE == 0 {
        skip = match states_of(c.protocol) {
            None => Some(EntryError::Protocol(c.protocol)),
            Some(n) if c.state >= n => Some(EntryError::State {
                protocol: c.protocol,
                state: c.state,
            }),
            Some(_) => None,
        };
    }
    Ok(match skip {
        Some(why) => Err(why),
        None => Ok(c),
    })
}

/// The optional parameters `o` of entry `c`; a reason to skip the entry, or `Err(())`
/// when they do not parse.
fn options(mut o: &[u8], c: &mut SyncConn) -> Result<Option<EntryError>, ()> {
    let mut skip = None;
    let mut pe = false;
    while !o.is_empty() {
        if o.len() < 2 {
            return Err(());
        }
        let (ty, len) = (o[0], usize::from(o[1]));
        if len == 0 || 2 + len > o.len() {
            return Err(());
        }
        let data = &o[2..2 + len];
        match ty & !OPT_F_PARAM {
            OPT_SEQ_DATA => {
                if len != SEQ_DATA_LEN || c.seq.is_some() {
                    return Err(());
                }
                let s = |at: usize| SeqAdjust {
                    init_seq: u32_at(data, at),
                    delta: u32_at(data, at + 4),
                    previous_delta: u32_at(data, at + 8),
                };
                c.seq = Some((s(0), s(12)));
            }
            OPT_PE_DATA | OPT_PE_NAME => {
                let max = if ty & !OPT_F_PARAM == OPT_PE_DATA {
                    PE_DATA_MAX
                } else {
                    PE_NAME_MAX
                };
                if len > max {
                    return Err(());
                }
                pe = true;
            }
            _ if ty == OPT_RVS_FULLNAT => c.fullnat = fullnat(data),
            _ if ty & OPT_F_PARAM == 0 => skip = skip.or(Some(EntryError::Option(ty))),
            _ => {}
        }
        o = &o[2 + len..];
    }
    Ok(skip.or(pe.then_some(EntryError::PersistenceEngine)))
}

/// rvs's FULLNAT option's data, if well formed (an ill-formed optional one is ignored, as
/// a kernel ignores it).
fn fullnat(d: &[u8]) -> Option<FullNatLocal> {
    let v6 = match d.first()? {
        0 => false,
        1 => true,
        _ => return None,
    };
    let alen = if v6 { 16 } else { 4 };
    (d.len() == 1 + alen + 6).then(|| FullNatLocal {
        addr: addr_at(d, 1, v6),
        port: u16_at(d, 1 + alen),
        seq_offset: u32_at(d, 3 + alen),
    })
}

#[cfg(test)]
mod tests;
