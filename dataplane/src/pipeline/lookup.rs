//! The per-family lookups of the connection step: connection, virtual service and own
//! address, for IPv4 and IPv6 behind one trait.

use std::net::{Ipv4Addr, Ipv6Addr};

use conn_table::{ConnId, ConnTable, Direction, Tuple};

use super::egress::Egress;
use super::reset::ResetFamily;
use crate::counters::DropReason;
use crate::service::ServiceId;
use crate::tables::Tables;
use crate::wire::martian;

/// The per-family lookups of the connection step (static dispatch: each family's path
/// compiles to code of its own).
pub(crate) trait L4Family: Egress + ResetFamily {
    /// The connection of a packet `src -> dst` of `proto`, and the direction it matched.
    fn lookup(
        conns: &ConnTable,
        proto: u8,
        src: (Self, u16),
        dst: (Self, u16),
    ) -> Option<(ConnId, Direction)>;
    /// The virtual service of `proto` at `vip:port`.
    fn find_service(t: &Tables, proto: u8, vip: Self, port: u16) -> Option<ServiceId>;
    /// Whether `a` is one of the director's own addresses.
    fn is_local(t: &Tables, a: Self) -> bool;
    /// Whether a packet from `src` that no connection claims is refused as Linux's input
    /// path refuses a martian source: an address no host sends from
    /// ([`martian::is_martian_source`]), a VIP, one of the director's own addresses
    /// (FULLNAT local addresses included) or, for IPv4, the broadcast address of one of
    /// its subnets (`fib_validate_source` takes none of them). Checked before a new
    /// connection only: a connection exists only for a source that passed.
    fn martian_source(t: &Tables, src: Self) -> bool;
    /// The drop reason of a martian source of this family.
    const MARTIAN_SOURCE: DropReason;
}

impl L4Family for Ipv4Addr {
    #[inline(always)]
    fn lookup(
        conns: &ConnTable,
        proto: u8,
        src: (Self, u16),
        dst: (Self, u16),
    ) -> Option<(ConnId, Direction)> {
        // 4-byte keys: no 17-byte IpAddr built per packet.
        conns.lookup_v4(proto, src, dst)
    }
    #[inline(always)]
    fn find_service(t: &Tables, proto: u8, vip: Self, port: u16) -> Option<ServiceId> {
        t.services.find(proto, vip, port)
    }
    #[inline(always)]
    fn is_local(t: &Tables, a: Self) -> bool {
        t.services.is_local(a)
    }
    #[inline(always)]
    fn martian_source(t: &Tables, src: Self) -> bool {
        martian::is_martian_source(src)
            || t.services.is_vip(src)
            || t.services.locals().iter().any(|l| {
                // The address itself, or its subnet's broadcast (/31 and /32 have none).
                let host_bits = 32 - u32::from(l.prefix_len.min(32));
                let broadcast = u32::from(l.addr) | ((1u64 << host_bits) - 1) as u32;
                src == l.addr || (host_bits >= 2 && u32::from(src) == broadcast)
            })
            || t.snat.is_lip(src)
    }
    const MARTIAN_SOURCE: DropReason = DropReason::Ipv4MartianSource;
}

impl L4Family for Ipv6Addr {
    #[inline(always)]
    fn lookup(
        conns: &ConnTable,
        proto: u8,
        src: (Self, u16),
        dst: (Self, u16),
    ) -> Option<(ConnId, Direction)> {
        conns.lookup(&Tuple::new(proto, src.0.into(), src.1, dst.0.into(), dst.1))
    }
    #[inline(always)]
    fn find_service(t: &Tables, proto: u8, vip: Self, port: u16) -> Option<ServiceId> {
        t.services.find6(proto, vip, port)
    }
    #[inline(always)]
    fn is_local(t: &Tables, a: Self) -> bool {
        t.services.is_local6(a)
    }
    #[inline(always)]
    fn martian_source(t: &Tables, src: Self) -> bool {
        martian::is_martian_source6(src)
            || t.services.is_vip6(src)
            || t.services.is_local6(src)
            || t.snat.is_lip(src)
    }
    const MARTIAN_SOURCE: DropReason = DropReason::Ipv6MartianSource;
}
