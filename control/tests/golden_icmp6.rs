//! Tier-2 golden pcap tests for ICMPv6 errors about IPv6 connections (IPVS
//! `ip_vs_in_icmp_v6` / `ip_vs_out_icmp_v6`): the real rvsd on net_pcap vdevs, IPv6 on both
//! ports (see golden_pcap6.rs). Expected frames are built here with the shared
//! independent builders, and compared field by field and byte by byte.
//!
//! The shared harness runs one worker; `errors_reach_the_worker_that_owns_the_quoted_flow`
//! runs two (two-queue pcap ports) to prove errors are steered to the quoted flow's owner.

mod common;
use common::*;
use std::net::Ipv6Addr;

const NAT6_SERVICES: &str = r#"services:
  - proto: tcp
    vip: "2001:2::100"
    port: 80
    scheduler: rr
    method: masq
    real_servers:
      - { address: "2001:2:0:1::11", port: 8080 }
  - proto: udp
    vip: "2001:2::100"
    port: 5353
    scheduler: rr
    method: masq
    real_servers:
      - { address: "2001:2:0:1::11", port: 53 }
"#;

const DR6_SERVICES: &str = r#"services:
  - proto: tcp
    vip: "2001:2::100"
    port: 80
    scheduler: rr
    method: route
    real_servers:
      - { address: "2001:2:0:1::11" }
"#;

/// A router on the client's side, and one between the director and the real servers.
const WAN_ROUTER: Ipv6Addr = Ipv6Addr::new(0x2001, 2, 0, 0, 0, 0, 0, 7);
const LAN_ROUTER: Ipv6Addr = Ipv6Addr::new(0x2001, 2, 0, 1, 0, 0, 0, 7);

/// An ICMPv6 error `ty`/`code` from `src` to `dst` (hop limit `hop`), with `rest` after
/// the checksum and the quote of `quoted` (at most the first `quote_len` bytes).
#[allow(clippy::too_many_arguments)]
fn error6(
    src: Ipv6Addr,
    dst: Ipv6Addr,
    hop: u8,
    ty: u8,
    code: u8,
    rest: [u8; 4],
    quoted: &[u8],
    quote_len: usize,
) -> Vec<u8> {
    let mut body = rest.to_vec();
    body.extend_from_slice(&quoted[..quote_len.min(quoted.len())]);
    icmp6(src, dst, hop, ty, code, &body)
}

