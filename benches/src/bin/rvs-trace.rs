//! Trace generator for the dataplane benchmarks: writes a pcap of client traffic to a VIP
//! as a one-armed director sees it, preceded by ARP replies (and, with `--ipv6`, neighbour
//! solicitations for the director's address) from the real servers so rvsd knows their MACs.
//!
//! ```text
//! rvs-trace OUT.pcap [--kind established|syn|mix|spread] [--flows N] [--packets P]
//!                    [--size LEN|imix] [--ipv6] [--syn-every K]
//! rvs-trace OUT.pcap FLOWS PACKETS_PER_FLOW [FRAME_LEN]      (the original form)
//! ```
//!
//! - `established` (default): per flow the client's half of a handshake (SYN, then the ACK
//!   that completes it), then `P - 2` data packets (PSH|ACK); flows one after the other.
//!   Looped by `net_pcap`'s `infinite_rx`, every pass after the first hits existing
//!   connections.
//! - `syn`: a SYN flood, one new flow per packet (`--flows` packets).
//! - `mix`: `established` with one SYN of a new flow after every `K` data packets
//!   (`--syn-every`, default 9: 10 % new connections).
//! - `spread`: every flow's SYN and ACK first, then `P - 2` rounds of one data packet per
//!   flow, each round visiting the flows in a scattered order (a fixed odd stride): with
//!   many flows, consecutive packets belong to far-apart connections, so a large
//!   connection table is measured cold, as a director with that many live flows sees it.
//!
//! Sizes are Ethernet frame lengths without the FCS: 60 = a 64-byte frame on the wire.
//! `imix` is the simple IMIX 7:4:1 of 64, 594 and 1518-byte frames (60/590/1514 here),
//! for data packets; SYNs and handshake ACKs stay minimal as on a real network.
//! Clients are 198.18.1.0 upwards (256 source ports each) to the VIP 198.18.0.100:80, or
//! with `--ipv6` 2001:2:0:1::/64 to 2001:2::100 (real servers 2001:2::11 and ::12, the
//! director 2001:2::254).

use std::io::Write;
use std::net::{Ipv4Addr, Ipv6Addr};

const VIP: Ipv4Addr = Ipv4Addr::new(198, 18, 0, 100);
const VIP6: Ipv6Addr = Ipv6Addr::new(0x2001, 2, 0, 0, 0, 0, 0, 0x100);
const DIRECTOR: Ipv4Addr = Ipv4Addr::new(198, 18, 0, 254);
const RS: [Ipv4Addr; 2] = [Ipv4Addr::new(198, 18, 0, 11), Ipv4Addr::new(198, 18, 0, 12)];
const DIRECTOR6: Ipv6Addr = Ipv6Addr::new(0x2001, 2, 0, 0, 0, 0, 0, 0x254);
const RS6: [Ipv6Addr; 2] = [
    Ipv6Addr::new(0x2001, 2, 0, 0, 0, 0, 0, 0x11),
    Ipv6Addr::new(0x2001, 2, 0, 0, 0, 0, 0, 0x12),
];
const CLIENT_MAC: [u8; 6] = [0x02, 0, 0, 0, 0, 0x01];
/// net_pcap's MAC for port 0 ("\x02pcap\x00").
const PORT_MAC: [u8; 6] = [0x02, 0x70, 0x63, 0x61, 0x70, 0x00];
/// Source ports per client address.
const PORTS_PER_CLIENT: u32 = 256;
/// The simple IMIX: 7 x 64, 4 x 594, 1 x 1518 bytes on the wire, spread over 12 packets.
const IMIX: [usize; 12] = [60, 590, 60, 60, 590, 60, 1514, 60, 590, 60, 590, 60];

const SYN: u8 = 0x02;
const ACK: u8 = 0x10;
const PSH_ACK: u8 = 0x18;

#[derive(Clone, Copy, PartialEq, Eq)]
enum Kind {
    Established,
    Syn,
    Mix,
    Spread,
}

#[derive(Clone, Copy)]
enum Size {
    Fixed(usize),
    Imix,
}

struct Opts {
    out: String,
    kind: Kind,
    flows: u32,
    packets: u32,
    size: Size,
    ipv6: bool,
    syn_every: u32,
}

