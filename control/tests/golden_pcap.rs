//! Tier-2 golden pcap tests: the real rvsd binary with its real worker on DPDK's net_pcap
//! vdevs. Each test writes input pcaps, runs rvsd until its input is drained, and compares
//! the output pcaps field by field with expected frames built independently here.
//!
//! Each test is its own rvsd process (EAL initialises once per process) in in-memory mode,
//! so tests run in parallel without sharing DPDK files.

mod common;
use common::*;

const NAT_SERVICES: &str = r#"services:
  - proto: tcp
    vip: 198.18.0.100
    port: 80
    scheduler: rr
    method: masq
    real_servers:
      - { address: 198.19.0.12, port: 80 }
      - { address: 198.19.0.11, port: 80 }
  - proto: udp
    vip: 198.18.0.100
    port: 5353
    scheduler: rr
    method: masq
    real_servers:
      - { address: 198.19.0.12, port: 5353 }
      - { address: 198.19.0.11, port: 5353 }
"#;

fn with_ttl(mut frame: Vec<u8>, ttl: u8) -> Vec<u8> {
    // Rebuild the IPv4 header checksum after changing the TTL.
    frame[14 + 8] = ttl;
    frame[14 + 10] = 0;
    frame[14 + 11] = 0;
    let c = csum(&frame[14..34], 0);
    frame[24..26].copy_from_slice(&c.to_be_bytes());
    frame
}

#[test]
fn arp_replies_for_vip_and_own_address_only() {
    let dir = TempDir::new("arp");
    let wan_in = vec![
        arp_frame(1, CLIENT_MAC, CLIENT, BROADCAST, VIP),
        arp_frame(1, CLIENT_MAC, CLIENT, BROADCAST, WAN_IP),
        arp_frame(
            1,
            CLIENT_MAC,
            CLIENT,
            BROADCAST,
            "198.18.0.77".parse().unwrap(),
        ),
    ];
    let (wan_out, lan_out, stats, _) = run_rvsd_pcap(&dir, NAT_SERVICES, &wan_in, &[]);
    let wan_mac = port_mac(&stats, 0);
    assert_frames(
        "wan out",
        &wan_out,
        &[
            eth(
                CLIENT_MAC,
                wan_mac,
                0x0806,
                &arp(2, wan_mac, VIP, CLIENT_MAC, CLIENT),
            ),
            eth(
                CLIENT_MAC,
                wan_mac,
                0x0806,
                &arp(2, wan_mac, WAN_IP, CLIENT_MAC, CLIENT),
            ),
        ],
    );
    assert_frames("lan out", &lan_out, &[]);
    assert_eq!(drops(&stats, "arp_not_for_us"), 1);
    assert_eq!(stats["arp_replies"].as_u64(), Some(2));
}

#[test]
fn gratuitous_arp_for_vips_at_start() {
    let dir = TempDir::new("garp");
    write_pcap(&dir.path("x"), &[]);
    // run_rvsd_pcap passes --no-garp; this test runs rvsd itself without it.
    let (_, _, _, _) = run_rvsd_pcap(&dir, NAT_SERVICES, &[], &[]);
    let yaml = std::fs::read_to_string(dir.path("rvsd.yaml")).unwrap();
    std::fs::write(dir.path("garp.yaml"), yaml).unwrap();
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_rvsd"))
        .args([
            "--config",
            dir.path("garp.yaml").to_str().unwrap(),
            "--exit-when-idle",
            "300",
        ])
        .args(["--stats-file", dir.path("stats2.json").to_str().unwrap()])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let stats: serde_json::Value =
        serde_json::from_slice(&std::fs::read(dir.path("stats2.json")).unwrap()).unwrap();
    let wan_mac = port_mac(&stats, 0);
    let wan_out = read_pcap(&dir.path("wan-out.pcap"));
    assert_frames(
        "wan out",
        &wan_out,
        &[eth(
            BROADCAST,
            wan_mac,
            0x0806,
            &arp(1, wan_mac, VIP, [0; 6], VIP),
        )],
    );
    assert_frames("lan out", &read_pcap(&dir.path("lan-out.pcap")), &[]);
}

