//! Flow tuples, directions and forwarding methods.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

/// IP protocol numbers rvs gives a meaning to.
pub mod proto {
    /// ICMP.
    pub const ICMP: u8 = 1;
    /// TCP.
    pub const TCP: u8 = 6;
    /// UDP.
    pub const UDP: u8 = 17;
    /// ICMPv6.
    pub const ICMPV6: u8 = 58;
    /// SCTP.
    pub const SCTP: u8 = 132;
}

/// One direction of a flow as it appears on the wire: protocol, source and
/// destination address and port. ICMP flows put the echo identifier (or 0)
/// in the ports.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Tuple {
    /// IP protocol number (see [`proto`]).
    pub proto: u8,
    /// Source address.
    pub src: IpAddr,
    /// Destination address.
    pub dst: IpAddr,
    /// Source port.
    pub sport: u16,
    /// Destination port.
    pub dport: u16,
}

impl Tuple {
    /// A tuple from its parts.
    pub const fn new(proto: u8, src: IpAddr, sport: u16, dst: IpAddr, dport: u16) -> Tuple {
        Tuple {
            proto,
            src,
            dst,
            sport,
            dport,
        }
    }

    /// Whether both addresses are of the same family.
    pub const fn is_consistent(&self) -> bool {
        matches!(
            (self.src, self.dst),
            (IpAddr::V4(_), IpAddr::V4(_)) | (IpAddr::V6(_), IpAddr::V6(_))
        )
    }

    /// Whether this is an IPv6 tuple.
    pub const fn is_ipv6(&self) -> bool {
        matches!(self.src, IpAddr::V6(_))
    }
}

/// Which way a packet travels relative to its connection.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[repr(u8)]
pub enum Direction {
    /// As the connection's first packet arrived: client -> virtual service
    /// (IPVS "input").
    Original = 0,
    /// What comes back: real server -> client (NAT) or real server -> local
    /// address (FULLNAT) (IPVS "output").
    Reply = 1,
}

/// Forwarding method of a connection (`IP_VS_CONN_F_FWD_MASK`, plus FULLNAT).
///
/// The variants carry IPVS's names, the ones `ipvsadm -Ln` prints in its
/// Forward column ([`Method::name`]); rvs's documentation speaks of NAT, DR,
/// TUN and FULLNAT. The same four methods in each vocabulary:
///
/// | Method              | IPVS (`-Ln`) | ipvsadm option         | rvs YAML `method` |
/// |---------------------|--------------|------------------------|-------------------|
/// | NAT                 | `Masq`       | `-m`, `--masquerading` | `masq`            |
/// | DR (direct routing) | `Route`      | `-g`, `--gatewaying`   | `route`           |
/// | TUN (IP tunnelling) | `Tunnel`     | `-i`, `--ipip`         | `tunnel`          |
/// | FULLNAT             | `FullNat`    | `--fullnat` (rvs only) | `fullnat`         |
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[repr(u8)]
pub enum Method {
    /// NAT (`-m`, "Masq").
    Masq = 0,
    /// DR, direct routing (`-g`, "Route"): replies bypass the director.
    Route = 1,
    /// TUN, IP tunnelling (`-i`, "Tunnel"): replies bypass the director.
    Tunnel = 2,
    /// FULLNAT, full NAT (`--fullnat`, "FullNat"): client source rewritten to a
    /// local address.
    FullNat = 3,
}

impl Method {
    /// The name `ipvsadm -Ln` prints in its Forward column.
    pub const fn name(self) -> &'static str {
        match self {
            Method::Masq => "Masq",
            Method::Route => "Route",
            Method::Tunnel => "Tunnel",
            Method::FullNat => "FullNat",
        }
    }

    /// Whether replies bypass the director, so the TCP state machine only
    /// ever sees the client's side (`IP_VS_CONN_F_NOOUTPUT`).
    pub const fn replies_bypass_director(self) -> bool {
        matches!(self, Method::Route | Method::Tunnel)
    }

    pub(crate) const fn from_u8(v: u8) -> Method {
        match v {
            0 => Method::Masq,
            1 => Method::Route,
            2 => Method::Tunnel,
            _ => Method::FullNat,
        }
    }
}

/// Canonical, hashable form of a tuple: addresses widened to 128 bits.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub(crate) struct Key {
    pub src: u128,
    pub dst: u128,
    pub ports: u32,
    pub proto: u8,
    pub v6: bool,
}

