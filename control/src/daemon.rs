//! rvsd's life cycle: EAL, ports and pool, one worker per lcore, the control thread's wait
//! loop, and an orderly shutdown that flushes and closes ports and reports counters.

use std::net::Ipv4Addr;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use anyhow::{bail, Context, Result};
use crossbeam::queue::ArrayQueue;
use dataplane::counters::WorkerStats;
use dataplane::dpdk::MbufRing;
use dataplane::dpdk::{Eal, Mempool, Port, TxBuffer};
use dataplane::pipeline::{NeighbourUpdate, Pipeline, PipelineConfig};
use dataplane::rcu;
use dataplane::route::{Ipv4Prefix, RouteTable};
use dataplane::route::{Ipv6Prefix, RouteTable6};
use dataplane::service::{LocalAddr, LocalAddr6, ServiceTable, VirtualService};
use dataplane::tables::Tables;
use dataplane::tables::{IpvsSwitches, IpvsTimeouts};
use dataplane::worker::{ControlChannel, Polling, Steering, Worker, WorkerPort};
use dataplane::xmit::fullnat::{SnatPool, SnatTable};
use tracing::{info, warn};

use crate::admin::{self, AdminState, RuntimeView};
use crate::eal_args::{self, Device};
use crate::kernel_if;
use crate::plane::ControlPlane;
use crate::stats::{self, PortReport};
use config::Config;
use dataplane::exception::ExceptionConfig;
use parking_lot::Mutex;
use std::path::PathBuf;

/// Requests in flight between the control thread and one worker.
const CONTROL_QUEUE: usize = 4;

/// Descriptors per TAP queue: net_tap allocates a whole RX ring of mbufs per queue up
/// front (as the scatter list of one packet), and the exception path is low-rate.
const TAP_RING: u16 = 64;

/// Most workers rvsd runs.
pub const MAX_WORKERS: usize = 64;
/// Slots of each steering ring between two workers (a power of two).
pub const STEERING_RING_SIZE: u32 = 4096;
/// Packets a steering ring holds (an rte_ring keeps one slot free).
pub const STEERING_RING_CAPACITY: u32 = STEERING_RING_SIZE - 1;

/// One interface as the daemon needs it.
#[derive(Clone, Debug)]
pub struct InterfaceSpec {
    /// Name from the configuration (wan0...).
    pub name: String,
    /// DPDK device string.
    pub device: String,
    /// The director's own IPv4 addresses on it, with prefix lengths.
    pub addresses: Vec<(Ipv4Addr, u8)>,
    /// Name of its kernel interface (exception path); None = no exception path.
    pub kernel_name: Option<String>,
    /// The director's own IPv6 addresses on it, with prefix lengths.
    pub addresses6: Vec<(std::net::Ipv6Addr, u8)>,
    /// Its MTU (`interfaces[].mtu`).
    pub mtu: u16,
}

/// Everything rvsd needs from the configuration, in dataplane terms.
#[derive(Clone, Debug)]
pub struct DaemonSpec {
    /// Main lcore (control thread).
    pub main_lcore: u32,
    /// One worker per lcore.
    pub worker_lcores: Vec<u32>,
    /// Polling mode.
    pub polling: Polling,
    /// Extra EAL arguments.
    pub eal_args: Vec<String>,
    /// Mbuf pool size.
    pub mbufs: u32,
    /// Ports, in configuration order.
    pub interfaces: Vec<InterfaceSpec>,
    /// Static routes: prefix, gateway, interface index.
    pub routes: Vec<(Ipv4Prefix, Ipv4Addr, usize)>,
    /// Static IPv6 routes: prefix, gateway, interface index.
    pub routes6: Vec<(dataplane::route::Ipv6Prefix, std::net::Ipv6Addr, usize)>,
    /// Virtual services.
    pub services: Vec<VirtualService>,
    /// FULLNAT SNAT pools the services name by index.
    pub snat_pools: Vec<SnatPool>,
    /// FULLNAT real servers (stable ids) whose connections carry no TOA (`toa: false`).
    pub toa_off: Vec<u32>,
    /// Connection timeouts.
    pub timeouts: IpvsTimeouts,
    /// IPVS behaviour switches.
    pub ipvs: IpvsSwitches,
    /// Connection table size per worker.
    pub conn_capacity: usize,
    /// Exception-path rate limit, packets per second per worker.
    pub exception_rate: u32,
    /// Management address for the REST API and /metrics (None = disabled).
    pub admin_listen: Option<std::net::SocketAddr>,
    /// Bearer token for the REST API (read from admin.token_file).
    pub admin_token: Option<String>,
}

