//! rvsd's life cycle: EAL, ports and pool, one worker per lcore, the control thread's wait
//! loop, and an orderly shutdown that flushes and closes ports and reports counters.

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;

use anyhow::{bail, Context, Result};
use config::Config;
use dataplane::dpdk::{Eal, Mempool, Port};
use dataplane::rcu::{self, Publisher, Reader};
use dataplane::tables::Tables;
use dataplane::worker::Polling;
use parking_lot::Mutex;
use tracing::{info, warn};

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
    let (eal, devices) = ports::start_eal(&spec)?;
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
    let ports = ports::open_data_ports(&eal, &spec, &devices, &pool)?;
    let taps = ports::open_exception_path(&eal, &spec, &ports, &pool)?;

    let nw = spec.worker_lcores.len();
    let (publisher, readers) = first_tables(&spec, &ports);
    let (steering, steering_rings) = workers::steering(&eal, &ports, nw)?;
    let stop = Arc::new(AtomicBool::new(false));
    let running = workers::launch(
        &Launch {
            eal: &eal,
            spec: &spec,
            ports: &ports,
            taps: &taps,
            pool: &pool,
            polling,
            gratuitous_arp: !opts.no_garp,
            exit_when_idle_ms: opts.exit_when_idle_ms,
            stop: stop.clone(),
            isn_secret,
        },
        readers,
        steering,
    )?;

    let runtime_view = runtime_view(
        &spec,
        &ports,
        &pool,
        &running,
        steering_rings,
        cpu_locks.shared.len(),
    );
    let mut plane = ControlPlane::new(
        cfg,
        spec.clone(),
        ids,
        publisher,
        config_path,
        runtime_view.clone(),
    );
    if taps.iter().any(Option::is_some) {
        plane.manage_kernel_routes();
    }
    // The control plane holds the runtime view, which holds the mbuf pool: both are gone
    // when the control thread returns, before the pool is freed and EAL cleaned up.
    control.run(
        Arc::new(Mutex::new(plane)),
        runtime_view,
        spec.admin_listen,
        &running.done,
    )?;
    stop.store(true, Ordering::Relaxed);
    shutdown(
        &spec,
        &opts,
        Dataplane {
            eal,
            pool,
            ports,
            taps,
            run_dir,
        },
        &running.stats,
    )
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
    ports: &[Port],
    pool: &Arc<Mempool>,
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
        pool: pool.clone(),
        generation: AtomicU64::new(1),
        last_reload_ok: AtomicBool::new(true),
        ports: ports
            .iter()
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

/// Wait for the workers (already told to stop), report the counters (stderr, and the
/// stats file if asked), then close the ports before the pool and EAL go, and remove
/// EAL's run directory.
fn shutdown(
    spec: &DaemonSpec,
    opts: &RunOptions,
    dp: Dataplane,
    worker_stats: &[Arc<dataplane::counters::WorkerStats>],
) -> Result<()> {
    for &lcore in &spec.worker_lcores {
        let rc = dp.eal.wait(lcore);
        if rc != 0 {
            warn!(lcore, rc, "worker returned an error");
        }
    }
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
    drop(reports);
    // Ports close (flushing pcap files, releasing sockets) before the pool and EAL go.
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
    Ok(())
}
