//! Prometheus `/metrics`: the workers' counters (summed, and per worker where the worker
//! matters) rendered in the text exposition format.
//!
//! Counters live in the dataplane's per-worker stats; each scrape builds a fresh registry
//! from their current values (the control thread's cost, never the workers').

use std::sync::Arc;

use dataplane::counters::{get, DropReason, WorkerStats};
use prometheus::{Encoder, IntCounterVec, IntGaugeVec, Opts, Registry, TextEncoder};

/// What the metrics endpoint reads.
pub struct MetricsSource<'a> {
    /// Interface names, by port index.
    pub interfaces: &'a [String],
    /// Per worker counters.
    pub workers: &'a [Arc<WorkerStats>],
    /// Mbufs available / in use in the pool.
    pub mempool: (u32, u32),
    /// Steering rings between workers: (from worker, to worker, packets queued, capacity).
    pub steering_rings: &'a [(usize, usize, u32, u32)],
    /// Configuration generation.
    pub generation: u64,
    /// 1 when the last reload succeeded, 0 when it was rejected.
    pub last_reload_ok: bool,
    /// Worker CPUs another rvsd's worker already polled when this one started.
    pub shared_worker_cpus: usize,
    /// Per-service / per-real-server rows (filled once services are tracked per RS).
    pub services: &'a [ServiceMetrics],
    /// Health of every checked real server.
    pub health: &'a [HealthMetrics],
}

/// The node_exporter ipvs labels of a virtual service: protocol ("TCP"...), VIP, port
/// and firewall mark (empty strings and port 0 where they do not apply).
pub fn service_labels(svc: &config::ipvsadm::VirtualService) -> (String, String, u16, String) {
    match *svc {
        config::ipvsadm::VirtualService::Inet {
            protocol,
            addr,
            port,
        } => (
            protocol.list_name().to_string(),
            addr.to_string(),
            port,
            String::new(),
        ),
        config::ipvsadm::VirtualService::Fwmark { mark, .. } => {
            (String::new(), String::new(), 0, mark.to_string())
        }
    }
}

/// One virtual service's (or one real server's) numbers, with node_exporter ipvs labels.
#[derive(Clone, Debug, Default)]
pub struct ServiceMetrics {
    /// "TCP", "UDP", "SCTP" or "" for firewall marks.
    pub proto: String,
    /// VIP.
    pub local_address: String,
    /// Virtual port.
    pub local_port: u16,
    /// Firewall mark ("" when none).
    pub local_mark: String,
    /// Real server address ("" for the service row).
    pub remote_address: String,
    /// Real server port.
    pub remote_port: u16,
    /// Connections scheduled.
    pub connections: u64,
    /// Packets client -> RS.
    pub in_packets: u64,
    /// Bytes client -> RS.
    pub in_bytes: u64,
    /// Packets RS -> client.
    pub out_packets: u64,
    /// Bytes RS -> client.
    pub out_bytes: u64,
    /// Active connections.
    pub active: u64,
    /// Inactive connections.
    pub inactive: u64,
    /// Weight.
    pub weight: u64,
}

/// One checked real server for `/metrics`, with the node_exporter ipvs labels.
#[derive(Clone, Debug, Default)]
pub struct HealthMetrics {
    /// "TCP", "UDP", "SCTP" or "" for firewall marks.
    pub proto: String,
    /// VIP.
    pub local_address: String,
    /// Virtual port.
    pub local_port: u16,
    /// Firewall mark ("" when none).
    pub local_mark: String,
    /// Real server address.
    pub remote_address: String,
    /// Real server port.
    pub remote_port: u16,
    /// 1 = up.
    pub up: bool,
    /// Successful checks.
    pub checks_ok: u64,
    /// Failed checks.
    pub checks_failed: u64,
}

fn counter(reg: &Registry, name: &str, help: &str, labels: &[&str]) -> IntCounterVec {
    let c = IntCounterVec::new(Opts::new(name, help), labels).expect("valid metric");
    reg.register(Box::new(c.clone())).expect("unique metric");
    c
}

