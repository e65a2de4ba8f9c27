//! Reading an ICMP error's quote, per family: what the translation step needs of it
//! ([`error_quote4`], [`error_quote6`]) and what steering needs of it on every packet
//! ([`quoted_flow4`], [`quoted_local_port4`] and their IPv6 counterparts).
//!
//! The steering helpers run in `Pipeline::owner` for every packet a worker receives, so
//! they return at the first byte that rules the packet out (not ICMP, not an error type)
//! and read raw bytes rather than building checked views. The two families differ:
//! - IPv4 relates destination unreachable, source quench and time exceeded (IPVS
//!   `ip_vs_in_icmp`), and an error about one of the director's own tunnel packets (quoted
//!   source a local address, not a SNAT one) is steered by the client's packet inside it,
//!   as `ip_vs_in_icmp` relates it to the tunnel connection;
//! - IPv6 relates the four RFC 4443 errors, walks the quote's extension headers
//!   ([`Quote6`]), and relates no error about its own tunnel packets (`ip_vs_in_icmp_v6`
//!   has no such case).

use std::net::{Ipv4Addr, Ipv6Addr};

use crate::counters::DropReason;
use crate::tables::Tables;
use crate::wire::icmp6_error::{self, Quote6, QUOTE_OFFSET};
use crate::wire::icmpv4::msg_type;
use crate::wire::ipv6::HEADER_LEN as IP6_HDR;
use crate::wire::{ip_proto, Error as WireError, Icmpv4Packet, Ipv4Packet, Ipv6Packet};
use crate::xmit::tun as tunnel;

/// ICMP source quench (deprecated, still relayed by IPVS).
const SOURCE_QUENCH: u8 = 4;

/// The ICMP errors IPVS relates to a connection (`ip_vs_in_icmp`, `ip_vs_out_icmp`).
#[inline]
fn is_related_error4(ty: u8) -> bool {
    matches!(
        ty,
        msg_type::DST_UNREACHABLE | SOURCE_QUENCH | msg_type::TIME_EXCEEDED
    )
}

/// Where an ICMP error message sits in its IP packet, and the packet's addresses.
#[derive(Clone, Copy, Debug)]
pub(crate) struct ErrorMsg<A> {
    /// Source of the outer packet (the router or host that sent the error).
    pub src: A,
    /// Destination of the outer packet.
    pub dst: A,
    /// Offset of the ICMP header in the packet.
    pub icmp: usize,
    /// End of the ICMP message (the IP total length, or the IPv6 payload's end).
    pub end: usize,
}

/// The TCP/UDP packet an ICMP error quotes.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Quote<A> {
    /// TCP or UDP.
    pub proto: u8,
    /// Source address and port of the quoted packet.
    pub src: (A, u16),
    /// Destination address and port of the quoted packet.
    pub dst: (A, u16),
    /// Offset of the quoted TCP/UDP header in the outer packet.
    pub l4: usize,
}

/// Why an ICMP message is not taken for translation.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Unrelated {
    /// Not an error about a connection's packet: the caller goes on with its ICMP handling.
    NotAnError,
    /// An error whose quote is unusable: dropped and counted.
    Drop(DropReason),
    /// An error about one of the director's own tunnel packets (IPv4).
    OwnTunnel,
}

/// The error message and its quote in IPv4 packet `ip` (the translation step's view: a
/// checked header, a quote [`crate::wire::icmpv4::QuotedPacket`] accepts). Anything
/// else is handed back to the caller.
#[inline]
pub(crate) fn error_quote4(
    t: &Tables,
    ip: &[u8],
) -> Result<(ErrorMsg<Ipv4Addr>, Quote<Ipv4Addr>), Unrelated> {
    let not = Unrelated::NotAnError;
    let outer = Ipv4Packet::new_checked(ip).map_err(|_| not)?;
    let (hl, total) = (outer.header_len(), outer.total_len());
    let icmp = Icmpv4Packet::new_checked(&ip[hl..total]).map_err(|_| not)?;
    if !is_related_error4(icmp.msg_type()) {
        return Err(not);
    }
    let q = icmp.quoted().map_err(|_| not)?;
    if t.services.is_local(q.src_addr) && !t.snat.is_lip(q.src_addr) {
        return Err(Unrelated::OwnTunnel);
    }
    if q.protocol != ip_proto::TCP && q.protocol != ip_proto::UDP {
        return Err(not);
    }
    let msg = ErrorMsg {
        src: outer.src_addr(),
        dst: outer.dst_addr(),
        icmp: hl,
        end: total,
    };
    let quote = Quote {
        proto: q.protocol,
        src: (q.src_addr, q.src_port),
        dst: (q.dst_addr, q.dst_port),
        l4: hl + crate::wire::icmpv4::HEADER_LEN + q.header_len,
    };
    Ok((msg, quote))
}

