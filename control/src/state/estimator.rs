//! Per-real-server traffic statistics and IPVS's rate estimator.
//!
//! Workers count connections, packets and bytes per real-server id; the control thread
//! sums them and, every 2 seconds, updates rates the way the kernel's `ip_vs_est.c` does:
//! an exponentially weighted moving average with weight 1/4, in fixed point (connections
//! and packets scaled by 2^10 per second, bytes by 2^5), read back rounded up.
//! `-Z` (zero) keeps a baseline per id and resets the rates, as `ip_vs_zero_stats` does;
//! an id given to a real server anew (a new server, or a deleted one's recycled id) is
//! zeroed the same way, so its statistics start at zero.

use std::collections::HashMap;
use std::sync::atomic::Ordering::Relaxed;
use std::sync::Arc;

use config::ipvsadm::{Rates, Stats};
use dataplane::counters::WorkerStats;

/// Seconds between estimator runs (IPVS: 2 s).
pub const INTERVAL_S: u64 = 2;

#[derive(Clone, Copy, Default, Debug, PartialEq, Eq)]
struct Totals {
    conns: u64,
    inpkts: u64,
    outpkts: u64,
    inbytes: u64,
    outbytes: u64,
}

impl Totals {
    fn plus(self, b: Totals) -> Totals {
        Totals {
            conns: self.conns + b.conns,
            inpkts: self.inpkts + b.inpkts,
            outpkts: self.outpkts + b.outpkts,
            inbytes: self.inbytes + b.inbytes,
            outbytes: self.outbytes + b.outbytes,
        }
    }

    fn stats(self) -> Stats {
        Stats {
            conns: self.conns,
            inpkts: self.inpkts,
            outpkts: self.outpkts,
            inbytes: self.inbytes,
            outbytes: self.outbytes,
        }
    }

    fn minus(self, b: Totals) -> Totals {
        Totals {
            conns: self.conns.saturating_sub(b.conns),
            inpkts: self.inpkts.saturating_sub(b.inpkts),
            outpkts: self.outpkts.saturating_sub(b.outpkts),
            inbytes: self.inbytes.saturating_sub(b.inbytes),
            outbytes: self.outbytes.saturating_sub(b.outbytes),
        }
    }
}

/// Fixed-point averages, as `struct ip_vs_estimator`.
#[derive(Clone, Copy, Default, Debug)]
struct Avg {
    cps: i64,
    inpps: i64,
    outpps: i64,
    inbps: i64,
    outbps: i64,
}

/// Statistics and rates for every real-server id (grown as ids are handed out).
#[derive(Default)]
pub struct Estimator {
    last: Vec<Totals>,
    avg: Vec<Avg>,
    baseline: Vec<Totals>,
    /// Per service (by key): what its deleted real servers counted while they were in it.
    /// A service's counters are its servers' plus these, so they never go back while the
    /// service exists (IPVS keeps a service's own statistics); freed with the service.
    retired: HashMap<String, Totals>,
}

fn totals(workers: &[Arc<WorkerStats>], id: usize) -> Totals {
    let mut t = Totals::default();
    for w in workers {
        if let Some(c) = w.real_servers.get(id) {
            t.conns += c.conns.load(Relaxed);
            t.inpkts += c.inpkts.load(Relaxed);
            t.outpkts += c.outpkts.load(Relaxed);
            t.inbytes += c.inbytes.load(Relaxed);
            t.outbytes += c.outbytes.load(Relaxed);
        }
    }
    t
}

/// One EWMA step with weight 1/4: `avg += (rate - avg) >> 2`.
fn ewma(avg: &mut i64, rate: i64) {
    *avg += (rate - *avg) >> 2;
}

impl Estimator {
    /// Room for ids `0..n`.
    pub fn reserve(&mut self, n: usize) {
        if n > self.last.len() {
            self.last.resize(n, Totals::default());
            self.avg.resize(n, Avg::default());
            self.baseline.resize(n, Totals::default());
        }
    }

    /// The 2-second estimator step over the workers' counters.
    pub fn tick(&mut self, workers: &[Arc<WorkerStats>]) {
        for id in 0..self.last.len() {
            let cur = totals(workers, id);
            let d = cur.minus(self.last[id]);
            self.last[id] = cur;
            let a = &mut self.avg[id];
            // Per 2 s interval: << 9 for counts (= per second << 10), << 4 for bytes (<< 5).
            ewma(&mut a.cps, (d.conns << 9) as i64);
            ewma(&mut a.inpps, (d.inpkts << 9) as i64);
            ewma(&mut a.outpps, (d.outpkts << 9) as i64);
            ewma(&mut a.inbps, (d.inbytes << 4) as i64);
            ewma(&mut a.outbps, (d.outbytes << 4) as i64);
        }
    }

