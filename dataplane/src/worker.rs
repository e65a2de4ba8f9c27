//! The per-core worker: a run-to-completion poll loop over one RX/TX queue pair of every
//! port. Packets are handled by the [`Pipeline`]; this module only moves mbufs between
//! the NIC, the pipeline and the TX buffers, keeps time and decides when to sleep.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use crate::counters::{bump, DropReason, WorkerStats};
use crate::dpdk::{rdtsc, Mbuf, Mempool, RxBurst, RxQueue, TxBuffer, TxQueue};
use crossbeam_queue::ArrayQueue;

use crate::dpdk::{RingConsumer, RingProducer};
use crate::frame::{Frame, Io};
use crate::pipeline::{ConnListRequest, MemoryHooks, NeighbourUpdate, Pipeline};
use crate::rcu;
use crate::tables::Tables;

/// The connection table's memory hints on DPDK: transparent huge pages for its arrays
/// and the CPU's prefetch for burst lookups (pass to [`Pipeline::with_memory_hooks`]).
pub const DPDK_MEMORY_HOOKS: MemoryHooks = MemoryHooks {
    advise_huge_pages: Some(crate::dpdk::advise_huge_pages),
    prefetch: Some(crate::dpdk::prefetch),
};

// A received burst fits the pipeline's prefetch stage whole.
const _: () = assert!(crate::dpdk::BURST <= crate::pipeline::PREFETCH_BURST);

/// How a worker waits for packets.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Polling {
    /// Poll without pause: lowest latency, a whole core (benchmarks).
    Busy,
    /// Sleep with exponential back-off (up to [`MAX_SLEEP_US`]) after empty polls; a
    /// packet resets it. Shares the core with the rest of the machine (tests, demo).
    Adaptive,
}

/// Empty polls before an adaptive worker starts sleeping.
pub const IDLE_POLLS_BEFORE_SLEEP: u32 = 64;
/// Longest adaptive sleep, microseconds.
pub const MAX_SLEEP_US: u64 = 500;

/// One port as a worker sees it: its queue pair (borrowing the port) and pending TX
/// packets.
pub struct WorkerPort<'p> {
    /// RX queue owned by this worker.
    pub rx: RxQueue<'p>,
    /// TX queue owned by this worker.
    pub tx: TxQueue<'p>,
    /// Packets waiting for the next flush.
    pub txbuf: TxBuffer,
}

/// How packets reach the worker that owns their flow when several workers run.
pub struct Steering {
    /// Rings to the other workers (this worker produces), indexed by worker (None for
    /// this worker itself).
    pub to: Vec<Option<RingProducer>>,
    /// Rings from the other workers into this one (this worker consumes).
    pub from: Vec<RingConsumer>,
    /// Neighbours the other workers learned, for this worker.
    pub neighbours_in: Arc<ArrayQueue<NeighbourUpdate>>,
    /// The other workers' neighbour queues.
    pub neighbours_out: Vec<Arc<ArrayQueue<NeighbourUpdate>>>,
    /// DPDK port id -> port index.
    pub port_index: Vec<usize>,
}

/// The control thread's requests to a worker and the worker's answers (off the packet
/// path: looked at once per timer tick).
pub struct ControlChannel {
    /// Connection-listing requests.
    pub requests: Arc<ArrayQueue<ConnListRequest>>,
    /// Answered requests.
    pub answers: Arc<ArrayQueue<ConnListRequest>>,
}

/// Everything a worker needs, moved onto its lcore; it borrows the ports (`'p`).
pub struct Worker<'p> {
    /// Worker index (0-based).
    pub id: usize,
    /// Ports, indexed like the configuration's interfaces.
    pub ports: Vec<WorkerPort<'p>>,
    /// Pool for packets the worker builds (ARP requests, replies).
    pub pool: Arc<Mempool>,
    /// Packet logic.
    pub pipeline: Pipeline<Mbuf>,
    /// The published service and route tables.
    pub tables: rcu::Reader<Tables>,
    /// Counters shared with the control thread.
    pub stats: Arc<WorkerStats>,
    /// Set by the control thread to stop the loop.
    pub stop: Arc<AtomicBool>,
    /// Polling mode.
    pub polling: Polling,
    /// TSC ticks per second.
    pub tsc_hz: u64,
    /// Exit after this many ms without any received packet (pcap tests); None = never.
    pub exit_when_idle_ms: Option<u64>,
    /// Flow ownership across workers (None with a single worker).
    pub steering: Option<Steering>,
    /// Requests from the control thread.
    pub control: ControlChannel,
    /// The exception path: this worker's queue pair of each port's kernel interface (TAP),
    /// indexed like `ports`; None for a port without one (see [`crate::exception`]).
    pub kernel: Vec<Option<WorkerPort<'p>>>,
}

