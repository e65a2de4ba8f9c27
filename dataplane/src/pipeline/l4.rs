//! The connection step for TCP and UDP of either family, written once over
//! [`L4Family`]: find the connection (with IPVS's `ip_vs_in` checks on it), hand an
//! established packet to its forwarding method ([`crate::xmit`]), or schedule a new one
//! (`new_conn`).

use std::net::IpAddr;
use std::ops::Range;

use conn_table::{ConnId, ConnRef, Direction, Method, TcpFlags, TcpState};

use super::lookup::L4Family;
use super::new_conn::NewPacket;
use super::state::Pipeline;
use super::verdict::Verdict;
use crate::counters::{bump, DropReason};
use crate::frame::Frame;
use crate::service::proto;
use crate::tables::Tables;
use crate::wire::{TcpPacket, UdpPacket};
use crate::xmit::tun::route::TunnelRoute;
use crate::xmit::{dr, fullnat, nat};

/// A TCP or UDP packet as the family's IP stage parsed it.
pub(super) struct L4Packet<F> {
    /// Source address.
    pub src: F,
    /// Destination address.
    pub dst: F,
    /// `proto::TCP` or `proto::UDP`.
    pub proto: u8,
    /// Where the TCP/UDP header and payload are in the IP packet.
    pub l4: Range<usize>,
    /// The IP packet's length (for the byte counters).
    pub bytes: u32,
}

/// What becomes of an existing connection a client packet just matched.
enum Revisit {
    /// Handle the packet on the connection.
    Continue,
    /// The connection was ended: schedule the packet as a new connection.
    Reschedule,
    /// The connection was ended and the packet is dropped.
    Drop(DropReason),
}

impl<P: Frame> Pipeline<P> {
    /// The connection step for a TCP or UDP packet of either family (`ip_buf` from the IP
    /// header): an established connection's method rewrites it, else a new connection is
    /// scheduled; the verdict says where it goes.
    #[inline(always)]
    pub(super) fn handle_l4<F: L4Family>(
        &mut self,
        t: &Tables,
        ip_buf: &mut [u8],
        pkt: L4Packet<F>,
        now_ms: u64,
    ) -> Verdict<F> {
        use Verdict::Drop;
        let L4Packet {
            src,
            dst,
            proto,
            l4,
            bytes,
        } = pkt;
        let l4 = &ip_buf[l4];
        let (sport, dport, flags) = match proto {
            proto::TCP => match TcpPacket::new_checked(l4) {
                Ok(t) => (t.src_port(), t.dst_port(), Some(t.flags())),
                Err(_) => return Drop(DropReason::L4Malformed),
            },
            _ => match UdpPacket::new_checked(l4) {
                Ok(u) => (u.src_port(), u.dst_port(), None),
                Err(_) => return Drop(DropReason::L4Malformed),
            },
        };
        let tcp_flags = TcpFlags(flags.map(|f| f.bits()).unwrap_or(0));
        let found = match F::lookup(&self.conns, proto, (src, sport), (dst, dport)) {
            None => None,
            Some((id, dir)) => match self.revisit(t, id, dir, tcp_flags) {
                Revisit::Continue => Some((id, dir)),
                Revisit::Reschedule => None,
                Revisit::Drop(why) => return Drop(why),
            },
        };
        if let Some((id, dir)) = found {
            self.conns.on_packet(id, dir, tcp_flags, bytes, now_ms);
            return self.established(t, id, dir, ip_buf, proto, tcp_flags, (src, sport), bytes);
        }
        // Only here, where no connection claims the packet: sources that passed made
        // the connections, so the established path pays nothing for the check.
        if F::martian_source(t, src) {
            return Drop(F::MARTIAN_SOURCE);
        }
        let new = NewPacket {
            proto,
            src: (src, sport),
            dst: (dst, dport),
            flags,
            bytes,
        };
        self.new_connection(t, ip_buf, new, now_ms)
    }

