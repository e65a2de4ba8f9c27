//! Tier-2 golden pcap tests for TUN forwarding (IPIP, GUE, GRE), the tunnel path-MTU
//! check (ICMP fragmentation needed) and the translation of ICMP errors that belong to a
//! NAT connection, on the real rvsd over net_pcap. Expected frames are built here,
//! independently of the dataplane code, and compared field by field and then byte by byte.

mod common;
use common::*;
use std::net::Ipv4Addr;

/// An IPv4 header as the director writes it for a tunnel or an ICMP error it originates.
fn ip_hdr(
    src: Ipv4Addr,
    dst: Ipv4Addr,
    proto: u8,
    tos: u8,
    df: bool,
    ttl: u8,
    payload: &[u8],
) -> Vec<u8> {
    let total = 20 + payload.len();
    let mut h = vec![
        0x45,
        tos,
        (total >> 8) as u8,
        total as u8,
        0,
        0,
        if df { 0x40 } else { 0 },
        0,
        ttl,
        proto,
        0,
        0,
    ];
    h.extend_from_slice(&src.octets());
    h.extend_from_slice(&dst.octets());
    let c = csum(&h, 0);
    h[10..12].copy_from_slice(&c.to_be_bytes());
    h.extend_from_slice(payload);
    h
}

/// Set the TTL of an IPv4 packet and recompute its header checksum.
fn set_ttl(mut ip: Vec<u8>, ttl: u8) -> Vec<u8> {
    ip[8] = ttl;
    ip[10] = 0;
    ip[11] = 0;
    let hl = usize::from(ip[0] & 0xf) * 4;
    let c = csum(&ip[..hl], 0);
    ip[10..12].copy_from_slice(&c.to_be_bytes());
    ip
}

/// An IPv4 packet one hop on: TTL decremented (header checksum recomputed), as the
/// director sends every packet towards a real server (#25 item 6; TUN: the inner packet,
/// before encapsulation, and the outer header copies its TTL).
fn hop(ip: &[u8]) -> Vec<u8> {
    set_ttl(ip.to_vec(), ip[8] - 1)
}

fn icmp_msg(ty: u8, code: u8, rest: [u8; 4], body: &[u8]) -> Vec<u8> {
    let mut m = vec![ty, code, 0, 0];
    m.extend_from_slice(&rest);
    m.extend_from_slice(body);
    let c = csum(&m, 0);
    m[2..4].copy_from_slice(&c.to_be_bytes());
    m
}

const TUNNEL_SERVICES: &str = r#"services:
  - proto: tcp
    vip: 198.18.0.100
    port: 80
    scheduler: rr
    method: tunnel
    real_servers:
      - { address: 198.19.0.11, port: 80 }
  - proto: tcp
    vip: 198.18.0.100
    port: 81
    scheduler: rr
    method: tunnel
    tunnel_type: gue
    tunnel_port: 6080
    real_servers:
      - { address: 198.19.0.11, port: 81 }
  - proto: tcp
    vip: 198.18.0.100
    port: 82
    scheduler: rr
    method: tunnel
    tunnel_type: gre
    real_servers:
      - { address: 198.19.0.12, port: 82 }
"#;

