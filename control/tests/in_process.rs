//! The real pipeline in process (Vec frames, no DPDK) with tables built from YAML the way
//! rvsd builds them, for behaviour that needs a configuration change between packets or
//! many small scenarios: the IPVS sysctls `expire_nodest_conn` and
//! `expire_quiescent_template`, firewall-mark services, scheduler state across reloads.

mod common;

use std::net::Ipv4Addr;
use std::sync::Arc;

use common::*;
use control::spec::{build_tables, from_config, RealServerIds};
use dataplane::counters::{get, DropReason, WorkerStats};
use dataplane::pipeline::{Pipeline, PipelineConfig};
use dataplane::tables::Tables;

const INTERFACES: &str = "interfaces:
  - { name: wan0, device: net_null0, addresses: [198.18.0.254/24] }
  - { name: lan0, device: net_null1, addresses: [198.19.0.254/24] }
";

fn yaml(ipvs: &str, real_servers: &str) -> String {
    format!(
        "{INTERFACES}ipvs: {ipvs}
services:
  - {{ proto: udp, vip: 198.18.0.100, port: 53, scheduler: rr, persistence: 300, method: masq,
      real_servers: [{real_servers}] }}
"
    )
}

struct Director {
    ids: RealServerIds,
    generation: u64,
    tables: Tables,
    pipe: Pipeline<Vec<u8>>,
    stats: Arc<WorkerStats>,
    now_ms: u64,
}

impl Director {
    fn new(text: &str) -> Director {
        let stats = Arc::new(WorkerStats::default());
        let pipe = Pipeline::new(PipelineConfig {
            worker: 0,
            port_macs: vec![WAN_MAC, LAN_MAC],
            stats: stats.clone(),
            conn_capacity: 4096,
            gratuitous_arp: false,
            workers: 1,
            exception: Default::default(),
        });
        let mut d = Director {
            ids: RealServerIds::default(),
            generation: 0,
            tables: Tables::default(),
            pipe,
            stats,
            now_ms: 1000,
        };
        d.load(text);
        // Let the director learn both real servers' MACs and the client's, so nothing waits
        // for ARP.
        for (port, mac, ip, own) in [
            (1, RS1_MAC, RS1, LAN_IP),
            (1, RS2_MAC, RS2, LAN_IP),
            (0, CLIENT_MAC, CLIENT, WAN_IP),
        ] {
            let dst = [WAN_MAC, LAN_MAC][port];
            d.feed(port, arp_frame(1, mac, ip, dst, own));
        }
        d
    }

    /// Publish `text` as the control plane does: the new table follows the running one.
    fn load(&mut self, text: &str) {
        self.load_tables(text, true);
    }

    fn load_tables(&mut self, text: &str, follow: bool) {
        let cfg = config::from_str(text, "t.yaml").unwrap();
        let spec = from_config(&cfg, &mut self.ids).unwrap();
        self.generation += 1;
        let mut tables = build_tables(&spec, self.generation);
        if follow {
            tables.services.follow(&self.tables.services);
        }
        self.tables = tables;
        self.pipe.sync(&self.tables);
    }

    fn feed(&mut self, port: usize, frame: Vec<u8>) -> Vec<(usize, Vec<u8>)> {
        let mut out = Out::default();
        self.now_ms += 1;
        self.pipe
            .handle(&self.tables, port, frame, self.now_ms, &mut out);
        out.0
    }

    /// Send one UDP query from `client:sport` to the VIP; the real server it went to.
    fn query(&mut self, client: Ipv4Addr, sport: u16) -> Option<Ipv4Addr> {
        self.send(&udp(client, sport, VIP, 53, b"q"))
            .map(|(rs, _)| rs)
    }

    /// Send one client IPv4 packet; the real server and port it was forwarded to.
    fn send(&mut self, ip: &[u8]) -> Option<(Ipv4Addr, u16)> {
        let out = self.feed(0, eth(WAN_MAC, CLIENT_MAC, 0x0800, ip));
        match out.as_slice() {
            [] => None,
            [(1, f)] => Some((
                Ipv4Addr::new(f[30], f[31], f[32], f[33]),
                u16::from_be_bytes([f[36], f[37]]),
            )),
            other => panic!("unexpected output {other:?}"),
        }
    }
}

// Real servers are listed newest first here, so that the kernel's list order (the last
// configured first, see control::spec) is RS1, RS2 and rr starts at RS1.
const BOTH: &str = "{ address: 198.19.0.12 }, { address: 198.19.0.11 }";
const ONLY_RS2: &str = "{ address: 198.19.0.12 }";
const RS1_QUIESCENT: &str = "{ address: 198.19.0.12 }, { address: 198.19.0.11, weight: 0 }";

