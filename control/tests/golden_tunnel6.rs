//! Tier-2 golden pcap tests for IPv6 TUN forwarding (ip6ip6, GUE, GRE, with and without
//! checksums) and the IPv6 tunnel path-MTU check (ICMPv6 Packet Too Big from the VIP) on
//! the real rvsd over net_pcap, with the lan port's configured `mtu:`. Expected frames
//! are built here, independently of the dataplane code (checksums computed here), and
//! compared field by field and then byte by byte.

mod common;
use common::*;
use std::net::Ipv6Addr;

/// The IPv6 pseudo-header sum (RFC 8200 8.1), for `csum`'s initial value.
fn pseudo6(src: Ipv6Addr, dst: Ipv6Addr, nh: u8, len: usize) -> u32 {
    let mut s = 0u32;
    for c in src.octets().chunks(2).chain(dst.octets().chunks(2)) {
        s += u16::from_be_bytes([c[0], c[1]]) as u32;
    }
    s + nh as u32 + len as u32
}

/// An IPv6 header with traffic class `tc` and flow label 0, + payload.
fn ip6_hdr(src: Ipv6Addr, dst: Ipv6Addr, nh: u8, tc: u8, hop: u8, payload: &[u8]) -> Vec<u8> {
    let mut h = ipv6(src, dst, nh, hop, payload);
    h[0] = 0x60 | (tc >> 4);
    h[1] = tc << 4;
    h
}

/// A client TCP segment to the VIP with traffic class 0xb7 (DSCP 45, ECN CE), flow
/// label 0x12345 and hop limit 61 (none of them covered by the TCP checksum).
fn client_tcp(sport: u16, dport: u16, flags: u8, seq: u32, payload: &[u8]) -> Vec<u8> {
    let mut p = tcp6(CLIENT6, sport, VIP6, dport, flags, seq, payload);
    p[0..4].copy_from_slice(&[0x6b, 0x71, 0x23, 0x45]);
    p[7] = 61;
    p
}

/// An IPv6 packet one hop on: hop limit decremented, as the director sends every packet
/// towards a real server (#25 item 6; TUN: the inner packet, before encapsulation).
fn hop6(p: &[u8]) -> Vec<u8> {
    let mut p = p.to_vec();
    p[7] -= 1;
    p
}

/// UDP + GUE (version 0, protocol 41) + `inner`, from `sport` to 6080, with the UDP
/// checksum when `csum` (0 otherwise, as `udp6_set_csum(nocheck)`).
fn gue(sport: u16, inner: &[u8], rs: Ipv6Addr, csum_on: bool) -> Vec<u8> {
    let mut u = sport.to_be_bytes().to_vec();
    u.extend_from_slice(&6080u16.to_be_bytes());
    u.extend_from_slice(&((8 + 4 + inner.len()) as u16).to_be_bytes());
    u.extend_from_slice(&[0, 0, 0, 41, 0, 0]);
    u.extend_from_slice(inner);
    if csum_on {
        let mut c = csum(&u, pseudo6(LAN_IP6, rs, 17, u.len()));
        if c == 0 {
            c = 0xffff;
        }
        u[6..8].copy_from_slice(&c.to_be_bytes());
    }
    u
}

/// GRE with protocol type 0x86DD + `inner`; with the checksum flag and field when
/// `csum_on`.
fn gre(inner: &[u8], csum_on: bool) -> Vec<u8> {
    let mut g = if csum_on {
        vec![0x80, 0, 0x86, 0xdd, 0, 0, 0, 0]
    } else {
        vec![0, 0, 0x86, 0xdd]
    };
    g.extend_from_slice(inner);
    if csum_on {
        let c = csum(&g, 0);
        g[4..6].copy_from_slice(&c.to_be_bytes());
    }
    g
}

