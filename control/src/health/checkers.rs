//! The checkers: one task per (virtual service, real server) on the control thread's
//! runtime, started, kept and stopped in step with the configuration, each recording its
//! results in the shared state the control plane reads.

use std::collections::{HashMap, HashSet};
use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use config::{Config, HealthCheck, HealthCheckKind, ServiceKey, DEFAULT_EXEC_USER};
use parking_lot::Mutex;
use tokio::task::JoinHandle;
use tracing::{info, warn};

use super::check;
use super::exec_user::{run_as, RunAs};
use super::state::{now_unix, RsHealth, RsKey};
use super::target::Target;

/// What the checkers and the control plane share.
#[derive(Default)]
struct Shared {
    states: Mutex<HashMap<RsKey, RsHealth>>,
    /// Set on every transition; the control thread republishes the tables.
    dirty: AtomicBool,
}

/// One running checker and what it was started with.
struct Checker {
    check: HealthCheck,
    target: Target,
    task: Option<JoinHandle<()>>,
}

impl Drop for Checker {
    fn drop(&mut self) {
        if let Some(t) = &self.task {
            t.abort();
        }
    }
}

/// The health checkers of every checked real server.
#[derive(Default)]
pub struct Health {
    shared: Arc<Shared>,
    runtime: Option<tokio::runtime::Handle>,
    checkers: HashMap<RsKey, Checker>,
}

/// The virtual address and port an exec check is told about.
fn vip_of(key: &ServiceKey) -> (String, u16) {
    match key {
        ServiceKey::Addr(a) => (a.vip.to_string(), a.port),
        ServiceKey::Fwmark { mark, .. } => (format!("fwmark:{mark}"), 0),
    }
}

impl Health {
    /// Start running checkers on `runtime` (until then [`Health::sync`] only keeps state).
    pub fn start(&mut self, runtime: tokio::runtime::Handle, cfg: &Config) {
        self.runtime = Some(runtime);
        self.checkers.clear();
        self.sync(cfg);
        // The first tables were built before health existed: publish the effective ones
        // (a service whose servers all have weight 0 gets its sorry server now).
        self.shared.dirty.store(true, Ordering::Relaxed);
    }

    /// Make the checkers match `cfg`: start new ones, stop removed ones, restart those
    /// whose check changed. The state of servers that remain is kept.
    pub fn sync(&mut self, cfg: &Config) {
        let exec_as = self.exec_user(cfg);
        let mut wanted: HashMap<RsKey, (HealthCheck, Target)> = HashMap::new();
        for s in &cfg.services {
            let Some(hc) = &s.health_check else { continue };
            let svc = s.key.to_string();
            let (vip, vport) = vip_of(&s.key);
            for rs in &s.real_servers {
                let target = Target {
                    addr: SocketAddr::new(rs.address, hc.port.unwrap_or(rs.port)),
                    vip: vip.clone(),
                    vport,
                    rport: rs.port,
                    exec_as: matches!(hc.kind, HealthCheckKind::Exec { .. })
                        .then_some(exec_as)
                        .flatten(),
                };
                wanted.insert((svc.clone(), rs.socket_addr()), (hc.clone(), target));
            }
        }
        let before = self.checkers.len();
        self.checkers.retain(|k, c| {
            wanted
                .get(k)
                .is_some_and(|(hc, t)| *hc == c.check && *t == c.target && c.task.is_some())
        });
        {
            let mut states = self.shared.states.lock();
            let had = states.len();
            states.retain(|k, _| wanted.contains_key(k));
            if states.len() != had {
                // A removed server may have been the only one down (or up): recompute.
                self.shared.dirty.store(true, Ordering::Relaxed);
            }
            for k in wanted.keys() {
                states.entry(k.clone()).or_default();
            }
        }
        let mut started = 0;
        for (k, (hc, target)) in wanted {
            if self.checkers.contains_key(&k) {
                continue;
            }
            let task = self.runtime.as_ref().map(|rt| {
                started += 1;
                rt.spawn(run_checker(
                    self.shared.clone(),
                    k.clone(),
                    hc.clone(),
                    target.clone(),
                ))
            });
            self.checkers.insert(
                k,
                Checker {
                    check: hc,
                    target,
                    task,
                },
            );
        }
        if self.runtime.is_some() && (started > 0 || before != self.checkers.len()) {
            info!(
                checkers = self.checkers.len(),
                started, "health checkers in step with the configuration"
            );
        }
    }

    /// Who `cfg`'s exec checks run as; says so when that is rvsd's own user (root) and
    /// `cfg` has exec checks. (The control plane refused a `cfg` whose user is missing.)
    fn exec_user(&self, cfg: &Config) -> Option<RunAs> {
        let any_exec = cfg.services.iter().any(|s| {
            (s.health_check.as_ref())
                .is_some_and(|h| matches!(h.kind, HealthCheckKind::Exec { .. }))
        });
        match run_as(&cfg.health) {
            Ok(None) if any_exec && self.runtime.is_some() => {
                warn!("exec health checks run as rvsd's own user; create the user {DEFAULT_EXEC_USER} or set health.exec_user to run them unprivileged");
                None
            }
            Ok(who) => who,
            Err(e) => {
                warn!(error = %e, "exec health checks run as rvsd's own user");
                None
            }
        }
    }

    /// True once after any server went up or down (or servers were removed).
    pub fn take_dirty(&self) -> bool {
        self.shared.dirty.swap(false, Ordering::Relaxed)
    }

    /// The health of one real server (`None`: not checked, so always up).
    pub fn get(&self, service: &str, rs: SocketAddr) -> Option<RsHealth> {
        self.shared
            .states
            .lock()
            .get(&(service.to_string(), rs))
            .cloned()
    }