impl Key {
    /// `None` for a tuple mixing address families (never a valid flow).
    #[inline]
    pub fn from_tuple(t: &Tuple) -> Option<Key> {
        let (src, dst, v6) = match (t.src, t.dst) {
            (IpAddr::V4(s), IpAddr::V4(d)) => (u32::from(s) as u128, u32::from(d) as u128, false),
            (IpAddr::V6(s), IpAddr::V6(d)) => (u128::from(s), u128::from(d), true),
            _ => return None,
        };
        Some(Key {
            src,
            dst,
            ports: pack_ports(t.sport, t.dport),
            proto: t.proto,
            v6,
        })
    }
}

/// Keys of [`Key::hash`], drawn per table (see `ConnTable::new`) so that which flows
/// share an index bucket cannot be worked out from outside.
#[derive(Clone, Copy, Debug)]
pub(crate) struct HashSeed(pub [u64; 4]);

/// The 128-bit product of `a` and `b`, its halves folded with XOR: every output bit
/// depends on every input bit (the mixing step of foldhash and wyhash).
#[inline]
const fn fold_mul(a: u64, b: u64) -> u64 {
    let r = (a as u128) * (b as u128);
    (r as u64) ^ ((r >> 64) as u64)
}

impl Key {
    /// The index hash of this key: for IPv4 the whole tuple fits two words and costs two
    /// multiplications; IPv6 adds two for the addresses. A generic `Hasher` over the
    /// five fields (what this replaced) runs a mixing round per field.
    #[inline]
    pub fn hash(&self, seed: &HashSeed) -> u64 {
        if !self.v6 {
            return hash_v4(
                seed,
                self.src as u32,
                self.dst as u32,
                self.ports,
                self.proto,
            );
        }
        let [_, _, k2, k3] = seed.0;
        let meta =
            (u64::from(self.ports) << 32) | (u64::from(self.proto) << 8) | u64::from(self.v6);
        let s = fold_mul(self.src as u64 ^ k2, (self.src >> 64) as u64 ^ k3);
        let d = fold_mul(self.dst as u64 ^ k3, (self.dst >> 64) as u64 ^ k2);
        mix(seed, s ^ d.rotate_left(32), meta)
    }
}

/// The second multiplication spreads the first's result over all 64 bits (the index
/// takes its bucket from the low half and its tag from the high half).
#[inline(always)]
fn mix(seed: &HashSeed, addrs: u64, meta: u64) -> u64 {
    fold_mul(
        fold_mul(addrs ^ seed.0[0], meta ^ seed.0[1]),
        0x9e37_79b9_7f4a_7c15,
    )
}

/// [`Key::hash`] of an IPv4 key from its parts (no [`Key`] built): the whole tuple in two
/// words.
#[inline(always)]
pub(crate) fn hash_v4(seed: &HashSeed, src: u32, dst: u32, ports: u32, proto: u8) -> u64 {
    let meta = (u64::from(ports) << 32) | (u64::from(proto) << 8);
    mix(seed, (u64::from(src) << 32) | u64::from(dst), meta)
}

#[inline]
pub(crate) const fn pack_ports(sport: u16, dport: u16) -> u32 {
    ((sport as u32) << 16) | dport as u32
}

pub(crate) fn addr_from(v: u128, v6: bool) -> IpAddr {
    if v6 {
        IpAddr::V6(Ipv6Addr::from(v))
    } else {
        IpAddr::V4(Ipv4Addr::from(v as u32))
    }
}

/// Mask a client address for a persistence template: IPv4 with a prefix
/// length taken from the service's netmask (`255.255.255.0` is 24), IPv6
/// with the service's prefix length (ipvsadm `-M` for IPv6 services). A
/// prefix longer than the address keeps every bit.
pub fn mask_client(addr: IpAddr, prefix_len: u8) -> IpAddr {
    match addr {
        IpAddr::V4(a) => {
            let p = u32::from(prefix_len.min(32));
            let mask = if p == 0 { 0 } else { u32::MAX << (32 - p) };
            IpAddr::V4(Ipv4Addr::from(u32::from(a) & mask))
        }
        IpAddr::V6(a) => {
            let p = u32::from(prefix_len.min(128));
            let mask = if p == 0 { 0 } else { u128::MAX << (128 - p) };
            IpAddr::V6(Ipv6Addr::from(u128::from(a) & mask))
        }
    }
}

/// Key of a persistence template (`ip_vs_sched_persist`'s template
/// parameters): the virtual service, the client address masked with the
/// service's netmask ([`mask_client`]), and the virtual port — the
/// service's port for ordinary services, 0 for port-0 (all ports) and
/// firewall-mark services so one template covers every port.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct TemplateKey {
    /// Virtual service id chosen by the caller.
    pub svc: u32,
    /// Masked client address.
    pub client: IpAddr,
    /// Virtual port, or 0 for all-ports/fwmark services.
    pub vport: u16,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub(crate) struct TKey {
    pub client: u128,
    pub svc: u32,
    pub vport: u16,
    pub v6: bool,
}

