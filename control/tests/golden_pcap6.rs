//! Tier-2 golden pcap tests for IPv6: the real rvsd on net_pcap vdevs (see
//! golden_pcap.rs), with IPv6 addresses on both ports. Expected frames are built here,
//! independently of rvs's code, and compared field by field and byte by byte.

mod common;
use common::*;

const NAT6_SERVICES: &str = r#"services:
  - proto: tcp
    vip: "2001:2::100"
    port: 80
    scheduler: rr
    method: masq
    real_servers:
      - { address: "2001:2:0:1::12", port: 80 }
      - { address: "2001:2:0:1::11", port: 80 }
  - proto: udp
    vip: "2001:2::100"
    port: 5353
    scheduler: rr
    method: masq
    real_servers:
      - { address: "2001:2:0:1::12", port: 5353 }
      - { address: "2001:2:0:1::11", port: 5353 }
"#;

const DR6_SERVICES: &str = r#"services:
  - proto: tcp
    vip: "2001:2::100"
    port: 80
    scheduler: rr
    method: route
    real_servers:
      - { address: "2001:2:0:1::12" }
      - { address: "2001:2:0:1::11" }
"#;

const ALL_NODES: std::net::Ipv6Addr = std::net::Ipv6Addr::new(0xff02, 0, 0, 0, 0, 0, 0, 1);

/// The solicitation rvs sends from the lan port to resolve `target`.
fn our_ns(lan_mac: [u8; 6], target: std::net::Ipv6Addr) -> Vec<u8> {
    ns_frame(lan_mac, LAN_IP6, target, None)
}

#[test]
fn ndp_answers_for_vip_and_own_address_only() {
    let dir = TempDir::new("ndp6");
    let (wan_mac, _) = port_macs6(&dir, NAT6_SERVICES);
    let mut low_hop = ns_frame(CLIENT_MAC, CLIENT6, VIP6, None);
    low_hop[14 + 7] = 64; // hop limit is outside the checksum: only the RFC 4861 check
    let mut bad_sum = ns_frame(CLIENT_MAC, CLIENT6, VIP6, None);
    let last = bad_sum.len() - 1;
    bad_sum[last] ^= 0xff;
    let wan_in = vec![
        ns_frame(CLIENT_MAC, CLIENT6, VIP6, None),
        ns_frame(CLIENT_MAC, CLIENT6, WAN_IP6, Some((wan_mac, WAN_IP6))),
        // Own address, but of the other port; and nobody's address.
        ns_frame(CLIENT_MAC, CLIENT6, LAN_IP6, None),
        ns_frame(CLIENT_MAC, CLIENT6, "2001:2::99".parse().unwrap(), None),
        low_hop,
        bad_sum,
    ];
    let (wan_out, lan_out, stats, _) = run_rvsd_pcap6(&dir, NAT6_SERVICES, &wan_in, &[], false);
    assert_frames(
        "wan out",
        &wan_out,
        &[
            our_na(wan_mac, CLIENT_MAC, VIP6, CLIENT6, 0x60),
            our_na(wan_mac, CLIENT_MAC, WAN_IP6, CLIENT6, 0x60),
        ],
    );
    assert_frames("lan out", &lan_out, &[]);
    assert_eq!(drops(&stats, "ndp_not_for_us"), 2, "{stats}");
    assert_eq!(drops(&stats, "ndp_invalid"), 2, "{stats}");
    assert_eq!(stats["arp_replies"].as_u64(), Some(2));
}

#[test]
fn unsolicited_na_for_vips_at_start() {
    let dir = TempDir::new("una6");
    let (wan_mac, _) = port_macs6(&dir, NAT6_SERVICES);
    let (wan_out, lan_out, _, _) = run_rvsd_pcap6(&dir, NAT6_SERVICES, &[], &[], true);
    // The VIP is on the wan port's subnet: announced there only, to all-nodes, override
    // set and solicited clear.
    assert_frames(
        "wan out",
        &wan_out,
        &[our_na(
            wan_mac,
            [0x33, 0x33, 0, 0, 0, 1],
            VIP6,
            ALL_NODES,
            0x20,
        )],
    );
    assert_frames("lan out", &lan_out, &[]);
}