    /// The servers whose checks have them down.
    pub fn down(&self) -> HashSet<RsKey> {
        self.shared
            .states
            .lock()
            .iter()
            .filter(|(_, h)| !h.up)
            .map(|(k, _)| k.clone())
            .collect()
    }

    /// Set a server's state as if its checks had said so (tests of the overlay).
    #[doc(hidden)]
    pub fn force(&self, service: &str, rs: SocketAddr, up: bool) {
        let mut states = self.shared.states.lock();
        let h = states.entry((service.to_string(), rs)).or_default();
        if h.up != up {
            h.up = up;
            h.last_transition = Some(now_unix());
            self.shared.dirty.store(true, Ordering::Relaxed);
        }
    }
}

async fn run_checker(shared: Arc<Shared>, key: RsKey, hc: HealthCheck, target: Target) {
    let mut next = tokio::time::Instant::now();
    loop {
        let result = match tokio::time::timeout(hc.timeout, check::run(&hc.kind, &target)).await {
            Ok(r) => r,
            Err(_) => Err(format!("no answer within {:?}", hc.timeout)),
        };
        let flip = {
            let mut states = shared.states.lock();
            let Some(h) = states.get_mut(&key) else {
                // The server was removed while its check ran.
                return;
            };
            h.record(&result, hc.rise, hc.fall)
        };
        match flip {
            Some(true) => {
                info!(service = %key.0, real_server = %key.1, rise = hc.rise, "real server up: its health check passed")
            }
            Some(false) => warn!(
                service = %key.0,
                real_server = %key.1,
                fall = hc.fall,
                reason = result.as_ref().err().map(String::as_str).unwrap_or(""),
                quiescent = hc.quiescent,
                "real server down: its health check failed"
            ),
            None => {}
        }
        if flip.is_some() {
            shared.dirty.store(true, Ordering::Relaxed);
        }
        next += hc.interval;
        let now = tokio::time::Instant::now();
        if next < now {
            // A check that outlasted the interval: the next one starts now, not in a burst.
            next = now;
        }
        tokio::time::sleep_until(next).await;
    }
}

/// How long a checker may take to notice a change, for tests and documentation.
pub fn detection_bound(hc: &HealthCheck, up: bool) -> Duration {
    let n = if up { hc.rise } else { hc.fall };
    hc.interval * n + hc.timeout.min(hc.interval)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::health::overlay::tests::{cfg, key};

    #[test]
    fn sync_keeps_state_of_remaining_servers() {
        let mut h = Health::default();
        let c = cfg(true, "2");
        h.sync(&c);
        assert_eq!(
            h.get("tcp 198.19.0.100:80", "198.19.0.11:80".parse().unwrap()),
            Some(RsHealth::default())
        );
        h.force(
            "tcp 198.19.0.100:80",
            "198.19.0.11:80".parse().unwrap(),
            false,
        );
        assert!(h.take_dirty());
        assert!(!h.take_dirty());
        // A reload with the same servers and another check keeps the state.
        let mut c2 = c.clone();
        c2.services[0].health_check.as_mut().unwrap().rise = 5;
        h.sync(&c2);
        assert_eq!(h.down(), [key("198.19.0.11:80")].into());
        // Removing the down server forgets it (and asks for new tables).
        c2.services[0].real_servers.remove(0);
        h.sync(&c2);
        assert!(h.down().is_empty());
        assert!(h.take_dirty());
        // No check: no state.
        c2.services[0].health_check = None;
        h.sync(&c2);
        assert_eq!(
            h.get("tcp 198.19.0.100:80", "198.19.0.12:80".parse().unwrap()),
            None
        );
    }
    #[test]
    fn checkers_run_on_the_runtime_and_notice_a_server_stop() {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = l.local_addr().unwrap();
        let text = format!(
            "interfaces:\n  - {{ name: lan0, device: net_null0, addresses: [198.19.0.254/24] }}\nroutes:\n  - {{ prefix: 127.0.0.0/8, via: 198.19.0.1, interface: lan0 }}\nservices:\n  - proto: tcp\n    vip: 198.19.0.100\n    port: 80\n    method: masq\n    health_check: {{ type: tcp, interval: 50ms, timeout: 40ms, rise: 2, fall: 2 }}\n    real_servers:\n      - {{ address: 127.0.0.1, port: {} }}\n",
            addr.port()
        );
        let c = config::from_str(&text, "t.yaml").unwrap();
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        let mut h = Health::default();
        h.start(rt.handle().clone(), &c);
        let svc = "tcp 198.19.0.100:80";
        rt.block_on(async { tokio::time::sleep(Duration::from_millis(300)).await });
        let s = h.get(svc, addr).unwrap();
        assert!(s.up && s.checks_ok >= 3, "{s:?}");
        drop(l);
        let t0 = std::time::Instant::now();
        while h.get(svc, addr).unwrap().up {
            assert!(t0.elapsed() < Duration::from_secs(2), "not marked down");
            rt.block_on(async { tokio::time::sleep(Duration::from_millis(10)).await });
        }
        let s = h.get(svc, addr).unwrap();
        assert!(
            s.last_error.as_deref().unwrap().contains("refused"),
            "{s:?}"
        );
        assert!(
            t0.elapsed()
                <= detection_bound(c.services[0].health_check.as_ref().unwrap(), false)
                    + Duration::from_millis(100)
        );
        assert!(h.take_dirty());
        // Stopping: dropping the checkers aborts their tasks.
        drop(h);
        rt.block_on(async { tokio::time::sleep(Duration::from_millis(100)).await });
    }
}
