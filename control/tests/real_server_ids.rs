//! Real-server ids and statistics across configuration changes, through the real pipeline
//! in process (Vec frames, no DPDK), the control plane's steps done as `ControlPlane` does
//! them: ids assigned by `from_config`, `RealServerIds::prepare` before publishing,
//! `retire_unconfigured` after, `recycle` from the workers' counters (the control loop's
//! `reclaim`).

mod common;

use std::net::{Ipv4Addr, SocketAddr};
use std::sync::Arc;

use common::*;
use control::spec::{build_tables, from_config, RealServerIds};
use control::state::estimator::Estimator;
use dataplane::counters::WorkerStats;
use dataplane::pipeline::{Pipeline, PipelineConfig};
use dataplane::tables::Tables;

const INTERFACES: &str = "interfaces:
  - { name: wan0, device: net_null0, addresses: [198.18.0.254/24] }
  - { name: lan0, device: net_null1, addresses: [198.19.0.254/24] }
";

/// A TCP masq service on the VIP, port 80, with real servers 198.19.0.`last` for each
/// `last` of `servers` (none: no service).
fn yaml(servers: &[u8]) -> String {
    if servers.is_empty() {
        return format!("{INTERFACES}services: []\n");
    }
    let rs: Vec<String> = (servers.iter())
        .map(|i| format!("{{ address: 198.19.0.{i} }}"))
        .collect();
    format!(
        "{INTERFACES}services:
  - {{ proto: tcp, vip: 198.18.0.100, port: 80, scheduler: rr, method: masq,
      real_servers: [{}] }}
",
        rs.join(", ")
    )
}

const SVC: &str = "tcp 198.18.0.100:80";

fn rs(last: u8) -> std::net::SocketAddr {
    std::net::SocketAddr::from(([198, 19, 0, last], 80))
}

/// One worker and the control plane's id bookkeeping.
struct Director {
    ids: RealServerIds,
    estimator: Estimator,
    generation: u64,
    tables: Tables,
    pipe: Pipeline<Vec<u8>>,
    workers: [Arc<WorkerStats>; 1],
    now_ms: u64,
}

impl Director {
    fn new(servers: &[u8]) -> Director {
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
            estimator: Estimator::default(),
            generation: 0,
            tables: Tables::default(),
            pipe,
            workers: [stats],
            now_ms: 1000,
        };
        d.load(&config::from_str(&yaml(servers), "t.yaml").unwrap());
        for (port, mac, ip, own) in [(1, RS1_MAC, RS1, LAN_IP), (0, CLIENT_MAC, CLIENT, WAN_IP)] {
            let dst = [WAN_MAC, LAN_MAC][port];
            d.feed(port, arp_frame(1, mac, ip, dst, own));
        }
        d
    }

    /// Apply `cfg` as `ControlPlane::apply` does (no health checks: what runs is `cfg`).
    fn load(&mut self, cfg: &config::Config) {
        let spec = from_config(cfg, &mut self.ids).unwrap();
        self.ids.prepare(&self.workers, &mut self.estimator);
        self.generation += 1;
        let mut tables = build_tables(&spec, self.generation);
        tables.services.follow(&self.tables.services);
        self.tables = tables;
        self.pipe.sync(&self.tables);
        (self.ids).retire_unconfigured(
            [cfg, cfg],
            self.generation,
            &self.workers,
            &mut self.estimator,
        );
    }

    /// One counts pass of the worker (its timer tick), then the control loop's reclaim.
    fn settle(&mut self) -> usize {
        self.now_ms += 100;
        self.pipe
            .tick(&self.tables, self.now_ms, &mut Out::default());
        self.ids.recycle(&self.workers)
    }

    fn feed(&mut self, port: usize, frame: Vec<u8>) -> Vec<(usize, Vec<u8>)> {
        let mut out = Out::default();
        self.now_ms += 1;
        self.pipe
            .handle(&self.tables, port, frame, self.now_ms, &mut out);
        out.0
    }

    /// A client SYN from `sport`; the real server it went to.
    fn syn(&mut self, sport: u16) -> Option<Ipv4Addr> {
        let ip = tcp(CLIENT, sport, VIP, 80, TCP_SYN, 1, &[]);
        match self
            .feed(0, eth(WAN_MAC, CLIENT_MAC, 0x0800, &ip))
            .as_slice()
        {
            [(1, f)] => Some(Ipv4Addr::new(f[30], f[31], f[32], f[33])),
            _ => None,
        }
    }

    /// Connections scheduled to `rs` of the service, as `-Ln --stats` shows them.
    fn conns(&self, last: u8) -> u64 {
        let id = self.ids.get(SVC, rs(last)).expect("configured");
        self.estimator.stats(&self.workers, id).conns
    }
}

fn cfg(servers: &[u8]) -> config::Config {
    config::from_str(&yaml(servers), "t.yaml").unwrap()
}

