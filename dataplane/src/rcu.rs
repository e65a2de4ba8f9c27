//! Quiescent-state-based reclamation (QSBR) for publishing immutable tables to workers.
//!
//! The control thread [`Publisher::publish`]es a new `Arc<T>`-free, boxed snapshot by
//! swapping one pointer; each worker, once per poll-loop iteration, calls
//! [`Reader::quiescent`] (one relaxed load and one release store of its own slot: no
//! read-modify-write, then one acquire load of the pointer), which returns the snapshot
//! borrowed until the next call. The control thread frees a retired snapshot only once
//! every registered reader has announced an epoch at or after the one in which it was
//! retired, i.e. every worker has finished the loop iteration that might still hold it.
//! A publisher dropped while readers may still hold retired snapshots hands them to the
//! shared state, which frees them with the last reader.
//!
//! Why not `Arc`: cloning an `Arc` per packet or per iteration is an atomic RMW on a shared
//! cache line, exactly what the per-packet rules forbid.

use std::marker::PhantomData;
use std::ptr::NonNull;
use std::sync::atomic::{AtomicPtr, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

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
    /// Snapshots retired but not yet freed when the publisher was dropped: they go with
    /// the last reader (touched only by the publisher's drop and this struct's).
    orphans: Mutex<Vec<Retired<T>>>,
}

/// A retired snapshot, freed when dropped. Kept as a raw pointer, not a `Box`, while it
/// waits: readers may still hold shared references to it, and a `Box` asserts it is the
/// only way to its contents (Miri's aliasing model flags that).
#[derive(Debug)]
struct Retired<T>(NonNull<T>);

impl<T> Retired<T> {
    /// # Safety
    /// `p` comes from `Box::into_raw`, and nothing else will free it.
    unsafe fn new(p: *mut T) -> Retired<T> {
        // SAFETY: Box::into_raw never returns null.
        Retired(unsafe { NonNull::new_unchecked(p) })
    }
}

impl<T> Drop for Retired<T> {
    fn drop(&mut self) {
        // SAFETY: the pointer came from Box::into_raw (see `new`), and a Retired is dropped
        // only once no reader can hold the snapshot (reclaim, or the last Arc of Shared).
        drop(unsafe { Box::from_raw(self.0.as_ptr()) });
    }
}

// SAFETY: a Retired owns its snapshot like a Box<T> would.
unsafe impl<T: Send> Send for Retired<T> {}
// SAFETY: as above; a shared Retired gives no access to the snapshot.
unsafe impl<T: Sync> Sync for Retired<T> {}

/// The control thread's side: publishes snapshots and frees retired ones.
pub struct Publisher<T> {
    shared: Arc<Shared<T>>,
    retired: Vec<(u64, Retired<T>)>,
}

/// One worker's side. `!Sync` by construction: one reader per worker.
///
/// The only way to a snapshot is [`quiescent`](Self::quiescent), whose reference borrows
/// the reader until the next `quiescent` or [`offline`](Self::offline), so a snapshot is
/// never read after its reader announced it no longer holds one:
///
/// ```compile_fail
/// let (_publisher, mut readers) = dataplane::rcu::channel(1u32, 1);
/// let r = &mut readers[0];
/// let snapshot = r.quiescent();
/// r.offline(); // the snapshot may be freed from here on
/// assert_eq!(*snapshot, 1);
/// ```
pub struct Reader<T> {
    shared: Arc<Shared<T>>,
    index: usize,
    online: bool,
    // The pointer returned by `quiescent` is valid only until the next call.
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
        orphans: Mutex::new(Vec::new()),
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
    /// Announce that this worker holds no reference obtained before this call, and return
    /// the current snapshot. Call once per poll-loop iteration; the reference lives until
    /// the next `quiescent` or `offline` call (enforced by the `&mut self` borrow).
    #[inline]
    pub fn quiescent(&mut self) -> &T {
        let e = self.shared.epoch.load(Ordering::Acquire);
        // Release: every use of a snapshot loaded before this point happens-before the
        // publisher's acquire read of this slot.
        self.shared.slots[self.index]
            .epoch
            .store(e, Ordering::Release);
        if !self.online {
            // Coming back online: order this store before the pointer load below against
            // the publisher's fence before it reads the slots (Dekker): either it sees
            // this slot, or this reader sees the newest pointer.
            std::sync::atomic::fence(Ordering::SeqCst);
            self.online = true;
        }
        let p = self.shared.current.load(Ordering::Acquire);
        // SAFETY: `p` was published from a live Box and is freed only after this reader's
        // slot shows an epoch later than the one in which `p` was retired (by the
        // publisher, or with the shared state once the publisher is gone); this reader
        // announced its epoch just above, before loading `p`, and cannot announce again
        // (or go offline) while the returned borrow of `self` is alive.
        unsafe { &*p }
    }

