//! The control thread: a current-thread tokio runtime on rvsd's main thread (pinned by EAL
//! to the main lcore) running the admin API and the health checks, and the wait loop that
//! acts on signals, applies health transitions, frees old tables and runs the rate
//! estimator until a signal or the workers end it.

use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{Context, Result};
use parking_lot::Mutex;
use tokio::runtime::Runtime;
use tokio::signal::unix::{signal, Signal, SignalKind};
use tracing::{info, warn};

use super::affinity;
use crate::http::{self, AdminState};
use crate::plane::ControlPlane;
use crate::state::{estimator, RuntimeView};

/// How often the wait loop looks at the workers and the health checkers.
const ROUND: Duration = Duration::from_millis(20);

/// The signals the control thread acts on.
struct Signals {
    /// SIGINT: stop.
    interrupt: Signal,
    /// SIGTERM: stop.
    terminate: Signal,
    /// SIGHUP: re-read the configuration file.
    hangup: Signal,
}

/// The control thread's runtime, with the signal handlers installed.
pub struct ControlThread {
    runtime: Runtime,
    signals: Signals,
}

impl ControlThread {
    /// Build the runtime and install the signal handlers. rvsd does this before EAL
    /// starts, so a SIGTERM during start-up stops it once it is up instead of killing it
    /// half-way.
    pub fn new() -> Result<ControlThread> {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .on_thread_start(affinity::pin_to_control_cpu)
            .build()
            .context("cannot start the control thread's runtime")?;
        let signals = {
            let _in_runtime = runtime.enter();
            let install = |kind| signal(kind).context("cannot install signal handler");
            Signals {
                interrupt: install(SignalKind::interrupt())?,
                terminate: install(SignalKind::terminate())?,
                hangup: install(SignalKind::hangup())?,
            }
        };
        Ok(ControlThread { runtime, signals })
    }

    /// Run the control plane until SIGINT/SIGTERM or until every worker has finished
    /// (`done`): health checks, the admin API on `admin_listen`, reloads on SIGHUP. The
    /// runtime (and with it every checker and the API) is gone when this returns.
    pub fn run(
        self,
        plane: Arc<Mutex<ControlPlane>>,
        runtime_view: Arc<RuntimeView>,
        admin_listen: Option<SocketAddr>,
        done: &[Arc<AtomicBool>],
    ) -> Result<()> {
        let ControlThread {
            runtime,
            mut signals,
        } = self;
        plane.lock().start_health(runtime.handle().clone());
        let result = runtime.block_on(async {
            if let Some(addr) = admin_listen {
                serve_admin(addr, plane.clone(), runtime_view.clone()).await?;
            }
            info!("rvsd running");
            wait_loop(&plane, &runtime_view, &mut signals, done).await;
            anyhow::Ok(())
        });
        // The checkers' and the API's tasks end with the runtime, before the plane goes.
        drop(runtime);
        result
    }
}

/// Start the admin API and /metrics on `addr`.
async fn serve_admin(
    addr: SocketAddr,
    plane: Arc<Mutex<ControlPlane>>,
    runtime: Arc<RuntimeView>,
) -> Result<()> {
    let listener = tokio::net::TcpListener::bind(addr)
        .await
        .with_context(|| format!("cannot listen on admin address {addr} (admin.listen)"))?;
    let state = AdminState { plane, runtime };
    info!(addr = %listener.local_addr().unwrap_or(addr), "admin API and /metrics listening");
    tokio::spawn(async move {
        if let Err(e) = axum::serve(listener, http::router(state)).await {
            warn!(error = %e, "admin server stopped");
        }
    });
    Ok(())
}

/// Every round: health transitions become a new table, tables no worker sees any more are
/// freed, and every estimator interval the rates are updated. A signal wakes it at once.
async fn wait_loop(
    plane: &Mutex<ControlPlane>,
    runtime: &RuntimeView,
    signals: &mut Signals,
    done: &[Arc<AtomicBool>],
) {
    let mut last_estimate = Instant::now();
    loop {
        tokio::select! {
            _ = signals.interrupt.recv() => break,
            _ = signals.terminate.recv() => break,
            _ = signals.hangup.recv() => {
                info!("SIGHUP: reloading the configuration");
                let _ = plane.lock().reload_file();
            }
            _ = tokio::time::sleep(ROUND) => {}
        }
        if done.iter().all(|d| d.load(Ordering::Acquire)) {
            info!("workers finished");
            return;
        }
        {
            let mut p = plane.lock();
            // Health transitions since the last round become a new table.
            p.refresh_health();
            p.reclaim();
        }
        if last_estimate.elapsed() >= Duration::from_secs(estimator::INTERVAL_S) {
            last_estimate = Instant::now();
            runtime.estimator.lock().tick(&runtime.workers);
        }
    }
    info!("shutting down");
}
