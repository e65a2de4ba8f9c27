//! ICMPv6 errors that quote a packet of an IPv6 connection (IPVS `ip_vs_in_icmp_v6`,
//! `ip_vs_out_icmp_v6`, `ip_vs_nat_icmp_v6`): the IPv6 counterpart of `related.rs`.
//!
//! The quoted packet is one rvs forwarded, so its reverse is a packet of the connection:
//! - the connection's reply tuple (from the real server's side: the quote is a packet the
//!   director sent to the RS, e.g. "port unreachable" from the RS, or "packet too big"
//!   from a router between the director and the RS): NAT rewrites the outer source to the
//!   VIP and the quote back to what the client sent, and forwards it to the client (hop
//!   limit decremented, as routed);
//! - the original tuple (from the client's side: the quote is a packet the client got from
//!   the VIP, e.g. "packet too big" from a router on the client's path about a reply):
//!   NAT rewrites the outer destination to the RS and the quote to what the RS sent; DR
//!   relays it unchanged to the RS (MAC only), as IPVS hands it to the connection's
//!   transmitter. The four bytes after the checksum (a "packet too big"'s MTU) are kept.
//!
//! FULLNAT connections take the NAT rewrite (the reply tuple's destination is the local
//! address, so the quote's source is rewritten too); errors from the real servers' side
//! are steered to the worker owning the quoted local port (`quoted_local_port6`).
//!
//! TUN connections, like DR ones, keep only the client's side: client-side errors are
//! encapsulated to the real server like the connection's packets. Errors about rvs's own
//! tunnel packets (quoting an ip6ip6 packet the director sent) are not related to a
//! connection here (the kernel only lowers its path MTU towards the real server on them;
//! rvs keeps no such cache).
//!
//! The outer ICMPv6 checksum is verified before anything is rewritten (the rewrite is
//! incremental), like `handle_response_icmp`. An error quoting a flow no connection
//! matches is dropped and counted, unless it is for one of the director's own addresses
//! (then it is the director's business, as any ICMPv6 to it).

use std::net::{IpAddr, Ipv6Addr};

use conn_table::{Direction, Method, Tuple};

use crate::counters::{bump, DropReason};
use crate::frame::Frame;
use crate::pipeline::state::Pipeline;
use crate::pipeline::verdict::Verdict;
use crate::tables::Tables;
use crate::wire::ipv6::HEADER_LEN as IP6_HDR;
use crate::wire::{decrement_hop_limit, ip_proto, Icmpv6Packet, Ipv6Packet};

/// The IPv6 address of an address the dataplane put there itself.
#[inline]
fn v6(a: IpAddr) -> Option<Ipv6Addr> {
    <Ipv6Addr as crate::family::Family>::of(a)
}
use crate::wire::icmp6_error::{self, Quote6, QUOTE_OFFSET};
use crate::wire::{rewrite_icmp6_error_dst, rewrite_icmp6_error_src, Error as WireError};

/// For an ICMPv6 error in IPv6 packet `ip` (ICMPv6 right after the fixed header), the
/// flow it concerns as (source, destination) of a packet of that flow: the quoted packet
/// reversed. None for anything else, or when the quote does not parse (the error is then
/// handled, and counted, where it arrived). Used to steer the error to the flow's worker.
#[inline]
pub(crate) fn quoted_flow6(ip: &[u8]) -> Option<(Ipv6Addr, Ipv6Addr)> {
    let q = quote6(ip)?;
    Some((q.dst_addr, q.src_addr))
}

/// For an ICMPv6 error in IPv6 packet `ip` that quotes a FULLNAT packet the director
/// sent to a real server (quoted source a local address of a SNAT pool), the quoted
/// source port: the connection belongs to the worker owning that local port
/// (`fullnat::port_owner`), as for IPv4. None otherwise.
#[inline]
pub(crate) fn quoted_local_port6(t: &Tables, ip: &[u8]) -> Option<u16> {
    let q = quote6(ip)?;
    t.snat.is_lip(q.src_addr).then_some(q.src_port)
}

