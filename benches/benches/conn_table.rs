//! conn-table micro-benchmarks: lookup hit/miss, lookup + packet update,
//! insert and expire at 1 K and 1 M connections; the same at 10 M plus the
//! memory used per connection when `CONN_TABLE_10M=1` is set (slow: the
//! default run stays short).
//!
//! Access order is pseudo-random (a large odd stride over the key space) so
//! the larger tables measure cache-missing lookups, as a worker sees them.
//!
//! The table's big arrays are on transparent huge pages, as rvsd allocates
//! them (`dataplane::dpdk::advise_huge_pages`); `CONN_TABLE_PAGES=4k` leaves
//! them on 4 KiB pages for comparison. Likewise the table gets rvsd's
//! prefetch instruction (`dataplane::dpdk::prefetch`) for its burst stages;
//! `CONN_TABLE_PREFETCH=load` leaves it with plain loads.

use std::hint::black_box;
use std::net::{IpAddr, Ipv4Addr};
use std::time::{Duration, Instant};

use conn_table::{proto, Config, ConnTable, Direction, Method, NewConn, TcpFlags, Tuple};
use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion, Throughput};

const VIP: Ipv4Addr = Ipv4Addr::new(198, 19, 255, 1);
/// Extra room above the base size for insert/expire batches.
const BATCH: u64 = 1 << 16;

/// Flow `i`: client from 198.18.0.0/15 (131072 addresses) and a port.
fn client(i: u64) -> (IpAddr, u16) {
    let a = u32::from(Ipv4Addr::new(198, 18, 0, 0)) + (i % 131_072) as u32;
    (IpAddr::V4(Ipv4Addr::from(a)), 1024 + (i / 131_072) as u16)
}

fn original(i: u64) -> Tuple {
    let (c, p) = client(i);
    Tuple::new(proto::TCP, c, p, IpAddr::V4(VIP), 80)
}

fn new_conn(i: u64) -> NewConn {
    let (c, p) = client(i);
    let rs = (i % 200) as u32;
    let rip = IpAddr::V4(Ipv4Addr::new(198, 19, 0, rs as u8));
    NewConn {
        original: Tuple::new(proto::TCP, c, p, IpAddr::V4(VIP), 80),
        reply: Some(Tuple::new(proto::TCP, rip, 8080, c, p)),
        rs,
        svc: 1,
        method: Method::Masq,
        template: None,
    }
}

fn config(capacity: u64) -> Config {
    Config {
        capacity: capacity as u32,
        ipv6_capacity: 0,
        max_templates: 1024,
        max_real_servers: 256,
        tick_ms: 100,
        // 6553 s span: the long-lived base connections are not re-armed
        // during a run, so `expire` measures expiring the batches only.
        wheel_slots: 65536,
    }
}

/// Whether to advise huge pages (the default, as rvsd does).
fn huge_pages() -> bool {
    std::env::var("CONN_TABLE_PAGES").map_or(true, |v| v != "4k")
}

/// A table with `n` established NAT connections (keys 0..n) at time 0.
fn filled(n: u64) -> ConnTable {
    let thp = huge_pages();
    let mut t = ConnTable::with_memory_advice(config(n + BATCH), 0, |p, len| {
        if thp {
            dataplane::dpdk::advise_huge_pages(p, len);
        }
    })
    .expect("config");
    if std::env::var("CONN_TABLE_PREFETCH").map_or(true, |v| v != "load") {
        t.set_prefetcher(dataplane::dpdk::prefetch);
    }
    // Base connections must outlive the run (the expire bench advances its
    // clock by 4 s per batch): ESTABLISHED timeout of 10^6 s.
    t.set_ipvsadm_timeouts(1_000_000, 0, 0);
    for i in 0..n {
        let id = t.insert(&new_conn(i), 0).expect("insert");
        t.on_packet(id, Direction::Original, TcpFlags::SYN, 60, 0);
        t.on_packet(id, Direction::Original, TcpFlags::ACK, 52, 0);
    }
    t
}

/// Pseudo-random walk over 0..n with a large odd stride. The stride is
/// reduced modulo n once, so a step is an add and a compare rather than a
/// 64-bit division, which would otherwise be a good part of a cached lookup.
struct Walk {
    i: u64,
    n: u64,
    step: u64,
}

impl Walk {
    fn new(n: u64) -> Walk {
        Walk {
            i: 0,
            n,
            step: 2_654_435_761 % n,
        }
    }
    #[inline]
    fn next(&mut self) -> u64 {
        self.i += self.step;
        if self.i >= self.n {
            self.i -= self.n;
        }
        self.i
    }
}

