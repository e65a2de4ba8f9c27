//! TUN forwarding (IPVS `-i`, `ip_vs_tunnel_xmit` and `ip_vs_tunnel_xmit_v6`): the
//! client's packet, unchanged, inside an outer header of its own family from the director
//! to the real server: plain IP-in-IP (IPIP for IPv4, ip6ip6 for IPv6; the default), GUE
//! (UDP + a 4-byte GUE header, [`crate::wire::gue`]) or GRE ([`crate::wire::gre`]).
//! Written once over the family: `TunnelFamily` holds what differs (the outer header,
//! the path-MTU policy), `route::TunnelRoute` what the stage looks up and answers.
//!
//! The outer header follows the kernel: source = the director's address on the egress
//! port, destination = RIP, TTL / hop limit copied, TOS / traffic class copied with the
//! ECN bits encapsulated as RFC 6040's normal mode (`INET_ECN_encapsulate`: CE becomes
//! ECT(0)). IPv4: DF copied from the inner header, ID 0 when DF is set (Linux's
//! `ip_select_ident` without a socket). IPv6: flow label 0 (`ip_vs_tunnel_xmit_v6` clears
//! it).
//!
//! Path MTU: when the encapsulated packet would exceed the egress MTU (the port's
//! `interfaces[].mtu`), the client is answered from the VIP (the kernel's `icmp_send`
//! picks the packet's local destination as source) with the MTU less the overhead
//! ([`too_big`]):
//! - IPv4 with DF set: ICMP "fragmentation needed". Without DF IPVS would fragment the
//!   outer packet; rvs does not fragment, it drops and counts.
//! - IPv6 (`__mtu_check_toobig_v6`): routers never fragment, so always ICMPv6 Packet Too
//!   Big, never reporting below the IPv6 minimum, 1280 (the kernel instead refuses to
//!   tunnel at all when the route's MTU less the overhead is below 1280). Like Linux,
//!   which never rate-limits Packet Too Big ("do not limit pmtu discovery, it would break
//!   it", `icmpv6_xrlim_allow`), rvs sends one per offending packet and counts them.
//!
//! Checksums (`--tun-csum`, `--tun-remcsum`): GUE then carries the outer UDP checksum and
//! GRE the checksum flag and field (`gre_build_header`), both computed over the whole
//! encapsulated packet.
//!
//! Layering: `encap` (the types and the one `encapsulate::<F>`) and [`too_big`] use only
//! the wire views, the frame and `Family`; `route` adds the tables, and `step` (the stage,
//! `Pipeline::tunnel`) the pipeline. This file only declares and re-exports, so the
//! pipeline and the tables may use `xmit::tun`.

mod encap;
pub(crate) mod route;
mod step;
pub mod too_big;

#[cfg(test)]
mod tests;

pub use encap::{inner_offset, EncapError, TunnelCsum, TunnelKind, DEFAULT_MTU};
pub use too_big::{
    frag_needed_in_place, packet_too_big_in_place, write_icmp_error, ICMP6_QUOTE_MAX,
    ICMP_QUOTE_MAX, IPV6_MIN_MTU,
};
