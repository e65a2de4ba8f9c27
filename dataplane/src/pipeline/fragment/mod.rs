//! Fragments of TCP and UDP datagrams, IPv4 and IPv6, forwarded as they come, without
//! reassembly (VPP's shallow virtual reassembly; Katran and DPVS's fragment handling in
//! the same spirit): the first fragment, which carries the ports, goes through the
//! connection step like any packet; its decision (the addresses it got, the TTL it lost,
//! where it went) is kept per datagram (source, destination, protocol, identification)
//! and done again to the datagram's other fragments, so they reach the same real server
//! by the same method. Fragments that come before their first one wait for it, bounded
//! (`table`). IPVS reassembles instead (nf_defrag) and lets the output path fragment
//! again; forwarding fragments keeps no datagram in memory and sends what the client sent.
//!
//! The packet path's own IP and connection step (`handle_ipv4`, `handle_ipv6_l4`, see
//! `FragmentFamily::connection_step`) runs on an unfragmented copy of the first fragment's
//! headers (IP header and TCP/UDP header), so every forwarding method's rewrite applies
//! unchanged; their checksum updates are incremental, so the copy's TCP/UDP checksum is
//! right for the whole datagram and is copied back with the ports. Refused, and counted: a
//! first fragment without its whole TCP/UDP header and a later one that would overlap it
//! (RFC 1858's tiny-fragment attacks), and FULLNAT's TOA (it would lengthen a fragment; the
//! first fragment goes without it). A first fragment whose step answers the client itself
//! (a RST, an ICMP error) is dropped: the answer was built on the copy.

mod family;
pub(super) mod table;

pub(crate) use family::FragmentFamily;

use family::FragInfo;
use table::{Decision, Later};

use super::state::{Pipeline, ETH_HDR};
use super::verdict::Verdict;
use crate::counters::{bump, DropReason};
use crate::frame::{Frame, Io};
use crate::service::proto;
use crate::tables::Tables;

/// Room for the unfragmented copy: the longest IPv4 header (60 bytes, more than IPv6's
/// 40) and the longest TCP header (60).
const COPY_LEN: usize = 120;

impl<P: Frame> Pipeline<P> {
    /// A TCP or UDP fragment (`pkt` from `port`, IP header checked by the dispatch stage).
    pub(super) fn fragment<F: FragmentFamily>(
        &mut self,
        t: &Tables,
        port: usize,
        pkt: P,
        now_ms: u64,
        io: &mut impl Io<P>,
    ) {
        let f = match F::fragment_of(&pkt.data()[ETH_HDR..]) {
            Ok(f) => f,
            Err(why) => return self.drop_packet(why),
        };
        bump(&self.cfg.stats.fragments_received, 1);
        if f.is_first() {
            return self.first_fragment(t, port, pkt, f, now_ms, io);
        }
        // A later fragment inside the smallest TCP/UDP header would rewrite it at the
        // receiver (RFC 1858).
        let min_header = if f.key.proto == proto::TCP { 20 } else { 8 };
        if usize::from(f.offset) < min_header {
            return self.drop_packet(DropReason::FragmentMalformed);
        }
        match F::fragments(self).later(f.key, port, pkt, now_ms) {
            Later::Decided(d, pkt) => self.repeat_decision(t, port, pkt, d, now_ms, io),
            Later::Held => {}
            Later::Refused(_) => self.drop_packet(DropReason::FragmentTableFull),
        }
    }

    /// The first fragment: the connection step on an unfragmented copy of its headers,
    /// the changes copied back, the decision kept for the other fragments (and done to
    /// those already waiting).
    fn first_fragment<F: FragmentFamily>(
        &mut self,
        t: &Tables,
        port: usize,
        mut pkt: P,
        f: FragInfo<F>,
        now_ms: u64,
        io: &mut impl Io<P>,
    ) {
        let kernel = self.cfg.exception.has_kernel(port);
        let ip = &mut pkt.data_mut()[ETH_HDR..];
        let Some(l4_len) = whole_l4_header(&ip[f.data..f.end], f.key.proto) else {
            return self.drop_packet(DropReason::FragmentMalformed);
        };
        // The copy as a frame: the packet path's steps take it from the Ethernet header.
        let mut frame = [0u8; ETH_HDR + COPY_LEN];
        let l4 = F::unfragmented(ip, &f, l4_len, &mut frame[ETH_HDR..]);
        let frame = &mut frame[..ETH_HDR + l4 + l4_len];
        let (_, _, hops_before) = F::addresses_and_hops(&frame[ETH_HDR..]);
        let verdict = match F::connection_step(self, t, frame, now_ms, kernel) {
            v @ (Verdict::Forward(_) | Verdict::Tunnel(..) | Verdict::Drop(_)) => v,
            Verdict::ToKernel => Verdict::ToKernel,
            // The answer (ICMP time exceeded) would quote the copy, not the fragment.
            Verdict::TimeExceeded => Verdict::Drop(DropReason::TtlExceeded),
            // An answer built on the copy (a RST, an ICMP error), not on the fragment.
            _ => Verdict::Drop(DropReason::FragmentUnsupported),
        };
        // TOA would lengthen the fragment.
        self.toa = None;
        let copy = &frame[ETH_HDR..];
        F::copy_back(copy, l4, ip, &f, l4_len);
        let (src, dst, hops) = F::addresses_and_hops(copy);
        let d = Decision {
            src,
            dst,
            hops_taken: hops_before.saturating_sub(hops),
            verdict,
        };
        // An atomic fragment (offset 0, no more) has no others.
        let waiting = if f.more {
            F::fragments(self).decide(f.key, d, now_ms)
        } else {
            Vec::new()
        };
        self.deliver(t, port, pkt, verdict, now_ms, io);
        for (p, held) in waiting {
            self.repeat_decision(t, p, held, d, now_ms, io);
        }
    }

    /// Do to a later fragment what its first fragment's step did.
    fn repeat_decision<F: FragmentFamily>(
        &mut self,
        t: &Tables,
        port: usize,
        mut pkt: P,
        d: Decision<F>,
        now_ms: u64,
        io: &mut impl Io<P>,
    ) {
        let rewrite = matches!(d.verdict, Verdict::Forward(_) | Verdict::Tunnel(..));
        let ip = &mut pkt.data_mut()[ETH_HDR..];
        if rewrite && !F::rewrite_later(ip, d.src, d.dst, d.hops_taken) {
            return self.drop_packet(DropReason::TtlExceeded);
        }
        self.deliver(t, port, pkt, d.verdict, now_ms, io)
    }

    /// Drop the held fragments whose first fragment did not come in time.
    pub(super) fn expire_fragments(&mut self, now_ms: u64) {
        let n = self.frags4.expire(now_ms) + self.frags6.expire(now_ms);
        if n > 0 {
            self.cfg.stats.drop_packets(DropReason::FragmentTimeout, n);
        }
    }
}

/// The length of the TCP/UDP header at the start of `data` (a first fragment's data),
/// if all of it is there.
fn whole_l4_header(data: &[u8], proto_: u8) -> Option<usize> {
    let len = match proto_ {
        proto::TCP => usize::from(*data.get(12)? >> 4) * 4,
        _ => 8,
    };
    (len >= 8 && len <= data.len() && (proto_ != proto::TCP || len >= 20)).then_some(len)
}

#[cfg(test)]
mod tests;