    /// Counters of real server `id` since the last zero.
    pub fn stats(&self, workers: &[Arc<WorkerStats>], id: u32) -> Stats {
        let id = id as usize;
        let Some(&baseline) = self.baseline.get(id) else {
            return Stats::default();
        };
        totals(workers, id).minus(baseline).stats()
    }

    /// Real server `id` leaves service `svc`, which stays: the service keeps what it
    /// counted.
    pub fn retire(&mut self, workers: &[Arc<WorkerStats>], svc: &str, id: u32) {
        let Some(&baseline) = self.baseline.get(id as usize) else {
            return;
        };
        let t = totals(workers, id as usize).minus(baseline);
        let r = self.retired.entry(svc.to_string()).or_default();
        *r = r.plus(t);
    }

    /// What the deleted real servers of service `svc` counted (since its last zero).
    pub fn retired(&self, svc: &str) -> Stats {
        self.retired.get(svc).copied().unwrap_or_default().stats()
    }

    /// Free the retired statistics of the services `keep` refuses (deleted services).
    pub fn forget_services(&mut self, keep: impl Fn(&str) -> bool) {
        self.retired.retain(|svc, _| keep(svc));
    }

    /// `-Z` of services: their deleted real servers' statistics go too.
    pub fn zero_services<'a>(&mut self, svcs: impl IntoIterator<Item = &'a str>) {
        for svc in svcs {
            self.retired.remove(svc);
        }
    }

    /// Rates of real server `id` (per second), read as `ip_vs_read_estimator` does.
    pub fn rates(&self, id: u32) -> Rates {
        let Some(a) = self.avg.get(id as usize) else {
            return Rates::default();
        };
        let read = |v: i64, shift: u32| ((v.max(0) as u64) + (1 << (shift - 1)) - 1) >> shift;
        Rates {
            cps: read(a.cps, 10),
            inpps: read(a.inpps, 10),
            outpps: read(a.outpps, 10),
            inbps: read(a.inbps, 5),
            outbps: read(a.outbps, 5),
        }
    }

    /// `-Z`, or an id given to a real server anew: counters restart from zero and rates
    /// are reset for these ids.
    pub fn zero(&mut self, workers: &[Arc<WorkerStats>], ids: impl IntoIterator<Item = u32>) {
        for id in ids {
            let id = id as usize;
            self.reserve(id + 1);
            let now = totals(workers, id);
            self.baseline[id] = now;
            // The next rate step starts from here, not from the previous owner's traffic.
            self.last[id] = now;
            self.avg[id] = Avg::default();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use dataplane::counters::bump;

    #[test]
    fn rates_converge_like_the_kernel_estimator_and_zero_resets() {
        let w = Arc::new(WorkerStats::default());
        let workers = vec![w.clone()];
        let mut e = Estimator::default();
        e.reserve(4);
        e.tick(&workers);
        // 100 connections and 1000 packets of 100 bytes every 2 s: 50 cps, 500 pps, 50000 Bps.
        for _ in 0..80 {
            bump(&w.real_servers.get(3).unwrap().conns, 100);
            bump(&w.real_servers.get(3).unwrap().inpkts, 1000);
            bump(&w.real_servers.get(3).unwrap().inbytes, 100_000);
            e.tick(&workers);
        }
        let r = e.rates(3);
        assert_eq!((r.cps, r.inpps, r.inbps, r.outpps), (50, 500, 50_000, 0));
        // After one interval of silence the average drops by a quarter.
        e.tick(&workers);
        assert_eq!(
            e.rates(3).cps,
            37,
            "three quarters of 50, rounded as the kernel reads it"
        );
        assert_eq!(e.stats(&workers, 3).conns, 8000);
        e.zero(&workers, [3]);
        assert_eq!(e.stats(&workers, 3), Stats::default());
        assert_eq!(e.rates(3), Rates::default());
        bump(&w.real_servers.get(3).unwrap().conns, 1);
        assert_eq!(e.stats(&workers, 3).conns, 1);
    }
}
