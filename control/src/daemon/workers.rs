//! The workers: the steering rings and neighbour queues between them, and one worker
//! launched per worker lcore.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use anyhow::{Context, Result};
use crossbeam_queue::ArrayQueue;
use dataplane::counters::WorkerStats;
use dataplane::dpdk::{Eal, Lcores, MbufRing, Mempool, Port, RingConsumer, RingProducer, TxBuffer};
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
    // [from][to]: the producer goes to worker `from`, the consumer to worker `to`.
    let mut producers: Vec<Vec<Option<RingProducer>>> = Vec::new();
    let mut consumers: Vec<Vec<Option<RingConsumer>>> = Vec::new();
    for from in 0..nw {
        let (mut prow, mut crow) = (Vec::new(), Vec::new());
        for to in 0..nw {
            if from == to {
                prow.push(None);
                crow.push(None);
                continue;
            }
            let (producer, consumer) =
                MbufRing::create(eal, &format!("rvs_steer_{from}_{to}"), STEERING_RING_SIZE)
                    .context("cannot create a steering ring")?;
            steering_rings.push((from, to, producer.ring()));
            prow.push(Some(producer));
            crow.push(Some(consumer));
        }
        producers.push(prow);
        consumers.push(crow);
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
            to: std::mem::take(&mut producers[w]),
            from: (0..nw).filter_map(|f| consumers[f][w].take()).collect(),
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

/// What the workers need besides their own parts; they borrow the ports for `'a`.
pub struct Launch<'a> {
    /// EAL, for the TSC frequency.
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
/// the steering. A worker that panics sets `stop` for all, so rvsd stops as a whole.
pub fn launch<'scope, 'env>(
    lcores: &'scope Lcores<'scope, 'env>,
    l: &Launch<'env>,
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
            ports: (l.ports.iter())
                .map(|p| worker_port(p, w))
                .collect::<Result<_>>()?,
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
                .map(|t| t.as_ref().map(|p| worker_port(p, w)).transpose())
                .collect::<Result<_>>()?,
        };
        let finished = Arc::new(AtomicBool::new(false));
        let ended = Ended {
            finished: finished.clone(),
            stop: l.stop.clone(),
        };
        lcores
            .launch(lcore, move || {
                let _ended = ended;
                worker.run()
            })
            .with_context(|| format!("cannot start worker {w} on lcore {lcore}"))?;
        info!(worker = w, lcore, polling = ?l.polling, "worker started");
        running.stats.push(stats);
        running.done.push(finished);
    }
    Ok(running)
}

/// Marks a worker finished when its job ends; a panic also stops the other workers.
struct Ended {
    finished: Arc<AtomicBool>,
    stop: Arc<AtomicBool>,
}

impl Drop for Ended {
    fn drop(&mut self) {
        if std::thread::panicking() {
            self.stop.store(true, Ordering::Relaxed);
        }
        self.finished.store(true, Ordering::Release);
    }
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
fn worker_port(p: &Port, w: usize) -> Result<WorkerPort<'_>> {
    let q = w as u16;
    Ok(WorkerPort {
        rx: p.rx_queue(q)?,
        tx: p.tx_queue(q)?,
        txbuf: TxBuffer::default(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ended() -> (Ended, Arc<AtomicBool>, Arc<AtomicBool>) {
        let (finished, stop) = (Arc::default(), Arc::default());
        let e = Ended {
            finished: Arc::clone(&finished),
            stop: Arc::clone(&stop),
        };
        (e, finished, stop)
    }

    #[test]
    fn a_worker_that_panics_stops_the_others() {
        let (e, finished, stop) = ended();
        let joined = std::thread::spawn(move || {
            let _ended = e;
            panic!("a worker's bug");
        })
        .join();
        assert!(joined.is_err());
        assert!(
            finished.load(Ordering::Acquire),
            "the control thread sees it end"
        );
        assert!(
            stop.load(Ordering::Relaxed),
            "the other workers are told to stop"
        );
    }

    #[test]
    fn a_worker_that_returns_stops_nobody() {
        let (e, finished, stop) = ended();
        drop(e);
        assert!(finished.load(Ordering::Acquire));
        assert!(!stop.load(Ordering::Relaxed));
    }
}
