//! `/v1/stats` on a running rvsd: the devices' own counters (`hw`) are read live and
//! agree with the workers' counters.

mod common;
use std::net::Ipv4Addr;
use std::time::{Duration, Instant};

use common::{
    arp_frame, free_port, spawn_rvsd_config, write_pcap, RunningRvsd, TempDir, DATAPLANE,
};

const HOST_MAC: [u8; 6] = [0x02, 0, 0, 0, 0, 0x10];

/// rvsd on two pcap ports (wan reads `wan_in`, lan reads nothing), kept running after
/// the input is consumed, with its admin API up.
fn spawn_pcap_rvsd(dir: &TempDir, wan_in: &[Vec<u8>]) -> RunningRvsd {
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
"#,
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
    let d = spawn_pcap_rvsd(&dir, &requests);

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