fn gauge(reg: &Registry, name: &str, help: &str, labels: &[&str]) -> IntGaugeVec {
    let g = IntGaugeVec::new(Opts::new(name, help), labels).expect("valid metric");
    reg.register(Box::new(g.clone())).expect("unique metric");
    g
}

/// Render every metric as Prometheus text.
pub fn render(src: &MetricsSource<'_>) -> String {
    let reg = Registry::new();
    port_metrics(&reg, src);
    connection_and_loop_metrics(&reg, src);
    forwarding_metrics(&reg, src);
    pool_ring_and_config_metrics(&reg, src);
    service_metrics(&reg, src.services);
    health_metrics(&reg, src.health);
    let mut out = Vec::new();
    let _ = TextEncoder::new().encode(&reg.gather(), &mut out);
    String::from_utf8(out).unwrap_or_default()
}

/// Per worker and interface: packets and bytes in and out, and the exception path's.
fn port_metrics(reg: &Registry, src: &MetricsSource<'_>) {
    let port_l = ["worker", "interface"];
    let rx_p = counter(
        reg,
        "rvs_port_rx_packets_total",
        "Packets received, per worker and interface.",
        &port_l,
    );
    let rx_b = counter(
        reg,
        "rvs_port_rx_bytes_total",
        "Bytes received, per worker and interface.",
        &port_l,
    );
    let tx_p = counter(
        reg,
        "rvs_port_tx_packets_total",
        "Packets sent, per worker and interface.",
        &port_l,
    );
    let tx_b = counter(
        reg,
        "rvs_port_tx_bytes_total",
        "Bytes sent, per worker and interface.",
        &port_l,
    );
    let tx_d = counter(
        reg,
        "rvs_port_tx_dropped_total",
        "Packets the TX queue refused.",
        &port_l,
    );
    let to_k = counter(
        reg,
        "rvs_port_to_kernel_packets_total",
        "Packets handed to the kernel through the interface's exception path (TAP).",
        &port_l,
    );
    let from_k = counter(
        reg,
        "rvs_port_from_kernel_packets_total",
        "Packets the kernel sent out through the interface's exception path (TAP).",
        &port_l,
    );
    for (w, s) in src.workers.iter().enumerate() {
        let ws = w.to_string();
        for (i, name) in src.interfaces.iter().enumerate() {
            let l = [ws.as_str(), name.as_str()];
            rx_p.with_label_values(&l)
                .inc_by(get(&s.ports[i].rx_packets));
            rx_b.with_label_values(&l).inc_by(get(&s.ports[i].rx_bytes));
            tx_p.with_label_values(&l)
                .inc_by(get(&s.ports[i].tx_packets));
            tx_b.with_label_values(&l).inc_by(get(&s.ports[i].tx_bytes));
            tx_d.with_label_values(&l)
                .inc_by(get(&s.ports[i].tx_dropped));
            to_k.with_label_values(&l)
                .inc_by(get(&s.ports[i].to_kernel_packets));
            from_k
                .with_label_values(&l)
                .inc_by(get(&s.ports[i].from_kernel_packets));
        }
    }
}

