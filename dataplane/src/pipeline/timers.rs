//! Work outside the packet path: adopting a new table generation (`sync`, every loop),
//! the announcements at start (gratuitous ARP, unsolicited NA), and the periodic tick
//! (neighbour probes, connection expiry, per-real-server counts).

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use super::state::*;
use crate::counters::set;
use crate::family::Family;
use crate::frame::{Frame, Io};
use crate::tables::Tables;

impl<P: Frame> Pipeline<P> {
    /// Adopt table `t` if it is a new generation (existing connections keep their real
    /// server; per-service scheduler state continues where the table follows the one this
    /// worker ran, else restarts). Call once per loop iteration.
    #[inline]
    pub fn sync(&mut self, t: &Tables) {
        if t.services.generation() != self.generation {
            let seed = self.cfg.worker as u64;
            let old = std::mem::take(&mut self.sched);
            let services = t.services.services();
            self.sched.reserve(services.len());
            for (sid, s) in services.iter().enumerate() {
                let carried = t
                    .services
                    .predecessor(self.generation, sid as crate::service::ServiceId)
                    .and_then(|(prev_sid, prev)| {
                        let st = old.get(prev_sid as usize)?;
                        Some(s.scheduler.carry_state(seed, prev, st))
                    });
                self.sched
                    .push(carried.unwrap_or_else(|| s.scheduler.new_state(seed)));
            }
            self.generation = t.services.generation();
            self.overload.adopt(t.services.overload(), &self.conns);
            // The connection table counts per real-server id: room for every id in use
            // (the control thread reserved this worker's counters before publishing).
            let ids = services.iter().flat_map(|s| &s.real_servers).map(|r| r.id);
            let n = ids.max().map_or(0, |m| m.saturating_add(1));
            self.conns.reserve_real_servers(n);
            self.rs_ids = self.rs_ids.max(n as usize);
            self.conns
                .set_ipvsadm_timeouts(t.timeouts.tcp, t.timeouts.tcp_fin, t.timeouts.udp);
            self.snat.sync(&t.snat);
        }
    }

    /// Work done once when the worker starts: gratuitous ARP for every VIP, on the ports
    /// whose connected subnet holds it (all ports when none does). Only worker 0 sends.
    pub fn start(&mut self, t: &Tables, io: &mut impl Io<P>, _now_ms: u64) {
        if !self.cfg.gratuitous_arp || self.cfg.worker != 0 {
            return;
        }
        let mut vips: Vec<Ipv4Addr> = t.services.vips().collect();
        vips.sort();
        for vip in vips {
            let on_subnet: Vec<usize> = (0..self.cfg.port_macs.len())
                .filter(|&p| {
                    t.routes
                        .lookup(vip)
                        .map(|h| h.port == p && h.gateway == vip)
                        .unwrap_or(false)
                })
                .collect();
            let ports: Vec<usize> = if on_subnet.is_empty() {
                (0..self.cfg.port_macs.len()).collect()
            } else {
                on_subnet
            };
            for port in ports {
                self.send_arp(io, port, 1, vip, [0; 6], vip, BROADCAST);
            }
        }
        // FULLNAT local addresses, on the port facing the real servers.
        for lip in t.snat.pools().iter().flat_map(|p| p.addrs.iter().copied()) {
            let IpAddr::V4(lip) = lip else { continue };
            if let Some(port) =
                (0..self.cfg.port_macs.len()).find(|&p| crate::xmit::fullnat::lip_on(t, p, lip))
            {
                self.send_arp(io, port, 1, lip, [0; 6], lip, BROADCAST);
            }
        }
        self.start6(t, io);
    }