#[test]
fn tunnel_ipip_gue_gre_encapsulate_syn_and_data() {
    let dir = TempDir::new("tun-encap");
    let (_, _, stats, _) = run_rvsd_pcap(&dir, TUNNEL_SERVICES, &[], &[]);
    let (wan_mac, lan_mac) = (port_mac(&stats, 0), port_mac(&stats, 1));

    let syn = |port: u16| tcp(CLIENT, 40000 + port, VIP, port, TCP_SYN, 1000, b"");
    let data = |port: u16| {
        tcp(
            CLIENT,
            40000 + port,
            VIP,
            port,
            TCP_ACK,
            1001,
            b"GET / HTTP/1.0\r\n\r\n",
        )
    };
    let ports = [80u16, 81, 82];
    let mut wan_in: Vec<Vec<u8>> = ports
        .iter()
        .map(|&p| eth(wan_mac, CLIENT_MAC, 0x0800, &syn(p)))
        .collect();
    wan_in.extend(
        ports
            .iter()
            .map(|&p| eth(wan_mac, CLIENT_MAC, 0x0800, &data(p))),
    );
    // A router on the client's side reports that RS1's direct reply (from the VIP) timed
    // out: IPVS hands such an error to the connection's transmitter, so it is tunnelled.
    let router: Ipv4Addr = "198.18.0.7".parse().unwrap();
    let reply = tcp(VIP, 80, CLIENT, 40080, TCP_SYN | TCP_ACK, 7, b"");
    let quote = reply[..28].to_vec();
    let time_exceeded = ip_hdr(
        router,
        VIP,
        1,
        0,
        false,
        64,
        &icmp_msg(11, 0, [0; 4], &quote),
    );
    wan_in.push(eth(wan_mac, CLIENT_MAC, 0x0800, &time_exceeded));
    let lan_in = vec![
        arp_frame(2, RS1_MAC, RS1, lan_mac, LAN_IP),
        arp_frame(2, RS2_MAC, RS2, lan_mac, LAN_IP),
    ];
    let (wan_out, lan_out, stats, _) = run_rvsd_pcap(&dir, TUNNEL_SERVICES, &wan_in, &lan_in);

    // GUE's UDP source port comes from a flow hash: one port per flow, in Linux's local
    // port range; read it from the output, then demand everything else exactly.
    let gue_sports: Vec<u16> = lan_out
        .iter()
        .filter(|f| f.len() > 34 + 8 && f[12..14] == [8, 0] && f[14 + 9] == 17)
        .map(|f| u16::from_be_bytes([f[34], f[35]]))
        .collect();
    assert_eq!(gue_sports.len(), 2, "two GUE packets");
    assert_eq!(gue_sports[0], gue_sports[1], "one source port per flow");
    assert!((32768..61000).contains(&gue_sports[0]), "{gue_sports:?}");
    let sport = gue_sports[0];

    // The client's packets (TTL 64) go one hop on: 63 inside, copied outside.
    let ipip = |inner: &[u8], rs| ip_hdr(LAN_IP, rs, 4, 0, true, 63, &hop(inner));
    let gue = |inner: &[u8], rs| {
        let mut u = sport.to_be_bytes().to_vec();
        u.extend_from_slice(&6080u16.to_be_bytes());
        u.extend_from_slice(&((8 + 4 + inner.len()) as u16).to_be_bytes());
        u.extend_from_slice(&[0, 0, 0, 4, 0, 0]);
        u.extend_from_slice(&hop(inner));
        ip_hdr(LAN_IP, rs, 17, 0, true, 63, &u)
    };
    let gre = |inner: &[u8], rs| {
        let mut g = vec![0, 0, 8, 0];
        g.extend_from_slice(&hop(inner));
        ip_hdr(LAN_IP, rs, 47, 0, true, 63, &g)
    };
    let to = |mac, ip: Vec<u8>| eth(mac, lan_mac, 0x0800, &ip);
    assert_exact(
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
            // Held for RS1 in arrival order, released by its ARP reply.
            to(RS1_MAC, ipip(&syn(80), RS1)),
            to(RS1_MAC, gue(&syn(81), RS1)),
            to(RS1_MAC, ipip(&data(80), RS1)),
            to(RS1_MAC, gue(&data(81), RS1)),
            // No DF inside, so none outside, and the inner ID (0) as the outer one.
            to(
                RS1_MAC,
                ip_hdr(LAN_IP, RS1, 4, 0, false, 63, &hop(&time_exceeded)),
            ),
            to(RS2_MAC, gre(&syn(82), RS2)),
            to(RS2_MAC, gre(&data(82), RS2)),
        ],
    );
    assert_exact("wan out", &wan_out, &[]);
    assert_eq!(counter(&stats, "tunnel_encapsulated"), 7);
    assert_eq!(counter(&stats, "conns_created"), 3);
    assert_eq!(counter(&stats, "icmp_errors_translated"), 1);
}