/// Per worker: drops by reason, connections, poll-loop activity.
fn connection_and_loop_metrics(reg: &Registry, src: &MetricsSource<'_>) {
    let drops = counter(
        reg,
        "rvs_dropped_packets_total",
        "Packets dropped, by worker and reason.",
        &["worker", "reason"],
    );
    let created = counter(
        reg,
        "rvs_worker_connections_created_total",
        "Connections created.",
        &["worker"],
    );
    let expired = counter(
        reg,
        "rvs_worker_connections_expired_total",
        "Connections expired.",
        &["worker"],
    );
    let reused = counter(
        reg,
        "rvs_worker_connections_reused_total",
        "TCP connections in TIME_WAIT/CLOSE ended by a new SYN from the same client port and scheduled again (IPVS conn_reuse_mode).",
        &["worker"],
    );
    let current = gauge(
        reg,
        "rvs_worker_connections",
        "Connections in the worker's table.",
        &["worker"],
    );
    let loops = counter(
        reg,
        "rvs_worker_loops_total",
        "Poll-loop iterations.",
        &["worker"],
    );
    let busy = counter(
        reg,
        "rvs_worker_busy_loops_total",
        "Poll-loop iterations that received packets.",
        &["worker"],
    );
    let cycles = counter(
        reg,
        "rvs_worker_busy_cycles_total",
        "TSC cycles spent in iterations that received packets.",
        &["worker"],
    );
    let per_packet = gauge(
        reg,
        "rvs_worker_cycles_per_packet",
        "Busy TSC cycles per received packet since start (busy cycles / packets received by the worker); rate(rvs_worker_busy_cycles_total) / rate(rvs_port_rx_packets_total) gives it over a window.",
        &["worker"],
    );
    for (w, s) in src.workers.iter().enumerate() {
        let ws = w.to_string();
        for d in DropReason::ALL {
            drops
                .with_label_values(&[ws.as_str(), d.name()])
                .inc_by(s.drops(*d));
        }
        created
            .with_label_values(&[&ws])
            .inc_by(get(&s.conns_created));
        expired
            .with_label_values(&[&ws])
            .inc_by(get(&s.conns_expired));
        reused
            .with_label_values(&[&ws])
            .inc_by(get(&s.conns_reused));
        current
            .with_label_values(&[&ws])
            .set(get(&s.conns_current) as i64);
        loops.with_label_values(&[&ws]).inc_by(get(&s.loops));
        busy.with_label_values(&[&ws]).inc_by(get(&s.busy_loops));
        cycles.with_label_values(&[&ws]).inc_by(get(&s.busy_cycles));
        let rx: u64 = s.ports.iter().map(|p| get(&p.rx_packets)).sum();
        if let Some(c) = get(&s.busy_cycles).checked_div(rx) {
            per_packet.with_label_values(&[&ws]).set(c as i64);
        }
    }
}

/// Per worker: ARP, SNAT ports, tunnels, ICMP translation, TOA, RSTs sent.
fn forwarding_metrics(reg: &Registry, src: &MetricsSource<'_>) {
    let arp = counter(
        reg,
        "rvs_worker_arp_packets_sent_total",
        "ARP packets sent, by kind.",
        &["worker", "kind"],
    );
    let snat = gauge(
        reg,
        "rvs_worker_snat_ports_in_use",
        "FULLNAT local (address, port) pairs the worker has handed out.",
        &["worker"],
    );
    let tunnel = counter(
        reg,
        "rvs_worker_tunnel_packets_total",
        "Tunnel forwarding: packets encapsulated, and ICMP fragmentation-needed and ICMPv6 packet-too-big errors sent.",
        &["worker", "kind"],
    );
    let icmp_rel = counter(
        reg,
        "rvs_worker_icmp_errors_translated_total",
        "ICMP errors about a connection translated and forwarded to the other side.",
        &["worker"],
    );
    let icmp6_rel = counter(
        reg,
        "rvs_worker_icmpv6_errors_translated_total",
        "ICMPv6 errors about a connection translated (NAT) or relayed (DR) to the other side.",
        &["worker"],
    );
    let time_exceeded = counter(
        reg,
        "rvs_worker_time_exceeded_sent_total",
        "ICMP/ICMPv6 time exceeded errors sent to clients whose packet's TTL or hop limit ran out at the director.",
        &["worker"],
    );
    let toa_no_room = counter(
        reg,
        "rvs_worker_toa_no_room_total",
        "FULLNAT packets forwarded without TOA because they had no room for the option.",
        &["worker"],
    );
    let fragments = counter(
        reg,
        "rvs_worker_fragments_received_total",
        "TCP/UDP fragments (IPv4 and IPv6) received for forwarding; those dropped are in rvs_worker_drops_total.",
        &["worker"],
    );
    let rst_sent = counter(
        reg,
        "rvs_worker_rst_sent_no_connection_total",
        "RSTs sent from a VIP for TCP segments of no connection (each also a no_connection drop).",
        &["worker"],
    );
    for (w, s) in src.workers.iter().enumerate() {
        let ws = w.to_string();
        fragments
            .with_label_values(&[&ws])
            .inc_by(get(&s.fragments_received));
        icmp6_rel
            .with_label_values(&[&ws])
            .inc_by(get(&s.icmpv6_errors_translated));
        snat.with_label_values(&[&ws])
            .set(get(&s.snat_ports_in_use) as i64);
        toa_no_room
            .with_label_values(&[&ws])
            .inc_by(get(&s.toa_no_room));
        time_exceeded
            .with_label_values(&[&ws])
            .inc_by(get(&s.time_exceeded_sent));
        rst_sent
            .with_label_values(&[&ws])
            .inc_by(get(&s.rst_sent_no_connection));
        tunnel
            .with_label_values(&[&ws, "encapsulated"])
            .inc_by(get(&s.tunnel_encapsulated));
        tunnel
            .with_label_values(&[&ws, "frag_needed_sent"])
            .inc_by(get(&s.frag_needed_sent));
        tunnel
            .with_label_values(&[&ws, "packet_too_big_sent"])
            .inc_by(get(&s.packet_too_big_sent));
        icmp_rel
            .with_label_values(&[&ws])
            .inc_by(get(&s.icmp_errors_translated));
        arp.with_label_values(&[&ws, "reply"])
            .inc_by(get(&s.arp_replies));
        arp.with_label_values(&[&ws, "request"])
            .inc_by(get(&s.arp_requests));
    }
}