/// The error message and its quote in IPv6 packet `ip` (ICMPv6 right after the fixed
/// header). An error to a multicast address is not taken; an error whose quote does not
/// parse is dropped and counted as malformed or unsupported (a quoted later fragment).
#[inline]
pub(crate) fn error_quote6(ip: &[u8]) -> Result<(ErrorMsg<Ipv6Addr>, Quote<Ipv6Addr>), Unrelated> {
    use Unrelated::{Drop, NotAnError};
    let outer = Ipv6Packet::new_checked(ip).map_err(|_| NotAnError)?;
    let (src, dst, len) = (outer.src_addr(), outer.dst_addr(), outer.payload_len());
    let msg = outer.payload();
    if !icmp6_error::is_error(*msg.first().ok_or(NotAnError)?) || dst.is_multicast() {
        return Err(NotAnError);
    }
    if len < QUOTE_OFFSET {
        return Err(Drop(DropReason::Icmpv6ErrorMalformed));
    }
    let q = match Quote6::parse(&msg[QUOTE_OFFSET..]) {
        Ok(q) => q,
        Err(WireError::Unsupported) => return Err(Drop(DropReason::Icmpv6ErrorUnsupported)),
        Err(_) => return Err(Drop(DropReason::Icmpv6ErrorMalformed)),
    };
    if q.protocol != ip_proto::TCP && q.protocol != ip_proto::UDP {
        // Not a quote of a connection's packet (IPVS: no protocol handler, so not
        // related).
        return Err(NotAnError);
    }
    let msg = ErrorMsg {
        src,
        dst,
        icmp: IP6_HDR,
        end: IP6_HDR + len,
    };
    let quote = Quote {
        proto: q.protocol,
        src: (q.src_addr, q.src_port),
        dst: (q.dst_addr, q.dst_port),
        l4: IP6_HDR + QUOTE_OFFSET + q.l4_offset,
    };
    Ok((msg, quote))
}

/// For an ICMP error in IPv4 packet `ip`, the flow it concerns as (source, destination) of
/// a packet of that flow: the quoted packet reversed, or, for an error about one of our
/// tunnel packets (quoted source is the director), the client's packet inside it. None
/// for anything else, or when too short to tell. Used to steer the error to the worker
/// that owns the flow.
#[inline]
pub(crate) fn quoted_flow4(t: &Tables, ip: &[u8]) -> Option<(Ipv4Addr, Ipv4Addr)> {
    if ip.len() < 20 || ip[9] != ip_proto::ICMP {
        return None;
    }
    let hl = usize::from(ip[0] & 0x0f) * 4;
    let icmp = ip.get(hl..)?;
    if !is_related_error4(*icmp.first()?) {
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
pub(crate) fn quoted_local_port4(t: &Tables, ip: &[u8]) -> Option<u16> {
    if ip.len() < 20 || ip[9] != ip_proto::ICMP {
        return None;
    }
    let hl = usize::from(ip[0] & 0x0f) * 4;
    let icmp = ip.get(hl..)?;
    if !is_related_error4(*icmp.first()?) {
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::counters::WorkerStats;
    use crate::pipeline::{owner_of, Pipeline, PipelineConfig};
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
        assert_eq!(quoted_flow4(&t, &f[14..]), Some((RIP, CLIENT)));
        for ty in [4, 11] {
            assert!(quoted_flow4(&t, &icmp_error(ty, RIP, CLIENT, CLIENT, RIP)[14..]).is_some());
        }
        for ty in [0, 8, 12, 5] {
            assert_eq!(
                quoted_flow4(&t, &icmp_error(ty, RIP, CLIENT, CLIENT, RIP)[14..]),
                None
            );
        }
        assert_eq!(quoted_flow4(&t, &f[14..14 + 40]), None, "quote cut short");
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
        assert_eq!(quoted_flow4(&t, &f[14..]), Some((CLIENT, VIP)));
        // GRE: four more bytes before the inner header.
        f[q + 9] = 47;
        assert_eq!(quoted_flow4(&t, &f[14..]), None, "inner header cut short");
        f.splice(q + 20..q + 20, [0, 0, 8, 0]);
        assert_eq!(quoted_flow4(&t, &f[14..]), Some((CLIENT, VIP)));
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
            assert_eq!(quoted_local_port4(&t, &f[14..]), Some(lport));
            assert_eq!(
                pipe.owner(&t, &f),
                Some(crate::xmit::fullnat::port_owner(lport, workers)),
                "lport {lport}"
            );
            // Cut short before the quoted ports: steered by addresses instead.
            assert_eq!(quoted_local_port4(&t, &f[14..14 + 28 + 20 + 1]), None);
        }
        // A quote whose source is not a LIP keeps the address steering.
        let f = icmp_error(3, RIP, CLIENT, CLIENT, RIP);
        assert_eq!(quoted_local_port4(&t, &f[14..]), None);
        assert_eq!(pipe.owner(&t, &f), Some(owner_of(CLIENT, workers)));
        // From the client's side (to the VIP, about VIP -> client): the client's worker,
        // which took the local port from its own share.
        let f = icmp_error(11, Ipv4Addr::new(198, 18, 9, 1), VIP, VIP, CLIENT);
        assert_eq!(quoted_local_port4(&t, &f[14..]), None);
    }

    /// IPv6: errors go to the worker owning the flow they quote.
    mod v6 {
        use std::net::{IpAddr, Ipv6Addr};

        use super::super::super::fixture6::*;
        use crate::service::Forward;
        use crate::wire::ip_proto;

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
}