#[test]
fn nat6_tcp_and_udp_both_directions_with_next_hop_resolution() {
    let dir = TempDir::new("nat6");
    let (wan_mac, lan_mac) = port_macs6(&dir, NAT6_SERVICES);
    let c = |f: &[u8]| eth(wan_mac, CLIENT_MAC, 0x86dd, f);
    let r = |mac, f: &[u8]| eth(lan_mac, mac, 0x86dd, f);
    let mut dying = tcp6(CLIENT6, 40002, VIP6, 80, TCP_SYN, 3000, b"");
    dying[7] = 1;
    let wan_in = vec![
        ns_frame(CLIENT_MAC, CLIENT6, VIP6, None),
        c(&tcp6(CLIENT6, 40000, VIP6, 80, TCP_SYN, 1000, b"")),
        c(&tcp6(CLIENT6, 40001, VIP6, 80, TCP_SYN, 2000, b"")),
        c(&udp6(CLIENT6, 53000, VIP6, 5353, b"hello")),
        // A SYN that would leave with hop limit 0 (#25 item 6): ICMPv6 time exceeded from
        // the VIP, quoting it as it came; no connection.
        c(&dying),
    ];
    // The worker reads the wan port first: the packets above wait for the real servers'
    // MACs, which these advertisements (answers to rvs's solicitations) bring.
    let lan_in = vec![
        na_frame(RS1_MAC, lan_mac, RS1_6, LAN_IP6, 0x60),
        na_frame(RS2_MAC, lan_mac, RS2_6, LAN_IP6, 0x60),
        r(
            RS1_MAC,
            &tcp6(RS1_6, 80, CLIENT6, 40000, TCP_SYN | TCP_ACK, 5000, b""),
        ),
        r(
            RS2_MAC,
            &tcp6(RS2_6, 80, CLIENT6, 40001, TCP_SYN | TCP_ACK, 6000, b""),
        ),
        r(RS1_MAC, &udp6(RS1_6, 5353, CLIENT6, 53000, b"rs1 hello")),
        // A reply that would leave with hop limit 0 is dropped.
        with_hop_limit(
            r(
                RS1_MAC,
                &tcp6(RS1_6, 80, CLIENT6, 40000, TCP_ACK, 5001, b""),
            ),
            1,
        ),
    ];
    let (wan_out, lan_out, stats, _) = run_rvsd_pcap6(&dir, NAT6_SERVICES, &wan_in, &lan_in, false);
    // Towards the real servers the hop limit is decremented too (#25 item 6).
    let to_rs = |mac, f: &[u8]| with_hop_limit(eth(mac, lan_mac, 0x86dd, f), 63);
    assert_frames(
        "lan out",
        &lan_out,
        &[
            our_ns(lan_mac, RS1_6),
            our_ns(lan_mac, RS2_6),
            // Held packets leave in arrival order once their neighbour is known.
            to_rs(
                RS1_MAC,
                &tcp6(CLIENT6, 40000, RS1_6, 80, TCP_SYN, 1000, b""),
            ),
            to_rs(RS1_MAC, &udp6(CLIENT6, 53000, RS1_6, 5353, b"hello")),
            to_rs(
                RS2_MAC,
                &tcp6(CLIENT6, 40001, RS2_6, 80, TCP_SYN, 2000, b""),
            ),
        ],
    );
    let to_client = |f: &[u8]| with_hop_limit(eth(CLIENT_MAC, wan_mac, 0x86dd, f), 63);
    assert_frames(
        "wan out",
        &wan_out,
        &[
            our_na(wan_mac, CLIENT_MAC, VIP6, CLIENT6, 0x60),
            eth(
                CLIENT_MAC,
                wan_mac,
                0x86dd,
                &icmp6(VIP6, CLIENT6, 64, 3, 0, &[&[0; 4][..], &dying].concat()),
            ),
            to_client(&tcp6(
                VIP6,
                80,
                CLIENT6,
                40000,
                TCP_SYN | TCP_ACK,
                5000,
                b"",
            )),
            to_client(&tcp6(
                VIP6,
                80,
                CLIENT6,
                40001,
                TCP_SYN | TCP_ACK,
                6000,
                b"",
            )),
            to_client(&udp6(VIP6, 5353, CLIENT6, 53000, b"rs1 hello")),
        ],
    );
    assert_eq!(stats["conns_created"].as_u64(), Some(3), "{stats}");
    assert_eq!(drops(&stats, "ttl_exceeded"), 2, "{stats}");
    assert_eq!(counter(&stats, "time_exceeded_sent"), 1, "{stats}");
}

