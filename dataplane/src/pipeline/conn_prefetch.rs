//! Burst-level connection prefetch: before a worker handles an RX burst packet by packet,
//! read the connection-table lines of all its flows at once, so their cache and TLB
//! misses overlap instead of being paid one packet after the other (VPP's "prefetch the
//! next packets' hash buckets", DPDK's bulk lookup). The per-packet
//! [`ConnTable::lookup`](conn_table::ConnTable::lookup) in `handle_ipv4` then finds its
//! lines in the cache; its result does not depend on this stage at all.

use std::net::IpAddr;

use conn_table::Tuple;

use super::state::Pipeline;
use crate::frame::Frame;
use crate::service::proto;
use crate::wire::{EtherType, EthernetFrame, Ipv4Packet, TcpPacket, UdpPacket};

/// Most frames one call prefetches: the worker's RX burst (the worker checks at compile
/// time that its burst is no larger).
pub const PREFETCH_BURST: usize = 32;

/// Below this many connections the table sits in the caches and the prefetch would only
/// add a hash per packet (about 4 MB of table at 32 K connections still misses L2, so
/// the bar is low).
pub(crate) const PREFETCH_MIN_CONNS: usize = 4096;

/// The tuple `handle_ipv4` looks up for an IPv4 TCP/UDP frame, or None for anything
/// else. No checksum or fragment checks: a wrong guess only warms a useless line.
#[inline]
fn flow_tuple(frame: &[u8]) -> Option<Tuple> {
    let eth = EthernetFrame::new_checked(frame).ok()?;
    if eth.ethertype() != EtherType::IPV4 {
        return None;
    }
    let ip = Ipv4Packet::new_checked(eth.payload()).ok()?;
    let (sport, dport) = match ip.protocol() {
        proto::TCP => {
            let t = TcpPacket::new_checked(ip.payload()).ok()?;
            (t.src_port(), t.dst_port())
        }
        proto::UDP => {
            let u = UdpPacket::new_checked(ip.payload()).ok()?;
            (u.src_port(), u.dst_port())
        }
        _ => return None,
    };
    Some(Tuple::new(
        ip.protocol(),
        IpAddr::V4(ip.src_addr()),
        sport,
        IpAddr::V4(ip.dst_addr()),
        dport,
    ))
}

impl<P: Frame> Pipeline<P> {
    /// Prefetch the connections of a burst's frames (at most [`PREFETCH_BURST`]); call it with the
    /// received burst right before handling its packets. Does nothing while the table is
    /// small enough to stay in the caches.
    #[inline]
    pub fn prefetch_flows<'a>(&self, frames: impl Iterator<Item = &'a [u8]>) {
        if self.conns.len() < PREFETCH_MIN_CONNS {
            return;
        }
        let unspecified = IpAddr::V4(std::net::Ipv4Addr::UNSPECIFIED);
        let mut tuples = [Tuple::new(0, unspecified, 0, unspecified, 0); PREFETCH_BURST];
        let mut n = 0;
        for f in frames.take(PREFETCH_BURST) {
            if let Some(t) = flow_tuple(f) {
                tuples[n] = t;
                n += 1;
            }
        }
        self.conns.prefetch(&tuples[..n]);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::net::Ipv4Addr;

    /// Ethernet + IPv4 (no options) + 20 bytes of L4 header.
    fn frame(protocol: u8, src: [u8; 4], sport: u16, dst: [u8; 4], dport: u16) -> Vec<u8> {
        let mut f = vec![0u8; 14 + 20 + 20];
        f[12..14].copy_from_slice(&[0x08, 0x00]);
        let ip = &mut f[14..34];
        ip[0] = 0x45;
        ip[2..4].copy_from_slice(&40u16.to_be_bytes());
        ip[8] = 64;
        ip[9] = protocol;
        ip[12..16].copy_from_slice(&src);
        ip[16..20].copy_from_slice(&dst);
        let l4 = &mut f[34..];
        l4[0..2].copy_from_slice(&sport.to_be_bytes());
        l4[2..4].copy_from_slice(&dport.to_be_bytes());
        if protocol == proto::TCP {
            l4[12] = 5 << 4;
        } else {
            l4[4..6].copy_from_slice(&20u16.to_be_bytes());
        }
        f
    }

    #[test]
    fn tuples_of_tcp_and_udp_frames() {
        let v4 = |a: [u8; 4]| IpAddr::V4(Ipv4Addr::from(a));
        let (c, vip) = ([198, 18, 0, 1], [198, 18, 0, 100]);
        for p in [proto::TCP, proto::UDP] {
            assert_eq!(
                flow_tuple(&frame(p, c, 40000, vip, 80)),
                Some(Tuple::new(p, v4(c), 40000, v4(vip), 80))
            );
        }
        // ICMP, a truncated frame and a non-IP frame give nothing.
        assert_eq!(flow_tuple(&frame(1, c, 1, vip, 2)), None);
        assert_eq!(flow_tuple(&frame(proto::TCP, c, 1, vip, 2)[..30]), None);
        let mut arp = frame(proto::TCP, c, 1, vip, 2);
        arp[12..14].copy_from_slice(&[0x08, 0x06]);
        assert_eq!(flow_tuple(&arp), None);
    }
}
