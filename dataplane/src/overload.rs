//! IPVS's overload flag (`ipvsadm -x` upper / `-y` lower connection thresholds) over a real
//! server's connections on every worker, as the kernel keeps one count per real server.
//!
//! The kernel sets IP_VS_DEST_F_OVERLOAD when binding a connection brings active +
//! inactive to the upper threshold, and clears it when an unbind takes the total below the
//! lower threshold (below 3/4 of the upper one when the lower is 0); every scheduler then
//! skips the server ([`scheduler::Thresholds`] holds the rules).
//!
//! Here each worker counts its own connections (the connection table's per-real-server
//! counts) and adds the difference since it last did to one shared atomic total per
//! (service, real server) with an upper threshold ([`OverloadShare::sync_one`]): on the
//! new-connection path for the chosen real server, and for all of them from the periodic
//! tick (every 100 ms, which carries expiries). So the total is exact for this worker's
//! own connections and at most one tick late for other workers' expiries. Services without
//! thresholds pay one branch per new connection.

use std::sync::atomic::{AtomicBool, AtomicU32, Ordering::Relaxed};
use std::sync::Arc;

use conn_table::ConnTable;
use scheduler::{Destination, Thresholds};

/// The shared state of one (service, real server) with thresholds.
#[derive(Debug, Default)]
pub struct Slot {
    /// Active + inactive connections on all workers, as each last added its share.
    conns: AtomicU32,
    /// IP_VS_DEST_F_OVERLOAD.
    overloaded: AtomicBool,
}

impl Slot {
    /// Whether the real server is overloaded (skipped by the scheduler).
    #[inline]
    pub fn overloaded(&self) -> bool {
        self.overloaded.load(Relaxed)
    }
}

/// The slots of a service table: one per real server of each service that has at least one
/// upper threshold, shared by all workers. Built with the table; a new table that keeps the
/// same (service, real server) layout keeps the same slots ([`Overload::follow`]).
#[derive(Clone, Debug, Default)]
pub struct Overload {
    /// Per service: its first slot and number of slots (0: no upper threshold).
    base: Vec<(u32, u32)>,
    /// Per slot: the real server's stable id and thresholds.
    dests: Vec<(u32, Thresholds)>,
    slots: Arc<[Slot]>,
}

impl Overload {
    /// The slots of a table's services, each given as its scheduler's destinations (with
    /// their thresholds) and its real servers' stable ids, index for index.
    pub fn new<'a, I: IntoIterator<Item = u32>>(
        services: impl IntoIterator<Item = (&'a [Destination], I)>,
    ) -> Self {
        let mut base = Vec::new();
        let mut dests = Vec::new();
        for (d, ids) in services {
            if d.iter().all(|d| d.thresholds.upper == 0) {
                base.push((0, 0));
                continue;
            }
            base.push((dests.len() as u32, d.len() as u32));
            let before = dests.len();
            dests.extend(ids.into_iter().zip(d).map(|(id, d)| (id, d.thresholds)));
            // Fewer ids than destinations (a caller bug): no slots rather than wrong ones.
            if dests.len() - before != d.len() {
                dests.truncate(before);
                *base.last_mut().expect("just pushed") = (0, 0);
            }
        }
        let slots = dests.iter().map(|_| Slot::default()).collect();
        Overload { base, dests, slots }
    }

    /// The slots of service `sid`'s real servers (by index), or `None` without thresholds.
    #[inline]
    pub fn service(&self, sid: usize) -> Option<&[Slot]> {
        let b = self.base(sid)?;
        let n = self.base[sid].1 as usize;
        self.slots.get(b..b + n)
    }

    /// The first slot of service `sid`, for [`OverloadShare::sync_one`]; `None` without
    /// thresholds.
    #[inline]
    pub fn base(&self, sid: usize) -> Option<usize> {
        match self.base.get(sid) {
            Some(&(b, n)) if n > 0 => Some(b as usize),
            _ => None,
        }
    }

    /// Continue `prev`'s slots: the same layout keeps them (counts and flags), another
    /// starts from zero counts (the workers add their own again) with each real server's
    /// flag carried over. Either way a changed threshold updates the flag as
    /// `__ip_vs_update_dest` does (cleared when the upper threshold is raised or removed).
    pub fn follow(&mut self, prev: &Overload) {
        let ids = |o: &Overload| o.dests.iter().map(|d| d.0).collect::<Vec<_>>();
        if self.base == prev.base && ids(self) == ids(prev) {
            self.slots = prev.slots.clone();
        }
        let before: std::collections::HashMap<u32, usize> = prev
            .dests
            .iter()
            .enumerate()
            .map(|(j, d)| (d.0, j))
            .collect();
        for (i, &(id, th)) in self.dests.iter().enumerate() {
            let Some(&j) = before.get(&id) else {
                continue;
            };
            let was = prev.slots[j].overloaded();
            self.slots[i]
                .overloaded
                .store(prev.dests[j].1.after_update(th, was), Relaxed);
        }
    }
}