fn usage() -> ! {
    eprintln!(
        "usage: rvs-trace OUT.pcap [--kind established|syn|mix|spread] [--flows N] [--packets P] \
         [--size LEN|imix] [--ipv6] [--syn-every K]\n   or: rvs-trace OUT.pcap FLOWS \
         PACKETS_PER_FLOW [FRAME_LEN]"
    );
    std::process::exit(2);
}

fn num<T: std::str::FromStr>(what: &str, v: Option<&String>) -> T {
    match v.map(|s| s.parse()) {
        Some(Ok(n)) => n,
        _ => {
            eprintln!("rvs-trace: {what} needs a number");
            usage()
        }
    }
}

fn parse_size(v: Option<&String>) -> Size {
    match v.map(String::as_str) {
        Some("imix") => Size::Imix,
        _ => {
            let n: usize = num("--size", v);
            if !(60..=1514).contains(&n) {
                eprintln!("rvs-trace: --size {n}: expected 60..=1514 or imix");
                std::process::exit(2);
            }
            Size::Fixed(n)
        }
    }
}

fn parse_args() -> Opts {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let Some(out) = args.first().cloned() else {
        usage()
    };
    let mut o = Opts {
        out,
        kind: Kind::Established,
        flows: 1024,
        packets: 16,
        size: Size::Fixed(60),
        ipv6: false,
        syn_every: 9,
    };
    // The original positional form: OUT FLOWS PACKETS_PER_FLOW [FRAME_LEN].
    if args.get(1).is_some_and(|a| !a.starts_with("--")) {
        o.flows = num("FLOWS", args.get(1));
        o.packets = num("PACKETS_PER_FLOW", args.get(2));
        if args.len() > 3 {
            o.size = parse_size(args.get(3));
        }
        return o;
    }
    let mut i = 1;
    while i < args.len() {
        let v = args.get(i + 1);
        match args[i].as_str() {
            "--kind" => {
                o.kind = match v.map(String::as_str) {
                    Some("established") => Kind::Established,
                    Some("syn") => Kind::Syn,
                    Some("mix") => Kind::Mix,
                    Some("spread") => Kind::Spread,
                    _ => usage(),
                }
            }
            "--flows" => o.flows = num("--flows", v),
            "--packets" => o.packets = num("--packets", v),
            "--size" => o.size = parse_size(v),
            "--syn-every" => o.syn_every = num("--syn-every", v),
            "--ipv6" => {
                o.ipv6 = true;
                i += 1;
                continue;
            }
            _ => usage(),
        }
        i += 2;
    }
    if o.flows == 0 || (o.kind != Kind::Syn && o.packets == 0) || o.syn_every == 0 {
        eprintln!("rvs-trace: --flows, --packets and --syn-every must be at least 1");
        std::process::exit(2);
    }
    o
}

fn fold(mut sum: u32) -> u16 {
    while sum > 0xffff {
        sum = (sum & 0xffff) + (sum >> 16);
    }
    !(sum as u16)
}

fn sum16(data: &[u8]) -> u32 {
    data.chunks(2)
        .map(|c| u16::from_be_bytes([c[0], *c.get(1).unwrap_or(&0)]) as u32)
        .sum()
}

fn arp_reply(rs: Ipv4Addr, i: u8) -> Vec<u8> {
    let rs_mac = [0x02, 0, 0, 0, 0, 0x10 + i];
    let mut f = Vec::new();
    f.extend_from_slice(&PORT_MAC);
    f.extend_from_slice(&rs_mac);
    f.extend_from_slice(&[0x08, 0x06, 0, 1, 0x08, 0, 6, 4, 0, 2]);
    f.extend_from_slice(&rs_mac);
    f.extend_from_slice(&rs.octets());
    f.extend_from_slice(&PORT_MAC);
    f.extend_from_slice(&DIRECTOR.octets());
    f.resize(60, 0);
    f
}

