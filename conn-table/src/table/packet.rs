//! What a packet does to its connection: packet and byte counters, the TCP state
//! machine with the active/inactive counts of the real server, and the expiry of
//! the new state; and the FULLNAT sequence offset the dataplane records.

use super::entry::{ms, F_INACTIVE, F_LIVE, F_NO_OUTPUT};
use super::layout::ConnTable;
use super::records::ConnId;
use crate::state::{tcp_next, ConnState, TableDir, TcpFlags, TcpState};
use crate::tuple::{proto, Direction};

impl ConnTable {
    /// Account one packet of `bytes` bytes travelling in `dir`: counters,
    /// protocol state (TCP: the kernel's table for `flags`), active/inactive
    /// counts and expiry (`now_ms` + the new state's timeout). Returns the
    /// new state, or `None` if `id` is not a live connection.
    #[inline]
    pub fn on_packet(
        &mut self,
        id: ConnId,
        dir: Direction,
        flags: TcpFlags,
        bytes: u32,
        now_ms: u64,
    ) -> Option<ConnState> {
        let c = self.conns.0.get_mut(id.0 as usize)?;
        if c.flags & F_LIVE == 0 {
            return None;
        }
        let d = dir as usize * 2;
        c.counters[d] += 1;
        c.counters[d + 1] += u64::from(bytes);
        let first = c.counters[0] + c.counters[2] == 1;
        let timeout_s = match c.proto {
            proto::TCP => {
                let mut tdir = match dir {
                    Direction::Original => TableDir::Input,
                    Direction::Reply => TableDir::Output,
                };
                if c.flags & F_NO_OUTPUT != 0 {
                    if dir == Direction::Reply {
                        c.flags &= !F_NO_OUTPUT;
                    } else {
                        tdir = TableDir::InputOnly;
                    }
                }
                let old = TcpState::from_u8(c.state).unwrap_or(TcpState::Close);
                let new = tcp_next(self.secure_tcp, tdir, flags, old);
                if new != old {
                    let counts = &mut self.counts[c.rs as usize];
                    let inactive = c.flags & F_INACTIVE != 0;
                    if !inactive && !new.is_active() {
                        counts.active = counts.active.saturating_sub(1);
                        counts.inactive += 1;
                        c.flags |= F_INACTIVE;
                    } else if inactive && new.is_active() {
                        counts.active += 1;
                        counts.inactive = counts.inactive.saturating_sub(1);
                        c.flags &= !F_INACTIVE;
                    }
                    c.state = new as u8;
                }
                self.timeouts.tcp_state(new)
            }
            proto::UDP => self.timeouts.udp,
            proto::ICMP | proto::ICMPV6 => self.timeouts.icmp,
            _ => self.timeouts.other,
        };
        let exp = now_ms.saturating_add(ms(timeout_s));
        c.expires = exp;
        let state = c.state();
        let armed = c.link.tick;
        // The first packet replaces the 3 s of `insert` with its state's timeout: re-link
        // now, while the slot lists it touches (this connection's, the previous new one's)
        // are in the cache, instead of leaving it to the sweep, which would re-arm every
        // new connection 3 s later, cold. Later packets only write `expires` (lazy re-arm).
        if first || self.wheel.needs_rearm(armed, exp) {
            self.wheel.unlink(&mut self.conns, id.0);
            self.wheel.link(&mut self.conns, id.0, exp);
        }
        Some(state)
    }

    /// Set the sequence-number offset of live connection `id` (FULLNAT TCP: see
    /// [`ConnRef::seq_delta`](super::view::ConnRef::seq_delta)); a stale id is ignored.
    pub fn set_seq_delta(&mut self, id: ConnId, delta: u32) {
        if let Some(c) = self
            .conns
            .0
            .get_mut(id.0 as usize)
            .filter(|c| c.flags & F_LIVE != 0)
        {
            c.seq_delta = delta;
        }
    }
}

#[cfg(test)]
mod tests {
    use std::net::IpAddr;

    use crate::table::{Config, ConnTable, NewConn};
    use crate::tuple::{proto, Method, Tuple};

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap()
    }

    /// The sequence offset belongs to the connection: set on a live one, 0 on a new
    /// connection that reuses a removed one's slot, and a stale id changes nothing.
    #[test]
    fn seq_delta_is_per_connection() {
        let cfg = Config {
            capacity: 4,
            ipv6_capacity: 4,
            max_templates: 1,
            max_real_servers: 4,
            tick_ms: 100,
            wheel_slots: 64,
        };
        let mut t = ConnTable::new(cfg, 0).unwrap();
        let nc = |port| NewConn {
            original: Tuple::new(proto::TCP, ip("198.18.0.1"), port, ip("198.18.0.100"), 80),
            reply: Some(Tuple::new(
                proto::TCP,
                ip("198.19.0.11"),
                80,
                ip("198.19.0.250"),
                port,
            )),
            rs: 1,
            svc: 1,
            method: Method::FullNat,
            template: None,
        };
        let a = t.insert(&nc(40000), 0).unwrap();
        let b = t.insert(&nc(40001), 0).unwrap();
        t.set_seq_delta(a, 0xdead_beef);
        assert_eq!(t.conn(a).unwrap().seq_delta(), 0xdead_beef);
        assert_eq!(t.conn(b).unwrap().seq_delta(), 0);
        t.remove(a);
        t.set_seq_delta(a, 7);
        let c = t.insert(&nc(40002), 0).unwrap();
        assert_eq!(c, a, "the freed slot is reused");
        assert_eq!(t.conn(c).unwrap().seq_delta(), 0);
    }
}
