//! A new connection: the scheduler (with persistence templates) picks the real server,
//! the connection is inserted and its first packet rewritten by its method.

use std::net::IpAddr;

use conn_table::{
    ConnId, ConnTable, Direction, Method, NewConn, TcpFlags, TemplateId, TemplateKey, Tuple,
};
use scheduler::{DestLoad, DestLoads, FlowKey};

use super::conn_prefetch::PREFETCH_MIN_CONNS;
use super::lookup::L4Family;
use super::state::Pipeline;
use super::verdict::Verdict;
use crate::counters::{bump, DropReason};
use crate::frame::Frame;
use crate::overload::Slot;
use crate::service::{proto, Forward, RealServer, ServiceId};
use crate::tables::Tables;
use crate::wire;
use crate::xmit::{fullnat, nat};

/// The first packet of a would-be connection, as the connection step parsed it.
pub(super) struct NewPacket<F> {
    /// `proto::TCP` or `proto::UDP`.
    pub proto: u8,
    /// Client address and port.
    pub src: (F, u16),
    /// Virtual service address and port.
    pub dst: (F, u16),
    /// TCP flags (None for UDP).
    pub flags: Option<wire::TcpFlags>,
    /// The IP packet's length.
    pub bytes: u32,
}

/// A virtual service's real servers with this worker's connection counts, as the
/// scheduler reads them. IPVS counts connections globally; here each worker counts its
/// own (flows are spread over workers by client address, so the shares are alike). The
/// overload flag (thresholds) is the shared one, over all workers (`crate::overload`).
struct Loads<'a> {
    conns: &'a ConnTable,
    servers: &'a [RealServer],
    overload: Option<&'a [Slot]>,
}

impl DestLoads for Loads<'_> {
    #[inline]
    fn load(&self, index: usize) -> DestLoad {
        let Some(rs) = self.servers.get(index) else {
            return DestLoad::MISSING;
        };
        let c = self.conns.rs_counts(rs.id);
        DestLoad {
            active: c.active,
            inactive: c.inactive,
            overloaded: self
                .overload
                .is_some_and(|s| s.get(index).is_some_and(Slot::overloaded)),
            available: true,
        }
    }
}

impl<P: Frame> Pipeline<P> {
    /// A TCP or UDP packet of either family that no connection claims: scheduled to a
    /// real server of its virtual service, which gets a new connection, or for the
    /// director itself (the kernel's), or dropped.
    #[inline(always)]
    pub(super) fn new_connection<F: L4Family>(
        &mut self,
        t: &Tables,
        ip_buf: &mut [u8],
        new: NewPacket<F>,
        now_ms: u64,
    ) -> Verdict<F> {
        use Verdict::Drop;
        let NewPacket {
            proto,
            src: (src, sport),
            dst: (dst, dport),
            flags,
            bytes,
        } = new;
        let Some(sid) = F::find_service(t, proto, dst, dport) else {
            // Traffic for the director itself (no connection, no service): the kernel's,
            // through the port's TAP (counted as for_director without one).
            if F::is_local(t, dst) {
                return Verdict::ToKernel;
            }
            return Drop(DropReason::NoService);
        };
        // IPVS creates TCP connections on a SYN only; anything else is a stray, which
        // the director's TCP stack would answer with a RST (`reset`).
        if let Some(f) = flags {
            if !f.syn() || f.ack() || f.rst() {
                return self.reset_unknown(t, ip_buf, (src, sport), (dst, dport), now_ms);
            }
        }
        // The TTL / hop limit towards the real server, as on an established connection
        // (`l4::client_packet`), checked before scheduling: a packet that dies here makes
        // no connection (IPVS makes one and lets it expire unanswered).
        if !F::decrement_hops(ip_buf) {
            return Verdict::TimeExceeded;
        }
        let tcp_flags = TcpFlags(flags.map(|f| f.bits()).unwrap_or(0));
        let tuple = Tuple::new(proto, src.into(), sport, dst.into(), dport);
        let flow = FlowKey {
            protocol: proto,
            src_addr: src.into(),
            src_port: sport,
            dst_addr: dst.into(),
            dst_port: dport,
        };
        let (rs_index, template) = match self.schedule(t, sid, &flow, now_ms) {
            Ok(picked) => picked,
            Err(why) => return Drop(why),
        };
        let rs = &t.services.get(sid).real_servers[rs_index];
        // config keeps a service's real servers in its family (NAT and DR).
        let Some(rip) = F::of(rs.addr) else {
            return Drop(DropReason::NoRealServer);
        };
        if let Err(why) = self.start_connection(
            t, sid, rs, template, tuple, ip_buf, tcp_flags, bytes, now_ms,
        ) {
            return Drop(why);
        }
        // The bind: the real server's shared total and overload flag (thresholds only).
        let overload = t.services.overload();
        if let Some(base) = overload.base(sid as usize) {
            self.overload
                .sync_one(overload, base + rs_index, &self.conns);
        }
        if let Forward::Tunnel(kind) = rs.forward {
            return Verdict::Tunnel(rip, kind);
        }
        Verdict::Forward(rip)
    }

