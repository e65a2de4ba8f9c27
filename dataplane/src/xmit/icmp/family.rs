//! What differs between ICMP and ICMPv6 in the translation of related errors, behind one
//! trait so that the step (`super::Pipeline::icmp_error`) is written once: the header and
//! its checksum (ICMPv6's covers a pseudo-header), which types relate to a connection, how
//! the quote is read (ICMPv6 walks extension headers), the director's own tunnel packets
//! (IPv4 only, as IPVS), and what becomes of an error that cannot be translated.
//! Static dispatch: every method is inlined into the family's own copy of the step.

use std::net::{Ipv4Addr, Ipv6Addr};

use super::quote::{self, ErrorMsg, Quote, Unrelated};
use crate::counters::{bump, DropReason, WorkerStats};
use crate::frame::Frame;
use crate::pipeline::state::Pipeline;
use crate::pipeline::verdict::Verdict;
use crate::tables::Tables;
use crate::wire::nat::{rewrite_icmp_error_dst, rewrite_icmp_error_src};
use crate::wire::{rewrite_icmp6_error_dst, rewrite_icmp6_error_src};
use crate::wire::{Error as WireError, Icmpv4Packet, Icmpv6Packet};
use crate::xmit::tun::route::TunnelRoute;

/// Why an error about a connection's packet is not translated after all.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Untranslatable {
    /// No connection has the quoted flow.
    UnknownFlow,
    /// The ICMP checksum is wrong (checked before the incremental rewrite).
    BadChecksum,
    /// The connection has expired and is not yet reaped.
    Expired,
    /// A NAT connection without a reply tuple of this family.
    NoReplyTuple,
    /// The outer packet or the quote could not be rewritten (cut short).
    RewriteFailed,
    /// An error whose TTL / hop limit runs out here (either way).
    HopLimit,
}

/// The per-family half of ICMP error translation.
pub(crate) trait IcmpFamily: TunnelRoute {
    /// Whether a FULLNAT TCP quote is put back in the client's sequence space when the
    /// connection's delta is 0. That identity changes bytes only when the quoted TCP
    /// checksum field is 0xFFFF (no TCP stack computes it; it becomes the equivalent
    /// 0x0000): IPv4 does it, IPv6 skips it, as each did before they shared this step.
    const SHIFT_QUOTE_BY_ZERO: bool;

    /// The error message in IP packet `ip` and the TCP/UDP packet it quotes, or why it is
    /// not an error this step takes.
    fn error_quote(t: &Tables, ip: &[u8]) -> Result<(ErrorMsg<Self>, Quote<Self>), Unrelated>;

    /// Whether the message's checksum is right (ICMPv6: with its pseudo-header).
    fn verify_checksum(ip: &[u8], msg: &ErrorMsg<Self>) -> bool;

    /// Rewrite the outer source and the quote's destination (the quote is the reverse of
    /// the error's direction), with every checksum involved.
    fn rewrite_error_src(ip: &mut [u8], to: (Self, u16)) -> Result<(), WireError>;

    /// Rewrite the outer destination and the quote's source, as [`Self::rewrite_error_src`].
    fn rewrite_error_dst(ip: &mut [u8], to: (Self, u16)) -> Result<(), WireError>;

    /// What becomes of an error of this family that cannot be translated, sent to `dst`:
    /// `None` hands it back to the caller's own ICMP handling, `Some` drops and counts it.
    fn untranslated(t: &Tables, dst: Self, why: Untranslatable) -> Option<DropReason>;

    /// Count a verdict of the step in the family's "errors translated" counter.
    fn count_translated(stats: &WorkerStats, v: &Verdict<Self>);

    /// An error about one of the director's own tunnel packets ([`Unrelated::OwnTunnel`]).
    fn own_tunnel_error<P: Frame>(
        p: &mut Pipeline<P>,
        t: &Tables,
        ip: &mut [u8],
        now_ms: u64,
    ) -> Option<Verdict<Self>>;

    /// The flow an error in IP packet `ip` concerns, as (source, destination) of a packet
    /// of it, for steering; None when `ip` is no such error.
    fn quoted_flow(t: &Tables, ip: &[u8]) -> Option<(Self, Self)>;

    /// The local port of the FULLNAT packet an error in `ip` quotes, for steering.
    fn quoted_local_port(t: &Tables, ip: &[u8]) -> Option<u16>;
}

impl IcmpFamily for Ipv4Addr {
    const SHIFT_QUOTE_BY_ZERO: bool = true;

