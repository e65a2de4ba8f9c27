//! Quiescent-state-based reclamation (QSBR) for publishing immutable tables to workers.
//!
//! The control thread [`Publisher::publish`]es a new `Arc<T>`-free, boxed snapshot by
//! swapping one pointer; each worker, once per poll-loop iteration, calls
//! [`Reader::quiescent`] (one relaxed load and one release store of its own slot: no
//! read-modify-write) and then [`Reader::get`] (one acquire load). The control thread frees
//! a retired snapshot only once every registered reader has announced an epoch at or after
//! the one in which it was retired, i.e. every worker has finished the loop iteration that
//! might still hold it.
//!
//! Why not `Arc`: cloning an `Arc` per packet or per iteration is an atomic RMW on a shared
//! cache line, exactly what the per-packet rules forbid.

use std::marker::PhantomData;
use std::sync::atomic::{AtomicPtr, AtomicU64, Ordering};
use std::sync::Arc;

/// A reader's epoch slot, alone on its cache line.
#[repr(align(64))]
#[derive(Debug)]
struct Slot {
    epoch: AtomicU64,
}

/// Epoch value of a reader that is offline (not holding any snapshot).
const OFFLINE: u64 = u64::MAX;

#[derive(Debug)]
struct Shared<T> {
    current: AtomicPtr<T>,
    epoch: AtomicU64,
    slots: Vec<Slot>,
}

/// The control thread's side: publishes snapshots and frees retired ones.
pub struct Publisher<T> {
    shared: Arc<Shared<T>>,
    retired: Vec<(u64, Box<T>)>,
}

/// One worker's side. `!Sync` by construction: one reader per worker.
pub struct Reader<T> {
    shared: Arc<Shared<T>>,
    index: usize,
    online: bool,
    // The pointer returned by `get` is valid only until the next `quiescent` call.
    _not_sync: PhantomData<*const T>,
}

// SAFETY: a Reader holds an Arc to Shared (whose atomics are thread-safe) and a slot index;
// moving it to the worker thread is sound when T may be shared across threads.
unsafe impl<T: Send + Sync> Send for Reader<T> {}

/// Create a publisher with `initial` as the current snapshot and `readers` reader handles.
pub fn channel<T: Send + Sync>(initial: T, readers: usize) -> (Publisher<T>, Vec<Reader<T>>) {
    let shared = Arc::new(Shared {
        current: AtomicPtr::new(Box::into_raw(Box::new(initial))),
        epoch: AtomicU64::new(1),
        // Readers start online at the first epoch: they may hold the initial snapshot.
        slots: (0..readers)
            .map(|_| Slot {
                epoch: AtomicU64::new(1),
            })
            .collect(),
    });
    let rs = (0..readers)
        .map(|index| Reader {
            shared: shared.clone(),
            index,
            online: true,
            _not_sync: PhantomData,
        })
        .collect();
    (
        Publisher {
            shared,
            retired: Vec::new(),
        },
        rs,
    )
}

impl<T> Reader<T> {
    /// Announce that this worker holds no reference obtained before this call. Call once
    /// per poll-loop iteration, before [`get`](Self::get).
    #[inline]
    pub fn quiescent(&mut self) {
        let e = self.shared.epoch.load(Ordering::Acquire);
        // Release: every use of a snapshot loaded before this point happens-before the
        // publisher's acquire read of this slot.
        self.shared.slots[self.index]
            .epoch
            .store(e, Ordering::Release);
        if !self.online {
            // Coming back online: order this store before the pointer load in `get`
            // against the publisher's fence before it reads the slots (Dekker): either it
            // sees this slot, or this reader sees the newest pointer.
            std::sync::atomic::fence(Ordering::SeqCst);
            self.online = true;
        }
    }

    /// The current snapshot. The reference lives until the next `quiescent` call
    /// (enforced by the `&mut self` borrow there).
    #[inline]
    pub fn get(&self) -> &T {
        let p = self.shared.current.load(Ordering::Acquire);
        // SAFETY: `p` was published from a live Box and is freed only after this reader's
        // slot shows an epoch later than the one in which `p` was retired; this reader
        // announced its epoch (quiescent) before loading `p` and cannot announce again
        // while the returned borrow of `self` is alive.
        unsafe { &*p }
    }

    /// Mark this reader offline (it will not call `get` until `quiescent` again), e.g.
    /// when its worker stops, so it never holds back reclamation.
    pub fn offline(&mut self) {
        self.online = false;
        self.shared.slots[self.index]
            .epoch
            .store(OFFLINE, Ordering::Release);
    }
}

impl<T> Drop for Reader<T> {
    fn drop(&mut self) {
        self.offline();
    }
}

