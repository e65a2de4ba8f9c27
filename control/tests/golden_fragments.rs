//! Tier-2 golden pcap tests of fragments: the real rvsd on net_pcap vdevs, which deliver
//! fragments as they are (af_packet ports may see the kernel's reassembly instead). A UDP
//! datagram in three fragments, the last two first, to a NAT VIP, and the real server's
//! reply in two: every fragment leaves rewritten, the expected frames being the whole
//! rewritten datagram fragmented the same way (built here, independently of rvs's code).

mod common;
use common::*;

const NAT_UDP: &str = r#"services:
  - proto: udp
    vip: 198.18.0.100
    port: 5353
    scheduler: rr
    method: masq
    real_servers:
      - { address: 198.19.0.11, port: 5353 }
"#;

const NAT6_UDP: &str = r#"services:
  - proto: udp
    vip: "2001:2::100"
    port: 5353
    scheduler: rr
    method: masq
    real_servers:
      - { address: "2001:2:0:1::11", port: 5353 }
"#;

/// The IPv4 packet `ip` (20-byte header) cut into fragments at the payload offsets `cuts`
/// (multiples of 8), identification `id`, DF cleared.
fn frag4(ip: &[u8], cuts: &[usize], id: u16) -> Vec<Vec<u8>> {
    pieces(&ip[20..], cuts)
        .into_iter()
        .map(|(off, more, data)| {
            let mut h = ip[..20].to_vec();
            h[2..4].copy_from_slice(&((20 + data.len()) as u16).to_be_bytes());
            h[4..6].copy_from_slice(&id.to_be_bytes());
            let flags_off = (off / 8) as u16 | if more { 0x2000 } else { 0 };
            h[6..8].copy_from_slice(&flags_off.to_be_bytes());
            h[10..12].copy_from_slice(&[0, 0]);
            let c = csum(&h, 0);
            h[10..12].copy_from_slice(&c.to_be_bytes());
            h.extend_from_slice(data);
            h
        })
        .collect()
}

/// The IPv6 packet `ip` (no extension header) cut into fragments at the payload offsets
/// `cuts` (multiples of 8), each with a Fragment header of identification `id`.
fn frag6(ip: &[u8], cuts: &[usize], id: u32) -> Vec<Vec<u8>> {
    pieces(&ip[40..], cuts)
        .into_iter()
        .map(|(off, more, data)| {
            let mut h = ip[..40].to_vec();
            h[4..6].copy_from_slice(&((8 + data.len()) as u16).to_be_bytes());
            h[6] = 44;
            h.extend_from_slice(&[ip[6], 0]);
            h.extend_from_slice(&(off as u16 | u16::from(more)).to_be_bytes());
            h.extend_from_slice(&id.to_be_bytes());
            h.extend_from_slice(data);
            h
        })
        .collect()
}

/// (offset, more fragments, data) of each piece of `payload` cut at `cuts`.
fn pieces<'a>(payload: &'a [u8], cuts: &[usize]) -> Vec<(usize, bool, &'a [u8])> {
    let mut b = vec![0];
    b.extend_from_slice(cuts);
    b.push(payload.len());
    b.windows(2)
        .map(|w| (w[0], w[1] < payload.len(), &payload[w[0]..w[1]]))
        .collect()
}

/// `frames` with their last two moved to the front (the first fragment comes last).
fn first_last(mut frames: Vec<Vec<u8>>) -> Vec<Vec<u8>> {
    let first = frames.remove(0);
    frames.reverse();
    frames.push(first);
    frames
}

/// IPv4 fragments as the director routes them: TTL 63, header checksum updated.
fn routed(mut frags: Vec<Vec<u8>>) -> Vec<Vec<u8>> {
    for f in &mut frags {
        f[8] = 63;
        f[10..12].copy_from_slice(&[0, 0]);
        let c = csum(&f[..20], 0);
        f[10..12].copy_from_slice(&c.to_be_bytes());
    }
    frags
}

fn payload(n: usize) -> Vec<u8> {
    (0..n).map(|i| (i * 7) as u8).collect()
}