#[test]
fn persistence_groups_ipv6_clients_by_netmask() {
    // ipvsadm -A -t [2001:2::100]:0 -s rr -p 900 -M 64 (clients grouped by /64).
    let services = "services:\n  - proto: tcp\n    vip: \"2001:2::100\"\n    port: 0\n    scheduler: rr\n    persistence: { timeout: 900, netmask: 64 }\n    method: masq\n    real_servers:\n      - { address: \"2001:2:0:1::12\" }\n      - { address: \"2001:2:0:1::11\" }\n";
    let dir = TempDir::new("persist6");
    let (wan_mac, lan_mac) = port_macs6(&dir, services);
    // Two clients in 2001:2::/64 and one from another /64.
    let same_64: std::net::Ipv6Addr = "2001:2::2".parse().unwrap();
    let other_64: std::net::Ipv6Addr = "2001:2:0:9::1".parse().unwrap();
    let syn = |src, sport, dport| {
        eth(
            wan_mac,
            CLIENT_MAC,
            0x86dd,
            &tcp6(src, sport, VIP6, dport, TCP_SYN, 1, b""),
        )
    };
    let wan_in = vec![
        syn(CLIENT6, 41000, 80),
        syn(same_64, 41001, 443),
        syn(CLIENT6, 41002, 22),
        syn(other_64, 41003, 80),
    ];
    let lan_in = vec![
        na_frame(RS1_MAC, lan_mac, RS1_6, LAN_IP6, 0x60),
        na_frame(RS2_MAC, lan_mac, RS2_6, LAN_IP6, 0x60),
    ];
    let (_, lan_out, stats, _) = run_rvsd_pcap6(&dir, services, &wan_in, &lan_in, false);
    let mut picks = vec![None; 4];
    for f in lan_out
        .iter()
        .filter(|f| f.len() >= 74 && f[12..14] == [0x86, 0xdd] && f[20] == 6)
    {
        let sport = u16::from_be_bytes([f[54], f[55]]);
        let dport = u16::from_be_bytes([f[56], f[57]]);
        let dst = std::net::Ipv6Addr::from(<[u8; 16]>::try_from(&f[38..54]).unwrap());
        picks[(sport - 41000) as usize] = Some((dst, dport));
    }
    // rr would alternate; the /64 template keeps both clients on the first real server,
    // on every port (port-0 service: the packet's port is kept); the other /64 is
    // scheduled anew.
    assert_eq!(
        picks,
        vec![
            Some((RS1_6, 80)),
            Some((RS1_6, 443)),
            Some((RS1_6, 22)),
            Some((RS2_6, 80))
        ],
        "{stats}"
    );
}

#[test]
fn dr6_rewrites_only_the_destination_mac() {
    let dir = TempDir::new("dr6");
    let (wan_mac, lan_mac) = port_macs6(&dir, DR6_SERVICES);
    let syn = |sport| tcp6(CLIENT6, sport, VIP6, 80, TCP_SYN, 7, b"");
    let wan_in = vec![
        ns_frame(CLIENT_MAC, CLIENT6, VIP6, None),
        eth(wan_mac, CLIENT_MAC, 0x86dd, &syn(40000)),
        eth(wan_mac, CLIENT_MAC, 0x86dd, &syn(40001)),
    ];
    let lan_in = vec![
        na_frame(RS1_MAC, lan_mac, RS1_6, LAN_IP6, 0x60),
        na_frame(RS2_MAC, lan_mac, RS2_6, LAN_IP6, 0x60),
    ];
    let (wan_out, lan_out, stats, _) = run_rvsd_pcap6(&dir, DR6_SERVICES, &wan_in, &lan_in, false);
    assert_frames(
        "lan out",
        &lan_out,
        &[
            our_ns(lan_mac, RS1_6),
            our_ns(lan_mac, RS2_6),
            // The IPv6 packet is untouched (still to the VIP) but for the hop limit,
            // decremented as IPVS's decrement_ttl() does for DR (#25 item 6).
            with_hop_limit(eth(RS1_MAC, lan_mac, 0x86dd, &syn(40000)), 63),
            with_hop_limit(eth(RS2_MAC, lan_mac, 0x86dd, &syn(40001)), 63),
        ],
    );
    assert_frames(
        "wan out",
        &wan_out,
        &[our_na(wan_mac, CLIENT_MAC, VIP6, CLIENT6, 0x60)],
    );
    assert_eq!(stats["conns_created"].as_u64(), Some(2));
}

