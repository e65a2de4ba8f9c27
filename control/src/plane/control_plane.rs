//! The control plane: owns the running configuration, validates changes, builds new
//! tables and publishes them to the workers (RCU). A rejected change leaves everything
//! as it was and says why.

use std::collections::HashSet;
use std::path::PathBuf;
use std::sync::atomic::Ordering;
use std::sync::Arc;

use config::Config;
use dataplane::rcu::Publisher;
use dataplane::tables::Tables;
use serde::Serialize;
use tracing::{info, warn};

use super::diff::{diff, ConfigDiff};
use crate::health::{self, Health};
use crate::kernel_if;
use crate::spec::{self, build_tables, DaemonSpec, RealServerIds};
use crate::state::RuntimeView;

/// Why a configuration change was refused.
#[derive(Debug, Clone, Serialize)]
pub struct Rejection {
    /// One line per problem (`file:line:col: what; expected`).
    pub errors: Vec<String>,
}

impl Rejection {
    fn one(msg: impl Into<String>) -> Self {
        Rejection {
            errors: vec![msg.into()],
        }
    }
}

/// The running configuration and the means to change it.
pub struct ControlPlane {
    config: Config,
    spec: DaemonSpec,
    publisher: Publisher<Tables>,
    generation: u64,
    config_path: PathBuf,
    runtime: Arc<RuntimeView>,
    token: Option<Arc<str>>,
    last_error: Option<Rejection>,
    ids: RealServerIds,
    /// Health checkers and their state.
    health: Health,
    /// What the dataplane runs: `config` with the health state applied.
    effective: Config,
    /// Generation of the published tables: bumped by configuration changes and by health
    /// transitions (workers adopt a table whose generation differs from theirs).
    table_generation: u64,
    /// Whether the daemon brought up kernel interfaces whose routes follow reloads.
    kernel_interfaces: bool,
}

impl ControlPlane {
    /// The control plane of a daemon started from `config` (read from `config_path`).
    pub fn new(
        config: Config,
        spec: DaemonSpec,
        ids: RealServerIds,
        publisher: Publisher<Tables>,
        config_path: PathBuf,
        runtime: Arc<RuntimeView>,
    ) -> Self {
        let token = spec.admin_token.as_deref().map(Arc::from);
        let mut health = Health::default();
        health.sync(&config);
        let mut ids = ids;
        // The start configuration's ids: the workers' counters began at zero with them
        // (and may have counted already: nothing to zero), but need room beyond the first
        // segment (counted from here on).
        ids.take_fresh();
        ids.prepare(&runtime.workers, &mut runtime.estimator.lock());
        ControlPlane {
            effective: config.clone(),
            health,
            table_generation: 1,
            kernel_interfaces: false,
            config,
            spec,
            publisher,
            generation: 1,
            config_path,
            runtime,
            token,
            last_error: None,
            ids,
        }
    }

    /// The running configuration.
    pub fn config(&self) -> &Config {
        &self.config
    }

    /// What the dataplane runs: the configuration with the health state applied (down
    /// servers at weight 0 or absent, sorry servers in use). `ipvsadm -Ln` shows this.
    pub fn effective_config(&self) -> &Config {
        &self.effective
    }

    /// The health checkers' state.
    pub fn health(&self) -> &Health {
        &self.health
    }

    /// Start the health checkers on the control thread's runtime.
    pub fn start_health(&mut self, runtime: tokio::runtime::Handle) {
        self.health.start(runtime, &self.config);
        self.refresh_health();
    }

    /// Publish new tables if a real server went up or down since the last call.
    pub fn refresh_health(&mut self) {
        if !self.health.take_dirty() {
            return;
        }
        let effective = health::effective(&self.config, &self.health.down());
        if effective == self.effective {
            return;
        }
        match spec::from_config(&effective, &mut self.ids) {
            Ok(spec) => {
                self.effective = effective;
                self.publish(spec);
                self.retire_ids();
                info!(
                    table_generation = self.table_generation,
                    "health state applied to the service table"
                );
            }
            // apply() checked the all-down variant; this would be a bug, not bad input.
            Err(e) => warn!(error = %format!("{e:#}"), "cannot apply the health state"),
        }
    }

