//! The forwarding methods, one module each (IPVS's transmitters, `ip_vs_xmit.c`): what a
//! method does to a packet of one of its connections on the way to the real server and
//! back. The connection's method is [`conn_table::Method`]:
//!
//! | rvs / LVS name | IPVS name | ipvsadm | module |
//! |---|---|---|---|
//! | NAT | Masq (`ip_vs_nat_xmit`) | `-m` | [`nat`] |
//! | DR (direct routing) | Route (`ip_vs_dr_xmit`) | `-g` | [`dr`] |
//! | TUN (IPIP/GUE/GRE) | Tunnel (`ip_vs_tunnel_xmit`) | `-i` | [`tun`] |
//! | FULLNAT (SNAT + TOA) | — (DPVS, Alibaba LVS) | `--fullnat` | [`fullnat`] |
//!
//! ICMP errors that quote a connection's packet are translated for every method and both
//! families by [`icmp`] (`ip_vs_in_icmp`/`ip_vs_out_icmp` and their `_v6` variants).

pub mod dr;
pub mod fullnat;
pub mod icmp;
pub mod nat;
pub mod tun;
