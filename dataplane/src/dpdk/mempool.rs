//! Packet-buffer pools: where every [`Mbuf`] comes from and returns to.

use std::ffi::CString;
use std::ptr::NonNull;

use dpdk_sys as sys;

use super::eal::{Eal, EalRef};
use super::error::DpdkError;
use super::mbuf::Mbuf;

/// Bytes of frame one mbuf of a [`Mempool`] holds (DPDK's default data room, 2048): rvs
/// does not chain mbufs, so this bounds the frames a port takes, hence its MTU.
pub const MBUF_DATA_ROOM: usize =
    (sys::RTE_MBUF_DEFAULT_BUF_SIZE - sys::RTE_PKTMBUF_HEADROOM) as usize;

/// A packet-buffer pool (`rte_pktmbuf_pool_create`). Thread-safe by DPDK's design. An
/// [`Mbuf`] does not borrow its pool (it would cost a lifetime on every packet type):
/// instead a pool with mbufs still out is not freed when dropped (see `Drop`).
pub struct Mempool {
    ptr: NonNull<sys::rte_mempool>,
    _eal: EalRef,
}

// SAFETY: rte_mempool get/put operations are multi-producer/multi-consumer safe.
unsafe impl Send for Mempool {}
// SAFETY: as above; shared references only call thread-safe DPDK functions.
unsafe impl Sync for Mempool {}

impl Mempool {
    /// Create a pool of `n` mbufs with a per-lcore cache of `cache` and the default data room.
    pub fn new(eal: &Eal, name: &str, n: u32, cache: u32) -> Result<Mempool, DpdkError> {
        let cname = CString::new(name)
            .map_err(|_| DpdkError::new("rte_pktmbuf_pool_create", libc::EINVAL))?;
        // SAFETY: valid name; EAL is initialised (witnessed by `_eal`).
        let ptr = unsafe {
            sys::rte_pktmbuf_pool_create(
                cname.as_ptr(),
                n,
                cache,
                0,
                sys::RTE_MBUF_DEFAULT_BUF_SIZE as u16,
                sys::SOCKET_ID_ANY,
            )
        };
        NonNull::new(ptr)
            .map(|ptr| Mempool {
                ptr,
                _eal: EalRef::new(eal),
            })
            .ok_or_else(|| DpdkError::last("rte_pktmbuf_pool_create"))
    }

    /// Allocate one mbuf (empty, default headroom).
    #[inline]
    pub fn alloc(&self) -> Option<Mbuf> {
        // SAFETY: the pool pointer is valid for the life of self.
        NonNull::new(unsafe { sys::rvs_pktmbuf_alloc(self.ptr.as_ptr()) }).map(|ptr| Mbuf { ptr })
    }

    /// Mbufs available in the pool (including per-lcore caches).
    pub fn available(&self) -> u32 {
        // SAFETY: the pool pointer is valid.
        unsafe { sys::rte_mempool_avail_count(self.ptr.as_ptr()) }
    }

    /// Mbufs currently allocated.
    pub fn in_use(&self) -> u32 {
        // SAFETY: the pool pointer is valid.
        unsafe { sys::rte_mempool_in_use_count(self.ptr.as_ptr()) }
    }

    pub(super) fn as_ptr(&self) -> *mut sys::rte_mempool {
        self.ptr.as_ptr()
    }
}

impl Drop for Mempool {
    fn drop(&mut self) {
        let in_use = self.in_use();
        if in_use > 0 {
            // An mbuf (or a port's RX ring) still holds buffers of this pool: keep the pool
            // and EAL's memory under them (leaked: this happens at exit, if at all).
            eprintln!("rvs: mempool dropped with {in_use} mbufs in use; not freed");
            self._eal.keep_forever();
            return;
        }
        // SAFETY: no mbuf of the pool is out (checked above), and ports using it are
        // closed (they would hold mbufs in their RX rings).
        unsafe { sys::rte_mempool_free(self.ptr.as_ptr()) }
    }
}
