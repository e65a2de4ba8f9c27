//! Tier-2 golden pcap tests for FULLNAT over IPv6: the real rvsd on net_pcap vdevs (see
//! golden_pcap.rs and golden_pcap6.rs). Expected frames are built here, independently of
//! rvs's code (checksums computed in full), and compared field by field and byte by byte.

mod common;
use common::*;
use std::net::Ipv6Addr;

/// The IPv6 local address of the SNAT pool, on the real servers' subnet.
const LIP6: Ipv6Addr = Ipv6Addr::new(0x2001, 2, 0, 1, 0, 0, 0, 0xfa);
const LIP6_B: Ipv6Addr = Ipv6Addr::new(0x2001, 2, 0, 1, 0, 0, 0, 0xfb);
const ALL_NODES: Ipv6Addr = Ipv6Addr::new(0xff02, 0, 0, 0, 0, 0, 0, 1);

/// Two local ports only, so the third connection finds the pool exhausted.
const FULLNAT6_TCP: &str = r#"snat_pools:
  - { name: p6, addresses: ["2001:2:0:1::fa"], ports: 5000-5001 }
services:
  - proto: tcp
    vip: "2001:2::100"
    port: 80
    scheduler: rr
    method: fullnat
    snat_pool: p6
    real_servers:
      - { address: "2001:2:0:1::12", port: 8080 }
      - { address: "2001:2:0:1::11", port: 8080 }
"#;

/// MSS 1440 and SACK permitted, as an IPv6 client's SYN carries them.
const SYN_OPTS: [u8; 8] = [2, 4, 0x05, 0xa0, 1, 1, 4, 2];
/// The same after rvs made room for the 20-byte IPv6 TOA (MSS 1420).
const SYN_OPTS_CLAMPED: [u8; 8] = [2, 4, 0x05, 0x8c, 1, 1, 4, 2];

/// The TOA option for `client:port`: kind 254, length 20, port, IPv6 address.
fn toa6(client: Ipv6Addr, port: u16) -> Vec<u8> {
    let mut o = vec![254, 20];
    o.extend_from_slice(&port.to_be_bytes());
    o.extend_from_slice(&client.octets());
    o
}

