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
//! Refused and counted (`icmpv6_error_unsupported`): TUN and FULLNAT connections, whose
//! IPv6 forwarding is not built yet. TUN would relay client-side errors encapsulated like
//! the connection's packets; FULLNAT can use [`nat`] as it is (it handles a reply tuple
//! whose destination is a local address), once RS-side errors are steered to the owner of
//! the quoted local port. Errors about rvs's own tunnel packets (quoting an ip6ip6 packet
//! the director sent) are not related to a connection here.
//!
//! The outer ICMPv6 checksum is verified before anything is rewritten (the rewrite is
//! incremental), like `handle_response_icmp`. An error quoting a flow no connection
//! matches is dropped and counted, unless it is for one of the director's own addresses
//! (then it is the director's business, as any ICMPv6 to it).

use super::*;
use crate::wire::icmp6_error::{self, Quote6, QUOTE_OFFSET};
use crate::wire::{rewrite_icmp6_error_dst, rewrite_icmp6_error_src, Error as WireError};

/// For an ICMPv6 error in IPv6 packet `ip` (ICMPv6 right after the fixed header), the
/// flow it concerns as (source, destination) of a packet of that flow: the quoted packet
/// reversed. None for anything else, or when the quote does not parse (the error is then
/// handled, and counted, where it arrived). Used to steer the error to the flow's worker.
#[inline]
pub(super) fn quoted_flow6(ip: &[u8]) -> Option<(Ipv6Addr, Ipv6Addr)> {
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
    Some((q.dst_addr, q.src_addr))
}

impl<P: Frame> Pipeline<P> {
    /// Handle an ICMPv6 error that quotes a packet of a connection. `ip_buf` is a checked
    /// IPv6 packet with ICMPv6 right after the fixed header. None when it is not an error
    /// this stage takes (not an error type, a quote of another protocol, an unknown flow
    /// to one of our own addresses): the caller goes on with its ICMPv6 handling.
    pub(super) fn icmpv6_error(
        &mut self,
        t: &Tables,
        ip_buf: &mut [u8],
        now_ms: u64,
    ) -> Option<Ipv6Verdict> {
        use Ipv6Verdict::Drop;
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
        let c = self.conns.get(id, now_ms)?;
        let verdict = match (c.method, dir) {
            (Method::Masq, _) => self.nat(ip_buf, &c, dir),
            // DR keeps only the client's side (its replies bypass the director): relay
            // to the real server as is, found by id as for the connection's packets.
            (Method::Route, Direction::Original) => match t.services.routed_of(c.rs) {
                Some(IpAddr::V6(rip)) => Ipv6Verdict::Forward(rip),
                _ => Drop(DropReason::NoRealServer),
            },
            (Method::Route, Direction::Reply) | (Method::Tunnel | Method::FullNat, _) => {
                Drop(DropReason::Icmpv6ErrorUnsupported)
            }
        };
        if matches!(verdict, Ipv6Verdict::Forward(_)) {
            bump(&self.cfg.stats.icmpv6_errors_translated, 1);
        }
        Some(verdict)
    }

    /// NAT an ICMPv6 error of connection `c` from its two tuples (`dir`: which of them the
    /// quote reversed is), as `ip_vs_nat_icmp_v6`; the quoted TCP/UDP checksum is kept
    /// right too.
    fn nat(&self, ip_buf: &mut [u8], c: &conn_table::ConnInfo, dir: Direction) -> Ipv6Verdict {
        use Ipv6Verdict::Drop;
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
                Ipv6Verdict::Forward(client)
            }
            Direction::Original => {
                if rewrite_icmp6_error_dst(ip_buf, rip, reply.sport).is_err()
                    || (reply_dst != client
                        && rewrite_icmp6_error_src(ip_buf, reply_dst, reply.dport).is_err())
                {
                    return Drop(DropReason::Icmpv6ErrorMalformed);
                }
                Ipv6Verdict::Forward(rip)
            }
        }
    }
}
