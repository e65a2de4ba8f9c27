//! Trace generator for the dataplane benchmark: writes a pcap of established TCP flows
//! through a VIP (a SYN, then data packets, per flow), preceded by ARP replies from the
//! real servers so a one-armed rvsd knows their MACs.
//!
//! `rvs-trace OUT.pcap FLOWS PACKETS_PER_FLOW [FRAME_LEN]` (frame length 60 = 64-byte
//! frames on the wire with the FCS).

use std::io::Write;
use std::net::Ipv4Addr;

const VIP: Ipv4Addr = Ipv4Addr::new(198, 18, 0, 100);
const DIRECTOR: Ipv4Addr = Ipv4Addr::new(198, 18, 0, 254);
const RS: [Ipv4Addr; 2] = [Ipv4Addr::new(198, 18, 0, 11), Ipv4Addr::new(198, 18, 0, 12)];
const CLIENT_MAC: [u8; 6] = [0x02, 0, 0, 0, 0, 0x01];
/// net_pcap's MAC for port 0 ("\x02pcap\x00").
const PORT_MAC: [u8; 6] = [0x02, 0x70, 0x63, 0x61, 0x70, 0x00];

fn csum(data: &[u8], mut sum: u32) -> u16 {
    for c in data.chunks(2) {
        sum += u16::from_be_bytes([c[0], *c.get(1).unwrap_or(&0)]) as u32;
    }
    while sum > 0xffff {
        sum = (sum & 0xffff) + (sum >> 16);
    }
    !(sum as u16)
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

fn tcp_frame(client: Ipv4Addr, sport: u16, flags: u8, seq: u32, len: usize) -> Vec<u8> {
    let payload = len.saturating_sub(54);
    let mut t = Vec::with_capacity(20 + payload);
    t.extend_from_slice(&sport.to_be_bytes());
    t.extend_from_slice(&80u16.to_be_bytes());
    t.extend_from_slice(&seq.to_be_bytes());
    t.extend_from_slice(&1u32.to_be_bytes());
    t.extend_from_slice(&[0x50, flags, 0xff, 0xff, 0, 0, 0, 0]);
    t.resize(20 + payload, b'x');
    let mut pseudo = 0u32;
    for c in client.octets().chunks(2).chain(VIP.octets().chunks(2)) {
        pseudo += u16::from_be_bytes([c[0], c[1]]) as u32;
    }
    pseudo += 6 + t.len() as u32;
    let c = csum(&t, pseudo);
    t[16..18].copy_from_slice(&c.to_be_bytes());
    let total = 20 + t.len();
    let mut ip = vec![
        0x45,
        0,
        (total >> 8) as u8,
        total as u8,
        0,
        0,
        0x40,
        0,
        64,
        6,
        0,
        0,
    ];
    ip.extend_from_slice(&client.octets());
    ip.extend_from_slice(&VIP.octets());
    let c = csum(&ip, 0);
    ip[10..12].copy_from_slice(&c.to_be_bytes());
    let mut f = Vec::with_capacity(14 + total);
    f.extend_from_slice(&PORT_MAC);
    f.extend_from_slice(&CLIENT_MAC);
    f.extend_from_slice(&[0x08, 0x00]);
    f.extend_from_slice(&ip);
    f.extend_from_slice(&t);
    f.resize(f.len().max(60), 0);
    f
}

fn main() -> std::io::Result<()> {
    let args: Vec<String> = std::env::args().collect();
    if args.len() < 4 {
        eprintln!("usage: rvs-trace OUT.pcap FLOWS PACKETS_PER_FLOW [FRAME_LEN]");
        std::process::exit(2);
    }
    let flows: u32 = args[2].parse().expect("FLOWS is a number");
    let per_flow: u32 = args[3].parse().expect("PACKETS_PER_FLOW is a number");
    let len: usize = args
        .get(4)
        .map(|s| s.parse().expect("FRAME_LEN is a number"))
        .unwrap_or(60);
    let mut frames = vec![arp_reply(RS[0], 1), arp_reply(RS[1], 2)];
    for f in 0..flows {
        // Clients 198.18.1.0 - 198.18.255.255, ports 1024+.
        let client = Ipv4Addr::from(u32::from(Ipv4Addr::new(198, 18, 1, 0)) + f / 64);
        let sport = 1024 + (f % 64) as u16;
        frames.push(tcp_frame(client, sport, 0x02, 1000, len));
        for p in 1..per_flow {
            frames.push(tcp_frame(client, sport, 0x10, 1000 + p, len));
        }
    }
    let mut out = std::io::BufWriter::new(std::fs::File::create(&args[1])?);
    for v in [0xa1b2c3d4u32, 0x0004_0002, 0, 0, 65535, 1] {
        out.write_all(&v.to_le_bytes())?;
    }
    for (i, f) in frames.iter().enumerate() {
        out.write_all(&(i as u32).to_le_bytes())?;
        out.write_all(&0u32.to_le_bytes())?;
        out.write_all(&(f.len() as u32).to_le_bytes())?;
        out.write_all(&(f.len() as u32).to_le_bytes())?;
        out.write_all(f)?;
    }
    out.flush()?;
    eprintln!(
        "{}: {} frames ({flows} flows x {per_flow} packets + 2 ARP), {len}-byte frames",
        args[1],
        frames.len()
    );
    Ok(())
}
