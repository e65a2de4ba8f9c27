//! The thin safe layer over `dpdk-sys`: EAL, ports, mempools, mbufs, rings, lcore launch.
//!
//! This module (and only this module) calls into DPDK. Every `unsafe` block states why it
//! is sound. Owning types free what they own in `Drop`; packet bytes are handed out as
//! `&[u8]`/`&mut [u8]` borrowed from an [`Mbuf`], so no header view can outlive an edit.
//!
//! One file per job, without cycles: `error`, `mbuf` and `cpu` use no other file; `eal`
//! uses `error`; `mempool` hands out mbufs; `burst` holds them; `queue` fills and drains
//! bursts; `port` opens queues; `flow` adds steering rules to a port; `ring` passes mbufs
//! between workers. This file holds no items of its own, only the re-exports.

mod burst;
mod cpu;
mod eal;
mod error;
mod flow;
mod mbuf;
mod mempool;
mod port;
mod queue;
mod ring;

pub use burst::{RxBurst, TxBuffer, TxResult, BURST};
pub use cpu::{advise_huge_pages, pause, prefetch, rdtsc};
pub use eal::{dpdk_version, Eal, LcoreExit, Lcores};
pub use error::DpdkError;
pub use mbuf::Mbuf;
pub use mempool::{Mempool, MBUF_DATA_ROOM};
pub use port::{Port, PortCounters, PortStats};
pub use queue::{RxQueue, TxQueue};
pub use ring::{MbufRing, RingConsumer, RingProducer};
