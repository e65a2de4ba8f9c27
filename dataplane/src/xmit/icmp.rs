//! The stage that acts for a connection on packets other than its own: ICMP errors that
//! quote one of the connection's packets (IPVS `ip_vs_in_icmp` / `ip_vs_out_icmp` /
//! `ip_vs_nat_icmp`). Tunnel encapsulation is [`crate::xmit::tun`].
//!
//! ICMP error translation works from the connection's two tuples only, so every method
//! that records them (NAT, FULLNAT) shares it (DR and TUN keep only the client's side,
//! and find their real server by id):
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
//! ICMP errors about our own tunnel packets (a router between the director and the RS
//! quoting the encapsulated packet) are turned into the same error to the client about its
//! packet, from the VIP, with "fragmentation needed" lowered by the tunnel overhead, as
//! `ip_vs_in_icmp` does; rvs keeps no path-MTU cache per real server (IPVS updates the
//! route's PMTU). Not handled: quotes of ICMP or other protocols. IPv6: `related6.rs`.

use std::net::Ipv4Addr;

use crate::counters::{bump, DropReason};
use crate::frame::Frame;
use crate::pipeline::{Pipeline, Verdict, ETH_HDR};
use crate::tables::Tables;
use crate::wire::icmpv4::{self, msg_type, QuotedPacket};
use crate::wire::nat::{rewrite_icmp_error_dst, rewrite_icmp_error_src};
use crate::wire::{decrement_ttl, ip_proto, Icmpv4Packet, Ipv4Packet};
use crate::xmit::tun as tunnel;
use crate::xmit::tun::route::tunnel_verdict;
use conn_table::{Direction, Method, Tuple};

const IPV4_HDR: usize = crate::wire::ipv4::HEADER_LEN;
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
/// a packet of that flow: the quoted packet reversed, or, for an error about one of our
/// tunnel packets (quoted source is the director), the client's packet inside it. None
/// for anything else, or when too short to tell. Used to steer the error to the worker
/// that owns the flow.
#[inline]
pub(crate) fn quoted_flow(t: &Tables, ip: &[u8]) -> Option<(Ipv4Addr, Ipv4Addr)> {
    if ip.len() < 20 || ip[9] != ip_proto::ICMP {
        return None;
    }
    let hl = usize::from(ip[0] & 0x0f) * 4;
    let icmp = ip.get(hl..)?;
    if !is_related_error(*icmp.first()?) {
        return None;
    }
    let q = icmp.get(8..)?;
    let addr = |b: &[u8], at: usize| -> Option<Ipv4Addr> {
        let a = b.get(at..at + 4)?;
        Some(Ipv4Addr::new(a[0], a[1], a[2], a[3]))
    };
    let (qsrc, qdst) = (addr(q, 12)?, addr(q, 16)?);
    if t.services.is_local(qsrc) && !t.snat.is_lip(qsrc) {
        let hl = usize::from(q[0] & 0x0f) * 4;
        let inner = tunnel::inner_offset(q[9], hl, q.get(hl..)?)?;
        return Some((addr(q, inner + 12)?, addr(q, inner + 16)?));
    }
    Some((qdst, qsrc))
}

/// For an ICMP error in IPv4 packet `ip` that quotes a FULLNAT packet the director sent
/// to a real server (quoted source a local address of a SNAT pool), the quoted source
/// port: the connection belongs to the worker owning that local port
/// (`fullnat::port_owner`), not to the one its addresses would pick. None otherwise.
#[inline]
pub(crate) fn quoted_local_port(t: &Tables, ip: &[u8]) -> Option<u16> {
    if ip.len() < 20 || ip[9] != ip_proto::ICMP {
        return None;
    }
    let hl = usize::from(ip[0] & 0x0f) * 4;
    let icmp = ip.get(hl..)?;
    if !is_related_error(*icmp.first()?) {
        return None;
    }
    let q = icmp.get(8..)?;
    let a = q.get(12..16)?;
    if !t.snat.is_lip(Ipv4Addr::new(a[0], a[1], a[2], a[3])) {
        return None;
    }
    if q[9] != ip_proto::TCP && q[9] != ip_proto::UDP {
        return None;
    }
    let l4 = usize::from(q[0] & 0x0f) * 4;
    let p = q.get(l4..l4 + 2)?;
    Some(u16::from_be_bytes([p[0], p[1]]))
}