#[test]
fn nat_inbound_and_outbound_tcp_round_robin() {
    let dir = TempDir::new("nat-tcp");
    // A first, empty run tells the ports' MACs (net_pcap's are fixed per port index), which
    // the input frames must be addressed to.
    let (_, _, stats, _) = run_rvsd_pcap(&dir, NAT_SERVICES, &[], &[]);
    let (wan_mac, lan_mac) = (port_mac(&stats, 0), port_mac(&stats, 1));

    let syn1 = eth(
        wan_mac,
        CLIENT_MAC,
        0x0800,
        &tcp(CLIENT, 40000, VIP, 80, TCP_SYN, 1000, b""),
    );
    let syn2 = eth(
        wan_mac,
        CLIENT_MAC,
        0x0800,
        &tcp(CLIENT, 40001, VIP, 80, TCP_SYN, 2000, b""),
    );
    let synack1 = eth(
        lan_mac,
        RS1_MAC,
        0x0800,
        &tcp(RS1, 80, CLIENT, 40000, TCP_SYN | TCP_ACK, 5000, b""),
    );
    let synack2 = eth(
        lan_mac,
        RS2_MAC,
        0x0800,
        &tcp(RS2, 80, CLIENT, 40001, TCP_SYN | TCP_ACK, 6000, b""),
    );
    // A SYN that would leave with TTL 0 (#25 item 6): ICMP time exceeded from the VIP,
    // quoting it as it came; no connection.
    let dying = ipv4(
        CLIENT,
        VIP,
        6,
        1,
        &tcp(CLIENT, 40002, VIP, 80, TCP_SYN, 3000, b"")[20..],
    );
    let wan_in = vec![
        arp_frame(1, CLIENT_MAC, CLIENT, BROADCAST, VIP),
        syn1,
        syn2,
        eth(wan_mac, CLIENT_MAC, 0x0800, &dying),
    ];
    let lan_in = vec![
        arp_frame(2, RS1_MAC, RS1, lan_mac, LAN_IP),
        arp_frame(2, RS2_MAC, RS2, lan_mac, LAN_IP),
        synack1,
        synack2,
    ];
    let (wan_out, lan_out, stats, _) = run_rvsd_pcap(&dir, NAT_SERVICES, &wan_in, &lan_in);
    // Type 11 code 0 with the whole packet quoted; IPv4 header as icmp_send from the
    // VIP: TOS internetwork control, TTL 64, ID 0, no DF.
    let mut te = vec![11, 0, 0, 0, 0, 0, 0, 0];
    te.extend_from_slice(&dying);
    let c = csum(&te, 0);
    te[2..4].copy_from_slice(&c.to_be_bytes());
    let mut time_exceeded = ipv4(VIP, CLIENT, 1, 64, &te);
    time_exceeded[1] = 0xc0;
    time_exceeded[4..8].fill(0);
    time_exceeded[10..12].fill(0);
    let c = csum(&time_exceeded[..20], 0);
    time_exceeded[10..12].copy_from_slice(&c.to_be_bytes());
    assert_frames(
        "lan out",
        &lan_out,
        &[
            eth(
                BROADCAST,
                lan_mac,
                0x0806,
                &arp(1, lan_mac, LAN_IP, [0; 6], RS1),
            ),
            eth(
                BROADCAST,
                lan_mac,
                0x0806,
                &arp(1, lan_mac, LAN_IP, [0; 6], RS2),
            ),
            // Both directions routed through the director: TTL decremented (#25 item 6).
            with_ttl(
                eth(
                    RS1_MAC,
                    lan_mac,
                    0x0800,
                    &tcp(CLIENT, 40000, RS1, 80, TCP_SYN, 1000, b""),
                ),
                63,
            ),
            with_ttl(
                eth(
                    RS2_MAC,
                    lan_mac,
                    0x0800,
                    &tcp(CLIENT, 40001, RS2, 80, TCP_SYN, 2000, b""),
                ),
                63,
            ),
        ],
    );
    assert_frames(
        "wan out",
        &wan_out,
        &[
            eth(
                CLIENT_MAC,
                wan_mac,
                0x0806,
                &arp(2, wan_mac, VIP, CLIENT_MAC, CLIENT),
            ),
            eth(CLIENT_MAC, wan_mac, 0x0800, &time_exceeded),
            with_ttl(
                eth(
                    CLIENT_MAC,
                    wan_mac,
                    0x0800,
                    &tcp(VIP, 80, CLIENT, 40000, TCP_SYN | TCP_ACK, 5000, b""),
                ),
                63,
            ),
            with_ttl(
                eth(
                    CLIENT_MAC,
                    wan_mac,
                    0x0800,
                    &tcp(VIP, 80, CLIENT, 40001, TCP_SYN | TCP_ACK, 6000, b""),
                ),
                63,
            ),
        ],
    );
    assert_eq!(stats["conns_created"].as_u64(), Some(2));
    assert_eq!(drops(&stats, "ttl_exceeded"), 1);
    assert_eq!(counter(&stats, "time_exceeded_sent"), 1);
}

#[test]
fn nat_udp_both_directions() {
    let dir = TempDir::new("nat-udp");
    let (_, _, stats, _) = run_rvsd_pcap(&dir, NAT_SERVICES, &[], &[]);
    let (wan_mac, lan_mac) = (port_mac(&stats, 0), port_mac(&stats, 1));
    let wan_in = vec![
        arp_frame(1, CLIENT_MAC, CLIENT, BROADCAST, VIP),
        eth(
            wan_mac,
            CLIENT_MAC,
            0x0800,
            &udp(CLIENT, 53000, VIP, 5353, b"hello"),
        ),
    ];
    let lan_in = vec![
        arp_frame(2, RS1_MAC, RS1, lan_mac, LAN_IP),
        eth(
            lan_mac,
            RS1_MAC,
            0x0800,
            &udp(RS1, 5353, CLIENT, 53000, b"rs1 hello"),
        ),
    ];
    let (wan_out, lan_out, _, _) = run_rvsd_pcap(&dir, NAT_SERVICES, &wan_in, &lan_in);
    assert_frames(
        "lan out",
        &lan_out,
        &[
            eth(
                BROADCAST,
                lan_mac,
                0x0806,
                &arp(1, lan_mac, LAN_IP, [0; 6], RS1),
            ),
            with_ttl(
                eth(
                    RS1_MAC,
                    lan_mac,
                    0x0800,
                    &udp(CLIENT, 53000, RS1, 5353, b"hello"),
                ),
                63,
            ),
        ],
    );
    assert_frames(
        "wan out",
        &wan_out,
        &[
            eth(
                CLIENT_MAC,
                wan_mac,
                0x0806,
                &arp(2, wan_mac, VIP, CLIENT_MAC, CLIENT),
            ),
            with_ttl(
                eth(
                    CLIENT_MAC,
                    wan_mac,
                    0x0800,
                    &udp(VIP, 5353, CLIENT, 53000, b"rs1 hello"),
                ),
                63,
            ),
        ],
    );
}