/// Issue #25 item 4: an autoscaler adds a new real server and deletes it again, all day
/// (4 configured ones stay); the deleted servers' ids are recycled, so they stay bounded
/// (before: the 4,093rd add was refused, "more than 4096 distinct real servers since rvsd
/// started").
#[test]
fn churning_100000_real_servers_through_one_slot_keeps_ids_bounded() {
    let four = cfg(&[11, 12, 13, 14]);
    let mut d = Director::new(&[11, 12, 13, 14]);
    let start = std::time::Instant::now();
    for i in 0..100_000u32 {
        // A server never seen before: 198.19.0.15 or .16, port 1..=60000.
        let mut five = four.clone();
        let mut added = five.services[0].real_servers[0];
        added.address = Ipv4Addr::new(198, 19, 0, 15 + (i / 60_000) as u8).into();
        added.port = 1 + (i % 60_000) as u16;
        five.services[0].real_servers.push(added);
        d.load(&five);
        d.load(&four);
        d.settle();
        assert!(
            d.ids.len() <= 6,
            "cycle {i}: {} ids handed out for 5 real servers",
            d.ids.len()
        );
    }
    assert_eq!(d.ids.in_use(), 4);
    eprintln!("100000 add/delete cycles in {:?}", start.elapsed());
}

/// Issue #25 item 4: an id is not reused while a connection of the deleted server lives;
/// once it has expired, it is.
#[test]
fn an_id_a_live_connection_refers_to_is_not_reused() {
    let mut d = Director::new(&[11]);
    let old = d.ids.get(SVC, rs(11)).unwrap();
    assert_eq!(d.syn(1000), Some(RS1));
    d.load(&cfg(&[]));
    for _ in 0..3 {
        assert_eq!(d.settle(), 0, "the SYN_RECV connection still names the id");
    }
    // A new real server while the id drains: another id.
    d.load(&cfg(&[12]));
    let new = d.ids.get(SVC, rs(12)).unwrap();
    assert_ne!(new, old);
    // The connection expires (SYN_RECV: 60 s), then the id is free again.
    d.now_ms += 61_000;
    d.settle();
    d.settle();
    d.load(&cfg(&[12, 13]));
    assert_eq!(d.ids.get(SVC, rs(13)), Some(old), "the freed id is reused");
    assert_eq!(d.conns(13), 0, "and starts at zero");
}

/// Issue #25 item 2: a service deleted (`-C`, `-D`, a REST delete, a reload without it) and
/// added again starts at zero, as IPVS frees a deleted service's statistics.
#[test]
fn a_service_deleted_and_added_again_starts_at_zero() {
    let mut d = Director::new(&[11]);
    for p in 0..6 {
        assert_eq!(d.syn(1000 + p), Some(RS1));
    }
    assert_eq!(d.conns(11), 6);
    // -C (or -D, or a reload without the service), connections still there.
    d.load(&cfg(&[]));
    d.settle();
    // -A and -a again: the server had connections when deleted, so it gets its id back,
    // but not its old statistics.
    d.load(&cfg(&[11]));
    assert_eq!(
        d.conns(11),
        0,
        "the re-created service's real server starts at zero"
    );
    for p in 0..10 {
        assert_eq!(d.syn(2000 + p), Some(RS1));
    }
    assert_eq!(d.conns(11), 10, "6 + 10 before the fix");
}

/// Issue #25 item 2: a real server deleted with `-d` and added anew with `-a` starts at
/// zero; `-Z` still zeroes one that stays.
#[test]
fn a_real_server_deleted_and_added_again_starts_at_zero_and_zero_keeps_its_meaning() {
    let mut d = Director::new(&[11, 12]);
    for p in 0..4 {
        d.syn(1000 + p);
    }
    assert_eq!((d.conns(11), d.conns(12)), (2, 2));
    d.load(&cfg(&[12]));
    d.load(&cfg(&[11, 12]));
    assert_eq!(
        (d.conns(11), d.conns(12)),
        (0, 2),
        "only the re-added one restarts"
    );
    // -Z on the service: both restart.
    let ids = [11, 12].map(|i| d.ids.get(SVC, rs(i)).unwrap());
    d.estimator.zero(&d.workers, ids);
    assert_eq!((d.conns(11), d.conns(12)), (0, 0));
    d.syn(3000);
    assert_eq!(d.conns(11) + d.conns(12), 1);
}

