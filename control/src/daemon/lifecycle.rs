//! rvsd's life cycle: EAL, ports and pool, one worker per lcore, the control thread's wait
//! loop, and an orderly shutdown that flushes and closes ports and reports counters.

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicU64};
use std::sync::Arc;

use anyhow::{bail, Context, Result};
use config::Config;
use dataplane::dpdk::{Eal, LcoreExit, Mempool, Port};
use dataplane::rcu::{self, Publisher, Reader};
use dataplane::tables::Tables;
use dataplane::worker::Polling;
use parking_lot::Mutex;
use tracing::info;

use super::control_thread::ControlThread;
use super::cpu_lock::{self, CpuLocks};
use super::workers::{self, Launch, SteeringRing};
use super::{affinity, isn_secret, ports, run_dir};
use crate::eal_args;
use crate::plane::ControlPlane;
use crate::spec::{build_tables, flow_steer, DaemonSpec, RealServerIds};
use crate::state::estimator::Estimator;
use crate::state::stats::{self, PortReport};
use crate::state::{PortView, RuntimeView};

/// Most workers rvsd runs.
pub const MAX_WORKERS: usize = 64;

/// Run-time options from the command line.
#[derive(Clone, Debug, Default)]
pub struct RunOptions {
    /// Exit after this long without received packets (tests).
    pub exit_when_idle_ms: Option<u64>,
    /// Write the final counters here as JSON.
    pub stats_file: Option<PathBuf>,
    /// Do not send gratuitous ARP at start.
    pub no_garp: bool,
    /// Force busy polling.
    pub busy: bool,
    /// Where the per-CPU lock files go (`cpu_lock`); `None`: [`cpu_lock::DEFAULT_RUN_DIR`].
    pub run_dir: Option<PathBuf>,
}

/// Run rvsd until SIGINT/SIGTERM (on `control`'s handlers) or until the workers exit on
/// their own.
pub fn run(
    cfg: Config,
    ids: RealServerIds,
    config_path: PathBuf,
    spec: DaemonSpec,
    opts: RunOptions,
    control: ControlThread,
) -> Result<()> {
    check_limits(&spec)?;
    let polling = if opts.busy {
        Polling::Busy
    } else {
        spec.polling
    };
    // Held to the end of `run` (dropped with its scope): the claim on the worker CPUs.
    let cpu_locks = claim_worker_cpus(&spec, &opts, polling);
    let isn_secret = isn_secret::load_or_create(
        (opts.run_dir.as_deref()).unwrap_or(Path::new(cpu_lock::DEFAULT_RUN_DIR)),
    );
    let dp = start_dataplane(&spec)?;
    let nw = spec.worker_lcores.len();
    let (publisher, readers) = first_tables(&spec, &dp.ports);
    let (steering, steering_rings) = workers::steering(&dp.eal, &dp.ports, nw)?;
    let stop = Arc::new(AtomicBool::new(false));
    // Outlives the workers: its publisher frees the tables they read (held here so it
    // goes after the scope has waited for them).
    let mut plane_after_workers: Option<Arc<Mutex<ControlPlane>>> = None;
    // The scope sets `stop` and waits for every launched worker when the control thread
    // ends, or when an error ends it early, before the ports, the pool and EAL go.
    let (result, exits) = dp.eal.scope(&stop, |lcores| {
        let launch = Launch {
            eal: &dp.eal,
            spec: &spec,
            ports: &dp.ports,
            taps: &dp.taps,
            pool: &dp.pool,
            polling,
            gratuitous_arp: !opts.no_garp,
            exit_when_idle_ms: opts.exit_when_idle_ms,
            stop: stop.clone(),
            isn_secret,
        };
        let running = workers::launch(lcores, &launch, readers, steering)?;
        let shared_cpus = cpu_locks.shared.len();
        let view = runtime_view(&spec, &dp, &running, steering_rings, shared_cpus);
        let mut plane =
            ControlPlane::new(cfg, spec.clone(), ids, publisher, config_path, view.clone());
        if dp.taps.iter().any(Option::is_some) {
            plane.manage_kernel_routes();
        }
        let plane = Arc::new(Mutex::new(plane));
        plane_after_workers = Some(plane.clone());
        control.run(plane, view, spec.admin_listen, &running.done)?;
        anyhow::Ok(running.stats)
    });
    // The workers have ended: now the tables (and the runtime view's hold on the pool)
    // can go, before the pool is freed and EAL cleaned up.
    drop(plane_after_workers);
    let reported = match result {
        Ok(worker_stats) => report(&spec, &opts, &dp, &worker_stats),
        Err(e) => Err(e),
    };
    teardown(dp);
    reported?;
    workers_ended_well(&exits)
}