    /// Unsolicited neighbour advertisements for the IPv6 VIPs (the IPv6 gratuitous ARP),
    /// on the ports whose connected subnet holds each (all ports when none does), and for
    /// the IPv6 FULLNAT local addresses on the port facing the real servers.
    fn start6(&mut self, t: &Tables, io: &mut impl Io<P>) {
        let lips = t.snat.pools().iter().flat_map(|p| p.addrs.iter().copied());
        for lip in lips.filter_map(<Ipv6Addr as Family>::of) {
            let Some(port) =
                (0..self.cfg.port_macs.len()).find(|&p| crate::xmit::fullnat::lip_on6(t, p, lip))
            else {
                continue;
            };
            self.send_unsolicited_na(io, port, lip);
        }
        let mut vips: Vec<Ipv6Addr> = t.services.vips6().collect();
        vips.sort();
        for vip in vips {
            let on_subnet = t
                .routes6
                .lookup(vip)
                .filter(|h| h.gateway == vip)
                .map(|h| h.port);
            for port in 0..self.cfg.port_macs.len() {
                if on_subnet.is_some_and(|p| p != port) {
                    continue;
                }
                self.send_unsolicited_na(io, port, vip);
            }
        }
    }

    /// Periodic work: neighbour probes and connection expiry, both bounded.
    pub fn tick(&mut self, t: &Tables, now_ms: u64, io: &mut impl Io<P>) {
        self.probe_neighbours::<Ipv4Addr>(t, now_ms, io);
        self.probe_neighbours::<Ipv6Addr>(t, now_ms, io);
        // expire() returns the work done; the table counts what actually expired.
        let snat = &mut self.snat;
        self.conns
            .expire_with(now_ms, EXPIRE_BUDGET, |method, reply| {
                if let Some((lip, lport)) = crate::xmit::fullnat::local_of(method, reply) {
                    snat.release(lip, lport);
                }
            });
        self.expire_fragments(now_ms);
        set(&self.cfg.stats.snat_ports_in_use, self.snat.in_use());
        set(&self.cfg.stats.conns_expired, self.conns.stats().expired);
        set(&self.cfg.stats.conns_current, self.conns.len() as u64);
        self.publish_counts(t, now_ms);
    }

    /// Copy this worker's per-real-server connection counts to its counters: a pass every
    /// [`COUNTS_EVERY_MS`], at most [`COUNTS_PER_TICK`] ids per tick. A finished pass
    /// stamps the generation it started on, so the control thread knows the `refs` it
    /// reads are from this generation or later (see `WorkerStats::counts_generation`).
    fn publish_counts(&mut self, t: &Tables, now_ms: u64) {
        use std::sync::atomic::Ordering::{Relaxed, Release};
        if self.counts_cursor == 0 {
            if now_ms < self.counts_ms + COUNTS_EVERY_MS {
                return;
            }
            self.counts_ms = now_ms;
            // Expiries reach the shared threshold totals (and may clear overload flags).
            self.overload.sync_all(t.services.overload(), &self.conns);
            self.counts_pass_generation = self.generation;
        }
        let all = self.conns.all_rs_counts();
        let all = &all[..self.rs_ids.min(all.len())];
        let end = all.len().min(self.counts_cursor + COUNTS_PER_TICK);
        let mut id = self.counts_cursor;
        while id < end {
            let Some(cells) = self.cfg.stats.real_servers.segment_from(id) else {
                break;
            };
            let n = cells.len().min(end - id);
            for (cell, c) in cells.iter().zip(&all[id..id + n]) {
                cell.active.store(c.active, Relaxed);
                cell.inactive.store(c.inactive, Relaxed);
                cell.persistent.store(c.persistent, Relaxed);
                let refs = c
                    .active
                    .saturating_add(c.inactive)
                    .saturating_add(c.persistent);
                cell.refs.store(refs, Relaxed);
            }
            id += n;
        }
        if id < end {
            // No counters for the ids beyond: nothing to publish there.
            id = all.len();
        }
        if id < all.len() {
            self.counts_cursor = id;
            return;
        }
        self.counts_cursor = 0;
        // u64::MAX: no table adopted yet when the pass started.
        if self.counts_pass_generation != u64::MAX {
            self.cfg
                .stats
                .counts_generation
                .store(self.counts_pass_generation, Release);
        }
    }
}
