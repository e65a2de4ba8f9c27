//! Repeatable cost of `Scheduler::pick` for `valgrind --tool=callgrind` (instruction
//! counts do not depend on the load of a shared machine, unlike criterion's timings).
//!
//! `pick_cost KIND N PICKS`: builds KIND over N real servers (weights 1..=8, varied
//! connection counts, the same inputs as the criterion bench) and picks PICKS times inside
//! `pick_all`. Measure only that function:
//! `valgrind --tool=callgrind --collect-atstart=no --toggle-collect='*pick_all*' \
//!   target/release/examples/pick_cost wlc 1024 2000`

use scheduler::{
    DestLoad, Destination, FlowKey, SchedFlags, SchedOptions, SchedState, Scheduler, IPPROTO_TCP,
};
use std::hint::black_box;
use std::net::IpAddr;

#[inline(never)]
fn pick_all(
    s: &Scheduler,
    st: &mut SchedState,
    loads: &[DestLoad],
    flows: &[FlowKey],
    picks: usize,
) -> usize {
    let mut hits = 0;
    for i in 0..picks {
        let f = &flows[i % flows.len()];
        if black_box(s.pick(st, loads, f, i as u64)).is_some() {
            hits += 1;
        }
    }
    hits
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let (Some(kind), Some(n), Some(picks)) = (args.get(1), args.get(2), args.get(3)) else {
        eprintln!("usage: pick_cost KIND N PICKS");
        std::process::exit(2);
    };
    let kind = match kind.parse() {
        Ok(k) => k,
        Err(e) => {
            eprintln!("{e}");
            std::process::exit(2);
        }
    };
    let (Ok(n), Ok(picks)) = (n.parse::<usize>(), picks.parse::<usize>()) else {
        eprintln!("N and PICKS must be numbers");
        std::process::exit(2);
    };
    let dests: Vec<_> = (0..n)
        .map(|i| {
            Destination::new(
                IpAddr::from([198, 19, (i >> 8) as u8, i as u8]),
                8080,
                (i % 8 + 1) as u16,
            )
        })
        .collect();
    let mut x: u32 = 12345;
    let loads: Vec<_> = (0..n)
        .map(|_| {
            x = x.wrapping_mul(1_103_515_245).wrapping_add(12345);
            DestLoad::with_conns((x >> 16) % 64, (x >> 8) % 256)
        })
        .collect();
    let flows: Vec<_> = (0..1024usize)
        .map(|i| FlowKey {
            protocol: IPPROTO_TCP,
            src_addr: IpAddr::from([198, 18, (i >> 8) as u8, i as u8]),
            src_port: 10000 + i as u16,
            dst_addr: IpAddr::from([198, 19, 255, (i % 256) as u8]),
            dst_port: 80,
        })
        .collect();
    let opts = SchedOptions {
        flags: SchedFlags {
            fallback: true,
            port: true,
        },
        ..SchedOptions::default()
    };
    let s = match Scheduler::build(kind, &dests, opts) {
        Ok(s) => s,
        Err(e) => {
            eprintln!("{e}");
            std::process::exit(1);
        }
    };
    let mut st = s.new_state(7);
    let hits = pick_all(&s, &mut st, &loads, &flows, picks);
    println!("{kind} n={n} picks={picks} hits={hits}");
}
