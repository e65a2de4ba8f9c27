//! Two stages that act for a connection on packets other than its own: tunnel
//! encapsulation (TUN, IPVS `ip_vs_tunnel_xmit`) and ICMP errors that quote one of the
//! connection's packets (IPVS `ip_vs_in_icmp` / `ip_vs_out_icmp` / `ip_vs_nat_icmp`).
//!
//! ICMP error translation works from the connection's two tuples only, so every method
//! that records them (NAT, FULLNAT) shares it:
//! - from the real server's side (the quote is a packet the director sent to the RS, so
//!   its reverse is the connection's reply tuple): the outer source becomes the VIP and the
//!   quote the client's original packet; towards the client, TTL decremented as routed;
//! - from the client's side (the quote is a packet the client received from the VIP, its
//!   reverse is the original tuple): NAT/FULLNAT rewrite the outer destination to the RS
//!   and the quote to what the RS sent; DR forwards it unchanged (MAC only) and TUN
//!   encapsulates it, as IPVS hands it to the connection's transmitter.
//!
//! The outer address on the far side is rewritten only when the connection translates it
//! (FULLNAT's local address), so a NAT error keeps the router that sent it as its source.
//! Not handled: ICMP errors quoting our own tunnel packets (IPVS lowers the path MTU
//! from them), quotes of ICMP or other protocols, and IPv6.

use std::net::Ipv4Addr;

use super::{Frame, Io, Ipv4Verdict, Pipeline, Tables};
use crate::counters::{bump, DropReason};
use crate::tunnel::{self, EncapError, TunnelKind};
use crate::wire::icmpv4::msg_type;
use crate::wire::nat::{rewrite_icmp_error_dst, rewrite_icmp_error_src};
use crate::wire::{decrement_ttl, ip_proto, Icmpv4Packet, Ipv4Packet};
use conn_table::{Direction, Method, Tuple};
use std::net::IpAddr;

/// ICMP source quench (deprecated, still relayed by IPVS).
const SOURCE_QUENCH: u8 = 4;

/// The ICMP errors IPVS relates to a connection (`ip_vs_in_icmp`, `ip_vs_out_icmp`).
#[inline]
fn is_related_error(ty: u8) -> bool {
    matches!(
        ty,
        msg_type::DST_UNREACHABLE | SOURCE_QUENCH | msg_type::TIME_EXCEEDED
    )
}

/// For an ICMP error in IPv4 packet `ip`, the flow it concerns as (source, destination) of
/// a packet of that flow: the quoted packet reversed. None for anything else, or when too
/// short to tell. Used to steer the error to the worker that owns the flow.
#[inline]
pub(super) fn quoted_flow(ip: &[u8]) -> Option<(Ipv4Addr, Ipv4Addr)> {
    if ip.len() < 20 || ip[9] != ip_proto::ICMP {
        return None;
    }
    let hl = usize::from(ip[0] & 0x0f) * 4;
    let icmp = ip.get(hl..)?;
    if !is_related_error(*icmp.first()?) {
        return None;
    }
    let q = icmp.get(8..28)?;
    Some((
        Ipv4Addr::new(q[16], q[17], q[18], q[19]),
        Ipv4Addr::new(q[12], q[13], q[14], q[15]),
    ))
}

/// The verdict for a packet of a tunnel connection to real server `rs_id`.
///
/// Address and encapsulation come from the current table: a connection whose real server
/// has left the configuration is dropped (IPVS would keep sending to the removed
/// destination until the connection expires).
#[inline]
pub(super) fn tunnel_verdict(t: &Tables, rs_id: u32) -> Ipv4Verdict {
    match t.services.tunnel_of(rs_id) {
        Some((rip, kind)) => Ipv4Verdict::Tunnel(rip, kind),
        None => Ipv4Verdict::Drop(DropReason::NoRealServer),
    }
}

#[inline]
fn v4(a: IpAddr) -> Option<Ipv4Addr> {
    match a {
        IpAddr::V4(a) => Some(a),
        IpAddr::V6(_) => None,
    }
}