/// The packet pool, the steering rings and the configuration's generation.
fn pool_ring_and_config_metrics(reg: &Registry, src: &MetricsSource<'_>) {
    let pool = gauge(
        reg,
        "rvs_mempool_mbufs",
        "Mbufs in the packet pool, by state.",
        &["state"],
    );
    pool.with_label_values(&["available"])
        .set(src.mempool.0 as i64);
    pool.with_label_values(&["in_use"])
        .set(src.mempool.1 as i64);
    if !src.steering_rings.is_empty() {
        let ring = gauge(
            reg,
            "rvs_steering_ring_packets",
            "Packets waiting in a steering ring from one worker to a flow's owner worker.",
            &["from_worker", "to_worker"],
        );
        let size = gauge(
            reg,
            "rvs_steering_ring_capacity",
            "Capacity of a steering ring (packets); a full ring drops (steer_ring_full).",
            &["from_worker", "to_worker"],
        );
        for &(from, to, used, capacity) in src.steering_rings {
            let (f, t) = (from.to_string(), to.to_string());
            ring.with_label_values(&[&f, &t]).set(i64::from(used));
            size.with_label_values(&[&f, &t]).set(i64::from(capacity));
        }
    }
    let generation = gauge(
        reg,
        "rvs_config_generation",
        "Generation of the running configuration.",
        &[],
    );
    generation
        .with_label_values::<&str>(&[])
        .set(src.generation as i64);
    let reload = gauge(
        reg,
        "rvs_config_last_reload_successful",
        "1 if the last configuration reload was applied, 0 if it was rejected.",
        &[],
    );
    reload
        .with_label_values::<&str>(&[])
        .set(src.last_reload_ok as i64);
    let shared = gauge(
        reg,
        "rvs_worker_cpus_shared",
        "Worker CPUs another rvsd's worker already polled when this rvsd started (see its log).",
        &[],
    );
    shared
        .with_label_values::<&str>(&[])
        .set(src.shared_worker_cpus as i64);
}

/// node_exporter's ipvs labels of a service row.
const SERVICE_LABELS: [&str; 4] = ["local_address", "local_port", "local_mark", "proto"];
/// node_exporter's ipvs labels of a real-server row.
const REAL_SERVER_LABELS: [&str; 6] = [
    "local_address",
    "local_port",
    "local_mark",
    "proto",
    "remote_address",
    "remote_port",
];