/// The worker's side of [`Io`]: sends go to the port's TX buffer, flushing when full.
struct WorkerIo<'a, 'p> {
    ports: &'a mut [WorkerPort<'p>],
    kernel: &'a mut [Option<WorkerPort<'p>>],
    pool: &'a Mempool,
    stats: &'a WorkerStats,
}

impl Io<Mbuf> for WorkerIo<'_, '_> {
    #[inline(always)]
    fn send(&mut self, port: usize, pkt: Mbuf) {
        let Some(p) = self.ports.get_mut(port) else {
            self.stats.drop_packet(DropReason::NoRoute);
            return;
        };
        if p.txbuf.is_full() {
            flush_port(p, port, self.stats);
        }
        p.txbuf.push(pkt);
    }

    #[inline]
    fn send_kernel(&mut self, port: usize, pkt: Mbuf) {
        let Some(Some(k)) = self.kernel.get_mut(port) else {
            self.stats.drop_packet(DropReason::ForDirector);
            return;
        };
        if k.txbuf.is_full() {
            flush_kernel(k, self.stats);
        }
        k.txbuf.push(pkt);
    }

    #[inline]
    fn alloc(&mut self) -> Option<Mbuf> {
        let m = self.pool.alloc();
        if m.is_none() {
            self.stats.drop_packet(DropReason::NoMbuf);
        }
        m
    }
}

impl Frame for Mbuf {
    #[inline]
    fn data(&self) -> &[u8] {
        Mbuf::data(self)
    }
    #[inline]
    fn data_mut(&mut self) -> &mut [u8] {
        Mbuf::data_mut(self)
    }
    #[inline]
    fn resize(&mut self, len: usize) -> bool {
        self.set_len(len)
    }
    #[inline]
    fn prepend(&mut self, n: usize) -> bool {
        Mbuf::prepend(self, n)
    }
}

#[inline]
fn flush_port(p: &mut WorkerPort<'_>, index: usize, stats: &WorkerStats) {
    let r = p.tx.flush(&mut p.txbuf);
    let c = &stats.ports[index];
    bump(&c.tx_packets, r.sent as u64);
    bump(&c.tx_bytes, r.bytes);
    if r.dropped > 0 {
        bump(&c.tx_dropped, r.dropped as u64);
        bump(&stats.drops[DropReason::TxFull as usize], r.dropped as u64);
    }
}

/// Write what is queued for the kernel to the TAP (counted when queued, see
/// `Pipeline::hand_to_kernel`; what the TAP refuses is counted here).
#[inline]
fn flush_kernel(k: &mut WorkerPort<'_>, stats: &WorkerStats) {
    let r = k.tx.flush(&mut k.txbuf);
    if r.dropped > 0 {
        bump(
            &stats.drops[DropReason::ExceptionTxFull as usize],
            r.dropped as u64,
        );
    }
}