#[test]
fn tunnel_too_big_with_df_gets_frag_needed_from_the_vip() {
    let dir = TempDir::new("tun-mtu");
    let svc = r#"services:
  - proto: tcp
    vip: 198.18.0.100
    port: 80
    scheduler: rr
    method: tunnel
    real_servers:
      - { address: 198.19.0.11, port: 80 }
"#;
    let (_, _, stats, _) = run_rvsd_pcap(&dir, svc, &[], &[]);
    let (wan_mac, lan_mac) = (port_mac(&stats, 0), port_mac(&stats, 1));
    let seg = |len: usize, seq| {
        // An IPv4 packet of exactly `len` bytes (DF set by the helper).
        let payload = vec![b'x'; len - 40];
        tcp(CLIENT, 40000, VIP, 80, TCP_ACK, seq, &payload)
    };
    let syn = tcp(CLIENT, 40000, VIP, 80, TCP_SYN, 1000, b"");
    let fits = seg(1480, 1001); // 1480 + 20 = the 1500-byte MTU exactly
    let too_big = seg(1481, 2481);
    let mut no_df = seg(1481, 3962);
    no_df[6] = 0; // clear DF
    let no_df = set_ttl(no_df, 64);
    let wan_in = vec![
        arp_frame(1, CLIENT_MAC, CLIENT, BROADCAST, VIP),
        eth(wan_mac, CLIENT_MAC, 0x0800, &syn),
        eth(wan_mac, CLIENT_MAC, 0x0800, &fits),
        eth(wan_mac, CLIENT_MAC, 0x0800, &too_big),
        eth(wan_mac, CLIENT_MAC, 0x0800, &no_df),
    ];
    // A router between the director and RS1 cannot pass the 1500-byte tunnel packet
    // (its next hop has MTU 1400) and says so to the director, quoting 548 bytes of it:
    // the client must hear of it as MTU 1400 - 20, about its own packet, from the VIP.
    let lan_router: Ipv4Addr = "198.19.0.1".parse().unwrap();
    let tunnelled = ip_hdr(LAN_IP, RS1, 4, 0, true, 63, &hop(&fits));
    let router_frag_needed = ip_hdr(
        lan_router,
        LAN_IP,
        1,
        0,
        false,
        64,
        &icmp_msg(3, 4, [0, 0, 0x05, 0x78], &tunnelled[..548]),
    );
    let lan_in = vec![
        arp_frame(2, RS1_MAC, RS1, lan_mac, LAN_IP),
        eth(lan_mac, RS1_MAC, 0x0800, &router_frag_needed),
    ];
    let (wan_out, lan_out, stats, _) = run_rvsd_pcap(&dir, svc, &wan_in, &lan_in);

    // ICMP type 3 code 4, next-hop MTU 1500 - 20, from the VIP, quoting 548 bytes (576
    // less IP and ICMP headers) of the packet, its TTL already decremented as IPVS's
    // decrement_ttl() comes before its MTU check; TOS = internetwork control, TTL 64.
    let frag_needed = ip_hdr(
        VIP,
        CLIENT,
        1,
        0xc0,
        false,
        64,
        &icmp_msg(3, 4, [0, 0, 0x05, 0xc8], &hop(&too_big)[..548]),
    );
    assert_exact(
        "wan out",
        &wan_out,
        &[
            eth(
                CLIENT_MAC,
                wan_mac,
                0x0806,
                &arp(2, wan_mac, VIP, CLIENT_MAC, CLIENT),
            ),
            eth(CLIENT_MAC, wan_mac, 0x0800, &frag_needed),
            eth(
                CLIENT_MAC,
                wan_mac,
                0x0800,
                &ip_hdr(
                    VIP,
                    CLIENT,
                    1,
                    0xc0,
                    false,
                    64,
                    &icmp_msg(3, 4, [0, 0, 0x05, 0x64], &hop(&fits)[..528]),
                ),
            ),
        ],
    );
    let ipip = |inner: &[u8]| {
        eth(
            RS1_MAC,
            lan_mac,
            0x0800,
            &ip_hdr(LAN_IP, RS1, 4, 0, true, 63, &hop(inner)),
        )
    };
    assert_exact(
        "lan out",
        &lan_out,
        &[
            eth(
                BROADCAST,
                lan_mac,
                0x0806,
                &arp(1, lan_mac, LAN_IP, [0; 6], RS1),
            ),
            ipip(&syn),
            ipip(&fits),
        ],
    );
    assert_eq!(lan_out[2].len(), 14 + 1500);
    assert_eq!(counter(&stats, "tunnel_encapsulated"), 2);
    assert_eq!(counter(&stats, "frag_needed_sent"), 1);
    assert_eq!(drops(&stats, "tunnel_too_big"), 2);
    assert_eq!(counter(&stats, "icmp_errors_translated"), 1);
}

