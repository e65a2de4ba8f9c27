//! `/v1/stats` on a running rvsd: the devices' own counters (`hw`) are read live and
//! agree with the workers' counters.

mod common;
use std::net::Ipv4Addr;
use std::time::{Duration, Instant};

use common::{
    arp_frame, eth, free_port, port_mac, spawn_rvsd_config, tcp, write_pcap, RunningRvsd, TempDir,
    CLIENT, CLIENT_MAC, DATAPLANE, TCP_SYN, VIP,
};

const HOST_MAC: [u8; 6] = [0x02, 0, 0, 0, 0, 0x10];

/// rvsd on two pcap ports (wan reads `wan_in`, lan reads nothing), kept running after
/// the input is consumed, with its admin API up.
fn spawn_pcap_rvsd(dir: &TempDir, wan_in: &[Vec<u8>], services: &str) -> RunningRvsd {
    write_pcap(&dir.path("wan-in.pcap"), wan_in);
    write_pcap(&dir.path("lan-in.pcap"), &[]);
    let port = free_port();
    let yaml = format!(
        r#"{DATAPLANE}interfaces:
  - name: wan0
    device: "net_pcap0,rx_pcap={wan_in},tx_pcap={wan_out}"
    addresses: [198.18.0.254/24]
    exception_path: false
  - name: lan0
    device: "net_pcap1,rx_pcap={lan_in},tx_pcap={lan_out}"
    addresses: [198.19.0.254/24]
    exception_path: false
admin:
  listen: 127.0.0.1:{port}
{services}"#,
        wan_in = dir.path("wan-in.pcap").display(),
        wan_out = dir.path("wan-out.pcap").display(),
        lan_in = dir.path("lan-in.pcap").display(),
        lan_out = dir.path("lan-out.pcap").display(),
    );
    std::fs::write(dir.path("rvsd.yaml"), yaml).unwrap();
    spawn_rvsd_config(dir, port, &["--no-garp"])
}

/// Whether every port's device counters equal its workers' counters.
fn consistent(stats: &serde_json::Value) -> bool {
    stats["ports"].as_array().unwrap().iter().all(|p| {
        p["hw"]["ipackets"] == p["rx_packets"]
            && p["hw"]["opackets"] == p["tx_packets"]
            && p["hw"]["ibytes"] == p["rx_bytes"]
            && p["hw"]["obytes"] == p["tx_bytes"]
    })
}

#[test]
fn hw_counters_are_read_live_and_match_the_workers() {
    const N: u64 = 5;
    let dir = TempDir::new("stats-hw");
    let gw = Ipv4Addr::new(198, 18, 0, 1);
    let ours = Ipv4Addr::new(198, 18, 0, 254);
    let requests: Vec<Vec<u8>> = (0..N)
        .map(|_| arp_frame(1, HOST_MAC, gw, [0xff; 6], ours))
        .collect();
    let d = spawn_pcap_rvsd(&dir, &requests, "");

    // The input is read at once; the replies follow. Wait until both are counted.
    let deadline = Instant::now() + Duration::from_secs(10);
    let stats = loop {
        let v: serde_json::Value = ureq::get(&format!("{}/v1/stats", d.base))
            .call()
            .unwrap()
            .into_json()
            .unwrap();
        let wan = &v["ports"][0];
        let settled = wan["rx_packets"] == N && wan["tx_packets"] == N && consistent(&v);
        if settled || Instant::now() >= deadline {
            break v;
        }
        std::thread::sleep(Duration::from_millis(100));
    };
    let wan = &stats["ports"][0];
    assert_eq!(wan["name"], "wan0");
    assert_eq!(wan["rx_packets"], N, "{stats:#}");
    assert_eq!(wan["tx_packets"], N, "ARP replies: {stats:#}");
    assert_eq!(wan["hw"]["ipackets"], N, "device RX: {stats:#}");
    assert_eq!(wan["hw"]["opackets"], N, "device TX: {stats:#}");
    assert!(wan["hw"]["ibytes"].as_u64().unwrap() >= N * 42, "{stats:#}");
    assert!(
        consistent(&stats),
        "device and worker counters differ: {stats:#}"
    );
}

