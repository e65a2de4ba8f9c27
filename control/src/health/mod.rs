//! Health checks of real servers and the sorry server, with ldirectord/keepalived
//! semantics.
//!
//! - One checker per (virtual service, real server), running the service's check (as in
//!   keepalived, one check configuration applies to each of the service's servers) as a
//!   task on the control thread's tokio runtime. Checks are I/O waits on kernel sockets or
//!   child processes, so a current-thread runtime runs hundreds of them without a thread
//!   each, and the admin API stays responsive beside them.
//! - A check starts right away and then every `interval` from the start of the previous
//!   one; a check never overlaps the next (a slow one delays it), and each is bounded by
//!   `timeout` (the socket is closed or the program killed).
//! - Rise/fall: a server goes down after `fall` consecutive failures and up after `rise`
//!   consecutive successes. A server starts **up** (keepalived's default without `alpha`,
//!   ldirectord's too): starting rvsd or reloading never takes traffic away from servers
//!   that have not failed yet. A reload keeps the state of servers that remain.
//! - What the dataplane sees is the configuration overlaid with the health state
//!   ([`effective`]): a down server gets weight 0 when the check is `quiescent` (existing
//!   connections go on) or leaves the service otherwise; the sorry server becomes the only
//!   destination while no server has a weight above 0 and leaves as soon as one has.
//!   The configuration itself (GET /v1/config, /v1/rules) is unchanged.
//! - Every transition is logged once, with the service, the server and the reason.

pub mod check;
mod tls;
pub mod view;

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use config::{Config, HealthCheck, RealServer, ServiceKey};
use parking_lot::Mutex;
use serde::Serialize;
use tokio::task::JoinHandle;
use tracing::{info, warn};

use check::Target;

/// A real server of a virtual service: the service (`tcp 198.18.0.100:80`) and the RS.
pub type RsKey = (String, SocketAddr);

/// The health of one real server.
#[derive(Clone, Debug, Serialize, PartialEq)]
pub struct RsHealth {
    /// Whether the server takes new connections as far as its checks go.
    pub up: bool,
    /// Consecutive successful checks (0 after a failure).
    pub consecutive_ok: u32,
    /// Consecutive failed checks (0 after a success).
    pub consecutive_fail: u32,
    /// Successful checks since the checker started.
    pub checks_ok: u64,
    /// Failed checks since the checker started.
    pub checks_failed: u64,
    /// Why the last failed check failed.
    pub last_error: Option<String>,
    /// When the last check ended (seconds since the Unix epoch).
    pub last_check: Option<f64>,
    /// When the server last went up or down (seconds since the Unix epoch).
    pub last_transition: Option<f64>,
}

impl Default for RsHealth {
    fn default() -> Self {
        RsHealth {
            up: true,
            consecutive_ok: 0,
            consecutive_fail: 0,
            checks_ok: 0,
            checks_failed: 0,
            last_error: None,
            last_check: None,
            last_transition: None,
        }
    }
}

fn now_unix() -> f64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs_f64())
        .unwrap_or(0.0)
}

