//! The end of a connection: removal on request and the timer-wheel sweep that
//! expires connections and templates within a work budget.

use super::entry::{key_of, ms, Conn, F_HAS_REPLY, F_INACTIVE, F_V6};
use super::layout::ConnTable;
use super::records::ConnId;
use super::templates::TEMPLATE_RECHECK_S;
use crate::tuple::{Method, Tuple};
use crate::wheel::NIL;

impl ConnTable {
    /// Remove a connection now (e.g. `expire_nodest_conn`, a control
    /// request). Returns whether it was live.
    pub fn remove(&mut self, id: ConnId) -> bool {
        if self.conn_live(id).is_none() {
            return false;
        }
        self.wheel.unlink(&mut self.conns, id.0);
        self.free_conn(id.0);
        true
    }

    /// Free a live connection already unlinked from the wheel.
    fn free_conn(&mut self, i: u32) {
        let c = self.conns.0[i as usize];
        let dirs: &[u32] = if c.flags & F_HAS_REPLY != 0 {
            &[0, 1]
        } else {
            &[0]
        };
        for &d in dirs {
            let v = (i << 1) | d;
            let p = self.probe(&key_of(&self.conns.0, &self.v6, v));
            self.index.remove(p, v);
        }
        let counts = &mut self.counts[c.rs as usize];
        if c.flags & F_INACTIVE != 0 {
            counts.inactive = counts.inactive.saturating_sub(1);
        } else {
            counts.active = counts.active.saturating_sub(1);
        }
        if c.template != NIL {
            let t = &mut self.tpls.0[c.template as usize];
            t.n_control = t.n_control.saturating_sub(1);
        }
        if c.flags & F_V6 != 0 {
            let s = c.addrs[0];
            self.v6[s as usize][0] = u128::from(self.v6_free);
            self.v6_free = s;
            self.v6_len -= 1;
        }
        let e = &mut self.conns.0[i as usize];
        *e = Conn::FREE;
        e.link.next = self.free;
        self.free = i;
        self.len -= 1;
    }

    /// Run the timer wheels up to `now_ms`, doing at most `budget` units of
    /// work (one unit per connection or template examined and per empty
    /// wheel slot passed). Returns the units spent; less than `budget` means
    /// the wheels have caught up. Connections are served first; templates
    /// whose timer fires while they still control connections are checked
    /// again [`TEMPLATE_RECHECK_S`] later (IPVS `expire_later`).
    pub fn expire(&mut self, now_ms: u64, budget: usize) -> usize {
        self.expire_with(now_ms, budget, |_, _| {})
    }

    /// [`ConnTable::expire`], calling `on_expired(method, reply)` for each
    /// connection that has a reply tuple just before it is freed: FULLNAT
    /// gives its local address and port (the reply's destination) back to
    /// the worker's SNAT pool there.
    pub fn expire_with(
        &mut self,
        now_ms: u64,
        budget: usize,
        mut on_expired: impl FnMut(Method, &Tuple),
    ) -> usize {
        let mut left = budget;
        while let Some(i) = self.wheel.pop_due(&mut self.conns, now_ms, &mut left) {
            let exp = self.conns.0[i as usize].expires;
            if exp <= now_ms {
                let c = &self.conns.0[i as usize];
                if c.flags & F_HAS_REPLY != 0 {
                    let info = self.info(i, c, now_ms);
                    if let Some(reply) = &info.reply {
                        on_expired(info.method, reply);
                    }
                }
                self.free_conn(i);
                self.stats.expired += 1;
            } else {
                self.wheel.link(&mut self.conns, i, exp);
            }
        }
        while let Some(i) = self.tpl_wheel.pop_due(&mut self.tpls, now_ms, &mut left) {
            let t = &mut self.tpls.0[i as usize];
            if t.expires > now_ms {
                let exp = t.expires;
                self.tpl_wheel.link(&mut self.tpls, i, exp);
            } else if t.n_control > 0 {
                t.expires = now_ms.saturating_add(ms(TEMPLATE_RECHECK_S));
                let exp = t.expires;
                self.tpl_wheel.link(&mut self.tpls, i, exp);
            } else {
                self.free_template(i);
                self.stats.templates_expired += 1;
            }
        }
        budget - left
    }
}