#[test]
fn fullnat6_tcp_both_directions_toa_and_pool_exhaustion() {
    let dir = TempDir::new("fullnat6-tcp");
    let (wan_mac, lan_mac) = port_macs6(&dir, FULLNAT6_TCP);
    let c = |f: &[u8]| eth(wan_mac, CLIENT_MAC, 0x86dd, f);
    let r = |mac, f: &[u8]| eth(lan_mac, mac, 0x86dd, f);
    let wan_in = vec![
        // The client resolves the VIP (and so becomes a known neighbour).
        ns_frame(CLIENT_MAC, CLIENT6, VIP6, None),
        // The local address is answered only on the port facing the real servers.
        ns_frame(CLIENT_MAC, CLIENT6, LIP6, None),
        c(&tcp6_opts(
            CLIENT6, 40000, VIP6, 80, TCP_SYN, 1000, &SYN_OPTS, b"",
        )),
        c(&tcp6(CLIENT6, 40001, VIP6, 80, TCP_SYN, 2000, b"")),
        // Data of the first flow follows it to RS1 through the same local port, with TOA
        // (the real server has not answered yet).
        c(&tcp6(CLIENT6, 40000, VIP6, 80, TCP_ACK, 1001, b"GET /")),
        // Both local ports are taken: refused and counted.
        c(&tcp6(CLIENT6, 40002, VIP6, 80, TCP_SYN, 3000, b"")),
    ];
    let lan_in = vec![
        na_frame(RS1_MAC, lan_mac, RS1_6, LAN_IP6, 0x60),
        na_frame(RS2_MAC, lan_mac, RS2_6, LAN_IP6, 0x60),
        // The real server resolves the local address it answers to.
        ns_frame(RS1_MAC, RS1_6, LIP6, None),
        r(
            RS1_MAC,
            &tcp6(RS1_6, 8080, LIP6, 5000, TCP_SYN | TCP_ACK, 5000, b""),
        ),
        r(
            RS2_MAC,
            &tcp6(RS2_6, 8080, LIP6, 5001, TCP_SYN | TCP_ACK, 6000, b""),
        ),
        // A reply to a local port no connection holds.
        r(RS2_MAC, &tcp6(RS2_6, 8080, LIP6, 5002, TCP_ACK, 6000, b"")),
    ];
    let (wan_out, lan_out, stats, _) = run_rvsd_pcap6(&dir, FULLNAT6_TCP, &wan_in, &lan_in, false);
    // The real servers see the director's sequence numbers: one offset per connection,
    // taken from each one's SYN as rvsd sent it; the real servers' acknowledgements
    // (0 here) come back to the client less the same offset.
    let seq_of = |i: usize| lan_out.get(i).map_or(0, |f| tcp_seq(f));
    let (d1, d2) = (seq_of(2).wrapping_sub(1000), seq_of(4).wrapping_sub(2000));
    assert_ne!(d1, d2, "each connection has its own offset");
    // Hop limit decremented towards the real servers too (#25 item 6), as DPVS and
    // Alibaba's FULLNAT do.
    let to_rs = |mac, f: &[u8], seq: u32| {
        with_hop_limit(with_tcp_seq_ack(eth(mac, lan_mac, 0x86dd, f), seq, 0), 63)
    };
    let toa_opts = toa6(CLIENT6, 40000);
    assert_frames(
        "lan out",
        &lan_out,
        &[
            ns_frame(lan_mac, LAN_IP6, RS1_6, None),
            ns_frame(lan_mac, LAN_IP6, RS2_6, None),
            // Source: the local address and port; destination: the real server; hop
            // limit as the client sent it (like NAT). The MSS lowered by 20 for TOA.
            to_rs(
                RS1_MAC,
                &tcp6_opts(
                    LIP6,
                    5000,
                    RS1_6,
                    8080,
                    TCP_SYN,
                    1000,
                    &SYN_OPTS_CLAMPED,
                    b"",
                ),
                1000u32.wrapping_add(d1),
            ),
            // The client's address and port in the 20-byte TOA option.
            to_rs(
                RS1_MAC,
                &tcp6_opts(LIP6, 5000, RS1_6, 8080, TCP_ACK, 1001, &toa_opts, b"GET /"),
                1001u32.wrapping_add(d1),
            ),
            to_rs(
                RS2_MAC,
                &tcp6(LIP6, 5001, RS2_6, 8080, TCP_SYN, 2000, b""),
                2000u32.wrapping_add(d2),
            ),
            // The local address answered to the real server.
            our_na(lan_mac, RS1_MAC, LIP6, RS1_6, 0x60),
        ],
    );
    let synack_to_client = |port, seq, ack| {
        let f = tcp6(VIP6, 80, CLIENT6, port, TCP_SYN | TCP_ACK, seq, b"");
        with_hop_limit(
            with_tcp_seq_ack(eth(CLIENT_MAC, wan_mac, 0x86dd, &f), seq, ack),
            63,
        )
    };
    assert_frames(
        "wan out",
        &wan_out,
        &[
            our_na(wan_mac, CLIENT_MAC, VIP6, CLIENT6, 0x60),
            synack_to_client(40000, 5000, 0u32.wrapping_sub(d1)),
            synack_to_client(40001, 6000, 0u32.wrapping_sub(d2)),
        ],
    );
    assert_eq!(stats["conns_created"].as_u64(), Some(2), "{stats}");
    assert_eq!(drops(&stats, "snat_exhausted"), 1, "{stats}");
    assert_eq!(drops(&stats, "ndp_not_for_us"), 1, "{stats}");
    assert_eq!(drops(&stats, "no_service"), 1, "{stats}");
    assert_eq!(stats["snat_ports_in_use"].as_u64(), Some(2));
    assert_eq!(stats["toa_no_room"].as_u64(), Some(0));
}

