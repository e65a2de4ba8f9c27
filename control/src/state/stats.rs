//! Summing the workers' counters for the shutdown report and the stats file.

use std::fmt::Write as _;
use std::sync::Arc;

use dataplane::counters::{get, DropReason, WorkerStats};
use dataplane::dpdk::PortStats;
use serde_json::{json, Map, Value};

/// What rvsd knows about one port when reporting.
pub struct PortReport<'a> {
    /// Interface name from the configuration.
    pub name: &'a str,
    /// DPDK device string.
    pub device: &'a str,
    /// MAC address.
    pub mac: [u8; 6],
    /// The device's own counters.
    pub hw: PortStats,
}

/// A MAC address as `02:00:00:00:00:01`.
pub fn mac_str(m: &[u8; 6]) -> String {
    m.iter()
        .map(|b| format!("{b:02x}"))
        .collect::<Vec<_>>()
        .join(":")
}

fn sum(workers: &[Arc<WorkerStats>], f: impl Fn(&WorkerStats) -> u64) -> u64 {
    workers.iter().map(|w| f(w)).sum()
}

/// The counters of all workers and ports as JSON (the `--stats-file` format).
pub fn to_json(ports: &[PortReport<'_>], workers: &[Arc<WorkerStats>]) -> Value {
    let ports: Vec<Value> = ports
        .iter()
        .enumerate()
        .map(|(i, p)| {
            json!({
                "name": p.name,
                "device": p.device,
                "mac": mac_str(&p.mac),
                "rx_packets": sum(workers, |w| get(&w.ports[i].rx_packets)),
                "rx_bytes": sum(workers, |w| get(&w.ports[i].rx_bytes)),
                "tx_packets": sum(workers, |w| get(&w.ports[i].tx_packets)),
                "tx_bytes": sum(workers, |w| get(&w.ports[i].tx_bytes)),
                "tx_dropped": sum(workers, |w| get(&w.ports[i].tx_dropped)),
                "to_kernel_packets": sum(workers, |w| get(&w.ports[i].to_kernel_packets)),
                "from_kernel_packets": sum(workers, |w| get(&w.ports[i].from_kernel_packets)),
                "hw": {
                    "ipackets": p.hw.ipackets, "opackets": p.hw.opackets,
                    "ibytes": p.hw.ibytes, "obytes": p.hw.obytes,
                    "imissed": p.hw.imissed, "ierrors": p.hw.ierrors,
                    "oerrors": p.hw.oerrors, "rx_nombuf": p.hw.rx_nombuf,
                },
            })
        })
        .collect();
    let mut drops = Map::new();
    for d in DropReason::ALL {
        drops.insert(d.name().into(), sum(workers, |w| w.drops(*d)).into());
    }
    let per_worker: Vec<Value> = workers
        .iter()
        .map(|w| {
            json!({
                "rx_packets": w.ports.iter().map(|p| get(&p.rx_packets)).sum::<u64>(),
                "tx_packets": w.ports.iter().map(|p| get(&p.tx_packets)).sum::<u64>(),
                "steered_out": get(&w.steered_out),
                "steered_in": get(&w.steered_in),
                "conns_created": get(&w.conns_created),
            })
        })
        .collect();
    json!({
        "workers": workers.len(),
        "per_worker": per_worker,
        "ports": ports,
        "drops": drops,
        "conns_created": sum(workers, |w| get(&w.conns_created)),
        "conns_expired": sum(workers, |w| get(&w.conns_expired)),
        "conns_reused": sum(workers, |w| get(&w.conns_reused)),
        "conns_current": sum(workers, |w| get(&w.conns_current)),
        "arp_replies": sum(workers, |w| get(&w.arp_replies)),
        "arp_requests": sum(workers, |w| get(&w.arp_requests)),
        "icmp_echo_replies": sum(workers, |w| get(&w.icmp_echo_replies)),
        "tunnel_encapsulated": sum(workers, |w| get(&w.tunnel_encapsulated)),
        "frag_needed_sent": sum(workers, |w| get(&w.frag_needed_sent)),
        "packet_too_big_sent": sum(workers, |w| get(&w.packet_too_big_sent)),
        "time_exceeded_sent": sum(workers, |w| get(&w.time_exceeded_sent)),
        "icmp_errors_translated": sum(workers, |w| get(&w.icmp_errors_translated)),
        "loops": sum(workers, |w| get(&w.loops)),
        "busy_loops": sum(workers, |w| get(&w.busy_loops)),
        "busy_cycles": sum(workers, |w| get(&w.busy_cycles)),
        "snat_ports_in_use": sum(workers, |w| get(&w.snat_ports_in_use)),
        "icmpv6_errors_translated": sum(workers, |w| get(&w.icmpv6_errors_translated)),
        "toa_no_room": sum(workers, |w| get(&w.toa_no_room)),
        "fragments_received": sum(workers, |w| get(&w.fragments_received)),
        "rst_sent_no_connection": sum(workers, |w| get(&w.rst_sent_no_connection)),
    })
}

/// A short human-readable table of per-port counters and non-zero drops.
pub fn to_text(ports: &[PortReport<'_>], workers: &[Arc<WorkerStats>]) -> String {
    let mut s = String::new();
    let _ = writeln!(
        s,
        "{:<10} {:<17} {:>12} {:>14} {:>12} {:>14} {:>10}",
        "port", "mac", "rx_packets", "rx_bytes", "tx_packets", "tx_bytes", "tx_dropped"
    );
    for (i, p) in ports.iter().enumerate() {
        let _ = writeln!(
            s,
            "{:<10} {:<17} {:>12} {:>14} {:>12} {:>14} {:>10}",
            p.name,
            mac_str(&p.mac),
            sum(workers, |w| get(&w.ports[i].rx_packets)),
            sum(workers, |w| get(&w.ports[i].rx_bytes)),
            sum(workers, |w| get(&w.ports[i].tx_packets)),
            sum(workers, |w| get(&w.ports[i].tx_bytes)),
            sum(workers, |w| get(&w.ports[i].tx_dropped)),
        );
    }
    let _ = writeln!(
        s,
        "connections created {}, expired {}",
        sum(workers, |w| get(&w.conns_created)),
        sum(workers, |w| get(&w.conns_expired))
    );
    for d in DropReason::ALL {
        let n = sum(workers, |w| w.drops(*d));
        if n > 0 {
            let _ = writeln!(s, "dropped {:<24} {n}", d.name());
        }
    }
    s
}