impl RsHealth {
    /// Count one check's result; returns the new state when the server goes up or down.
    pub fn record(&mut self, result: &Result<(), String>, rise: u32, fall: u32) -> Option<bool> {
        let now = now_unix();
        self.last_check = Some(now);
        let flip = match result {
            Ok(()) => {
                self.checks_ok += 1;
                self.consecutive_fail = 0;
                self.consecutive_ok = self.consecutive_ok.saturating_add(1);
                !self.up && self.consecutive_ok >= rise
            }
            Err(e) => {
                self.checks_failed += 1;
                self.consecutive_ok = 0;
                self.consecutive_fail = self.consecutive_fail.saturating_add(1);
                self.last_error = Some(e.clone());
                self.up && self.consecutive_fail >= fall
            }
        };
        if flip {
            self.up = !self.up;
            self.last_transition = Some(now);
            Some(self.up)
        } else {
            None
        }
    }
}

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
    pub fn down(&self) -> std::collections::HashSet<RsKey> {
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

/// Whether a service's sorry server is in use in `effective` (its only destination).
pub fn sorry_active(vs: &config::VirtualService) -> bool {
    vs.sorry_server.is_some_and(|s| {
        vs.real_servers.iter().any(|r| r.socket_addr() == s)
            && vs
                .real_servers
                .iter()
                .all(|r| r.socket_addr() == s || r.weight == 0)
    })
}

/// The configuration the dataplane runs: `cfg` with the health state applied (see the
/// module documentation). `down` holds the servers whose checks have them down.
pub fn effective(cfg: &Config, down: &std::collections::HashSet<RsKey>) -> Config {
    let mut out = cfg.clone();
    for s in &mut out.services {
        let svc = s.key.to_string();
        if let Some(hc) = &s.health_check {
            let quiescent = hc.quiescent;
            s.real_servers.retain_mut(|rs| {
                if !down.contains(&(svc.clone(), rs.socket_addr())) {
                    return true;
                }
                rs.weight = 0;
                quiescent
            });
        }
        if let Some(sorry) = s.sorry_server {
            // keepalived: the sorry server serves while no server can take a connection,
            // and only then (IPVS never schedules a weight-0 server).
            if s.real_servers.iter().all(|rs| rs.weight == 0) {
                s.real_servers.retain(|rs| rs.socket_addr() != sorry);
                s.real_servers.push(RealServer {
                    address: sorry.ip(),
                    port: sorry.port(),
                    weight: 1,
                    method: s.method,
                    upper_threshold: 0,
                    lower_threshold: 0,
                });
                // Quiescent servers stay listed with weight 0: their connections go on.
            }
        }
    }
    out
}

/// How long a checker may take to notice a change, for tests and documentation.
pub fn detection_bound(hc: &HealthCheck, up: bool) -> Duration {
    let n = if up { hc.rise } else { hc.fall };
    hc.interval * n + hc.timeout.min(hc.interval)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashSet;

    #[test]
    fn rise_and_fall() {
        let mut h = RsHealth::default();
        assert!(h.up, "servers start up");
        let bad = Err("refused".to_string());
        assert_eq!(h.record(&bad, 2, 3), None);
        assert_eq!(h.record(&bad, 2, 3), None);
        // A success in between starts the count again.
        assert_eq!(h.record(&Ok(()), 2, 3), None);
        assert_eq!(h.record(&bad, 2, 3), None);
        assert_eq!(h.record(&bad, 2, 3), None);
        assert_eq!(h.record(&bad, 2, 3), Some(false));
        assert!(!h.up);
        assert_eq!(h.consecutive_fail, 3);
        assert_eq!(h.last_error.as_deref(), Some("refused"));
        // Further failures are no new transition.
        assert_eq!(h.record(&bad, 2, 3), None);
        assert_eq!(h.record(&Ok(()), 2, 3), None);
        assert_eq!(h.record(&Ok(()), 2, 3), Some(true));
        assert_eq!(h.record(&Ok(()), 2, 3), None);
        assert!(h.up);
        assert_eq!((h.checks_ok, h.checks_failed), (4, 6));
        assert!(h.last_transition.is_some());
    }

    #[test]
    fn one_and_one_flips_at_once() {
        let mut h = RsHealth::default();
        assert_eq!(h.record(&Err("x".into()), 1, 1), Some(false));
        assert_eq!(h.record(&Ok(()), 1, 1), Some(true));
    }

    fn cfg(quiescent: bool, weights: &str) -> Config {
        let text = format!(
            "interfaces:\n  - {{ name: lan0, device: net_null0, addresses: [198.19.0.254/24] }}\nservices:\n  - proto: tcp\n    vip: 198.19.0.100\n    port: 80\n    method: masq\n    health_check: {{ type: tcp, quiescent: {quiescent} }}\n    sorry_server: 198.19.0.9:8080\n    real_servers:\n      - {{ address: 198.19.0.11, weight: {} }}\n      - {{ address: 198.19.0.12, weight: 3 }}\n",
            weights
        );
        config::from_str(&text, "t.yaml").unwrap()
    }

    fn weights(c: &Config) -> Vec<(String, u32)> {
        c.services[0]
            .real_servers
            .iter()
            .map(|r| (r.socket_addr().to_string(), r.weight))
            .collect()
    }

    fn key(rs: &str) -> RsKey {
        ("tcp 198.19.0.100:80".into(), rs.parse().unwrap())
    }

    #[test]
    fn overlay_quiescent_and_sorry() {
        let c = cfg(true, "2");
        let none = HashSet::new();
        assert_eq!(effective(&c, &none), c, "all up: the configuration itself");
        let one: HashSet<_> = [key("198.19.0.11:80")].into();
        let e = effective(&c, &one);
        assert_eq!(
            weights(&e),
            [("198.19.0.11:80".into(), 0), ("198.19.0.12:80".into(), 3)]
        );
        assert!(!sorry_active(&e.services[0]));
        let both: HashSet<_> = [key("198.19.0.11:80"), key("198.19.0.12:80")].into();
        let e = effective(&c, &both);
        assert_eq!(
            weights(&e),
            [
                ("198.19.0.11:80".into(), 0),
                ("198.19.0.12:80".into(), 0),
                ("198.19.0.9:8080".into(), 1)
            ]
        );
        assert!(sorry_active(&e.services[0]));
        // Configured weight 0 everywhere counts as down for the sorry server too.
        let c0 = cfg(true, "0");
        let e = effective(&c0, &[key("198.19.0.12:80")].into());
        assert_eq!(e.services[0].real_servers.last().unwrap().weight, 1);
        // The configuration is untouched.
        assert_eq!(c.services[0].real_servers.len(), 2);
    }

    #[test]
    fn overlay_not_quiescent_removes() {
        let c = cfg(false, "2");
        let e = effective(&c, &[key("198.19.0.12:80")].into());
        assert_eq!(weights(&e), [("198.19.0.11:80".into(), 2)]);
        let e = effective(&c, &[key("198.19.0.11:80"), key("198.19.0.12:80")].into());
        assert_eq!(weights(&e), [("198.19.0.9:8080".into(), 1)]);
        assert!(sorry_active(&e.services[0]));
    }

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
