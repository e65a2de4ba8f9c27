//! RX and TX queues of a port, each polled by one worker: receive a burst, flush a
//! [`TxBuffer`].

use std::marker::PhantomData;

use dpdk_sys as sys;

use super::burst::{RxBurst, TxBuffer, TxResult, BURST};
use super::mbuf::Mbuf;

/// One RX queue of one port, polled by exactly one thread: `Port::rx_queue` hands each
/// queue out once, and the handle borrows the port (which cannot close under it).
/// It can move to a worker lcore (`Send`; the PMD's per-queue functions may be called from
/// any one thread) but not be shared:
///
/// ```compile_fail
/// fn shared_between_threads<T: Sync>() {}
/// shared_between_threads::<dataplane::dpdk::RxQueue<'static>>();
/// ```
#[derive(Debug)]
pub struct RxQueue<'p> {
    pub(super) port: u16,
    pub(super) queue: u16,
    pub(super) _port: PhantomData<(&'p (), std::cell::Cell<()>)>,
}

impl RxQueue<'_> {
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

/// One TX queue of one port, used by exactly one thread (as [`RxQueue`]).
#[derive(Debug)]
pub struct TxQueue<'p> {
    pub(super) port: u16,
    pub(super) queue: u16,
    pub(super) _port: PhantomData<(&'p (), std::cell::Cell<()>)>,
}

impl TxQueue<'_> {
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