#[test]
fn unknown_vip_port_and_protocol_are_dropped() {
    let dir = TempDir::new("unknown-vip");
    let (_, _, stats, _) = run_rvsd_pcap(&dir, NAT_SERVICES, &[], &[]);
    let wan_mac = port_mac(&stats, 0);
    let wan_in = vec![
        eth(
            wan_mac,
            CLIENT_MAC,
            0x0800,
            &tcp(
                CLIENT,
                40000,
                "198.18.0.101".parse().unwrap(),
                80,
                TCP_SYN,
                1,
                b"",
            ),
        ),
        eth(
            wan_mac,
            CLIENT_MAC,
            0x0800,
            &tcp(CLIENT, 40000, VIP, 81, TCP_SYN, 1, b""),
        ),
        eth(
            wan_mac,
            CLIENT_MAC,
            0x0800,
            &udp(CLIENT, 40000, VIP, 80, b"x"),
        ),
        // A reply-looking packet from an RS with no connection.
        eth(
            wan_mac,
            RS1_MAC,
            0x0800,
            &tcp(RS1, 80, CLIENT, 40000, TCP_ACK, 1, b""),
        ),
    ];
    let (wan_out, lan_out, stats, _) = run_rvsd_pcap(&dir, NAT_SERVICES, &wan_in, &[]);
    assert_frames("wan out", &wan_out, &[]);
    assert_frames("lan out", &lan_out, &[]);
    assert_eq!(drops(&stats, "no_service"), 4);
}

/// A TCP segment of no connection to the VIP's service gets a RST from the VIP (issue #25
/// item 7), with RFC 793's numbers; a RST gets nothing.
#[test]
fn a_segment_of_no_connection_gets_a_rst_from_the_vip() {
    let dir = TempDir::new("rst");
    let (_, _, stats, _) = run_rvsd_pcap(&dir, NAT_SERVICES, &[], &[]);
    let wan_mac = port_mac(&stats, 0);
    // Sets the acknowledgement number, the window and the identification of TCP/IPv4
    // packet `t` (checksums computed again).
    let with = |mut t: Vec<u8>, ack: u32, window: u16, id: u16| {
        t[4..6].copy_from_slice(&id.to_be_bytes());
        t[28..32].copy_from_slice(&ack.to_be_bytes());
        t[34..36].copy_from_slice(&window.to_be_bytes());
        t[10..12].copy_from_slice(&[0, 0]);
        let hc = csum(&t[..20], 0);
        t[10..12].copy_from_slice(&hc.to_be_bytes());
        t[36..38].copy_from_slice(&[0, 0]);
        let (src, dst) = (
            std::net::Ipv4Addr::new(t[12], t[13], t[14], t[15]),
            std::net::Ipv4Addr::new(t[16], t[17], t[18], t[19]),
        );
        let tc = csum(&t[20..], pseudo(src, dst, 6, t.len() - 20));
        t[36..38].copy_from_slice(&tc.to_be_bytes());
        t
    };
    let data = with(
        tcp(CLIENT, 40000, VIP, 80, TCP_ACK, 1000, b"GET /"),
        5000,
        0xffff,
        1,
    );
    let from_client = |ip: &[u8]| eth(wan_mac, CLIENT_MAC, 0x0800, ip);
    let wan_in = vec![
        // The client's ARP request teaches rvsd its MAC.
        arp_frame(1, CLIENT_MAC, CLIENT, BROADCAST, VIP),
        from_client(&data),
        from_client(&tcp(CLIENT, 40001, VIP, 80, TCP_FIN, 7, b"")),
        from_client(&tcp(CLIENT, 40002, VIP, 80, TCP_RST, 7, b"")),
    ];
    let (wan_out, lan_out, stats, _) = run_rvsd_pcap(&dir, NAT_SERVICES, &wan_in, &[]);
    // RST: seq = the segment's ack; RST|ACK: ack = its seq + length (+1 for FIN).
    // Window 0, identification 0 (don't fragment), TTL 64, no options.
    let rst = |dport, seq: u32, ack: u32, flags| {
        let t = with(tcp(VIP, 80, CLIENT, dport, flags, seq, b""), ack, 0, 0);
        eth(CLIENT_MAC, wan_mac, 0x0800, &t)
    };
    assert_frames(
        "wan out",
        &wan_out,
        &[
            eth(
                CLIENT_MAC,
                wan_mac,
                0x0806,
                &arp(2, wan_mac, VIP, CLIENT_MAC, CLIENT),
            ),
            rst(40000, 5000, 0, TCP_RST),
            rst(40001, 0, 8, TCP_RST | TCP_ACK),
        ],
    );
    assert_frames("lan out", &lan_out, &[]);
    assert_eq!(drops(&stats, "no_connection"), 3, "{stats}");
    assert_eq!(stats["rst_sent_no_connection"].as_u64(), Some(2), "{stats}");
}