/// Per virtual service and real server, with node_exporter's ipvs collector names and
/// labels, so existing dashboards work.
fn service_metrics(reg: &Registry, services: &[ServiceMetrics]) {
    let svc_l = SERVICE_LABELS;
    let rs_l = REAL_SERVER_LABELS;
    let conns = counter(
        reg,
        "rvs_ipvs_connections_total",
        "Connections scheduled, per virtual service.",
        &svc_l,
    );
    let inp = counter(
        reg,
        "rvs_ipvs_incoming_packets_total",
        "Packets in, per virtual service.",
        &svc_l,
    );
    let inb = counter(
        reg,
        "rvs_ipvs_incoming_bytes_total",
        "Bytes in, per virtual service.",
        &svc_l,
    );
    let outp = counter(
        reg,
        "rvs_ipvs_outgoing_packets_total",
        "Packets out, per virtual service.",
        &svc_l,
    );
    let outb = counter(
        reg,
        "rvs_ipvs_outgoing_bytes_total",
        "Bytes out, per virtual service.",
        &svc_l,
    );
    let act = gauge(
        reg,
        "rvs_ipvs_backend_connections_active",
        "Active connections, per real server.",
        &rs_l,
    );
    let inact = gauge(
        reg,
        "rvs_ipvs_backend_connections_inactive",
        "Inactive connections, per real server.",
        &rs_l,
    );
    let weight = gauge(
        reg,
        "rvs_ipvs_backend_weight",
        "Weight, per real server.",
        &rs_l,
    );
    for m in services {
        let port = m.local_port.to_string();
        let s = [
            m.local_address.as_str(),
            port.as_str(),
            m.local_mark.as_str(),
            m.proto.as_str(),
        ];
        if m.remote_address.is_empty() {
            conns.with_label_values(&s).inc_by(m.connections);
            inp.with_label_values(&s).inc_by(m.in_packets);
            inb.with_label_values(&s).inc_by(m.in_bytes);
            outp.with_label_values(&s).inc_by(m.out_packets);
            outb.with_label_values(&s).inc_by(m.out_bytes);
        } else {
            let rport = m.remote_port.to_string();
            let r = [
                s[0],
                s[1],
                s[2],
                s[3],
                m.remote_address.as_str(),
                rport.as_str(),
            ];
            act.with_label_values(&r).set(m.active as i64);
            inact.with_label_values(&r).set(m.inactive as i64);
            weight.with_label_values(&r).set(m.weight as i64);
        }
    }
}