#[test]
fn removed_real_server_drains_by_default() {
    let mut d = Director::new(&yaml("{}", BOTH));
    assert_eq!(d.query(CLIENT, 1000), Some(RS1));
    d.load(&yaml("{}", ONLY_RS2));
    // IPVS default: the connection keeps going to the removed server.
    assert_eq!(d.query(CLIENT, 1000), Some(RS1));
    assert_eq!(d.stats.drops(DropReason::NoDestExpired), 0);
}

#[test]
fn expire_nodest_conn_ends_connections_of_a_removed_real_server() {
    let on = "{ expire_nodest_conn: true }";
    let mut d = Director::new(&yaml(on, BOTH));
    assert_eq!(d.query(CLIENT, 1000), Some(RS1));
    d.load(&yaml(on, ONLY_RS2));
    // The next packet expires the connection and is dropped, as ip_vs_in does...
    assert_eq!(d.query(CLIENT, 1000), None);
    assert_eq!(d.stats.drops(DropReason::NoDestExpired), 1);
    // ...and the client's retry is scheduled to a server that exists.
    assert_eq!(d.query(CLIENT, 1000), Some(RS2));
    assert_eq!(d.stats.drops(DropReason::NoDestExpired), 1);
}

#[test]
fn expire_quiescent_template_reschedules_away_from_weight_zero() {
    // Default: the template keeps the client on its (now quiescent) server.
    let mut d = Director::new(&yaml("{}", BOTH));
    assert_eq!(d.query(CLIENT, 1000), Some(RS1));
    d.load(&yaml("{}", RS1_QUIESCENT));
    assert_eq!(d.query(CLIENT, 1001), Some(RS1));

    let on = "{ expire_quiescent_template: true }";
    let mut d = Director::new(&yaml(on, BOTH));
    assert_eq!(d.query(CLIENT, 1000), Some(RS1));
    d.load(&yaml(on, RS1_QUIESCENT));
    // A new connection of the same client is scheduled anew (and rr skips weight 0)...
    assert_eq!(d.query(CLIENT, 1001), Some(RS2));
    // ...while its existing connection stays where it was.
    assert_eq!(d.query(CLIENT, 1000), Some(RS1));
}