#[test]
fn icmpv6_echo_to_vip_and_own_address() {
    let dir = TempDir::new("echo6");
    let (wan_mac, _) = port_macs6(&dir, NAT6_SERVICES);
    let body = |seq: u8| vec![0x12, 0x34, 0, seq, b'p', b'i', b'n', b'g'];
    let req = |dst, seq| {
        eth(
            wan_mac,
            CLIENT_MAC,
            0x86dd,
            &icmp6(CLIENT6, dst, 64, 128, 0, &body(seq)),
        )
    };
    let mut bad = req(VIP6, 4);
    let last = bad.len() - 1;
    bad[last] ^= 1;
    let wan_in = vec![
        req(VIP6, 1),
        req(WAN_IP6, 2),
        req("2001:2::99".parse().unwrap(), 3),
        bad,
    ];
    let (wan_out, _, stats, _) = run_rvsd_pcap6(&dir, NAT6_SERVICES, &wan_in, &[], false);
    let reply = |src, seq| {
        eth(
            CLIENT_MAC,
            wan_mac,
            0x86dd,
            &icmp6(src, CLIENT6, 64, 129, 0, &body(seq)),
        )
    };
    assert_frames("wan out", &wan_out, &[reply(VIP6, 1), reply(WAN_IP6, 2)]);
    assert_eq!(stats["icmp_echo_replies"].as_u64(), Some(2));
    assert_eq!(drops(&stats, "no_service"), 1, "{stats}");
    assert_eq!(drops(&stats, "icmpv6_bad_checksum"), 1, "{stats}");
}

#[test]
fn malformed_ipv6_and_extension_headers_are_counted() {
    let dir = TempDir::new("bad6");
    let (wan_mac, _) = port_macs6(&dir, NAT6_SERVICES);
    let f = |p: &[u8]| eth(wan_mac, CLIENT_MAC, 0x86dd, p);
    let syn = tcp6(CLIENT6, 40000, VIP6, 80, TCP_SYN, 1, b"");
    let mut truncated = syn.clone();
    truncated[5] += 8; // payload length beyond the frame
    let mut v4_inside = syn.clone();
    v4_inside[0] = 0x45;
    let mut hop_by_hop = syn.clone();
    hop_by_hop[6] = 0;
    let mut fragment = syn.clone();
    fragment[6] = 44;
    let short_tcp = ipv6(CLIENT6, VIP6, 6, 64, &[0x9c, 0x40, 0, 80, 0, 0, 0, 1]);
    let ack = tcp6(CLIENT6, 40000, VIP6, 80, TCP_ACK, 1, b"");
    // Martian sources (#25 item 5): unspecified, loopback, multicast, IPv4-mapped, the
    // VIP itself and the director's own address.
    let from = |src: &str| f(&tcp6(src.parse().unwrap(), 80, VIP6, 80, TCP_SYN, 1, b""));
    let martians = [
        "::",
        "::1",
        "ff02::1",
        "::ffff:198.18.0.1",
        "2001:2::100",
        "2001:2::fe",
    ];
    let wan_in = vec![
        f(&syn[..30]),
        f(&truncated),
        f(&v4_inside),
        f(&hop_by_hop),
        f(&fragment),
        f(&short_tcp),
        f(&ack),
    ];
    let wan_in = [wan_in, martians.map(from).to_vec()].concat();
    let (wan_out, lan_out, stats, _) = run_rvsd_pcap6(&dir, NAT6_SERVICES, &wan_in, &[], false);
    // The ACK of no connection gets a RST from the VIP (issue #25 item 7), held while
    // rvsd solicits the client, whose address it has not resolved.
    let client_ns = ns_frame(wan_mac, WAN_IP6, CLIENT6, None);
    assert_frames("wan out", &wan_out, &[client_ns]);
    assert_frames("lan out", &lan_out, &[]);
    assert_eq!(stats["rst_sent_no_connection"].as_u64(), Some(1), "{stats}");
    assert_eq!(drops(&stats, "ipv6_malformed"), 3, "{stats}");
    assert_eq!(drops(&stats, "ipv6_extension_header"), 1, "{stats}");
    assert_eq!(drops(&stats, "ipv6_fragment"), 1, "{stats}");
    assert_eq!(drops(&stats, "l4_malformed"), 1, "{stats}");
    assert_eq!(drops(&stats, "no_connection"), 1, "{stats}");
    assert_eq!(drops(&stats, "ipv6_martian_source"), 6, "{stats}");
    assert_eq!(stats["conns_created"].as_u64(), Some(0));
}
