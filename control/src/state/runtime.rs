//! The running daemon's live data: the handles the control thread keeps on the workers
//! (counters, request queues, steering rings), shared by the control plane and the admin
//! API.

use std::sync::atomic::{AtomicBool, AtomicU64};
use std::sync::Arc;

use crossbeam_queue::ArrayQueue;
use dataplane::counters::WorkerStats;
use dataplane::dpdk::{MbufRing, Mempool, PortCounters};
use dataplane::pipeline::ConnListRequest;
use parking_lot::Mutex;

use super::estimator::Estimator;

/// Slots of each steering ring between two workers (a power of two).
pub const STEERING_RING_SIZE: u32 = 4096;
/// Packets a steering ring holds (an rte_ring keeps one slot free).
pub const STEERING_RING_CAPACITY: u32 = STEERING_RING_SIZE - 1;

/// The control thread's end of one worker's request and answer queues.
pub type ConnChannel = (
    Arc<ArrayQueue<ConnListRequest>>,
    Arc<ArrayQueue<ConnListRequest>>,
);

/// One data port as `/v1/stats` reports it.
pub struct PortView {
    /// Interface name from the configuration.
    pub name: String,
    /// DPDK device string.
    pub device: String,
    /// MAC address.
    pub mac: [u8; 6],
    /// Reads the device's own counters while the workers poll.
    pub counters: PortCounters,
}

/// What the control plane and the API read from the running daemon.
pub struct RuntimeView {
    /// Interface names by port index.
    pub interfaces: Vec<String>,
    /// Per-worker counters.
    pub workers: Vec<Arc<WorkerStats>>,
    /// Per worker: the queues to ask for its connections and get them back.
    pub conn_channels: Vec<ConnChannel>,
    /// One listing at a time (the answer queues are shared).
    pub list_lock: tokio::sync::Mutex<()>,
    /// Per-real-server statistics and rates.
    pub estimator: Mutex<Estimator>,
    /// The packet pool.
    pub pool: Arc<Mempool>,
    /// Running configuration generation.
    pub generation: AtomicU64,
    /// Whether the last reload was applied.
    pub last_reload_ok: AtomicBool,
    /// The data ports, by port index, for `/v1/stats`.
    pub ports: Vec<PortView>,
    /// Steering rings between workers: (from worker, to worker, ring).
    pub steering_rings: Vec<(usize, usize, Arc<MbufRing>)>,
    /// How many of the workers' CPUs another rvsd's worker already polled at start.
    pub shared_worker_cpus: usize,
}
