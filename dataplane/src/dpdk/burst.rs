//! Fixed-size bursts of mbufs: [`RxBurst`] (what one poll received) and [`TxBuffer`]
//! (what waits for one transmit), with no allocation on the packet path.

use dpdk_sys as sys;

use super::mbuf::{first_segment, Mbuf};

/// Largest burst rvs ever asks for or sends.
pub const BURST: usize = 32;

/// A burst of received mbufs, filled by [`RxQueue::rx_burst`](super::RxQueue::rx_burst). Fixed size, no allocation.
pub struct RxBurst {
    pub(super) ptrs: [*mut sys::rte_mbuf; BURST],
    pub(super) len: usize,
    pub(super) next: usize,
}

impl Default for RxBurst {
    fn default() -> Self {
        RxBurst {
            ptrs: [std::ptr::null_mut(); BURST],
            len: 0,
            next: 0,
        }
    }
}

impl RxBurst {
    /// Take the next received mbuf.
    #[inline]
    pub fn pop(&mut self) -> Option<Mbuf> {
        if self.next < self.len {
            let p = self.ptrs[self.next];
            self.next += 1;
            // SAFETY: slots [next, len) hold mbufs the PMD handed us and nobody else owns.
            Some(unsafe { Mbuf::from_raw(p) })
        } else {
            None
        }
    }

    /// Packets received in the last burst.
    pub fn received(&self) -> usize {
        self.len
    }

    /// The bytes (first segment) of each mbuf not taken yet, in order: lets a worker look
    /// at a whole burst (e.g. to prefetch its connections) before handling it packet by
    /// packet.
    pub fn pending(&self) -> impl Iterator<Item = &[u8]> + '_ {
        self.ptrs[self.next..self.len].iter().map(|&p| {
            // SAFETY: slots [next, len) hold valid mbufs this burst owns; mtod points at
            // data_len initialised bytes of each. The slices borrow the burst, so no mbuf
            // can be popped (then written or freed) while they live.
            unsafe {
                let (data, len) = first_segment(p);
                std::slice::from_raw_parts(data, len)
            }
        })
    }
}

// SAFETY: the burst exclusively owns the mbufs in slots [next, len), and Mbuf is Send.
unsafe impl Send for RxBurst {}

impl Drop for RxBurst {
    fn drop(&mut self) {
        while self.pop().is_some() {}
    }
}

/// Result of flushing a [`TxBuffer`].
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct TxResult {
    /// Packets the PMD accepted.
    pub sent: u32,
    /// Bytes the PMD accepted.
    pub bytes: u64,
    /// Packets the PMD refused (freed by rvs).
    pub dropped: u32,
}

/// Packets waiting to be sent on one TX queue. Fixed size, no allocation.
pub struct TxBuffer {
    pub(super) ptrs: [*mut sys::rte_mbuf; BURST],
    pub(super) lens: [u16; BURST],
    pub(super) len: usize,
}

impl Default for TxBuffer {
    fn default() -> Self {
        TxBuffer {
            ptrs: [std::ptr::null_mut(); BURST],
            lens: [0; BURST],
            len: 0,
        }
    }
}

impl TxBuffer {
    /// True when the buffer is full and must be flushed before the next push.
    #[inline]
    pub fn is_full(&self) -> bool {
        self.len == BURST
    }

    /// Packets waiting.
    #[inline]
    pub fn len(&self) -> usize {
        self.len
    }

    /// True when nothing waits.
    #[inline]
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// Queue a packet. The caller flushes first when [`is_full`](Self::is_full); a push on a
    /// full buffer frees the packet and returns false.
    #[inline]
    pub fn push(&mut self, m: Mbuf) -> bool {
        if self.len == BURST {
            return false;
        }
        self.lens[self.len] = m.len() as u16;
        self.ptrs[self.len] = m.into_raw();
        self.len += 1;
        true
    }
}

// SAFETY: the buffer exclusively owns the mbufs it holds (like a Vec<Mbuf>), and Mbuf is Send.
unsafe impl Send for TxBuffer {}

impl Drop for TxBuffer {
    fn drop(&mut self) {
        for p in &self.ptrs[..self.len] {
            // SAFETY: slots [0, len) hold mbufs owned by this buffer.
            drop(unsafe { Mbuf::from_raw(*p) });
        }
    }
}