fn bench_size(c: &mut Criterion, group_name: &str, n: u64) {
    let mut t = filled(n);
    let mut g = c.benchmark_group(group_name);
    g.throughput(Throughput::Elements(1));

    let mut w = Walk::new(n);
    g.bench_function(BenchmarkId::new("lookup_hit", n), |b| {
        b.iter(|| black_box(t.lookup(&original(w.next()))))
    });
    // Latency: each key depends on the previous lookup's result (through a
    // zero the compiler cannot see), so no two lookups overlap in the CPU.
    let mut w = Walk::new(n);
    let zero = black_box(0u64);
    g.bench_function(BenchmarkId::new("lookup_hit_dependent", n), |b| {
        b.iter(|| {
            let r = t.lookup(&original(w.next()));
            w.i ^= r.map_or(1, |(id, _)| u64::from(id.0)) & zero;
            black_box(r)
        })
    });
    // The same through the burst API, 32 tuples per call (as an RX burst):
    // one iteration is one burst of 32 lookups (throughput in elements/s).
    let mut w = Walk::new(n);
    let mut burst = [original(0); 32];
    let mut out = [None; 32];
    g.throughput(Throughput::Elements(32));
    g.bench_function(BenchmarkId::new("lookup_hit_burst32", n), |b| {
        b.iter(|| {
            for t in burst.iter_mut() {
                *t = original(w.next());
            }
            t.lookup_burst(&burst, &mut out);
            black_box(&out);
        })
    });
    // What the loop above spends making its tuples (no lookup): to tell the table's share
    // of lookup_hit_burst32 from the benchmark's own.
    let mut w = Walk::new(n);
    g.bench_function(BenchmarkId::new("make_tuples_burst32", n), |b| {
        b.iter(|| {
            for t in burst.iter_mut() {
                *t = original(w.next());
            }
            black_box(&burst);
        })
    });
    g.throughput(Throughput::Elements(1));
    // Keys n.. were never inserted.
    let mut w = Walk::new(n);
    g.bench_function(BenchmarkId::new("lookup_miss", n), |b| {
        b.iter(|| black_box(t.lookup(&original(n + BATCH + w.next()))))
    });
    // The per-packet work on an established flow: lookup + state/counters/
    // timer refresh.
    let mut w = Walk::new(n);
    let mut now = 0u64;
    g.bench_function(BenchmarkId::new("lookup_and_update", n), |b| {
        b.iter(|| {
            now += 1;
            let (id, dir) = t.lookup(&original(w.next())).expect("hit");
            black_box(t.on_packet(id, dir, TcpFlags::ACK, 1500, now))
        })
    });
    // Insert new flows on top of the n live ones (batches of up to BATCH,
    // removed untimed between batches).
    g.bench_function(BenchmarkId::new("insert", n), |b| {
        b.iter_custom(|iters| {
            let mut total = Duration::ZERO;
            let mut done = 0;
            while done < iters {
                let k = (iters - done).min(BATCH);
                let start = Instant::now();
                for j in 0..k {
                    black_box(t.insert(&new_conn(n + j), 0).expect("room"));
                }
                total += start.elapsed();
                for j in 0..k {
                    let (id, _) = t.lookup(&original(n + j)).expect("inserted");
                    t.remove(id);
                }
                done += k;
            }
            total
        })
    });
    // Expire: batches of short-lived connections (3 s, no packet) over the
    // n long-lived ones; time one expire() sweep per batch.
    let mut clock = 1_000_000u64;
    g.bench_function(BenchmarkId::new("expire", n), |b| {
        b.iter_custom(|iters| {
            let mut total = Duration::ZERO;
            let mut done = 0;
            while done < iters {
                let k = (iters - done).min(BATCH);
                for j in 0..k {
                    t.insert(&new_conn(n + j), clock).expect("room");
                }
                clock += 4_000;
                let start = Instant::now();
                while t.expire(clock, 1024) == 1024 {}
                total += start.elapsed();
                done += k;
            }
            total
        })
    });
    g.finish();
}

fn small_and_1m(c: &mut Criterion) {
    bench_size(c, "conn_table", 1_000);
    bench_size(c, "conn_table", 1_000_000);
}

/// Resident set size of this process in bytes (Linux).
fn rss_bytes() -> u64 {
    let statm = std::fs::read_to_string("/proc/self/statm").unwrap_or_default();
    let pages: u64 = statm
        .split_whitespace()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or(0);
    pages * 4096
}

fn ten_million(c: &mut Criterion) {
    if std::env::var_os("CONN_TABLE_10M").is_none() {
        return;
    }
    let n = 10_000_000u64;
    let before = rss_bytes();
    let start = Instant::now();
    let t = filled(n);
    let fill = start.elapsed();
    let after = rss_bytes();
    let m = t.memory_usage();
    eprintln!(
        "conn_table 10M: filled in {:.2?} ({:.0} ns/insert incl. 2 packets); reserved: slab {} + index {} + other {} = {} bytes = {:.1} B/conn (capacity {}); RSS growth {} bytes = {:.1} B/conn",
        fill,
        fill.as_nanos() as f64 / n as f64,
        m.slab,
        m.index,
        m.other + m.templates + m.ipv6,
        m.total(),
        m.total() as f64 / (n + BATCH) as f64,
        n + BATCH,
        after.saturating_sub(before),
        after.saturating_sub(before) as f64 / n as f64,
    );
    drop(t);
    bench_size(c, "conn_table_10m", n);
}

criterion_group! {
    name = benches;
    config = Criterion::default().sample_size(20);
    targets = small_and_1m, ten_million
}
criterion_main!(benches);
