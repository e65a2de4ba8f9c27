//! RX and TX queues of a port, each polled by one worker: receive a burst, flush a
//! [`TxBuffer`].

use dpdk_sys as sys;

use super::burst::{RxBurst, TxBuffer, TxResult, BURST};
use super::mbuf::Mbuf;

/// One RX queue of one port, polled by exactly one worker.
#[derive(Debug)]
pub struct RxQueue {
    pub(super) port: u16,
    pub(super) queue: u16,
}

// SAFETY: an RxQueue is a (port, queue) id pair; rvs hands each to exactly one worker,
// and the PMD's per-queue functions are safe to call from any single thread.
unsafe impl Send for RxQueue {}

impl RxQueue {
    /// Receive up to [`BURST`] packets into `burst` (replacing what it held).
    #[inline]
    pub fn rx_burst(&mut self, burst: &mut RxBurst) -> usize {
        while burst.pop().is_some() {}
        // SAFETY: ptrs has room for BURST pointers; the queue is polled by this thread only
        // (`&mut self`), and returned mbufs become owned by `burst`.
        let n = unsafe {
            sys::rvs_eth_rx_burst(self.port, self.queue, burst.ptrs.as_mut_ptr(), BURST as u16)
        };
        burst.len = n as usize;
        burst.next = 0;
        n as usize
    }
}

/// One TX queue of one port, used by exactly one worker.
#[derive(Debug)]
pub struct TxQueue {
    pub(super) port: u16,
    pub(super) queue: u16,
}

// SAFETY: as for RxQueue.
unsafe impl Send for TxQueue {}

impl TxQueue {
    /// Send everything in `buf`; what the PMD refuses is freed and counted as dropped.
    #[inline]
    pub fn flush(&mut self, buf: &mut TxBuffer) -> TxResult {
        if buf.len == 0 {
            return TxResult::default();
        }
        // SAFETY: slots [0, len) hold owned mbufs; the PMD takes ownership of the first
        // `sent` of them. This thread alone uses this queue (`&mut self`).
        let sent = unsafe {
            sys::rvs_eth_tx_burst(self.port, self.queue, buf.ptrs.as_mut_ptr(), buf.len as u16)
        } as usize;
        let bytes = buf.lens[..sent].iter().map(|&l| l as u64).sum();
        for p in &buf.ptrs[sent..buf.len] {
            // SAFETY: the PMD did not take these; we still own them.
            drop(unsafe { Mbuf::from_raw(*p) });
        }
        let dropped = (buf.len - sent) as u32;
        buf.len = 0;
        TxResult {
            sent: sent as u32,
            bytes,
            dropped,
        }
    }
}