/// EAL (its stale run directories cleaned), the mbuf pool, the data ports and the
/// exception path's TAPs.
fn start_dataplane(spec: &DaemonSpec) -> Result<Dataplane> {
    let (eal, devices) = ports::start_eal(spec)?;
    let run_dir = run_dir::ours(&eal);
    if let Some(dir) = &run_dir {
        run_dir::clean_stale(dir);
    }
    let cpus = affinity::adopt_control_cpus();
    info!(
        lcore = spec.main_lcore,
        ?cpus,
        "control thread on the main lcore"
    );
    let pool = Arc::new(Mempool::new(&eal, "rvs_mbufs", spec.mbufs, 256).context(
        "cannot create the mbuf pool; lower dataplane.mbufs or give EAL more memory (-m)",
    )?);
    let ports = ports::open_data_ports(&eal, spec, &devices, &pool)?;
    let taps = ports::open_exception_path(&eal, spec, &ports, &pool)?;
    Ok(Dataplane {
        eal,
        pool,
        ports,
        taps,
        run_dir,
    })
}

/// An error for a worker that panicked or returned an error (its message, if any, went
/// to stderr).
fn workers_ended_well(exits: &[(u32, LcoreExit)]) -> Result<()> {
    for &(lcore, exit) in exits {
        match exit {
            LcoreExit::Returned(0) => {}
            LcoreExit::Returned(rc) => bail!("the worker on lcore {lcore} returned {rc}"),
            LcoreExit::Panicked => bail!(
                "the worker on lcore {lcore} panicked (message above); rvsd stopped every worker and closed the ports"
            ),
        }
    }
    Ok(())
}

/// Refuse a spec the daemon cannot run before EAL starts.
fn check_limits(spec: &DaemonSpec) -> Result<()> {
    if spec.worker_lcores.is_empty() {
        bail!("no worker lcores configured: set dataplane.worker_lcores, e.g. [1]");
    }
    if spec.worker_lcores.len() > MAX_WORKERS {
        bail!(
            "{} worker lcores configured; at most {MAX_WORKERS} are supported",
            spec.worker_lcores.len()
        );
    }
    if spec.interfaces.is_empty() || spec.interfaces.len() > dataplane::counters::MAX_PORTS {
        bail!(
            "between 1 and {} interfaces are needed, {} configured",
            dataplane::counters::MAX_PORTS,
            spec.interfaces.len()
        );
    }
    Ok(())
}

/// Lock the CPUs the workers will run on (as EAL's arguments map lcores to CPUs), warning
/// about each one another rvsd's worker already polls.
fn claim_worker_cpus(spec: &DaemonSpec, opts: &RunOptions, polling: Polling) -> CpuLocks {
    let dir = (opts.run_dir.as_deref()).unwrap_or(Path::new(cpu_lock::DEFAULT_RUN_DIR));
    let lcores = eal_args::lcore_cpus(
        spec.main_lcore,
        &spec.worker_lcores,
        eal_args::machine_cpus(),
    );
    let workers: Vec<(u32, u32)> = (lcores.into_iter())
        .filter(|(l, _)| spec.worker_lcores.contains(l))
        .collect();
    cpu_lock::claim(dir, &workers, polling)
}

