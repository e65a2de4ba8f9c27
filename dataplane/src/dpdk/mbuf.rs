//! [`Mbuf`]: one owned packet buffer, its bytes as slices, and its length edits.

use std::fmt;
use std::ptr::NonNull;

use dpdk_sys as sys;

/// One owned packet buffer. Freed on drop unless handed to a TX queue or ring.
///
/// rvs handles single-segment packets: [`data`](Self::data), [`len`](Self::len) and the
/// edits all act on the first segment, and the edits that would act on the last one
/// (`append`, `trim`, `set_len`) refuse a chained mbuf (workers drop those on receipt).
pub struct Mbuf {
    pub(super) ptr: NonNull<sys::rte_mbuf>,
}

/// Start and length of an mbuf's first segment: `rte_pktmbuf_mtod` (buffer address plus
/// `data_off`) and `rte_pktmbuf_data_len`, read from the fields in Rust rather than through
/// the C shim (two calls per access on the per-packet path). `m` must be a valid mbuf.
#[inline(always)]
pub(super) fn first_segment(m: *mut sys::rte_mbuf) -> (*mut u8, usize) {
    // SAFETY: `m` is a valid mbuf (every caller holds one it owns); these are plain field
    // reads of the struct bindgen generated from DPDK's own header (its layout tests,
    // compile-time assertions in dpdk-sys, check every offset against clang's), and
    // data_off < buf_len keeps the address inside the buffer.
    unsafe {
        let data = (*m).buf_addr.cast::<u8>().add(usize::from((*m).data_off));
        (data, usize::from((*m).data_len))
    }
}

// SAFETY: an mbuf is owned by exactly one Mbuf value; moving it between threads is how
// DPDK applications pass packets (the pool is thread-safe for the final free).
unsafe impl Send for Mbuf {}

impl Mbuf {
    /// The packet's bytes (first segment).
    #[inline]
    pub fn data(&self) -> &[u8] {
        let (p, len) = first_segment(self.ptr.as_ptr());
        // SAFETY: `first_segment` gives data_len initialised bytes inside the mbuf's buffer,
        // which we own; the slice borrows self, so it cannot outlive or alias a mutation.
        unsafe { std::slice::from_raw_parts(p, len) }
    }

    /// The packet's bytes, writable in place.
    #[inline]
    pub fn data_mut(&mut self) -> &mut [u8] {
        let (p, len) = first_segment(self.ptr.as_ptr());
        // SAFETY: as in `data`, and `&mut self` makes the borrow exclusive.
        unsafe { std::slice::from_raw_parts_mut(p, len) }
    }

    /// Length of the first segment.
    #[inline]
    pub fn len(&self) -> usize {
        first_segment(self.ptr.as_ptr()).1
    }

    /// True when the buffer holds no bytes.
    #[inline]
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Number of chained segments (rvs handles single-segment packets only).
    #[inline]
    pub fn segments(&self) -> u16 {
        // SAFETY: a plain field read of the valid mbuf we own, from the struct bindgen
        // generated (read in Rust: through the C shim it was a call per packet).
        unsafe { (*self.ptr.as_ptr()).nb_segs }
    }

    /// DPDK id of the port the packet was received on.
    #[inline]
    pub fn port(&self) -> u16 {
        // SAFETY: reads a field of a valid mbuf.
        unsafe { sys::rvs_mbuf_port(self.ptr.as_ptr()) }
    }

    /// RSS hash the NIC computed (0 if none).
    #[inline]
    pub fn rss_hash(&self) -> u32 {
        // SAFETY: reads a field of a valid mbuf.
        unsafe { sys::rvs_mbuf_rss_hash(self.ptr.as_ptr()) }
    }

