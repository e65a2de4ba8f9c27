//! The workers: the steering rings and neighbour queues between them, and one worker
//! launched per worker lcore.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use anyhow::{Context, Result};
use crossbeam_queue::ArrayQueue;
use dataplane::counters::WorkerStats;
use dataplane::dpdk::{Eal, MbufRing, Mempool, Port, TxBuffer};
use dataplane::exception::ExceptionConfig;
use dataplane::pipeline::{NeighbourUpdate, Pipeline, PipelineConfig};
use dataplane::rcu::Reader;
use dataplane::tables::Tables;
use dataplane::worker::{ControlChannel, Polling, Steering, Worker, WorkerPort};
use tracing::info;

use crate::spec::DaemonSpec;
use crate::state::{ConnChannel, STEERING_RING_SIZE};

/// Requests in flight between the control thread and one worker.
const CONTROL_QUEUE: usize = 4;

/// Learned neighbours in flight to one worker.
const NEIGHBOUR_QUEUE: usize = 1024;

/// A steering ring, with the workers it connects: (from, to, ring).
pub type SteeringRing = (usize, usize, Arc<MbufRing>);

/// With several workers each flow has one owner; packets RSS delivers elsewhere travel
/// to it over an SPSC ring per ordered pair of workers, and learned neighbours are shared
/// through a small queue per worker. Returns each worker's end (None with one worker)
/// and every ring.
pub fn steering(
    eal: &Eal,
    ports: &[Port],
    nw: usize,
) -> Result<(Vec<Option<Steering>>, Vec<SteeringRing>)> {
    let mut steering: Vec<Option<Steering>> = (0..nw).map(|_| None).collect();
    let mut steering_rings = Vec::new();
    if nw < 2 {
        return Ok((steering, steering_rings));
    }
    let mut rings: Vec<Vec<Option<Arc<MbufRing>>>> = vec![vec![None; nw]; nw];
    for (from, row) in rings.iter_mut().enumerate() {
        for (to, slot) in row.iter_mut().enumerate() {
            if from != to {
                *slot = Some(Arc::new(
                    MbufRing::new(eal, &format!("rvs_steer_{from}_{to}"), STEERING_RING_SIZE)
                        .context("cannot create a steering ring")?,
                ));
            }
        }
    }
    for (from, row) in rings.iter().enumerate() {
        for (to, ring) in row.iter().enumerate() {
            if let Some(r) = ring {
                steering_rings.push((from, to, r.clone()));
            }
        }
    }
    let queues: Vec<Arc<ArrayQueue<NeighbourUpdate>>> = (0..nw)
        .map(|_| Arc::new(ArrayQueue::new(NEIGHBOUR_QUEUE)))
        .collect();
    let mut port_index =
        vec![usize::MAX; 1 + ports.iter().map(|p| p.id() as usize).max().unwrap_or(0)];
    for (i, p) in ports.iter().enumerate() {
        port_index[p.id() as usize] = i;
    }
    for (w, slot) in steering.iter_mut().enumerate() {
        *slot = Some(Steering {
            to: rings[w].clone(),
            from: (0..nw)
                .filter(|&f| f != w)
                .filter_map(|f| rings[f][w].clone())
                .collect(),
            neighbours_in: queues[w].clone(),
            neighbours_out: (0..nw)
                .filter(|&o| o != w)
                .map(|o| queues[o].clone())
                .collect(),
            port_index: port_index.clone(),
        });
    }
    Ok((steering, steering_rings))
}

/// What the workers need besides their own parts.
pub struct Launch<'a> {
    /// EAL, which runs them.
    pub eal: &'a Eal,
    /// The daemon's spec.
    pub spec: &'a DaemonSpec,
    /// The data ports.
    pub ports: &'a [Port],
    /// The exception path's ports, by data port.
    pub taps: &'a [Option<Port>],
    /// The packet pool.
    pub pool: &'a Arc<Mempool>,
    /// Polling mode.
    pub polling: Polling,
    /// Send gratuitous ARP at start.
    pub gratuitous_arp: bool,
    /// Exit after this long without received packets (tests).
    pub exit_when_idle_ms: Option<u64>,
    /// Set to stop every worker.
    pub stop: Arc<AtomicBool>,
    /// The kept secret of FULLNAT's initial sequence numbers (`isn_secret`).
    pub isn_secret: [u8; dataplane::xmit::fullnat::isn::SECRET_LEN],
}