    fn publish(&mut self, spec: DaemonSpec) {
        (self.ids).prepare(&self.runtime.workers, &mut self.runtime.estimator.lock());
        self.table_generation += 1;
        let mut tables = build_tables(&spec, self.table_generation);
        tables.services.follow(&self.publisher.current().services);
        self.publisher.publish(tables);
        self.sync_kernel_routes(&spec);
        self.spec = spec;
    }

    /// Give the exception path's kernel interfaces the routes of `new` (the interfaces
    /// and their addresses cannot change at run time; the routes can). A failure leaves
    /// the dataplane on the new routes and is logged: the kernel only carries the
    /// director's own traffic.
    fn sync_kernel_routes(&self, new: &DaemonSpec) {
        if !self.kernel_interfaces {
            return;
        }
        for (i, iface) in new.interfaces.iter().enumerate() {
            let Some(k) = &iface.kernel_name else {
                continue;
            };
            let old = kernel_if::kernel_routes(&self.spec, i);
            let new = kernel_if::kernel_routes(new, i);
            if old == new {
                continue;
            }
            match kernel_if::sync_routes(k, &old, &new) {
                Ok(()) => {
                    info!(interface = %iface.name, kernel = %k, routes = new.len(), "kernel routes updated")
                }
                Err(e) => {
                    warn!(interface = %iface.name, kernel = %k, error = %format!("{e:#}"), "cannot update the kernel's routes")
                }
            }
        }
    }

    /// Keep the exception path's kernel interfaces' routes in step with reloads (the
    /// daemon calls this once it has brought them up).
    pub fn manage_kernel_routes(&mut self) {
        self.kernel_interfaces = true;
    }

    /// Stable ids of the real servers.
    pub fn real_server_ids(&self) -> &RealServerIds {
        &self.ids
    }

    /// The running generation.
    pub fn generation(&self) -> u64 {
        self.generation
    }

    /// The admin token in force.
    pub fn token(&self) -> Option<Arc<str>> {
        self.token.clone()
    }

    /// The last rejected change, if the last change was rejected.
    pub fn last_error(&self) -> Option<&Rejection> {
        self.last_error.as_ref()
    }

    /// Free tables no worker can still see, and the ids of deleted real servers no
    /// connection or template refers to any more.
    pub fn reclaim(&mut self) {
        self.publisher.reclaim();
        self.ids.recycle(&self.runtime.workers);
    }

    /// The real servers neither configured nor in use (a sorry server) are deleted: their
    /// ids drain from the tables just published (see `spec::ids`).
    fn retire_ids(&mut self) {
        let (configs, generation) = ([&self.config, &self.effective], self.table_generation);
        let mut est = self.runtime.estimator.lock();
        (self.ids).retire_unconfigured(configs, generation, &self.runtime.workers, &mut est);
    }

    /// Validate `new` against what can change at run time and, unless `dry_run`, publish
    /// it. Returns what changes.
    pub fn apply(&mut self, new: Config, dry_run: bool) -> Result<ConfigDiff, Rejection> {
        let result = self.try_apply(new, dry_run);
        if !dry_run {
            self.last_error = result.as_ref().err().cloned();
            self.runtime
                .last_reload_ok
                .store(result.is_ok(), Ordering::Relaxed);
        }
        result
    }

    /// [`ControlPlane::apply`] for a document from the admin API: the `admin:` section
    /// must be the running one, so that a token holder cannot lock the API (drop the
    /// token file) or change who may use it; nor may it change `health:` or exec checks,
    /// which run programs. Only the file (SIGHUP) changes those.
    pub fn apply_from_api(&mut self, new: Config, dry_run: bool) -> Result<ConfigDiff, Rejection> {
        if new.admin != self.config.admin {
            return Err(Rejection::one(
                "admin: cannot be changed through the API; edit the configuration file and send SIGHUP",
            ));
        }
        if new.health != self.config.health {
            return Err(Rejection::one(
                "health: (who exec checks run as, where their programs live) cannot be changed through the API; edit the configuration file and send SIGHUP",
            ));
        }
        if let Some(key) = new_exec_check(&self.config, &new) {
            return Err(Rejection::one(format!(
                "service {key}: exec health checks cannot be added or changed through the API (they run commands as rvsd's user); edit the configuration file and send SIGHUP"
            )));
        }
        self.apply(new, dry_run)
    }