#[test]
fn malformed_packets_are_counted_and_dropped_without_panic() {
    let dir = TempDir::new("malformed");
    let (_, _, stats, _) = run_rvsd_pcap(&dir, NAT_SERVICES, &[], &[]);
    let wan_mac = port_mac(&stats, 0);
    let good = tcp(CLIENT, 40000, VIP, 80, TCP_SYN, 1, b"");
    let frame = |ip: &[u8]| eth(wan_mac, CLIENT_MAC, 0x0800, ip);
    let mut bad_ihl = good.clone();
    bad_ihl[0] = 0x44; // IHL 4 (< 5)
    let mut big_ihl = good.clone();
    big_ihl[0] = 0x4f; // IHL 15: 60-byte header, longer than this packet's header+payload? no: check total_len
    big_ihl[2..4].copy_from_slice(&40u16.to_be_bytes());
    let mut long_total = good.clone();
    long_total[2..4].copy_from_slice(&1500u16.to_be_bytes());
    let mut short_total = good.clone();
    short_total[2..4].copy_from_slice(&19u16.to_be_bytes());
    let mut bad_csum = good.clone();
    bad_csum[10] ^= 0xff;
    let mut bad_version = good.clone();
    bad_version[0] = 0x65;
    // A first fragment (MF) too short for the TCP header (16 of its 20 bytes): RFC 1858's
    // tiny fragment. (A first fragment with the whole header is forwarded.)
    let mut fragment = good[..36].to_vec();
    fragment[2..4].copy_from_slice(&36u16.to_be_bytes());
    fragment[6] = 0x20; // MF
    fragment[10] = 0;
    fragment[11] = 0;
    let c = csum(&fragment[..20], 0);
    fragment[10..12].copy_from_slice(&c.to_be_bytes());
    let mut bad_doff = good.clone();
    bad_doff[20 + 12] = 0x30; // TCP data offset 3
    let truncated_tcp = ipv4(CLIENT, VIP, 6, 64, &[0u8; 10]);
    let truncated_udp = ipv4(CLIENT, VIP, 17, 64, &[0u8; 4]);
    // Martian sources (#25 item 5): the limited broadcast, the VIP itself, loopback,
    // class E and the director's own address.
    let from = |src: &str| tcp(src.parse().unwrap(), 80, VIP, 80, TCP_SYN, 1, b"");
    let martians = [
        "255.255.255.255",
        "198.18.0.100",
        "127.0.0.1",
        "240.0.0.1",
        "198.18.0.254",
    ];
    // IHL 6 with a record route option whose length (0x27) runs past the header.
    let mut bad_options = good[..20].to_vec();
    bad_options.extend_from_slice(&[7, 0x27, 4, 0]);
    bad_options.extend_from_slice(&good[20..]);
    bad_options[0] = 0x46;
    bad_options[2..4].copy_from_slice(&(good.len() as u16 + 4).to_be_bytes());
    bad_options[10..12].copy_from_slice(&[0, 0]);
    let c = csum(&bad_options[..24], 0);
    bad_options[10..12].copy_from_slice(&c.to_be_bytes());
    let wan_in = vec![
        vec![0u8; 10],                                 // eth_truncated
        eth(wan_mac, CLIENT_MAC, 0x0800, &good[..12]), // ipv4 truncated
        frame(&bad_ihl),
        frame(&big_ihl),
        frame(&long_total),
        frame(&short_total),
        frame(&bad_version),
        frame(&bad_csum),
        frame(&fragment),
        frame(&bad_doff),
        frame(&truncated_tcp),
        frame(&truncated_udp),
        eth(wan_mac, CLIENT_MAC, 0x0806, &[0u8; 5]), // arp truncated
        frame(&bad_options),
    ];
    let wan_in = [wan_in, martians.map(|m| frame(&from(m))).to_vec()].concat();
    let (wan_out, lan_out, stats, _) = run_rvsd_pcap(&dir, NAT_SERVICES, &wan_in, &[]);
    assert_frames("wan out", &wan_out, &[]);
    assert_frames("lan out", &lan_out, &[]);
    assert_eq!(drops(&stats, "eth_truncated"), 1);
    assert_eq!(
        drops(&stats, "ipv4_malformed"),
        6,
        "truncated, IHL 4, IHL 15, total too long, total too short, version"
    );
    assert_eq!(drops(&stats, "ipv4_bad_checksum"), 1);
    assert_eq!(drops(&stats, "fragment_malformed"), 1);
    assert_eq!(drops(&stats, "l4_malformed"), 3);
    assert_eq!(drops(&stats, "arp_malformed"), 1);
    assert_eq!(drops(&stats, "ipv4_bad_options"), 1);
    assert_eq!(drops(&stats, "ipv4_martian_source"), 5);
    assert_eq!(stats["conns_created"].as_u64(), Some(0));
    assert_eq!(
        stats["ports"][0]["rx_packets"].as_u64(),
        Some(wan_in.len() as u64)
    );
}