    /// Pick the real server of service `sid` for a new flow of either family.
    ///
    /// Persistence (ip_vs_sched_persist): a live template for the client (masked) and
    /// service sends the flow to the same real server, even a quiescent one (unless
    /// `expire_quiescent_template`); a template whose server left the service is dropped;
    /// else the scheduler picks and the choice is remembered in a new template. Returns
    /// the index into the service's real servers and the template.
    pub(super) fn schedule(
        &mut self,
        t: &Tables,
        sid: ServiceId,
        flow: &FlowKey,
        now_ms: u64,
    ) -> Result<(usize, Option<TemplateId>), DropReason> {
        let svc = t.services.get(sid);
        let Some(state) = self.sched.get_mut(sid as usize) else {
            return Err(DropReason::NoRealServer);
        };
        let persist = svc.persistence.map(|p| {
            let key = TemplateKey {
                svc: svc.id,
                client: conn_table::mask_client(flow.src_addr, p.prefix_len),
                vport: svc.port,
            };
            (key, p.timeout_s)
        });
        if let Some((key, _)) = &persist {
            let known = self.conns.template_get(key, now_ms);
            if let Some((tid, rs)) = known {
                let usable = svc
                    .real_servers
                    .iter()
                    .position(|r| r.id == rs)
                    .filter(|&i| {
                        !(t.ipvs.expire_quiescent_template && svc.real_servers[i].weight == 0)
                    });
                match usable {
                    Some(i) => return Ok((i, Some(tid))),
                    None => {
                        self.conns.template_invalidate(tid);
                    }
                }
            }
        }
        let loads = Loads {
            conns: &self.conns,
            servers: &svc.real_servers,
            overload: t.services.overload().service(sid as usize),
        };
        let Some(i) = svc.scheduler.pick(state, &loads, flow, now_ms) else {
            return Err(DropReason::NoRealServer);
        };
        let template = match &persist {
            Some((key, timeout_s)) => self
                .conns
                .template_create(key, svc.real_servers[i].id, *timeout_s, now_ms)
                .ok(),
            None => None,
        };
        Ok((i, template))
    }