impl Worker<'_> {
    /// Run until `stop` is set (or the idle limit passes). Returns 0.
    pub fn run(mut self) -> i32 {
        let start = rdtsc();
        let ticks_per_ms = (self.tsc_hz / 1000).max(1);
        let mut burst = RxBurst::default();
        let mut idle_polls: u32 = 0;
        let mut sleep_us: u64 = 1;
        let mut last_rx_ms: u64 = 0;
        let mut last_tick_ms: u64 = 0;
        let mut now_ms = 0;
        // TAP reads are syscalls: poll the kernel interfaces every TAP_POLL_US only.
        let tap_poll_ticks = (self.tsc_hz / 1_000_000).max(1) * crate::exception::TAP_POLL_US;
        let has_kernel = self.kernel.iter().any(Option::is_some);
        let mut last_tap_poll = start;
        {
            let mut io = WorkerIo {
                ports: &mut self.ports,
                kernel: &mut self.kernel,
                pool: &self.pool,
                stats: &self.stats,
            };
            let t = self.tables.quiescent();
            self.pipeline.sync(t);
            self.pipeline.start(t, &mut io, 0);
        }
        while !self.stop.load(Ordering::Relaxed) {
            let t0 = rdtsc();
            now_ms = (t0 - start) / ticks_per_ms;
            // One pointer read per iteration; the previous iteration's table is released.
            let t = self.tables.quiescent();
            self.pipeline.sync(t);
            let mut received = 0usize;
            for i in 0..self.ports.len() {
                let n = self.ports[i].rx.rx_burst(&mut burst);
                if n == 0 {
                    continue;
                }
                received += n;
                let mut io = WorkerIo {
                    ports: &mut self.ports,
                    kernel: &mut self.kernel,
                    pool: &self.pool,
                    stats: &self.stats,
                };
                let c = &self.stats.ports[i];
                let mut bytes = 0u64;
                self.pipeline.prefetch_flows(burst.pending());
                while let Some(m) = burst.pop() {
                    bytes += m.len() as u64;
                    if m.segments() > 1 {
                        self.stats.drop_packet(DropReason::MultiSegment);
                        continue;
                    }
                    if let Some(st) = &mut self.steering {
                        if let Some(owner) = self.pipeline.owner(t, m.data()) {
                            if let Some(Some(ring)) = st.to.get_mut(owner) {
                                match ring.enqueue(m) {
                                    Ok(()) => bump(&self.stats.steered_out, 1),
                                    Err(_m) => self.stats.drop_packet(DropReason::SteerRingFull),
                                }
                                continue;
                            }
                        }
                    }
                    self.pipeline.handle(t, i, m, now_ms, &mut io);
                }
                bump(&c.rx_packets, n as u64);
                bump(&c.rx_bytes, bytes);
            }
            if has_kernel && t0.wrapping_sub(last_tap_poll) >= tap_poll_ticks {
                last_tap_poll = t0;
                received += poll_kernel(
                    &mut self.kernel,
                    &mut self.ports,
                    &self.pool,
                    &self.stats,
                    &mut burst,
                );
            }
            if let Some(st) = &mut self.steering {
                let mut io = WorkerIo {
                    ports: &mut self.ports,
                    kernel: &mut self.kernel,
                    pool: &self.pool,
                    stats: &self.stats,
                };
                for ring in &mut st.from {
                    let n = ring.dequeue(&mut burst);
                    if n == 0 {
                        continue;
                    }
                    received += n;
                    bump(&self.stats.steered_in, n as u64);
                    self.pipeline.prefetch_flows(burst.pending());
                    while let Some(m) = burst.pop() {
                        let port = st
                            .port_index
                            .get(m.port() as usize)
                            .copied()
                            .unwrap_or(usize::MAX);
                        if port == usize::MAX {
                            self.stats.drop_packet(DropReason::NoRoute);
                            continue;
                        }
                        self.pipeline.handle(t, port, m, now_ms, &mut io);
                    }
                }
                for u in self.pipeline.take_learned() {
                    for q in &st.neighbours_out {
                        let _ = q.push(*u);
                    }
                }
                while let Some(u) = st.neighbours_in.pop() {
                    self.pipeline.learn_remote(u, now_ms, &mut io);
                }
            }
            for (i, p) in self.ports.iter_mut().enumerate() {
                if !p.txbuf.is_empty() {
                    flush_port(p, i, &self.stats);
                }
            }
            for k in self.kernel.iter_mut().flatten() {
                if !k.txbuf.is_empty() {
                    flush_kernel(k, &self.stats);
                }
            }
            // Timers every 10 ms: neighbour probes, connection expiry (bounded work).
            if now_ms >= last_tick_ms + 10 {
                last_tick_ms = now_ms;
                let mut io = WorkerIo {
                    ports: &mut self.ports,
                    kernel: &mut self.kernel,
                    pool: &self.pool,
                    stats: &self.stats,
                };
                self.pipeline.tick(t, now_ms, &mut io);
                while let Some(mut req) = self.control.requests.pop() {
                    self.pipeline.list_connections(t, &mut req, now_ms);
                    // The control thread sized the answer queue for every request.
                    let _ = self.control.answers.push(req);
                }
                for (i, p) in self.ports.iter_mut().enumerate() {
                    if !p.txbuf.is_empty() {
                        flush_port(p, i, &self.stats);
                    }
                }
            }
            bump(&self.stats.loops, 1);
            if received > 0 {
                bump(&self.stats.busy_loops, 1);
                bump(&self.stats.busy_cycles, rdtsc() - t0);
                idle_polls = 0;
                sleep_us = 1;
                last_rx_ms = now_ms;
                continue;
            }
            if let Some(limit) = self.exit_when_idle_ms {
                if now_ms >= last_rx_ms + limit {
                    break;
                }
            }
            idle_polls = idle_polls.saturating_add(1);
            if self.polling == Polling::Adaptive && idle_polls > IDLE_POLLS_BEFORE_SLEEP {
                // Off the packet path: nothing arrived for a while, so a syscall is fine.
                std::thread::sleep(Duration::from_micros(sleep_us));
                sleep_us = (sleep_us * 2).min(MAX_SLEEP_US);
            } else {
                crate::dpdk::pause();
            }
        }
        let _ = now_ms;
        self.tables.offline();
        0
    }
}

