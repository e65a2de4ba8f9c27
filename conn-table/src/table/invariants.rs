//! The consistency check the tests run after every step: index, wheels and
//! counts agree with the slabs.

use super::entry::{key_of, tuple_of, F_HAS_REPLY, F_INACTIVE, F_LIVE};
use super::layout::ConnTable;
use super::records::RsCounts;
use crate::wheel::NIL;

impl ConnTable {
    /// Internal consistency check for tests: index, wheel and counts agree
    /// with the slab. Returns a description of the first mismatch.
    #[doc(hidden)]
    pub fn check_invariants(&self) -> Result<(), String> {
        let mut counts = vec![RsCounts::default(); self.counts.len()];
        let mut live = 0;
        let mut index_entries = 0;
        for (i, c) in self.conns.0.iter().enumerate() {
            if c.flags & F_LIVE == 0 {
                continue;
            }
            live += 1;
            let dirs: &[u32] = if c.flags & F_HAS_REPLY != 0 {
                &[0, 1]
            } else {
                &[0]
            };
            for &d in dirs {
                index_entries += 1;
                let t = tuple_of(c, &self.v6, d as usize);
                match self.lookup(&t) {
                    Some((id, dir)) if id.0 as usize == i && dir as u32 == d => {}
                    other => return Err(format!("slot {i} dir {d}: lookup gave {other:?}")),
                }
            }
            let rc = &mut counts[c.rs as usize];
            if c.flags & F_INACTIVE != 0 {
                rc.inactive += 1;
            } else {
                rc.active += 1;
            }
            let expect_active = c.state().is_active();
            if expect_active == (c.flags & F_INACTIVE != 0) {
                return Err(format!(
                    "slot {i}: INACTIVE flag disagrees with state {:?}",
                    c.state()
                ));
            }
        }
        let mut controlled = vec![0u32; self.tpls.0.len()];
        for c in self.conns.0.iter().filter(|c| c.flags & F_LIVE != 0) {
            if c.template != NIL {
                controlled[c.template as usize] += 1;
            }
        }
        let mut tpl_live = 0;
        for (i, t) in self.tpls.0.iter().enumerate() {
            if !t.live {
                if controlled[i] != 0 {
                    return Err(format!("template {i} freed while controlling connections"));
                }
                continue;
            }
            tpl_live += 1;
            counts[t.rs as usize].persistent += 1;
            if t.n_control != controlled[i] {
                return Err(format!(
                    "template {i}: n_control {} but {} connections",
                    t.n_control, controlled[i]
                ));
            }
        }
        if live != self.len || self.index.len() != index_entries || self.wheel.len() != live {
            return Err(format!(
                "len {} live {live} index {} (expected {index_entries}) wheel {}",
                self.len,
                self.index.len(),
                self.wheel.len()
            ));
        }
        if tpl_live != self.tpl_len || self.tpl_wheel.len() != tpl_live {
            return Err("template counts".into());
        }
        if counts != self.counts {
            return Err("real server counts differ".into());
        }
        self.index
            .check(|v| self.probe(&key_of(&self.conns.0, &self.v6, v)))
    }
}