    #[inline(always)]
    fn error_quote(t: &Tables, ip: &[u8]) -> Result<(ErrorMsg<Self>, Quote<Self>), Unrelated> {
        quote::error_quote4(t, ip)
    }
    #[inline(always)]
    fn verify_checksum(ip: &[u8], msg: &ErrorMsg<Self>) -> bool {
        Icmpv4Packet::new_unchecked(&ip[msg.icmp..msg.end]).verify_checksum()
    }
    #[inline(always)]
    fn rewrite_error_src(ip: &mut [u8], (a, p): (Self, u16)) -> Result<(), WireError> {
        rewrite_icmp_error_src(ip, a, p)
    }
    #[inline(always)]
    fn rewrite_error_dst(ip: &mut [u8], (a, p): (Self, u16)) -> Result<(), WireError> {
        rewrite_icmp_error_dst(ip, a, p)
    }
    /// IPv4 hands every untranslated error but a broken one back to `handle_icmp` (which
    /// answers, drops or passes to the kernel as for any ICMP to that address), as IPVS
    /// accepts what it does not relate.
    #[inline(always)]
    fn untranslated(_: &Tables, _: Self, why: Untranslatable) -> Option<DropReason> {
        match why {
            Untranslatable::UnknownFlow
            | Untranslatable::Expired
            | Untranslatable::NoReplyTuple => None,
            Untranslatable::BadChecksum | Untranslatable::RewriteFailed => {
                Some(DropReason::L4Malformed)
            }
            Untranslatable::HopLimit => Some(DropReason::TtlExceeded),
        }
    }
    /// IPv4 counts every relay, also one dropped because its real server has left the
    /// configuration.
    #[inline(always)]
    fn count_translated(stats: &WorkerStats, _: &Verdict<Self>) {
        bump(&stats.icmp_errors_translated, 1);
    }
    #[inline(always)]
    fn own_tunnel_error<P: Frame>(
        p: &mut Pipeline<P>,
        t: &Tables,
        ip: &mut [u8],
        now_ms: u64,
    ) -> Option<Verdict<Self>> {
        p.tunnel_icmp_error(t, ip, now_ms)
    }
    #[inline(always)]
    fn quoted_flow(t: &Tables, ip: &[u8]) -> Option<(Self, Self)> {
        quote::quoted_flow4(t, ip)
    }
    #[inline(always)]
    fn quoted_local_port(t: &Tables, ip: &[u8]) -> Option<u16> {
        quote::quoted_local_port4(t, ip)
    }
}

impl IcmpFamily for Ipv6Addr {
    const SHIFT_QUOTE_BY_ZERO: bool = false;

    #[inline(always)]
    fn error_quote(_: &Tables, ip: &[u8]) -> Result<(ErrorMsg<Self>, Quote<Self>), Unrelated> {
        quote::error_quote6(ip)
    }
    #[inline(always)]
    fn verify_checksum(ip: &[u8], msg: &ErrorMsg<Self>) -> bool {
        Icmpv6Packet::new_unchecked(&ip[msg.icmp..msg.end]).verify_checksum(msg.src, msg.dst)
    }
    #[inline(always)]
    fn rewrite_error_src(ip: &mut [u8], (a, p): (Self, u16)) -> Result<(), WireError> {
        rewrite_icmp6_error_src(ip, a, p)
    }
    #[inline(always)]
    fn rewrite_error_dst(ip: &mut [u8], (a, p): (Self, u16)) -> Result<(), WireError> {
        rewrite_icmp6_error_dst(ip, a, p)
    }
    /// IPv6 counts what it cannot translate, except an error about an unknown flow sent
    /// to one of the director's own addresses (not a VIP): that is the director's own
    /// business, as any ICMPv6 to it.
    #[inline(always)]
    fn untranslated(t: &Tables, dst: Self, why: Untranslatable) -> Option<DropReason> {
        Some(match why {
            Untranslatable::UnknownFlow
                if t.services.is_local6(dst) && !t.services.is_vip6(dst) =>
            {
                return None
            }
            Untranslatable::UnknownFlow | Untranslatable::Expired => {
                DropReason::Icmpv6ErrorNoConnection
            }
            Untranslatable::BadChecksum => DropReason::Icmpv6BadChecksum,
            Untranslatable::NoReplyTuple => DropReason::NoService,
            Untranslatable::RewriteFailed => DropReason::Icmpv6ErrorMalformed,
            Untranslatable::HopLimit => DropReason::TtlExceeded,
        })
    }
    /// IPv6 counts only what it sends on.
    #[inline(always)]
    fn count_translated(stats: &WorkerStats, v: &Verdict<Self>) {
        if matches!(v, Verdict::Forward(_) | Verdict::Tunnel(..)) {
            bump(&stats.icmpv6_errors_translated, 1);
        }
    }
    /// `ip_vs_in_icmp_v6` relates no error about the director's own tunnel packets (the
    /// kernel only lowers its path MTU towards the real server; rvs keeps no such cache),
    /// and [`quote::error_quote6`] never reports one.
    #[inline(always)]
    fn own_tunnel_error<P: Frame>(
        _: &mut Pipeline<P>,
        _: &Tables,
        _: &mut [u8],
        _: u64,
    ) -> Option<Verdict<Self>> {
        None
    }
    #[inline(always)]
    fn quoted_flow(_: &Tables, ip: &[u8]) -> Option<(Self, Self)> {
        quote::quoted_flow6(ip)
    }
    #[inline(always)]
    fn quoted_local_port(t: &Tables, ip: &[u8]) -> Option<u16> {
        quote::quoted_local_port6(t, ip)
    }
}
