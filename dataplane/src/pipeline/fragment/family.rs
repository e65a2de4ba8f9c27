//! What fragments look like in each family: IPv4's flags and offset, IPv6's Fragment
//! header right after the fixed header. Each family reads a fragment's facts, writes its
//! first fragment as an unfragmented packet for the connection step, copies the step's
//! changes back, and repeats them on later fragments.

use std::net::{Ipv4Addr, Ipv6Addr};

use super::table::{FragKey, Fragments};
use crate::counters::DropReason;
use crate::frame::Frame;
use crate::pipeline::lookup::L4Family;
use crate::pipeline::state::Pipeline;
use crate::pipeline::verdict::Verdict;
use crate::service::proto;
use crate::tables::Tables;
use crate::wire::bytes::{read_ipv6, read_u16, read_u32};
use crate::wire::ipv6::HEADER_LEN as IP6_HDR;
use crate::wire::{ip_proto, Ipv4Packet};

/// The IPv6 Fragment header's length.
const FRAG6_HDR: usize = 8;

/// The facts of one fragment, read from its IP header(s).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct FragInfo<F> {
    /// Its datagram.
    pub key: FragKey<F>,
    /// Offset of its data in the datagram, in bytes.
    pub offset: u16,
    /// More fragments follow.
    pub more: bool,
    /// Where its data (for a first fragment: the TCP/UDP header) starts in the packet.
    pub data: usize,
    /// Where its data ends (the IP packet's length).
    pub end: usize,
}

impl<F> FragInfo<F> {
    /// The fragment that carries the upper-layer header.
    pub fn is_first(&self) -> bool {
        self.offset == 0
    }
}

/// Fragment handling of one family.
pub(crate) trait FragmentFamily: L4Family + std::hash::Hash {
    /// The fragment facts of `ip` (an IP packet whose header the dispatch stage checked),
    /// or why it cannot be forwarded.
    fn fragment_of(ip: &[u8]) -> Result<FragInfo<Self>, DropReason>;

    /// Write the first fragment `ip` as an unfragmented packet into `out`: its IP header
    /// without fragment fields, then `l4_len` bytes of TCP/UDP header; returns where the
    /// TCP/UDP header starts in `out`.
    fn unfragmented(ip: &[u8], f: &FragInfo<Self>, l4_len: usize, out: &mut [u8]) -> usize;

    /// Copy what the connection step changed in `copy` (written by `unfragmented`,
    /// TCP/UDP header at `l4`) back into the first fragment `ip`: addresses, TTL / hop
    /// limit and the TCP/UDP header but UDP's length (the whole datagram's).
    fn copy_back(copy: &[u8], l4: usize, ip: &mut [u8], f: &FragInfo<Self>, l4_len: usize);

    /// Source, destination and TTL / hop limit of the IP packet `ip`.
    fn addresses_and_hops(ip: &[u8]) -> (Self, Self, u8);

    /// Give the later fragment `ip` source `src`, destination `dst` and `taken` less TTL /
    /// hop limit; false when that would reach zero.
    fn rewrite_later(ip: &mut [u8], src: Self, dst: Self, taken: u8) -> bool;

    /// This family's fragments in flight on `p`.
    fn fragments<P>(p: &mut Pipeline<P>) -> &mut Fragments<Self, P>;

    /// The packet path's IP and connection step on `frame` (an unfragmented copy from the
    /// Ethernet header on): `handle_ipv4` (out of line: a second copy of the connection step
    /// made LLVM keep the IPv4 lookup out of line, +31 instructions per established packet),
    /// `handle_ipv6_l4` (inlined into each caller: out of line it lost its own inlining, +34).
    fn connection_step<P: Frame>(
        p: &mut Pipeline<P>,
        t: &Tables,
        frame: &mut [u8],
        now_ms: u64,
        kernel: bool,
    ) -> Verdict<Self>;
}

/// Copy the TCP/UDP header `from` into `to`, UDP's length field aside.
fn copy_l4(from: &[u8], to: &mut [u8], proto: u8) {
    if proto == proto::UDP {
        to[..4].copy_from_slice(&from[..4]);
        to[6..8].copy_from_slice(&from[6..8]);
    } else {
        to.copy_from_slice(from);
    }
}

impl FragmentFamily for Ipv4Addr {
    fn fragment_of(ip: &[u8]) -> Result<FragInfo<Self>, DropReason> {
        let p = Ipv4Packet::new_unchecked(ip);
        let key = FragKey {
            src: p.src_addr(),
            dst: p.dst_addr(),
            proto: p.protocol(),
            id: u32::from(p.ident()),
        };
        Ok(FragInfo {
            key,
            offset: p.frag_offset(),
            more: p.more_frags(),
            data: p.header_len(),
            end: p.total_len(),
        })
    }