    /// IPVS's checks on a client packet that matched connection `id` (ip_vs_in), before
    /// the packet is handled on it:
    /// - `conn_reuse_mode` (the kernel's default, 1): a SYN (no ACK) on a TCP connection in
    ///   TIME_WAIT or CLOSE that no persistence template controls is a new connection
    ///   reusing the client port: the old one ends and the SYN is scheduled again, so a
    ///   client that recycles ports quickly is still balanced (and not sent to a removed
    ///   or quiescent server);
    /// - `expire_nodest_conn`: a packet of a connection whose real server was removed ends
    ///   it and is dropped, so the client gives up and reconnects to one that exists.
    #[inline(always)]
    fn revisit(
        &mut self,
        t: &Tables,
        id: conn_table::ConnId,
        dir: Direction,
        flags: TcpFlags,
    ) -> Revisit {
        if dir != Direction::Original {
            return Revisit::Continue;
        }
        // Read in place: this runs for every client packet of an established flow.
        let Some(c) = self.conns.conn(id) else {
            return Revisit::Continue;
        };
        let new_syn = flags.0
            & (TcpFlags::SYN.0 | TcpFlags::ACK.0 | TcpFlags::RST.0 | TcpFlags::FIN.0)
            == TcpFlags::SYN.0;
        if new_syn
            && c.template().is_none()
            && matches!(
                c.state(),
                conn_table::ConnState::Tcp(TcpState::TimeWait | TcpState::Close)
            )
        {
            self.end_connection(id);
            bump(&self.cfg.stats.conns_reused, 1);
            return Revisit::Reschedule;
        }
        if t.ipvs.expire_nodest_conn && !t.services.has_real_server(c.rs()) {
            self.end_connection(id);
            return Revisit::Drop(DropReason::NoDestExpired);
        }
        Revisit::Continue
    }

    /// A packet of established connection `id` (direction `dir`, already counted by
    /// `on_packet`), IPv4 or IPv6 (`ip_buf` from the IP header; `from` its source address
    /// and port): rewritten in place by the connection's method, and where it goes.
    #[allow(clippy::too_many_arguments)]
    #[inline(always)]
    pub(super) fn established<F: L4Family>(
        &mut self,
        t: &Tables,
        id: ConnId,
        dir: Direction,
        ip_buf: &mut [u8],
        proto: u8,
        tcp_flags: TcpFlags,
        from: (F, u16),
        bytes: u32,
    ) -> Verdict<F> {
        use Verdict::Drop;
        // Borrowed, not copied: only the fields this packet's rewrite needs are read.
        let Some(c) = self.conns.conn(id) else {
            return Drop(DropReason::NoService);
        };
        let rs_id = c.rs();
        if let Some(rs) = self.cfg.stats.real_servers.get(rs_id as usize) {
            rs.packet(dir == Direction::Original, u64::from(bytes));
        }
        // The spec never mixes families in a service; a connection of the other family
        // (its endpoints read as None in this one) is not forwarded.
        match dir {
            Direction::Original => {
                client_packet(t, &c, ip_buf, (proto, tcp_flags), from, &mut self.toa)
            }
            Direction::Reply => reply_packet(&c, ip_buf),
        }
    }

    /// End a connection now, giving back what it holds (a FULLNAT local port).
    fn end_connection(&mut self, id: conn_table::ConnId) {
        let Some(c) = self.conns.conn(id) else {
            return;
        };
        if c.method() == Method::FullNat {
            // Either family: the local address and port are the reply's destination.
            if let Some((lip, lport)) = c.dst(Direction::Reply) {
                self.snat.release(lip, lport);
            }
        }
        self.conns.remove(id);
    }
}