const TUNNEL6_SERVICES: &str = r#"services:
  - proto: tcp
    vip: "2001:2::100"
    port: 80
    scheduler: rr
    method: tunnel
    real_servers:
      - { address: "2001:2:0:1::11", port: 80 }
  - proto: tcp
    vip: "2001:2::100"
    port: 81
    scheduler: rr
    method: tunnel
    tunnel_type: gue
    tunnel_port: 6080
    tunnel_csum: csum
    real_servers:
      - { address: "2001:2:0:1::11", port: 81 }
  - proto: tcp
    vip: "2001:2::100"
    port: 82
    scheduler: rr
    method: tunnel
    tunnel_type: gre
    real_servers:
      - { address: "2001:2:0:1::11", port: 82, tunnel_csum: csum }
      - { address: "2001:2:0:1::12", port: 82 }
  - proto: tcp
    vip: "2001:2::100"
    port: 83
    scheduler: rr
    method: tunnel
    tunnel_type: gue
    tunnel_port: 6080
    real_servers:
      - { address: "2001:2:0:1::12", port: 83 }
"#;

#[test]
fn tunnel6_ip6ip6_gue_gre_encapsulate_with_checksum_options() {
    let dir = TempDir::new("tun6-encap");
    let (_, _, stats, _) = run_rvsd_pcap6(&dir, TUNNEL6_SERVICES, &[], &[], false);
    let (wan_mac, lan_mac) = (port_mac(&stats, 0), port_mac(&stats, 1));

    let syn = |sport: u16, port: u16| client_tcp(sport, port, TCP_SYN, 1000, b"");
    let data =
        |sport: u16, port: u16| client_tcp(sport, port, TCP_ACK, 1001, b"GET / HTTP/1.0\r\n\r\n");
    // Port 82 is rr over RS2 (GRE) then RS1 (GRE with checksum): two clients ports.
    let flows = [
        (40080u16, 80u16),
        (40081, 81),
        (40082, 82),
        (40182, 82),
        (40083, 83),
    ];
    let mut wan_in: Vec<Vec<u8>> = flows
        .iter()
        .map(|&(s, p)| eth(wan_mac, CLIENT_MAC, 0x86dd, &syn(s, p)))
        .collect();
    wan_in.push(eth(wan_mac, CLIENT_MAC, 0x86dd, &data(40080, 80)));
    wan_in.push(eth(wan_mac, CLIENT_MAC, 0x86dd, &data(40081, 81)));
    let lan_in = vec![
        na_frame(RS1_MAC, lan_mac, RS1_6, LAN_IP6, 0x60),
        na_frame(RS2_MAC, lan_mac, RS2_6, LAN_IP6, 0x60),
    ];
    let (wan_out, lan_out, stats, _) =
        run_rvsd_pcap6(&dir, TUNNEL6_SERVICES, &wan_in, &lan_in, false);

    // GUE source ports come from a flow hash: read them, demand the rest exactly.
    let sports: Vec<u16> = lan_out
        .iter()
        .filter(|f| f.len() > 62 && f[12..14] == [0x86, 0xdd] && f[14 + 6] == 17)
        .map(|f| u16::from_be_bytes([f[54], f[55]]))
        .collect();
    assert_eq!(sports.len(), 3, "three GUE packets: {sports:?}");
    assert_eq!(sports[0], sports[1], "one source port per flow");
    for p in &sports {
        assert!((32768..61000).contains(p), "{sports:?}");
    }
    // Outer: from the lan address, traffic class 0xb6 (CE -> ECT(0)), flow label 0,
    // hop limit copied from the inner packet's, decremented first (61 - 1, #25 item 6).
    let out = |mac, rs: Ipv6Addr, nh: u8, payload: &[u8]| {
        eth(
            mac,
            lan_mac,
            0x86dd,
            &ip6_hdr(LAN_IP6, rs, nh, 0xb6, 60, payload),
        )
    };
    let our_ns = |target| ns_frame(lan_mac, LAN_IP6, target, None);
    assert_exact(
        "lan out",
        &lan_out,
        &[
            our_ns(RS1_6),
            our_ns(RS2_6),
            // Held for RS1 / RS2 in arrival order, released by their advertisements.
            out(RS1_MAC, RS1_6, 41, &hop6(&syn(40080, 80))),
            out(
                RS1_MAC,
                RS1_6,
                17,
                &gue(sports[0], &hop6(&syn(40081, 81)), RS1_6, true),
            ),
            out(RS1_MAC, RS1_6, 47, &gre(&hop6(&syn(40182, 82)), true)),
            out(RS1_MAC, RS1_6, 41, &hop6(&data(40080, 80))),
            out(
                RS1_MAC,
                RS1_6,
                17,
                &gue(sports[0], &hop6(&data(40081, 81)), RS1_6, true),
            ),
            out(RS2_MAC, RS2_6, 47, &gre(&hop6(&syn(40082, 82)), false)),
            out(
                RS2_MAC,
                RS2_6,
                17,
                &gue(sports[2], &hop6(&syn(40083, 83)), RS2_6, false),
            ),
        ],
    );
    // Replies bypass the director: nothing goes back out of the client's side.
    assert_exact("wan out", &wan_out, &[]);
    assert_eq!(counter(&stats, "tunnel_encapsulated"), 7);
    assert_eq!(counter(&stats, "conns_created"), 5);
}