#[test]
fn firewall_mark_service_spans_its_members_with_one_template() {
    // The seeds' fwmark example: 80 and 443 marked 10, persistent, so a client stays on one
    // real server across both ports.
    let text = format!(
        "{INTERFACES}services:
  - fwmark: 10
    members: [\"tcp 198.18.0.100:80\", \"tcp 198.18.0.100:443\"]
    scheduler: rr
    persistence: 300
    method: masq
    real_servers: [{{ address: 198.19.0.12 }}, {{ address: 198.19.0.11 }}]
"
    );
    let mut d = Director::new(&text);
    let syn = |client, sport, dport| tcp(client, sport, VIP, dport, TCP_SYN, 1, &[]);
    let other = Ipv4Addr::new(198, 18, 0, 2);
    assert_eq!(d.send(&syn(CLIENT, 1000, 80)), Some((RS1, 80)));
    // Same client, other member port: the fwmark template keeps it on RS1; the real
    // servers have port 0, so the packet's port is kept.
    assert_eq!(d.send(&syn(CLIENT, 1001, 443)), Some((RS1, 443)));
    // A new client is scheduled (rr: the next server).
    assert_eq!(d.send(&syn(other, 1000, 443)), Some((RS2, 443)));
    assert_eq!(d.send(&syn(other, 1001, 80)), Some((RS2, 80)));
    // Port 0 of the mark is not an all-ports service.
    assert_eq!(d.send(&syn(CLIENT, 1002, 8080)), None);
    assert_eq!(d.stats.drops(DropReason::NoService), 1);
}

#[test]
fn syn_on_a_closed_connection_is_scheduled_again_like_conn_reuse_mode() {
    let text = format!(
        "{INTERFACES}services:
  - {{ proto: tcp, vip: 198.18.0.100, port: 80, scheduler: rr, method: masq,
      real_servers: [{BOTH}] }}
"
    );
    let mut d = Director::new(&text);
    let pkt = |flags| tcp(CLIENT, 1000, VIP, 80, flags, 1, &[]);
    assert_eq!(d.send(&pkt(TCP_SYN)), Some((RS1, 80)));
    // A retransmitted SYN (SYN_RECV) stays on its connection.
    assert_eq!(d.send(&pkt(TCP_SYN)), Some((RS1, 80)));
    // Established, then the client resets: the connection is in CLOSE (a RST in
    // SYN_RECV would leave it there, as in the kernel's table)...
    assert_eq!(d.send(&pkt(TCP_ACK)), Some((RS1, 80)));
    assert_eq!(d.send(&pkt(TCP_SYN)), Some((RS1, 80)), "SYN on ESTABLISHED");
    assert_eq!(d.send(&pkt(0x04 | TCP_ACK)), Some((RS1, 80)));
    assert_eq!(get(&d.stats.conns_reused), 0);
    // ...and a new SYN from the same port is a new connection, scheduled by rr.
    assert_eq!(d.send(&pkt(TCP_SYN)), Some((RS2, 80)));
    assert_eq!(get(&d.stats.conns_reused), 1);
    assert_eq!(get(&d.stats.conns_created), 2);
    // Its packets follow the new connection.
    assert_eq!(d.send(&pkt(TCP_ACK)), Some((RS2, 80)));
}

#[test]
fn one_client_port_reaches_two_dr_vips_of_one_real_server() {
    // Two DR services on the same real server and port: the same client port towards both
    // gives both connections the same RIP:80 -> client:1000, so DR keeps no reply tuple
    // (it used to collide and be refused as conn_table_full).
    let vip2 = Ipv4Addr::new(198, 18, 0, 101);
    let text = format!(
        "{INTERFACES}services:
  - {{ proto: tcp, vip: 198.18.0.100, port: 80, scheduler: rr, method: route,
      real_servers: [{{ address: 198.19.0.11 }}] }}
  - {{ proto: tcp, vip: 198.18.0.101, port: 80, scheduler: rr, method: route,
      real_servers: [{{ address: 198.19.0.11 }}] }}
"
    );
    let mut d = Director::new(&text);
    for (flags, seq) in [(TCP_SYN, 1), (TCP_ACK, 2)] {
        for vip in [VIP, vip2] {
            let out = d.feed(
                0,
                eth(
                    WAN_MAC,
                    CLIENT_MAC,
                    0x0800,
                    &tcp(CLIENT, 1000, vip, 80, flags, seq, &[]),
                ),
            );
            // Direct routing: unchanged but for the MACs, to RS1.
            let [(1, f)] = out.as_slice() else {
                panic!("{vip} flags {flags:#x}: unexpected output {out:?}");
            };
            assert_eq!(f[..6], RS1_MAC, "{vip} flags {flags:#x}");
            assert_eq!(f[30..34], vip.octets(), "{vip} flags {flags:#x}");
            assert_eq!(u16::from_be_bytes([f[36], f[37]]), 80);
        }
    }
    assert_eq!(d.stats.drops(DropReason::ConnTableFull), 0);
    assert_eq!(d.stats.drops(DropReason::NoConnection), 0);
    // -Lnc still shows the real server as each connection's destination.
    let mut req = dataplane::pipeline::ConnListRequest {
        cursor: conn_table::ListCursor::START,
        buf: Vec::with_capacity(16),
        next: None,
    };
    d.pipe.list_connections(&d.tables, &mut req, d.now_ms);
    let mut seen: Vec<_> = req
        .buf
        .iter()
        .map(|c| (c.original.dst, c.reply.map(|r| (r.src, r.sport))))
        .collect();
    seen.sort();
    assert_eq!(
        seen,
        [
            (VIP.into(), Some((RS1.into(), 80))),
            (vip2.into(), Some((RS1.into(), 80)))
        ]
    );
}

#[test]
fn reload_continues_the_scheduler_instead_of_restarting_it() {
    let service = |port| {
        format!(
            "  - {{ proto: tcp, vip: 198.18.0.100, port: {port}, scheduler: rr, method: masq,
      real_servers: [{BOTH}] }}
"
        )
    };
    let one = format!("{INTERFACES}services:\n{}", service(80));
    let two = format!("{INTERFACES}services:\n{}{}", service(81), service(80));
    let syn = |sport| tcp(CLIENT, sport, VIP, 80, TCP_SYN, 1, &[]);
    let mut d = Director::new(&one);
    assert_eq!(d.send(&syn(1000)), Some((RS1, 80)));
    // A reload that adds another service (and moves this one to index 1): rr goes on
    // from RS1 to RS2 as ipvsadm edits leave the kernel's rr position alone.
    d.load(&two);
    assert_eq!(d.send(&syn(1001)), Some((RS2, 80)));
    assert_eq!(d.send(&syn(1002)), Some((RS1, 80)));
    // Removing the real server rr stands on: the next one in the new list.
    d.load(&format!(
        "{INTERFACES}services:
  - {{ proto: tcp, vip: 198.18.0.100, port: 80, scheduler: rr, method: masq,
      real_servers: [{ONLY_RS2}] }}
"
    ));
    assert_eq!(d.send(&syn(1003)), Some((RS2, 80)));
    d.load(&one);
    assert_eq!(d.send(&syn(1004)), Some((RS1, 80)));
    assert_eq!(d.send(&syn(1005)), Some((RS2, 80)));
    // A table that does not follow the one the worker ran (a generation it never saw in
    // between) restarts the scheduler: the state could not be matched to it.
    d.load_tables(&one, false);
    assert_eq!(d.send(&syn(1006)), Some((RS1, 80)));
}