/// The TCP/UDP packet quoted by the ICMPv6 error in `ip`, if it is one.
#[inline]
fn quote6(ip: &[u8]) -> Option<Quote6> {
    if ip.len() < IP6_HDR + QUOTE_OFFSET || ip[6] != ip_proto::ICMPV6 {
        return None;
    }
    if !icmp6_error::is_error(ip[IP6_HDR]) {
        return None;
    }
    let len = usize::from(u16::from_be_bytes([ip[4], ip[5]]));
    let end = (IP6_HDR + len).min(ip.len());
    let q = Quote6::parse(ip.get(IP6_HDR + QUOTE_OFFSET..end)?).ok()?;
    if q.protocol != ip_proto::TCP && q.protocol != ip_proto::UDP {
        return None;
    }
    Some(q)
}

impl<P: Frame> Pipeline<P> {
    /// Handle an ICMPv6 error that quotes a packet of a connection. `ip_buf` is a checked
    /// IPv6 packet with ICMPv6 right after the fixed header. None when it is not an error
    /// this stage takes (not an error type, a quote of another protocol, an unknown flow
    /// to one of our own addresses): the caller goes on with its ICMPv6 handling.
    pub(crate) fn icmpv6_error(
        &mut self,
        t: &Tables,
        ip_buf: &mut [u8],
        now_ms: u64,
    ) -> Option<Verdict<Ipv6Addr>> {
        use Verdict::Drop;
        let ip = Ipv6Packet::new_checked(&ip_buf[..]).ok()?;
        let (src, dst, len) = (ip.src_addr(), ip.dst_addr(), ip.payload_len());
        let msg = ip.payload();
        if !icmp6_error::is_error(*msg.first()?) || dst.is_multicast() {
            return None;
        }
        if len < QUOTE_OFFSET {
            return Some(Drop(DropReason::Icmpv6ErrorMalformed));
        }
        let q = match Quote6::parse(&msg[QUOTE_OFFSET..]) {
            Ok(q) => q,
            Err(WireError::Unsupported) => return Some(Drop(DropReason::Icmpv6ErrorUnsupported)),
            Err(_) => return Some(Drop(DropReason::Icmpv6ErrorMalformed)),
        };
        if q.protocol != ip_proto::TCP && q.protocol != ip_proto::UDP {
            // Not a quote of a connection's packet (IPVS: no protocol handler, so not
            // related).
            return None;
        }
        let flow = Tuple::new(
            q.protocol,
            IpAddr::V6(q.dst_addr),
            q.dst_port,
            IpAddr::V6(q.src_addr),
            q.src_port,
        );
        let Some((id, dir)) = self.conns.lookup(&flow) else {
            if t.services.is_local6(dst) && !t.services.is_vip6(dst) {
                return None;
            }
            return Some(Drop(DropReason::Icmpv6ErrorNoConnection));
        };
        if !Icmpv6Packet::new_unchecked(msg).verify_checksum(src, dst) {
            return Some(Drop(DropReason::Icmpv6BadChecksum));
        }
        let Some(c) = self.conns.get(id, now_ms) else {
            // Expired, not yet reaped.
            return Some(Drop(DropReason::Icmpv6ErrorNoConnection));
        };
        let verdict = match (c.method, dir) {
            // FULLNAT: the same two-tuple rewrite (the reply tuple's destination is the
            // local address, so both quoted addresses change), as ip_vs_nat_icmp_v6
            // does for DPVS's fullnat.
            (Method::Masq | Method::FullNat, _) => {
                let delta = if c.method == Method::FullNat && flow.proto == ip_proto::TCP {
                    self.conns.conn(id).map_or(0, |r| r.seq_delta())
                } else {
                    0
                };
                self.nat_icmp6_error(ip_buf, &c, dir, (delta, 48 + q.l4_offset))
            }
            // DR keeps only the client's side (its replies bypass the director): relay
            // to the real server as is, found by id as for the connection's packets.
            (Method::Route, Direction::Original) => match t.services.routed_of(c.rs) {
                Some(IpAddr::V6(rip)) => Verdict::Forward(rip),
                _ => Drop(DropReason::NoRealServer),
            },
            // TUN: relayed to the real server encapsulated like the connection's packets
            // (ip_vs_in_icmp_v6 hands it to the connection's transmitter).
            (Method::Tunnel, Direction::Original) => match t.services.tunnel6_of(c.rs) {
                Some((rip, kind)) => Verdict::Tunnel(rip, kind),
                None => Drop(DropReason::NoRealServer),
            },
            (Method::Route | Method::Tunnel, Direction::Reply) => {
                Drop(DropReason::Icmpv6ErrorUnsupported)
            }
        };
        if matches!(verdict, Verdict::Forward(_) | Verdict::Tunnel(..)) {
            bump(&self.cfg.stats.icmpv6_errors_translated, 1);
        }
        Some(verdict)
    }

