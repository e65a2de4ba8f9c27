//! The Environment Abstraction Layer: initialisation, lcore launch and wait, cleanup.

use std::ffi::{c_char, c_int, c_void, CString};
use std::sync::atomic::{AtomicBool, Ordering};

use dpdk_sys as sys;

use super::error::DpdkError;

static EAL_STARTED: AtomicBool = AtomicBool::new(false);

/// The initialised DPDK Environment Abstraction Layer. Exists at most once per process
/// (DPDK cannot be initialised twice); dropping it runs `rte_eal_cleanup`.
pub struct Eal {
    _private: (),
}

impl Eal {
    /// Initialise EAL with `args` (as on a DPDK command line, without the program name).
    pub fn init<S: AsRef<str>>(args: &[S]) -> Result<Eal, DpdkError> {
        if EAL_STARTED.swap(true, Ordering::SeqCst) {
            return Err(DpdkError {
                call: "rte_eal_init",
                errno: libc::EALREADY,
                message: "EAL is already initialised in this process".into(),
            });
        }
        let mut owned: Vec<CString> = vec![CString::new("rvsd").expect("no NUL")];
        for a in args {
            owned.push(CString::new(a.as_ref()).map_err(|_| DpdkError {
                call: "rte_eal_init",
                errno: libc::EINVAL,
                message: format!("EAL argument {:?} contains a NUL byte", a.as_ref()),
            })?);
        }
        // EAL may permute argv, so it gets its own array of pointers.
        let mut argv: Vec<*mut c_char> = owned.iter().map(|s| s.as_ptr() as *mut c_char).collect();
        // SAFETY: argv points to `owned.len()` valid NUL-terminated strings that outlive the
        // call (EAL keeps no pointer to argv after returning, except for strings it strdup's).
        let rc = unsafe { sys::rte_eal_init(argv.len() as c_int, argv.as_mut_ptr()) };
        if rc < 0 {
            return Err(DpdkError::last("rte_eal_init"));
        }
        Ok(Eal { _private: () })
    }

    /// TSC ticks per second.
    pub fn tsc_hz(&self) -> u64 {
        // SAFETY: valid after EAL init, which `self` proves.
        unsafe { sys::rte_get_tsc_hz() }
    }

    /// EAL's run directory (`/var/run/dpdk/<file prefix>` for root): its telemetry
    /// socket and shared configuration live there.
    pub fn runtime_dir(&self) -> std::path::PathBuf {
        // SAFETY: valid after EAL init; EAL returns a NUL-terminated string it owns.
        let dir = unsafe { std::ffi::CStr::from_ptr(sys::rte_eal_get_runtime_dir()) };
        std::path::PathBuf::from(dir.to_string_lossy().into_owned())
    }

    /// Number of Ethernet ports EAL probed.
    pub fn port_count(&self) -> u16 {
        // SAFETY: valid after EAL init.
        unsafe { sys::rte_eth_dev_count_avail() }
    }

    /// The lcore the calling thread runs on (`u32::MAX` for non-EAL threads).
    pub fn current_lcore() -> u32 {
        // SAFETY: reads a thread-local; no preconditions.
        unsafe { sys::rvs_lcore_id() }
    }

    /// Run `f` on worker lcore `lcore`. Fails if the lcore is not enabled or busy.
    pub fn launch<F>(&self, lcore: u32, f: F) -> Result<(), DpdkError>
    where
        F: FnOnce() -> i32 + Send + 'static,
    {
        type Job = Box<dyn FnOnce() -> i32 + Send>;
        extern "C" fn trampoline(arg: *mut c_void) -> c_int {
            // SAFETY: `arg` is the Box<Job> leaked below, handed to exactly one lcore.
            let job: Box<Job> = unsafe { Box::from_raw(arg as *mut Job) };
            job()
        }
        let job: Box<Job> = Box::new(Box::new(f));
        let raw = Box::into_raw(job) as *mut c_void;
        // SAFETY: trampoline has the lcore_function_t signature; `raw` stays valid until the
        // trampoline takes it back. On failure EAL did not take it, so we free it here.
        let rc = unsafe { sys::rte_eal_remote_launch(Some(trampoline), raw, lcore) };
        if rc < 0 {
            // SAFETY: the launch failed, so the job was not handed over; reclaim it.
            drop(unsafe { Box::from_raw(raw as *mut Job) });
            return Err(DpdkError::new("rte_eal_remote_launch", rc));
        }
        Ok(())
    }

    /// Wait for the job on `lcore` to finish; returns its return value.
    pub fn wait(&self, lcore: u32) -> i32 {
        // SAFETY: valid after EAL init; waiting on an idle lcore returns at once.
        unsafe { sys::rte_eal_wait_lcore(lcore) }
    }
}

impl Drop for Eal {
    fn drop(&mut self) {
        // SAFETY: every port, pool and ring handed out borrows nothing from Eal but is
        // dropped by rvsd before the Eal (declaration order in main); cleanup is last.
        unsafe {
            sys::rte_eal_cleanup();
        }
    }
}

/// DPDK version rvs was built against.
pub fn dpdk_version() -> &'static str {
    sys::DPDK_VERSION
}
