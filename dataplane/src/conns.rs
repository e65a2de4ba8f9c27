//! A deliberately simple per-worker connection table for the NAT path: a slab of entries
//! indexed by the tuple of each direction, with a coarse TCP state for timeouts and
//! bounded expiry work per call. The `conn-table` crate (IPVS's full state machine,
//! timer wheel, templates) replaces it.

use std::net::Ipv4Addr;

use hashbrown::HashMap;

use crate::service::{Forward, ServiceId};

/// A one-direction 5-tuple as seen on the wire.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Tuple {
    /// IP protocol.
    pub proto: u8,
    /// Source address.
    pub src: Ipv4Addr,
    /// Source port.
    pub sport: u16,
    /// Destination address.
    pub dst: Ipv4Addr,
    /// Destination port.
    pub dport: u16,
}

impl Tuple {
    /// The same flow seen from the other side.
    pub fn reversed(&self) -> Tuple {
        Tuple {
            proto: self.proto,
            src: self.dst,
            sport: self.dport,
            dst: self.src,
            dport: self.sport,
        }
    }
}

/// Which way a packet travels relative to its connection.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Direction {
    /// Client to VIP.
    Original,
    /// Real server back to the client.
    Reply,
}

/// Coarse connection state, enough to pick a timeout.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum State {
    /// TCP SYN seen, not yet established.
    SynRecv,
    /// TCP established.
    Established,
    /// TCP FIN seen.
    FinWait,
    /// TCP RST seen.
    Close,
    /// UDP or other datagram flow.
    Datagram,
}

/// Timeouts in milliseconds (IPVS defaults).
#[derive(Clone, Copy, Debug)]
pub struct Timeouts {
    /// TCP established.
    pub tcp: u64,
    /// TCP after FIN.
    pub tcp_fin: u64,
    /// TCP half-open.
    pub syn: u64,
    /// TCP after RST.
    pub close: u64,
    /// UDP.
    pub udp: u64,
}

impl Default for Timeouts {
    fn default() -> Self {
        Timeouts {
            tcp: 900_000,
            tcp_fin: 120_000,
            syn: 60_000,
            close: 10_000,
            udp: 300_000,
        }
    }
}

/// One connection.
#[derive(Clone, Copy, Debug)]
pub struct Conn {
    /// Tuple of the client's packets as they arrive (client -> VIP).
    pub original: Tuple,
    /// Tuple of the real server's replies as they arrive (RS -> client).
    pub reply: Tuple,
    /// Virtual service.
    pub service: ServiceId,
    /// Index of the real server in the service.
    pub real_server: u32,
    /// Forwarding method.
    pub forward: Forward,
    /// State.
    pub state: State,
    /// When the connection expires (ms).
    pub expires_ms: u64,
    /// Packets client -> RS.
    pub packets_in: u64,
    /// Packets RS -> client.
    pub packets_out: u64,
}

/// The table is full: the new flow was refused.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
#[error("connection table full")]
pub struct TableFull;

fn timeout_of(t: &Timeouts, s: State) -> u64 {
    match s {
        State::SynRecv => t.syn,
        State::Established => t.tcp,
        State::FinWait => t.tcp_fin,
        State::Close => t.close,
        State::Datagram => t.udp,
    }
}

/// Per-worker connection table.
pub struct ConnTable {
    slots: Vec<Option<Conn>>,
    free: Vec<u32>,
    index: HashMap<Tuple, (u32, Direction)>,
    cursor: usize,
    timeouts: Timeouts,
    len: usize,
}

impl ConnTable {
    /// A table for at most `capacity` connections; allocates everything up front.
    pub fn new(capacity: usize, timeouts: Timeouts) -> Self {
        ConnTable {
            slots: vec![None; capacity],
            free: (0..capacity as u32).rev().collect(),
            index: HashMap::with_capacity(capacity * 2),
            cursor: 0,
            timeouts,
            len: 0,
        }
    }

    /// Find the connection a packet with tuple `t` belongs to.
    #[inline]
    pub fn lookup(&self, t: &Tuple) -> Option<(u32, Direction)> {
        self.index.get(t).copied()
    }

    /// A connection by id.
    #[inline]
    pub fn get(&self, id: u32) -> Option<&Conn> {
        self.slots.get(id as usize).and_then(|s| s.as_ref())
    }

    /// Insert a new connection; fails when the table is full or the tuple exists.
    pub fn insert(&mut self, mut c: Conn, now_ms: u64) -> Result<u32, TableFull> {
        if self.index.contains_key(&c.original) || self.index.contains_key(&c.reply) {
            return Err(TableFull);
        }
        let id = self.free.pop().ok_or(TableFull)?;
        c.expires_ms = now_ms + self.timeout(c.state);
        self.index.insert(c.original, (id, Direction::Original));
        self.index.insert(c.reply, (id, Direction::Reply));
        self.slots[id as usize] = Some(c);
        self.len += 1;
        Ok(id)
    }