const SERVICE: &str = "services:
  - { proto: tcp, vip: 198.18.0.100, port: 80, scheduler: rr, method: masq,
      real_servers: [{ address: 198.19.0.11 }] }
";

fn get(url: &str) -> ureq::Response {
    ureq::get(url)
        .set("Authorization", "Bearer tok")
        .call()
        .unwrap()
}

fn get_json(url: &str) -> serde_json::Value {
    get(url).into_json().unwrap()
}

fn send(method: &str, url: &str, body: Option<serde_json::Value>) -> u16 {
    let req = ureq::request(method, url).set("Authorization", "Bearer tok");
    let r = match body {
        Some(b) => req.send_json(b),
        None => req.call(),
    };
    match r {
        Ok(r) => r.status(),
        Err(ureq::Error::Status(code, _)) => code,
        Err(e) => panic!("{method} {url}: {e}"),
    }
}

/// Issue #25 item 2 on a running rvsd: connections scheduled to a service, the service
/// deleted and added again through the REST API (what `rvsadm -D`/`-C` then `-A`, `-a`
/// send) starts at zero in the listing (`-Ln --stats`) and in `/metrics` (before: the old
/// service's connections showed again).
#[test]
fn a_service_deleted_and_added_again_through_rest_starts_at_zero() {
    const N: u64 = 6;
    // The port's MAC, from a first run (the pcap device's address does not change).
    let dir = TempDir::new("stats-readd-mac");
    let wan_mac = {
        let d = spawn_pcap_rvsd(&dir, &[], SERVICE);
        port_mac(&get_json(&format!("{}/v1/stats", d.base)), 0)
    };
    let dir = TempDir::new("stats-readd");
    std::fs::write(dir.path("token"), "tok\n").unwrap();
    let admin = format!("  token_file: {}\n{SERVICE}", dir.path("token").display());
    let syns: Vec<Vec<u8>> = (0..N as u16)
        .map(|p| {
            eth(
                wan_mac,
                CLIENT_MAC,
                0x0800,
                &tcp(CLIENT, 1000 + p, VIP, 80, TCP_SYN, 1, &[]),
            )
        })
        .collect();
    let d = spawn_pcap_rvsd(&dir, &syns, &admin);
    let url = |p: &str| format!("{}{p}", d.base);
    let svc = url("/v1/services/tcp:198.18.0.100:80");
    let conns = || get_json(&svc)["stats"]["conns"].as_u64().unwrap();
    let deadline = Instant::now() + Duration::from_secs(10);
    while conns() < N && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(100));
    }
    assert_eq!(conns(), N, "{}", get_json(&svc));

    assert_eq!(send("DELETE", &svc, None), 204);
    let body = serde_json::json!({
        "service": { "kind": "inet", "protocol": "tcp", "addr": "198.18.0.100", "port": 80 },
        "scheduler": "rr"
    });
    assert_eq!(send("POST", &url("/v1/services"), Some(body)), 201);
    let rs =
        serde_json::json!({ "addr": "198.19.0.11", "port": 80, "method": "masq", "weight": 1 });
    assert_eq!(send("POST", &format!("{svc}/real-servers"), Some(rs)), 201);
    let v = get_json(&svc);
    assert_eq!(
        v["stats"]["conns"], 0,
        "the re-created service starts at zero: {v}"
    );
    assert_eq!(v["real_servers"][0]["stats"]["conns"], 0, "{v}");
    let metrics = ureq::get(&url("/metrics"))
        .call()
        .unwrap()
        .into_string()
        .unwrap();
    let line = (metrics.lines())
        .find(|l| l.starts_with("rvs_ipvs_connections_total{") && l.contains("198.18.0.100"))
        .unwrap_or_else(|| panic!("no service row: {metrics}"));
    assert!(line.ends_with(" 0"), "{line}");
}
