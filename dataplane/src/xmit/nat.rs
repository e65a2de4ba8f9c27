//! NAT — LVS-NAT, IPVS's Masq (`ip_vs_nat_xmit`), ipvsadm `-m`, YAML `masq`: the client's
//! packets get the real server as destination; the real server routes its replies through
//! the director, which gives them the VIP back as source. The connection records both
//! tuples, so replies are found by the reply tuple.

use std::net::IpAddr;

use crate::family::Family;
use crate::wire::{self, Error};

/// The packet that creates a NAT connection (in `ip`, from the IP header; either
/// family): destination to real server `rs`.
#[inline(always)]
pub fn first_to_real_server(ip: &mut [u8], rs: (IpAddr, u16)) -> Result<(), Error> {
    wire::rewrite_dst_ip(ip, rs.0, rs.1)
}

/// A client packet of an established NAT connection, already parsed by the IP stage:
/// destination to real server `rs`.
#[inline(always)]
pub fn to_real_server<F: Family>(ip: &mut [u8], rs: (F, u16)) -> Result<(), Error> {
    F::rewrite_dst(ip, rs)
}

/// A real server's reply: source back to the virtual service `vip` (the caller has
/// decremented the TTL / hop limit, as for every reply routed through the director).
#[inline(always)]
pub fn to_client<F: Family>(ip: &mut [u8], vip: (F, u16)) -> Result<(), Error> {
    F::rewrite_src(ip, vip)
}

#[cfg(test)]
mod tests {
    use crate::service::Forward;
    use crate::test_io::one_service::*;
    use crate::test_io::Out;
    use crate::wire::{Ipv4Packet, TcpPacket};

    /// Source, destination, TTL and whether both checksums hold, of a frame's packet.
    fn facts(
        f: &[u8],
    ) -> (
        (std::net::Ipv4Addr, u16),
        (std::net::Ipv4Addr, u16),
        u8,
        bool,
    ) {
        let ip = Ipv4Packet::new_checked(&f[14..]).unwrap();
        let tcp = TcpPacket::new_checked(ip.payload()).unwrap();
        let ok = ip.verify_checksum() && tcp.verify_checksum_v4(ip.src_addr(), ip.dst_addr());
        (
            (ip.src_addr(), tcp.src_port()),
            (ip.dst_addr(), tcp.dst_port()),
            ip.ttl(),
            ok,
        )
    }

    #[test]
    fn destination_to_the_real_server_and_source_back_to_the_vip() {
        let (t, mut p, _stats) = bench(Forward::Masq);
        let mut io = Out::default();
        let syn = frame((MACS[0], CLIENT_MAC), (CLIENT, 40000), (VIP, 80), 0x02, &[]);
        p.handle(&t, 0, syn, 0, &mut io);
        let (port, out) = io.0.pop().expect("SYN forwarded");
        assert_eq!(port, 1);
        assert_eq!((&out[0..6], &out[6..12]), (&RS_MAC[..], &MACS[1][..]));
        // Towards the real server the TTL is decremented too, as IPVS's decrement_ttl()
        // (#25 item 6; it was kept before).
        assert_eq!(facts(&out), ((CLIENT, 40000), (RS, 8080), 63, true));
        let synack = frame((MACS[1], RS_MAC), (RS, 8080), (CLIENT, 40000), 0x12, &[]);
        p.handle(&t, 1, synack, 0, &mut io);
        let (port, back) = io.0.pop().expect("reply forwarded");
        assert_eq!(port, 0);
        assert_eq!(&back[0..6], &CLIENT_MAC[..]);
        // The reply is routed through the director: TTL decremented.
        assert_eq!(facts(&back), ((VIP, 80), (CLIENT, 40000), 63, true));
        let data = frame(
            (MACS[0], CLIENT_MAC),
            (CLIENT, 40000),
            (VIP, 80),
            0x18,
            b"GET /",
        );
        p.handle(&t, 0, data, 0, &mut io);
        let (_, out) = io.0.pop().expect("data forwarded");
        assert_eq!(facts(&out), ((CLIENT, 40000), (RS, 8080), 63, true));
        assert!(out.ends_with(b"GET /"));
    }
}
