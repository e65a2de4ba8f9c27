//! [`Io`] implementations for the pipeline's unit tests (frames are plain `Vec<u8>`), and
//! a packet builder they share.

use crate::frame::Io;
use crate::wire::ipv4::Ipv4Packet;
use crate::wire::tcp::TcpPacket;
use std::net::Ipv4Addr;

/// An IPv4 + TCP packet from `src` to `dst` with `flags`, `seq`, `ack`, `opts` (padded
/// with zeros to a multiple of 4 bytes) and `payload`, window 0xffff, TTL 64, both
/// checksums filled in.
pub(crate) fn tcp4_packet(
    src: (Ipv4Addr, u16),
    dst: (Ipv4Addr, u16),
    flags: u8,
    (seq, ack): (u32, u32),
    opts: &[u8],
    payload: &[u8],
) -> Vec<u8> {
    let thl = 20 + opts.len().div_ceil(4) * 4;
    let total = 20 + thl + payload.len();
    let mut p = vec![0u8; total];
    p[0] = 0x45;
    p[2..4].copy_from_slice(&(total as u16).to_be_bytes());
    p[8] = 64;
    p[9] = 6;
    p[12..16].copy_from_slice(&src.0.octets());
    p[16..20].copy_from_slice(&dst.0.octets());
    p[20..22].copy_from_slice(&src.1.to_be_bytes());
    p[22..24].copy_from_slice(&dst.1.to_be_bytes());
    p[24..28].copy_from_slice(&seq.to_be_bytes());
    p[28..32].copy_from_slice(&ack.to_be_bytes());
    p[32] = ((thl / 4) as u8) << 4;
    p[33] = flags;
    p[34..36].copy_from_slice(&[0xff, 0xff]);
    p[40..40 + opts.len()].copy_from_slice(opts);
    p[20 + thl..].copy_from_slice(payload);
    Ipv4Packet::new_unchecked(&mut p[..]).fill_checksum();
    TcpPacket::new_unchecked(&mut p[20..]).fill_checksum_v4(src.0, dst.0);
    p
}

/// Records what a pipeline sends out of the data ports, by port; a hand-off to the kernel
/// fails the test (for setups where no port has an exception path).
#[derive(Default)]
pub(crate) struct Out(pub(crate) Vec<(usize, Vec<u8>)>);

impl Io<Vec<u8>> for Out {
    fn send(&mut self, port: usize, pkt: Vec<u8>) {
        self.0.push((port, pkt));
    }
    fn alloc(&mut self) -> Option<Vec<u8>> {
        Some(Vec::new())
    }
    fn send_kernel(&mut self, _port: usize, _pkt: Vec<u8>) {
        panic!("no port of these tests has an exception path");
    }
}

/// Records what a pipeline sends out of the data ports (`sent`) and what it hands to the
/// kernel through a port's exception path (`kernel`), by port.
#[derive(Default)]
pub(crate) struct RecordingIo {
    pub(crate) sent: Vec<(usize, Vec<u8>)>,
    pub(crate) kernel: Vec<(usize, Vec<u8>)>,
}

impl Io<Vec<u8>> for RecordingIo {
    fn send(&mut self, port: usize, pkt: Vec<u8>) {
        self.sent.push((port, pkt));
    }
    fn send_kernel(&mut self, port: usize, pkt: Vec<u8>) {
        self.kernel.push((port, pkt));
    }
    fn alloc(&mut self) -> Option<Vec<u8>> {
        Some(Vec::new())
    }
}