/// Issue #25 item 4: more than 4,096 (service, real server) entries (before: refused,
/// "more than 4096 distinct real servers"); the ids beyond the first 4,096 are counted by
/// the worker like the others.
#[test]
fn real_servers_beyond_4096_are_scheduled_and_counted() {
    let mut text = yaml(&[11]);
    text.push_str("  - { proto: tcp, vip: 198.18.0.101, port: 80, scheduler: rr, method: masq,\n      real_servers: [");
    for i in 0..5000u32 {
        text.push_str(&format!("{{ address: 198.19.0.12, port: {} }}, ", 1000 + i));
    }
    text.push_str("] }\n");
    let mut d = Director::new(&[]);
    d.load(&config::from_str(&text, "t.yaml").unwrap());
    // Some (service, real server) entry's id is past the first segment of the workers'
    // counters (which one depends on the order ids are given in).
    let svc2 = "tcp 198.18.0.101:80";
    let highest = (1000..6000)
        .map(|p| {
            d.ids
                .get(svc2, SocketAddr::from(([198, 19, 0, 12], p)))
                .unwrap()
        })
        .max()
        .unwrap();
    assert!(highest >= 4096, "highest id {highest}");
    let mut moved = config::from_str(&text, "t.yaml").unwrap();
    // The first service's server moves to a high id: delete it while the big service is
    // there, then add it back under another port.
    moved.services[0].real_servers[0].port = 8080;
    d.load(&moved);
    let id = d
        .ids
        .get(SVC, SocketAddr::from(([198, 19, 0, 11], 8080)))
        .unwrap();
    assert!(id >= 4096, "id {id}");
    for p in 0..3 {
        assert_eq!(d.syn(1000 + p), Some(RS1));
    }
    let stats = d.estimator.stats(&d.workers, id);
    assert_eq!(stats.conns, 3);
    assert_eq!(stats.inpkts, 3);
    d.now_ms += 100;
    d.settle();
    let c = d.workers[0].real_servers.get(id as usize).unwrap();
    let load = |a: &std::sync::atomic::AtomicU32| a.load(std::sync::atomic::Ordering::Relaxed);
    assert_eq!(
        load(&c.active) + load(&c.inactive),
        3,
        "the worker published its counts"
    );
    assert_eq!(load(&c.refs), 3);
}

/// Issue #25 item 2, Prometheus: a service's counters (its real servers' plus what its
/// deleted ones counted) never go back while it exists; deleting the service frees them,
/// so a re-created one starts a new count at zero (a counter reset after the series was
/// absent); `-Z` of the service zeroes them too.
#[test]
fn a_service_keeps_its_deleted_real_servers_counts_until_it_is_deleted() {
    let mut d = Director::new(&[11, 12]);
    for p in 0..4 {
        d.syn(1000 + p);
    }
    let total = |d: &Director, servers: &[u8]| -> u64 {
        let live: u64 = servers.iter().map(|&i| d.conns(i)).sum();
        live + d.estimator.retired(SVC).conns
    };
    assert_eq!(total(&d, &[11, 12]), 4);
    d.load(&cfg(&[12]));
    assert_eq!(
        total(&d, &[12]),
        4,
        "-d keeps the service's count (was 2 before the fix)"
    );
    d.load(&cfg(&[11, 12]));
    assert_eq!(
        total(&d, &[11, 12]),
        4,
        "-a of the same server: it restarts, the service not"
    );
    d.estimator.zero_services([SVC]);
    let ids = [11, 12].map(|i| d.ids.get(SVC, rs(i)).unwrap());
    d.estimator.zero(&d.workers, ids);
    assert_eq!(total(&d, &[11, 12]), 0, "-Z");
    d.syn(2000);
    d.load(&cfg(&[12]));
    d.load(&cfg(&[]));
    d.load(&cfg(&[11, 12]));
    assert_eq!(total(&d, &[11, 12]), 0, "-D frees the service's statistics");
}

/// Issue #25 item 4: 100,000 services of 10 real servers each, as `rvsd --check` turns the
/// parsed configuration into the daemon's spec (before: refused past 4,096 entries, "more
/// than 4096 distinct real servers since rvsd started"). The YAML parsing of such a file is
/// left out: it takes minutes in a debug build.
#[test]
fn a_configuration_of_100000_services_of_10_real_servers_is_accepted() {
    let servers: Vec<String> = (0..10)
        .map(|i| format!("{{ address: 198.19.0.{} }}", 11 + i))
        .collect();
    let one = format!(
        "interfaces:
  - {{ name: wan0, device: net_null0, addresses: [10.255.255.254/8] }}
  - {{ name: lan0, device: net_null1, addresses: [198.19.0.254/24] }}
services:\n  - {{ proto: tcp, vip: 10.0.0.0, port: 80, scheduler: rr, method: masq, real_servers: [{}] }}\n",
        servers.join(", ")
    );
    let mut cfg = config::from_str(&one, "t.yaml").unwrap();
    let template = cfg.services[0].clone();
    cfg.services = (0..100_000u32)
        .map(|i| {
            let mut s = template.clone();
            if let config::ServiceKey::Addr(a) = &mut s.key {
                a.vip = Ipv4Addr::from(0x0a00_0000 + i).into();
            }
            s
        })
        .collect();
    let mut ids = RealServerIds::default();
    let spec = from_config(&cfg, &mut ids).expect("accepted");
    assert_eq!(spec.services.len(), 100_000);
    assert_eq!(ids.len(), 1_000_000);
}
