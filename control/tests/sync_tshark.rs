//! rvs's IPVS sync messages as Wireshark's `ipvs` dissector (tshark, a Debian package the
//! install script brings) reads them: the wire format is the kernel's, not only rvs's own
//! idea of it.

mod common;
use common::*;

use control::sync::wire::{conn_flags, MessageWriter, SyncConn, SYNC_GROUP, SYNC_PORT};
use std::process::Command;

#[test]
fn tshark_decodes_a_version_1_message() {
    let conn = |cport: u16| SyncConn {
        protocol: 6,
        flags: conn_flags::MASQ,
        state: 1,
        client: (CLIENT.into(), cport),
        virt: (VIP.into(), 80),
        dest: (RS1.into(), 8080),
        fwmark: 0,
        timeout_s: 900,
        seq: None,
        fullnat: None,
    };
    let mut w = MessageWriter::new(5, 1472);
    assert!(w.push(&conn(40000)).unwrap().is_none());
    assert!(w.push(&conn(40001)).unwrap().is_none());
    let msg = w.take().unwrap();
    let mut udp = Vec::new();
    udp.extend_from_slice(&SYNC_PORT.to_be_bytes());
    udp.extend_from_slice(&SYNC_PORT.to_be_bytes());
    udp.extend_from_slice(&((8 + msg.len()) as u16).to_be_bytes());
    udp.extend_from_slice(&[0, 0]);
    udp.extend_from_slice(&msg);
    let frame = eth(
        [0x01, 0, 0x5e, 0, 0, 0x51],
        CLIENT_MAC,
        0x0800,
        &ipv4(LAN_IP, SYNC_GROUP, 17, 1, &udp),
    );
    let dir = TempDir::new("sync-tshark");
    let pcap = dir.path("sync.pcap");
    write_pcap(&pcap, &[frame]);
    let out = Command::new("tshark")
        .args(["-r"])
        .arg(&pcap)
        .args(["-T", "fields", "-E", "separator=;", "-E", "aggregator=,"])
        .args([
            "-e",
            "ipvs.syncid",
            "-e",
            "ipvs.conncount",
            "-e",
            "ipvs.version",
        ])
        .args(["-e", "ipvs.cport", "-e", "ipvs.vport", "-e", "ipvs.dport"])
        .args(["-e", "ipvs.caddr", "-e", "ipvs.daddr", "-e", "ipvs.timeout"])
        .output()
        .expect("tshark runs (bash scripts/install-deps.sh installs it)");
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(
        text.trim(),
        "5;2;1;40000,40001;80,80;8080,8080;198.18.0.1,198.18.0.1;198.19.0.11,198.19.0.11;900,900"
    );
}
