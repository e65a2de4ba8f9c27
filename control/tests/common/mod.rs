//! Test support shared by the rvsd integration tests: pcap files, independent packet
//! builders (full checksums computed here, not by rvs code) and field-level decoding so a
//! failure says which field of which packet differs.
#![allow(dead_code)]

use std::fmt::Write as _;
use std::net::{Ipv4Addr, Ipv6Addr};
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

/// Write frames to a classic pcap file (Ethernet link type).
pub fn write_pcap(path: &Path, frames: &[Vec<u8>]) {
    let mut out = Vec::new();
    out.extend_from_slice(&0xa1b2c3d4u32.to_le_bytes());
    out.extend_from_slice(&2u16.to_le_bytes());
    out.extend_from_slice(&4u16.to_le_bytes());
    out.extend_from_slice(&0i32.to_le_bytes());
    out.extend_from_slice(&0u32.to_le_bytes());
    out.extend_from_slice(&65535u32.to_le_bytes());
    out.extend_from_slice(&1u32.to_le_bytes());
    for (i, f) in frames.iter().enumerate() {
        out.extend_from_slice(&1u32.to_le_bytes());
        out.extend_from_slice(&(i as u32).to_le_bytes());
        out.extend_from_slice(&(f.len() as u32).to_le_bytes());
        out.extend_from_slice(&(f.len() as u32).to_le_bytes());
        out.extend_from_slice(f);
    }
    std::fs::write(path, out).unwrap();
}

/// Read every frame of a pcap file (either byte order, micro or nanosecond).
pub fn read_pcap(path: &Path) -> Vec<Vec<u8>> {
    let data = std::fs::read(path).unwrap_or_else(|e| panic!("read {}: {e}", path.display()));
    assert!(data.len() >= 24, "{}: not a pcap file", path.display());
    let magic = u32::from_le_bytes(data[0..4].try_into().unwrap());
    let le = matches!(magic, 0xa1b2c3d4 | 0xa1b23c4d);
    let rd = |b: &[u8]| {
        let a: [u8; 4] = b.try_into().unwrap();
        if le {
            u32::from_le_bytes(a)
        } else {
            u32::from_be_bytes(a)
        }
    };
    let mut frames = Vec::new();
    let mut off = 24;
    while off + 16 <= data.len() {
        let incl = rd(&data[off + 8..off + 12]) as usize;
        off += 16;
        frames.push(data[off..off + incl].to_vec());
        off += incl;
    }
    frames
}

/// Internet checksum.
pub fn csum(data: &[u8], initial: u32) -> u16 {
    let mut sum = initial;
    for c in data.chunks(2) {
        let w = if c.len() == 2 {
            u16::from_be_bytes([c[0], c[1]])
        } else {
            u16::from_be_bytes([c[0], 0])
        };
        sum += w as u32;
    }
    while sum > 0xffff {
        sum = (sum & 0xffff) + (sum >> 16);
    }
    !(sum as u16)
}

/// The IPv4 pseudo-header's sum (before folding), for `csum`'s `initial`.
pub fn pseudo(src: Ipv4Addr, dst: Ipv4Addr, proto: u8, len: usize) -> u32 {
    let mut s = 0u32;
    for c in src.octets().chunks(2).chain(dst.octets().chunks(2)) {
        s += u16::from_be_bytes([c[0], c[1]]) as u32;
    }
    s + proto as u32 + len as u32
}

pub const CLIENT_MAC: [u8; 6] = [0x02, 0, 0, 0, 0, 0x01];
pub const RS1_MAC: [u8; 6] = [0x02, 0, 0, 0, 0, 0x11];
pub const RS2_MAC: [u8; 6] = [0x02, 0, 0, 0, 0, 0x12];
pub const BROADCAST: [u8; 6] = [0xff; 6];
pub const CLIENT: Ipv4Addr = Ipv4Addr::new(198, 18, 0, 1);
pub const VIP: Ipv4Addr = Ipv4Addr::new(198, 18, 0, 100);
pub const WAN_IP: Ipv4Addr = Ipv4Addr::new(198, 18, 0, 254);
pub const LAN_IP: Ipv4Addr = Ipv4Addr::new(198, 19, 0, 254);
pub const RS1: Ipv4Addr = Ipv4Addr::new(198, 19, 0, 11);
pub const RS2: Ipv4Addr = Ipv4Addr::new(198, 19, 0, 12);

pub const TCP_SYN: u8 = 0x02;
pub const TCP_ACK: u8 = 0x10;
pub const TCP_FIN: u8 = 0x01;
pub const TCP_RST: u8 = 0x04;

pub fn eth(dst: [u8; 6], src: [u8; 6], ethertype: u16, payload: &[u8]) -> Vec<u8> {
    let mut f = Vec::with_capacity(14 + payload.len());
    f.extend_from_slice(&dst);
    f.extend_from_slice(&src);
    f.extend_from_slice(&ethertype.to_be_bytes());
    f.extend_from_slice(payload);
    f
}