#[test]
fn tunnel_mtu_is_the_lan_ports_configured_mtu() {
    let dir = TempDir::new("tun-mtu-cfg");
    let svc = r#"services:
  - proto: tcp
    vip: 198.18.0.100
    port: 80
    scheduler: rr
    method: tunnel
    tunnel_type: gre
    tunnel_csum: csum
    real_servers:
      - { address: 198.19.0.11, port: 80 }
"#;
    const MTU: usize = 1400;
    // GRE with checksum: 20 + 4 + 4 bytes in front of the client's packet.
    const OVERHEAD: usize = 28;
    let (_, _, stats, _) = run_rvsd_pcap_lan_mtu(&dir, svc, &[], &[], false, MTU as u16);
    let (wan_mac, lan_mac) = (port_mac(&stats, 0), port_mac(&stats, 1));
    let seg = |len: usize, seq| tcp(CLIENT, 40000, VIP, 80, TCP_ACK, seq, &vec![b'x'; len - 40]);
    let syn = tcp(CLIENT, 40000, VIP, 80, TCP_SYN, 1000, b"");
    let fits = seg(MTU - OVERHEAD, 1001);
    let too_big = seg(MTU - OVERHEAD + 1, 3000);
    let wan_in = vec![
        arp_frame(1, CLIENT_MAC, CLIENT, BROADCAST, VIP),
        eth(wan_mac, CLIENT_MAC, 0x0800, &syn),
        eth(wan_mac, CLIENT_MAC, 0x0800, &fits),
        eth(wan_mac, CLIENT_MAC, 0x0800, &too_big),
    ];
    let lan_in = vec![arp_frame(2, RS1_MAC, RS1, lan_mac, LAN_IP)];
    let (wan_out, lan_out, stats, _) =
        run_rvsd_pcap_lan_mtu(&dir, svc, &wan_in, &lan_in, false, MTU as u16);
    let mtu_word = ((MTU - OVERHEAD) as u16).to_be_bytes();
    assert_exact(
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
                &ip_hdr(
                    VIP,
                    CLIENT,
                    1,
                    0xc0,
                    false,
                    64,
                    &icmp_msg(
                        3,
                        4,
                        [0, 0, mtu_word[0], mtu_word[1]],
                        &hop(&too_big)[..548],
                    ),
                ),
            ),
        ],
    );
    let gre_csum = |inner: &[u8]| {
        let mut g = vec![0x80, 0, 8, 0, 0, 0, 0, 0];
        g.extend_from_slice(&hop(inner));
        let c = csum(&g, 0);
        g[4..6].copy_from_slice(&c.to_be_bytes());
        eth(
            RS1_MAC,
            lan_mac,
            0x0800,
            &ip_hdr(LAN_IP, RS1, 47, 0, true, 63, &g),
        )
    };
    assert_exact(
        "lan out",
        &lan_out,
        &[
            eth(
                BROADCAST,
                lan_mac,
                0x0806,
                &arp(1, lan_mac, LAN_IP, [0; 6], RS1),
            ),
            gre_csum(&syn),
            gre_csum(&fits),
        ],
    );
    assert_eq!(lan_out[2].len(), 14 + MTU);
    assert_eq!(counter(&stats, "frag_needed_sent"), 1);
    assert_eq!(drops(&stats, "tunnel_too_big"), 1);
}