impl<P: Frame> Pipeline<P> {
    /// Encapsulate `pkt` for tunnel real server `rip` and forward it; or, when it is too
    /// big for the egress MTU with DF set, answer the client with "fragmentation needed".
    pub(super) fn tunnel(
        &mut self,
        t: &Tables,
        mut pkt: P,
        rip: Ipv4Addr,
        kind: TunnelKind,
        now_ms: u64,
        io: &mut impl Io<P>,
    ) {
        let Some(hop) = t.routes.lookup(rip) else {
            return self.drop_packet(DropReason::NoRoute);
        };
        let Some(src) = t.services.source_for(hop.port, rip) else {
            return self.drop_packet(DropReason::NoRoute);
        };
        match tunnel::encapsulate(&mut pkt, kind, src, rip, tunnel::DEFAULT_MTU) {
            Ok(()) => {
                bump(&self.cfg.stats.tunnel_encapsulated, 1);
                self.forward(t, pkt, rip, now_ms, io);
            }
            Err(EncapError::FragNeeded { mtu }) => {
                self.drop_packet(DropReason::TunnelTooBig);
                if let Some(client) = tunnel::frag_needed_in_place(&mut pkt, mtu) {
                    bump(&self.cfg.stats.frag_needed_sent, 1);
                    self.forward(t, pkt, client, now_ms, io);
                }
            }
            Err(EncapError::TooBig) => self.drop_packet(DropReason::TunnelTooBig),
            Err(EncapError::NoRoom) => self.drop_packet(DropReason::TunnelNoRoom),
        }
    }

