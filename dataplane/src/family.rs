//! The address family of a packet path, as a type. The established step reads a
//! connection's endpoints and rewrites the packet through [`Family`], so the IPv4 and the
//! IPv6 path each compile to code of their own, with no per-packet match on `IpAddr`
//! (which also moved 17-byte enums through every call).

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use conn_table::{ConnRef, Direction};

use crate::wire::{self, Error};

/// IPv4 or IPv6, known when the code is compiled.
pub trait Family: Copy + Eq + Into<IpAddr> {
    /// Source address and port of `dir`'s tuple of `c`: `None` when `c` is of the other
    /// family or has no such tuple.
    fn src(c: &ConnRef<'_>, dir: Direction) -> Option<(Self, u16)>;
    /// Destination address and port of `dir`'s tuple of `c`, as [`Family::src`].
    fn dst(c: &ConnRef<'_>, dir: Direction) -> Option<(Self, u16)>;
    /// `a`, if it is of this family.
    fn of(a: IpAddr) -> Option<Self>;
    /// Rewrite the destination (NAT towards the real server) of a packet the path has
    /// parsed (IPv4: an unfragmented TCP or UDP packet, so the IPv4 rewrites skip the
    /// checks the parse made; IPv6 checks again).
    fn rewrite_dst(ip: &mut [u8], to: (Self, u16)) -> Result<(), Error>;
    /// Rewrite the source (NAT replies).
    fn rewrite_src(ip: &mut [u8], to: (Self, u16)) -> Result<(), Error>;
    /// Rewrite both ends at once (FULLNAT), and shift a TCP segment's sequence space
    /// by `shift` (IPv4: in the same checksum update; UDP is not shifted).
    fn rewrite_both(
        ip: &mut [u8],
        src: (Self, u16),
        dst: (Self, u16),
        shift: wire::SeqShift,
    ) -> Result<(), Error>;
    /// Decrement the TTL / hop limit; false when the packet must not be forwarded.
    fn decrement_hops(ip: &mut [u8]) -> bool;
}

impl Family for Ipv4Addr {
    #[inline(always)]
    fn src(c: &ConnRef<'_>, dir: Direction) -> Option<(Self, u16)> {
        c.src_v4(dir)
    }
    #[inline(always)]
    fn dst(c: &ConnRef<'_>, dir: Direction) -> Option<(Self, u16)> {
        c.dst_v4(dir)
    }
    #[inline(always)]
    fn of(a: IpAddr) -> Option<Self> {
        match a {
            IpAddr::V4(a) => Some(a),
            IpAddr::V6(_) => None,
        }
    }
    #[inline(always)]
    fn rewrite_dst(ip: &mut [u8], (a, p): (Self, u16)) -> Result<(), Error> {
        wire::rewrite_dst_parsed(ip, a, p)
    }
    #[inline(always)]
    fn rewrite_src(ip: &mut [u8], (a, p): (Self, u16)) -> Result<(), Error> {
        wire::rewrite_src_parsed(ip, a, p)
    }
    #[inline(always)]
    fn rewrite_both(
        ip: &mut [u8],
        src: (Self, u16),
        dst: (Self, u16),
        shift: wire::SeqShift,
    ) -> Result<(), Error> {
        wire::rewrite_both_parsed_shifted(ip, src, dst, shift)
    }
    #[inline(always)]
    fn decrement_hops(ip: &mut [u8]) -> bool {
        wire::decrement_ttl(ip)
    }
}

impl Family for Ipv6Addr {
    #[inline(always)]
    fn src(c: &ConnRef<'_>, dir: Direction) -> Option<(Self, u16)> {
        c.src_v6(dir)
    }
    #[inline(always)]
    fn dst(c: &ConnRef<'_>, dir: Direction) -> Option<(Self, u16)> {
        c.dst_v6(dir)
    }
    #[inline(always)]
    fn of(a: IpAddr) -> Option<Self> {
        match a {
            IpAddr::V6(a) => Some(a),
            IpAddr::V4(_) => None,
        }
    }
    #[inline(always)]
    fn rewrite_dst(ip: &mut [u8], (a, p): (Self, u16)) -> Result<(), Error> {
        wire::rewrite_dst6(ip, a, p)
    }
    #[inline(always)]
    fn rewrite_src(ip: &mut [u8], (a, p): (Self, u16)) -> Result<(), Error> {
        wire::rewrite_src6(ip, a, p)
    }
    #[inline(always)]
    fn rewrite_both(
        ip: &mut [u8],
        src: (Self, u16),
        dst: (Self, u16),
        shift: wire::SeqShift,
    ) -> Result<(), Error> {
        wire::rewrite_both6(ip, src, dst)?;
        crate::xmit::fullnat::tcp_seq::shift(ip, shift);
        Ok(())
    }
    #[inline(always)]
    fn decrement_hops(ip: &mut [u8]) -> bool {
        wire::decrement_hop_limit(ip)
    }
}
