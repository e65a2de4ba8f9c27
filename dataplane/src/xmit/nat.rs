//! NAT — LVS-NAT, IPVS's Masq (`ip_vs_nat_xmit`), ipvsadm `-m`, YAML `masq`: the client's
//! packets get the real server as destination; the real server routes its replies through
//! the director, which gives them the VIP back as source. The connection records both
//! tuples, so replies are found by the reply tuple.

use std::net::IpAddr;

use crate::family::Family;
use crate::wire::{self, Error};

/// The packet that creates a NAT connection (in `ip`, from the IP header; either
/// family): destination to real server `rs`.
#[inline(always)]
pub fn first_to_real_server(ip: &mut [u8], rs: (IpAddr, u16)) -> Result<(), Error> {
    wire::rewrite_dst_ip(ip, rs.0, rs.1)
}

/// A client packet of an established NAT connection, already parsed by the IP stage:
/// destination to real server `rs`.
#[inline(always)]
pub fn to_real_server<F: Family>(ip: &mut [u8], rs: (F, u16)) -> Result<(), Error> {
    F::rewrite_dst(ip, rs)
}

/// A real server's reply: source back to the virtual service `vip` (the caller has
/// decremented the TTL / hop limit, as for every reply routed through the director).
#[inline(always)]
pub fn to_client<F: Family>(ip: &mut [u8], vip: (F, u16)) -> Result<(), Error> {
    F::rewrite_src(ip, vip)
}
