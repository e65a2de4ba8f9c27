//! Single-level timer wheel with lazy re-arm, over intrusive doubly-linked
//! lists threaded through slab entries.
//!
//! Each entry sits in exactly one slot: the one of its *armed* tick, which is
//! never later than its real expiry. Refreshing an entry to a later expiry
//! only writes its expiry (no list work); the wheel re-arms it when its slot
//! comes due. Moving the expiry *earlier* (a state change to a shorter
//! timeout) re-links it, O(1). Expiries beyond the wheel's span are parked in
//! the last slot of the span and re-armed when visited.

/// Index meaning "no entry".
pub(crate) const NIL: u32 = u32::MAX;

/// Intrusive wheel links stored in each slab entry. `tick` is the armed tick,
/// truncated to 32 bits (compared relative to the cursor, so wrap is fine).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub(crate) struct Link {
    pub next: u32,
    pub prev: u32,
    pub tick: u32,
}

impl Link {
    pub const UNLINKED: Link = Link {
        next: NIL,
        prev: NIL,
        tick: 0,
    };
}

/// Access to the links of slab entries.
pub(crate) trait Linked {
    fn link_mut(&mut self, i: u32) -> &mut Link;
}

pub(crate) struct Wheel {
    heads: Box<[u32]>,
    mask: u64,
    tick_ms: u64,
    /// Next tick to process; every linked entry is armed at >= cursor
    /// (modulo the catch-up jump in `pop_due`, which stays correct because
    /// due-ness is decided from the entry's expiry, not from its slot).
    cursor: u64,
    len: usize,
}

impl Wheel {
    pub fn new(slots: usize, tick_ms: u64, now_ms: u64) -> Wheel {
        Wheel {
            heads: vec![NIL; slots].into_boxed_slice(),
            mask: slots as u64 - 1,
            tick_ms,
            cursor: now_ms / tick_ms,
            len: 0,
        }
    }

    pub fn len(&self) -> usize {
        self.len
    }

    pub fn slots(&self) -> usize {
        self.heads.len()
    }

    /// Tick an expiry would be armed at right now.
    #[inline]
    fn arm_tick(&self, expires_ms: u64) -> u64 {
        let t = expires_ms / self.tick_ms;
        t.clamp(self.cursor, self.cursor.saturating_add(self.mask))
    }

    /// Whether an entry armed at `armed` must be re-linked to fire by
    /// `expires_ms` (its new expiry is in an earlier tick than its slot).
    #[inline]
    pub fn needs_rearm(&self, armed: u32, expires_ms: u64) -> bool {
        // `arm_tick(expires_ms) - cursor < armed - cursor` (ticks relative to the cursor,
        // wrapping), without the division of `arm_tick` (this runs for every packet):
        // the new tick is clamped to [0, mask] relative to the cursor, so it is below an
        // armed tick `a` ahead (1 <= a <= mask) exactly when the expiry is before the
        // start of tick cursor + a; an `a` past the span (an entry the cursor's catch-up
        // jump left behind) is always above it, and `a` = 0 never is.
        let a = u64::from(armed.wrapping_sub(self.cursor as u32));
        a != 0 && (a > self.mask || expires_ms < (self.cursor + a).saturating_mul(self.tick_ms))
    }

    pub fn link<S: Linked>(&mut self, s: &mut S, i: u32, expires_ms: u64) {
        let t = self.arm_tick(expires_ms);
        let slot = (t & self.mask) as usize;
        let head = self.heads[slot];
        *s.link_mut(i) = Link {
            next: head,
            prev: NIL,
            tick: t as u32,
        };
        if head != NIL {
            s.link_mut(head).prev = i;
        }
        self.heads[slot] = i;
        self.len += 1;
    }

    pub fn unlink<S: Linked>(&mut self, s: &mut S, i: u32) {
        let l = *s.link_mut(i);
        if l.prev != NIL {
            s.link_mut(l.prev).next = l.next;
        } else {
            // The head of the slot of its armed tick.
            let slot = (u64::from(l.tick) & self.mask) as usize;
            debug_assert_eq!(self.heads[slot], i);
            self.heads[slot] = l.next;
        }
        if l.next != NIL {
            s.link_mut(l.next).prev = l.prev;
        }
        *s.link_mut(i) = Link::UNLINKED;
        self.len -= 1;
    }

    /// Unlink and return the next entry of a slot whose tick is wholly in the
    /// past, spending one unit of `budget` per entry returned and per empty
    /// slot passed. `None` when the wheel has caught up with `now_ms` or the
    /// budget is spent. The caller either frees the entry or links it again
    /// (its expiry is then later than the processed tick, so it lands in a
    /// later slot and is not returned again by this sweep).
    pub fn pop_due<S: Linked>(
        &mut self,
        s: &mut S,
        now_ms: u64,
        budget: &mut usize,
    ) -> Option<u32> {
        let now_tick = now_ms / self.tick_ms;
        if self.len == 0 {
            self.cursor = self.cursor.max(now_tick);
            return None;
        }
        // More than a lap behind: every slot is due anyway, skip the laps.
        if now_tick > self.cursor.saturating_add(self.mask + 1) {
            self.cursor = now_tick - self.mask - 1;
        }
        while *budget > 0 && self.cursor < now_tick {
            *budget -= 1;
            let slot = (self.cursor & self.mask) as usize;
            let head = self.heads[slot];
            if head != NIL {
                self.unlink(s, head);
                return Some(head);
            }
            self.cursor += 1;
        }
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    /// The rule `needs_rearm` answers, with the division it avoids.
    fn needs_rearm_by_division(w: &Wheel, armed: u32, expires_ms: u64) -> bool {
        let cur = w.cursor as u32;
        let new = w.arm_tick(expires_ms) as u32;
        new.wrapping_sub(cur) < armed.wrapping_sub(cur)
    }

    proptest! {
        #[test]
        fn needs_rearm_matches_the_division(
            slots_log in 0u32..12,
            tick_ms in 1u64..2000,
            now_ms in 0u64..(1 << 40),
            armed_ahead in -4i64..5000,
            expires_ahead in 0u64..20_000_000,
        ) {
            let w = Wheel::new(1 << slots_log, tick_ms, now_ms);
            // Armed ticks at, ahead of and (after a catch-up jump) behind the cursor.
            let armed = (w.cursor as i64 + armed_ahead) as u32;
            for exp in [now_ms + expires_ahead, now_ms, now_ms.saturating_sub(expires_ahead)] {
                prop_assert_eq!(
                    w.needs_rearm(armed, exp),
                    needs_rearm_by_division(&w, armed, exp),
                    "armed {} exp {} cursor {}", armed, exp, w.cursor
                );
            }
        }
    }

    #[test]
    fn needs_rearm_at_tick_edges() {
        let w = Wheel::new(64, 100, 1_000);
        // Cursor at tick 10; an entry armed at tick 13 (expiry in [1300, 1400)).
        for exp in [1_000, 1_299, 1_300, 1_399, 1_400, 99_999] {
            assert_eq!(w.needs_rearm(13, exp), needs_rearm_by_division(&w, 13, exp));
        }
        assert!(w.needs_rearm(13, 1_299));
        assert!(!w.needs_rearm(13, 1_300));
        // Armed at the cursor: never earlier.
        assert!(!w.needs_rearm(10, 0));
    }
}
