//! ICMP errors that quote a packet of a connection (IPVS `ip_vs_in_icmp`,
//! `ip_vs_out_icmp`, `ip_vs_nat_icmp` and their `_v6` variants), for every forwarding
//! method and both address families: one step, `Pipeline::icmp_error`, written once
//! over `IcmpFamily` (what differs between ICMP and ICMPv6: `family.rs`).
//!
//! The quoted packet is one rvs forwarded, so its reverse is a packet of the connection:
//! - the connection's reply tuple (from the real server's side: the quote is a packet the
//!   director sent to the RS, e.g. "port unreachable" from the RS, or "packet too big" /
//!   "fragmentation needed" from a router between the director and the RS): NAT rewrites
//!   the outer source to the VIP and the quote back to what the client sent, and forwards
//!   it to the client, TTL / hop limit decremented as routed;
//! - the original tuple (from the client's side: the quote is a packet the client got
//!   from the VIP): NAT rewrites the outer destination to the RS and the quote to what the
//!   RS sent; DR relays it unchanged to the RS (MAC only) and TUN encapsulates it, as IPVS
//!   hands it to the connection's transmitter, TTL / hop limit decremented as every
//!   packet towards the real server. The four bytes after the checksum (a "packet too
//!   big"'s MTU) are kept.
//!
//! Translation works from the connection's two tuples only, so NAT and FULLNAT share it
//! (FULLNAT: the reply tuple's destination is the local address, so the far side's outer
//! address and the quote's other end change too, and a TCP quote from the real server's
//! side gets its sequence number back in the client's space). DR and TUN keep only the
//! client's side and find their real server by id. The outer address on the far side is
//! rewritten only when the connection translates it, so a NAT error keeps the router that
//! sent it as its source. The ICMP checksum is verified before anything is rewritten (the
//! rewrite is incremental).
//!
//! Modules: `quote.rs` reads the quote, per family, for this step and for steering
//! (`quoted_flow`, `quoted_local_port`: an error goes to the worker owning the flow
//! it quotes); `tunnel_error.rs` turns an error about one of the director's own IPv4
//! tunnel packets into the client's error. Not handled: quotes of ICMP or other
//! protocols.

use std::net::IpAddr;

use conn_table::{ConnId, ConnInfo, Direction, Method, Tuple};

use crate::counters::DropReason;
use crate::frame::Frame;
use crate::pipeline::state::Pipeline;
use crate::pipeline::verdict::Verdict;
use crate::tables::Tables;
use crate::wire::ip_proto;
use crate::xmit::dr;
use crate::xmit::fullnat::tcp_seq;
use crate::xmit::tun::route::TunnelRoute;

mod family;
mod quote;
mod tunnel_error;

pub(crate) use family::IcmpFamily;
use family::Untranslatable;
use quote::{ErrorMsg, Quote, Unrelated};

/// For an ICMP error in IP packet `ip` of family `F`, the flow it concerns as (source,
/// destination) of a packet of that flow, to steer the error to the worker that owns the
/// flow. None for anything else (checked on the first bytes: this runs for every packet).
#[inline(always)]
pub(crate) fn quoted_flow<F: IcmpFamily>(t: &Tables, ip: &[u8]) -> Option<(F, F)> {
    F::quoted_flow(t, ip)
}

/// For an ICMP error in IP packet `ip` of family `F` that quotes a FULLNAT packet the
/// director sent to a real server (quoted source a local address of a SNAT pool), the
/// quoted source port: the connection belongs to the worker owning that local port
/// (`fullnat::port_owner`), not to the one its addresses would pick. None otherwise.
#[inline(always)]
pub(crate) fn quoted_local_port<F: IcmpFamily>(t: &Tables, ip: &[u8]) -> Option<u16> {
    F::quoted_local_port(t, ip)
}

