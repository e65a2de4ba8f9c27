//! rvsd's life cycle: `lifecycle::run` starts EAL, the ports and the workers in named
//! steps (`ports`, `workers`), hands over to the control thread (`control_thread`: the
//! tokio runtime with the admin API, the health checks, signals and the wait loop) and
//! shuts down in order. `affinity` keeps rvsd's own threads on the control core;
//! `cpu_lock` claims the worker CPUs in the run directory and warns when another rvsd's
//! worker already polls one; `isn_secret` keeps FULLNAT's sequence-number secret there
//! across restarts.
//! `run_dir` removes EAL's run directory at exit and dead rvsd processes' ones at start.
//!
//! The top of the crate: it uses the spec, the control plane, the runtime state and the
//! HTTP layer; nothing uses it.

mod affinity;
mod control_thread;
mod cpu_lock;
mod isn_secret;
mod lifecycle;
mod ports;
mod run_dir;
mod workers;

pub use control_thread::ControlThread;
pub use cpu_lock::DEFAULT_RUN_DIR;
pub use lifecycle::{run, RunOptions, MAX_WORKERS};