#[test]
fn nat6_errors_are_translated_both_ways() {
    let dir = TempDir::new("icmp6-nat");
    let (wan_mac, lan_mac) = port_macs6(&dir, NAT6_SERVICES);
    let c = |f: &[u8]| eth(wan_mac, CLIENT_MAC, 0x86dd, f);
    let r = |f: &[u8]| eth(lan_mac, RS1_MAC, 0x86dd, f);
    let mtu = 1280u32.to_be_bytes();

    // Flow A, TCP: the client connects; the real server answers with a big segment, which
    // a router on the client's side cannot forward ("packet too big", MTU 1280). The
    // client sends a big segment too, which a router between the director and the real
    // server cannot forward.
    let syn = tcp6(CLIENT6, 40000, VIP6, 80, TCP_SYN, 1000, b"");
    let big_reply_seen = tcp6(VIP6, 80, CLIENT6, 40000, TCP_ACK, 5001, &[b'r'; 64]);
    let big_reply_at_rs = tcp6(RS1_6, 8080, CLIENT6, 40000, TCP_ACK, 5001, &[b'r'; 64]);
    let ptb_from_wan = error6(WAN_ROUTER, VIP6, 64, 2, 0, mtu, &big_reply_seen, 1232);
    let big_req_sent = tcp6(CLIENT6, 40000, VIP6, 80, TCP_ACK, 1001, &[b'q'; 64]);
    let big_req_at_rs = tcp6(CLIENT6, 40000, RS1_6, 8080, TCP_ACK, 1001, &[b'q'; 64]);
    let ptb_from_lan = error6(LAN_ROUTER, CLIENT6, 64, 2, 0, mtu, &big_req_at_rs, 1232);

    // Flow B, UDP: the real server has nothing on port 53 ("port unreachable"; Linux
    // quotes the whole datagram); the client's side says "destination unreachable,
    // address unreachable" about a reply, quoting only its first 48 bytes.
    let query = udp6(CLIENT6, 53000, VIP6, 5353, b"query");
    let query_at_rs = udp6(CLIENT6, 53000, RS1_6, 53, b"query");
    let port_unreach = error6(RS1_6, CLIENT6, 64, 1, 4, [0; 4], &query_at_rs, 1232);
    let answer_seen = udp6(VIP6, 5353, CLIENT6, 53000, b"answer");
    let answer_at_rs = udp6(RS1_6, 53, CLIENT6, 53000, b"answer");
    let addr_unreach = error6(WAN_ROUTER, VIP6, 64, 1, 3, [0; 4], &answer_seen, 48);

    // Not related to any connection: dropped and counted.
    let stray = error6(
        WAN_ROUTER,
        VIP6,
        64,
        1,
        0,
        [0; 4],
        &tcp6(VIP6, 80, CLIENT6, 1, TCP_ACK, 1, b""),
        1232,
    );
    // Quote cut before the ports: dropped and counted.
    let cut = error6(WAN_ROUTER, VIP6, 64, 3, 0, [0; 4], &big_reply_seen, 44);

    let wan_in = vec![
        ns_frame(CLIENT_MAC, CLIENT6, VIP6, None),
        c(&syn),
        c(&query),
        c(&ptb_from_wan),
        c(&addr_unreach),
        c(&stray),
        c(&cut),
    ];
    let lan_in = vec![
        na_frame(RS1_MAC, lan_mac, RS1_6, LAN_IP6, 0x60),
        r(&port_unreach),
        eth(lan_mac, [2, 0, 0, 0, 1, 7], 0x86dd, &ptb_from_lan),
    ];
    let (wan_out, lan_out, stats, _) = run_rvsd_pcap6(&dir, NAT6_SERVICES, &wan_in, &lan_in, false);

    // To the real server (held until its MAC is known, then in arrival order): the SYN,
    // the query, and the client side's errors about what the RS sent, to the RS, from the
    // router, MTU kept, hop limit decremented as every packet towards the real server
    // (#25 item 6).
    let to_rs = |f: &[u8]| with_hop_limit(eth(RS1_MAC, lan_mac, 0x86dd, f), f[7] - 1);
    assert_frames(
        "lan out",
        &lan_out,
        &[
            ns_frame(lan_mac, LAN_IP6, RS1_6, None),
            to_rs(&tcp6(CLIENT6, 40000, RS1_6, 8080, TCP_SYN, 1000, b"")),
            to_rs(&query_at_rs),
            to_rs(&error6(
                WAN_ROUTER,
                RS1_6,
                64,
                2,
                0,
                mtu,
                &big_reply_at_rs,
                1232,
            )),
            to_rs(&error6(
                WAN_ROUTER,
                RS1_6,
                64,
                1,
                3,
                [0; 4],
                &answer_at_rs,
                48,
            )),
        ],
    );
    // To the client: the real server's side's errors about what the client sent, from
    // the VIP whoever sent them (IPVS sets the outer source to the VIP: the addresses
    // behind the director stay hidden), hop limit decremented as routed.
    let to_client = |f: &[u8]| eth(CLIENT_MAC, wan_mac, 0x86dd, f);
    assert_frames(
        "wan out",
        &wan_out,
        &[
            our_na(wan_mac, CLIENT_MAC, VIP6, CLIENT6, 0x60),
            to_client(&error6(VIP6, CLIENT6, 63, 1, 4, [0; 4], &query, 1232)),
            to_client(&error6(VIP6, CLIENT6, 63, 2, 0, mtu, &big_req_sent, 1232)),
        ],
    );
    assert_eq!(counter(&stats, "icmpv6_errors_translated"), 4, "{stats}");
    assert_eq!(drops(&stats, "icmpv6_error_no_connection"), 1, "{stats}");
    assert_eq!(drops(&stats, "icmpv6_error_malformed"), 1, "{stats}");
    assert_eq!(counter(&stats, "conns_created"), 2, "{stats}");
}