/// Move what the kernel sent out of each TAP to the matching data port, unchanged;
/// a chained (multi-segment) mbuf is dropped and counted. Returns the number of packets
/// read from the TAPs.
fn poll_kernel<'p>(
    kernel: &mut [Option<WorkerPort<'p>>],
    ports: &mut [WorkerPort<'p>],
    pool: &Mempool,
    stats: &WorkerStats,
    burst: &mut RxBurst,
) -> usize {
    let mut total = 0;
    for i in 0..kernel.len() {
        let Some(k) = kernel[i].as_mut() else {
            continue;
        };
        let n = k.rx.rx_burst(burst);
        if n == 0 {
            continue;
        }
        total += n;
        bump(&stats.ports[i].from_kernel_packets, n as u64);
        let mut io = WorkerIo {
            ports: &mut *ports,
            kernel: &mut *kernel,
            pool,
            stats,
        };
        while let Some(m) = burst.pop() {
            // The TX queues take single-segment mbufs only (no multi-segment offload).
            if m.segments() > 1 {
                stats.drop_packet(DropReason::MultiSegment);
                continue;
            }
            io.send(i, m);
        }
    }
    total
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::dpdk::{Eal, Port};

    /// The exception path on a real EAL: `net_ring0` plays the TAP (what is sent on it is
    /// received from it), `net_null0` the data port.
    #[test]
    fn a_chained_mbuf_from_the_kernel_is_dropped_and_counted() {
        let prefix = format!("--file-prefix=rvs-test-worker-{}", std::process::id());
        let eal = Eal::init(&[
            "-l",
            "0",
            "--no-huge",
            "-m",
            "128",
            "--no-pci",
            "--no-shconf",
            "--log-level=lib.eal:error",
            "--vdev=net_ring0",
            "--vdev=net_null0,no-rx=1",
            prefix.as_str(),
        ])
        .expect("EAL");
        let run_dir = eal.runtime_dir();
        let pool = Mempool::new(&eal, "worker_test", 1023, 0).unwrap();
        let tap = Port::open(&eal, "net_ring0", 1, &pool).unwrap();
        let data = Port::open(&eal, "net_null0", 1, &pool).unwrap();
        fn queue_pair(p: &Port) -> WorkerPort<'_> {
            WorkerPort {
                rx: p.rx_queue(0).unwrap(),
                tx: p.tx_queue(0).unwrap(),
                txbuf: TxBuffer::default(),
            }
        }
        let mut kernel = vec![Some(queue_pair(&tap))];
        let mut ports = vec![queue_pair(&data)];
        let stats = WorkerStats::default();
        // What the kernel "sends": one single-segment frame and one in two segments.
        let k = kernel[0].as_mut().unwrap();
        let mut single = pool.alloc().unwrap();
        single.append(60).unwrap();
        let mut chained = pool.alloc().unwrap();
        chained.append(40).unwrap();
        let mut tail = pool.alloc().unwrap();
        tail.append(20).unwrap();
        chained.chain(tail).unwrap();
        k.txbuf.push(single);
        k.txbuf.push(chained);
        assert_eq!(k.tx.flush(&mut k.txbuf).sent, 2);

        let mut burst = RxBurst::default();
        let n = poll_kernel(&mut kernel, &mut ports, &pool, &stats, &mut burst);
        assert_eq!(n, 2, "both read from the TAP");
        assert_eq!(ports[0].txbuf.len(), 1, "only the single segment goes out");
        let dropped = stats.drops[DropReason::MultiSegment as usize].load(Ordering::Relaxed);
        assert_eq!(dropped, 1, "the chained mbuf is counted");

        drop((kernel, ports, burst));
        drop((tap, data, pool, eal));
        let _ = std::fs::remove_dir_all(run_dir);
    }
}