/// One worker's contribution to the shared totals of the [`Overload`] slots it adopted.
#[derive(Debug, Default)]
pub struct OverloadShare {
    slots: Option<Arc<[Slot]>>,
    /// Per slot: what this worker last added.
    added: Vec<u32>,
}

impl OverloadShare {
    /// Adopt `o` (a new table generation): new slots get this worker's counts added.
    pub fn adopt(&mut self, o: &Overload, conns: &ConnTable) {
        let same = self
            .slots
            .as_ref()
            .is_some_and(|s| Arc::ptr_eq(s, &o.slots));
        if !same {
            self.slots = Some(o.slots.clone());
            self.added = vec![0; o.dests.len()];
        }
        self.sync_all(o, conns);
    }

    /// Add this worker's change in connections to every slot (the periodic tick: this is
    /// how expiries reach the shared totals).
    pub fn sync_all(&mut self, o: &Overload, conns: &ConnTable) {
        for slot in 0..o.dests.len() {
            self.sync_one(o, slot, conns);
        }
    }

    /// Add this worker's change in real server `slot`'s connections to its shared total and
    /// update the overload flag: set at the upper threshold (a bind), cleared below the
    /// lower one (an unbind).
    #[inline]
    pub fn sync_one(&mut self, o: &Overload, slot: usize, conns: &ConnTable) {
        let (Some(&(id, th)), Some(added), Some(shared)) = (
            o.dests.get(slot),
            self.added.get_mut(slot),
            o.slots.get(slot),
        ) else {
            return;
        };
        let c = conns.rs_counts(id);
        let mine = c.active.wrapping_add(c.inactive);
        let delta = mine.wrapping_sub(*added);
        if delta == 0 {
            // Nothing of this worker's changed: the shared line is left alone (the tick).
            return;
        }
        *added = mine;
        let total = shared.conns.fetch_add(delta, Relaxed).wrapping_add(delta);
        // A transiently negative total (another worker's unbind added first) reads as 0.
        let total = u64::from(if total > i32::MAX as u32 { 0 } else { total });
        let was = shared.overloaded();
        let now = if was {
            th.after_unbind(true, total)
        } else {
            th.after_bind(false, total)
        };
        if now != was {
            shared.overloaded.store(now, Relaxed);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A service's destinations and ids from real servers (id, upper threshold).
    fn svc(servers: &[(u32, u32)]) -> (Vec<Destination>, Vec<u32>) {
        let dests = servers
            .iter()
            .map(|&(id, upper)| Destination {
                thresholds: Thresholds { upper, lower: 0 },
                ..Destination::new(std::net::IpAddr::from([198, 19, 0, id as u8]), 80, 1)
            })
            .collect();
        (dests, servers.iter().map(|s| s.0).collect())
    }

    fn table(services: &[&[(u32, u32)]]) -> Overload {
        let built: Vec<_> = services.iter().map(|s| svc(s)).collect();
        Overload::new(built.iter().map(|(d, ids)| (&d[..], ids.iter().copied())))
    }

    #[test]
    fn slots_only_for_services_with_an_upper_threshold() {
        let o = table(&[&[(1, 0)], &[(2, 5), (3, 0)]]);
        assert!(o.service(0).is_none());
        assert_eq!(o.service(1).map(<[Slot]>::len), Some(2));
        assert_eq!(o.base(1), Some(0));
        assert!(o.service(2).is_none());
    }

    #[test]
    fn a_new_table_keeps_counts_and_flags_unless_the_threshold_rose() {
        let first = table(&[&[(2, 5), (3, 0)]]);
        first.slots[0].overloaded.store(true, Relaxed);
        first.slots[0].conns.store(5, Relaxed);
        // Same layout and thresholds: the same slots.
        let mut same = table(&[&[(2, 5), (3, 0)]]);
        same.follow(&first);
        assert!(Arc::ptr_eq(&same.slots, &first.slots));
        assert!(same.slots[0].overloaded());
        // Lowered: still overloaded; raised: cleared, as __ip_vs_update_dest does.
        let mut lower = table(&[&[(2, 4), (3, 0)]]);
        lower.follow(&first);
        assert!(lower.slots[0].overloaded());
        first.slots[0].overloaded.store(true, Relaxed);
        let mut higher = table(&[&[(2, 9), (3, 0)]]);
        higher.follow(&first);
        assert!(!higher.slots[0].overloaded());
        // Another layout: fresh counts (the workers add theirs again), the flag carried.
        first.slots[0].overloaded.store(true, Relaxed);
        let mut other = table(&[&[(4, 1), (2, 5)]]);
        other.follow(&first);
        assert!(!Arc::ptr_eq(&other.slots, &first.slots));
        assert!(other.slots[1].overloaded() && !other.slots[0].overloaded());
        assert_eq!(other.slots[1].conns.load(Relaxed), 0);
    }
}
