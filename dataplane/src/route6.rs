//! IPv6 routes: connected prefixes (from the ports' IPv6 addresses) and static routes,
//! longest prefix first; the IPv6 counterpart of [`crate::route`].
//!
//! The table is [`crate::route::Routes`] over [`Ipv6Prefix`] (a linear scan over routes
//! sorted by prefix length); being generic, the IPv4 lookup keeps its 4-byte keys.

use std::net::Ipv6Addr;

use crate::route::{Hop, Prefix, Routes};

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

/// Where an IPv6 packet goes next: a port and the neighbour to resolve there (the
/// gateway, or the destination itself when connected).
pub type NextHop6 = Hop<Ipv6Addr>;

/// Immutable IPv6 routing table: the IPv4 table's code over IPv6 prefixes.
pub type RouteTable6 = Routes<Ipv6Prefix>;

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