#[test]
fn icmp_errors_of_nat_connections_are_translated_both_ways() {
    let dir = TempDir::new("icmp-nat");
    let svc = r#"services:
  - proto: udp
    vip: 198.18.0.100
    port: 5353
    scheduler: rr
    method: masq
    real_servers:
      - { address: 198.19.0.11, port: 53 }
  - proto: tcp
    vip: 198.18.0.100
    port: 80
    scheduler: rr
    method: masq
    real_servers:
      - { address: 198.19.0.11, port: 8080 }
"#;
    let (_, _, stats, _) = run_rvsd_pcap(&dir, svc, &[], &[]);
    let (wan_mac, lan_mac) = (port_mac(&stats, 0), port_mac(&stats, 1));
    let router: Ipv4Addr = "198.18.0.7".parse().unwrap();

    // Flow A, UDP: the real server answers the query with "port unreachable".
    let query = udp(CLIENT, 40000, VIP, 5353, b"query");
    let query_at_rs = udp(CLIENT, 40000, RS1, 53, b"query");
    let port_unreach = ip_hdr(
        RS1,
        CLIENT,
        1,
        0,
        false,
        64,
        &icmp_msg(3, 3, [0; 4], &query_at_rs),
    );
    // Flow B, TCP: a router on the client's side reports the SYN-ACK's TTL expired.
    let syn = tcp(CLIENT, 40001, VIP, 80, TCP_SYN, 1000, b"");
    let synack_rs = tcp(RS1, 8080, CLIENT, 40001, TCP_SYN | TCP_ACK, 5000, b"");
    let synack_out = set_ttl(
        tcp(VIP, 80, CLIENT, 40001, TCP_SYN | TCP_ACK, 5000, b""),
        63,
    );
    let time_exceeded = ip_hdr(
        router,
        VIP,
        1,
        0,
        false,
        64,
        &icmp_msg(11, 0, [0; 4], &set_ttl(synack_out.clone(), 1)[..28]),
    );
    // Unrelated: an error quoting a flow rvs does not know is not forwarded.
    let stray = ip_hdr(
        router,
        VIP,
        1,
        0,
        false,
        64,
        &icmp_msg(
            3,
            1,
            [0; 4],
            &tcp(VIP, 80, CLIENT, 1, TCP_ACK, 1, b"")[..28],
        ),
    );

    let wan_in = vec![
        arp_frame(1, CLIENT_MAC, CLIENT, BROADCAST, VIP),
        eth(wan_mac, CLIENT_MAC, 0x0800, &query),
        eth(wan_mac, CLIENT_MAC, 0x0800, &syn),
        eth(wan_mac, CLIENT_MAC, 0x0800, &time_exceeded),
        eth(wan_mac, CLIENT_MAC, 0x0800, &stray),
    ];
    let lan_in = vec![
        arp_frame(2, RS1_MAC, RS1, lan_mac, LAN_IP),
        eth(lan_mac, RS1_MAC, 0x0800, &synack_rs),
        eth(lan_mac, RS1_MAC, 0x0800, &port_unreach),
    ];
    let (wan_out, lan_out, stats, _) = run_rvsd_pcap(&dir, svc, &wan_in, &lan_in);

    // Towards the client: from the VIP, quoting the query exactly as the client sent it
    // (addresses, ports and both checksums restored); TTL decremented as routed.
    let port_unreach_out = ip_hdr(
        VIP,
        CLIENT,
        1,
        0,
        false,
        63,
        &icmp_msg(3, 3, [0; 4], &query),
    );
    // Towards the real server: to the RIP, quoting the SYN-ACK as the RS sent it (source
    // RIP:8080, quoted header checksum fixed); the router stays the source; TTL
    // decremented as every packet towards the real server (#25 item 6).
    let quote_at_rs = set_ttl(synack_rs.clone(), 1)[..28].to_vec();
    let time_exceeded_in = ip_hdr(
        router,
        RS1,
        1,
        0,
        false,
        63,
        &icmp_msg(11, 0, [0; 4], &quote_at_rs),
    );
    assert_exact(
        "wan out",
        &wan_out,
        &[
            eth(
                CLIENT_MAC,
                wan_mac,
                0x0806,
                &arp(2, wan_mac, VIP, CLIENT_MAC, CLIENT),
            ),
            eth(CLIENT_MAC, wan_mac, 0x0800, &synack_out),
            eth(CLIENT_MAC, wan_mac, 0x0800, &port_unreach_out),
        ],
    );
    assert_exact(
        "lan out",
        &lan_out,
        &[
            eth(
                BROADCAST,
                lan_mac,
                0x0806,
                &arp(1, lan_mac, LAN_IP, [0; 6], RS1),
            ),
            eth(RS1_MAC, lan_mac, 0x0800, &hop(&query_at_rs)),
            eth(
                RS1_MAC,
                lan_mac,
                0x0800,
                &hop(&tcp(CLIENT, 40001, RS1, 8080, TCP_SYN, 1000, b"")),
            ),
            eth(RS1_MAC, lan_mac, 0x0800, &time_exceeded_in),
        ],
    );
    assert_eq!(counter(&stats, "icmp_errors_translated"), 2);
    assert_eq!(drops(&stats, "for_director"), 1, "the stray error");
}