    /// Mark this reader offline (it holds no snapshot until `quiescent` again), e.g.
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
        // no longer reachable through `current`; nothing else frees it.
        self.retired.push((e, unsafe { Retired::new(old) }));
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

impl<T> Drop for Publisher<T> {
    /// Free what no reader can hold; what a reader may still hold goes to the shared state
    /// and is freed with it, when the last reader is gone.
    fn drop(&mut self) {
        if self.reclaim() > 0 {
            let mut orphans = match self.shared.orphans.lock() {
                Ok(o) => o,
                Err(poisoned) => poisoned.into_inner(),
            };
            orphans.extend(self.retired.drain(..).map(|(_, snapshot)| snapshot));
        }
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
                        let s = r.quiescent();
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
        // Miri interprets every step: fewer publications there, still hundreds of
        // interleavings with the readers.
        let publications = if cfg!(miri) { 300 } else { 20_000u64 };
        for v in 1..=publications {
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
        assert_eq!(publisher.current().value, publications);
        assert_eq!(live.load(Ordering::SeqCst), 1);
        drop(publisher);
        assert_eq!(live.load(Ordering::SeqCst), 0);
    }

    #[test]
    fn a_reader_that_has_not_moved_on_holds_reclamation() {
        let (mut p, mut rs) = channel(1u32, 1);
        assert_eq!(*rs[0].quiescent(), 1);
        p.publish(2);
        assert_eq!(p.pending(), 1, "reader may still hold snapshot 1");
        assert_eq!(*rs[0].quiescent(), 2);
        assert_eq!(p.reclaim(), 0);
        p.publish(3);
        assert_eq!(p.pending(), 1);
        rs[0].offline();
        assert_eq!(p.reclaim(), 0, "offline readers do not hold anything");
        p.publish(4);
        assert_eq!(p.pending(), 0);
        assert_eq!(
            *rs[0].quiescent(),
            4,
            "back online sees the newest snapshot"
        );
        p.publish(5);
        assert_eq!(p.pending(), 1);
    }

    /// A snapshot that records its own drop outside itself, so a test can see that it was
    /// freed without reading freed memory.
    struct Flagged(Arc<AtomicBool>);
    impl Drop for Flagged {
        fn drop(&mut self) {
            self.0.store(true, Ordering::SeqCst);
        }
    }

    #[test]
    fn dropping_the_publisher_leaves_what_a_reader_holds_alive() {
        // The shutdown race, as one interleaving: a worker holds snapshot 1, the control
        // thread publishes snapshot 2 and then goes away.
        let first_freed = Arc::new(AtomicBool::new(false));
        let (mut publisher, mut readers) = channel(Flagged(first_freed.clone()), 2);
        let mut idle = readers.pop().unwrap();
        idle.offline();
        let mut reader = readers.pop().unwrap();
        let held = reader.quiescent();
        let second_freed = Arc::new(AtomicBool::new(false));
        publisher.publish(Flagged(second_freed.clone()));
        assert_eq!(publisher.pending(), 1, "the reader may hold snapshot 1");
        drop(publisher);
        assert!(
            !first_freed.load(Ordering::SeqCst),
            "snapshot 1 freed while a reader holds it"
        );
        assert!(Arc::ptr_eq(&held.0, &first_freed));
        // The reader moves on: it sees snapshot 2, and both go with the last reader.
        assert!(Arc::ptr_eq(&reader.quiescent().0, &second_freed));
        drop(reader);
        assert!(!first_freed.load(Ordering::SeqCst) && !second_freed.load(Ordering::SeqCst));
        drop(idle);
        assert!(
            first_freed.load(Ordering::SeqCst),
            "retired snapshot leaked"
        );
        assert!(
            second_freed.load(Ordering::SeqCst),
            "current snapshot leaked"
        );
    }

    #[test]
    fn a_publisher_dropped_after_every_reader_moved_on_frees_at_once() {
        let first_freed = Arc::new(AtomicBool::new(false));
        let (mut publisher, mut readers) = channel(Flagged(first_freed.clone()), 1);
        let _ = readers[0].quiescent();
        publisher.publish(Flagged(Arc::new(AtomicBool::new(false))));
        let _ = readers[0].quiescent();
        drop(publisher);
        assert!(first_freed.load(Ordering::SeqCst));
    }
}
