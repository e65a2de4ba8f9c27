//! The slab entries: a connection's 96-byte [`Conn`] (what a lookup compares in
//! its first 32 bytes), a persistence [`Template`], the flag bits they carry, and
//! the functions that read an entry back: its key per direction, whether it holds
//! a tuple, its tuples and its record.

use std::net::IpAddr;

use super::records::{ConnFlags, ConnId, ConnInfo, Counters, TemplateId};
use crate::state::{ConnState, TcpState};
use crate::tuple::{addr_from, pack_ports, proto, Direction, Key, Method, TKey, Tuple};
use crate::wheel::{Link, NIL};

/// Connection flag bits. The public ones ([`F_PUBLIC`]) are [`ConnFlags`]'.
pub(super) const F_INACTIVE: u8 = ConnFlags::INACTIVE.0;
pub(super) const F_NO_OUTPUT: u8 = ConnFlags::NO_OUTPUT.0;
pub(super) const F_PUBLIC: u8 = F_INACTIVE | F_NO_OUTPUT;
pub(super) const F_HAS_REPLY: u8 = 0x20;
pub(super) const F_V6: u8 = 0x40;
pub(super) const F_LIVE: u8 = 0x80;
/// Template flag: new connections can find it in the template index.
pub(super) const T_HASHED: u8 = 0x01;

/// One connection. 96 bytes: addresses inline for IPv4 (for IPv6, `addrs[0]`
/// is the index of its side slot). Everything a lookup compares (addresses,
/// ports, protocol, flags) is in the first 32 bytes, and entries are 32-byte
/// aligned, so a lookup reads one cache line of the entry.
#[derive(Clone, Copy, Debug)]
#[repr(C, align(32))]
pub(super) struct Conn {
    /// original.src, original.dst, reply.src, reply.dst.
    pub(super) addrs: [u32; 4],
    /// Ports in the same order.
    pub(super) ports: [u16; 4],
    pub(super) proto: u8,
    pub(super) flags: u8,
    pub(super) state: u8,
    pub(super) method: u8,
    pub(super) template: u32,
    pub(super) expires: u64,
    /// packets original, bytes original, packets reply, bytes reply.
    pub(super) counters: [u64; 4],
    pub(super) rs: u32,
    pub(super) svc: u32,
    pub(super) link: Link,
    /// FULLNAT TCP: what the director adds to the client's sequence numbers on the way
    /// to the real server (in the entry's last 4 bytes, which were padding).
    pub(super) seq_delta: u32,
}

const _: () = assert!(core::mem::size_of::<Conn>() == 96);

impl Conn {
    pub(super) const FREE: Conn = Conn {
        addrs: [0; 4],
        ports: [0; 4],
        expires: 0,
        counters: [0; 4],
        rs: 0,
        svc: 0,
        link: Link::UNLINKED,
        seq_delta: 0,
        template: NIL,
        proto: 0,
        state: 0,
        method: 0,
        flags: 0,
    };

    pub(super) fn state(&self) -> ConnState {
        match self.proto {
            proto::TCP => ConnState::Tcp(TcpState::from_u8(self.state).unwrap_or(TcpState::Close)),
            proto::UDP => ConnState::Udp,
            proto::ICMP | proto::ICMPV6 => ConnState::Icmp,
            _ => ConnState::Other,
        }
    }
}

#[derive(Clone, Copy, Debug)]
pub(super) struct Template {
    pub(super) client: u128,
    pub(super) expires: u64,
    pub(super) svc: u32,
    pub(super) rs: u32,
    pub(super) timeout_s: u32,
    pub(super) n_control: u32,
    pub(super) link: Link,
    pub(super) vport: u16,
    pub(super) v6: bool,
    /// In use (not on the free list).
    pub(super) live: bool,
    /// T_HASHED while new connections can find it.
    pub(super) flags: u8,
}

impl Template {
    pub(super) fn key(&self) -> TKey {
        TKey {
            client: self.client,
            svc: self.svc,
            vport: self.vport,
            v6: self.v6,
        }
    }
}

/// Key of one direction of a slab entry; `v` is `slot << 1 | direction`.
#[inline]
pub(super) fn key_of(conns: &[Conn], v6: &[[u128; 4]], v: u32) -> Key {
    let c = &conns[(v >> 1) as usize];
    let d = (v & 1) as usize * 2;
    let (src, dst, is_v6) = if c.flags & F_V6 != 0 {
        let a = &v6[c.addrs[0] as usize];
        (a[d], a[d + 1], true)
    } else {
        (c.addrs[d] as u128, c.addrs[d + 1] as u128, false)
    };
    Key {
        src,
        dst,
        ports: pack_ports(c.ports[d], c.ports[d + 1]),
        proto: c.proto,
        v6: is_v6,
    }
}

/// Whether index value `v` (`slot << 1 | direction`) holds tuple `t`, compared as the
/// caller has it (no [`Key`] built). Reads only the entry's first 32 bytes (plus the side
/// slot for IPv6).
#[inline]
pub(super) fn holds_tuple(conns: &[Conn], v6: &[[u128; 4]], v: u32, t: &Tuple) -> bool {
    match (t.src, t.dst) {
        (IpAddr::V4(s), IpAddr::V4(d)) => holds_v4(
            conns,
            v,
            t.proto,
            (u32::from(s), t.sport),
            (u32::from(d), t.dport),
        ),
        (IpAddr::V6(s), IpAddr::V6(dst)) => {
            let c = &conns[(v >> 1) as usize];
            let d = (v & 1) as usize * 2;
            c.proto == t.proto
                && c.ports[d] == t.sport
                && c.ports[d + 1] == t.dport
                && c.flags & F_V6 != 0
                && {
                    let a = &v6[c.addrs[0] as usize];
                    a[d] == u128::from(s) && a[d + 1] == u128::from(dst)
                }
        }
        _ => false,
    }
}