#[test]
fn fullnat6_errors_are_translated_both_ways() {
    const LIP6: Ipv6Addr = Ipv6Addr::new(0x2001, 2, 0, 1, 0, 0, 0, 0xfa);
    let services = r#"snat_pools:
  - { name: p6, addresses: ["2001:2:0:1::fa"], ports: 7000-7009 }
services:
  - proto: udp
    vip: "2001:2::100"
    port: 5353
    scheduler: rr
    method: fullnat
    snat_pool: p6
    real_servers:
      - { address: "2001:2:0:1::11", port: 53 }
"#;
    let dir = TempDir::new("icmp6-fullnat");
    let (wan_mac, lan_mac) = port_macs6(&dir, services);
    let c = |f: &[u8]| eth(wan_mac, CLIENT_MAC, 0x86dd, f);
    let r = |f: &[u8]| eth(lan_mac, RS1_MAC, 0x86dd, f);
    // The query goes out as LIP:7000 -> RS:53; the real server answers once, then has
    // nothing listening ("port unreachable" to the local address, quoting what rvs sent).
    let query = udp6(CLIENT6, 53000, VIP6, 5353, b"query");
    let query_at_rs = udp6(LIP6, 7000, RS1_6, 53, b"query");
    let answer_at_rs = udp6(RS1_6, 53, LIP6, 7000, b"answer");
    let answer_seen = udp6(VIP6, 5353, CLIENT6, 53000, b"answer");
    let port_unreach = error6(RS1_6, LIP6, 64, 1, 4, [0; 4], &query_at_rs, 1232);
    // A router on the client's side cannot deliver the answer.
    let addr_unreach = error6(WAN_ROUTER, VIP6, 64, 1, 3, [0; 4], &answer_seen, 1232);
    let wan_in = vec![
        ns_frame(CLIENT_MAC, CLIENT6, VIP6, None),
        c(&query),
        c(&addr_unreach),
    ];
    let lan_in = vec![
        na_frame(RS1_MAC, lan_mac, RS1_6, LAN_IP6, 0x60),
        r(&answer_at_rs),
        r(&port_unreach),
    ];
    let (wan_out, lan_out, stats, _) = run_rvsd_pcap6(&dir, services, &wan_in, &lan_in, false);
    let to_rs = |f: &[u8]| with_hop_limit(eth(RS1_MAC, lan_mac, 0x86dd, f), f[7] - 1);
    // To the real server: the query, then the client side's error about the answer,
    // from the local address (the real server never sees the client's side), quoting
    // what the real server sent.
    assert_frames(
        "lan out",
        &lan_out,
        &[
            ns_frame(lan_mac, LAN_IP6, RS1_6, None),
            to_rs(&query_at_rs),
            to_rs(&error6(LIP6, RS1_6, 64, 1, 3, [0; 4], &answer_at_rs, 1232)),
        ],
    );
    // To the client: the answer and the real server's error about the query, from the
    // VIP, quoting what the client sent, hop limit decremented.
    let to_client = |f: &[u8]| eth(CLIENT_MAC, wan_mac, 0x86dd, f);
    let all = wan_out
        .iter()
        .filter(|f| f.len() > 20 && f[20] == 58 && f[54] != 136)
        .cloned()
        .collect::<Vec<_>>();
    assert_frames(
        "wan out (ICMPv6 errors)",
        &all,
        &[to_client(&error6(
            VIP6, CLIENT6, 63, 1, 4, [0; 4], &query, 1232,
        ))],
    );
    assert!(
        wan_out.contains(&with_hop_limit(to_client(&answer_seen), 63)),
        "the answer reached the client"
    );
    assert_eq!(counter(&stats, "icmpv6_errors_translated"), 2, "{stats}");
    assert_eq!(counter(&stats, "conns_created"), 1, "{stats}");
}

