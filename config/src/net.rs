//! Small address types of the configuration: an interface address with its prefix
//! (`198.18.0.254/24`), a port range (`1024-65535`) and the persistence netmask.
//!
//! They are our own (no `ipnet` crate) because the configuration needs only parsing,
//! printing and containment.

use std::fmt;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::str::FromStr;

/// An address with a prefix length, as written in CIDR notation: `198.18.0.254/24`.
///
/// The host bits are kept (an interface address is both "my address" and "my connected
/// subnet"); [`IpNet::network`] clears them.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct IpNet {
    addr: IpAddr,
    prefix_len: u8,
}

impl IpNet {
    /// Builds a prefix; `None` when `prefix_len` is longer than the address (32 or 128 bits).
    pub fn new(addr: IpAddr, prefix_len: u8) -> Option<IpNet> {
        (prefix_len <= max_prefix_len(addr)).then_some(IpNet { addr, prefix_len })
    }

    /// The address as written, host bits included.
    pub fn addr(&self) -> IpAddr {
        self.addr
    }

    /// The prefix length in bits.
    pub fn prefix_len(&self) -> u8 {
        self.prefix_len
    }

    /// The network address: [`IpNet::addr`] with the host bits cleared.
    pub fn network(&self) -> IpAddr {
        match self.addr {
            IpAddr::V4(a) => IpAddr::V4(Ipv4Addr::from(u32::from(a) & mask32(self.prefix_len))),
            IpAddr::V6(a) => IpAddr::V6(Ipv6Addr::from(u128::from(a) & mask128(self.prefix_len))),
        }
    }

    /// The same prefix with the host bits cleared (`198.18.0.254/24` -> `198.18.0.0/24`).
    pub fn trunc(&self) -> IpNet {
        IpNet {
            addr: self.network(),
            prefix_len: self.prefix_len,
        }
    }

    /// Whether `ip` lies inside this prefix (always false across address families).
    pub fn contains(&self, ip: IpAddr) -> bool {
        match (self.addr, ip) {
            (IpAddr::V4(n), IpAddr::V4(a)) => {
                let m = mask32(self.prefix_len);
                u32::from(n) & m == u32::from(a) & m
            }
            (IpAddr::V6(n), IpAddr::V6(a)) => {
                let m = mask128(self.prefix_len);
                u128::from(n) & m == u128::from(a) & m
            }
            _ => false,
        }
    }

    /// Whether this is an IPv6 prefix.
    pub fn is_ipv6(&self) -> bool {
        self.addr.is_ipv6()
    }
}

fn max_prefix_len(addr: IpAddr) -> u8 {
    if addr.is_ipv4() {
        32
    } else {
        128
    }
}

fn mask32(len: u8) -> u32 {
    // `checked_shl` because a shift by 32 overflows: /0 is the empty mask.
    u32::MAX
        .checked_shl(32 - u32::from(len.min(32)))
        .unwrap_or(0)
}

fn mask128(len: u8) -> u128 {
    u128::MAX
        .checked_shl(128 - u32::from(len.min(128)))
        .unwrap_or(0)
}

impl fmt::Display for IpNet {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.addr, self.prefix_len)
    }
}

/// Why a CIDR string was refused; its `Display` is the user-facing text.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error(
    "bad CIDR `{text}`; expected ADDRESS/PREFIX-LENGTH such as 198.18.0.254/24 or 2001:2::1/64"
)]
pub struct IpNetParseError {
    text: String,
}

impl FromStr for IpNet {
    type Err = IpNetParseError;

    fn from_str(s: &str) -> Result<IpNet, IpNetParseError> {
        let err = || IpNetParseError { text: s.to_owned() };
        let (addr, len) = s.split_once('/').ok_or_else(err)?;
        let addr: IpAddr = addr.parse().map_err(|_| err())?;
        // Only plain decimal digits: `u8::from_str` would accept "+24".
        if len.is_empty() || len.len() > 3 || !len.bytes().all(|b| b.is_ascii_digit()) {
            return Err(err());
        }
        let len: u8 = len.parse().map_err(|_| err())?;
        IpNet::new(addr, len).ok_or_else(err)
    }
}

/// An inclusive range of L4 ports, written `1024-65535` (or a single port `5000`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct PortRange {
    /// First port of the range.
    pub first: u16,
    /// Last port of the range (inclusive).
    pub last: u16,
}

impl PortRange {
    /// How many ports the range holds.
    pub fn len(&self) -> u32 {
        u32::from(self.last) + 1 - u32::from(self.first.min(self.last))
    }

    /// Never true for a valid range (first <= last); present for clippy's `len` rule.
    pub fn is_empty(&self) -> bool {
        self.first > self.last
    }
}

impl Default for PortRange {
    /// The ports FULLNAT may use by default: every unprivileged port.
    fn default() -> PortRange {
        PortRange {
            first: 1024,
            last: 65535,
        }
    }
}

impl fmt::Display for PortRange {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}-{}", self.first, self.last)
    }
}

/// Why a port range was refused.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("bad port range `{text}`; expected FIRST-LAST with 1 <= FIRST <= LAST <= 65535, such as 1024-65535")]
pub struct PortRangeParseError {
    text: String,
}

impl FromStr for PortRange {
    type Err = PortRangeParseError;

