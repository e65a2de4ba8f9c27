//! The RST a TCP segment of no connection gets from the virtual service's address.
//!
//! IPVS hands a non-SYN segment it has no connection for to the director's own TCP
//! stack, which has no socket for it and answers RST (RFC 793, "reset generation"), so a
//! client whose connection the director forgot (rvsd restarted, the connection expired
//! while the client was idle) reconnects at once instead of waiting for its own
//! timeouts. rvs answers the same way from the VIP, written once over both families:
//! - the segment has ACK: `<SEQ=SEG.ACK><CTL=RST>`; else `<SEQ=0><ACK=SEG.SEQ+SEG.LEN>
//!   <CTL=RST,ACK>` (SYN and FIN count in the length);
//! - a RST is never answered;
//! - at most [`RESET_RATE`] answers a second per worker, bursts of [`RESET_BURST`] (the
//!   kernel's `icmp_msgs_per_sec` / `icmp_msgs_burst` defaults: a flood of stray
//!   segments to a VIP does not become a flood of answers);
//! - the IPVS switch `reset_unknown_conn` (on by default) turns it off.
//!
//! Every such segment still counts as dropped (`no_connection`); those answered count
//! in `rst_sent_no_connection` as well.

use std::net::{Ipv4Addr, Ipv6Addr};

use super::state::{Pipeline, ETH_HDR};
#[cfg(doc)]
use super::state::{RESET_BURST, RESET_RATE};
use super::verdict::Verdict;
use crate::counters::{bump, DropReason};
use crate::frame::Frame;
use crate::tables::Tables;
use crate::wire::tcp::HEADER_LEN as TCP_LEN;
use crate::wire::{checksum, ip_proto, TcpFlags, TcpPacket};

/// Hop limit of the RST, as the kernel's default (`ip_default_ttl`, `hop_limit`).
const HOPS: u8 = 64;

/// The per-family part of a RST: where the segment is, and the IP header of the answer.
pub(crate) trait ResetFamily: Copy {
    /// The TCP segment of the IP packet `ip` (as the path parsed it): start and end.
    fn segment(ip: &[u8]) -> (usize, usize);
    /// Write the IP header of a `TCP_LEN`-byte segment `src -> dst` at the start of `ip`
    /// (traffic class from the received header, without its ECN bits); its length.
    fn write_header(ip: &mut [u8], src: Self, dst: Self) -> usize;
    /// Fill in the checksum of `tcp`, a segment `src -> dst`.
    fn fill_checksum(tcp: &mut TcpPacket<&mut [u8]>, src: Self, dst: Self);
}

impl ResetFamily for Ipv4Addr {
    #[inline]
    fn segment(ip: &[u8]) -> (usize, usize) {
        let total = usize::from(u16::from_be_bytes([ip[2], ip[3]]));
        (usize::from(ip[0] & 0x0f) * 4, total.min(ip.len()))
    }
    fn write_header(ip: &mut [u8], src: Self, dst: Self) -> usize {
        let tos = ip[1] & !3;
        let h = &mut ip[..20];
        h.fill(0);
        h[0] = 0x45;
        h[1] = tos;
        h[2..4].copy_from_slice(&((20 + TCP_LEN) as u16).to_be_bytes());
        // Don't fragment, identification 0: an atomic datagram, as Linux sends its RSTs.
        h[6] = 0x40;
        h[8] = HOPS;
        h[9] = ip_proto::TCP;
        h[12..16].copy_from_slice(&src.octets());
        h[16..20].copy_from_slice(&dst.octets());
        let c = checksum::internet(h);
        h[10..12].copy_from_slice(&c.to_be_bytes());
        20
    }
    fn fill_checksum(tcp: &mut TcpPacket<&mut [u8]>, src: Self, dst: Self) {
        tcp.fill_checksum_v4(src, dst);
    }
}