/// ARP (Ethernet/IPv4) packet body; op 1 = request, 2 = reply.
pub fn arp(op: u16, sha: [u8; 6], spa: Ipv4Addr, tha: [u8; 6], tpa: Ipv4Addr) -> Vec<u8> {
    let mut p = vec![0, 1, 0x08, 0x00, 6, 4];
    p.extend_from_slice(&op.to_be_bytes());
    p.extend_from_slice(&sha);
    p.extend_from_slice(&spa.octets());
    p.extend_from_slice(&tha);
    p.extend_from_slice(&tpa.octets());
    p
}

pub fn arp_frame(
    op: u16,
    src_mac: [u8; 6],
    spa: Ipv4Addr,
    dst_mac: [u8; 6],
    tpa: Ipv4Addr,
) -> Vec<u8> {
    let tha = if op == 1 { [0; 6] } else { dst_mac };
    eth(dst_mac, src_mac, 0x0806, &arp(op, src_mac, spa, tha, tpa))
}

/// IPv4 header + payload with a correct header checksum.
pub fn ipv4(src: Ipv4Addr, dst: Ipv4Addr, proto: u8, ttl: u8, payload: &[u8]) -> Vec<u8> {
    let total = 20 + payload.len();
    let mut h = vec![
        0x45,
        0,
        (total >> 8) as u8,
        total as u8,
        0x12,
        0x34,
        0x40,
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

/// A TCP header (20 bytes, ack 0, window 65535) and payload, checksum left 0.
fn tcp_segment(sport: u16, dport: u16, flags: u8, seq: u32, payload: &[u8]) -> Vec<u8> {
    tcp_segment_opts(sport, dport, flags, seq, &[], payload)
}

/// A TCP header with options `opts` (a multiple of 4 bytes) and payload, checksum left 0.
fn tcp_segment_opts(
    sport: u16,
    dport: u16,
    flags: u8,
    seq: u32,
    opts: &[u8],
    payload: &[u8],
) -> Vec<u8> {
    let mut t = Vec::new();
    t.extend_from_slice(&sport.to_be_bytes());
    t.extend_from_slice(&dport.to_be_bytes());
    t.extend_from_slice(&seq.to_be_bytes());
    t.extend_from_slice(&0u32.to_be_bytes());
    let offset = ((20 + opts.len()) as u8 / 4) << 4;
    t.extend_from_slice(&[offset, flags, 0xff, 0xff, 0, 0, 0, 0]);
    t.extend_from_slice(opts);
    t.extend_from_slice(payload);
    t
}

/// TCP/IPv4 (TTL 64) with TCP options (a multiple of 4 bytes), checksum computed here.
#[allow(clippy::too_many_arguments)]
pub fn tcp_opts(
    src: Ipv4Addr,
    sport: u16,
    dst: Ipv4Addr,
    dport: u16,
    flags: u8,
    seq: u32,
    opts: &[u8],
    payload: &[u8],
) -> Vec<u8> {
    let mut t = tcp_segment_opts(sport, dport, flags, seq, opts, payload);
    let c = csum(&t, pseudo(src, dst, 6, t.len()));
    t[16..18].copy_from_slice(&c.to_be_bytes());
    ipv4(src, dst, 6, 64, &t)
}

/// TCP/IPv6 (hop limit 64) with TCP options (a multiple of 4 bytes), checksum computed
/// here.
#[allow(clippy::too_many_arguments)]
pub fn tcp6_opts(
    src: Ipv6Addr,
    sport: u16,
    dst: Ipv6Addr,
    dport: u16,
    flags: u8,
    seq: u32,
    opts: &[u8],
    payload: &[u8],
) -> Vec<u8> {
    let mut t = tcp_segment_opts(sport, dport, flags, seq, opts, payload);
    let c = csum(&t, pseudo6(src, dst, 6, t.len()));
    t[16..18].copy_from_slice(&c.to_be_bytes());
    ipv6(src, dst, 6, 64, &t)
}

/// A UDP header and payload, checksum left 0.
fn udp_datagram(sport: u16, dport: u16, payload: &[u8]) -> Vec<u8> {
    let mut u = Vec::new();
    u.extend_from_slice(&sport.to_be_bytes());
    u.extend_from_slice(&dport.to_be_bytes());
    u.extend_from_slice(&((8 + payload.len()) as u16).to_be_bytes());
    u.extend_from_slice(&[0, 0]);
    u.extend_from_slice(payload);
    u
}

pub fn tcp(
    src: Ipv4Addr,
    sport: u16,
    dst: Ipv4Addr,
    dport: u16,
    flags: u8,
    seq: u32,
    payload: &[u8],
) -> Vec<u8> {
    let mut t = tcp_segment(sport, dport, flags, seq, payload);
    let c = csum(&t, pseudo(src, dst, 6, t.len()));
    t[16..18].copy_from_slice(&c.to_be_bytes());
    ipv4(src, dst, 6, 64, &t)
}

pub fn udp(src: Ipv4Addr, sport: u16, dst: Ipv4Addr, dport: u16, payload: &[u8]) -> Vec<u8> {
    let mut u = udp_datagram(sport, dport, payload);
    let len = u.len();
    let mut c = csum(&u, pseudo(src, dst, 17, len));
    if c == 0 {
        c = 0xffff;
    }
    u[6..8].copy_from_slice(&c.to_be_bytes());
    ipv4(src, dst, 17, 64, &u)
}

pub fn mac_str(m: &[u8]) -> String {
    m.iter()
        .map(|b| format!("{b:02x}"))
        .collect::<Vec<_>>()
        .join(":")
}

/// Decode a frame into `field=value` lines, verifying every checksum on the way (a wrong
/// checksum shows up as a field `...checksum=BAD`).
pub fn decode(f: &[u8]) -> Vec<String> {
    let mut out = vec![];
    if f.len() < 14 {
        out.push(format!("truncated frame len={}", f.len()));
        return out;
    }
    out.push(format!("eth.dst={}", mac_str(&f[0..6])));
    out.push(format!("eth.src={}", mac_str(&f[6..12])));
    let et = u16::from_be_bytes([f[12], f[13]]);
    out.push(format!("eth.type={et:#06x}"));
    let p = &f[14..];
    match et {
        0x0806 if p.len() >= 28 => {
            out.push(format!("arp.op={}", u16::from_be_bytes([p[6], p[7]])));
            out.push(format!("arp.sha={}", mac_str(&p[8..14])));
            out.push(format!(
                "arp.spa={}",
                Ipv4Addr::new(p[14], p[15], p[16], p[17])
            ));
            out.push(format!("arp.tha={}", mac_str(&p[18..24])));
            out.push(format!(
                "arp.tpa={}",
                Ipv4Addr::new(p[24], p[25], p[26], p[27])
            ));
        }
        0x0800 if p.len() >= 20 => {
            let ihl = (p[0] & 0xf) as usize * 4;
            let total = u16::from_be_bytes([p[2], p[3]]) as usize;
            let src = Ipv4Addr::new(p[12], p[13], p[14], p[15]);
            let dst = Ipv4Addr::new(p[16], p[17], p[18], p[19]);
            out.push(format!("ip.src={src}"));
            out.push(format!("ip.dst={dst}"));
            out.push(format!("ip.ttl={}", p[8]));
            out.push(format!("ip.proto={}", p[9]));
            out.push(format!("ip.len={total}"));
            out.push(format!(
                "ip.checksum={}",
                if csum(&p[..ihl], 0) == 0 { "ok" } else { "BAD" }
            ));
            let l4 = &p[ihl..total.min(p.len())];
            match p[9] {
                6 if l4.len() >= 20 => {
                    out.push(format!("tcp.sport={}", u16::from_be_bytes([l4[0], l4[1]])));
                    out.push(format!("tcp.dport={}", u16::from_be_bytes([l4[2], l4[3]])));
                    out.push(format!("tcp.flags={:#04x}", l4[13]));
                    out.push(format!(
                        "tcp.seq={}",
                        u32::from_be_bytes(l4[4..8].try_into().unwrap())
                    ));
                    let ok = csum(l4, pseudo(src, dst, 6, l4.len())) == 0;
                    out.push(format!("tcp.checksum={}", if ok { "ok" } else { "BAD" }));
                    out.push(format!(
                        "tcp.payload={:?}",
                        String::from_utf8_lossy(&l4[20..])
                    ));
                }
                17 if l4.len() >= 8 => {
                    out.push(format!("udp.sport={}", u16::from_be_bytes([l4[0], l4[1]])));
                    out.push(format!("udp.dport={}", u16::from_be_bytes([l4[2], l4[3]])));
                    let ok = l4[6..8] == [0, 0] || csum(l4, pseudo(src, dst, 17, l4.len())) == 0;
                    out.push(format!("udp.checksum={}", if ok { "ok" } else { "BAD" }));
                    out.push(format!(
                        "udp.payload={:?}",
                        String::from_utf8_lossy(&l4[8..])
                    ));
                }
                1 if l4.len() >= 8 => {
                    out.push(format!("icmp.type={}", l4[0]));
                    out.push(format!("icmp.code={}", l4[1]));
                    out.push(format!(
                        "icmp.checksum={}",
                        if csum(l4, 0) == 0 { "ok" } else { "BAD" }
                    ));
                }
                _ => out.push(format!("l4.len={}", l4.len())),
            }
        }
        0x86dd if p.len() >= 40 => decode_ipv6(p, &mut out),
        _ => out.push(format!("payload.len={}", p.len())),
    }
    out
}

fn decode_ipv6(p: &[u8], out: &mut Vec<String>) {
    let plen = u16::from_be_bytes([p[4], p[5]]) as usize;
    let src = Ipv6Addr::from(<[u8; 16]>::try_from(&p[8..24]).unwrap());
    let dst = Ipv6Addr::from(<[u8; 16]>::try_from(&p[24..40]).unwrap());
    out.push(format!("ip6.src={src}"));
    out.push(format!("ip6.dst={dst}"));
    out.push(format!("ip6.hop_limit={}", p[7]));
    out.push(format!("ip6.next_header={}", p[6]));
    out.push(format!("ip6.payload_len={plen}"));
    let l4 = &p[40..(40 + plen).min(p.len())];
    let sum_ok = |nh: u8| csum(l4, pseudo6(src, dst, nh, l4.len())) == 0;
    match p[6] {
        6 if l4.len() >= 20 => {
            out.push(format!("tcp.sport={}", u16::from_be_bytes([l4[0], l4[1]])));
            out.push(format!("tcp.dport={}", u16::from_be_bytes([l4[2], l4[3]])));
            out.push(format!("tcp.flags={:#04x}", l4[13]));
            out.push(format!(
                "tcp.checksum={}",
                if sum_ok(6) { "ok" } else { "BAD" }
            ));
        }
        17 if l4.len() >= 8 => {
            out.push(format!("udp.sport={}", u16::from_be_bytes([l4[0], l4[1]])));
            out.push(format!("udp.dport={}", u16::from_be_bytes([l4[2], l4[3]])));
            out.push(format!(
                "udp.checksum={}",
                if sum_ok(17) { "ok" } else { "BAD" }
            ));
        }
        58 if l4.len() >= 4 => {
            out.push(format!("icmp6.type={}", l4[0]));
            out.push(format!("icmp6.code={}", l4[1]));
            out.push(format!(
                "icmp6.checksum={}",
                if sum_ok(58) { "ok" } else { "BAD" }
            ));
            if matches!(l4[0], 135 | 136) && l4.len() >= 24 {
                out.push(format!("nd.flags={:#04x}", l4[4]));
                let t = Ipv6Addr::from(<[u8; 16]>::try_from(&l4[8..24]).unwrap());
                out.push(format!("nd.target={t}"));
            }
        }
        _ => {}
    }
    // Every byte too, so nothing a field list leaves out can differ unnoticed.
    out.push(format!(
        "ip6.bytes={}",
        p.iter().map(|b| format!("{b:02x}")).collect::<String>()
    ));
}

/// Sum of the IPv6 pseudo-header (as `pseudo` for IPv4).
fn pseudo6(src: Ipv6Addr, dst: Ipv6Addr, nh: u8, len: usize) -> u32 {
    let mut s = 0u32;
    for c in src.octets().chunks(2).chain(dst.octets().chunks(2)) {
        s += u16::from_be_bytes([c[0], c[1]]) as u32;
    }
    s + nh as u32 + len as u32
}

pub const CLIENT6: Ipv6Addr = Ipv6Addr::new(0x2001, 2, 0, 0, 0, 0, 0, 1);
pub const VIP6: Ipv6Addr = Ipv6Addr::new(0x2001, 2, 0, 0, 0, 0, 0, 0x100);
pub const WAN_IP6: Ipv6Addr = Ipv6Addr::new(0x2001, 2, 0, 0, 0, 0, 0, 0xfe);
pub const LAN_IP6: Ipv6Addr = Ipv6Addr::new(0x2001, 2, 0, 1, 0, 0, 0, 0xfe);
pub const RS1_6: Ipv6Addr = Ipv6Addr::new(0x2001, 2, 0, 1, 0, 0, 0, 0x11);
pub const RS2_6: Ipv6Addr = Ipv6Addr::new(0x2001, 2, 0, 1, 0, 0, 0, 0x12);

/// IPv6 header + payload.
pub fn ipv6(src: Ipv6Addr, dst: Ipv6Addr, nh: u8, hop: u8, payload: &[u8]) -> Vec<u8> {
    let mut h = vec![0x60, 0, 0, 0];
    h.extend_from_slice(&(payload.len() as u16).to_be_bytes());
    h.push(nh);
    h.push(hop);
    h.extend_from_slice(&src.octets());
    h.extend_from_slice(&dst.octets());
    h.extend_from_slice(payload);
    h
}

/// TCP over IPv6 (hop limit 64), checksum computed here.
pub fn tcp6(
    src: Ipv6Addr,
    sport: u16,
    dst: Ipv6Addr,
    dport: u16,
    flags: u8,
    seq: u32,
    payload: &[u8],
) -> Vec<u8> {
    let mut t = tcp_segment(sport, dport, flags, seq, payload);
    let c = csum(&t, pseudo6(src, dst, 6, t.len()));
    t[16..18].copy_from_slice(&c.to_be_bytes());
    ipv6(src, dst, 6, 64, &t)
}

/// UDP over IPv6 (hop limit 64), checksum computed here.
pub fn udp6(src: Ipv6Addr, sport: u16, dst: Ipv6Addr, dport: u16, payload: &[u8]) -> Vec<u8> {
    let mut u = udp_datagram(sport, dport, payload);
    let len = u.len();
    let mut c = csum(&u, pseudo6(src, dst, 17, len));
    if c == 0 {
        c = 0xffff;
    }
    u[6..8].copy_from_slice(&c.to_be_bytes());
    ipv6(src, dst, 17, 64, &u)
}

/// An ICMPv6 message (type, code, body after the checksum) in an IPv6 packet.
pub fn icmp6(src: Ipv6Addr, dst: Ipv6Addr, hop: u8, ty: u8, code: u8, body: &[u8]) -> Vec<u8> {
    let mut m = vec![ty, code, 0, 0];
    m.extend_from_slice(body);
    let c = csum(&m, pseudo6(src, dst, 58, m.len()));
    m[2..4].copy_from_slice(&c.to_be_bytes());
    ipv6(src, dst, 58, hop, &m)
}

/// The solicited-node multicast group of `a` and its MAC.
pub fn solicited_node(a: Ipv6Addr) -> (Ipv6Addr, [u8; 6]) {
    let o = a.octets();
    let g = Ipv6Addr::new(
        0xff02,
        0,
        0,
        0,
        0,
        1,
        0xff00 | o[13] as u16,
        u16::from_be_bytes([o[14], o[15]]),
    );
    (g, [0x33, 0x33, 0xff, o[13], o[14], o[15]])
}

/// A neighbour solicitation frame for `target` from `src`/`src_mac` with a source
/// link-layer option; to the target's solicited-node group unless `unicast` gives the
/// destination (MAC, address).
pub fn ns_frame(
    src_mac: [u8; 6],
    src: Ipv6Addr,
    target: Ipv6Addr,
    unicast: Option<([u8; 6], Ipv6Addr)>,
) -> Vec<u8> {
    let (group, group_mac) = solicited_node(target);
    let (dmac, dst) = unicast.unwrap_or((group_mac, group));
    let mut body = vec![0, 0, 0, 0];
    body.extend_from_slice(&target.octets());
    body.extend_from_slice(&[1, 1]);
    body.extend_from_slice(&src_mac);
    eth(dmac, src_mac, 0x86dd, &icmp6(src, dst, 255, 135, 0, &body))
}

/// A neighbour advertisement frame for `target` (flags byte: 0x40 solicited, 0x20
/// override) with a target link-layer option carrying `src_mac`.
pub fn na_frame(
    src_mac: [u8; 6],
    dst_mac: [u8; 6],
    target: Ipv6Addr,
    dst: Ipv6Addr,
    flags: u8,
) -> Vec<u8> {
    let mut body = vec![flags, 0, 0, 0];
    body.extend_from_slice(&target.octets());
    body.extend_from_slice(&[2, 1]);
    body.extend_from_slice(&src_mac);
    eth(
        dst_mac,
        src_mac,
        0x86dd,
        &icmp6(target, dst, 255, 136, 0, &body),
    )
}

/// Where the TCP header of an Ethernet + IPv4 (20-byte header) or IPv6 (no extension
/// headers) frame starts, and the sum of its pseudo-header.
fn tcp_in(frame: &[u8]) -> (usize, u32) {
    if frame[12..14] == [0x86, 0xdd] {
        let t = 14 + 40;
        let src = Ipv6Addr::from(<[u8; 16]>::try_from(&frame[14 + 8..14 + 24]).unwrap());
        let dst = Ipv6Addr::from(<[u8; 16]>::try_from(&frame[14 + 24..14 + 40]).unwrap());
        (t, pseudo6(src, dst, 6, frame.len() - t))
    } else {
        let t = 14 + 20;
        let src = Ipv4Addr::from(<[u8; 4]>::try_from(&frame[14 + 12..14 + 16]).unwrap());
        let dst = Ipv4Addr::from(<[u8; 4]>::try_from(&frame[14 + 16..14 + 20]).unwrap());
        (t, pseudo(src, dst, 6, frame.len() - t))
    }
}

/// The sequence number of the TCP segment in an Ethernet + IPv4 or IPv6 frame.
pub fn tcp_seq(frame: &[u8]) -> u32 {
    let t = tcp_in(frame).0;
    u32::from_be_bytes([frame[t + 4], frame[t + 5], frame[t + 6], frame[t + 7]])
}

/// The same Ethernet + IPv4/IPv6 + TCP frame with sequence and acknowledgement numbers
/// `seq` and `ack`, its checksum computed again in full. FULLNAT gives the real server
/// sequence numbers of the director's own (a secret per run), so the expected frames take
/// the offset from what rvsd sent.
pub fn with_tcp_seq_ack(mut frame: Vec<u8>, seq: u32, ack: u32) -> Vec<u8> {
    let t = tcp_in(&frame).0;
    frame[t + 4..t + 8].copy_from_slice(&seq.to_be_bytes());
    frame[t + 8..t + 12].copy_from_slice(&ack.to_be_bytes());
    frame[t + 16..t + 18].fill(0);
    let (t, ph) = tcp_in(&frame);
    let c = csum(&frame[t..], ph);
    frame[t + 16..t + 18].copy_from_slice(&c.to_be_bytes());
    frame
}

/// The same IPv6 frame with its hop limit changed (no header checksum in IPv6).
pub fn with_hop_limit(mut frame: Vec<u8>, hop: u8) -> Vec<u8> {
    frame[14 + 7] = hop;
    frame
}

/// Compare two lists of frames field by field; panics naming the first difference.
pub fn assert_frames(what: &str, got: &[Vec<u8>], want: &[Vec<u8>]) {
    let mut report = String::new();
    for i in 0..got.len().max(want.len()) {
        let g = got
            .get(i)
            .map(|f| decode(f))
            .unwrap_or_else(|| vec!["<missing>".into()]);
        let w = want
            .get(i)
            .map(|f| decode(f))
            .unwrap_or_else(|| vec!["<none expected>".into()]);
        for j in 0..g.len().max(w.len()) {
            let gl = g.get(j).map(String::as_str).unwrap_or("<absent>");
            let wl = w.get(j).map(String::as_str).unwrap_or("<absent>");
            if gl != wl {
                let _ = writeln!(report, "{what}: packet {i}: got {gl}, want {wl}");
            }
        }
    }
    assert!(
        report.is_empty(),
        "{report}\nall got:\n{:#?}",
        got.iter().map(|f| decode(f)).collect::<Vec<_>>()
    );
}

/// A scratch directory for one test, removed on drop unless the test failed.
pub struct TempDir(pub PathBuf);

impl TempDir {
    pub fn new(name: &str) -> Self {
        let p = std::env::temp_dir().join(format!("rvs-test-{name}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&p);
        std::fs::create_dir_all(&p).unwrap();
        TempDir(p)
    }
    pub fn path(&self, f: &str) -> PathBuf {
        self.0.join(f)
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        if !std::thread::panicking() {
            let _ = std::fs::remove_dir_all(&self.0);
        }
    }
}

/// Run rvsd on two pcap ports: wan (port 0) reads `wan_in`, lan (port 1) reads `lan_in`.
/// Without the exception path: no kernel interfaces, so parallel runs never clash and the
/// dataplane itself answers pings to its own addresses.
/// Returns (wan output frames, lan output frames, stats JSON, process output).
pub fn run_rvsd_pcap(
    dir: &TempDir,
    services_yaml: &str,
    wan_in: &[Vec<u8>],
    lan_in: &[Vec<u8>],
) -> (Vec<Vec<u8>>, Vec<Vec<u8>>, serde_json::Value, Output) {
    run_rvsd_pcap_with(dir, services_yaml, wan_in, lan_in, false, false, None)
}

/// As [`run_rvsd_pcap`], with IPv6 addresses on the ports too (wan 2001:2::fe/64, lan
/// 2001:2:0:1::fe/64) and, with `garp`, gratuitous ARP / unsolicited NA at start.
pub fn run_rvsd_pcap6(
    dir: &TempDir,
    services_yaml: &str,
    wan_in: &[Vec<u8>],
    lan_in: &[Vec<u8>],
    garp: bool,
) -> (Vec<Vec<u8>>, Vec<Vec<u8>>, serde_json::Value, Output) {
    run_rvsd_pcap_with(dir, services_yaml, wan_in, lan_in, true, garp, None)
}

/// As [`run_rvsd_pcap6`] (IPv6 addresses too with `v6`, no gratuitous ARP), with
/// `mtu: lan_mtu` on the lan port.
pub fn run_rvsd_pcap_lan_mtu(
    dir: &TempDir,
    services_yaml: &str,
    wan_in: &[Vec<u8>],
    lan_in: &[Vec<u8>],
    v6: bool,
    lan_mtu: u16,
) -> (Vec<Vec<u8>>, Vec<Vec<u8>>, serde_json::Value, Output) {
    run_rvsd_pcap_with(dir, services_yaml, wan_in, lan_in, v6, false, Some(lan_mtu))
}

fn run_rvsd_pcap_with(
    dir: &TempDir,
    services_yaml: &str,
    wan_in: &[Vec<u8>],
    lan_in: &[Vec<u8>],
    v6: bool,
    garp: bool,
    lan_mtu: Option<u16>,
) -> (Vec<Vec<u8>>, Vec<Vec<u8>>, serde_json::Value, Output) {
    let lan_mtu = lan_mtu.map_or(String::new(), |m| format!("\n    mtu: {m}"));
    let (wan6, lan6) = if v6 {
        (", \"2001:2::fe/64\"", ", \"2001:2:0:1::fe/64\"")
    } else {
        ("", "")
    };
    write_pcap(&dir.path("wan-in.pcap"), wan_in);
    write_pcap(&dir.path("lan-in.pcap"), lan_in);
    let yaml = format!(
        r#"dataplane:
  main_lcore: 0
  worker_lcores: [1]
  polling: adaptive
  eal_args: ["--no-huge", "-m", "256"]
  mbufs: 2047
interfaces:
  - name: wan0
    device: "net_pcap0,rx_pcap={wan_in},tx_pcap={wan_out}"
    addresses: [198.18.0.254/24{wan6}]
    exception_path: false
  - name: lan0
    device: "net_pcap1,rx_pcap={lan_in},tx_pcap={lan_out}"
    addresses: [198.19.0.254/24{lan6}]
    exception_path: false{lan_mtu}
admin:
  listen: 127.0.0.1:0
{services_yaml}"#,
        wan_in = dir.path("wan-in.pcap").display(),
        wan_out = dir.path("wan-out.pcap").display(),
        lan_in = dir.path("lan-in.pcap").display(),
        lan_out = dir.path("lan-out.pcap").display(),
    );
    std::fs::write(dir.path("rvsd.yaml"), &yaml).unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_rvsd"))
        .arg("--config")
        .arg(dir.path("rvsd.yaml"))
        .arg("--exit-when-idle")
        .arg("300")
        .args((!garp).then_some("--no-garp"))
        .arg("--stats-file")
        .arg(dir.path("stats.json"))
        .env("RUST_LOG", "info")
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
    (
        read_pcap(&dir.path("wan-out.pcap")),
        read_pcap(&dir.path("lan-out.pcap")),
        stats,
        out,
    )
}

/// A running rvsd (for admin-API and rvsadm tests), stopped with SIGTERM on drop.
pub struct RunningRvsd {
    /// The process.
    pub child: std::process::Child,
    /// Admin API base URL.
    pub base: String,
}

impl Drop for RunningRvsd {
    fn drop(&mut self) {
        use std::time::{Duration, Instant};
        let _ = Command::new("kill")
            .arg("-TERM")
            .arg(self.child.id().to_string())
            .status();
        let deadline = Instant::now() + Duration::from_secs(10);
        while Instant::now() < deadline {
            if let Ok(Some(_)) = self.child.try_wait() {
                return;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A TCP port free on 127.0.0.1 right now.
pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// The `dataplane:` section of the tests' rvsd: one worker on lcore 1, no hugepages.
pub const DATAPLANE: &str =
    "dataplane:\n  worker_lcores: [1]\n  eal_args: [\"--no-huge\", \"-m\", \"256\"]\n  mbufs: 2047\n";

/// Start rvsd on two traffic-less net_null ports with `services_and_admin` (YAML for the
/// services and admin sections; `{port}` there is replaced by a free admin port) and wait
/// until its admin API answers.
pub fn spawn_rvsd(dir: &TempDir, services_and_admin: &str) -> RunningRvsd {
    spawn_rvsd_with(dir, services_and_admin, ("", ""))
}

/// As [`spawn_rvsd`], with IPv6 addresses on the ports too (wan 2001:2::fe/64, lan
/// 2001:2:0:1::fe/64).
pub fn spawn_rvsd6(dir: &TempDir, services_and_admin: &str) -> RunningRvsd {
    spawn_rvsd_with(
        dir,
        services_and_admin,
        (", \"2001:2::fe/64\"", ", \"2001:2:0:1::fe/64\""),
    )
}

fn spawn_rvsd_with(dir: &TempDir, services_and_admin: &str, v6: (&str, &str)) -> RunningRvsd {
    let port = free_port();
    let yaml = format!(
        "{DATAPLANE}interfaces:\n  - {{ name: wan0, device: \"net_null0,no-rx=1\", addresses: [198.18.0.254/24{}], exception_path: false }}\n  - {{ name: lan0, device: \"net_null1,no-rx=1\", addresses: [198.19.0.254/24{}], exception_path: false }}\n{}",
        v6.0,
        v6.1,
        services_and_admin.replace("{port}", &port.to_string())
    );
    std::fs::write(dir.path("rvsd.yaml"), yaml).unwrap();
    spawn_rvsd_config(dir, port, &[])
}

/// Start rvsd on the configuration already written to `dir`'s `rvsd.yaml` (admin API on
/// 127.0.0.1:`port`) with the extra command-line `args`, and wait until the API answers.
pub fn spawn_rvsd_config(dir: &TempDir, port: u16, args: &[&str]) -> RunningRvsd {
    let child = Command::new(env!("CARGO_BIN_EXE_rvsd"))
        .arg("--config")
        .arg(dir.path("rvsd.yaml"))
        .args(args)
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let r = RunningRvsd {
        child,
        base: format!("http://127.0.0.1:{port}"),
    };
    wait_for_api(&r, || "rvsd admin API did not come up".to_string());
    r
}

/// Wait (20 s at most) until `r`'s admin API answers; `failure` is the message if it never
/// does.
pub fn wait_for_api(r: &RunningRvsd, failure: impl Fn() -> String) {
    use std::time::{Duration, Instant};
    let deadline = Instant::now() + Duration::from_secs(20);
    while ureq::get(&format!("{}/openapi.json", r.base))
        .call()
        .is_err()
    {
        assert!(Instant::now() < deadline, "{}", failure());
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// The MAC of port `i` as rvsd reports it in its stats.
pub fn port_mac(stats: &serde_json::Value, i: usize) -> [u8; 6] {
    let s = stats["ports"][i]["mac"].as_str().expect("mac in stats");
    let v: Vec<u8> = s
        .split(':')
        .map(|h| u8::from_str_radix(h, 16).unwrap())
        .collect();
    v.try_into().unwrap()
}

/// A top-level counter of rvsd's stats.
pub fn counter(stats: &serde_json::Value, name: &str) -> u64 {
    stats[name]
        .as_u64()
        .unwrap_or_else(|| panic!("no counter {name} in {stats}"))
}

/// A drop counter of rvsd's stats.
pub fn drops(stats: &serde_json::Value, reason: &str) -> u64 {
    stats["drops"][reason]
        .as_u64()
        .unwrap_or_else(|| panic!("no drop counter {reason} in {stats}"))
}

/// Field-by-field first (readable failures), then every byte.
pub fn assert_exact(what: &str, got: &[Vec<u8>], want: &[Vec<u8>]) {
    assert_frames(what, got, want);
    for (i, (g, w)) in got.iter().zip(want).enumerate() {
        if let Some(at) = (0..g.len().max(w.len())).find(|&k| g.get(k) != w.get(k)) {
            panic!(
                "{what}: packet {i} differs first at byte {at} (got {:?}, want {:?}); lengths {} vs {}",
                g.get(at),
                w.get(at),
                g.len(),
                w.len()
            );
        }
    }
}

/// The ports' MACs of the IPv6 harness, from a first run without input (net_pcap's are
/// fixed per port).
pub fn port_macs6(dir: &TempDir, services: &str) -> ([u8; 6], [u8; 6]) {
    let (_, _, stats, _) = run_rvsd_pcap6(dir, services, &[], &[], false);
    (port_mac(&stats, 0), port_mac(&stats, 1))
}

/// The neighbour advertisement rvs sends for `target` from `mac` to `dst`/`dst_mac`, with
/// `flags` (0x60: solicited + override; 0x20: override, unsolicited).
pub fn our_na(
    mac: [u8; 6],
    dst_mac: [u8; 6],
    target: std::net::Ipv6Addr,
    dst: std::net::Ipv6Addr,
    flags: u8,
) -> Vec<u8> {
    let mut body = vec![flags, 0, 0, 0];
    body.extend_from_slice(&target.octets());
    body.extend_from_slice(&[2, 1]);
    body.extend_from_slice(&mac);
    eth(
        dst_mac,
        mac,
        0x86dd,
        &icmp6(target, dst, 255, 136, 0, &body),
    )
}

/// The in-process directors' MACs (port 0 faces the clients, port 1 the real servers).
pub const WAN_MAC: [u8; 6] = [0x02, 0x70, 0x63, 0x61, 0x70, 0x01];
pub const LAN_MAC: [u8; 6] = [0x02, 0x70, 0x63, 0x61, 0x70, 0x02];

/// What an in-process pipeline sent, by port.
#[derive(Default)]
pub struct Out(pub Vec<(usize, Vec<u8>)>);

impl dataplane::frame::Io<Vec<u8>> for Out {
    fn send(&mut self, port: usize, pkt: Vec<u8>) {
        self.0.push((port, pkt));
    }
    fn alloc(&mut self) -> Option<Vec<u8>> {
        Some(Vec::with_capacity(128))
    }
    fn send_kernel(&mut self, _port: usize, _pkt: Vec<u8>) {
        panic!("no port of these tests has an exception path");
    }
}