    fn from_str(s: &str) -> Result<PortRange, PortRangeParseError> {
        let err = || PortRangeParseError { text: s.to_owned() };
        let port = |p: &str| -> Result<u16, PortRangeParseError> {
            let p = p.trim();
            if p.is_empty() || !p.bytes().all(|b| b.is_ascii_digit()) {
                return Err(err());
            }
            p.parse().map_err(|_| err())
        };
        let (first, last) = match s.split_once('-') {
            Some((a, b)) => (port(a)?, port(b)?),
            None => {
                let p = port(s)?;
                (p, p)
            }
        };
        if first == 0 || first > last {
            return Err(err());
        }
        Ok(PortRange { first, last })
    }
}

/// The persistence netmask: how much of the client address a persistence template keys
/// on. Stored as a prefix length; written either as an IPv4 mask (`255.255.255.0`, as
/// `ipvsadm -M` takes it for IPv4) or as a prefix length (`24`, as `ipvsadm -M` takes it
/// for IPv6).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Netmask(u8);

impl Netmask {
    /// A netmask of `prefix_len` bits; `None` above 128.
    pub fn from_prefix_len(prefix_len: u8) -> Option<Netmask> {
        (prefix_len <= 128).then_some(Netmask(prefix_len))
    }

    /// The prefix length in bits.
    pub fn prefix_len(&self) -> u8 {
        self.0
    }

    /// The mask as an IPv4 address (`24` -> `255.255.255.0`); meaningful up to 32 bits.
    pub fn to_ipv4(&self) -> Ipv4Addr {
        Ipv4Addr::from(mask32(self.0))
    }

    /// The mask as an IPv6 address; what the kernel keeps for an IPv6 service.
    pub fn to_ipv6(&self) -> Ipv6Addr {
        Ipv6Addr::from(mask128(self.0))
    }
}

impl fmt::Display for Netmask {
    /// Up to 32 bits as a dotted IPv4 mask (ipvsadm's form), longer ones as a number.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.0 <= 32 {
            write!(f, "{}", self.to_ipv4())
        } else {
            write!(f, "{}", self.0)
        }
    }
}

/// Why a netmask was refused.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("bad netmask `{text}`; expected a contiguous IPv4 mask such as 255.255.255.0 or a prefix length 0..=128")]
pub struct NetmaskParseError {
    text: String,
}

impl FromStr for Netmask {
    type Err = NetmaskParseError;

    fn from_str(s: &str) -> Result<Netmask, NetmaskParseError> {
        let err = || NetmaskParseError { text: s.to_owned() };
        if !s.is_empty() && s.len() <= 3 && s.bytes().all(|b| b.is_ascii_digit()) {
            let len: u8 = s.parse().map_err(|_| err())?;
            return Netmask::from_prefix_len(len).ok_or_else(err);
        }
        let m = u32::from(s.parse::<Ipv4Addr>().map_err(|_| err())?);
        let len = m.leading_ones();
        // Contiguous means every bit after the leading ones is zero.
        if m.checked_shl(len).unwrap_or(0) != 0 {
            return Err(err());
        }
        Ok(Netmask(len as u8))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cidr_parse_and_contain() {
        let n: IpNet = "198.18.0.254/24".parse().unwrap();
        assert_eq!(n.network(), "198.18.0.0".parse::<IpAddr>().unwrap());
        assert!(n.contains("198.18.0.7".parse().unwrap()));
        assert!(!n.contains("198.18.1.7".parse().unwrap()));
        assert!(!n.contains("2001:2::1".parse().unwrap()));
        let z: IpNet = "0.0.0.0/0".parse().unwrap();
        assert!(z.contains("198.19.200.1".parse().unwrap()));
        let v6: IpNet = "2001:2::1/64".parse().unwrap();
        assert!(v6.contains("2001:2::ffff".parse().unwrap()));
        assert!(!v6.contains("2001:2:0:1::1".parse().unwrap()));
        assert_eq!(v6.trunc().to_string(), "2001:2::/64");
        let host: IpNet = "198.18.0.1/32".parse().unwrap();
        assert!(host.contains("198.18.0.1".parse().unwrap()));
        assert!(!host.contains("198.18.0.2".parse().unwrap()));
    }

    #[test]
    fn cidr_rejects() {
        for bad in [
            "198.18.0.1",
            "198.18.0.1/33",
            "198.18.0.1/",
            "198.18.0.1/+4",
            "x/4",
            "2001:2::/129",
            "198.18.0.1/0024",
        ] {
            let e = bad.parse::<IpNet>().unwrap_err();
            assert!(
                e.to_string()
                    .starts_with(&format!("bad CIDR `{bad}`; expected")),
                "{e}"
            );
        }
    }

    #[test]
    fn port_ranges() {
        assert_eq!(
            "1024-65535".parse::<PortRange>().unwrap(),
            PortRange {
                first: 1024,
                last: 65535
            }
        );
        assert_eq!("5000".parse::<PortRange>().unwrap().len(), 1);
        for bad in ["0-10", "10-5", "1-65536", "a-b", "-", "", "1 -"] {
            assert!(bad.parse::<PortRange>().is_err(), "{bad}");
        }
    }

    #[test]
    fn netmasks() {
        assert_eq!("255.255.255.0".parse::<Netmask>().unwrap().prefix_len(), 24);
        assert_eq!("0.0.0.0".parse::<Netmask>().unwrap().prefix_len(), 0);
        assert_eq!("64".parse::<Netmask>().unwrap().prefix_len(), 64);
        assert!("255.0.255.0".parse::<Netmask>().is_err());
        assert!("129".parse::<Netmask>().is_err());
        assert_eq!(Netmask(24).to_string(), "255.255.255.0");
        assert_eq!(Netmask(64).to_string(), "64");
        assert_eq!(Netmask(32).to_ipv4(), Ipv4Addr::new(255, 255, 255, 255));
    }
}