    fn unfragmented(ip: &[u8], f: &FragInfo<Self>, l4_len: usize, out: &mut [u8]) -> usize {
        let hl = f.data;
        out[..hl].copy_from_slice(&ip[..hl]);
        out[hl..hl + l4_len].copy_from_slice(&ip[hl..hl + l4_len]);
        let mut p = Ipv4Packet::new_unchecked(&mut out[..hl + l4_len]);
        p.set_total_len((hl + l4_len) as u16);
        p.set_more_frags(false);
        p.set_frag_offset(0);
        p.fill_checksum();
        if f.key.proto == proto::UDP {
            out[hl + 4..hl + 6].copy_from_slice(&(l4_len as u16).to_be_bytes());
        }
        hl
    }

    fn copy_back(copy: &[u8], l4: usize, ip: &mut [u8], f: &FragInfo<Self>, l4_len: usize) {
        ip[8] = copy[8];
        ip[12..20].copy_from_slice(&copy[12..20]);
        let hl = f.data;
        copy_l4(
            &copy[l4..l4 + l4_len],
            &mut ip[hl..hl + l4_len],
            f.key.proto,
        );
        Ipv4Packet::new_unchecked(&mut ip[..hl]).fill_checksum();
    }

    fn addresses_and_hops(ip: &[u8]) -> (Self, Self, u8) {
        let p = Ipv4Packet::new_unchecked(ip);
        (p.src_addr(), p.dst_addr(), p.ttl())
    }

    fn rewrite_later(ip: &mut [u8], src: Self, dst: Self, taken: u8) -> bool {
        let mut p = Ipv4Packet::new_unchecked(ip);
        let ttl = p.ttl();
        if taken > 0 && ttl <= taken {
            return false;
        }
        p.set_ttl(ttl - taken);
        p.set_src_addr(src);
        p.set_dst_addr(dst);
        p.fill_checksum();
        true
    }

    fn fragments<P>(p: &mut Pipeline<P>) -> &mut Fragments<Self, P> {
        &mut p.frags4
    }

    fn connection_step<P: Frame>(
        p: &mut Pipeline<P>,
        t: &Tables,
        frame: &mut [u8],
        now_ms: u64,
        kernel: bool,
    ) -> Verdict<Self> {
        p.handle_ipv4(t, frame, now_ms, kernel)
    }
}

impl FragmentFamily for Ipv6Addr {
    fn fragment_of(ip: &[u8]) -> Result<FragInfo<Self>, DropReason> {
        // The dispatch stage checked the fixed header and that the payload is in the frame.
        let end = IP6_HDR + usize::from(read_u16(&ip[4..6]));
        if end < IP6_HDR + FRAG6_HDR {
            return Err(DropReason::Ipv6Malformed);
        }
        let h = &ip[IP6_HDR..IP6_HDR + FRAG6_HDR];
        // Only TCP and UDP right after the Fragment header are forwarded.
        if !matches!(h[0], ip_proto::TCP | ip_proto::UDP) {
            return Err(DropReason::Ipv6Fragment);
        }
        let key = FragKey {
            src: read_ipv6(&ip[8..24]),
            dst: read_ipv6(&ip[24..40]),
            proto: h[0],
            id: read_u32(&h[4..8]),
        };
        let off_m = read_u16(&h[2..4]);
        Ok(FragInfo {
            key,
            offset: off_m & 0xFFF8,
            more: off_m & 1 == 1,
            data: IP6_HDR + FRAG6_HDR,
            end,
        })
    }

    fn unfragmented(ip: &[u8], f: &FragInfo<Self>, l4_len: usize, out: &mut [u8]) -> usize {
        out[..IP6_HDR].copy_from_slice(&ip[..IP6_HDR]);
        out[4..6].copy_from_slice(&(l4_len as u16).to_be_bytes());
        out[6] = f.key.proto;
        out[IP6_HDR..IP6_HDR + l4_len].copy_from_slice(&ip[f.data..f.data + l4_len]);
        if f.key.proto == ip_proto::UDP {
            out[IP6_HDR + 4..IP6_HDR + 6].copy_from_slice(&(l4_len as u16).to_be_bytes());
        }
        IP6_HDR
    }

    fn copy_back(copy: &[u8], l4: usize, ip: &mut [u8], f: &FragInfo<Self>, l4_len: usize) {
        ip[7..40].copy_from_slice(&copy[7..40]);
        let d = f.data;
        copy_l4(&copy[l4..l4 + l4_len], &mut ip[d..d + l4_len], f.key.proto);
    }

    fn addresses_and_hops(ip: &[u8]) -> (Self, Self, u8) {
        (read_ipv6(&ip[8..24]), read_ipv6(&ip[24..40]), ip[7])
    }

    fn rewrite_later(ip: &mut [u8], src: Self, dst: Self, taken: u8) -> bool {
        if taken > 0 && ip[7] <= taken {
            return false;
        }
        ip[7] -= taken;
        ip[8..24].copy_from_slice(&src.octets());
        ip[24..40].copy_from_slice(&dst.octets());
        true
    }

    fn fragments<P>(p: &mut Pipeline<P>) -> &mut Fragments<Self, P> {
        &mut p.frags6
    }

    fn connection_step<P: Frame>(
        p: &mut Pipeline<P>,
        t: &Tables,
        frame: &mut [u8],
        now_ms: u64,
        _kernel: bool,
    ) -> Verdict<Self> {
        p.handle_ipv6_l4(t, frame, now_ms)
    }
}
