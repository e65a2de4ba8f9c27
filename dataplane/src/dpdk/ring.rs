//! [`MbufRing`]: a single-producer/single-consumer ring handing mbufs between workers,
//! used through its two ends, [`RingProducer`] and [`RingConsumer`].

use std::ffi::{c_void, CString};
use std::ptr::NonNull;
use std::sync::Arc;

use dpdk_sys as sys;

use super::burst::{RxBurst, BURST};
use super::eal::{Eal, EalRef};
use super::error::DpdkError;
use super::mbuf::Mbuf;

/// A single-producer/single-consumer ring of mbufs between two workers. Mbufs go in
/// through its one [`RingProducer`] and out through its one [`RingConsumer`]; the ring
/// itself only counts its entries (from any thread) and is freed with the last handle.
pub struct MbufRing {
    ptr: NonNull<sys::rte_ring>,
    _eal: EalRef,
}

// SAFETY: the ring's shared side only reads its indices (count) and frees it when the
// last handle is gone; enqueue and dequeue belong to the producer and consumer handles.
unsafe impl Send for MbufRing {}
// SAFETY: as above: rte_ring_count reads the producer and consumer indices atomically.
unsafe impl Sync for MbufRing {}

/// The producing end of an [`MbufRing`]: one thread enqueues. `Send`, not `Sync`:
///
/// ```compile_fail
/// fn shared_between_threads<T: Sync>() {}
/// shared_between_threads::<dataplane::dpdk::RingProducer>();
/// ```
pub struct RingProducer {
    ptr: NonNull<sys::rte_ring>,
    ring: Arc<MbufRing>,
}

/// The consuming end of an [`MbufRing`]: one thread dequeues. `Send`, not `Sync`:
///
/// ```compile_fail
/// fn shared_between_threads<T: Sync>() {}
/// shared_between_threads::<dataplane::dpdk::RingConsumer>();
/// ```
pub struct RingConsumer {
    ptr: NonNull<sys::rte_ring>,
    ring: Arc<MbufRing>,
}

// SAFETY: an SPSC rte_ring is used by one producer thread and one consumer thread at the
// same time; each handle is the only one of its kind and may move to its worker.
unsafe impl Send for RingProducer {}
// SAFETY: as above.
unsafe impl Send for RingConsumer {}

impl MbufRing {
    /// Create an SPSC ring with room for `size - 1` mbufs (`size` a power of two); returns
    /// its two ends.
    pub fn create(
        eal: &Eal,
        name: &str,
        size: u32,
    ) -> Result<(RingProducer, RingConsumer), DpdkError> {
        let cname =
            CString::new(name).map_err(|_| DpdkError::new("rte_ring_create", libc::EINVAL))?;
        // SAFETY: valid name; EAL initialised.
        let ptr = unsafe {
            sys::rte_ring_create(
                cname.as_ptr(),
                size,
                sys::SOCKET_ID_ANY,
                sys::RING_F_SP_ENQ | sys::RING_F_SC_DEQ,
            )
        };
        let ptr = NonNull::new(ptr).ok_or_else(|| DpdkError::last("rte_ring_create"))?;
        let ring = Arc::new(MbufRing {
            ptr,
            _eal: EalRef::new(eal),
        });
        Ok((
            RingProducer {
                ptr,
                ring: ring.clone(),
            },
            RingConsumer { ptr, ring },
        ))
    }

    /// Entries waiting.
    pub fn count(&self) -> u32 {
        // SAFETY: valid ring; counting reads both indices and is safe from any thread.
        unsafe { sys::rvs_ring_count(self.ptr.as_ptr()) }
    }
}

impl RingProducer {
    /// Enqueue one mbuf; gives it back when the ring is full.
    #[inline]
    pub fn enqueue(&mut self, m: Mbuf) -> Result<(), Mbuf> {
        let p = m.into_raw() as *mut c_void;
        // SAFETY: one valid object pointer; this handle is the ring's single producer
        // (`&mut self`: one thread at a time).
        let n = unsafe { sys::rvs_ring_enqueue_burst(self.ptr.as_ptr(), &p, 1) };
        if n == 1 {
            Ok(())
        } else {
            // SAFETY: not enqueued, so still ours.
            Err(unsafe { Mbuf::from_raw(p as *mut sys::rte_mbuf) })
        }
    }

    /// The ring, to count its entries from another thread.
    pub fn ring(&self) -> Arc<MbufRing> {
        self.ring.clone()
    }
}

impl RingConsumer {
    /// Dequeue up to [`BURST`] mbufs into `burst`.
    #[inline]
    pub fn dequeue(&mut self, burst: &mut RxBurst) -> usize {
        while burst.pop().is_some() {}
        // SAFETY: this handle is the ring's single consumer (`&mut self`).
        unsafe { dequeue(self.ptr, burst) }
    }

    /// The ring, to count its entries from another thread.
    pub fn ring(&self) -> Arc<MbufRing> {
        self.ring.clone()
    }
}

/// Dequeue up to [`BURST`] mbufs into the empty `burst`.
///
/// # Safety
/// The caller is the ring's only consumer for the duration of the call.
#[inline]
unsafe fn dequeue(ring: NonNull<sys::rte_ring>, burst: &mut RxBurst) -> usize {
    // SAFETY: room for BURST pointers; the caller is the single consumer; the ring holds
    // only mbuf pointers enqueued by `RingProducer::enqueue`.
    let n = unsafe {
        sys::rvs_ring_dequeue_burst(
            ring.as_ptr(),
            burst.ptrs.as_mut_ptr() as *mut *mut c_void,
            BURST as u32,
        )
    };
    burst.len = n as usize;
    burst.next = 0;
    n as usize
}

impl Drop for MbufRing {
    fn drop(&mut self) {
        let mut b = RxBurst::default();
        // SAFETY: the last handle is gone, so nothing else enqueues or dequeues.
        while unsafe { dequeue(self.ptr, &mut b) } > 0 {
            drop(std::mem::take(&mut b));
        }
        // SAFETY: nobody else uses the ring any more (it is being dropped).
        unsafe { sys::rte_ring_free(self.ptr.as_ptr()) }
    }
}