    /// A new connection for `tuple` (its first packet in `ip`) to real server `rs` of
    /// service `sid`, as picked by the scheduler: take a FULLNAT local address and port
    /// from this worker's share of the service's pool, rewrite the packet towards the real
    /// server (NAT, FULLNAT; DR and TUN leave it), insert the connection and account its
    /// first packet (state change, counters). The drop reason otherwise; a packet the
    /// rewrite refuses is dropped after its connection is made, as before. The
    /// new-connection step of the IPv4 and IPv6 paths, always inlined (as a call its
    /// insert-and-account part alone cost the SYN path 25 instructions).
    #[inline(always)]
    #[allow(clippy::too_many_arguments)]
    fn start_connection(
        &mut self,
        t: &Tables,
        sid: ServiceId,
        rs: &RealServer,
        template: Option<TemplateId>,
        tuple: Tuple,
        ip: &mut [u8],
        tcp_flags: TcpFlags,
        bytes: u32,
        now_ms: u64,
    ) -> Result<(), DropReason> {
        let rport = if rs.port == 0 { tuple.dport } else { rs.port };
        let method = rs.forward.method();
        let (reply_dst, reply_dport) = self.reply_destination(t, sid, method, &tuple)?;
        // DR and tunnel connections keep no reply tuple: their replies never come back
        // through the director, and RIP:port -> client:port is the same for one client
        // port towards several VIPs of one real server; the RS (and its encapsulation)
        // come from the table by id.
        let reply = (!method.replies_bypass_director())
            .then(|| Tuple::new(tuple.proto, rs.addr, rport, reply_dst, reply_dport));
        // The reply's index bucket is a likely cache miss at millions of connections:
        // start it now and rewrite the packet before inserting, so the two overlap.
        if self.conns.len() >= PREFETCH_MIN_CONNS {
            self.conns.prefetch_insert(reply.as_ref());
        }
        let rewritten = match method {
            Method::Masq => nat::first_to_real_server(ip, (rs.addr, rport)),
            Method::FullNat => fullnat::rewrite_first_to_real_server(
                ip,
                (reply_dst, reply_dport),
                (rs.addr, rport),
                tuple.proto == proto::TCP && t.snat.toa_for(rs.id),
            ),
            _ => Ok(()),
        };
        let new = NewConn {
            original: tuple,
            reply,
            rs: rs.id,
            svc: sid,
            method,
            template,
        };
        let Ok(id) = self.conns.insert(&new, now_ms) else {
            if method == Method::FullNat {
                self.snat.release(reply_dst, reply_dport);
            }
            return Err(DropReason::ConnTableFull);
        };
        // FULLNAT TCP: the real server gets the director's own sequence numbers for
        // the local port (see `tcp_seq`).
        if method == Method::FullNat && tuple.proto == proto::TCP {
            let local = (reply_dst, reply_dport);
            let ticks = self.isn_clock.ticks(now_ms);
            if let Some(delta) =
                fullnat::first_isn(ip, &self.isn_key, local, (rs.addr, rport), ticks)
            {
                self.conns.set_seq_delta(id, delta);
            }
        }
        self.account_first_packet(id, rs.id, tcp_flags, bytes, now_ms);
        rewritten.map_err(|_| DropReason::L4Malformed)
    }

    /// Where the real server's replies of a new connection for `tuple` go: the client
    /// itself, or for FULLNAT a local address and port of this worker's share of the
    /// service's SNAT pool (which the client is replaced by).
    #[inline(always)]
    fn reply_destination(
        &mut self,
        t: &Tables,
        sid: ServiceId,
        method: Method,
        tuple: &Tuple,
    ) -> Result<(IpAddr, u16), DropReason> {
        if method != Method::FullNat {
            return Ok((tuple.src, tuple.sport));
        }
        let pool = t.services.get(sid).snat_pool;
        match pool.and_then(|id| self.snat.take(&t.snat, id)) {
            Some(local) if local.0.is_ipv4() == tuple.src.is_ipv4() => Ok(local),
            Some((lip, lport)) => {
                // A pool of the other family (NAT64): spec refuses it; never mix.
                self.snat.release(lip, lport);
                Err(DropReason::NoRealServer)
            }
            None => Err(DropReason::SnatExhausted),
        }
    }

    /// The packet that created connection `id` to real server `rs_id` drives its first
    /// state change and is counted.
    #[inline(always)]
    fn account_first_packet(
        &mut self,
        id: ConnId,
        rs_id: u32,
        tcp_flags: TcpFlags,
        bytes: u32,
        now_ms: u64,
    ) {
        self.conns
            .on_packet(id, Direction::Original, tcp_flags, bytes, now_ms);
        bump(&self.cfg.stats.conns_created, 1);
        if let Some(c) = self.cfg.stats.real_servers.get(rs_id as usize) {
            bump(&c.conns, 1);
            c.packet(true, u64::from(bytes));
        }
    }
}

#[cfg(test)]
mod tests;