    /// Handle an ICMP error that quotes a packet of one of this worker's connections.
    /// None when `ip_buf` is not such an error (the caller goes on with its ICMP handling).
    pub(super) fn icmp_error(
        &mut self,
        t: &Tables,
        ip_buf: &mut [u8],
        now_ms: u64,
    ) -> Option<Ipv4Verdict> {
        let ip = Ipv4Packet::new_checked(&ip_buf[..]).ok()?;
        let (hl, total) = (ip.header_len(), ip.total_len());
        let icmp = Icmpv4Packet::new_checked(&ip_buf[hl..total]).ok()?;
        if !is_related_error(icmp.msg_type()) {
            return None;
        }
        let q = icmp.quoted().ok()?;
        if q.protocol != ip_proto::TCP && q.protocol != ip_proto::UDP {
            return None;
        }
        let flow = Tuple::new(
            q.protocol,
            IpAddr::V4(q.dst_addr),
            q.dst_port,
            IpAddr::V4(q.src_addr),
            q.src_port,
        );
        let (id, dir) = self.conns.lookup(&flow)?;
        if !icmp.verify_checksum() {
            return Some(Ipv4Verdict::Drop(DropReason::L4Malformed));
        }
        let c = self.conns.get(id, now_ms)?;
        if c.method == Method::Tunnel {
            // Only the client's side is indexed: relay to the real server, encapsulated.
            bump(&self.cfg.stats.icmp_errors_translated, 1);
            return Some(tunnel_verdict(t, c.rs));
        }
        let orig = c.original;
        let reply = c.reply?;
        let (client, vip) = (v4(orig.src)?, v4(orig.dst)?);
        let (rip, reply_dst) = (v4(reply.src)?, v4(reply.dst)?);
        let verdict = match dir {
            // DR/TUN real servers answer clients directly: not an error we relay.
            Direction::Reply if c.method.replies_bypass_director() => return None,
            Direction::Reply => {
                if !decrement_ttl(ip_buf) {
                    return Some(Ipv4Verdict::Drop(DropReason::TtlExceeded));
                }
                if rewrite_icmp_error_src(ip_buf, vip, orig.dport).is_err()
                    || (reply_dst != client
                        && rewrite_icmp_error_dst(ip_buf, client, orig.sport).is_err())
                {
                    return Some(Ipv4Verdict::Drop(DropReason::L4Malformed));
                }
                Ipv4Verdict::Forward(client)
            }
            Direction::Original => match c.method {
                Method::Route => Ipv4Verdict::Forward(rip),
                Method::Tunnel => tunnel_verdict(t, c.rs),
                Method::Masq | Method::FullNat => {
                    if rewrite_icmp_error_dst(ip_buf, rip, reply.sport).is_err()
                        || (reply_dst != client
                            && rewrite_icmp_error_src(ip_buf, reply_dst, reply.dport).is_err())
                    {
                        return Some(Ipv4Verdict::Drop(DropReason::L4Malformed));
                    }
                    Ipv4Verdict::Forward(rip)
                }
            },
        };
        bump(&self.cfg.stats.icmp_errors_translated, 1);
        Some(verdict)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::counters::WorkerStats;
    use crate::pipeline::{owner_of, PipelineConfig};
    use crate::service::{proto, ServiceTable, VirtualService};
    use std::sync::Arc;

    const CLIENT: Ipv4Addr = Ipv4Addr::new(198, 18, 0, 1);
    const VIP: Ipv4Addr = Ipv4Addr::new(198, 18, 0, 100);
    const RIP: Ipv4Addr = Ipv4Addr::new(198, 19, 0, 11);

    /// Ethernet + IPv4 ICMP error `ty` from `src` to `dst` quoting a UDP header of a
    /// packet `qsrc` -> `qdst`.
    fn icmp_error(ty: u8, src: Ipv4Addr, dst: Ipv4Addr, qsrc: Ipv4Addr, qdst: Ipv4Addr) -> Vec<u8> {
        let mut f = vec![0u8; 14 + 20 + 8 + 28];
        f[12..14].copy_from_slice(&[8, 0]);
        let ip = &mut f[14..];
        ip[0] = 0x45;
        ip[3] = 56;
        ip[9] = 1;
        ip[12..16].copy_from_slice(&src.octets());
        ip[16..20].copy_from_slice(&dst.octets());
        ip[20] = ty;
        let q = &mut ip[28..];
        q[0] = 0x45;
        q[9] = 17;
        q[12..16].copy_from_slice(&qsrc.octets());
        q[16..20].copy_from_slice(&qdst.octets());
        f
    }

    #[test]
    fn quoted_flow_reverses_the_quote_of_errors_only() {
        let f = icmp_error(3, RIP, CLIENT, CLIENT, RIP);
        assert_eq!(quoted_flow(&f[14..]), Some((RIP, CLIENT)));
        for ty in [4, 11] {
            assert!(quoted_flow(&icmp_error(ty, RIP, CLIENT, CLIENT, RIP)[14..]).is_some());
        }
        for ty in [0, 8, 12, 5] {
            assert_eq!(
                quoted_flow(&icmp_error(ty, RIP, CLIENT, CLIENT, RIP)[14..]),
                None
            );
        }
        assert_eq!(quoted_flow(&f[14..14 + 40]), None, "quote cut short");
    }

    #[test]
    fn errors_are_steered_to_the_worker_owning_the_quoted_flow() {
        let workers = 4;
        let pipe: Pipeline<Vec<u8>> = Pipeline::new(PipelineConfig {
            worker: 0,
            port_macs: vec![[2, 0, 0, 0, 0, 1]; 2],
            stats: Arc::new(WorkerStats::default()),
            conn_capacity: 64,
            gratuitous_arp: false,
            workers,
        });
        let svc = VirtualService {
            id: 0,
            proto: proto::UDP,
            vip: VIP,
            port: 53,
            real_servers: vec![],
            scheduler: scheduler::Scheduler::build(
                scheduler::SchedulerKind::Rr,
                &[],
                Default::default(),
            )
            .unwrap(),
            persistence: None,
        };
        let t = Tables {
            services: ServiceTable::new(vec![svc], vec![], 1),
            ..Tables::default()
        };
        let want = owner_of(CLIENT, workers);
        // A router whose own address would pick another worker.
        let router = (1..=254)
            .map(|i| Ipv4Addr::new(198, 18, 9, i))
            .find(|&r| owner_of(r, workers) != want)
            .unwrap();
        // From the client's side, to the VIP, about a reply VIP -> client.
        let inbound = icmp_error(11, router, VIP, VIP, CLIENT);
        assert_eq!(pipe.owner(&t, &inbound), Some(want));
        // From the real server's side, to the client, about a packet client -> RIP.
        let outbound = icmp_error(3, RIP, CLIENT, CLIENT, RIP);
        assert_eq!(pipe.owner(&t, &outbound), Some(want));
        // Not an error: steered by its own addresses.
        let echo = icmp_error(8, router, VIP, VIP, CLIENT);
        assert_eq!(pipe.owner(&t, &echo), Some(owner_of(router, workers)));
    }
}