#[test]
fn icmp_echo_to_vip_is_answered() {
    let dir = TempDir::new("echo");
    let (_, _, stats, _) = run_rvsd_pcap(&dir, NAT_SERVICES, &[], &[]);
    let wan_mac = port_mac(&stats, 0);
    let mut icmp = vec![8, 0, 0, 0, 0x12, 0x34, 0, 1, b'p', b'i', b'n', b'g'];
    let c = csum(&icmp, 0);
    icmp[2..4].copy_from_slice(&c.to_be_bytes());
    let wan_in = vec![
        arp_frame(1, CLIENT_MAC, CLIENT, BROADCAST, VIP),
        eth(
            wan_mac,
            CLIENT_MAC,
            0x0800,
            &ipv4(CLIENT, VIP, 1, 64, &icmp),
        ),
    ];
    let (wan_out, _, _, _) = run_rvsd_pcap(&dir, NAT_SERVICES, &wan_in, &[]);
    let mut reply = icmp.clone();
    reply[0] = 0;
    reply[2] = 0;
    reply[3] = 0;
    let c = csum(&reply, 0);
    reply[2..4].copy_from_slice(&c.to_be_bytes());
    assert_frames(
        "wan out",
        &wan_out,
        &[
            eth(
                CLIENT_MAC,
                wan_mac,
                0x0806,
                &arp(2, wan_mac, VIP, CLIENT_MAC, CLIENT),
            ),
            eth(
                CLIENT_MAC,
                wan_mac,
                0x0800,
                &ipv4(VIP, CLIENT, 1, 64, &reply),
            ),
        ],
    );
}

/// For each new connection, in the order the SYNs were sent (by their source port,
/// 41000 + index), the real server it went to. Packets wait for ARP per neighbour, so the
/// output file groups them by real server; the source port restores the order.
fn scheduled(sched: &str, weights: (u32, u32), syns: u16) -> Vec<std::net::Ipv4Addr> {
    let services = format!(
        "services:\n  - proto: tcp\n    vip: 198.18.0.100\n    port: 80\n    scheduler: {sched}\n    method: masq\n    real_servers:\n      - {{ address: 198.19.0.12, weight: {} }}\n      - {{ address: 198.19.0.11, weight: {} }}\n",
        weights.1, weights.0
    );
    let dir = TempDir::new(&format!("sched-{sched}"));
    let (_, _, stats, _) = run_rvsd_pcap(&dir, &services, &[], &[]);
    let (wan_mac, lan_mac) = (port_mac(&stats, 0), port_mac(&stats, 1));
    let mut wan_in = vec![arp_frame(1, CLIENT_MAC, CLIENT, BROADCAST, VIP)];
    for i in 0..syns {
        wan_in.push(eth(
            wan_mac,
            CLIENT_MAC,
            0x0800,
            &tcp(CLIENT, 41000 + i, VIP, 80, TCP_SYN, 1, b""),
        ));
    }
    let lan_in = vec![
        arp_frame(2, RS1_MAC, RS1, lan_mac, LAN_IP),
        arp_frame(2, RS2_MAC, RS2, lan_mac, LAN_IP),
    ];
    let (_, lan_out, stats, _) = run_rvsd_pcap(&dir, &services, &wan_in, &lan_in);
    let mut picks = vec![None; syns as usize];
    for f in lan_out
        .iter()
        .filter(|f| f.len() >= 54 && f[12..14] == [0x08, 0x00])
    {
        let sport = u16::from_be_bytes([f[34], f[35]]);
        picks[(sport - 41000) as usize] = Some(std::net::Ipv4Addr::new(f[30], f[31], f[32], f[33]));
    }
    assert_eq!(
        stats["conns_created"].as_u64(),
        Some(syns as u64),
        "{stats}"
    );
    picks
        .into_iter()
        .map(|p| p.expect("every SYN forwarded"))
        .collect()
}

#[test]
fn wrr_follows_the_kernel_sequence() {
    // Kernel wrr with weights 2:1 cycles A A B.
    assert_eq!(
        scheduled("wrr", (2, 1), 6),
        vec![RS1, RS1, RS2, RS1, RS1, RS2]
    );
}

#[test]
fn wlc_uses_the_connection_counts() {
    // wlc picks the least active*256+inactive per weight; a SYN_RECV connection counts as
    // active (current kernels), ties keep the first. Weights 1:3:
    // 0/1 = 0/3 -> RS1; 256/1 > 0/3 -> RS2; 256 > 256/3 -> RS2; 256 > 512/3 -> RS2;
    // 256/1 = 768/3 -> RS1 (first); 512 > 768/3 -> RS2; 512 > 1024/3 -> RS2; 512 > 1280/3 -> RS2.
    assert_eq!(
        scheduled("wlc", (1, 3), 8),
        vec![RS1, RS2, RS2, RS2, RS1, RS2, RS2, RS2]
    );
}