    /// Grow the packet at the end by `n` bytes; returns the new tail, or None without room
    /// or for a chained mbuf.
    #[inline]
    pub fn append(&mut self, n: usize) -> Option<&mut [u8]> {
        let n16 = u16::try_from(n).ok()?;
        if self.segments() != 1 {
            return None;
        }
        // SAFETY: rte_pktmbuf_append returns NULL or a pointer to `n` writable bytes in the
        // buffer we own; the slice borrows self mutably.
        unsafe {
            let p = sys::rvs_pktmbuf_append(self.ptr.as_ptr(), n16) as *mut u8;
            if p.is_null() {
                return None;
            }
            Some(std::slice::from_raw_parts_mut(p, n))
        }
    }

    /// Grow the packet at the front by `n` bytes (into the headroom). False without room.
    #[inline]
    pub fn prepend(&mut self, n: usize) -> bool {
        let Ok(n16) = u16::try_from(n) else {
            return false;
        };
        // SAFETY: returns NULL (no change) or moves data_off back within the buffer.
        !unsafe { sys::rvs_pktmbuf_prepend(self.ptr.as_ptr(), n16) }.is_null()
    }

    /// Remove `n` bytes from the front. False if the packet is shorter.
    #[inline]
    pub fn adj(&mut self, n: usize) -> bool {
        let Ok(n16) = u16::try_from(n) else {
            return false;
        };
        // SAFETY: returns NULL (no change) if n exceeds the first segment.
        !unsafe { sys::rvs_pktmbuf_adj(self.ptr.as_ptr(), n16) }.is_null()
    }

    /// Remove `n` bytes from the end. False if the packet is shorter or chained (DPDK
    /// trims the last segment, while `len` counts the first).
    #[inline]
    pub fn trim(&mut self, n: usize) -> bool {
        let Ok(n16) = u16::try_from(n) else {
            return false;
        };
        if self.segments() != 1 {
            return false;
        }
        // SAFETY: fails without change if n exceeds the (only) segment.
        unsafe { sys::rvs_pktmbuf_trim(self.ptr.as_ptr(), n16) == 0 }
    }

    /// Set the packet length to `len` bytes (shrinking or growing at the tail). False
    /// without room or for a chained mbuf.
    pub fn set_len(&mut self, len: usize) -> bool {
        let cur = self.len();
        if len <= cur {
            self.trim(cur - len)
        } else {
            self.append(len - cur).is_some()
        }
    }

    /// Chain `tail`'s segments after this packet's (`rte_pktmbuf_chain`), as a PMD with
    /// scattered RX or a multi-segment sender builds packets; gives `tail` back when the
    /// chain would be too long. rvs itself never chains: this is for tests of the paths
    /// that must drop chained mbufs.
    pub fn chain(&mut self, tail: Mbuf) -> Result<(), Mbuf> {
        let t = tail.into_raw();
        // SAFETY: both mbufs are valid and owned; on success the head owns the tail's
        // segments (freed with it), on failure nothing changed and the tail is ours.
        if unsafe { sys::rvs_pktmbuf_chain(self.ptr.as_ptr(), t) } == 0 {
            Ok(())
        } else {
            // SAFETY: not chained, so still ours alone.
            Err(unsafe { Mbuf::from_raw(t) })
        }
    }

    pub(super) fn into_raw(self) -> *mut sys::rte_mbuf {
        let p = self.ptr.as_ptr();
        std::mem::forget(self);
        p
    }

    /// # Safety
    /// `p` must be a non-null mbuf owned by the caller and not referenced elsewhere.
    pub(super) unsafe fn from_raw(p: *mut sys::rte_mbuf) -> Mbuf {
        Mbuf {
            // SAFETY: the caller guarantees p is non-null.
            ptr: unsafe { NonNull::new_unchecked(p) },
        }
    }
}

impl Drop for Mbuf {
    fn drop(&mut self) {
        // SAFETY: we own the mbuf; after this nobody references it.
        unsafe { sys::rvs_pktmbuf_free(self.ptr.as_ptr()) }
    }
}

impl fmt::Debug for Mbuf {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Mbuf({} bytes)", self.len())
    }
}
