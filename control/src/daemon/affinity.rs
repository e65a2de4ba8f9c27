//! rvsd's own threads on the control core.
//!
//! EAL pins each worker to its lcore's CPU and the thread that initialised it (rvsd's
//! main thread, which becomes the control thread: admin API, health checks, the wait
//! loop) to the main lcore's CPUs. Any other thread rvsd starts (the control runtime's
//! helper threads: tokio's blocking pool) is pinned here to the same CPU, whichever
//! thread starts it, so that nothing of rvsd's own competes with a worker for its core.

use std::sync::OnceLock;

use core_affinity::CoreId;

/// The CPUs of the main lcore, as EAL set them on the control thread.
static CONTROL_CPUS: OnceLock<Vec<CoreId>> = OnceLock::new();

/// Record the CPUs the calling thread may run on as the control core's: call it on the
/// control thread right after EAL initialisation. Returns their numbers (for the log).
pub fn adopt_control_cpus() -> Vec<usize> {
    let cpus = core_affinity::get_core_ids().unwrap_or_default();
    let ids = cpus.iter().map(|c| c.id).collect();
    // A second daemon in one process (tests) keeps the first's: same EAL, same main lcore.
    let _ = CONTROL_CPUS.set(cpus);
    ids
}

/// Pin the calling thread to the control core (the first CPU of the main lcore's set);
/// nothing before [`adopt_control_cpus`]. The control runtime runs it on every thread
/// it starts.
pub fn pin_to_control_cpu() {
    if let Some(&cpu) = CONTROL_CPUS.get().and_then(|c| c.first()) {
        if !core_affinity::set_for_current(cpu) {
            tracing::warn!(
                cpu = cpu.id,
                "cannot pin a control-plane thread to the control core"
            );
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A helper thread of a runtime built before the control core is known, started by a
    /// thread that may run anywhere, lands on the control core.
    #[test]
    fn runtime_helper_threads_run_on_the_control_cpu() {
        let all = core_affinity::get_core_ids().unwrap();
        let control = *all.last().unwrap();
        let adopted = std::thread::spawn(move || {
            assert!(core_affinity::set_for_current(control));
            adopt_control_cpus()
        })
        .join()
        .unwrap();
        assert_eq!(adopted, vec![control.id]);
        let rt = tokio::runtime::Builder::new_current_thread()
            .on_thread_start(pin_to_control_cpu)
            .build()
            .unwrap();
        let seen = rt
            .block_on(rt.spawn_blocking(|| core_affinity::get_core_ids().unwrap()))
            .unwrap();
        assert_eq!(seen, vec![control]);
    }
}