/// [`holds_tuple`] for an IPv4 tuple given by its parts (`lookup_v4` has no [`Tuple`]).
#[inline]
pub(super) fn holds_v4(
    conns: &[Conn],
    v: u32,
    proto: u8,
    (s, sport): (u32, u16),
    (d, dport): (u32, u16),
) -> bool {
    let c = &conns[(v >> 1) as usize];
    let k = (v & 1) as usize * 2;
    c.proto == proto
        && c.ports[k] == sport
        && c.ports[k + 1] == dport
        && c.flags & F_V6 == 0
        && c.addrs[k] == s
        && c.addrs[k + 1] == d
}

#[inline]
pub(super) fn found_at(v: u32) -> (ConnId, Direction) {
    let dir = if v & 1 == 0 {
        Direction::Original
    } else {
        Direction::Reply
    };
    (ConnId(v >> 1), dir)
}

pub(super) fn tuple_of(c: &Conn, v6: &[[u128; 4]], dir: usize) -> Tuple {
    let d = dir * 2;
    let is_v6 = c.flags & F_V6 != 0;
    let (s, t) = if is_v6 {
        let a = &v6[c.addrs[0] as usize];
        (a[d], a[d + 1])
    } else {
        (c.addrs[d] as u128, c.addrs[d + 1] as u128)
    };
    Tuple {
        proto: c.proto,
        src: addr_from(s, is_v6),
        dst: addr_from(t, is_v6),
        sport: c.ports[d],
        dport: c.ports[d + 1],
    }
}

pub(super) fn info_of(i: u32, c: &Conn, v6: &[[u128; 4]], now_ms: u64) -> ConnInfo {
    ConnInfo {
        id: ConnId(i),
        original: tuple_of(c, v6, 0),
        reply: (c.flags & F_HAS_REPLY != 0).then(|| tuple_of(c, v6, 1)),
        rs: c.rs,
        svc: c.svc,
        method: Method::from_u8(c.method),
        state: c.state(),
        flags: ConnFlags(c.flags & F_PUBLIC),
        expires_in_ms: c.expires.saturating_sub(now_ms),
        counters: Counters {
            packets: [c.counters[0], c.counters[2]],
            bytes: [c.counters[1], c.counters[3]],
        },
        template: (c.template != NIL).then_some(TemplateId(c.template)),
    }
}

/// Seconds (a timeout) in the caller's milliseconds.
#[inline]
pub(super) fn ms(seconds: u32) -> u64 {
    u64::from(seconds) * 1000
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::table::{Config, ConnTable, NewConn};

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap()
    }

    /// `holds_tuple` (every lookup's compare, against the caller's tuple) answers as
    /// equality of the entry's stored key with the tuple's key, for both directions of
    /// IPv4 and IPv6 entries and for tuples differing in any one field: a compare a
    /// lookup only reaches on a tag match, which a different key makes once in 2^31.
    #[test]
    fn holds_tuple_agrees_with_the_stored_key() {
        let cfg = Config {
            capacity: 8,
            ipv6_capacity: 8,
            max_templates: 1,
            max_real_servers: 4,
            tick_ms: 100,
            wheel_slots: 64,
        };
        let mut t = ConnTable::new(cfg, 0).unwrap();
        let flows = [
            (ip("198.18.0.1"), ip("198.18.0.100"), ip("198.19.0.11")),
            (ip("2001:2::1"), ip("2001:2::100"), ip("2001:2:1::11")),
        ];
        let mut probes = Vec::new();
        for (c, vip, rip) in flows {
            let nc = NewConn {
                original: Tuple::new(proto::TCP, c, 40000, vip, 80),
                reply: Some(Tuple::new(proto::TCP, rip, 8080, c, 40000)),
                rs: 1,
                svc: 1,
                method: Method::Masq,
                template: None,
            };
            let id = t.insert(&nc, 0).unwrap();
            for (dir, tu) in [(0, nc.original), (1, nc.reply.unwrap())] {
                let v = id.0 << 1 | dir;
                let mut variants = vec![tu];
                let mut x = tu;
                x.proto = proto::UDP;
                variants.push(x);
                let mut x = tu;
                x.sport ^= 1;
                variants.push(x);
                let mut x = tu;
                x.dport ^= 1;
                variants.push(x);
                let mut x = tu;
                (x.src, x.dst) = (x.dst, x.src);
                variants.push(x);
                for other in [ip("198.18.0.9"), ip("2001:2::9")] {
                    let mut x = tu;
                    x.src = other;
                    variants.push(x);
                    let mut x = tu;
                    x.dst = other;
                    variants.push(x);
                }
                probes.push((v, variants));
            }
        }
        let (conns, v6) = (&t.conns.0, &t.v6);
        let mut held = 0;
        for (v, variants) in &probes {
            for tu in variants {
                let want = Key::from_tuple(tu) == Some(key_of(conns, v6, *v));
                assert_eq!(holds_tuple(conns, v6, *v, tu), want, "{v} {tu:?}");
                held += usize::from(want);
            }
        }
        assert_eq!(
            held, 4,
            "each direction of each entry holds its own tuple only"
        );
    }
}
