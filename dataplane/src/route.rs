//! Static routes of both families with longest-prefix match: one table type,
//! [`Routes`], over an IPv4 or an IPv6 prefix ([`RouteTable`], [`RouteTable6`]), so the
//! IPv4 lookup keeps its 4-byte keys. Connected subnets come from the interfaces'
//! addresses; static routes from the configuration.
//!
//! Tables are tiny (a handful of prefixes per director), so a length-sorted vector scanned
//! linearly beats a trie here; it is immutable once built and shared by all workers.

use std::net::{Ipv4Addr, Ipv6Addr};

/// An IPv4 prefix such as 198.18.0.0/24.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Ipv4Prefix {
    addr: u32,
    len: u8,
}

impl Ipv4Prefix {
    /// A prefix of `len` bits (0..=32) of `addr`; host bits are cleared. None for len > 32.
    pub fn new(addr: Ipv4Addr, len: u8) -> Option<Self> {
        if len > 32 {
            return None;
        }
        Some(Ipv4Prefix {
            addr: u32::from(addr) & Self::mask(len),
            len,
        })
    }

    fn mask(len: u8) -> u32 {
        if len == 0 {
            0
        } else {
            u32::MAX << (32 - len)
        }
    }

    /// Network address.
    pub fn network(&self) -> Ipv4Addr {
        Ipv4Addr::from(self.addr)
    }

    /// Prefix length in bits.
    pub fn len(&self) -> u8 {
        self.len
    }

    /// True for the default route 0.0.0.0/0.
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// Whether `ip` is inside this prefix.
    #[inline]
    pub fn contains(&self, ip: Ipv4Addr) -> bool {
        u32::from(ip) & Self::mask(self.len) == self.addr
    }
}

/// A destination prefix of one address family, as a route table needs it.
pub trait Prefix: Copy + std::fmt::Debug {
    /// The family's address type.
    type Addr: Copy + std::fmt::Debug;
    /// Whether `ip` is inside the prefix.
    fn contains(&self, ip: Self::Addr) -> bool;
    /// The prefix length in bits.
    fn prefix_len(&self) -> u8;
}

impl Prefix for Ipv4Prefix {
    type Addr = Ipv4Addr;
    #[inline]
    fn contains(&self, ip: Ipv4Addr) -> bool {
        Ipv4Prefix::contains(self, ip)
    }
    fn prefix_len(&self) -> u8 {
        self.len
    }
}

/// Where to send a packet for a destination: out of `port`, to the neighbour `gateway`
/// (the destination itself on a connected subnet).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Hop<A> {
    /// Index of the egress port.
    pub port: usize,
    /// The address whose MAC the frame is sent to.
    pub gateway: A,
}

#[derive(Clone, Copy, Debug)]
struct Route<P: Prefix> {
    prefix: P,
    via: Option<P::Addr>,
    port: usize,
}

/// Immutable routing table of one address family (generic over the prefix type, so each
/// family's lookup compares its own fixed-size keys).
#[derive(Clone, Debug)]
pub struct Routes<P: Prefix> {
    routes: Vec<Route<P>>,
}

/// The IPv4 routing table.
pub type RouteTable = Routes<Ipv4Prefix>;

impl<P: Prefix> Default for Routes<P> {
    fn default() -> Self {
        Routes { routes: Vec::new() }
    }
}

impl<P: Prefix> Routes<P> {
    /// Build from connected subnets `(prefix, port)` and static routes
    /// `(prefix, gateway, port)`. On equal prefixes a connected route wins, as in Linux.
    pub fn new(connected: &[(P, usize)], statics: &[(P, P::Addr, usize)]) -> Self {
        let mut routes: Vec<Route<P>> = connected
            .iter()
            .map(|&(prefix, port)| Route {
                prefix,
                via: None,
                port,
            })
            .collect();
        routes.extend(statics.iter().map(|&(prefix, gw, port)| Route {
            prefix,
            via: Some(gw),
            port,
        }));
        // Longest prefix first; stable sort keeps connected before static on ties.
        routes.sort_by_key(|r| std::cmp::Reverse(r.prefix.prefix_len()));
        Routes { routes }
    }

    /// Longest-prefix match for `dst`.
    #[inline]
    pub fn lookup(&self, dst: P::Addr) -> Option<Hop<P::Addr>> {
        self.routes
            .iter()
            .find(|r| r.prefix.contains(dst))
            .map(|r| Hop {
                port: r.port,
                gateway: r.via.unwrap_or(dst),
            })
    }

    /// Number of routes (connected + static).
    pub fn len(&self) -> usize {
        self.routes.len()
    }

    /// True when there is no route at all.
    pub fn is_empty(&self) -> bool {
        self.routes.is_empty()
    }
}

/// An IPv6 prefix (address with the host bits cleared, and a length 0..=128).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Ipv6Prefix {
    addr: u128,
    len: u8,
}

impl Ipv6Prefix {
    /// `addr/len`, host bits cleared; None if `len > 128`.
    pub fn new(addr: Ipv6Addr, len: u8) -> Option<Self> {
        if len > 128 {
            return None;
        }
        Some(Ipv6Prefix {
            addr: u128::from(addr) & Self::mask(len),
            len,
        })
    }