#[test]
fn tunnel6_too_big_gets_packet_too_big_from_the_vip_at_the_configured_mtu() {
    let dir = TempDir::new("tun6-mtu");
    let svc = r#"services:
  - proto: tcp
    vip: "2001:2::100"
    port: 80
    scheduler: rr
    method: tunnel
    real_servers:
      - { address: "2001:2:0:1::11", port: 80 }
"#;
    const MTU: usize = 1400;
    let (_, _, stats, _) = run_rvsd_pcap_lan_mtu(&dir, svc, &[], &[], true, MTU as u16);
    let (wan_mac, lan_mac) = (port_mac(&stats, 0), port_mac(&stats, 1));
    // An IPv6 packet of exactly `len` bytes.
    let seg = |len: usize, seq| client_tcp(40000, 80, TCP_ACK, seq, &vec![b'x'; len - 60]);
    let syn = client_tcp(40000, 80, TCP_SYN, 1000, b"");
    let fits = seg(MTU - 40, 1001); // + 40 = the lan port's MTU exactly
    let too_big = seg(MTU - 39, 3000);
    let wan_in = vec![
        ns_frame(CLIENT_MAC, CLIENT6, VIP6, None),
        eth(wan_mac, CLIENT_MAC, 0x86dd, &syn),
        eth(wan_mac, CLIENT_MAC, 0x86dd, &fits),
        eth(wan_mac, CLIENT_MAC, 0x86dd, &too_big),
    ];
    let lan_in = vec![na_frame(RS1_MAC, lan_mac, RS1_6, LAN_IP6, 0x60)];
    let (wan_out, lan_out, stats, _) =
        run_rvsd_pcap_lan_mtu(&dir, svc, &wan_in, &lan_in, true, MTU as u16);

    // ICMPv6 type 2 code 0, MTU 1400 - 40, from the VIP, hop limit 64, quoting the
    // whole offending packet (1361 bytes would not fit 1280: 1232 are quoted).
    let mut body = ((MTU - 40) as u32).to_be_bytes().to_vec();
    // Its hop limit already decremented: IPVS's decrement_ttl() comes before the MTU
    // check.
    body.extend_from_slice(&hop6(&too_big)[..1232]);
    let ptb = icmp6(VIP6, CLIENT6, 64, 2, 0, &body);
    assert_eq!(ptb.len(), 1280);
    let mut na = vec![0x60, 0, 0, 0];
    na.extend_from_slice(&VIP6.octets());
    na.extend_from_slice(&[2, 1]);
    na.extend_from_slice(&wan_mac);
    assert_exact(
        "wan out",
        &wan_out,
        &[
            eth(
                CLIENT_MAC,
                wan_mac,
                0x86dd,
                &icmp6(VIP6, CLIENT6, 255, 136, 0, &na),
            ),
            eth(CLIENT_MAC, wan_mac, 0x86dd, &ptb),
        ],
    );
    let ip6ip6 = |inner: &[u8]| {
        eth(
            RS1_MAC,
            lan_mac,
            0x86dd,
            &ip6_hdr(LAN_IP6, RS1_6, 41, 0xb6, 60, &hop6(inner)),
        )
    };
    assert_exact(
        "lan out",
        &lan_out,
        &[
            ns_frame(lan_mac, LAN_IP6, RS1_6, None),
            ip6ip6(&syn),
            ip6ip6(&fits),
        ],
    );
    assert_eq!(lan_out[2].len(), 14 + MTU);
    assert_eq!(counter(&stats, "tunnel_encapsulated"), 2);
    assert_eq!(counter(&stats, "packet_too_big_sent"), 1);
    assert_eq!(drops(&stats, "tunnel_too_big"), 1);
}