/// The control thread's handles on the running workers.
#[derive(Default)]
pub struct Running {
    /// Per-worker counters.
    pub stats: Vec<Arc<WorkerStats>>,
    /// Per worker: set when it has returned.
    pub done: Vec<Arc<AtomicBool>>,
    /// Per worker: its connection-listing queues.
    pub conn_channels: Vec<ConnChannel>,
}

/// Launch one worker per worker lcore, each with its reader of the tables and its end of
/// the steering.
pub fn launch(
    l: &Launch<'_>,
    readers: Vec<Reader<Tables>>,
    mut steering: Vec<Option<Steering>>,
) -> Result<Running> {
    let mut running = Running::default();
    let mut readers = readers.into_iter();
    for (w, &lcore) in l.spec.worker_lcores.iter().enumerate() {
        let stats = Arc::new(WorkerStats::default());
        let control = ControlChannel {
            requests: Arc::new(ArrayQueue::new(CONTROL_QUEUE)),
            answers: Arc::new(ArrayQueue::new(CONTROL_QUEUE)),
        };
        running
            .conn_channels
            .push((control.requests.clone(), control.answers.clone()));
        let worker = Worker {
            id: w,
            ports: l.ports.iter().map(|p| worker_port(p, w)).collect(),
            pool: l.pool.clone(),
            pipeline: pipeline(l, w, stats.clone()),
            tables: readers.next().expect("one reader per worker"),
            stats: stats.clone(),
            stop: l.stop.clone(),
            polling: l.polling,
            tsc_hz: l.eal.tsc_hz(),
            exit_when_idle_ms: l.exit_when_idle_ms,
            steering: steering[w].take(),
            control,
            kernel: (l.taps.iter())
                .map(|t| t.as_ref().map(|p| worker_port(p, w)))
                .collect(),
        };
        let finished = Arc::new(AtomicBool::new(false));
        let f2 = finished.clone();
        l.eal
            .launch(lcore, move || {
                let rc = worker.run();
                f2.store(true, Ordering::Release);
                rc
            })
            .with_context(|| format!("cannot start worker {w} on lcore {lcore}"))?;
        info!(worker = w, lcore, polling = ?l.polling, "worker started");
        running.stats.push(stats);
        running.done.push(finished);
    }
    Ok(running)
}

/// Worker `w`'s pipeline, its connection table on huge pages with DPDK's prefetch.
fn pipeline(l: &Launch<'_>, w: usize, stats: Arc<WorkerStats>) -> Pipeline<dataplane::dpdk::Mbuf> {
    let cfg = PipelineConfig {
        worker: w,
        port_macs: l.ports.iter().map(|p| p.mac()).collect(),
        stats,
        conn_capacity: l.spec.conn_capacity,
        gratuitous_arp: l.gratuitous_arp,
        workers: l.spec.worker_lcores.len(),
        exception: ExceptionConfig {
            ports: l.taps.iter().map(Option::is_some).collect(),
            rate: l.spec.exception_rate,
        },
    };
    let mut p = Pipeline::with_memory_hooks(cfg, dataplane::worker::DPDK_MEMORY_HOOKS);
    p.set_isn_secret(&l.isn_secret);
    p
}

/// Worker `w`'s queue pair on port `p`.
fn worker_port(p: &Port, w: usize) -> WorkerPort {
    WorkerPort {
        rx: p.rx_queue(w as u16),
        tx: p.tx_queue(w as u16),
        txbuf: TxBuffer::default(),
    }
}