/// Run-time options from the command line.
#[derive(Clone, Debug, Default)]
pub struct RunOptions {
    /// Exit after this long without received packets (tests).
    pub exit_when_idle_ms: Option<u64>,
    /// Write the final counters here as JSON.
    pub stats_file: Option<std::path::PathBuf>,
    /// Do not send gratuitous ARP at start.
    pub no_garp: bool,
    /// Force busy polling.
    pub busy: bool,
}

/// Signals the control thread acts on.
pub struct Signals {
    /// SIGINT/SIGTERM: stop.
    pub shutdown: Arc<AtomicBool>,
    /// SIGHUP: re-read the configuration file.
    pub reload: Arc<AtomicBool>,
}

/// Run rvsd until `shutdown` is set (by a signal) or the workers exit on their own.
pub fn run(
    cfg: Config,
    ids: crate::spec::RealServerIds,
    config_path: PathBuf,
    spec: DaemonSpec,
    opts: RunOptions,
    signals: Signals,
) -> Result<()> {
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
    let devices: Vec<Device> = spec
        .interfaces
        .iter()
        .map(|i| Device::parse(&i.device))
        .collect();
    // The exception path's TAP devices (see crate::kernel_if), after the data ports.
    let mut eal_devices = devices.clone();
    for (i, iface) in spec.interfaces.iter().enumerate() {
        if let Some(k) = &iface.kernel_name {
            kernel_if::check_free(&iface.name, k)?;
            eal_devices.push(kernel_if::tap_device(i, k));
        }
    }
    let args = eal_args::build(
        spec.main_lcore,
        &spec.worker_lcores,
        &eal_devices,
        &spec.eal_args,
    );
    info!(args = ?args, "initialising DPDK EAL");
    let eal = Eal::init(&args).context("DPDK EAL initialisation failed (check hugepages or add --no-huge to dataplane.eal_args, and the device strings)")?;
    let pool = Arc::new(Mempool::new(&eal, "rvs_mbufs", spec.mbufs, 256).context(
        "cannot create the mbuf pool; lower dataplane.mbufs or give EAL more memory (-m)",
    )?);
    let queues = spec.worker_lcores.len() as u16;
    let mut ports = Vec::new();
    for (iface, dev) in spec.interfaces.iter().zip(&devices) {
        let port = Port::open(&eal, dev.port_name(), queues, &pool).with_context(|| {
            format!(
                "interface {}: cannot open device {:?}",
                iface.name, iface.device
            )
        })?;
        info!(interface = %iface.name, port = port.id(), mac = %fmt_mac(&port.mac()), "port started");
        ports.push(port);
    }
    // Each kernel interface gets its data port's MAC (frames pass between them unchanged),
    // one queue pair per worker, the port's addresses and the routes through it.
    let mut taps: Vec<Option<Port>> = Vec::new();
    for (i, iface) in spec.interfaces.iter().enumerate() {
        let Some(k) = &iface.kernel_name else {
            taps.push(None);
            continue;
        };
        kernel_if::setup_ipv6(k, !iface.addresses6.is_empty())
            .with_context(|| format!("interface {}", iface.name))?;
        if let Some(data_if) = kernel_if::shield_data_port(&iface.device)
            .with_context(|| format!("interface {}", iface.name))?
        {
            info!(interface = %iface.name, kernel = %data_if, "kernel set to ignore IPv4 and IPv6 arriving on the data port itself");
        }
        let dev = kernel_if::tap_device(i, k);
        let mut tap = Port::open_with_ring(&eal, dev.port_name(), queues, &pool, TAP_RING)
            .with_context(|| {
                format!(
                    "interface {}: cannot open its kernel interface {k}",
                    iface.name
                )
            })?;
        tap.set_mac(ports[i].mac())
            .with_context(|| format!("interface {}: cannot set the MAC of {k}", iface.name))?;
        let routes = kernel_if::kernel_routes(&spec, i);
        let addresses: Vec<(std::net::IpAddr, u8)> = (iface.addresses.iter())
            .map(|&(a, len)| (a.into(), len))
            .chain(iface.addresses6.iter().map(|&(a, len)| (a.into(), len)))
            .collect();
        kernel_if::configure(k, &addresses, &routes)
            .with_context(|| format!("interface {}: cannot configure {k}", iface.name))?;
        kernel_if::set_mtu(k, iface.mtu).with_context(|| {
            format!(
                "interface {}: cannot set mtu {} on {k}",
                iface.name, iface.mtu
            )
        })?;
        info!(interface = %iface.name, kernel = %k, port = tap.id(), "exception path up");
        taps.push(Some(tap));
    }

    let tables = build_tables(&spec, 1);
    info!(
        services = tables.services.services().len(),
        routes = tables.routes.len(),
        "service table built"
    );
    let names: Vec<String> = spec.interfaces.iter().map(|i| i.name.clone()).collect();
    crate::flow_steer::install_fullnat_rules(
        &ports,
        &names,
        &tables.snat,
        spec.worker_lcores.len(),
    );
    let (publisher, readers) = rcu::channel(tables, spec.worker_lcores.len());
    let mut publisher = Some(publisher);
    let mut readers = readers.into_iter();

    // With several workers each flow has one owner; packets RSS delivers elsewhere travel
    // to it over an SPSC ring per ordered pair of workers, and learned neighbours are
    // shared through a small queue per worker.
    let nw = spec.worker_lcores.len();
    let mut steering: Vec<Option<Steering>> = (0..nw).map(|_| None).collect();
    let mut steering_rings = Vec::new();
    if nw > 1 {
        let mut rings: Vec<Vec<Option<Arc<MbufRing>>>> = vec![vec![None; nw]; nw];
        for (from, row) in rings.iter_mut().enumerate() {
            for (to, slot) in row.iter_mut().enumerate() {
                if from != to {
                    *slot = Some(Arc::new(
                        MbufRing::new(&eal, &format!("rvs_steer_{from}_{to}"), STEERING_RING_SIZE)
                            .context("cannot create a steering ring")?,
                    ));
                }
            }
        }
        for (from, row) in rings.iter().enumerate() {
            for (to, ring) in row.iter().enumerate() {
                if let Some(r) = ring {
                    steering_rings.push((from, to, r.clone()));
                }
            }
        }
        let queues: Vec<Arc<ArrayQueue<NeighbourUpdate>>> =
            (0..nw).map(|_| Arc::new(ArrayQueue::new(1024))).collect();
        let mut port_index =
            vec![usize::MAX; 1 + ports.iter().map(|p| p.id() as usize).max().unwrap_or(0)];
        for (i, p) in ports.iter().enumerate() {
            port_index[p.id() as usize] = i;
        }
        for (w, slot) in steering.iter_mut().enumerate() {
            *slot = Some(Steering {
                to: rings[w].clone(),
                from: (0..nw)
                    .filter(|&f| f != w)
                    .filter_map(|f| rings[f][w].clone())
                    .collect(),
                neighbours_in: queues[w].clone(),
                neighbours_out: (0..nw)
                    .filter(|&o| o != w)
                    .map(|o| queues[o].clone())
                    .collect(),
                port_index: port_index.clone(),
            });
        }
    }

    let stop = Arc::new(AtomicBool::new(false));
    let mut worker_stats = Vec::new();
    let mut done = Vec::new();
    let polling = if opts.busy {
        Polling::Busy
    } else {
        spec.polling
    };
    let mut conn_channels = Vec::new();
    for (w, &lcore) in spec.worker_lcores.iter().enumerate() {
        let stats = Arc::new(WorkerStats::default());
        let requests = Arc::new(ArrayQueue::new(CONTROL_QUEUE));
        let answers = Arc::new(ArrayQueue::new(CONTROL_QUEUE));
        let pipeline = Pipeline::with_memory_hooks(
            PipelineConfig {
                worker: w,
                port_macs: ports.iter().map(|p| p.mac()).collect(),
                stats: stats.clone(),
                conn_capacity: spec.conn_capacity,
                gratuitous_arp: !opts.no_garp,
                workers: nw,
                exception: ExceptionConfig {
                    ports: taps.iter().map(Option::is_some).collect(),
                    rate: spec.exception_rate,
                },
            },
            dataplane::worker::DPDK_MEMORY_HOOKS,
        );
        let worker = Worker {
            id: w,
            ports: ports
                .iter()
                .map(|p| WorkerPort {
                    rx: p.rx_queue(w as u16),
                    tx: p.tx_queue(w as u16),
                    txbuf: TxBuffer::default(),
                })
                .collect(),
            pool: pool.clone(),
            pipeline,
            tables: readers.next().expect("one reader per worker"),
            stats: stats.clone(),
            stop: stop.clone(),
            polling,
            tsc_hz: eal.tsc_hz(),
            exit_when_idle_ms: opts.exit_when_idle_ms,
            steering: steering[w].take(),
            control: ControlChannel {
                requests: requests.clone(),
                answers: answers.clone(),
            },
            kernel: taps
                .iter()
                .map(|t| {
                    t.as_ref().map(|p| WorkerPort {
                        rx: p.rx_queue(w as u16),
                        tx: p.tx_queue(w as u16),
                        txbuf: TxBuffer::default(),
                    })
                })
                .collect(),
        };
        conn_channels.push((requests, answers));
        let finished = Arc::new(AtomicBool::new(false));
        let f2 = finished.clone();
        eal.launch(lcore, move || {
            let rc = worker.run();
            f2.store(true, Ordering::Release);
            rc
        })
        .with_context(|| format!("cannot start worker {w} on lcore {lcore}"))?;
        info!(worker = w, lcore, ?polling, "worker started");
        worker_stats.push(stats);
        done.push(finished);
    }
    let runtime_view = Arc::new(RuntimeView {
        interfaces: spec.interfaces.iter().map(|i| i.name.clone()).collect(),
        workers: worker_stats.clone(),
        conn_channels,
        list_lock: tokio::sync::Mutex::new(()),
        estimator: Mutex::new(crate::estimator::Estimator::default()),
        pool: pool.clone(),
        generation: AtomicU64::new(1),
        last_reload_ok: AtomicBool::new(true),
        ports: ports
            .iter()
            .zip(&spec.interfaces)
            .map(|(p, i)| (i.name.clone(), i.device.clone(), p.mac()))
            .collect(),
        steering_rings,
    });

    // The control thread: a small current-thread runtime for the admin API, polling for
    // signals and finished workers.
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .context("cannot start the control thread's runtime")?;
    let plane = Arc::new(Mutex::new(ControlPlane::new(
        cfg,
        spec.clone(),
        ids,
        publisher.take().expect("publisher"),
        config_path,
        runtime_view.clone(),
    )));
    if taps.iter().any(Option::is_some) {
        plane.lock().manage_kernel_routes();
    }
    plane.lock().start_health(rt.handle().clone());
    rt.block_on(async {
        if let Some(addr) = spec.admin_listen {
            let listener = tokio::net::TcpListener::bind(addr)
                .await
                .with_context(|| format!("cannot listen on admin address {addr} (admin.listen)"))?;
            let state = AdminState {
                plane: plane.clone(),
                runtime: runtime_view.clone(),
            };
            info!(addr = %listener.local_addr().unwrap_or(addr), "admin API and /metrics listening");
            tokio::spawn(async move {
                if let Err(e) = axum::serve(listener, admin::router(state)).await {
                    warn!(error = %e, "admin server stopped");
                }
            });
        }
        info!("rvsd running");
        let mut last_estimate = std::time::Instant::now();
        loop {
            if signals.shutdown.load(Ordering::Relaxed) {
                info!("shutting down");
                break;
            }
            if done.iter().all(|d| d.load(Ordering::Acquire)) {
                info!("workers finished");
                break;
            }
            if signals.reload.swap(false, Ordering::Relaxed) {
                info!("SIGHUP: reloading the configuration");
                let _ = plane.lock().reload_file();
            }
            {
                let mut p = plane.lock();
                // Health transitions since the last round become a new table.
                p.refresh_health();
                p.reclaim();
            }
            if last_estimate.elapsed() >= Duration::from_secs(crate::estimator::INTERVAL_S) {
                last_estimate = std::time::Instant::now();
                runtime_view.estimator.lock().tick(&runtime_view.workers);
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        anyhow::Ok(())
    })?;
    drop(rt);
    // The control plane holds the runtime view, which holds the mbuf pool: both must go
    // before the pool is freed and EAL cleaned up below.
    drop(plane);
    drop(runtime_view);
    stop.store(true, Ordering::Relaxed);
    for &lcore in &spec.worker_lcores {
        let rc = eal.wait(lcore);
        if rc != 0 {
            warn!(lcore, rc, "worker returned an error");
        }
    }
    let reports: Vec<PortReport<'_>> = ports
        .iter()
        .zip(&spec.interfaces)
        .map(|(p, i)| PortReport {
            name: &i.name,
            device: &i.device,
            mac: p.mac(),
            hw: p.stats(),
        })
        .collect();
    eprint!("{}", stats::to_text(&reports, &worker_stats));
    if let Some(path) = &opts.stats_file {
        let json = stats::to_json(&reports, &worker_stats);
        std::fs::write(path, serde_json::to_vec_pretty(&json)?)
            .with_context(|| format!("cannot write stats file {}", path.display()))?;
    }
    drop(reports);
    // Ports close (flushing pcap files, releasing sockets) before the pool and EAL go.
    for mut p in ports.into_iter().chain(taps.into_iter().flatten()) {
        p.close();
    }
    drop(pool);
    drop(eal);
    Ok(())
}

fn fmt_mac(m: &[u8; 6]) -> String {
    m.iter()
        .map(|b| format!("{b:02x}"))
        .collect::<Vec<_>>()
        .join(":")
}

/// The tables workers read, built from a spec: connected routes from the interfaces'
/// addresses, static routes, services, and the director's own addresses.
pub fn build_tables(spec: &DaemonSpec, generation: u64) -> Tables {
    let connected: Vec<(Ipv4Prefix, usize)> = spec
        .interfaces
        .iter()
        .enumerate()
        .flat_map(|(i, f)| {
            f.addresses
                .iter()
                .filter_map(move |&(a, l)| Ipv4Prefix::new(a, l).map(|p| (p, i)))
        })
        .collect();
    let locals: Vec<LocalAddr> = spec
        .interfaces
        .iter()
        .enumerate()
        .flat_map(|(i, f)| {
            f.addresses
                .iter()
                .map(move |&(addr, prefix_len)| LocalAddr {
                    port: i,
                    addr,
                    prefix_len,
                })
        })
        .collect();
    let connected6: Vec<(Ipv6Prefix, usize)> = spec
        .interfaces
        .iter()
        .enumerate()
        .flat_map(|(i, f)| {
            f.addresses6
                .iter()
                .filter_map(move |&(a, l)| Ipv6Prefix::new(a, l).map(|p| (p, i)))
        })
        .collect();
    let locals6: Vec<LocalAddr6> = spec
        .interfaces
        .iter()
        .enumerate()
        .flat_map(|(i, f)| {
            f.addresses6
                .iter()
                .map(move |&(addr, prefix_len)| LocalAddr6 {
                    port: i,
                    addr,
                    prefix_len,
                })
        })
        .collect();
    Tables {
        services: ServiceTable::new(spec.services.clone(), locals, generation)
            .with_locals6(locals6)
            .with_port_mtus(spec.interfaces.iter().map(|f| f.mtu).collect()),
        routes: RouteTable::new(&connected, &spec.routes),
        routes6: RouteTable6::new(&connected6, &spec.routes6),
        timeouts: spec.timeouts,
        ipvs: spec.ipvs,
        snat: SnatTable::new(spec.snat_pools.clone()).with_toa_off(&spec.toa_off),
    }
}