/// A neighbour solicitation from real server `rs` for the director's address, with the
/// server's link-layer address: a solicitation for its own address is what makes an IPv6
/// node (rvsd included, RFC 4861 7.2.3) create the sender's neighbour entry, as ARP replies
/// do for IPv4. (Unsolicited advertisements only refresh entries that exist.)
fn neighbour_solicitation(rs: Ipv6Addr, i: u8) -> Vec<u8> {
    let rs_mac = [0x02, 0, 0, 0, 0, 0x10 + i];
    let mut icmp = vec![135, 0, 0, 0, 0, 0, 0, 0];
    icmp.extend_from_slice(&DIRECTOR6.octets());
    icmp.extend_from_slice(&[1, 1]); // source link-layer address option, 8 bytes
    icmp.extend_from_slice(&rs_mac);
    let (src, dst) = (rs.octets(), DIRECTOR6.octets());
    let ck = fold(sum16(&src) + sum16(&dst) + 58 + icmp.len() as u32 + sum16(&icmp));
    icmp[2..4].copy_from_slice(&ck.to_be_bytes());
    let mut f = Vec::new();
    f.extend_from_slice(&PORT_MAC);
    f.extend_from_slice(&rs_mac);
    f.extend_from_slice(&[0x86, 0xdd, 0x60, 0, 0, 0]);
    f.extend_from_slice(&(icmp.len() as u16).to_be_bytes());
    f.extend_from_slice(&[58, 255]);
    f.extend_from_slice(&src);
    f.extend_from_slice(&dst);
    f.extend_from_slice(&icmp);
    f
}

/// The client of flow `f`: an address and a source port.
#[derive(Clone, Copy)]
struct Client {
    index: u32,
    sport: u16,
}

/// A stride that visits every one of `n` flows once per round (coprime with `n`) and
/// jumps far between consecutive packets (about n times the golden ratio).
fn scatter_step(n: u32) -> u64 {
    let n = u64::from(n);
    let mut step = ((n * 0x9e37_79b9) >> 32) | 1;
    while gcd(step, n) != 1 {
        step += 2;
    }
    step % n.max(1)
}

fn gcd(mut a: u64, mut b: u64) -> u64 {
    while b != 0 {
        (a, b) = (b, a % b);
    }
    a
}

fn client(f: u32) -> Client {
    Client {
        index: f / PORTS_PER_CLIENT,
        sport: 1024 + (f % PORTS_PER_CLIENT) as u16,
    }
}

fn client_v4(c: Client) -> Ipv4Addr {
    Ipv4Addr::from(u32::from(Ipv4Addr::new(198, 18, 1, 0)) + c.index)
}

fn client_v6(c: Client) -> Ipv6Addr {
    Ipv6Addr::from(u128::from(Ipv6Addr::new(0x2001, 2, 0, 1, 0, 0, 0, 0)) + c.index as u128)
}

/// One TCP segment client -> VIP:80 in an Ethernet frame of `len` bytes (IPv4: at least
/// 60; IPv6: at least 74, the smallest IPv6/TCP frame).
fn tcp_frame(c: Client, ipv6: bool, flags: u8, seq: u32, len: usize) -> Vec<u8> {
    let l3 = if ipv6 { 40 } else { 20 };
    let payload = len.saturating_sub(14 + l3 + 20);
    let mut t = Vec::with_capacity(20 + payload);
    t.extend_from_slice(&c.sport.to_be_bytes());
    t.extend_from_slice(&80u16.to_be_bytes());
    t.extend_from_slice(&seq.to_be_bytes());
    t.extend_from_slice(&(if flags & ACK != 0 { 1u32 } else { 0 }).to_be_bytes());
    t.extend_from_slice(&[0x50, flags, 0xff, 0xff, 0, 0, 0, 0]);
    t.resize(20 + payload, b'x');
    let l4_len = t.len() as u32;
    let mut f = Vec::with_capacity(14 + l3 + t.len());
    f.extend_from_slice(&PORT_MAC);
    f.extend_from_slice(&CLIENT_MAC);
    if ipv6 {
        let (src, dst) = (client_v6(c).octets(), VIP6.octets());
        let pseudo = sum16(&src) + sum16(&dst) + 6 + l4_len;
        let ck = fold(pseudo + sum16(&t));
        t[16..18].copy_from_slice(&ck.to_be_bytes());
        f.extend_from_slice(&[0x86, 0xdd, 0x60, 0, 0, 0]);
        f.extend_from_slice(&(l4_len as u16).to_be_bytes());
        f.extend_from_slice(&[6, 64]);
        f.extend_from_slice(&src);
        f.extend_from_slice(&dst);
    } else {
        let (src, dst) = (client_v4(c).octets(), VIP.octets());
        let pseudo = sum16(&src) + sum16(&dst) + 6 + l4_len;
        let ck = fold(pseudo + sum16(&t));
        t[16..18].copy_from_slice(&ck.to_be_bytes());
        let total = (20 + l4_len) as u16;
        let mut ip = vec![0x45, 0];
        ip.extend_from_slice(&total.to_be_bytes());
        ip.extend_from_slice(&[0, 0, 0x40, 0, 64, 6, 0, 0]);
        ip.extend_from_slice(&src);
        ip.extend_from_slice(&dst);
        let ck = fold(sum16(&ip));
        ip[10..12].copy_from_slice(&ck.to_be_bytes());
        f.extend_from_slice(&[0x08, 0x00]);
        f.extend_from_slice(&ip);
    }
    f.extend_from_slice(&t);
    f.resize(f.len().max(60), 0);
    f
}