/// The verdict for a packet of a direct-routing connection to real server `rs_id`, found
/// in the current table as for tunnels.
#[inline]
pub(crate) fn route_verdict(t: &Tables, rs_id: u32) -> Verdict<Ipv4Addr> {
    match t.services.routed_of(rs_id) {
        Some(IpAddr::V4(rip)) => Verdict::Forward(rip),
        _ => Verdict::Drop(DropReason::NoRealServer),
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
    /// Handle an ICMP error that quotes a packet of one of this worker's connections.
    /// None when `ip_buf` is not such an error (the caller goes on with its ICMP handling).
    pub(crate) fn icmp_error(
        &mut self,
        t: &Tables,
        ip_buf: &mut [u8],
        now_ms: u64,
    ) -> Option<Verdict<Ipv4Addr>> {
        let ip = Ipv4Packet::new_checked(&ip_buf[..]).ok()?;
        let (hl, total) = (ip.header_len(), ip.total_len());
        let icmp = Icmpv4Packet::new_checked(&ip_buf[hl..total]).ok()?;
        if !is_related_error(icmp.msg_type()) {
            return None;
        }
        let q = icmp.quoted().ok()?;
        if t.services.is_local(q.src_addr) && !t.snat.is_lip(q.src_addr) {
            return self.tunnel_icmp_error(t, ip_buf, now_ms);
        }
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
            return Some(Verdict::Drop(DropReason::L4Malformed));
        }
        let c = self.conns.get(id, now_ms)?;
        if c.method.replies_bypass_director() {
            // Only the client's side is indexed: relay to the real server as is (DR) or
            // encapsulated (TUN), as IPVS hands it to the connection's transmitter.
            let verdict = match c.method {
                Method::Tunnel => tunnel_verdict(t, c.rs),
                _ => route_verdict(t, c.rs),
            };
            bump(&self.cfg.stats.icmp_errors_translated, 1);
            return Some(verdict);
        }
        let orig = c.original;
        let reply = c.reply?;
        let (client, vip) = (v4(orig.src)?, v4(orig.dst)?);
        let (rip, reply_dst) = (v4(reply.src)?, v4(reply.dst)?);
        let verdict = match dir {
            Direction::Reply => {
                if !decrement_ttl(ip_buf) {
                    return Some(Verdict::Drop(DropReason::TtlExceeded));
                }
                if rewrite_icmp_error_src(ip_buf, vip, orig.dport).is_err()
                    || (reply_dst != client
                        && rewrite_icmp_error_dst(ip_buf, client, orig.sport).is_err())
                {
                    return Some(Verdict::Drop(DropReason::L4Malformed));
                }
                if c.method == Method::FullNat && flow.proto == ip_proto::TCP {
                    // The quoted segment went to the real server with the director's
                    // sequence numbers: the client checks its own.
                    let delta = self.conns.conn(id).map_or(0, |r| r.seq_delta());
                    let quoted_l4 = hl + 8 + q.header_len;
                    crate::xmit::fullnat::tcp_seq::quoted_to_client(
                        ip_buf,
                        (hl, total),
                        quoted_l4,
                        delta,
                    );
                }
                Verdict::Forward(client)
            }
            Direction::Original => match c.method {
                Method::Route | Method::Tunnel => return None,
                Method::Masq | Method::FullNat => {
                    if rewrite_icmp_error_dst(ip_buf, rip, reply.sport).is_err()
                        || (reply_dst != client
                            && rewrite_icmp_error_src(ip_buf, reply_dst, reply.dport).is_err())
                    {
                        return Some(Verdict::Drop(DropReason::L4Malformed));
                    }
                    Verdict::Forward(rip)
                }
            },
        };
        bump(&self.cfg.stats.icmp_errors_translated, 1);
        Some(verdict)
    }

    /// An ICMP error about one of our tunnel packets (a router between the director and a
    /// real server could not deliver it): like `ip_vs_in_icmp`, send the client the same
    /// error about its own packet, from the VIP, quoting the inner packet; for
    /// "fragmentation needed" the reported MTU less the encapsulation overhead, and only
    /// when the client's packet had DF (otherwise nothing is sent: IPVS would now
    /// fragment). Rebuilt in place. None when the quote is not of a tunnel connection.
    fn tunnel_icmp_error(
        &mut self,
        t: &Tables,
        ip_buf: &mut [u8],
        now_ms: u64,
    ) -> Option<Verdict<Ipv4Addr>> {
        let ip = Ipv4Packet::new_checked(&ip_buf[..]).ok()?;
        let (hl, total) = (ip.header_len(), ip.total_len());
        let icmp = Icmpv4Packet::new_checked(&ip_buf[hl..total]).ok()?;
        let quote = icmp.data();
        let outer = QuotedPacket::parse(quote).ok()?;
        let kind = t
            .services
            .tunnel_to(outer.dst_addr, outer.protocol, outer.dst_port)?;
        let at = tunnel::inner_offset(
            outer.protocol,
            outer.header_len,
            quote.get(outer.header_len..)?,
        )?;
        let inner = QuotedPacket::parse(quote.get(at..)?).ok()?;
        if inner.protocol != ip_proto::TCP && inner.protocol != ip_proto::UDP {
            return None;
        }
        let flow = Tuple::new(
            inner.protocol,
            IpAddr::V4(inner.src_addr),
            inner.src_port,
            IpAddr::V4(inner.dst_addr),
            inner.dst_port,
        );
        let (id, dir) = self.conns.lookup(&flow)?;
        let c = self.conns.get(id, now_ms)?;
        if dir != Direction::Original || c.method != Method::Tunnel {
            return None;
        }
        if !icmp.verify_checksum() {
            return Some(Verdict::Drop(DropReason::L4Malformed));
        }
        let (ty, code) = (icmp.msg_type(), icmp.msg_code());
        let inner_df = quote[at + 6] & 0x40 != 0;
        let mut rest = [0u8; 4];
        rest.copy_from_slice(&ip_buf[hl + 4..hl + 8]);
        if ty == msg_type::DST_UNREACHABLE && code == icmpv4::unreachable_code::FRAG_NEEDED {
            if !inner_df {
                return Some(Verdict::Drop(DropReason::ForDirector));
            }
            let overhead = kind.overhead::<Ipv4Addr>() as u16;
            let mut mtu = u16::from_be_bytes([rest[2], rest[3]]);
            if mtu > 68 + overhead {
                mtu -= overhead;
            }
            rest = [0, 0, (mtu >> 8) as u8, mtu as u8];
        }
        // Move the inner packet's quote to where the new ICMP message quotes it.
        let from = hl + icmpv4::HEADER_LEN + at;
        let len = (total - from).min(tunnel::ICMP_QUOTE_MAX);
        let to = IPV4_HDR + icmpv4::HEADER_LEN;
        ip_buf.copy_within(from..from + len, to);
        let client = tunnel::write_icmp_error(ip_buf, ty, code, rest, len);
        bump(&self.cfg.stats.icmp_errors_translated, 1);
        Some(Verdict::ForwardTrimmed(client, ETH_HDR + to + len))
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
        let t = Tables::default();
        let f = icmp_error(3, RIP, CLIENT, CLIENT, RIP);
        assert_eq!(quoted_flow(&t, &f[14..]), Some((RIP, CLIENT)));
        for ty in [4, 11] {
            assert!(quoted_flow(&t, &icmp_error(ty, RIP, CLIENT, CLIENT, RIP)[14..]).is_some());
        }
        for ty in [0, 8, 12, 5] {
            assert_eq!(
                quoted_flow(&t, &icmp_error(ty, RIP, CLIENT, CLIENT, RIP)[14..]),
                None
            );
        }
        assert_eq!(quoted_flow(&t, &f[14..14 + 40]), None, "quote cut short");
    }

    #[test]
    fn quoted_flow_of_our_tunnel_packets_is_the_inner_one() {
        const DIP: Ipv4Addr = Ipv4Addr::new(198, 19, 0, 254);
        let t = Tables {
            services: ServiceTable::new(
                vec![],
                vec![crate::service::LocalAddr {
                    port: 1,
                    addr: DIP,
                    prefix_len: 24,
                }],
                1,
            ),
            ..Tables::default()
        };
        // Frag needed from a router: quote = DIP -> RIP IPIP, then CLIENT -> VIP.
        let mut f = icmp_error(3, Ipv4Addr::new(198, 19, 0, 1), DIP, DIP, RIP);
        let q = 14 + 28;
        f[q + 9] = 4;
        let mut inner = [0u8; 20];
        inner[0] = 0x45;
        inner[9] = 6;
        inner[12..16].copy_from_slice(&CLIENT.octets());
        inner[16..20].copy_from_slice(&VIP.octets());
        f.truncate(q + 20);
        f.extend_from_slice(&inner);
        assert_eq!(quoted_flow(&t, &f[14..]), Some((CLIENT, VIP)));
        // GRE: four more bytes before the inner header.
        f[q + 9] = 47;
        assert_eq!(quoted_flow(&t, &f[14..]), None, "inner header cut short");
        f.splice(q + 20..q + 20, [0, 0, 8, 0]);
        assert_eq!(quoted_flow(&t, &f[14..]), Some((CLIENT, VIP)));
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
            exception: Default::default(),
        });
        let svc = VirtualService {
            id: 0,
            proto: proto::UDP,
            vip: VIP.into(),
            port: 53,
            members: vec![],
            real_servers: vec![],
            scheduler: scheduler::Scheduler::build(
                scheduler::SchedulerKind::Rr,
                &[],
                Default::default(),
            )
            .unwrap(),
            persistence: None,
            snat_pool: None,
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

    #[test]
    fn fullnat_errors_from_the_real_server_side_go_to_the_local_port_owner() {
        const LIP: Ipv4Addr = Ipv4Addr::new(198, 19, 0, 200);
        let workers = 4;
        let pipe: Pipeline<Vec<u8>> = Pipeline::new(PipelineConfig {
            worker: 0,
            port_macs: vec![[2, 0, 0, 0, 0, 1]; 2],
            stats: Arc::new(WorkerStats::default()),
            conn_capacity: 64,
            gratuitous_arp: false,
            workers,
            exception: Default::default(),
        });
        let t = Tables {
            snat: crate::xmit::fullnat::SnatTable::new(vec![crate::xmit::fullnat::SnatPool {
                addrs: vec![LIP.into()],
                port_min: 1024,
                port_max: 65535,
            }]),
            ..Tables::default()
        };
        // A router (or the RS) tells the LIP its packet LIP:lport -> RIP:80 failed: owned
        // by port_owner(lport) whatever the addresses would pick.
        for lport in [1024u16, 1025, 1026, 1027, 40001] {
            let mut f = icmp_error(3, RIP, LIP, LIP, RIP);
            f[14 + 28 + 20..14 + 28 + 22].copy_from_slice(&lport.to_be_bytes());
            f[14 + 28 + 22..14 + 28 + 24].copy_from_slice(&80u16.to_be_bytes());
            assert_eq!(quoted_local_port(&t, &f[14..]), Some(lport));
            assert_eq!(
                pipe.owner(&t, &f),
                Some(crate::xmit::fullnat::port_owner(lport, workers)),
                "lport {lport}"
            );
            // Cut short before the quoted ports: steered by addresses instead.
            assert_eq!(quoted_local_port(&t, &f[14..14 + 28 + 20 + 1]), None);
        }
        // A quote whose source is not a LIP keeps the address steering.
        let f = icmp_error(3, RIP, CLIENT, CLIENT, RIP);
        assert_eq!(quoted_local_port(&t, &f[14..]), None);
        assert_eq!(pipe.owner(&t, &f), Some(owner_of(CLIENT, workers)));
        // From the client's side (to the VIP, about VIP -> client): the client's worker,
        // which took the local port from its own share.
        let f = icmp_error(11, Ipv4Addr::new(198, 18, 9, 1), VIP, VIP, CLIENT);
        assert_eq!(quoted_local_port(&t, &f[14..]), None);
    }
}