    fn mask(len: u8) -> u128 {
        if len == 0 {
            0
        } else {
            u128::MAX << (128 - len)
        }
    }

    /// The network address.
    pub fn network(&self) -> Ipv6Addr {
        Ipv6Addr::from(self.addr)
    }

    /// The prefix length.
    pub fn len(&self) -> u8 {
        self.len
    }

    /// Whether this is the default route (`::/0`).
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// Whether `ip` is inside the prefix.
    #[inline]
    pub fn contains(&self, ip: Ipv6Addr) -> bool {
        u128::from(ip) & Self::mask(self.len) == self.addr
    }
}

impl Prefix for Ipv6Prefix {
    type Addr = Ipv6Addr;
    #[inline]
    fn contains(&self, ip: Ipv6Addr) -> bool {
        Ipv6Prefix::contains(self, ip)
    }
    fn prefix_len(&self) -> u8 {
        self.len
    }
}

/// Immutable IPv6 routing table: the IPv4 table's code over IPv6 prefixes.
pub type RouteTable6 = Routes<Ipv6Prefix>;

#[cfg(test)]
mod tests {
    use super::*;

    fn p(s: &str, len: u8) -> Ipv4Prefix {
        Ipv4Prefix::new(s.parse().unwrap(), len).unwrap()
    }

    #[test]
    fn longest_prefix_wins_and_connected_means_direct() {
        let t = RouteTable::new(
            &[(p("198.18.0.0", 24), 0), (p("198.19.0.0", 24), 1)],
            &[
                (p("0.0.0.0", 0), "198.18.0.1".parse().unwrap(), 0),
                (p("198.19.5.0", 24), "198.19.0.1".parse().unwrap(), 1),
                (p("198.19.0.0", 16), "198.18.0.2".parse().unwrap(), 0),
            ],
        );
        let hop = |d: &str| t.lookup(d.parse().unwrap()).unwrap();
        assert_eq!(
            hop("198.19.0.11"),
            Hop {
                port: 1,
                gateway: "198.19.0.11".parse().unwrap()
            }
        );
        assert_eq!(
            hop("198.19.5.7"),
            Hop {
                port: 1,
                gateway: "198.19.0.1".parse().unwrap()
            }
        );
        assert_eq!(
            hop("198.19.9.9"),
            Hop {
                port: 0,
                gateway: "198.18.0.2".parse().unwrap()
            }
        );
        assert_eq!(
            hop("203.0.113.1").gateway,
            "198.18.0.1".parse::<Ipv4Addr>().unwrap()
        );
    }

    #[test]
    fn no_default_route_means_none() {
        let t = RouteTable::new(&[(p("198.18.0.0", 24), 0)], &[]);
        assert!(t.lookup("198.19.0.1".parse().unwrap()).is_none());
        assert!(Ipv4Prefix::new(Ipv4Addr::UNSPECIFIED, 33).is_none());
        assert_eq!(
            p("198.18.0.77", 24).network(),
            "198.18.0.0".parse::<Ipv4Addr>().unwrap()
        );
    }
}

#[cfg(test)]
mod tests6 {
    use super::*;

    fn p(s: &str, len: u8) -> Ipv6Prefix {
        Ipv6Prefix::new(s.parse().unwrap(), len).unwrap()
    }

    #[test]
    fn longest_prefix_wins_and_connected_means_direct() {
        let t = RouteTable6::new(
            &[(p("2001:2::", 64), 0), (p("2001:2:0:1::", 64), 1)],
            &[
                (p("::", 0), "2001:2::1".parse().unwrap(), 0),
                (p("2001:2:0:5::", 64), "2001:2:0:1::1".parse().unwrap(), 1),
                (p("2001:2::", 48), "2001:2::2".parse().unwrap(), 0),
            ],
        );
        let hop = |d: &str| t.lookup(d.parse().unwrap()).unwrap();
        assert_eq!(
            hop("2001:2:0:1::11"),
            Hop {
                port: 1,
                gateway: "2001:2:0:1::11".parse().unwrap()
            }
        );
        assert_eq!(
            hop("2001:2:0:5::7"),
            Hop {
                port: 1,
                gateway: "2001:2:0:1::1".parse().unwrap()
            }
        );
        assert_eq!(
            hop("2001:2:0:9::9").gateway,
            "2001:2::2".parse::<Ipv6Addr>().unwrap()
        );
        assert_eq!(
            hop("2001:3::1").gateway,
            "2001:2::1".parse::<Ipv6Addr>().unwrap()
        );
    }

    #[test]
    fn no_default_route_means_none_and_lengths_are_checked() {
        let t = RouteTable6::new(&[(p("2001:2::", 64), 0)], &[]);
        assert!(t.lookup("2001:2:0:1::1".parse().unwrap()).is_none());
        assert!(Ipv6Prefix::new(Ipv6Addr::UNSPECIFIED, 129).is_none());
        assert_eq!(
            p("2001:2::77", 64).network(),
            "2001:2::".parse::<Ipv6Addr>().unwrap()
        );
        assert!(p("::", 0).contains("2001:2::1".parse().unwrap()));
        assert!(p("2001:2::5", 128).contains("2001:2::5".parse().unwrap()));
        assert!(!p("2001:2::5", 128).contains("2001:2::6".parse().unwrap()));
    }
}
