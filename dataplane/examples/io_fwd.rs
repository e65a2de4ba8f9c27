//! I/O ceiling check through rvs's own safe DPDK layer: forward port 0 -> port 1 in bursts
//! for a few seconds and print packets per second.
//!
//! `cargo run --release -p dataplane --example io_fwd -- --no-huge -m 512 --vdev=net_null0 --vdev=net_null1`
//! (EAL arguments; `-l 0` is added). Seconds to run: env IO_FWD_SECONDS (default 3).

use std::time::{Duration, Instant};

use dataplane::dpdk::{Eal, Mempool, Port, RxBurst, TxBuffer};

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mut args: Vec<String> = vec![
        "-l".into(),
        "0".into(),
        "--no-shconf".into(),
        "--no-pci".into(),
    ];
    args.extend(std::env::args().skip(1));
    let eal = Eal::init(&args)?;
    let pool = Mempool::new(&eal, "io_fwd", 8191, 256)?;
    if eal.port_count() < 2 {
        return Err("need two ports, e.g. --vdev=net_null0 --vdev=net_null1".into());
    }
    let p0 = Port::open(&eal, "net_null0", 1, &pool)
        .or_else(|_| Port::open(&eal, &first_name(0), 1, &pool))?;
    let p1 = Port::open(&eal, "net_null1", 1, &pool)
        .or_else(|_| Port::open(&eal, &first_name(1), 1, &pool))?;
    let (mut rx, mut tx) = (p0.rx_queue(0)?, p1.tx_queue(0)?);
    let mut burst = RxBurst::default();
    let mut txbuf = TxBuffer::default();
    let secs: u64 = std::env::var("IO_FWD_SECONDS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(3);
    let start = Instant::now();
    let (mut sent, mut dropped) = (0u64, 0u64);
    while start.elapsed() < Duration::from_secs(secs) {
        for _ in 0..1024 {
            rx.rx_burst(&mut burst);
            while let Some(m) = burst.pop() {
                txbuf.push(m);
            }
            let r = tx.flush(&mut txbuf);
            sent += r.sent as u64;
            dropped += r.dropped as u64;
        }
    }
    let el = start.elapsed().as_secs_f64();
    println!(
        "forwarded {sent} packets in {el:.2} s: {:.2} Mpps (dropped {dropped})",
        sent as f64 / el / 1e6
    );
    Ok(())
}

fn first_name(i: u16) -> String {
    format!("port{i}")
}
