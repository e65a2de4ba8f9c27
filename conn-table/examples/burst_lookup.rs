//! Instruction witness for [`ConnTable::lookup_burst`]: 10 000 bursts of 32 lookup
//! hits in a table of 1 000 connections (all in the cache, so what is left is the
//! lookup's own work), with a prefetch hook that is a real call, as rvsd's is.
//!
//! ```text
//! cargo build --release -p conn-table --example burst_lookup
//! valgrind --tool=callgrind --collect-atstart=no --toggle-collect='*run_bursts' \
//!     target/release/examples/burst_lookup
//! ```
//!
//! The instruction count divided by 320 000 is exact and repeatable (timing on this
//! VM moves by 30 % from run to run); it includes the loop making the tuples
//! (about 14 instructions per tuple) and the hook (3 per call, two calls per hit).

use std::net::{IpAddr, Ipv4Addr};

use conn_table::{proto, Config, ConnTable, Direction, Method, NewConn, TcpFlags, Tuple};

const VIP: Ipv4Addr = Ipv4Addr::new(198, 18, 255, 1);
const FLOWS: u64 = 1000;
const BURSTS: u64 = 10_000;

fn original(i: u64) -> Tuple {
    let client = Ipv4Addr::from(u32::from(Ipv4Addr::new(198, 18, 0, 0)) + i as u32);
    Tuple::new(proto::TCP, IpAddr::V4(client), 1024, IpAddr::V4(VIP), 80)
}

/// Stands in for the prefetch instruction: a call the compiler cannot remove.
#[inline(never)]
fn hint(p: *const u8) {
    std::hint::black_box(p);
}

#[inline(never)]
fn run_bursts(t: &ConnTable) -> usize {
    let mut burst = [original(0); 32];
    let mut out = [None; 32];
    let (mut i, mut hits) = (0u64, 0);
    for _ in 0..BURSTS {
        for b in burst.iter_mut() {
            i = (i + 7919) % FLOWS;
            *b = original(i);
        }
        t.lookup_burst(&burst, &mut out);
        hits += out.iter().filter(|o| o.is_some()).count();
    }
    hits
}

fn main() {
    let cfg = Config {
        capacity: 4096,
        ipv6_capacity: 0,
        max_templates: 16,
        max_real_servers: 16,
        tick_ms: 100,
        wheel_slots: 1024,
    };
    let mut t = ConnTable::new(cfg, 0).expect("config");
    for i in 0..FLOWS {
        let o = original(i);
        let rip = IpAddr::V4(Ipv4Addr::new(198, 19, 0, (i % 16) as u8));
        let nc = NewConn {
            original: o,
            reply: Some(Tuple::new(proto::TCP, rip, 8080, o.src, o.sport)),
            rs: (i % 16) as u32,
            svc: 1,
            method: Method::Masq,
            template: None,
        };
        let id = t.insert(&nc, 0).expect("room");
        t.on_packet(id, Direction::Original, TcpFlags::SYN, 60, 0);
    }
    t.set_prefetcher(hint);
    let hits = run_bursts(&t);
    assert_eq!(hits as u64, BURSTS * 32);
    println!("{hits} hits in {BURSTS} bursts of 32");
}