#[test]
fn fullnat6_udp_both_directions_local_addresses_in_turn() {
    let services = r#"snat_pools:
  - { name: p6, addresses: ["2001:2:0:1::fa", "2001:2:0:1::fb"], ports: 7000-7009 }
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
    let dir = TempDir::new("fullnat6-udp");
    let (wan_mac, lan_mac) = port_macs6(&dir, services);
    let wan_in = vec![
        ns_frame(CLIENT_MAC, CLIENT6, VIP6, None),
        eth(
            wan_mac,
            CLIENT_MAC,
            0x86dd,
            &udp6(CLIENT6, 53000, VIP6, 5353, b"q1"),
        ),
        eth(
            wan_mac,
            CLIENT_MAC,
            0x86dd,
            &udp6(CLIENT6, 53001, VIP6, 5353, b"q2"),
        ),
    ];
    let lan_in = vec![
        na_frame(RS1_MAC, lan_mac, RS1_6, LAN_IP6, 0x60),
        eth(
            lan_mac,
            RS1_MAC,
            0x86dd,
            &udp6(RS1_6, 53, LIP6, 7000, b"a1"),
        ),
        eth(
            lan_mac,
            RS1_MAC,
            0x86dd,
            &udp6(RS1_6, 53, LIP6_B, 7000, b"a2"),
        ),
    ];
    let (wan_out, lan_out, stats, _) = run_rvsd_pcap6(&dir, services, &wan_in, &lan_in, false);
    assert_frames(
        "lan out",
        &lan_out,
        &[
            ns_frame(lan_mac, LAN_IP6, RS1_6, None),
            with_hop_limit(
                eth(
                    RS1_MAC,
                    lan_mac,
                    0x86dd,
                    &udp6(LIP6, 7000, RS1_6, 53, b"q1"),
                ),
                63,
            ),
            with_hop_limit(
                eth(
                    RS1_MAC,
                    lan_mac,
                    0x86dd,
                    &udp6(LIP6_B, 7000, RS1_6, 53, b"q2"),
                ),
                63,
            ),
        ],
    );
    let to_client = |f: &[u8]| with_hop_limit(eth(CLIENT_MAC, wan_mac, 0x86dd, f), 63);
    assert_frames(
        "wan out",
        &wan_out,
        &[
            our_na(wan_mac, CLIENT_MAC, VIP6, CLIENT6, 0x60),
            to_client(&udp6(VIP6, 5353, CLIENT6, 53000, b"a1")),
            to_client(&udp6(VIP6, 5353, CLIENT6, 53001, b"a2")),
        ],
    );
    assert_eq!(stats["conns_created"].as_u64(), Some(2));
    assert_eq!(stats["snat_ports_in_use"].as_u64(), Some(2));
}

#[test]
fn fullnat6_toa_off_leaves_mss_and_segments_alone() {
    let services = r#"snat_pools:
  - { name: p6, addresses: ["2001:2:0:1::fa"], ports: 5000-5001 }
services:
  - proto: tcp
    vip: "2001:2::100"
    port: 80
    method: fullnat
    snat_pool: p6
    toa: false
    real_servers:
      - { address: "2001:2:0:1::11", port: 8080 }
"#;
    let dir = TempDir::new("fullnat6-toa-off");
    let (wan_mac, lan_mac) = port_macs6(&dir, services);
    let c = |f: &[u8]| eth(wan_mac, CLIENT_MAC, 0x86dd, f);
    let wan_in = vec![
        c(&tcp6_opts(
            CLIENT6, 40000, VIP6, 80, TCP_SYN, 1000, &SYN_OPTS, b"",
        )),
        c(&tcp6(CLIENT6, 40000, VIP6, 80, TCP_ACK, 1001, b"GET /")),
    ];
    let lan_in = vec![na_frame(RS1_MAC, lan_mac, RS1_6, LAN_IP6, 0x60)];
    let (_, lan_out, stats, _) = run_rvsd_pcap6(&dir, services, &wan_in, &lan_in, false);
    let d = lan_out.get(1).map_or(0, |f| tcp_seq(f)).wrapping_sub(1000);
    let to_rs = |f: &[u8], seq: u32| {
        let f = eth(RS1_MAC, lan_mac, 0x86dd, f);
        with_hop_limit(with_tcp_seq_ack(f, seq.wrapping_add(d), 0), 63)
    };
    assert_frames(
        "lan out",
        &lan_out,
        &[
            ns_frame(lan_mac, LAN_IP6, RS1_6, None),
            to_rs(
                &tcp6_opts(LIP6, 5000, RS1_6, 8080, TCP_SYN, 1000, &SYN_OPTS, b""),
                1000,
            ),
            to_rs(
                &tcp6(LIP6, 5000, RS1_6, 8080, TCP_ACK, 1001, b"GET /"),
                1001,
            ),
        ],
    );
    assert_eq!(stats["conns_created"].as_u64(), Some(1));
}

#[test]
fn unsolicited_na_for_the_local_address_on_the_real_servers_port() {
    let dir = TempDir::new("fullnat6-una");
    let (wan_mac, lan_mac) = port_macs6(&dir, FULLNAT6_TCP);
    let (wan_out, lan_out, _, _) = run_rvsd_pcap6(&dir, FULLNAT6_TCP, &[], &[], true);
    let all_nodes_mac = [0x33, 0x33, 0, 0, 0, 1];
    assert_frames(
        "wan out",
        &wan_out,
        &[our_na(wan_mac, all_nodes_mac, VIP6, ALL_NODES, 0x20)],
    );
    assert_frames(
        "lan out",
        &lan_out,
        &[our_na(lan_mac, all_nodes_mac, LIP6, ALL_NODES, 0x20)],
    );
}