impl ResetFamily for Ipv6Addr {
    #[inline]
    fn segment(ip: &[u8]) -> (usize, usize) {
        let len = usize::from(u16::from_be_bytes([ip[4], ip[5]]));
        (40, (40 + len).min(ip.len()))
    }
    fn write_header(ip: &mut [u8], src: Self, dst: Self) -> usize {
        let class = ((ip[0] & 0x0f) << 4 | ip[1] >> 4) & !3;
        let h = &mut ip[..40];
        h.fill(0);
        h[0] = 0x60 | class >> 4;
        h[1] = class << 4;
        h[4..6].copy_from_slice(&(TCP_LEN as u16).to_be_bytes());
        h[6] = ip_proto::TCP;
        h[7] = HOPS;
        h[8..24].copy_from_slice(&src.octets());
        h[24..40].copy_from_slice(&dst.octets());
        40
    }
    fn fill_checksum(tcp: &mut TcpPacket<&mut [u8]>, src: Self, dst: Self) {
        tcp.fill_checksum_v6(src, dst);
    }
}

/// Sequence number, acknowledgement number and flags of the RST that answers a segment
/// with `seq`, `ack`, `flags` and `payload` bytes (RFC 793); None for a RST.
pub(crate) fn answer(
    seq: u32,
    ack: u32,
    flags: TcpFlags,
    payload: u32,
) -> Option<(u32, u32, TcpFlags)> {
    if flags.contains(TcpFlags::RST) {
        return None;
    }
    if flags.contains(TcpFlags::ACK) {
        return Some((ack, 0, TcpFlags::RST));
    }
    let len = payload
        + u32::from(flags.contains(TcpFlags::SYN))
        + u32::from(flags.contains(TcpFlags::FIN));
    Some((0, seq.wrapping_add(len), TcpFlags::RST | TcpFlags::ACK))
}

impl<P: Frame> Pipeline<P> {
    /// A TCP segment from `client` to `vip` (a TCP virtual service's) that no connection
    /// claims and that starts none: dropped (`no_connection`), and answered by a RST
    /// from the VIP written over it in place, unless it is a RST, the switch is off or
    /// this worker's RST budget is spent.
    #[cold]
    #[inline(never)]
    pub(super) fn reset_unknown<F: ResetFamily>(
        &mut self,
        t: &Tables,
        ip_buf: &mut [u8],
        (client, cport): (F, u16),
        (vip, vport): (F, u16),
        now_ms: u64,
    ) -> Verdict<F> {
        let (l4, end) = F::segment(ip_buf);
        let Some((seq, ack, flags)) = ({
            // The path checked the TCP header is there; the data offset may still lie.
            let seg = TcpPacket::new_unchecked(&ip_buf[l4..end]);
            let payload = (end - l4).saturating_sub(seg.header_len()) as u32;
            answer(seg.seq_number(), seg.ack_number(), seg.flags(), payload)
        }) else {
            return Verdict::Drop(DropReason::NoConnection);
        };
        if !t.ipvs.reset_unknown_conn || !self.resets.take(now_ms) {
            return Verdict::Drop(DropReason::NoConnection);
        }
        self.drop_packet(DropReason::NoConnection);
        let hl = F::write_header(ip_buf, vip, client);
        let buf = &mut ip_buf[hl..hl + TCP_LEN];
        buf.fill(0);
        let mut tcp = TcpPacket::new_unchecked(buf);
        tcp.set_src_port(vport);
        tcp.set_dst_port(cport);
        tcp.set_seq_number(seq);
        tcp.set_ack_number(ack);
        tcp.set_header_len(TCP_LEN);
        tcp.set_flags(flags);
        F::fill_checksum(&mut tcp, vip, client);
        bump(&self.cfg.stats.rst_sent_no_connection, 1);
        Verdict::ForwardTrimmed(client, ETH_HDR + hl + TCP_LEN)
    }
}

#[cfg(test)]
mod tests;