/// The start configuration's tables, published to one reader per worker, and the NIC
/// rules that steer FULLNAT replies by them.
fn first_tables(spec: &DaemonSpec, ports: &[Port]) -> (Publisher<Tables>, Vec<Reader<Tables>>) {
    let tables = build_tables(spec, 1);
    info!(
        services = tables.services.services().len(),
        routes = tables.routes.len(),
        "service table built"
    );
    let nw = spec.worker_lcores.len();
    let names: Vec<String> = spec.interfaces.iter().map(|i| i.name.clone()).collect();
    flow_steer::install_fullnat_rules(ports, &names, &tables.snat, nw);
    rcu::channel(tables, nw)
}

/// What the control plane and the API read from the running daemon.
fn runtime_view(
    spec: &DaemonSpec,
    dp: &Dataplane,
    running: &workers::Running,
    steering_rings: Vec<SteeringRing>,
    shared_worker_cpus: usize,
) -> Arc<RuntimeView> {
    Arc::new(RuntimeView {
        interfaces: spec.interfaces.iter().map(|i| i.name.clone()).collect(),
        workers: running.stats.clone(),
        conn_channels: running.conn_channels.clone(),
        list_lock: tokio::sync::Mutex::new(()),
        estimator: Mutex::new(Estimator::default()),
        pool: dp.pool.clone(),
        generation: AtomicU64::new(1),
        last_reload_ok: AtomicBool::new(true),
        ports: (dp.ports.iter())
            .zip(&spec.interfaces)
            .map(|(p, i)| PortView {
                name: i.name.clone(),
                device: i.device.clone(),
                mac: p.mac(),
                counters: p.counters(),
            })
            .collect(),
        steering_rings,
        shared_worker_cpus,
    })
}

/// The DPDK resources, released in order at shutdown.
struct Dataplane {
    eal: Eal,
    pool: Arc<Mempool>,
    ports: Vec<Port>,
    taps: Vec<Option<Port>>,
    /// EAL's run directory, removed after EAL cleanup when rvsd named it.
    run_dir: Option<PathBuf>,
}

/// Report the counters of the ended workers (stderr, and the stats file if asked).
fn report(
    spec: &DaemonSpec,
    opts: &RunOptions,
    dp: &Dataplane,
    worker_stats: &[Arc<dataplane::counters::WorkerStats>],
) -> Result<()> {
    let reports: Vec<PortReport<'_>> = (dp.ports.iter())
        .zip(&spec.interfaces)
        .map(|(p, i)| PortReport {
            name: &i.name,
            device: &i.device,
            mac: p.mac(),
            hw: p.stats(),
        })
        .collect();
    eprint!("{}", stats::to_text(&reports, worker_stats));
    if let Some(path) = &opts.stats_file {
        let json = stats::to_json(&reports, worker_stats);
        std::fs::write(path, serde_json::to_vec_pretty(&json)?)
            .with_context(|| format!("cannot write stats file {}", path.display()))?;
    }
    Ok(())
}

/// Once the workers have ended: close the ports (flushing pcap files, releasing sockets)
/// before the pool and EAL go, then remove EAL's run directory.
fn teardown(dp: Dataplane) {
    let Dataplane {
        eal,
        pool,
        ports,
        taps,
        run_dir,
    } = dp;
    for mut p in ports.into_iter().chain(taps.into_iter().flatten()) {
        p.close();
    }
    drop(pool);
    drop(eal);
    if let Some(dir) = &run_dir {
        run_dir::remove(dir);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_worker_that_panicked_or_failed_makes_rvsd_fail() {
        assert!(
            workers_ended_well(&[(1, LcoreExit::Returned(0)), (2, LcoreExit::Returned(0))]).is_ok()
        );
        let e = workers_ended_well(&[(1, LcoreExit::Returned(0)), (2, LcoreExit::Panicked)])
            .unwrap_err()
            .to_string();
        assert!(e.contains("lcore 2 panicked"), "{e}");
        let e = workers_ended_well(&[(3, LcoreExit::Returned(-5))])
            .unwrap_err()
            .to_string();
        assert!(e.contains("lcore 3 returned -5"), "{e}");
    }
}