/// Writes frames as a pcap (microsecond timestamps, one "second" apart per 1M frames).
struct Pcap {
    out: std::io::BufWriter<std::fs::File>,
    frames: u64,
    bytes: u64,
}

impl Pcap {
    fn create(path: &str) -> std::io::Result<Pcap> {
        let mut out = std::io::BufWriter::new(std::fs::File::create(path)?);
        for v in [0xa1b2c3d4u32, 0x0004_0002, 0, 0, 65535, 1] {
            out.write_all(&v.to_le_bytes())?;
        }
        Ok(Pcap {
            out,
            frames: 0,
            bytes: 0,
        })
    }

    fn push(&mut self, f: &[u8]) -> std::io::Result<()> {
        let (s, us) = (self.frames / 1_000_000, self.frames % 1_000_000);
        self.out.write_all(&(s as u32).to_le_bytes())?;
        self.out.write_all(&(us as u32).to_le_bytes())?;
        self.out.write_all(&(f.len() as u32).to_le_bytes())?;
        self.out.write_all(&(f.len() as u32).to_le_bytes())?;
        self.out.write_all(f)?;
        self.frames += 1;
        self.bytes += f.len() as u64 + 4; // + FCS, as on the wire
        Ok(())
    }
}

fn main() -> std::io::Result<()> {
    let o = parse_args();
    let min = if o.ipv6 { 74 } else { 60 };
    let mut data_n = 0usize;
    let mut data_len = || {
        let l = match o.size {
            Size::Fixed(l) => l,
            Size::Imix => IMIX[data_n % IMIX.len()],
        };
        data_n += 1;
        l.max(min)
    };
    let mut pcap = Pcap::create(&o.out)?;
    pcap.push(&arp_reply(RS[0], 1))?;
    pcap.push(&arp_reply(RS[1], 2))?;
    if o.ipv6 {
        pcap.push(&neighbour_solicitation(RS6[0], 1))?;
        pcap.push(&neighbour_solicitation(RS6[1], 2))?;
    }
    match o.kind {
        Kind::Syn => {
            for f in 0..o.flows {
                pcap.push(&tcp_frame(client(f), o.ipv6, SYN, 1000, min))?;
            }
        }
        Kind::Established | Kind::Mix => {
            // New flows of the mix take the indexes after the established ones.
            let mut next_new = o.flows;
            let mut since_syn = 0;
            for f in 0..o.flows {
                let c = client(f);
                for p in 0..o.packets {
                    let frame = match p {
                        0 => tcp_frame(c, o.ipv6, SYN, 1000, min),
                        1 => tcp_frame(c, o.ipv6, ACK, 1001, min),
                        _ => {
                            let len = data_len();
                            tcp_frame(c, o.ipv6, PSH_ACK, 1001 + p * 1500, len)
                        }
                    };
                    pcap.push(&frame)?;
                    if o.kind == Kind::Mix && p >= 2 {
                        since_syn += 1;
                        if since_syn == o.syn_every {
                            since_syn = 0;
                            pcap.push(&tcp_frame(client(next_new), o.ipv6, SYN, 1000, min))?;
                            next_new += 1;
                        }
                    }
                }
            }
        }
        Kind::Spread => {
            for f in 0..o.flows {
                pcap.push(&tcp_frame(client(f), o.ipv6, SYN, 1000, min))?;
                pcap.push(&tcp_frame(client(f), o.ipv6, ACK, 1001, min))?;
            }
            let step = scatter_step(o.flows);
            for round in 2..o.packets {
                let mut f = 0u64;
                for _ in 0..o.flows {
                    let c = client(f as u32);
                    pcap.push(&tcp_frame(
                        c,
                        o.ipv6,
                        PSH_ACK,
                        1001 + round * 1500,
                        data_len(),
                    ))?;
                    f = (f + step) % u64::from(o.flows);
                }
            }
        }
    }
    pcap.out.flush()?;
    let kind = match o.kind {
        Kind::Established => "established",
        Kind::Syn => "syn",
        Kind::Mix => "mix",
        Kind::Spread => "spread",
    };
    let size = match o.size {
        Size::Fixed(l) => format!("{}-byte", l.max(min) + 4),
        Size::Imix => "IMIX".to_owned(),
    };
    eprintln!(
        "{}: {} frames (incl. 2 ARP{}), {} bytes on the wire, {kind}, {} flows, {size} frames, {}",
        o.out,
        pcap.frames,
        if o.ipv6 { ", 2 NS" } else { "" },
        pcap.bytes,
        o.flows,
        if o.ipv6 { "IPv6" } else { "IPv4" }
    );
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// One's-complement sum over the pseudo-header and the segment: 0xffff when the
    /// checksum in the segment is right.
    fn l4_ok(frame: &[u8]) -> bool {
        let (src, dst, l4) = if frame[12..14] == [0x86, 0xdd] {
            let plen = u16::from_be_bytes([frame[18], frame[19]]) as usize;
            (&frame[22..38], &frame[38..54], &frame[54..54 + plen])
        } else {
            let total = u16::from_be_bytes([frame[16], frame[17]]) as usize;
            (&frame[26..30], &frame[30..34], &frame[34..14 + total])
        };
        fold(sum16(src) + sum16(dst) + 6 + l4.len() as u32 + sum16(l4)) == 0
    }

    #[test]
    fn ipv4_frames_have_valid_checksums_and_lengths() {
        for (len, flags) in [(60, SYN), (590, PSH_ACK), (1514, ACK)] {
            let f = tcp_frame(client(300), false, flags, 7, len);
            assert_eq!(f.len(), len);
            assert_eq!(fold(sum16(&f[14..34])), 0, "IPv4 header checksum");
            assert!(l4_ok(&f), "TCP checksum, {len} bytes");
            assert_eq!(f[47], flags);
            // Flow 300: the second client address, source port 1024 + 44.
            assert_eq!(&f[26..30], &[198, 18, 1, 1]);
            assert_eq!(u16::from_be_bytes([f[34], f[35]]), 1024 + 44);
        }
    }

    #[test]
    fn ipv6_frames_have_valid_checksums_and_lengths() {
        for len in [74, 590] {
            let f = tcp_frame(client(5), true, PSH_ACK, 9, len);
            assert_eq!(f.len(), len);
            assert_eq!(f[20], 6, "next header TCP");
            assert!(l4_ok(&f), "TCP checksum, {len} bytes");
            assert_eq!(&f[38..54], &VIP6.octets());
        }
    }

    #[test]
    fn neighbour_solicitation_is_valid() {
        let f = neighbour_solicitation(RS6[1], 2);
        assert_eq!(f.len(), 14 + 40 + 32);
        assert_eq!((f[20], f[21]), (58, 255), "ICMPv6, hop limit 255");
        let icmp = &f[54..];
        assert_eq!(icmp[0], 135);
        let sum = sum16(&f[22..38]) + sum16(&f[38..54]) + 58 + icmp.len() as u32 + sum16(icmp);
        assert_eq!(fold(sum), 0, "ICMPv6 checksum");
        assert_eq!(&icmp[8..24], &DIRECTOR6.octets());
        assert_eq!(&icmp[26..32], &[0x02, 0, 0, 0, 0, 0x12]);
    }

    /// The spread order visits every flow exactly once per round, never two neighbours
    /// in a row (for more than a handful of flows).
    #[test]
    fn scatter_step_is_a_permutation_that_jumps() {
        for n in [1u32, 2, 3, 7, 1024, 1000, 65536, 999_983, 1_000_000] {
            let step = scatter_step(n);
            let mut seen = vec![false; n as usize];
            let mut f = 0u64;
            for _ in 0..n {
                assert!(!seen[f as usize], "n {n}: flow {f} twice");
                seen[f as usize] = true;
                f = (f + step) % u64::from(n);
            }
            if n >= 1000 {
                assert!(
                    step > 100 && step < u64::from(n) - 100,
                    "n {n}: step {step}"
                );
            }
        }
    }

    #[test]
    fn imix_is_7_4_1() {
        let count = |l| IMIX.iter().filter(|&&x| x == l).count();
        assert_eq!((count(60), count(590), count(1514)), (7, 4, 1));
    }
}