impl<T> Publisher<T> {
    /// Make `next` the current snapshot; the previous one is retired and freed by a later
    /// [`reclaim`](Self::reclaim) once all readers have moved on.
    pub fn publish(&mut self, next: T) {
        let old = self
            .shared
            .current
            .swap(Box::into_raw(Box::new(next)), Ordering::AcqRel);
        // Readers announcing this epoch (or later) loaded the new pointer afterwards.
        let e = self.shared.epoch.fetch_add(1, Ordering::AcqRel) + 1;
        // SAFETY: `old` came from Box::into_raw in channel() or a previous publish and is
        // no longer reachable through `current`.
        self.retired.push((e, unsafe { Box::from_raw(old) }));
        self.reclaim();
    }

    /// Free every retired snapshot no reader can still hold. Returns how many remain.
    pub fn reclaim(&mut self) -> usize {
        // Pairs with the fence of a reader coming back online.
        std::sync::atomic::fence(Ordering::SeqCst);
        let min = self
            .shared
            .slots
            .iter()
            .map(|s| s.epoch.load(Ordering::Acquire))
            .min()
            .unwrap_or(OFFLINE);
        self.retired.retain(|(e, _)| *e > min);
        self.retired.len()
    }

    /// The current snapshot, as the control thread sees it.
    pub fn current(&self) -> &T {
        // SAFETY: only the publisher (this thread, `&self`) frees snapshots, and never the
        // current one.
        unsafe { &*self.shared.current.load(Ordering::Acquire) }
    }

    /// Snapshots retired but not yet freed.
    pub fn pending(&self) -> usize {
        self.retired.len()
    }
}

impl<T> Drop for Shared<T> {
    fn drop(&mut self) {
        let p = *self.current.get_mut();
        // SAFETY: the last Arc is gone, so no reader or publisher can use `p`.
        drop(unsafe { Box::from_raw(p) });
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicBool, AtomicUsize};

    /// A snapshot that detects use after free: `alive` is cleared on drop and checked by
    /// readers, and a global count tracks live snapshots.
    struct Snap {
        value: u64,
        check: u64,
        alive: AtomicBool,
        live: Arc<AtomicUsize>,
    }
    impl Drop for Snap {
        fn drop(&mut self) {
            self.alive.store(false, Ordering::SeqCst);
            self.check = 0xdead;
            self.live.fetch_sub(1, Ordering::SeqCst);
        }
    }
    fn snap(v: u64, live: &Arc<AtomicUsize>) -> Snap {
        live.fetch_add(1, Ordering::SeqCst);
        Snap {
            value: v,
            check: v ^ 0x5a5a,
            alive: AtomicBool::new(true),
            live: live.clone(),
        }
    }

    #[test]
    fn readers_never_see_freed_snapshots_under_stress() {
        let live = Arc::new(AtomicUsize::new(0));
        let (mut publisher, readers) = channel(snap(0, &live), 2);
        let stop = Arc::new(AtomicBool::new(false));
        let handles: Vec<_> = readers
            .into_iter()
            .map(|mut r| {
                let stop = stop.clone();
                std::thread::spawn(move || {
                    let mut last = 0;
                    let mut iterations = 0u64;
                    while !stop.load(Ordering::Relaxed) {
                        r.quiescent();
                        let s = r.get();
                        for _ in 0..50 {
                            assert!(
                                s.alive.load(Ordering::SeqCst),
                                "snapshot freed while in use"
                            );
                            assert_eq!(s.check, s.value ^ 0x5a5a);
                        }
                        assert!(s.value >= last, "went back in time");
                        last = s.value;
                        iterations += 1;
                    }
                    iterations
                })
            })
            .collect();
        for v in 1..=20_000u64 {
            publisher.publish(snap(v, &live));
            if v % 64 == 0 {
                std::thread::yield_now();
            }
        }
        stop.store(true, Ordering::Relaxed);
        for h in handles {
            assert!(h.join().unwrap() > 0);
        }
        // Readers dropped (offline): everything retired can go.
        assert_eq!(publisher.reclaim(), 0);
        assert_eq!(publisher.current().value, 20_000);
        assert_eq!(live.load(Ordering::SeqCst), 1);
        drop(publisher);
        assert_eq!(live.load(Ordering::SeqCst), 0);
    }

    #[test]
    fn a_reader_that_has_not_moved_on_holds_reclamation() {
        let (mut p, mut rs) = channel(1u32, 1);
        rs[0].quiescent();
        assert_eq!(*rs[0].get(), 1);
        p.publish(2);
        assert_eq!(p.pending(), 1, "reader may still hold snapshot 1");
        rs[0].quiescent();
        assert_eq!(*rs[0].get(), 2);
        assert_eq!(p.reclaim(), 0);
        p.publish(3);
        assert_eq!(p.pending(), 1);
        rs[0].offline();
        assert_eq!(p.reclaim(), 0, "offline readers do not hold anything");
        p.publish(4);
        assert_eq!(p.pending(), 0);
        rs[0].quiescent();
        assert_eq!(*rs[0].get(), 4, "back online sees the newest snapshot");
        p.publish(5);
        assert_eq!(p.pending(), 1);
    }
}
