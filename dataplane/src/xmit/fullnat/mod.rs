//! FULLNAT (DPVS's and Alibaba LVS's full NAT; no IPVS counterpart): both ends of a
//! client's connection are translated. `CIP:cport -> VIP:vport` leaves the director as
//! `LIP:lport -> RIP:rport`; the real server answers `RIP:rport -> LIP:lport`, which the
//! director turns back into `VIP:vport -> CIP:cport`, so real servers need no route back to
//! clients. The parts:
//! - [`snat`]: the SNAT pools and each worker's share of their local ports (replies are
//!   steered to the worker owning the local port, [`snat::port_owner`]);
//! - [`toa`]: the client's address in the TOA TCP option, for the real server;
//! - [`tcp_seq`]: the director's own initial sequence numbers towards the real server and
//!   the shift back to the client's;
//! - here: the rewrites of the first and later packets, and which addresses are local.
//!
//! Everything is the same for both address families: a local address is an [`IpAddr`],
//! and a pool serves the services of its addresses' family (the control plane checks
//! that a service and its pool agree).

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use crate::tables::Tables;
use crate::wire::Error;

pub mod snat;
pub mod tcp_seq;
pub mod toa;

pub use snat::{port_owner, PoolId, SnatPool, SnatPorts, SnatTable};

#[cfg(test)]
mod tests;

/// Whether the director answers ARP for `ip` on `port` as a local address of a SNAT
/// pool: on the port its route leaves by (the port facing the real servers when the pool
/// sits on their subnet, as it should).
#[inline]
pub fn lip_on(t: &Tables, port: usize, ip: Ipv4Addr) -> bool {
    t.snat.is_lip(ip) && t.routes.lookup(ip).is_some_and(|h| h.port == port)
}

/// [`lip_on`] for IPv6: whether the director answers neighbour solicitations for `ip` on
/// `port` as a local address of a SNAT pool.
#[inline]
pub fn lip_on6(t: &Tables, port: usize, ip: Ipv6Addr) -> bool {
    t.snat.is_lip(ip) && t.routes6.lookup(ip).is_some_and(|h| h.port == port)
}

/// The inbound half of FULLNAT for the packet that creates a connection (a SYN for TCP):
/// the client's packet in `ip` (either family) rewritten to `local -> rs` with
/// [`crate::wire::rewrite_both_ip`], and with `toa` its MSS option lowered by the TOA
/// length so later segments have room for the option (see `crate::xmit::fullnat::toa`).
#[inline]
pub fn rewrite_first_to_real_server(
    ip: &mut [u8],
    local: (IpAddr, u16),
    rs: (IpAddr, u16),
    toa: bool,
) -> Result<(), Error> {
    crate::wire::rewrite_both_ip(ip, local, rs)?;
    if toa {
        crate::xmit::fullnat::toa::clamp_mss(ip);
    }
    Ok(())
}

/// The local address and port a FULLNAT connection holds (None for other methods).
#[inline]
pub fn local_of(
    method: conn_table::Method,
    reply: Option<conn_table::Tuple>,
) -> Option<(IpAddr, u16)> {
    (method == conn_table::Method::FullNat)
        .then_some(reply)
        .flatten()
        .map(|r| (r.dst, r.dport))
}