#[test]
fn dr_rewrites_only_the_destination_mac() {
    let services = "services:\n  - proto: tcp\n    vip: 198.18.0.100\n    port: 80\n    scheduler: rr\n    method: route\n    real_servers:\n      - { address: 198.19.0.12 }\n      - { address: 198.19.0.11 }\n";
    let dir = TempDir::new("dr");
    let (_, _, stats, _) = run_rvsd_pcap(&dir, services, &[], &[]);
    let (wan_mac, lan_mac) = (port_mac(&stats, 0), port_mac(&stats, 1));
    let syn = |sport| tcp(CLIENT, sport, VIP, 80, TCP_SYN, 7, b"");
    let wan_in = vec![
        arp_frame(1, CLIENT_MAC, CLIENT, BROADCAST, VIP),
        eth(wan_mac, CLIENT_MAC, 0x0800, &syn(40000)),
        eth(wan_mac, CLIENT_MAC, 0x0800, &syn(40001)),
    ];
    let lan_in = vec![
        arp_frame(2, RS1_MAC, RS1, lan_mac, LAN_IP),
        arp_frame(2, RS2_MAC, RS2, lan_mac, LAN_IP),
    ];
    let (wan_out, lan_out, stats, _) = run_rvsd_pcap(&dir, services, &wan_in, &lan_in);
    assert_frames(
        "lan out",
        &lan_out,
        &[
            eth(
                BROADCAST,
                lan_mac,
                0x0806,
                &arp(1, lan_mac, LAN_IP, [0; 6], RS1),
            ),
            eth(
                BROADCAST,
                lan_mac,
                0x0806,
                &arp(1, lan_mac, LAN_IP, [0; 6], RS2),
            ),
            // The IP packet is untouched (still to the VIP, same L4 checksum) but for the
            // TTL, decremented as IPVS's decrement_ttl() does for DR (#25 item 6).
            with_ttl(eth(RS1_MAC, lan_mac, 0x0800, &syn(40000)), 63),
            with_ttl(eth(RS2_MAC, lan_mac, 0x0800, &syn(40001)), 63),
        ],
    );
    assert_frames(
        "wan out",
        &wan_out,
        &[eth(
            CLIENT_MAC,
            wan_mac,
            0x0806,
            &arp(2, wan_mac, VIP, CLIENT_MAC, CLIENT),
        )],
    );
    assert_eq!(stats["conns_created"].as_u64(), Some(2));
}

#[test]
fn persistence_keeps_a_client_on_one_real_server_across_ports() {
    // The seeds' all-ports service: ipvsadm -A -t VIP -s rr -p 900 (port 0).
    let services = "services:\n  - proto: tcp\n    vip: 198.18.0.100\n    port: 0\n    scheduler: rr\n    persistence: 900\n    method: masq\n    real_servers:\n      - { address: 198.19.0.12 }\n      - { address: 198.19.0.11 }\n";
    let dir = TempDir::new("persist");
    let (_, _, stats, _) = run_rvsd_pcap(&dir, services, &[], &[]);
    let (wan_mac, lan_mac) = (port_mac(&stats, 0), port_mac(&stats, 1));
    let client2: std::net::Ipv4Addr = "198.18.0.2".parse().unwrap();
    let syn = |src, sport, dport| {
        eth(
            wan_mac,
            CLIENT_MAC,
            0x0800,
            &tcp(src, sport, VIP, dport, TCP_SYN, 1, b""),
        )
    };
    let wan_in = vec![
        syn(CLIENT, 41000, 80),
        syn(CLIENT, 41001, 443),
        syn(CLIENT, 41002, 80),
        syn(client2, 41003, 80),
        syn(client2, 41004, 22),
    ];
    let lan_in = vec![
        arp_frame(2, RS1_MAC, RS1, lan_mac, LAN_IP),
        arp_frame(2, RS2_MAC, RS2, lan_mac, LAN_IP),
    ];
    let (_, lan_out, stats, _) = run_rvsd_pcap(&dir, services, &wan_in, &lan_in);
    let mut picks = vec![None; 5];
    for f in lan_out
        .iter()
        .filter(|f| f.len() >= 54 && f[12..14] == [0x08, 0x00])
    {
        let sport = u16::from_be_bytes([f[34], f[35]]);
        let dport = u16::from_be_bytes([f[36], f[37]]);
        picks[(sport - 41000) as usize] =
            Some((std::net::Ipv4Addr::new(f[30], f[31], f[32], f[33]), dport));
    }
    // rr would alternate; the template keeps each client on its first real server, on
    // every port (port 0 service: the packet's port is kept).
    assert_eq!(
        picks,
        vec![
            Some((RS1, 80)),
            Some((RS1, 443)),
            Some((RS1, 80)),
            Some((RS2, 80)),
            Some((RS2, 22))
        ],
        "{stats}"
    );
}

const LIP: std::net::Ipv4Addr = std::net::Ipv4Addr::new(198, 19, 0, 250);