    /// NAT an ICMPv6 error of connection `c` from its two tuples (`dir`: which of them the
    /// quote reversed is), as `ip_vs_nat_icmp_v6`; the quoted TCP/UDP checksum is kept
    /// right too.
    fn nat_icmp6_error(
        &self,
        ip_buf: &mut [u8],
        c: &conn_table::ConnInfo,
        dir: Direction,
        (seq_delta, quoted_l4): (u32, usize),
    ) -> Verdict<Ipv6Addr> {
        use Verdict::Drop;
        let orig = c.original;
        let Some(reply) = c.reply else {
            return Drop(DropReason::NoService);
        };
        let (Some(client), Some(vip), Some(rip), Some(reply_dst)) =
            (v6(orig.src), v6(orig.dst), v6(reply.src), v6(reply.dst))
        else {
            return Drop(DropReason::NoService);
        };
        match dir {
            Direction::Reply => {
                if !decrement_hop_limit(ip_buf) {
                    return Drop(DropReason::TtlExceeded);
                }
                if rewrite_icmp6_error_src(ip_buf, vip, orig.dport).is_err()
                    || (reply_dst != client
                        && rewrite_icmp6_error_dst(ip_buf, client, orig.sport).is_err())
                {
                    return Drop(DropReason::Icmpv6ErrorMalformed);
                }
                if seq_delta != 0 {
                    // FULLNAT TCP: the quoted segment carries the director's sequence
                    // numbers; the client checks its own (`quoted_l4`: after the IPv6
                    // header, the ICMPv6 header and the quoted headers).
                    let end = 40 + usize::from(u16::from_be_bytes([ip_buf[4], ip_buf[5]]));
                    crate::xmit::fullnat::tcp_seq::quoted_to_client(
                        ip_buf,
                        (40, end),
                        quoted_l4,
                        seq_delta,
                    );
                }
                Verdict::Forward(client)
            }
            Direction::Original => {
                if rewrite_icmp6_error_dst(ip_buf, rip, reply.sport).is_err()
                    || (reply_dst != client
                        && rewrite_icmp6_error_src(ip_buf, reply_dst, reply.dport).is_err())
                {
                    return Drop(DropReason::Icmpv6ErrorMalformed);
                }
                Verdict::Forward(rip)
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use super::*;
    use crate::counters::WorkerStats;
    use crate::pipeline::state::{set_macs, ETH_HDR};
    use crate::pipeline::{NeighbourUpdate, PipelineConfig};
    use crate::route::Ipv6Prefix;
    use crate::route::RouteTable6;
    use crate::service::{proto, Forward};
    use crate::service::{LocalAddr6, RealServer, ServiceTable, VirtualService};
    use crate::test_io::Out;
    use crate::wire::{checksum, write_u16};
    use conn_table::NewConn;

    const WAN_MAC: [u8; 6] = [2, 0, 0, 0, 0, 0xa0];
    const LAN_MAC: [u8; 6] = [2, 0, 0, 0, 0, 0xb0];
    const CLIENT_MAC: [u8; 6] = [2, 0, 0, 0, 0, 1];
    const RS_MAC: [u8; 6] = [2, 0, 0, 0, 0, 0x11];
    const CLIENT: &str = "2001:2::1";
    const VIP: &str = "2001:2::100";
    const RS: &str = "2001:2:0:1::11";
    const ROUTER: &str = "2001:2::7";
    const WAN_IP: &str = "2001:2::fe";

    fn a(s: &str) -> Ipv6Addr {
        s.parse().unwrap()
    }

    /// One TCP service VIP:80 -> RS:8080 with `forward` (NAT or DR).
    fn tables(forward: Forward) -> Tables {
        let rs = RealServer {
            id: 0,
            addr: IpAddr::V6(a(RS)),
            port: if forward == Forward::Masq { 8080 } else { 80 },
            weight: 1,
            forward,
            upper_threshold: 0,
        };
        let dests = [scheduler::Destination::new(rs.addr, rs.port, 1)];
        let svc = VirtualService {
            id: 0,
            proto: proto::TCP,
            vip: IpAddr::V6(a(VIP)),
            port: 80,
            members: vec![],
            real_servers: vec![rs],
            scheduler: scheduler::Scheduler::build(
                scheduler::SchedulerKind::Rr,
                &dests,
                Default::default(),
            )
            .unwrap(),
            persistence: None,
            snat_pool: None,
        };
        let locals = vec![
            LocalAddr6 {
                port: 0,
                addr: a(WAN_IP),
                prefix_len: 64,
            },
            LocalAddr6 {
                port: 1,
                addr: a("2001:2:0:1::fe"),
                prefix_len: 64,
            },
        ];
        Tables {
            services: ServiceTable::new(vec![svc], vec![], 1).with_locals6(locals),
            routes6: RouteTable6::new(
                &[
                    (Ipv6Prefix::new(a("2001:2::"), 64).unwrap(), 0),
                    (Ipv6Prefix::new(a("2001:2:0:1::"), 64).unwrap(), 1),
                ],
                &[],
            ),
            ..Tables::default()
        }
    }

    /// A pipeline that knows the client's and the real server's MACs.
    fn pipeline(t: &Tables, worker: usize, workers: usize) -> Pipeline<Vec<u8>> {
        let mut p = Pipeline::new(PipelineConfig {
            worker,
            port_macs: vec![WAN_MAC, LAN_MAC],
            stats: Arc::new(WorkerStats::default()),
            conn_capacity: 64,
            gratuitous_arp: false,
            workers,
            exception: Default::default(),
        });
        p.sync(t);
        let mut out = Out::default();
        for (port, ip, mac) in [
            (0, CLIENT, CLIENT_MAC),
            (0, ROUTER, [2, 0, 0, 0, 0, 7]),
            (1, RS, RS_MAC),
        ] {
            let u = NeighbourUpdate {
                port,
                ip: IpAddr::V6(a(ip)),
                mac,
            };
            p.learn_remote(u, 0, &mut out);
        }
        p
    }

    /// An IPv6 packet (hop limit 64) with a TCP header + `data`, checksum computed in full.
    fn tcp(src: &str, sport: u16, dst: &str, dport: u16, flags: u8, data: &[u8]) -> Vec<u8> {
        let mut l4 = vec![0u8; 20];
        write_u16(&mut l4[0..], sport);
        write_u16(&mut l4[2..], dport);
        l4[12] = 0x50;
        l4[13] = flags;
        l4.extend_from_slice(data);
        let ph = checksum::pseudo_header_v6(a(src), a(dst), ip_proto::TCP, l4.len() as u32);
        let c = !checksum::combine(&[ph, checksum::data(&l4)]);
        write_u16(&mut l4[16..], c);
        ip6(src, dst, ip_proto::TCP, &l4)
    }

    fn ip6(src: &str, dst: &str, nh: u8, payload: &[u8]) -> Vec<u8> {
        let mut b = vec![0x60, 0, 0, 0, 0, 0, nh, 64];
        write_u16(&mut b[4..], payload.len() as u16);
        b.extend_from_slice(&a(src).octets());
        b.extend_from_slice(&a(dst).octets());
        b.extend_from_slice(payload);
        b
    }

    /// An ICMPv6 error `ty` from `src` to `dst` with `rest` and `quote`, valid checksum.
    fn error(ty: u8, rest: [u8; 4], src: &str, dst: &str, quote: &[u8]) -> Vec<u8> {
        let mut m = vec![ty, 0, 0, 0];
        m.extend_from_slice(&rest);
        m.extend_from_slice(quote);
        let mut b = ip6(src, dst, ip_proto::ICMPV6, &m);
        Icmpv6Packet::new_unchecked(&mut b[IP6_HDR..]).fill_checksum(a(src), a(dst));
        b
    }

    fn frame(dst_mac: [u8; 6], src_mac: [u8; 6], ip: &[u8]) -> Vec<u8> {
        let mut f = vec![0u8; ETH_HDR];
        set_macs(&mut f, dst_mac, src_mac);
        f[12..14].copy_from_slice(&[0x86, 0xdd]);
        f.extend_from_slice(ip);
        f
    }

    fn from_client(ip: &[u8]) -> Vec<u8> {
        frame(WAN_MAC, CLIENT_MAC, ip)
    }

    fn from_rs(ip: &[u8]) -> Vec<u8> {
        frame(LAN_MAC, RS_MAC, ip)
    }

    fn drops(p: &Pipeline<Vec<u8>>, why: DropReason) -> u64 {
        p.cfg.stats.drops(why)
    }

    fn translated(p: &Pipeline<Vec<u8>>) -> u64 {
        crate::counters::get(&p.cfg.stats.icmpv6_errors_translated)
    }

    #[test]
    fn nat_errors_are_translated_both_ways() {
        let t = tables(Forward::Masq);
        let mut p = pipeline(&t, 0, 1);
        let mut out = Out::default();
        p.handle(
            &t,
            0,
            from_client(&tcp(CLIENT, 40000, VIP, 80, 0x02, b"")),
            1,
            &mut out,
        );
        assert_eq!(out.0.len(), 1, "the SYN reaches the real server");
        out.0.clear();

        // From the client's side: a router cannot forward a reply (VIP:80 -> client) and
        // says "packet too big, MTU 1280"; the RS gets it about its own packet, MTU kept.
        let big_reply = tcp(VIP, 80, CLIENT, 40000, 0x10, &[7; 100]);
        let mtu = 1280u32.to_be_bytes();
        let ptb = error(2, mtu, ROUTER, VIP, &big_reply);
        p.handle(&t, 0, from_client(&ptb), 2, &mut out);
        let rs_sent = tcp(RS, 8080, CLIENT, 40000, 0x10, &[7; 100]);
        let (port, f) = out.0.pop().unwrap();
        assert_eq!(port, 1);
        assert_eq!(
            f,
            frame(RS_MAC, LAN_MAC, &error(2, mtu, ROUTER, RS, &rs_sent))
        );

        // From the real server's side: "port unreachable" from the RS about what it got
        // (client -> RS:8080, quoted in part); the client gets it from the VIP about its
        // own packet, hop limit decremented.
        let at_rs = tcp(CLIENT, 40000, RS, 8080, 0x02, b"");
        let unreach = error(1, [0; 4], RS, CLIENT, &at_rs[..50]);
        p.handle(&t, 1, from_rs(&unreach), 3, &mut out);
        let sent = tcp(CLIENT, 40000, VIP, 80, 0x02, b"");
        let mut want = error(1, [0; 4], VIP, CLIENT, &sent[..50]);
        want[7] = 63;
        let (port, f) = out.0.pop().unwrap();
        assert_eq!(port, 0);
        assert_eq!(f, frame(CLIENT_MAC, WAN_MAC, &want));
        assert_eq!(translated(&p), 2);
        assert!(out.0.is_empty());
    }

    #[test]
    fn dr_client_side_errors_reach_the_real_server_unchanged() {
        let t = tables(Forward::Route);
        let mut p = pipeline(&t, 0, 1);
        let mut out = Out::default();
        p.handle(
            &t,
            0,
            from_client(&tcp(CLIENT, 40000, VIP, 80, 0x02, b"")),
            1,
            &mut out,
        );
        assert_eq!(out.0.len(), 1);
        // The RS replied from the VIP straight to the client; a router on the way says
        // "time exceeded": relayed to the RS with only the MACs changed.
        let reply = tcp(VIP, 80, CLIENT, 40000, 0x12, b"");
        let te = error(3, [0; 4], ROUTER, VIP, &reply);
        p.handle(&t, 0, from_client(&te), 2, &mut out);
        let (port, f) = out.0.pop().unwrap();
        assert_eq!(port, 1);
        assert_eq!(f, frame(RS_MAC, LAN_MAC, &te));
        assert_eq!(translated(&p), 1);
    }

    #[test]
    fn bad_errors_are_dropped_and_counted() {
        let t = tables(Forward::Masq);
        let mut p = pipeline(&t, 0, 1);
        let mut out = Out::default();
        p.handle(
            &t,
            0,
            from_client(&tcp(CLIENT, 40000, VIP, 80, 0x02, b"")),
            1,
            &mut out,
        );
        out.0.clear();
        let reply = tcp(VIP, 80, CLIENT, 40000, 0x12, b"");
        // Quote cut before the ports; a quote that is not IPv6.
        p.handle(
            &t,
            0,
            from_client(&error(1, [0; 4], ROUTER, VIP, &reply[..43])),
            2,
            &mut out,
        );
        let mut v4 = reply.clone();
        v4[0] = 0x45;
        p.handle(
            &t,
            0,
            from_client(&error(1, [0; 4], ROUTER, VIP, &v4)),
            2,
            &mut out,
        );
        // An error message shorter than its 8-byte header.
        let mut short = error(1, [0; 4], ROUTER, VIP, &[]);
        short.truncate(IP6_HDR + 6);
        write_u16(&mut short[4..], 6);
        p.handle(&t, 0, from_client(&short), 2, &mut out);
        assert_eq!(drops(&p, DropReason::Icmpv6ErrorMalformed), 3);
        // A quoted later fragment.
        let mut frag = vec![ip_proto::TCP, 0, 0, 8, 0, 0, 0, 1];
        frag.extend_from_slice(&reply[IP6_HDR..]);
        let mut fq = ip6(VIP, CLIENT, ip_proto::FRAGMENT, &frag);
        fq[7] = 63;
        p.handle(
            &t,
            0,
            from_client(&error(1, [0; 4], ROUTER, VIP, &fq)),
            2,
            &mut out,
        );
        assert_eq!(drops(&p, DropReason::Icmpv6ErrorUnsupported), 1);
        // A wrong checksum.
        let mut bad = error(1, [0; 4], ROUTER, VIP, &reply);
        let last = bad.len() - 1;
        bad[last] ^= 1;
        p.handle(&t, 0, from_client(&bad), 2, &mut out);
        assert_eq!(drops(&p, DropReason::Icmpv6BadChecksum), 1);
        // An unknown flow: to the VIP, counted; to our own address, the director's own
        // ICMPv6 (not answered here).
        let stray = tcp(VIP, 80, CLIENT, 1, 0x10, b"");
        p.handle(
            &t,
            0,
            from_client(&error(1, [0; 4], ROUTER, VIP, &stray)),
            2,
            &mut out,
        );
        assert_eq!(drops(&p, DropReason::Icmpv6ErrorNoConnection), 1);
        let own = tcp(WAN_IP, 5000, CLIENT, 1, 0x10, b"");
        p.handle(
            &t,
            0,
            from_client(&error(1, [0; 4], ROUTER, WAN_IP, &own)),
            2,
            &mut out,
        );
        assert_eq!(drops(&p, DropReason::ForDirector), 1);
        // A quote of an echo request the director sent: not about a connection.
        let echo = ip6(
            WAN_IP,
            CLIENT,
            ip_proto::ICMPV6,
            &[128, 0, 0, 0, 0, 1, 0, 1],
        );
        p.handle(
            &t,
            0,
            from_client(&error(1, [0; 4], ROUTER, WAN_IP, &echo)),
            2,
            &mut out,
        );
        assert_eq!(drops(&p, DropReason::ForDirector), 2);
        assert!(out.0.is_empty(), "nothing forwarded");
        assert_eq!(translated(&p), 0);
    }

    #[test]
    fn errors_go_to_the_worker_owning_the_quoted_flow() {
        let workers = 4;
        let t = tables(Forward::Masq);
        let p = pipeline(&t, 0, workers);
        let mut seen = [false; 4];
        for i in 1..64u16 {
            let client = Ipv6Addr::new(0x2001, 2, 0, 0, 0, 0, 9, i).to_string();
            let syn = from_client(&tcp(&client, 40000, VIP, 80, 0x02, b""));
            let owner = p.owner(&t, &syn).unwrap();
            seen[owner] = true;
            // From the client's side, from a router whose own address would pick any
            // worker, about a reply.
            let reply = tcp(VIP, 80, &client, 40000, 0x10, b"");
            let inbound = from_client(&error(2, [0, 0, 5, 0], ROUTER, VIP, &reply));
            assert_eq!(p.owner(&t, &inbound), Some(owner), "client {client}");
            // From the real server's side, about what it got.
            let at_rs = tcp(&client, 40000, RS, 8080, 0x02, b"");
            let outbound = from_rs(&error(1, [0; 4], RS, &client, &at_rs));
            assert_eq!(p.owner(&t, &outbound), Some(owner), "client {client}");
        }
        assert_eq!(seen, [true; 4]);
        // Not an error, or a quote that does not parse: handled where it arrives.
        let echo = from_client(&ip6(
            CLIENT,
            VIP,
            ip_proto::ICMPV6,
            &[128, 0, 0, 0, 0, 1, 0, 1],
        ));
        assert_eq!(p.owner(&t, &echo), None);
        let reply = tcp(VIP, 80, CLIENT, 40000, 0x10, b"");
        let cut = from_client(&error(1, [0; 4], ROUTER, VIP, &reply[..45]));
        assert_eq!(p.owner(&t, &cut), None);
    }

    #[test]
    fn the_owner_worker_translates_what_another_worker_would_not_know() {
        // Two workers: the connection lives on the client's owner; the other worker has
        // no such connection and would count the error as unknown.
        let t = tables(Forward::Masq);
        let probe = pipeline(&t, 0, 2);
        let syn = from_client(&tcp(CLIENT, 40000, VIP, 80, 0x02, b""));
        let owner = probe.owner(&t, &syn).unwrap();
        let mut w = [pipeline(&t, 0, 2), pipeline(&t, 1, 2)];
        let mut out = Out::default();
        w[owner].handle(&t, 0, syn, 1, &mut out);
        let reply = tcp(VIP, 80, CLIENT, 40000, 0x10, b"");
        let err = from_client(&error(3, [0; 4], ROUTER, VIP, &reply));
        assert_eq!(probe.owner(&t, &err), Some(owner));
        w[1 - owner].handle(&t, 0, err.clone(), 2, &mut out);
        assert_eq!(drops(&w[1 - owner], DropReason::Icmpv6ErrorNoConnection), 1);
        out.0.clear();
        w[owner].handle(&t, 0, err, 2, &mut out);
        assert_eq!(out.0.len(), 1);
        assert_eq!(translated(&w[owner]), 1);
    }

    #[test]
    fn tunnel_client_side_errors_are_encapsulated_to_the_real_server() {
        let t = tables(Forward::Tunnel(crate::xmit::tun::TunnelKind::Ipip));
        let mut p = pipeline(&t, 0, 1);
        let new = NewConn {
            original: Tuple::new(
                ip_proto::TCP,
                IpAddr::V6(a(CLIENT)),
                40000,
                IpAddr::V6(a(VIP)),
                80,
            ),
            reply: None,
            rs: 0,
            svc: 0,
            method: Method::Tunnel,
            template: None,
        };
        p.conns.insert(&new, 1).unwrap();
        let reply = tcp(VIP, 80, CLIENT, 40000, 0x10, b"");
        let err = error(2, [0, 0, 5, 0], ROUTER, VIP, &reply);
        let mut out = Out::default();
        p.handle(&t, 0, from_client(&err), 2, &mut out);
        let [(1, f)] = out.0.as_slice() else {
            panic!(
                "expected the error encapsulated to the real server: {:?}",
                out.0
            );
        };
        // ip6ip6 from the director's lan address to the RS, the error inside unchanged.
        assert_eq!(f[20], 41, "next header IPv6 (ip6ip6)");
        assert_eq!(crate::wire::read_ipv6(&f[22..38]), a("2001:2:0:1::fe"));
        assert_eq!(crate::wire::read_ipv6(&f[38..54]), a(RS));
        assert_eq!(&f[54..], &err[..]);
        assert_eq!(translated(&p), 1);
        // The real server's side of a TUN connection never passes the director: an error
        // quoting RS -> client is no connection's.
        let at_rs = tcp(CLIENT, 40000, RS, 80, 0x10, b"");
        p.handle(
            &t,
            1,
            from_rs(&error(1, [0; 4], RS, CLIENT, &at_rs)),
            2,
            &mut out,
        );
        assert_eq!(out.0.len(), 1);
        assert_eq!(drops(&p, DropReason::Icmpv6ErrorNoConnection), 1);
    }

    #[test]
    fn fullnat_errors_are_translated_both_ways() {
        let t = tables(Forward::Masq);
        let mut p = pipeline(&t, 0, 1);
        let lip = a("2001:2:0:1::200");
        let tuple = |s: &str, sp, d: Ipv6Addr, dp| {
            Tuple::new(ip_proto::TCP, IpAddr::V6(a(s)), sp, IpAddr::V6(d), dp)
        };
        let conns = [(Method::FullNat, 40001, Some(tuple(RS, 8080, lip, 2000)))];
        for (method, cport, reply) in conns {
            let new = NewConn {
                original: tuple(CLIENT, cport, a(VIP), 80),
                reply,
                rs: 0,
                svc: 0,
                method,
                template: None,
            };
            let id = p.conns.insert(&new, 1).unwrap();
            // The real server sees sequence numbers 5000 ahead of the client's.
            p.conns.set_seq_delta(id, 5000);
        }
        // Addresses and ports of a forwarded error: outer (src, dst), quoted (src:port,
        // dst:port).
        let fields = |f: &[u8]| {
            let ip = |at: usize| crate::wire::read_ipv6(&f[at..at + 16]);
            let port = |at: usize| u16::from_be_bytes([f[at], f[at + 1]]);
            (ip(22), ip(38), (ip(70), port(102)), (ip(86), port(104)))
        };
        let mut out = Out::default();
        let reply = tcp(VIP, 80, CLIENT, 40001, 0x10, b"");
        p.handle(
            &t,
            0,
            from_client(&error(2, [0, 0, 5, 0], ROUTER, VIP, &reply)),
            2,
            &mut out,
        );
        let [(1, f)] = out.0.as_slice() else {
            panic!(
                "expected the FULLNAT error towards the real server: {:?}",
                out.0
            );
        };
        // To the RS, from the local address, quoting what the RS sent (RS:8080 -> LIP:2000).
        assert_eq!(fields(f), (lip, a(RS), (a(RS), 8080), (lip, 2000)));
        assert_eq!(
            &f[58..62],
            &[0, 0, 5, 0],
            "the MTU of a packet too big is kept"
        );
        assert!(crate::wire::Icmpv6Packet::new_unchecked(&f[54..]).verify_checksum(lip, a(RS)));
        // From the real server's side (quote LIP:2000 -> RS:8080): to the client, from
        // the VIP, quoting what the client sent.
        out.0.clear();
        let at_rs = tcp(&lip.to_string(), 2000, RS, 8080, 0x10, b"");
        p.handle(
            &t,
            1,
            from_rs(&error(1, [0; 4], RS, &lip.to_string(), &at_rs)),
            2,
            &mut out,
        );
        let [(0, f)] = out.0.as_slice() else {
            panic!("expected the FULLNAT error towards the client: {:?}", out.0);
        };
        assert_eq!(
            fields(f),
            (a(VIP), a(CLIENT), (a(CLIENT), 40001), (a(VIP), 80))
        );
        // The quoted segment (sequence number 0 at the real server) is the client's own:
        // its sequence number 5000 back, its checksum right for it, and so the ICMPv6
        // checksum.
        let quoted = &f[102..];
        assert_eq!(
            crate::wire::read_u32(&quoted[4..8]),
            0u32.wrapping_sub(5000)
        );
        let ph = checksum::pseudo_header_v6(a(CLIENT), a(VIP), ip_proto::TCP, 20);
        assert_eq!(checksum::combine(&[ph, checksum::data(quoted)]), 0xFFFF);
        assert!(
            crate::wire::Icmpv6Packet::new_unchecked(&f[54..]).verify_checksum(a(VIP), a(CLIENT))
        );
        assert_eq!(translated(&p), 2);
    }

    #[test]
    fn errors_about_fullnat_packets_go_to_the_local_port_owner() {
        let lip = a("2001:2:0:1::200");
        let mut t = tables(Forward::Masq);
        let p = pipeline(&t, 0, 2);
        let error_about = |lport| {
            let at_rs = tcp(&lip.to_string(), lport, RS, 8080, 0x10, b"");
            from_rs(&error(1, [0; 4], RS, &lip.to_string(), &at_rs))
        };
        // Not a local address of a pool: steered by the client hash, the same for both.
        assert_eq!(
            p.owner6(&t, &error_about(2000)),
            p.owner6(&t, &error_about(2001))
        );
        t.snat = crate::xmit::fullnat::SnatTable::new(vec![crate::xmit::fullnat::SnatPool {
            addrs: vec![IpAddr::V6(lip)],
            port_min: 1000,
            port_max: 3000,
        }]);
        for lport in [2000u16, 2001, 2002, 2003] {
            assert_eq!(
                p.owner6(&t, &error_about(lport)),
                Some(crate::xmit::fullnat::port_owner(lport, 2)),
                "local port {lport}"
            );
        }
    }
}