    fn try_apply(&mut self, new: Config, dry_run: bool) -> Result<ConfigDiff, Rejection> {
        if new.interfaces != self.config.interfaces {
            return Err(Rejection::one(
                "interfaces differ from the running ones; changing ports needs a restart of rvsd",
            ));
        }
        if new.dataplane != self.config.dataplane {
            return Err(Rejection::one("the dataplane section differs from the running one; changing lcores, polling or EAL arguments needs a restart of rvsd"));
        }
        if new.admin.listen != self.config.admin.listen {
            return Err(Rejection::one("admin.listen differs from the running one; moving the admin API needs a restart of rvsd"));
        }
        // A dry run must not assign real-server ids.
        let mut ids = self.ids.clone();
        spec::from_config(&new, &mut ids).map_err(|e| Rejection::one(format!("{e:#}")))?;
        // The sorry servers must be usable too, before they are needed: check the variant
        // where every checked server is down.
        let all: HashSet<health::RsKey> = new
            .services
            .iter()
            .flat_map(|s| {
                let svc = s.key.to_string();
                s.real_servers
                    .iter()
                    .map(move |rs| (svc.clone(), rs.socket_addr()))
            })
            .collect();
        spec::from_config(&health::effective(&new, &all), &mut ids.clone())
            .map_err(|e| Rejection::one(format!("sorry server: {e:#}")))?;
        let d = diff(&self.config, &new);
        if dry_run {
            return Ok(d);
        }
        // Servers that remain keep their state; new ones start up (see crate::health).
        let effective = health::effective(&new, &self.health.down());
        let spec = spec::from_config(&effective, &mut ids)
            .map_err(|e| Rejection::one(format!("{e:#}")))?;
        self.health.sync(&new);
        self.ids = ids;
        self.generation += 1;
        self.token = spec.admin_token.as_deref().map(Arc::from);
        self.publish(spec);
        self.config = new;
        self.effective = effective;
        self.retire_ids();
        self.runtime
            .generation
            .store(self.generation, Ordering::Relaxed);
        info!(
            generation = self.generation,
            added = d.services_added.len(),
            removed = d.services_removed.len(),
            changed = d.services_changed.len(),
            "configuration applied"
        );
        Ok(d)
    }

    /// Re-read the configuration file (SIGHUP) and apply it.
    pub fn reload_file(&mut self) -> Result<ConfigDiff, Rejection> {
        let path = self.config_path.clone();
        let result = match config::load_file(&path) {
            Ok(cfg) => self.apply(cfg, false),
            Err(errors) => {
                let r = Rejection {
                    errors: errors.errors().iter().map(|e| e.to_string()).collect(),
                };
                self.last_error = Some(r.clone());
                self.runtime.last_reload_ok.store(false, Ordering::Relaxed);
                Err(r)
            }
        };
        if let Err(r) = &result {
            warn!(file = %path.display(), errors = %r.errors.join("; "), "reload rejected; the running configuration is unchanged");
        }
        result
    }
}

/// The first service of `new` whose `exec` health check is not the running one of the
/// same service in `cur` (an `exec` check runs any command, so only the file sets them).
fn new_exec_check(cur: &Config, new: &Config) -> Option<String> {
    new.services
        .iter()
        .filter(|s| {
            matches!(
                s.health_check.as_ref().map(|h| &h.kind),
                Some(config::HealthCheckKind::Exec { .. })
            )
        })
        .find(|s| {
            !cur.services
                .iter()
                .any(|c| c.key == s.key && c.health_check == s.health_check)
        })
        .map(|s| s.key.to_string())
}