    fn timeout(&self, s: State) -> u64 {
        timeout_of(&self.timeouts, s)
    }

    /// Account a packet of connection `id` travelling `dir`, with TCP flags (SYN, FIN,
    /// RST, ACK) when it is TCP; refreshes the timer.
    #[inline]
    pub fn touch(
        &mut self,
        id: u32,
        dir: Direction,
        tcp: Option<(bool, bool, bool, bool)>,
        now_ms: u64,
    ) {
        let Some(c) = self.slots.get_mut(id as usize).and_then(|s| s.as_mut()) else {
            return;
        };
        match dir {
            Direction::Original => c.packets_in += 1,
            Direction::Reply => c.packets_out += 1,
        }
        if let Some((syn, fin, rst, ack)) = tcp {
            c.state = match (c.state, syn, fin, rst, ack) {
                (_, _, _, true, _) => State::Close,
                (State::FinWait | State::Close, _, _, _, _) => c.state,
                (_, _, true, _, _) => State::FinWait,
                (State::SynRecv, false, _, _, true) if dir == Direction::Original => {
                    State::Established
                }
                (s, _, _, _, _) => s,
            };
        }
        c.expires_ms = now_ms + timeout_of(&self.timeouts, c.state);
    }

    /// Expire connections whose timer passed, looking at no more than `budget` slots.
    /// Returns how many expired.
    pub fn expire(&mut self, now_ms: u64, budget: usize) -> usize {
        let mut expired = 0;
        let n = self.slots.len();
        if n == 0 {
            return 0;
        }
        for _ in 0..budget.min(n) {
            let i = self.cursor;
            self.cursor = (self.cursor + 1) % n;
            if let Some(c) = self.slots[i] {
                if c.expires_ms <= now_ms {
                    self.index.remove(&c.original);
                    self.index.remove(&c.reply);
                    self.slots[i] = None;
                    self.free.push(i as u32);
                    self.len -= 1;
                    expired += 1;
                }
            }
        }
        expired
    }

    /// Connections in the table.
    pub fn len(&self) -> usize {
        self.len
    }

    /// True when empty.
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn conn(sport: u16) -> Conn {
        let original = Tuple {
            proto: 6,
            src: Ipv4Addr::new(198, 18, 0, 1),
            sport,
            dst: Ipv4Addr::new(198, 18, 0, 100),
            dport: 80,
        };
        let reply = Tuple {
            proto: 6,
            src: Ipv4Addr::new(198, 19, 0, 11),
            sport: 80,
            dst: original.src,
            dport: sport,
        };
        Conn {
            original,
            reply,
            service: 0,
            real_server: 0,
            forward: Forward::Masq,
            state: State::SynRecv,
            expires_ms: 0,
            packets_in: 0,
            packets_out: 0,
        }
    }

    #[test]
    fn both_directions_found_and_expire() {
        let mut t = ConnTable::new(4, Timeouts::default());
        let c = conn(40000);
        let id = t.insert(c, 0).unwrap();
        assert_eq!(t.lookup(&c.original), Some((id, Direction::Original)));
        assert_eq!(t.lookup(&c.reply), Some((id, Direction::Reply)));
        assert_eq!(t.expire(59_999, 100), 0);
        t.touch(
            id,
            Direction::Original,
            Some((false, false, false, true)),
            1000,
        );
        assert_eq!(t.get(id).unwrap().state, State::Established);
        assert_eq!(t.expire(900_999, 100), 0);
        assert_eq!(t.expire(901_000, 100), 1);
        assert!(t.lookup(&c.original).is_none() && t.lookup(&c.reply).is_none());
        assert!(t.is_empty());
    }

    #[test]
    fn full_table_refuses_and_keeps_existing() {
        let mut t = ConnTable::new(1, Timeouts::default());
        let a = t.insert(conn(1), 0).unwrap();
        assert_eq!(t.insert(conn(2), 0), Err(TableFull));
        assert!(t.get(a).is_some());
        assert_eq!(
            t.insert(conn(1), 0),
            Err(TableFull),
            "duplicate tuple refused"
        );
    }

    #[test]
    fn fin_and_rst_shorten_timeouts() {
        let mut t = ConnTable::new(2, Timeouts::default());
        let id = t.insert(conn(1), 0).unwrap();
        t.touch(id, Direction::Reply, Some((false, true, false, true)), 0);
        assert_eq!(t.get(id).unwrap().state, State::FinWait);
        assert_eq!(t.get(id).unwrap().expires_ms, 120_000);
        t.touch(
            id,
            Direction::Original,
            Some((false, false, true, false)),
            0,
        );
        assert_eq!(t.get(id).unwrap().state, State::Close);
        assert_eq!(t.expire(10_000, 10), 1);
    }
}