#[test]
fn nat_forwards_ipv4_udp_fragments_in_any_order_both_ways() {
    let dir = TempDir::new("frag4");
    let (_, _, stats, _) = run_rvsd_pcap(&dir, NAT_UDP, &[], &[]);
    let (wan_mac, lan_mac) = (port_mac(&stats, 0), port_mac(&stats, 1));
    let query = payload(100);
    let answer = payload(60);
    let c = |f: &[u8]| eth(wan_mac, CLIENT_MAC, 0x0800, f);
    let r = |f: &[u8]| eth(lan_mac, RS1_MAC, 0x0800, f);
    let mut wan_in = vec![arp_frame(1, CLIENT_MAC, CLIENT, BROADCAST, VIP)];
    let client_frags = frag4(&udp(CLIENT, 53000, VIP, 5353, &query), &[48, 80], 0x4242);
    wan_in.extend(first_last(client_frags).iter().map(|f| c(f)));
    let mut lan_in = vec![arp_frame(2, RS1_MAC, RS1, lan_mac, LAN_IP)];
    let rs_frags = frag4(&udp(RS1, 5353, CLIENT, 53000, &answer), &[32], 0x99);
    lan_in.extend(rs_frags.iter().map(|f| r(f)));
    let (wan_out, lan_out, stats, _) = run_rvsd_pcap(&dir, NAT_UDP, &wan_in, &lan_in);

    // To the real server: the first fragment, then those that waited for it.
    let to_rs = |f: &[u8]| eth(RS1_MAC, lan_mac, 0x0800, f);
    // Routed through the director both ways: TTL 63 on every fragment.
    let forwarded = routed(frag4(
        &udp(CLIENT, 53000, RS1, 5353, &query),
        &[48, 80],
        0x4242,
    ));
    let mut want = vec![eth(
        BROADCAST,
        lan_mac,
        0x0806,
        &arp(1, lan_mac, LAN_IP, [0; 6], RS1),
    )];
    want.push(to_rs(&forwarded[0]));
    want.push(to_rs(&forwarded[2]));
    want.push(to_rs(&forwarded[1]));
    assert_frames("lan out", &lan_out, &want);

    // Back to the client from the VIP, TTL 63 on each fragment.
    let back = routed(frag4(&udp(VIP, 5353, CLIENT, 53000, &answer), &[32], 0x99));
    let to_client = |f: &[u8]| eth(CLIENT_MAC, wan_mac, 0x0800, f);
    let mut want = vec![eth(
        CLIENT_MAC,
        wan_mac,
        0x0806,
        &arp(2, wan_mac, VIP, CLIENT_MAC, CLIENT),
    )];
    want.extend(back.iter().map(|f| to_client(f)));
    assert_frames("wan out", &wan_out, &want);
    assert_eq!(counter(&stats, "fragments_received"), 5, "{stats}");
    assert_eq!(stats["conns_created"].as_u64(), Some(1), "{stats}");
}

