//! Reading a connection: [`ConnRef`], the borrowed view the packet path reads
//! its few fields from, and the plain-data record ([`ConnTable::get`]).

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use super::entry::{info_of, tuple_of, Conn, F_HAS_REPLY, F_PUBLIC, F_V6};
use super::layout::ConnTable;
use super::records::{ConnFlags, ConnId, ConnInfo, TemplateId};
use crate::state::ConnState;
use crate::tuple::{Direction, Method, Tuple};
use crate::wheel::NIL;

impl ConnTable {
    /// A connection as plain data (`None` if `id` is not live).
    pub fn get(&self, id: ConnId, now_ms: u64) -> Option<ConnInfo> {
        let c = self.conn_live(id)?;
        Some(self.info(id.0, c, now_ms))
    }

    /// [`ConnTable::get`] of a live entry already found.
    pub(super) fn info(&self, i: u32, c: &Conn, now_ms: u64) -> ConnInfo {
        info_of(i, c, &self.v6, now_ms)
    }

    /// A live connection, borrowed: see [`ConnRef`]. What the packet path uses instead of
    /// [`ConnTable::get`].
    #[inline]
    pub fn conn(&self, id: ConnId) -> Option<ConnRef<'_>> {
        let c = self.conn_live(id)?;
        Some(ConnRef {
            id: id.0,
            c,
            v6: &self.v6,
        })
    }
}

/// A live connection borrowed from its table ([`ConnTable::conn`]): the packet path reads
/// the few fields it needs (method, real server, the rewrite target, state) straight from
/// the entry, where [`ConnTable::get`] copies the whole record into a [`ConnInfo`] and
/// rebuilds both tuples. Valid while the table is not changed, which the borrow enforces.
#[derive(Clone, Copy, Debug)]
pub struct ConnRef<'a> {
    id: u32,
    c: &'a Conn,
    v6: &'a [[u128; 4]],
}

impl<'a> ConnRef<'a> {
    /// Its handle.
    #[inline]
    pub fn id(&self) -> ConnId {
        ConnId(self.id)
    }

    /// Real server id.
    #[inline]
    pub fn rs(&self) -> u32 {
        self.c.rs
    }

    /// Virtual service id.
    #[inline]
    pub fn svc(&self) -> u32 {
        self.c.svc
    }

    /// Forwarding method.
    #[inline]
    pub fn method(&self) -> Method {
        Method::from_u8(self.c.method)
    }

    /// Protocol state.
    #[inline]
    pub fn state(&self) -> ConnState {
        self.c.state()
    }

    /// Flags.
    #[inline]
    pub fn flags(&self) -> ConnFlags {
        ConnFlags(self.c.flags & F_PUBLIC)
    }

    /// Controlling persistence template.
    #[inline]
    pub fn template(&self) -> Option<TemplateId> {
        (self.c.template != NIL).then_some(TemplateId(self.c.template))
    }

    /// Packets seen in `dir`.
    #[inline]
    pub fn packets(&self, dir: Direction) -> u64 {
        self.c.counters[dir as usize * 2]
    }

    /// Bytes seen in `dir`.
    #[inline]
    pub fn bytes(&self, dir: Direction) -> u64 {
        self.c.counters[dir as usize * 2 + 1]
    }

    /// What the director adds to the client's TCP sequence numbers on the way to the
    /// real server, and takes from the real server's acknowledgements on the way back
    /// (FULLNAT; 0 until [`ConnTable::set_seq_delta`]).
    #[inline]
    pub fn seq_delta(&self) -> u32 {
        self.c.seq_delta
    }

    /// Whether the connection has an indexed reply tuple (not DR/TUN).
    #[inline]
    pub fn has_reply(&self) -> bool {
        self.c.flags & F_HAS_REPLY != 0
    }

    /// Address and port at position `k` of the entry (0 original source, 1 original
    /// destination, 2 reply source, 3 reply destination).
    #[inline]
    fn endpoint(&self, k: usize) -> (IpAddr, u16) {
        let a = if self.c.flags & F_V6 != 0 {
            IpAddr::V6(Ipv6Addr::from(self.v6[self.c.addrs[0] as usize][k]))
        } else {
            IpAddr::V4(Ipv4Addr::from(self.c.addrs[k]))
        };
        (a, self.c.ports[k])
    }

    /// [`ConnRef::src`] of an IPv4 connection, without the family dispatch: `None` for
    /// an IPv6 one too (the IPv4 packet path).
    #[inline]
    pub fn src_v4(&self, dir: Direction) -> Option<(Ipv4Addr, u16)> {
        self.endpoint_v4(dir, dir as usize * 2)
    }

    /// [`ConnRef::dst`] of an IPv4 connection (`None` for an IPv6 one too).
    #[inline]
    pub fn dst_v4(&self, dir: Direction) -> Option<(Ipv4Addr, u16)> {
        self.endpoint_v4(dir, dir as usize * 2 + 1)
    }

    /// [`ConnRef::src`] of an IPv6 connection (`None` for an IPv4 one too).
    #[inline]
    pub fn src_v6(&self, dir: Direction) -> Option<(Ipv6Addr, u16)> {
        self.endpoint_v6(dir, dir as usize * 2)
    }

    /// [`ConnRef::dst`] of an IPv6 connection (`None` for an IPv4 one too).
    #[inline]
    pub fn dst_v6(&self, dir: Direction) -> Option<(Ipv6Addr, u16)> {
        self.endpoint_v6(dir, dir as usize * 2 + 1)
    }

    /// Whether the entry keeps `dir`'s tuple (the reply's only with [`Self::has_reply`]).
    #[inline]
    fn keeps(&self, dir: Direction) -> bool {
        dir == Direction::Original || self.has_reply()
    }

    #[inline]
    fn endpoint_v4(&self, dir: Direction, k: usize) -> Option<(Ipv4Addr, u16)> {
        let known = self.c.flags & F_V6 == 0 && self.keeps(dir);
        known.then(|| (Ipv4Addr::from(self.c.addrs[k]), self.c.ports[k]))
    }

    #[inline]
    fn endpoint_v6(&self, dir: Direction, k: usize) -> Option<(Ipv6Addr, u16)> {
        if self.c.flags & F_V6 == 0 || !self.keeps(dir) {
            return None;
        }
        let a = self.v6.get(self.c.addrs[0] as usize)?;
        Some((Ipv6Addr::from(a[k]), self.c.ports[k]))
    }

    /// Source address and port of `dir`'s tuple (`None` for the reply of a connection
    /// without one). For a NAT connection the reply source is the real server.
    #[inline]
    pub fn src(&self, dir: Direction) -> Option<(IpAddr, u16)> {
        self.keeps(dir).then(|| self.endpoint(dir as usize * 2))
    }

    /// Destination address and port of `dir`'s tuple (`None` for the reply of a
    /// connection without one). For FULLNAT the reply destination is the local address.
    #[inline]
    pub fn dst(&self, dir: Direction) -> Option<(IpAddr, u16)> {
        self.keeps(dir).then(|| self.endpoint(dir as usize * 2 + 1))
    }

    /// Client -> virtual service tuple.
    pub fn original(&self) -> Tuple {
        tuple_of(self.c, self.v6, 0)
    }

    /// Reply tuple, if indexed.
    pub fn reply(&self) -> Option<Tuple> {
        self.has_reply().then(|| tuple_of(self.c, self.v6, 1))
    }

    /// The whole record as plain data (what [`ConnTable::get`] returns).
    pub fn info(&self, now_ms: u64) -> ConnInfo {
        info_of(self.id, self.c, self.v6, now_ms)
    }
}