#[test]
fn icmp_errors_of_fullnat_connections_are_translated_both_ways() {
    let dir = TempDir::new("icmp-fullnat");
    let svc = r#"snat_pools:
  - { name: p1, addresses: [198.19.0.250], ports: 7000-7001 }
services:
  - proto: udp
    vip: 198.18.0.100
    port: 5353
    scheduler: rr
    method: fullnat
    snat_pool: p1
    real_servers:
      - { address: 198.19.0.11, port: 53 }
  - proto: tcp
    vip: 198.18.0.100
    port: 80
    scheduler: rr
    method: fullnat
    snat_pool: p1
    real_servers:
      - { address: 198.19.0.11, port: 8080 }
"#;
    let lip: Ipv4Addr = "198.19.0.250".parse().unwrap();
    let (_, _, stats, _) = run_rvsd_pcap(&dir, svc, &[], &[]);
    let (wan_mac, lan_mac) = (port_mac(&stats, 0), port_mac(&stats, 1));
    let router: Ipv4Addr = "198.18.0.7".parse().unwrap();

    // Flow A, UDP: the real server answers the query (from the local address) with "port
    // unreachable", addressed to the local address.
    let query = udp(CLIENT, 40000, VIP, 5353, b"query");
    let query_at_rs = udp(lip, 7000, RS1, 53, b"query");
    let port_unreach = ip_hdr(
        RS1,
        lip,
        1,
        0,
        false,
        64,
        &icmp_msg(3, 3, [0; 4], &query_at_rs),
    );
    // Flow B, TCP: a router on the client's side reports the SYN-ACK's TTL expired.
    let syn = tcp(CLIENT, 40001, VIP, 80, TCP_SYN, 1000, b"");
    let syn_at_rs = tcp(lip, 7001, RS1, 8080, TCP_SYN, 1000, b"");
    let synack_rs = tcp(RS1, 8080, lip, 7001, TCP_SYN | TCP_ACK, 5000, b"");
    let synack_out = set_ttl(
        tcp(VIP, 80, CLIENT, 40001, TCP_SYN | TCP_ACK, 5000, b""),
        63,
    );
    let time_exceeded = ip_hdr(
        router,
        VIP,
        1,
        0,
        false,
        64,
        &icmp_msg(11, 0, [0; 4], &set_ttl(synack_out.clone(), 1)[..28]),
    );

    // Flow B again: the real server reports a segment it got from the director (quoted
    // with sequence number 1000 in the real server's space) unreachable.
    let host_unreach = ip_hdr(
        RS1,
        lip,
        1,
        0,
        false,
        64,
        &icmp_msg(3, 1, [0; 4], &syn_at_rs[..28]),
    );
    let wan_in = vec![
        arp_frame(1, CLIENT_MAC, CLIENT, BROADCAST, VIP),
        eth(wan_mac, CLIENT_MAC, 0x0800, &query),
        eth(wan_mac, CLIENT_MAC, 0x0800, &syn),
        eth(wan_mac, CLIENT_MAC, 0x0800, &time_exceeded),
    ];
    let lan_in = vec![
        arp_frame(2, RS1_MAC, RS1, lan_mac, LAN_IP),
        eth(lan_mac, RS1_MAC, 0x0800, &synack_rs),
        eth(lan_mac, RS1_MAC, 0x0800, &port_unreach),
        eth(lan_mac, RS1_MAC, 0x0800, &host_unreach),
    ];
    let (wan_out, lan_out, stats, _) = run_rvsd_pcap(&dir, svc, &wan_in, &lan_in);
    // FULLNAT gives the real server the director's sequence numbers: the offset from the
    // SYN as rvsd sent it; the SYN-ACK's acknowledgement (0) comes back less it.
    let d = lan_out.get(2).map_or(0, |f| tcp_seq(f)).wrapping_sub(1000);

    // Towards the client: from the VIP, quoting the query exactly as the client sent it
    // (CIP:40000 -> VIP:5353, both checksums restored); TTL decremented as routed.
    let port_unreach_out = ip_hdr(
        VIP,
        CLIENT,
        1,
        0,
        false,
        63,
        &icmp_msg(3, 3, [0; 4], &query),
    );
    // Towards the real server: from the local address to the RIP, quoting the SYN-ACK as
    // the RS sent it (RIP:8080 -> LIP:7001), as the kernel and DPVS do; TTL decremented.
    let quote_at_rs = set_ttl(synack_rs.clone(), 1)[..28].to_vec();
    let time_exceeded_in = ip_hdr(
        lip,
        RS1,
        1,
        0,
        false,
        63,
        &icmp_msg(11, 0, [0; 4], &quote_at_rs),
    );
    assert_exact(
        "wan out",
        &wan_out,
        &[
            eth(
                CLIENT_MAC,
                wan_mac,
                0x0806,
                &arp(2, wan_mac, VIP, CLIENT_MAC, CLIENT),
            ),
            with_tcp_seq_ack(
                eth(CLIENT_MAC, wan_mac, 0x0800, &synack_out),
                5000,
                0u32.wrapping_sub(d),
            ),
            eth(CLIENT_MAC, wan_mac, 0x0800, &port_unreach_out),
            // Quoting the client's own segment: its addresses and ports, and the quoted
            // sequence number back in the client's space (1000 less the offset).
            eth(
                CLIENT_MAC,
                wan_mac,
                0x0800,
                &ip_hdr(
                    VIP,
                    CLIENT,
                    1,
                    0,
                    false,
                    63,
                    &icmp_msg(
                        3,
                        1,
                        [0; 4],
                        &tcp(
                            CLIENT,
                            40001,
                            VIP,
                            80,
                            TCP_SYN,
                            1000u32.wrapping_sub(d),
                            b"",
                        )[..28],
                    ),
                ),
            ),
        ],
    );
    assert_exact(
        "lan out",
        &lan_out,
        &[
            eth(
                BROADCAST,
                lan_mac,
                0x0806,
                &arp(1, lan_mac, LAN_IP, [0; 6], RS1),
            ),
            eth(RS1_MAC, lan_mac, 0x0800, &hop(&query_at_rs)),
            with_tcp_seq_ack(
                eth(RS1_MAC, lan_mac, 0x0800, &hop(&syn_at_rs)),
                1000u32.wrapping_add(d),
                0,
            ),
            eth(RS1_MAC, lan_mac, 0x0800, &time_exceeded_in),
        ],
    );
    assert_eq!(counter(&stats, "icmp_errors_translated"), 3);
}