#[test]
fn nat_forwards_ipv6_udp_fragments_in_any_order_both_ways() {
    let dir = TempDir::new("frag6");
    let (wan_mac, lan_mac) = port_macs6(&dir, NAT6_UDP);
    let query = payload(100);
    let answer = payload(60);
    let c = |f: &[u8]| eth(wan_mac, CLIENT_MAC, 0x86dd, f);
    let r = |f: &[u8]| eth(lan_mac, RS1_MAC, 0x86dd, f);
    let mut wan_in = vec![ns_frame(CLIENT_MAC, CLIENT6, VIP6, None)];
    let client_frags = frag6(&udp6(CLIENT6, 53000, VIP6, 5353, &query), &[48, 80], 0x4242);
    wan_in.extend(first_last(client_frags).iter().map(|f| c(f)));
    let mut lan_in = vec![na_frame(RS1_MAC, lan_mac, RS1_6, LAN_IP6, 0x60)];
    let rs_frags = frag6(&udp6(RS1_6, 5353, CLIENT6, 53000, &answer), &[32], 0x99);
    lan_in.extend(rs_frags.iter().map(|f| r(f)));
    let (wan_out, lan_out, stats, _) = run_rvsd_pcap6(&dir, NAT6_UDP, &wan_in, &lan_in, false);

    let to_rs = |f: &[u8]| with_hop_limit(eth(RS1_MAC, lan_mac, 0x86dd, f), 63);
    let forwarded = frag6(
        &udp6(CLIENT6, 53000, RS1_6, 5353, &query),
        &[48, 80],
        0x4242,
    );
    let want = vec![
        ns_frame(lan_mac, LAN_IP6, RS1_6, None),
        to_rs(&forwarded[0]),
        to_rs(&forwarded[2]),
        to_rs(&forwarded[1]),
    ];
    assert_frames("lan out", &lan_out, &want);

    let back = frag6(&udp6(VIP6, 5353, CLIENT6, 53000, &answer), &[32], 0x99);
    let to_client = |f: &[u8]| with_hop_limit(eth(CLIENT_MAC, wan_mac, 0x86dd, f), 63);
    let mut want = vec![our_na(wan_mac, CLIENT_MAC, VIP6, CLIENT6, 0x60)];
    want.extend(back.iter().map(|f| to_client(f)));
    assert_frames("wan out", &wan_out, &want);
    assert_eq!(counter(&stats, "fragments_received"), 5, "{stats}");
}

const FULLNAT_UDP: &str = r#"snat_pools:
  - { name: p1, addresses: [198.19.0.250], ports: 5000-5001 }
services:
  - proto: udp
    vip: 198.18.0.100
    port: 5353
    scheduler: rr
    method: fullnat
    snat_pool: p1
    real_servers:
      - { address: 198.19.0.11, port: 5353 }
"#;

#[test]
fn fullnat_rewrites_both_addresses_of_every_fragment() {
    let lip: std::net::Ipv4Addr = "198.19.0.250".parse().unwrap();
    let dir = TempDir::new("frag-fullnat");
    let (_, _, stats, _) = run_rvsd_pcap(&dir, FULLNAT_UDP, &[], &[]);
    let (wan_mac, lan_mac) = (port_mac(&stats, 0), port_mac(&stats, 1));
    let query = payload(100);
    let answer = payload(60);
    let mut wan_in = vec![arp_frame(1, CLIENT_MAC, CLIENT, BROADCAST, VIP)];
    let client_frags = frag4(&udp(CLIENT, 53000, VIP, 5353, &query), &[48, 80], 7);
    wan_in.extend(
        first_last(client_frags)
            .iter()
            .map(|f| eth(wan_mac, CLIENT_MAC, 0x0800, f)),
    );
    let mut lan_in = vec![arp_frame(2, RS1_MAC, RS1, lan_mac, LAN_IP)];
    let rs_frags = frag4(&udp(RS1, 5353, lip, 5000, &answer), &[32], 8);
    lan_in.extend(rs_frags.iter().map(|f| eth(lan_mac, RS1_MAC, 0x0800, f)));
    let (wan_out, lan_out, _, _) = run_rvsd_pcap(&dir, FULLNAT_UDP, &wan_in, &lan_in);

    let forwarded = routed(frag4(&udp(lip, 5000, RS1, 5353, &query), &[48, 80], 7));
    let to_rs = |f: &[u8]| eth(RS1_MAC, lan_mac, 0x0800, f);
    let want = vec![
        eth(
            BROADCAST,
            lan_mac,
            0x0806,
            &arp(1, lan_mac, LAN_IP, [0; 6], RS1),
        ),
        to_rs(&forwarded[0]),
        to_rs(&forwarded[2]),
        to_rs(&forwarded[1]),
    ];
    assert_frames("lan out", &lan_out, &want);
    let back = routed(frag4(&udp(VIP, 5353, CLIENT, 53000, &answer), &[32], 8));
    let mut want = vec![eth(
        CLIENT_MAC,
        wan_mac,
        0x0806,
        &arp(2, wan_mac, VIP, CLIENT_MAC, CLIENT),
    )];
    want.extend(back.iter().map(|f| eth(CLIENT_MAC, wan_mac, 0x0800, f)));
    assert_frames("wan out", &wan_out, &want);
}