/// The TOA option for CLIENT:40000 (kind 254, length 8, port, address).
const TOA_40000: [u8; 8] = [254, 8, 0x9c, 0x40, 198, 18, 0, 1];
/// MSS 1460 and SACK permitted, as a client's SYN carries them.
const SYN_OPTS: [u8; 8] = [2, 4, 0x05, 0xb4, 1, 1, 4, 2];
/// The same after rvs made room for TOA (MSS 1452).
const SYN_OPTS_CLAMPED: [u8; 8] = [2, 4, 0x05, 0xac, 1, 1, 4, 2];

/// Two local ports only, so the third connection finds the pool exhausted.
const FULLNAT_SERVICES: &str = r#"snat_pools:
  - { name: p1, addresses: [198.19.0.250], ports: 5000-5001 }
services:
  - proto: tcp
    vip: 198.18.0.100
    port: 80
    scheduler: rr
    method: fullnat
    snat_pool: p1
    real_servers:
      - { address: 198.19.0.12, port: 8080 }
      - { address: 198.19.0.11, port: 8080 }
"#;

#[test]
fn fullnat_tcp_both_directions_and_pool_exhaustion() {
    let dir = TempDir::new("fullnat-tcp");
    let (_, _, stats, _) = run_rvsd_pcap(&dir, FULLNAT_SERVICES, &[], &[]);
    let (wan_mac, lan_mac) = (port_mac(&stats, 0), port_mac(&stats, 1));
    let wan_in = vec![
        arp_frame(1, CLIENT_MAC, CLIENT, BROADCAST, VIP),
        // The local address is answered only on the port facing the real servers.
        arp_frame(1, CLIENT_MAC, CLIENT, BROADCAST, LIP),
        eth(
            wan_mac,
            CLIENT_MAC,
            0x0800,
            &tcp_opts(CLIENT, 40000, VIP, 80, TCP_SYN, 1000, &SYN_OPTS, b""),
        ),
        eth(
            wan_mac,
            CLIENT_MAC,
            0x0800,
            &tcp(CLIENT, 40001, VIP, 80, TCP_SYN, 2000, b""),
        ),
        // Data of the first flow follows it to RS1 through the same local port (with
        // TOA: the real server has not answered yet).
        eth(
            wan_mac,
            CLIENT_MAC,
            0x0800,
            &tcp(CLIENT, 40000, VIP, 80, TCP_ACK, 1001, b"GET /"),
        ),
        // Both local ports are taken: refused and counted.
        eth(
            wan_mac,
            CLIENT_MAC,
            0x0800,
            &tcp(CLIENT, 40002, VIP, 80, TCP_SYN, 3000, b""),
        ),
    ];
    let lan_in = vec![
        arp_frame(2, RS1_MAC, RS1, lan_mac, LAN_IP),
        arp_frame(2, RS2_MAC, RS2, lan_mac, LAN_IP),
        arp_frame(1, RS1_MAC, RS1, BROADCAST, LIP),
        eth(
            lan_mac,
            RS1_MAC,
            0x0800,
            &tcp(RS1, 8080, LIP, 5000, TCP_SYN | TCP_ACK, 5000, b""),
        ),
        eth(
            lan_mac,
            RS2_MAC,
            0x0800,
            &tcp(RS2, 8080, LIP, 5001, TCP_SYN | TCP_ACK, 6000, b""),
        ),
        // A reply to a local port no connection holds.
        eth(
            lan_mac,
            RS2_MAC,
            0x0800,
            &tcp(RS2, 8080, LIP, 5002, TCP_ACK, 6000, b""),
        ),
    ];
    let (wan_out, lan_out, stats, _) = run_rvsd_pcap(&dir, FULLNAT_SERVICES, &wan_in, &lan_in);
    // The real servers see the director's sequence numbers: one offset per connection,
    // taken from each one's SYN as rvsd sent it; the real servers' acknowledgements
    // (0 here) come back to the client less the same offset.
    let seq_of = |i: usize| lan_out.get(i).map_or(0, |f| tcp_seq(f));
    let (d1, d2) = (seq_of(2).wrapping_sub(1000), seq_of(4).wrapping_sub(2000));
    assert_ne!(d1, d2, "each connection has its own offset");
    // TTL decremented towards the real server too (#25 item 6), as DPVS and Alibaba's
    // FULLNAT do.
    let shifted =
        |f: Vec<u8>, seq: u32, d: u32| with_ttl(with_tcp_seq_ack(f, seq.wrapping_add(d), 0), 63);
    assert_frames(
        "lan out",
        &lan_out,
        &[
            eth(
                BROADCAST,
                lan_mac,
                0x0806,
                &arp(1, lan_mac, LAN_IP, [0; 6], RS1),
            ),
            eth(
                BROADCAST,
                lan_mac,
                0x0806,
                &arp(1, lan_mac, LAN_IP, [0; 6], RS2),
            ),
            // Source: the local address and port; destination: the real server.
            // The MSS lowered by 8 to leave room for TOA.
            shifted(
                eth(
                    RS1_MAC,
                    lan_mac,
                    0x0800,
                    &tcp_opts(LIP, 5000, RS1, 8080, TCP_SYN, 1000, &SYN_OPTS_CLAMPED, b""),
                ),
                1000,
                d1,
            ),
            // The client's address and port in the TOA option.
            shifted(
                eth(
                    RS1_MAC,
                    lan_mac,
                    0x0800,
                    &tcp_opts(LIP, 5000, RS1, 8080, TCP_ACK, 1001, &TOA_40000, b"GET /"),
                ),
                1001,
                d1,
            ),
            shifted(
                eth(
                    RS2_MAC,
                    lan_mac,
                    0x0800,
                    &tcp(LIP, 5001, RS2, 8080, TCP_SYN, 2000, b""),
                ),
                2000,
                d2,
            ),
            eth(
                RS1_MAC,
                lan_mac,
                0x0806,
                &arp(2, lan_mac, LIP, RS1_MAC, RS1),
            ),
        ],
    );
    assert_frames(
        "wan out",
        &wan_out,
        &[
            eth(
                CLIENT_MAC,
                wan_mac,
                0x0806,
                &arp(2, wan_mac, VIP, CLIENT_MAC, CLIENT),
            ),
            with_ttl(
                with_tcp_seq_ack(
                    eth(
                        CLIENT_MAC,
                        wan_mac,
                        0x0800,
                        &tcp(VIP, 80, CLIENT, 40000, TCP_SYN | TCP_ACK, 5000, b""),
                    ),
                    5000,
                    0u32.wrapping_sub(d1),
                ),
                63,
            ),
            with_ttl(
                with_tcp_seq_ack(
                    eth(
                        CLIENT_MAC,
                        wan_mac,
                        0x0800,
                        &tcp(VIP, 80, CLIENT, 40001, TCP_SYN | TCP_ACK, 6000, b""),
                    ),
                    6000,
                    0u32.wrapping_sub(d2),
                ),
                63,
            ),
        ],
    );
    assert_eq!(stats["conns_created"].as_u64(), Some(2));
    assert_eq!(drops(&stats, "snat_exhausted"), 1);
    assert_eq!(drops(&stats, "arp_not_for_us"), 1);
    assert_eq!(drops(&stats, "no_service"), 1);
    assert_eq!(stats["snat_ports_in_use"].as_u64(), Some(2));
}

