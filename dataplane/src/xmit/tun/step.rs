//! The tunnel stage (IPVS `ip_vs_tunnel_xmit` / `ip_vs_tunnel_xmit_v6`): encapsulate a
//! client's packet for its tunnel real server, or answer the client that it is too big
//! when the encapsulated packet would exceed the egress port's MTU. One generic stage for
//! both families.

use super::encap::{encapsulate, EncapError, TunnelKind};
use super::route::TunnelRoute;
use crate::counters::{bump, DropReason};
use crate::frame::{Frame, Io};
use crate::pipeline::egress::Egress;
use crate::pipeline::state::Pipeline;
use crate::tables::Tables;

impl<P: Frame> Pipeline<P> {
    /// Encapsulate `pkt` for tunnel real server `rip` (from the director's address on the
    /// egress port) and forward it; or, when it is too big for that port's MTU, answer the
    /// client from the VIP: "fragmentation needed" when the IPv4 packet has DF set,
    /// ICMPv6 Packet Too Big (`__mtu_check_toobig_v6`).
    pub(crate) fn tunnel<F: TunnelRoute + Egress>(
        &mut self,
        t: &Tables,
        mut pkt: P,
        rip: F,
        kind: TunnelKind,
        now_ms: u64,
        io: &mut impl Io<P>,
    ) {
        let Some((port, src)) = F::egress(t, rip) else {
            return self.drop_packet(DropReason::NoRoute);
        };
        let mtu = t.services.port_mtu(port);
        match encapsulate(&mut pkt, kind, src, rip, mtu) {
            Ok(()) => {
                bump(&self.cfg.stats.tunnel_encapsulated, 1);
                self.forward(t, pkt, rip, now_ms, io);
            }
            Err(EncapError::FragNeeded { mtu }) => {
                self.drop_packet(DropReason::TunnelTooBig);
                if let Some(client) = F::too_big_in_place(&mut pkt, mtu) {
                    bump(F::too_big_sent(&self.cfg.stats), 1);
                    self.forward(t, pkt, client, now_ms, io);
                }
            }
            Err(EncapError::TooBig) => self.drop_packet(DropReason::TunnelTooBig),
            Err(EncapError::NoRoom) => self.drop_packet(DropReason::TunnelNoRoom),
        }
    }
}

#[cfg(test)]
mod tests {
    use std::net::Ipv4Addr;
    use std::sync::atomic::Ordering::Relaxed;
    use std::sync::Arc;

    use super::super::route::TunnelRoute;
    use super::*;
    use crate::counters::WorkerStats;

    use crate::pipeline::PipelineConfig;
    use crate::route::{Ipv4Prefix, RouteTable};
    use crate::service::{LocalAddr, ServiceTable};
    use crate::test_io::Out;
    use crate::wire::Ipv4Packet;

    const CLIENT: Ipv4Addr = Ipv4Addr::new(198, 18, 0, 1);
    const VIP: Ipv4Addr = Ipv4Addr::new(198, 18, 0, 100);
    const DIP: Ipv4Addr = Ipv4Addr::new(198, 19, 0, 254);
    const RIP: Ipv4Addr = Ipv4Addr::new(198, 19, 0, 11);

    /// The client on port 0, the real servers on port 1 (MTU 1400), the director's
    /// address on each.
    fn tables() -> Tables {
        let local = |port, addr| LocalAddr {
            port,
            addr,
            prefix_len: 24,
        };
        let net = |a| Ipv4Prefix::new(a, 24).unwrap();
        Tables {
            services: ServiceTable::new(
                vec![],
                vec![local(0, Ipv4Addr::new(198, 18, 0, 254)), local(1, DIP)],
                1,
            )
            .with_port_mtus(vec![1500, 1400]),
            routes: RouteTable::new(
                &[(net(Ipv4Addr::new(198, 18, 0, 0)), 0), (net(RIP), 1)],
                &[],
            ),
            ..Tables::default()
        }
    }

    fn pipeline() -> Pipeline<Vec<u8>> {
        Pipeline::new(PipelineConfig {
            worker: 0,
            port_macs: vec![[2, 0, 0, 0, 0, 1], [2, 0, 0, 0, 0, 2]],
            stats: Arc::new(WorkerStats::default()),
            conn_capacity: 64,
            gratuitous_arp: false,
            workers: 1,
            exception: Default::default(),
        })
    }

    /// Ethernet + IPv4 UDP client -> VIP of `len` bytes, DF per `df`.
    fn frame(df: bool, len: usize) -> Vec<u8> {
        let mut f = vec![0u8; 14 + len];
        f[12..14].copy_from_slice(&[8, 0]);
        let mut ip = Ipv4Packet::new_unchecked(&mut f[14..]);
        ip.set_version_and_header_len(20);
        ip.set_total_len(len as u16);
        ip.set_dont_frag(df);
        ip.set_ttl(64);
        ip.set_protocol(17);
        ip.set_src_addr(CLIENT);
        ip.set_dst_addr(VIP);
        ip.fill_checksum();
        f
    }

    #[test]
    fn the_stage_encapsulates_or_answers_or_drops_and_counts() {
        let t = tables();
        let mut p = pipeline();
        p.sync(&t);
        let stats = p.cfg.stats.clone();
        let mut out = Out::default();

        // Fits the lan port: encapsulated, held while the real server is resolved.
        p.tunnel(&t, frame(true, 1380), RIP, TunnelKind::Ipip, 1, &mut out);
        assert_eq!(stats.tunnel_encapsulated.load(Relaxed), 1);
        assert_eq!(out.0.len(), 1, "an ARP request for the real server");
        assert_eq!(out.0[0].0, 1);

        // One byte more with DF: "fragmentation needed" towards the client.
        p.tunnel(&t, frame(true, 1381), RIP, TunnelKind::Ipip, 2, &mut out);
        assert_eq!(stats.frag_needed_sent.load(Relaxed), 1);
        assert_eq!(stats.drops(DropReason::TunnelTooBig), 1);
        assert_eq!(out.0.len(), 2, "an ARP request for the client");
        assert_eq!(out.0[1].0, 0);

        // Without DF: dropped, nothing sent.
        p.tunnel(&t, frame(false, 1381), RIP, TunnelKind::Ipip, 3, &mut out);
        assert_eq!(stats.drops(DropReason::TunnelTooBig), 2);
        assert_eq!(stats.frag_needed_sent.load(Relaxed), 1);

        // Not a whole packet; no route to the real server.
        let mut lying = frame(true, 100);
        lying.truncate(60);
        p.tunnel(&t, lying, RIP, TunnelKind::Ipip, 4, &mut out);
        assert_eq!(stats.drops(DropReason::TunnelNoRoom), 1);
        let nowhere = Ipv4Addr::new(10, 0, 0, 1);
        p.tunnel(&t, frame(true, 100), nowhere, TunnelKind::Ipip, 5, &mut out);
        assert_eq!(stats.drops(DropReason::NoRoute), 1);
        assert_eq!(out.0.len(), 2);
        assert_eq!(stats.tunnel_encapsulated.load(Relaxed), 1);

        // A real server that is not (or no longer) in the table.
        assert_eq!(<Ipv4Addr as TunnelRoute>::tunnel_of(&t, 7), None);
    }
}