/// A client packet of established connection `c`, rewritten by its method towards the
/// real server; a FULLNAT TCP packet that carries TOA leaves the client in `toa`.
///
/// Every method decrements the TTL / hop limit towards the real server, as IPVS's
/// `decrement_ttl` in `__ip_vs_get_out_rt` (NAT, DR, TUN: the inner header, before
/// encapsulation; FULLNAT as DPVS and Alibaba's FULLNAT, which route the same way): once
/// the real server is known, before any rewrite, so that a time-exceeded error quotes the
/// packet as the client sent it.
#[inline(always)]
fn client_packet<F: L4Family>(
    t: &Tables,
    c: &ConnRef<'_>,
    ip_buf: &mut [u8],
    (proto, tcp_flags): (u8, TcpFlags),
    from: (F, u16),
    toa: &mut Option<(IpAddr, u16)>,
) -> Verdict<F> {
    use Verdict::Drop;
    let (method, rs_id) = (c.method(), c.rs());
    // TUN and DR keep no reply tuple: their real server by id, in the current
    // table (the caller encapsulates for TUN).
    if method == Method::Tunnel {
        return match <F as TunnelRoute>::tunnel_of(t, rs_id) {
            Some((rip, kind)) => hop_on(ip_buf, Verdict::Tunnel(rip, kind)),
            None => Drop(DropReason::NoRealServer),
        };
    }
    if method == Method::Route {
        return match dr::real_server(t, rs_id) {
            Some(rip) => hop_on(ip_buf, Verdict::Forward(rip)),
            None => Drop(DropReason::NoRealServer),
        };
    }
    let Some(rs) = F::src(c, Direction::Reply) else {
        return Drop(DropReason::NoService);
    };
    if !F::decrement_hops(ip_buf) {
        return Verdict::TimeExceeded;
    }
    let rewritten = match method {
        Method::Masq => nat::to_real_server(ip_buf, rs),
        Method::FullNat => {
            // The local address and port are the reply's destination.
            let Some(local) = F::dst(c, Direction::Reply) else {
                return Drop(DropReason::NoService);
            };
            if proto == proto::TCP
                && fullnat::toa_wanted(t, rs_id, tcp_flags, c.packets(Direction::Reply))
            {
                *toa = Some((from.0.into(), from.1));
            }
            fullnat::to_real_server(ip_buf, local, rs, c.seq_delta(), tcp_flags)
        }
        _ => Ok(()),
    };
    if rewritten.is_err() {
        return Drop(DropReason::L4Malformed);
    }
    Verdict::Forward(rs.0)
}

/// `verdict` for a packet that goes one hop further, its TTL / hop limit decremented; or
/// time exceeded when it would reach zero.
#[inline(always)]
fn hop_on<F: L4Family>(ip_buf: &mut [u8], verdict: Verdict<F>) -> Verdict<F> {
    if F::decrement_hops(ip_buf) {
        verdict
    } else {
        Verdict::TimeExceeded
    }
}

/// A real server's reply on established connection `c` (NAT or FULLNAT: DR and TUN
/// replies bypass the director), rewritten back to the client.
#[inline(always)]
fn reply_packet<F: L4Family>(c: &ConnRef<'_>, ip_buf: &mut [u8]) -> Verdict<F> {
    use Verdict::Drop;
    let method = c.method();
    let (Some(client), Some(vip)) = (
        F::src(c, Direction::Original),
        F::dst(c, Direction::Original),
    ) else {
        return Drop(DropReason::NoService);
    };
    // The reply is routed through the director: like Linux's forward path,
    // decrement the TTL / hop limit.
    if !F::decrement_hops(ip_buf) {
        return Drop(DropReason::TtlExceeded);
    }
    let rewritten = if method == Method::FullNat {
        fullnat::to_client(ip_buf, vip, client, c.seq_delta())
    } else {
        nat::to_client(ip_buf, vip)
    };
    if rewritten.is_err() {
        return Drop(DropReason::L4Malformed);
    }
    Verdict::Forward(client.0)
}

#[cfg(test)]
mod tests;
