//! [`MbufRing`]: a single-producer/single-consumer ring handing mbufs between workers.

use std::ffi::{c_void, CString};
use std::ptr::NonNull;

use dpdk_sys as sys;

use super::burst::{RxBurst, BURST};
use super::eal::Eal;
use super::error::DpdkError;
use super::mbuf::Mbuf;

/// A single-producer/single-consumer ring of mbufs between two workers.
pub struct MbufRing {
    ptr: NonNull<sys::rte_ring>,
}

// SAFETY: an SPSC rte_ring is safe to use from one producer thread and one consumer thread
// at the same time; rvs hands each end to one worker.
unsafe impl Send for MbufRing {}
// SAFETY: as above; enqueue and dequeue touch disjoint ring indices.
unsafe impl Sync for MbufRing {}

impl MbufRing {
    /// Create an SPSC ring with room for `size - 1` mbufs (`size` a power of two).
    pub fn new(_eal: &Eal, name: &str, size: u32) -> Result<MbufRing, DpdkError> {
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
        NonNull::new(ptr)
            .map(|ptr| MbufRing { ptr })
            .ok_or_else(|| DpdkError::last("rte_ring_create"))
    }

    /// Enqueue one mbuf; gives it back when the ring is full.
    #[inline]
    pub fn enqueue(&self, m: Mbuf) -> Result<(), Mbuf> {
        let p = m.into_raw() as *mut c_void;
        // SAFETY: one valid object pointer; only the single producer calls enqueue.
        let n = unsafe { sys::rvs_ring_enqueue_burst(self.ptr.as_ptr(), &p, 1) };
        if n == 1 {
            Ok(())
        } else {
            // SAFETY: not enqueued, so still ours.
            Err(unsafe { Mbuf::from_raw(p as *mut sys::rte_mbuf) })
        }
    }

    /// Dequeue up to [`BURST`] mbufs into `burst`.
    #[inline]
    pub fn dequeue(&self, burst: &mut RxBurst) -> usize {
        while burst.pop().is_some() {}
        // SAFETY: room for BURST pointers; only the single consumer calls dequeue; the
        // ring holds only mbuf pointers enqueued by `enqueue`.
        let n = unsafe {
            sys::rvs_ring_dequeue_burst(
                self.ptr.as_ptr(),
                burst.ptrs.as_mut_ptr() as *mut *mut c_void,
                BURST as u32,
            )
        };
        burst.len = n as usize;
        burst.next = 0;
        n as usize
    }

    /// Entries waiting.
    pub fn count(&self) -> u32 {
        // SAFETY: valid ring.
        unsafe { sys::rvs_ring_count(self.ptr.as_ptr()) }
    }
}

impl Drop for MbufRing {
    fn drop(&mut self) {
        let mut b = RxBurst::default();
        while self.dequeue(&mut b) > 0 {
            drop(std::mem::take(&mut b));
        }
        // SAFETY: nobody else uses the ring any more (it is being dropped).
        unsafe { sys::rte_ring_free(self.ptr.as_ptr()) }
    }
}
