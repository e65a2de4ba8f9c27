//! The IPVS sysctls `expire_nodest_conn` and `expire_quiescent_template`, through the real
//! pipeline (in process, Vec frames) with tables built from YAML the way rvsd builds them.

mod common;

use std::net::Ipv4Addr;
use std::sync::Arc;

use common::*;
use control::daemon::build_tables;
use control::spec::{from_config, RealServerIds};
use dataplane::counters::{DropReason, WorkerStats};
use dataplane::pipeline::{Io, Pipeline, PipelineConfig, Tables};

const WAN_MAC: [u8; 6] = [0x02, 0x70, 0x63, 0x61, 0x70, 0x01];
const LAN_MAC: [u8; 6] = [0x02, 0x70, 0x63, 0x61, 0x70, 0x02];

#[derive(Default)]
struct Out(Vec<(usize, Vec<u8>)>);

impl Io<Vec<u8>> for Out {
    fn send(&mut self, port: usize, pkt: Vec<u8>) {
        self.0.push((port, pkt));
    }
    fn alloc(&mut self) -> Option<Vec<u8>> {
        Some(Vec::with_capacity(128))
    }
}

fn yaml(ipvs: &str, real_servers: &str) -> String {
    format!(
        "interfaces:
  - {{ name: wan0, device: net_null0, addresses: [198.18.0.254/24] }}
  - {{ name: lan0, device: net_null1, addresses: [198.19.0.254/24] }}
ipvs: {ipvs}
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

    fn load(&mut self, text: &str) {
        let cfg = config::from_str(text, "t.yaml").unwrap();
        let spec = from_config(&cfg, &mut self.ids).unwrap();
        self.generation += 1;
        self.tables = build_tables(&spec, self.generation);
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
        let f = eth(
            WAN_MAC,
            CLIENT_MAC,
            0x0800,
            &udp(client, sport, VIP, 53, b"q"),
        );
        let out = self.feed(0, f);
        match out.as_slice() {
            [] => None,
            [(1, f)] => Some(Ipv4Addr::new(f[30], f[31], f[32], f[33])),
            other => panic!("unexpected output {other:?}"),
        }
    }
}

const BOTH: &str = "{ address: 198.19.0.11 }, { address: 198.19.0.12 }";
const ONLY_RS2: &str = "{ address: 198.19.0.12 }";
const RS1_QUIESCENT: &str = "{ address: 198.19.0.11, weight: 0 }, { address: 198.19.0.12 }";

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