#[test]
fn fullnat_udp_both_directions() {
    let services = r#"snat_pools:
  - { name: p1, addresses: [198.19.0.250, 198.19.0.251], ports: 7000-7009 }
services:
  - proto: udp
    vip: 198.18.0.100
    port: 5353
    scheduler: rr
    method: fullnat
    snat_pool: p1
    real_servers:
      - { address: 198.19.0.11, port: 53 }
"#;
    let lip2: std::net::Ipv4Addr = "198.19.0.251".parse().unwrap();
    let dir = TempDir::new("fullnat-udp");
    let (_, _, stats, _) = run_rvsd_pcap(&dir, services, &[], &[]);
    let (wan_mac, lan_mac) = (port_mac(&stats, 0), port_mac(&stats, 1));
    let wan_in = vec![
        arp_frame(2, CLIENT_MAC, CLIENT, wan_mac, WAN_IP),
        eth(
            wan_mac,
            CLIENT_MAC,
            0x0800,
            &udp(CLIENT, 53000, VIP, 5353, b"q1"),
        ),
        eth(
            wan_mac,
            CLIENT_MAC,
            0x0800,
            &udp(CLIENT, 53001, VIP, 5353, b"q2"),
        ),
    ];
    let lan_in = vec![
        arp_frame(2, RS1_MAC, RS1, lan_mac, LAN_IP),
        // Local addresses are used in turn.
        eth(lan_mac, RS1_MAC, 0x0800, &udp(RS1, 53, LIP, 7000, b"a1")),
        eth(lan_mac, RS1_MAC, 0x0800, &udp(RS1, 53, lip2, 7000, b"a2")),
    ];
    let (wan_out, lan_out, stats, _) = run_rvsd_pcap(&dir, services, &wan_in, &lan_in);
    assert_frames(
        "lan out",
        &lan_out,
        &[
            eth(
                BROADCAST,
                lan_mac,
                0x0806,
                &arp(1, lan_mac, LAN_IP, [0; 6], RS1),
            ),
            with_ttl(
                eth(RS1_MAC, lan_mac, 0x0800, &udp(LIP, 7000, RS1, 53, b"q1")),
                63,
            ),
            with_ttl(
                eth(RS1_MAC, lan_mac, 0x0800, &udp(lip2, 7000, RS1, 53, b"q2")),
                63,
            ),
        ],
    );
    assert_frames(
        "wan out",
        &wan_out,
        &[
            with_ttl(
                eth(
                    CLIENT_MAC,
                    wan_mac,
                    0x0800,
                    &udp(VIP, 5353, CLIENT, 53000, b"a1"),
                ),
                63,
            ),
            with_ttl(
                eth(
                    CLIENT_MAC,
                    wan_mac,
                    0x0800,
                    &udp(VIP, 5353, CLIENT, 53001, b"a2"),
                ),
                63,
            ),
        ],
    );
    assert_eq!(stats["conns_created"].as_u64(), Some(2));
    assert_eq!(stats["snat_ports_in_use"].as_u64(), Some(2));
}
