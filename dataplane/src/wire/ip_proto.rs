//! IP protocol numbers (the IPv4 `protocol` / IPv6 `next_header` field).

/// IPv6 hop-by-hop options.
pub const HOPOPTS: u8 = 0;
/// ICMP for IPv4.
pub const ICMP: u8 = 1;
/// IPv4-in-IP encapsulation (IPVS tunnel mode).
pub const IPIP: u8 = 4;
/// TCP.
pub const TCP: u8 = 6;
/// UDP.
pub const UDP: u8 = 17;
/// IPv6 encapsulation.
pub const IPV6: u8 = 41;
/// IPv6 routing header.
pub const ROUTING: u8 = 43;
/// IPv6 fragment header.
pub const FRAGMENT: u8 = 44;
/// Generic routing encapsulation.
pub const GRE: u8 = 47;
/// ICMP for IPv6.
pub const ICMPV6: u8 = 58;
/// IPv6 "no next header".
pub const NONE: u8 = 59;
/// IPv6 destination options.
pub const DSTOPTS: u8 = 60;
/// SCTP.
pub const SCTP: u8 = 132;
