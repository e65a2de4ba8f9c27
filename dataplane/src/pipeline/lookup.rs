//! The per-family lookups of the connection step: connection, virtual service and own
//! address, for IPv4 and IPv6 behind one trait.

use std::net::{Ipv4Addr, Ipv6Addr};

use conn_table::{ConnId, ConnTable, Direction, Tuple};

use super::egress::Egress;
use super::reset::ResetFamily;
use crate::service::ServiceId;
use crate::tables::Tables;

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
}