impl<P: Frame> Pipeline<P> {
    /// Handle an ICMP error of family `F` in IP packet `ip_buf` that quotes a packet of
    /// one of this worker's connections. None when it is not an error this step takes
    /// (not a related error type, a quote of another protocol, and whatever the family
    /// hands back, see [`IcmpFamily::untranslated`]): the caller goes on with its ICMP
    /// handling.
    pub(crate) fn icmp_error<F: IcmpFamily>(
        &mut self,
        t: &Tables,
        ip_buf: &mut [u8],
        now_ms: u64,
    ) -> Option<Verdict<F>> {
        let (msg, q) = match F::error_quote(t, ip_buf) {
            Ok(found) => found,
            Err(Unrelated::NotAnError) => return None,
            Err(Unrelated::Drop(why)) => return Some(Verdict::Drop(why)),
            Err(Unrelated::OwnTunnel) => return F::own_tunnel_error(self, t, ip_buf, now_ms),
        };
        let untranslated = |why| F::untranslated(t, msg.dst, why).map(Verdict::Drop);
        let (qsrc, qdst) = (q.src.0.into(), q.dst.0.into());
        let flow = Tuple::new(q.proto, qdst, q.dst.1, qsrc, q.src.1);
        let Some((id, dir)) = self.conns.lookup(&flow) else {
            return untranslated(Untranslatable::UnknownFlow);
        };
        if !F::verify_checksum(ip_buf, &msg) {
            return untranslated(Untranslatable::BadChecksum);
        }
        let Some(c) = self.conns.get(id, now_ms) else {
            return untranslated(Untranslatable::Expired);
        };
        let verdict = if c.method.replies_bypass_director() {
            // Towards the real server, as every packet of the connection (no error is
            // sent about an error: `icmp_send` never answers one).
            if !F::decrement_hops(ip_buf) {
                return untranslated(Untranslatable::HopLimit);
            }
            relay_icmp_error(t, &c)
        } else {
            match self.nat_icmp_error(ip_buf, (&c, id, dir), &msg, &q) {
                Ok(to) => Verdict::Forward(to),
                Err(why) => return untranslated(why),
            }
        };
        F::count_translated(&self.cfg.stats, &verdict);
        Some(verdict)
    }

    /// NAT an error of NAT or FULLNAT connection `c` (`id`) from its two tuples (`dir`:
    /// which of them the quote reversed is), as `ip_vs_nat_icmp`; the quoted TCP/UDP
    /// checksum is kept right too. The address to forward the error to.
    fn nat_icmp_error<F: IcmpFamily>(
        &self,
        ip_buf: &mut [u8],
        (c, id, dir): (&ConnInfo, ConnId, Direction),
        msg: &ErrorMsg<F>,
        q: &Quote<F>,
    ) -> Result<F, Untranslatable> {
        let orig = c.original;
        let reply = c.reply.ok_or(Untranslatable::NoReplyTuple)?;
        let addr = |a: IpAddr| F::of(a).ok_or(Untranslatable::NoReplyTuple);
        let (client, vip) = (addr(orig.src)?, addr(orig.dst)?);
        let (rip, reply_dst) = (addr(reply.src)?, addr(reply.dst)?);
        let (to, rewritten) = match dir {
            Direction::Reply => {
                if !F::decrement_hops(ip_buf) {
                    return Err(Untranslatable::HopLimit);
                }
                let ok = F::rewrite_error_src(ip_buf, (vip, orig.dport)).is_ok()
                    && (reply_dst == client
                        || F::rewrite_error_dst(ip_buf, (client, orig.sport)).is_ok());
                (client, ok)
            }
            Direction::Original => {
                if !F::decrement_hops(ip_buf) {
                    return Err(Untranslatable::HopLimit);
                }
                let ok = F::rewrite_error_dst(ip_buf, (rip, reply.sport)).is_ok()
                    && (reply_dst == client
                        || F::rewrite_error_src(ip_buf, (reply_dst, reply.dport)).is_ok());
                (rip, ok)
            }
        };
        if !rewritten {
            return Err(Untranslatable::RewriteFailed);
        }
        if dir == Direction::Reply && c.method == Method::FullNat && q.proto == ip_proto::TCP {
            // The quoted segment went to the real server with the director's sequence
            // numbers: the client checks its own.
            let delta = self.conns.conn(id).map_or(0, |r| r.seq_delta());
            if delta != 0 || F::SHIFT_QUOTE_BY_ZERO {
                tcp_seq::quoted_to_client(ip_buf, (msg.icmp, msg.end), q.l4, delta);
            }
        }
        Ok(to)
    }
}

/// The verdict for an error of DR or TUN connection `c`. Only the client's side of such
/// a connection is indexed (its replies bypass the director), so the error came from the
/// client's side: relay it to the real server as is (DR, found by id in the current
/// table) or encapsulated (TUN), as IPVS hands it to the connection's transmitter.
fn relay_icmp_error<F: IcmpFamily>(t: &Tables, c: &ConnInfo) -> Verdict<F> {
    let relay = match c.method {
        Method::Tunnel => {
            <F as TunnelRoute>::tunnel_of(t, c.rs).map(|(rip, kind)| Verdict::Tunnel(rip, kind))
        }
        _ => dr::real_server(t, c.rs).map(Verdict::Forward),
    };
    relay.unwrap_or(Verdict::Drop(DropReason::NoRealServer))
}

#[cfg(test)]
mod fixture6;
#[cfg(test)]
mod tests;
