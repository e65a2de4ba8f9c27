//! IPv6 routes: connected prefixes (from the ports' IPv6 addresses) and static routes,
//! longest prefix first; the IPv6 counterpart of [`crate::route`].
//!
//! Kept as its own small table (a linear scan over routes sorted by prefix length, like
//! the IPv4 one) so the IPv4 lookup keeps its 4-byte keys.

use std::net::Ipv6Addr;

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

/// Where an IPv6 packet goes next: a port and the neighbour to resolve there.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct NextHop6 {
    /// Port index.
    pub port: usize,
    /// The neighbour: the gateway, or the destination itself when connected.
    pub gateway: Ipv6Addr,
}

#[derive(Clone, Copy, Debug)]
struct Route {
    prefix: Ipv6Prefix,
    via: Option<Ipv6Addr>,
    port: usize,
}

/// Immutable IPv6 routing table.
#[derive(Clone, Debug, Default)]
pub struct RouteTable6 {
    routes: Vec<Route>,
}

impl RouteTable6 {
    /// Build from connected prefixes (prefix, port) and static routes (prefix, gateway,
    /// port).
    pub fn new(
        connected: &[(Ipv6Prefix, usize)],
        statics: &[(Ipv6Prefix, Ipv6Addr, usize)],
    ) -> Self {
        let mut routes: Vec<Route> = connected
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
        // Stable sort: at equal lengths connected routes (first) win, as in the IPv4 table.
        routes.sort_by_key(|r| std::cmp::Reverse(r.prefix.len));
        RouteTable6 { routes }
    }

    /// Longest-prefix match for `dst`.
    #[inline]
    pub fn lookup(&self, dst: Ipv6Addr) -> Option<NextHop6> {
        self.routes
            .iter()
            .find(|r| r.prefix.contains(dst))
            .map(|r| NextHop6 {
                port: r.port,
                gateway: r.via.unwrap_or(dst),
            })
    }

    /// Number of routes.
    pub fn len(&self) -> usize {
        self.routes.len()
    }

    /// Whether the table is empty.
    pub fn is_empty(&self) -> bool {
        self.routes.is_empty()
    }
}

#[cfg(test)]
mod tests {
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
            NextHop6 {
                port: 1,
                gateway: "2001:2:0:1::11".parse().unwrap()
            }
        );
        assert_eq!(
            hop("2001:2:0:5::7"),
            NextHop6 {
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
