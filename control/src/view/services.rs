//! The virtual services as ipvsadm lists them (`ipvsadm -Ln --stats --rate`): the
//! running table with each real server's connection counts, statistics and rates.

use std::collections::HashMap;
use std::sync::atomic::Ordering::Relaxed;

use config::convert;
use config::ipvsadm::{DestView, ServiceView};

use crate::plane::ControlPlane;
use crate::state::RuntimeView;

/// The services as ipvsadm lists them, with each real server's connection counts summed
/// over the workers.
pub fn services(runtime: &RuntimeView, plane: &ControlPlane) -> Vec<ServiceView> {
    let ids = plane.real_server_ids();
    let workers = &runtime.workers;
    let est = runtime.estimator.lock();
    let count = |id: Option<u32>, f: fn(&dataplane::counters::RealServerCounts) -> u32| -> u32 {
        id.map(|id| {
            workers
                .iter()
                .filter_map(|w| w.real_servers.get(id as usize))
                .map(f)
                .sum()
        })
        .unwrap_or(0)
    };
    // The configured services, for the servers a health check took out of what runs.
    let configured: HashMap<String, &config::VirtualService> = (plane.config().services.iter())
        .map(|s| (s.key.to_string(), s))
        .collect();
    // What runs, as ipvsadm -Ln shows the kernel's table: health-checked servers that are
    // down at weight 0 (or absent), a sorry server in use.
    plane
        .effective_config()
        .services
        .iter()
        .map(|vs| {
            let svc = vs.key.to_string();
            let dests = vs
                .real_servers
                .iter()
                .map(|rs| {
                    let id = ids.get(&svc, rs.socket_addr());
                    let mut d = DestView::new(convert::dest_config(rs));
                    d.active_conns = count(id, |c| c.active.load(Relaxed));
                    d.inactive_conns = count(id, |c| c.inactive.load(Relaxed));
                    d.persistent_conns = count(id, |c| c.persistent.load(Relaxed));
                    if let Some(id) = id {
                        d.stats = est.stats(workers, id);
                        d.rates = est.rates(id);
                    }
                    d
                })
                .collect::<Vec<DestView>>();
            let mut v = ServiceView::new(convert::service_config(vs), dests);
            // A service's numbers are the sum of its real servers', those a health check
            // took out and those deleted while it existed (so they never go back, as
            // IPVS's own service statistics).
            let listed = |a| vs.real_servers.iter().any(|r| r.socket_addr() == a);
            let hidden = (configured.get(&svc).into_iter())
                .flat_map(|c| &c.real_servers)
                .filter(|r| !listed(r.socket_addr()))
                .filter_map(|r| ids.get(&svc, r.socket_addr()))
                .map(|id| est.stats(workers, id));
            for s in hidden.chain([est.retired(&svc)]) {
                v.stats.conns += s.conns;
                v.stats.inpkts += s.inpkts;
                v.stats.outpkts += s.outpkts;
                v.stats.inbytes += s.inbytes;
                v.stats.outbytes += s.outbytes;
            }
            for d in &v.real_servers {
                v.stats.conns += d.stats.conns;
                v.stats.inpkts += d.stats.inpkts;
                v.stats.outpkts += d.stats.outpkts;
                v.stats.inbytes += d.stats.inbytes;
                v.stats.outbytes += d.stats.outbytes;
                v.rates.cps += d.rates.cps;
                v.rates.inpps += d.rates.inpps;
                v.rates.outpps += d.rates.outpps;
                v.rates.inbps += d.rates.inbps;
                v.rates.outbps += d.rates.outbps;
            }
            v
        })
        .collect()
}