impl TKey {
    pub fn from_key(k: &TemplateKey) -> TKey {
        let (client, v6) = match k.client {
            IpAddr::V4(a) => (u32::from(a) as u128, false),
            IpAddr::V6(a) => (u128::from(a), true),
        };
        TKey {
            client,
            svc: k.svc,
            vport: k.vport,
            v6,
        }
    }

    pub fn to_key(self) -> TemplateKey {
        TemplateKey {
            svc: self.svc,
            client: addr_from(self.client, self.v6),
            vport: self.vport,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mask_v4_and_v6() {
        let a: IpAddr = "198.18.3.77".parse().unwrap();
        assert_eq!(mask_client(a, 24), "198.18.3.0".parse::<IpAddr>().unwrap());
        assert_eq!(mask_client(a, 32), a);
        assert_eq!(mask_client(a, 40), a);
        assert_eq!(mask_client(a, 0), "0.0.0.0".parse::<IpAddr>().unwrap());
        let b: IpAddr = "2001:2::1:2:3".parse().unwrap();
        assert_eq!(mask_client(b, 48), "2001:2::".parse::<IpAddr>().unwrap());
        assert_eq!(mask_client(b, 128), b);
    }

    fn v4key(src: u32, dst: u32, sport: u16, dport: u16) -> Key {
        Key {
            src: src.into(),
            dst: dst.into(),
            ports: pack_ports(sport, dport),
            proto: proto::TCP,
            v6: false,
        }
    }

    /// Bucket loads of `keys` over `n` buckets, scaled as the index does.
    fn max_load(keys: impl Iterator<Item = Key>, seed: &HashSeed, n: u64) -> (u32, usize) {
        let mut load = vec![0u32; n as usize];
        let mut count = 0;
        for k in keys {
            load[(((k.hash(seed) & 0xffff_ffff) * n) >> 32) as usize] += 1;
            count += 1;
        }
        (*load.iter().max().unwrap(), count)
    }

    /// Structured keys (one client, sequential ports; sequential clients; IPv6 clients
    /// differing in one word) spread like random ones: 131072 keys over 16384 buckets
    /// average 8 per bucket, and a fair hash keeps the fullest one far below 3x that.
    #[test]
    fn hash_spreads_structured_keys() {
        let seed = HashSeed([0x1234_5678_9abc_def1, 3, 5, 7]);
        let n = 16384;
        let ports = (0..131072u32)
            .map(|i| v4key(0xc612_0001, 0xc612_0064, i as u16, 80 + (i >> 16) as u16));
        let clients = (0..131072u32).map(|i| v4key(0xc612_0000 + i, 0xc612_0064, 40000, 80));
        let v6 = (0..131072u128).map(|i| Key {
            src: (0x2001_0002u128 << 96) | (i << 64) | 1,
            dst: (0x2001_0002u128 << 96) | 0x64,
            ports: pack_ports(40000, 443),
            proto: proto::TCP,
            v6: true,
        });
        for (name, (max, count)) in [
            ("ports", max_load(ports, &seed, n)),
            ("clients", max_load(clients, &seed, n)),
            ("v6", max_load(v6, &seed, n)),
        ] {
            assert_eq!(count, 131072);
            assert!(max < 24, "{name}: fullest bucket {max}");
        }
    }

    #[test]
    fn every_field_and_the_seed_change_the_hash() {
        let seed = HashSeed([11, 13, 17, 19]);
        let k = v4key(0xc612_0001, 0xc612_0064, 40000, 80);
        let h = k.hash(&seed);
        let variants = [
            v4key(0xc612_0002, 0xc612_0064, 40000, 80),
            v4key(0xc612_0001, 0xc612_0065, 40000, 80),
            v4key(0xc612_0001, 0xc612_0064, 40001, 80),
            v4key(0xc612_0001, 0xc612_0064, 40000, 81),
            Key {
                proto: proto::UDP,
                ..k
            },
            Key { v6: true, ..k },
            // Swapped directions are different flows.
            v4key(0xc612_0064, 0xc612_0001, 80, 40000),
        ];
        for v in variants {
            assert_ne!(v.hash(&seed), h, "{v:?}");
        }
        assert_ne!(k.hash(&HashSeed([12, 13, 17, 19])), h);
    }

    #[test]
    fn mixed_family_tuple_has_no_key() {
        let t = Tuple::new(
            proto::TCP,
            "198.18.0.1".parse().unwrap(),
            1,
            "2001:2::1".parse().unwrap(),
            2,
        );
        assert!(!t.is_consistent());
        assert!(Key::from_tuple(&t).is_none());
    }
}
