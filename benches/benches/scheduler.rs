//! `Scheduler::pick` cost for every IPVS scheduler with 2, 16 and 1024 real servers.
//!
//! Each iteration picks for the next of 1024 prepared flows (distinct client addresses and
//! ports; 256 distinct destination addresses for lblc/lblcr, so their caches mostly hit)
//! over loads with varied connection counts, no server overloaded.
//!
//! Run: `cargo bench -p benches --bench scheduler -- --warm-up-time 1 --measurement-time 2`

use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion, Throughput};
use scheduler::{
    DestLoad, Destination, FlowKey, SchedFlags, SchedOptions, Scheduler, SchedulerKind, IPPROTO_TCP,
};
use std::hint::black_box;
use std::net::IpAddr;

const SIZES: [usize; 3] = [2, 16, 1024];
const FLOWS: usize = 1024;

fn dests(n: usize) -> Vec<Destination> {
    (0..n)
        .map(|i| {
            // Weights 1..=8 so that wrr/sh/mh see unequal weights.
            let w = (i % 8 + 1) as u16;
            Destination::new(IpAddr::from([198, 19, (i >> 8) as u8, i as u8]), 8080, w)
        })
        .collect()
}

fn loads(n: usize) -> Vec<DestLoad> {
    // Deterministic, varied counts from a small LCG; no thresholds, so nobody is overloaded.
    let mut x: u32 = 12345;
    (0..n)
        .map(|_| {
            x = x.wrapping_mul(1_103_515_245).wrapping_add(12345);
            DestLoad::with_conns((x >> 16) % 64, (x >> 8) % 256)
        })
        .collect()
}

fn flows() -> Vec<FlowKey> {
    (0..FLOWS)
        .map(|i| FlowKey {
            protocol: IPPROTO_TCP,
            src_addr: IpAddr::from([198, 18, (i >> 8) as u8, i as u8]),
            src_port: 10000 + i as u16,
            dst_addr: IpAddr::from([198, 19, 255, (i % 256) as u8]),
            dst_port: 80,
        })
        .collect()
}

fn bench_pick(c: &mut Criterion) {
    let flows = flows();
    for kind in SchedulerKind::ALL {
        let mut group = c.benchmark_group(format!("pick/{kind}"));
        group.throughput(Throughput::Elements(1));
        for n in SIZES {
            let opts = SchedOptions {
                flags: SchedFlags {
                    fallback: true,
                    port: true,
                },
                ..SchedOptions::default()
            };
            let sched = Scheduler::build(kind, &dests(n), opts).expect("valid scheduler");
            let loads = loads(n);
            let mut state = sched.new_state(7);
            let mut i = 0usize;
            let mut now = 0u64;
            group.bench_with_input(BenchmarkId::from_parameter(n), &n, |b, _| {
                b.iter(|| {
                    i = (i + 1) & (FLOWS - 1);
                    now += 1;
                    black_box(sched.pick(&mut state, &loads[..], black_box(&flows[i]), now))
                })
            });
        }
        group.finish();
    }
}

criterion_group!(benches, bench_pick);
criterion_main!(benches);
