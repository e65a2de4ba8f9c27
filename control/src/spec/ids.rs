//! Stable real-server and virtual-service ids across reloads, and the recycling of a
//! deleted real server's id once nothing in the dataplane refers to it.
//!
//! A real server (of one service) keeps its id while it is configured, so connections,
//! persistence templates and counters follow it across reloads and health changes. When it
//! is deleted its id drains: the tables that drop it have generation `G`; once every
//! worker has finished a pass of its per-real-server counts that started on generation
//! `G` or later (no new connection or template can name the id any more) and reports no
//! connection or template for it (`refs`, which can then only fall), the id is free for
//! another real server. A server added again while its id drains gets the id back (its
//! connections count for it again, as IPVS takes a destination back from its trash); its
//! statistics, like those of a new server, start at zero (`take_fresh`).

use std::collections::BTreeSet;
use std::net::SocketAddr;
use std::sync::atomic::Ordering::Relaxed;
use std::sync::Arc;

use anyhow::{bail, Result};
use config::Config;
use dataplane::counters::WorkerStats;
use dataplane::pipeline::MAX_REAL_SERVERS;
use hashbrown::{HashMap, HashSet};

use crate::state::estimator::Estimator;

type RsKey = (String, SocketAddr);

/// Stable real-server ids: a real server keeps its id while it is configured (the
/// connection tables count connections by id); a deleted one's id is reused once no
/// connection, template or table refers to it (see the module documentation).
#[derive(Debug, Default, Clone)]
pub struct RealServerIds {
    ids: HashMap<RsKey, u32>,
    services: HashMap<String, u32>,
    /// Deleted servers whose id something may still refer to: key -> (id, the first
    /// table generation without it).
    draining: HashMap<RsKey, (u32, u64)>,
    /// Ids nothing refers to, reused smallest first (keeps the workers' arrays short).
    free: BTreeSet<u32>,
    /// One past the highest id handed out.
    next: u32,
    /// Ids given to a real server anew since the last `take_fresh`.
    fresh: Vec<u32>,
}

impl RealServerIds {
    /// The stable id of virtual service `svc` (persistence templates are keyed by it).
    pub fn service_id(&mut self, svc: &str) -> u32 {
        let next = self.services.len() as u32;
        *self.services.entry(svc.to_string()).or_insert(next)
    }

    /// The id of real server `rs` of service `svc`: its own, the one it had if it is
    /// added back while that drains, else a free one.
    pub fn id(&mut self, svc: &str, rs: SocketAddr) -> Result<u32> {
        let key = (svc.to_string(), rs);
        if let Some(&id) = self.ids.get(&key) {
            return Ok(id);
        }
        let id = match self.draining.remove(&key) {
            Some((id, _)) => id,
            None => match self.free.pop_first() {
                Some(id) => id,
                None if self.next < MAX_REAL_SERVERS => {
                    self.next += 1;
                    self.next - 1
                }
                None => bail!(
                    "more than {MAX_REAL_SERVERS} real servers configured or still referred to by connections; remove real servers or wait for their connections to end"
                ),
            },
        };
        self.ids.insert(key, id);
        self.fresh.push(id);
        Ok(id)
    }

    /// The id of a configured real server.
    pub fn get(&self, svc: &str, rs: SocketAddr) -> Option<u32> {
        self.ids.get(&(svc.to_string(), rs)).copied()
    }

    /// One past the highest id in use or draining: the workers' per-real-server arrays
    /// need this many entries.
    pub fn len(&self) -> u32 {
        self.next
    }

    /// Whether no id was ever handed out.
    pub fn is_empty(&self) -> bool {
        self.next == 0
    }

    /// Ids of configured real servers plus draining ones (what the workers' arrays hold).
    pub fn in_use(&self) -> usize {
        self.ids.len() + self.draining.len()
    }

    /// Ids that were given to a real server anew since the last call: their statistics
    /// must start at zero.
    pub fn take_fresh(&mut self) -> Vec<u32> {
        std::mem::take(&mut self.fresh)
    }

    /// Before tables with new ids are published: the workers' counters and the estimator
    /// have room for every id, and ids given to a real server anew start at zero.
    pub fn prepare(&mut self, workers: &[Arc<WorkerStats>], est: &mut Estimator) {
        let n = self.next as usize;
        for w in workers {
            w.real_servers.reserve(n);
        }
        est.reserve(n);
        est.zero(workers, self.take_fresh());
    }

    /// The real servers in none of `configs` (the configuration, and what runs: a sorry
    /// server in use) are deleted: their ids start draining; tables of `generation` and
    /// later no longer have them. A service that stays keeps what they counted; a deleted
    /// service's statistics are freed.
    pub fn retire_unconfigured(
        &mut self,
        configs: [&Config; 2],
        generation: u64,
        workers: &[Arc<WorkerStats>],
        est: &mut Estimator,
    ) {
        let mut keep: HashMap<String, HashSet<SocketAddr>> = HashMap::new();
        for s in configs.iter().flat_map(|c| &c.services) {
            let servers = s.real_servers.iter().map(|rs| rs.socket_addr());
            (keep.entry(s.key.to_string()).or_default()).extend(servers.chain(s.sorry_server));
        }
        for (svc, id) in self.retire(
            |svc, rs| keep.get(svc).is_some_and(|k| k.contains(&rs)),
            generation,
        ) {
            if keep.contains_key(&svc) {
                est.retire(workers, &svc, id);
            }
        }
        est.forget_services(|svc| keep.contains_key(svc));
    }

    /// The real servers `keep` refuses are deleted: their ids start draining; tables of
    /// `generation` and later no longer have them. Returns their services and ids.
    pub fn retire(
        &mut self,
        keep: impl Fn(&str, SocketAddr) -> bool,
        generation: u64,
    ) -> Vec<(String, u32)> {
        let gone: Vec<RsKey> = (self.ids.keys())
            .filter(|(svc, rs)| !keep(svc, *rs))
            .cloned()
            .collect();
        let mut out = Vec::with_capacity(gone.len());
        for key in gone {
            if let Some(id) = self.ids.remove(&key) {
                out.push((key.0.clone(), id));
                self.draining.insert(key, (id, generation));
            }
        }
        out
    }

    /// Free the draining ids nothing refers to any more, from the workers' counters
    /// (see the module documentation). Returns how many were freed.
    pub fn recycle(&mut self, workers: &[Arc<WorkerStats>]) -> usize {
        let done: Vec<RsKey> = (self.draining.iter())
            .filter(|(_, &(id, generation))| unreferenced(workers, id, generation))
            .map(|(k, _)| k.clone())
            .collect();
        for key in &done {
            if let Some((id, _)) = self.draining.remove(key) {
                self.free.insert(id);
            }
        }
        done.len()
    }
}

/// Whether no worker can refer to `id` any more: each has published its counts from a
/// pass that started on table `generation` or later (the tables without the id), and none
/// has a connection or template with it.
fn unreferenced(workers: &[Arc<WorkerStats>], id: u32, generation: u64) -> bool {
    workers.iter().all(|w| {
        // Acquire: the refs read below are from that pass or a later one.
        w.counts_generation() >= generation
            && (w.real_servers.get(id as usize)).is_some_and(|c| c.refs.load(Relaxed) == 0)
    })
}

#[cfg(test)]
#[path = "ids/tests.rs"]
mod tests;
