//! FULLNAT (DPVS's and Alibaba LVS's full NAT; no IPVS counterpart): both ends of a
//! client's connection are translated. `CIP:cport -> VIP:vport` leaves the director as
//! `LIP:lport -> RIP:rport`; the real server answers `RIP:rport -> LIP:lport`, which the
//! director turns back into `VIP:vport -> CIP:cport`, so real servers need no route back to
//! clients. The parts:
//! - [`snat`]: the SNAT pools and each worker's share of their local ports (replies are
//!   steered to the worker owning the local port, [`snat::port_owner`]);
//! - [`toa`]: the client's address in the TOA TCP option, for the real server;
//! - [`tcp_seq`]: the director's own initial sequence numbers towards the real server
//!   ([`isn`]: how they are chosen) and the shift back to the client's;
//! - here: the rewrites of the first and later packets, and which addresses are local.
//!
//! Everything is the same for both address families: a local address is an [`IpAddr`],
//! and a pool serves the services of its addresses' family (the control plane checks
//! that a service and its pool agree).

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use conn_table::TcpFlags;

use crate::family::Family;
use crate::tables::Tables;
use crate::wire::{Error, SeqShift};

pub mod isn;
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

/// The local address and port a FULLNAT connection with reply tuple `reply` holds (its
/// destination; None for other methods).
#[inline]
pub fn local_of(method: conn_table::Method, reply: &conn_table::Tuple) -> Option<(IpAddr, u16)> {
    (method == conn_table::Method::FullNat).then_some((reply.dst, reply.dport))
}

/// A client packet of an established FULLNAT connection (TCP or UDP, parsed by the IP
/// stage): source to the local address and port, destination to the real server, and a
/// TCP segment into the director's sequence space (`seq_delta`, see [`tcp_seq`]; a UDP
/// connection's offset is 0 and the shift is TCP's only); the client's SYN loses its
/// timestamps.
#[inline(always)]
pub fn to_real_server<F: Family>(
    ip: &mut [u8],
    local: (F, u16),
    rs: (F, u16),
    seq_delta: u32,
    tcp_flags: TcpFlags,
) -> Result<(), Error> {
    F::rewrite_both(ip, local, rs, SeqShift::Seq(seq_delta))?;
    tcp_seq::syn_to_real_server(ip, tcp_flags);
    Ok(())
}

/// A real server's reply to the local address: back to the client from the virtual
/// service, both ends in one rewrite, and TCP back into the client's sequence space
/// (acknowledgement and SACK blocks less `seq_delta`).
#[inline(always)]
pub fn to_client<F: Family>(
    ip: &mut [u8],
    vip: (F, u16),
    client: (F, u16),
    seq_delta: u32,
) -> Result<(), Error> {
    F::rewrite_both(ip, vip, client, SeqShift::Ack(0u32.wrapping_sub(seq_delta)))?;
    tcp_seq::sack_to_client(ip, seq_delta);
    Ok(())
}

/// Whether a client's TCP packet carries the client's address in TOA to real server
/// `rs_id`: only before the real server has answered (its first data) and unless the
/// service switched TOA off.
#[inline(always)]
pub fn toa_wanted(t: &Tables, rs_id: u32, tcp_flags: TcpFlags, replies_seen: u64) -> bool {
    toa::wanted(tcp_flags, replies_seen) && t.snat.toa_for(rs_id)
}

/// The packet that creates a FULLNAT TCP connection, already rewritten to
/// `local -> rs`: its sequence number replaced by the director's initial sequence number
/// for this local port and real server (so a real server still holding the local port in
/// TIME_WAIT accepts it) at `ticks` of the ISN clock ([`isn::IsnClock`]). Returns the
/// offset to keep with the connection, None when the packet has no TCP header.
#[inline(always)]
pub fn first_isn(
    ip: &mut [u8],
    key: &isn::IsnKey,
    local: (IpAddr, u16),
    rs: (IpAddr, u16),
    ticks: u64,
) -> Option<u32> {
    let seq = tcp_seq::seq_of(ip)?;
    let delta = key.isn(local, rs, ticks).wrapping_sub(seq);
    tcp_seq::to_real_server(ip, delta);
    Some(delta)
}