#[test]
fn dr6_client_side_errors_are_relayed_to_the_real_server() {
    let dir = TempDir::new("icmp6-dr");
    let (wan_mac, lan_mac) = port_macs6(&dir, DR6_SERVICES);
    let c = |f: &[u8]| eth(wan_mac, CLIENT_MAC, 0x86dd, f);
    let syn = tcp6(CLIENT6, 40000, VIP6, 80, TCP_SYN, 7, b"");
    // The real server answers from the VIP straight to the client; a router on the way
    // reports "packet too big" and another "hop limit exceeded in transit".
    let reply = tcp6(VIP6, 80, CLIENT6, 40000, TCP_SYN | TCP_ACK, 9, &[b'x'; 40]);
    let ptb = error6(
        WAN_ROUTER,
        VIP6,
        64,
        2,
        0,
        1400u32.to_be_bytes(),
        &reply,
        1232,
    );
    let te = error6(WAN_ROUTER, VIP6, 61, 3, 0, [0; 4], &reply, 1232);
    let wan_in = vec![c(&syn), c(&ptb), c(&te)];
    let lan_in = vec![na_frame(RS1_MAC, lan_mac, RS1_6, LAN_IP6, 0x60)];
    let (wan_out, lan_out, stats, _) = run_rvsd_pcap6(&dir, DR6_SERVICES, &wan_in, &lan_in, false);
    let to_rs = |f: &[u8]| with_hop_limit(eth(RS1_MAC, lan_mac, 0x86dd, f), f[7] - 1);
    assert_frames(
        "lan out",
        &lan_out,
        &[
            ns_frame(lan_mac, LAN_IP6, RS1_6, None),
            to_rs(&syn),
            to_rs(&ptb),
            to_rs(&te),
        ],
    );
    assert_frames("wan out", &wan_out, &[]);
    assert_eq!(counter(&stats, "icmpv6_errors_translated"), 2, "{stats}");
}