/// Per checked real server: up or down, checks by result.
fn health_metrics(reg: &Registry, health: &[HealthMetrics]) {
    let rs_l = REAL_SERVER_LABELS;
    let up = gauge(
        reg,
        "rvs_ipvs_backend_up",
        "1 when the real server's health check has it up, 0 when down (checked servers only).",
        &rs_l,
    );
    let mut check_l = rs_l.to_vec();
    check_l.push("result");
    let checks = counter(
        reg,
        "rvs_ipvs_backend_health_checks_total",
        "Health checks run, per real server and result (ok, failed).",
        &check_l,
    );
    for h in health {
        let lport = h.local_port.to_string();
        let rport = h.remote_port.to_string();
        let r = [
            h.local_address.as_str(),
            lport.as_str(),
            h.local_mark.as_str(),
            h.proto.as_str(),
            h.remote_address.as_str(),
            rport.as_str(),
        ];
        up.with_label_values(&r).set(i64::from(h.up));
        for (result, n) in [("ok", h.checks_ok), ("failed", h.checks_failed)] {
            let mut l = r.to_vec();
            l.push(result);
            checks.with_label_values(&l).inc_by(n);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use dataplane::counters::bump;

    #[test]
    fn renders_worker_and_service_metrics() {
        let w = Arc::new(WorkerStats::default());
        bump(&w.ports[1].rx_packets, 7);
        bump(&w.busy_cycles, 700);
        bump(&w.ports[0].to_kernel_packets, 5);
        bump(&w.ports[0].from_kernel_packets, 4);
        w.drop_packet(DropReason::NoService);
        w.drop_packet(DropReason::ExceptionRateLimited);
        let services = vec![
            ServiceMetrics {
                proto: "TCP".into(),
                local_address: "198.18.0.100".into(),
                local_port: 80,
                connections: 3,
                ..Default::default()
            },
            ServiceMetrics {
                proto: "TCP".into(),
                local_address: "198.18.0.100".into(),
                local_port: 80,
                remote_address: "198.19.0.11".into(),
                remote_port: 80,
                active: 2,
                weight: 1,
                ..Default::default()
            },
        ];
        let text = render(&MetricsSource {
            interfaces: &["wan0".into(), "lan0".into()],
            workers: &[w],
            mempool: (100, 20),
            steering_rings: &[(0, 1, 3, 4095), (1, 0, 0, 4095)],
            generation: 4,
            last_reload_ok: true,
            shared_worker_cpus: 1,
            services: &services,
            health: &[HealthMetrics {
                proto: "TCP".into(),
                local_address: "198.18.0.100".into(),
                local_port: 80,
                remote_address: "198.19.0.12".into(),
                remote_port: 80,
                up: false,
                checks_ok: 5,
                checks_failed: 3,
                ..Default::default()
            }],
        });
        assert!(
            text.contains(r#"rvs_port_rx_packets_total{interface="lan0",worker="0"} 7"#),
            "{text}"
        );
        assert!(text.contains(r#"rvs_dropped_packets_total{reason="no_service",worker="0"} 1"#));
        assert!(text.contains(
            r#"rvs_dropped_packets_total{reason="exception_rate_limited",worker="0"} 1"#
        ));
        assert!(text.contains(r#"rvs_port_to_kernel_packets_total{interface="wan0",worker="0"} 5"#));
        assert!(
            text.contains(r#"rvs_port_from_kernel_packets_total{interface="wan0",worker="0"} 4"#)
        );
        assert!(text.contains("rvs_config_generation 4"));
        assert!(text.contains("rvs_worker_cpus_shared 1"), "{text}");
        assert!(
            text.contains(r#"rvs_worker_cycles_per_packet{worker="0"} 100"#),
            "{text}"
        );
        assert!(
            text.contains(r#"rvs_steering_ring_packets{from_worker="0",to_worker="1"} 3"#),
            "{text}"
        );
        assert!(text.contains(r#"rvs_steering_ring_capacity{from_worker="1",to_worker="0"} 4095"#));
        assert!(text.contains(r#"rvs_ipvs_connections_total{local_address="198.18.0.100",local_mark="",local_port="80",proto="TCP"} 3"#));
        assert!(text.contains(
            r#"rvs_ipvs_backend_connections_active{local_address="198.18.0.100",local_mark="",local_port="80",proto="TCP",remote_address="198.19.0.11",remote_port="80"} 2"#
        ));
        assert!(text.contains(
            r#"rvs_ipvs_backend_up{local_address="198.18.0.100",local_mark="",local_port="80",proto="TCP",remote_address="198.19.0.12",remote_port="80"} 0"#
        ), "{text}");
        assert!(text.contains(
            r#"rvs_ipvs_backend_health_checks_total{local_address="198.18.0.100",local_mark="",local_port="80",proto="TCP",remote_address="198.19.0.12",remote_port="80",result="failed"} 3"#
        ));
    }

    #[test]
    fn renders_icmpv6_error_counters() {
        let w = Arc::new(WorkerStats::default());
        bump(&w.icmpv6_errors_translated, 3);
        w.drop_packet(DropReason::Icmpv6ErrorNoConnection);
        let text = render(&MetricsSource {
            interfaces: &["wan0".into()],
            workers: &[w],
            mempool: (1, 0),
            steering_rings: &[],
            generation: 1,
            last_reload_ok: true,
            shared_worker_cpus: 0,
            services: &[],
            health: &[],
        });
        assert!(
            text.contains(r#"rvs_worker_icmpv6_errors_translated_total{worker="0"} 3"#),
            "{text}"
        );
        for reason in [
            "icmpv6_error_malformed",
            "icmpv6_error_unsupported",
            "icmpv6_error_no_connection",
        ] {
            let n = u8::from(reason == "icmpv6_error_no_connection");
            let line = format!(r#"rvs_dropped_packets_total{{reason="{reason}",worker="0"}} {n}"#);
            assert!(text.contains(&line), "{line} in {text}");
        }
    }
}