/// Run rvsd with two workers on two-queue pcap ports (queue `q` of a port reads
/// `{port}-in-{q}.pcap` and writes `{port}-out-{q}.pcap`; worker `q` polls queue `q`).
/// Everything is fed to queue 0, so worker 0 receives it all and must hand each flow's
/// packets to the flow's owner over the steering rings. Returns (wan frames sent, lan
/// frames sent — both queues, queue 0 first — and the stats JSON).
fn run_two_workers(
    dir: &TempDir,
    services: &str,
    wan_in: &[Vec<u8>],
    lan_in: &[Vec<u8>],
) -> (Vec<Vec<u8>>, Vec<Vec<u8>>, serde_json::Value) {
    let mut devices = vec![];
    for (i, (port, input)) in [("wan", wan_in), ("lan", lan_in)].iter().enumerate() {
        write_pcap(&dir.path(&format!("{port}-in-0.pcap")), input);
        write_pcap(&dir.path(&format!("{port}-in-1.pcap")), &[]);
        let q = |kind: &str, n: usize| {
            dir.path(&format!("{port}-{kind}-{n}.pcap"))
                .display()
                .to_string()
        };
        devices.push(format!(
            "net_pcap{i},rx_pcap={},rx_pcap={},tx_pcap={},tx_pcap={}",
            q("in", 0),
            q("in", 1),
            q("out", 0),
            q("out", 1)
        ));
    }
    let yaml = format!(
        r#"dataplane:
  main_lcore: 0
  worker_lcores: [1, 2]
  polling: adaptive
  eal_args: ["--no-huge", "-m", "256"]
  mbufs: 4095
interfaces:
  - name: wan0
    device: "{}"
    addresses: [198.18.0.254/24, "2001:2::fe/64"]
    exception_path: false
  - name: lan0
    device: "{}"
    addresses: [198.19.0.254/24, "2001:2:0:1::fe/64"]
    exception_path: false
admin:
  listen: 127.0.0.1:0
{services}"#,
        devices[0], devices[1]
    );
    std::fs::write(dir.path("rvsd.yaml"), &yaml).unwrap();
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_rvsd"))
        .arg("--config")
        .arg(dir.path("rvsd.yaml"))
        .args(["--exit-when-idle", "300", "--no-garp", "--stats-file"])
        .arg(dir.path("stats.json"))
        .output()
        .expect("run rvsd");
    assert!(
        out.status.success(),
        "rvsd failed: {:?}\nstdout:\n{}\nstderr:\n{}",
        out.status,
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    let stats: serde_json::Value =
        serde_json::from_slice(&std::fs::read(dir.path("stats.json")).expect("stats file"))
            .expect("stats json");
    let sent = |port: &str| {
        let mut v = read_pcap(&dir.path(&format!("{port}-out-0.pcap")));
        v.extend(read_pcap(&dir.path(&format!("{port}-out-1.pcap"))));
        v
    };
    (sent("wan"), sent("lan"), stats)
}

/// The ICMPv6 error frames (types 1-4) among `frames`, sorted (workers send on their own
/// queues, so only the set is deterministic).
fn icmp6_errors(frames: &[Vec<u8>]) -> Vec<Vec<u8>> {
    let mut v: Vec<Vec<u8>> = frames
        .iter()
        .filter(|f| {
            f.len() > 54 && f[12..14] == [0x86, 0xdd] && f[20] == 58 && (1..=4).contains(&f[54])
        })
        .cloned()
        .collect();
    v.sort();
    v
}

#[test]
fn errors_reach_the_worker_that_owns_the_quoted_flow() {
    use dataplane::pipeline::owner_of6;
    let dir = TempDir::new("icmp6-2w");
    let (_, _, stats) = run_two_workers(&dir, NAT6_SERVICES, &[], &[]);
    let mac = |i: usize| port_mac(&stats, i);
    let (wan_mac, lan_mac) = (mac(0), mac(1));
    // One client owned by each worker; all their packets arrive at worker 0.
    let client = |w: usize| {
        (1..200u16)
            .map(|i| Ipv6Addr::new(0x2001, 2, 0, 0, 0, 0, 0x10, i))
            .find(|&c| owner_of6(c, 2) == w)
            .unwrap()
    };
    let clients = [client(0), client(1)];
    let mtu = 1280u32.to_be_bytes();
    let c = |f: &[u8]| eth(wan_mac, CLIENT_MAC, 0x86dd, f);
    let mut wan_in = vec![];
    let mut lan_in = vec![na_frame(RS1_MAC, lan_mac, RS1_6, LAN_IP6, 0x60)];
    let (mut want_lan, mut want_wan) = (vec![], vec![]);
    let to_rs = |f: &[u8]| with_hop_limit(eth(RS1_MAC, lan_mac, 0x86dd, f), f[7] - 1);
    for &cl in &clients {
        wan_in.push(ns_frame(CLIENT_MAC, cl, VIP6, None));
        wan_in.push(c(&tcp6(cl, 40000, VIP6, 80, TCP_SYN, 1, b"")));
    }
    for &cl in &clients {
        // Client side: "packet too big" about a reply; to the RS about its own packet.
        let seen = tcp6(VIP6, 80, cl, 40000, TCP_ACK, 9, &[b'r'; 32]);
        let at_rs = tcp6(RS1_6, 8080, cl, 40000, TCP_ACK, 9, &[b'r'; 32]);
        wan_in.push(c(&error6(WAN_ROUTER, VIP6, 64, 2, 0, mtu, &seen, 1232)));
        want_lan.push(to_rs(&error6(
            WAN_ROUTER, RS1_6, 64, 2, 0, mtu, &at_rs, 1232,
        )));
        // Real server side: "port unreachable"; to the client from the VIP.
        let got = tcp6(cl, 40000, RS1_6, 8080, TCP_SYN, 1, b"");
        let sent = tcp6(cl, 40000, VIP6, 80, TCP_SYN, 1, b"");
        lan_in.push(eth(
            lan_mac,
            RS1_MAC,
            0x86dd,
            &error6(RS1_6, cl, 64, 1, 4, [0; 4], &got, 1232),
        ));
        want_wan.push(eth(
            CLIENT_MAC,
            wan_mac,
            0x86dd,
            &error6(VIP6, cl, 63, 1, 4, [0; 4], &sent, 1232),
        ));
    }
    let (wan_out, lan_out, stats) = run_two_workers(&dir, NAT6_SERVICES, &wan_in, &lan_in);
    want_lan.sort();
    want_wan.sort();
    assert_frames("lan errors", &icmp6_errors(&lan_out), &want_lan);
    assert_frames("wan errors", &icmp6_errors(&wan_out), &want_wan);
    assert_eq!(counter(&stats, "icmpv6_errors_translated"), 4, "{stats}");
    assert_eq!(drops(&stats, "icmpv6_error_no_connection"), 0, "{stats}");
    assert_eq!(counter(&stats, "conns_created"), 2, "{stats}");
    // Worker 0 received everything and handed worker 1 its client's SYN and both errors.
    let per = stats["per_worker"].as_array().expect("per_worker");
    assert!(per[0]["steered_out"].as_u64().unwrap() >= 3, "{stats}");
    assert_eq!(per[1]["conns_created"].as_u64(), Some(1), "{stats}");
}
