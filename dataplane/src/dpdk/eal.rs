//! The Environment Abstraction Layer: initialisation, lcore launch and wait, cleanup.

use std::cell::RefCell;
use std::ffi::{c_char, c_int, c_void};
use std::marker::PhantomData;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};

use dpdk_sys as sys;

use super::error::DpdkError;

static EAL_STARTED: AtomicBool = AtomicBool::new(false);

/// DPDK objects (ports, pools, rings) alive now: EAL's memory stays while any is.
static LIVE_OBJECTS: AtomicUsize = AtomicUsize::new(0);

/// Held by every DPDK object that needs EAL's memory: while one exists, dropping the
/// [`Eal`] leaves EAL as it is instead of cleaning it up under the object.
#[derive(Debug)]
pub(super) struct EalRef(());

impl EalRef {
    pub(super) fn new(_eal: &Eal) -> EalRef {
        LIVE_OBJECTS.fetch_add(1, Ordering::AcqRel);
        EalRef(())
    }

    /// Keep EAL's memory for the rest of the process, whatever is dropped later (an
    /// object leaving memory behind that may still be used).
    pub(super) fn keep_forever(&self) {
        LIVE_OBJECTS.fetch_add(1, Ordering::AcqRel);
    }
}

impl Drop for EalRef {
    fn drop(&mut self) {
        LIVE_OBJECTS.fetch_sub(1, Ordering::AcqRel);
    }
}

/// The initialised DPDK Environment Abstraction Layer. Exists at most once per process
/// (DPDK cannot be initialised twice); dropping it runs `rte_eal_cleanup` unless a port,
/// pool or ring is still alive. It stays on the thread that created it, EAL's main lcore:
///
/// ```compile_fail
/// fn on_another_thread<T: Send>() {}
/// on_another_thread::<dataplane::dpdk::Eal>();
/// ```
/// ```compile_fail
/// fn shared_between_threads<T: Sync>() {}
/// shared_between_threads::<dataplane::dpdk::Eal>();
/// ```
pub struct Eal {
    /// Neither `Send` nor `Sync`: lcore launch and cleanup belong to the main lcore.
    _main_lcore_only: PhantomData<*const ()>,
}

/// How a job launched on a worker lcore ended.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum LcoreExit {
    /// The job returned this value.
    Returned(i32),
    /// The job panicked (the panic message went to stderr); its lcore is free again.
    Panicked,
}

/// What the launch trampoline returns for a job that panicked.
const PANICKED: c_int = c_int::MIN;

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
        let mut owned: Vec<Vec<u8>> = vec![b"rvsd\0".to_vec()];
        for a in args {
            let a = a.as_ref();
            if a.contains('\0') {
                return Err(DpdkError {
                    call: "rte_eal_init",
                    errno: libc::EINVAL,
                    message: format!("EAL argument {a:?} contains a NUL byte"),
                });
            }
            owned.push([a.as_bytes(), b"\0"].concat());
        }
        // EAL permutes argv and may write into the strings and keep pointers to them, so
        // it gets writable buffers, and an array of pointers, that live as long as the
        // process (once per process: a few hundred bytes).
        let strings: &'static mut [Vec<u8>] = Vec::leak(owned);
        let argv: &'static mut [*mut c_char] = Vec::leak(
            (strings.iter_mut())
                .map(|s| s.as_mut_ptr().cast::<c_char>())
                .collect(),
        );
        // SAFETY: argv holds `argv.len()` pointers to writable NUL-terminated strings,
        // all leaked above, so they outlive the call and whatever EAL keeps of them.
        let rc = unsafe { sys::rte_eal_init(argv.len() as c_int, argv.as_mut_ptr()) };
        if rc < 0 {
            return Err(DpdkError::last("rte_eal_init"));
        }
        Ok(Eal {
            _main_lcore_only: PhantomData,
        })
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

    /// Run `f` with a [`Lcores`] that launches jobs on worker lcores; the jobs may borrow
    /// what outlives this call. When `f` returns (or panics), `stop` is set and every
    /// launched lcore is waited for, so no job outlives what it borrows: a job must return
    /// once it sees `stop`. Returns `f`'s value and how each launched lcore's job ended,
    /// in launch order.
    pub fn scope<'env, F, T>(&'env self, stop: &'env AtomicBool, f: F) -> (T, Vec<(u32, LcoreExit)>)
    where
        F: for<'scope> FnOnce(&'scope Lcores<'scope, 'env>) -> T,
    {
        let lcores = Lcores {
            eal: self,
            stop,
            launched: RefCell::new(Vec::new()),
            exits: RefCell::new(Vec::new()),
            _scope: PhantomData,
            _env: PhantomData,
        };
        let value = {
            // Runs on the way out, also when `f` panics or returns early with an error.
            let _wait = WaitOnExit(&lcores);
            f(&lcores)
        };
        let exits = std::mem::take(&mut *lcores.exits.borrow_mut());
        (value, exits)
    }

    /// `lcore` can take a job: a worker lcore EAL enabled (not the main one).
    fn check_worker_lcore(&self, lcore: u32) -> Result<(), DpdkError> {
        let refuse = |why: &str| DpdkError {
            call: "rte_eal_remote_launch",
            errno: libc::EINVAL,
            message: format!("lcore {lcore} {why}"),
        };
        if lcore >= sys::RTE_MAX_LCORE {
            return Err(refuse("is past RTE_MAX_LCORE"));
        }
        // SAFETY: valid after EAL init; reads EAL's configuration.
        if lcore == unsafe { sys::rte_get_main_lcore() } {
            return Err(refuse("is the main lcore"));
        }
        // SAFETY: lcore < RTE_MAX_LCORE, checked above.
        if unsafe { sys::rte_lcore_is_enabled(lcore) } == 0 {
            return Err(refuse("is not enabled (not in EAL's -l/--lcores)"));
        }
        Ok(())
    }
}

/// Launches jobs on worker lcores for [`Eal::scope`], which waits for them all.
pub struct Lcores<'scope, 'env: 'scope> {
    eal: &'env Eal,
    stop: &'env AtomicBool,
    launched: RefCell<Vec<u32>>,
    exits: RefCell<Vec<(u32, LcoreExit)>>,
    // Invariant in both lifetimes, as std::thread::Scope.
    _scope: PhantomData<&'scope mut &'scope ()>,
    _env: PhantomData<&'env mut &'env ()>,
}

/// Calls a job handed to an lcore; a panic is caught (unwinding into C is undefined) and
/// reported as [`PANICKED`].
extern "C" fn trampoline<F: FnOnce() -> i32 + Send>(arg: *mut c_void) -> c_int {
    // SAFETY: `arg` is the Box<F> leaked by `Lcores::launch`, handed to exactly one lcore.
    let job: Box<F> = unsafe { Box::from_raw(arg.cast::<F>()) };
    match catch_unwind(AssertUnwindSafe(job)) {
        Ok(rc) if rc == PANICKED => rc + 1,
        Ok(rc) => rc,
        Err(_) => PANICKED,
    }
}

impl<'scope> Lcores<'scope, '_> {
    /// Run `job` on worker lcore `lcore`. Refused for the main lcore, a disabled or
    /// unknown one, and one already launched in this scope.
    pub fn launch<F>(&'scope self, lcore: u32, job: F) -> Result<(), DpdkError>
    where
        F: FnOnce() -> i32 + Send + 'scope,
    {
        self.eal.check_worker_lcore(lcore)?;
        if self.launched.borrow().contains(&lcore) {
            return Err(DpdkError {
                call: "rte_eal_remote_launch",
                errno: libc::EBUSY,
                message: format!("lcore {lcore} already runs a job"),
            });
        }
        let raw = Box::into_raw(Box::new(job)).cast::<c_void>();
        // SAFETY: trampoline::<F> has the lcore_function_t signature and takes `raw` back
        // as Box<F>; lcore is an enabled worker lcore (checked). The job may borrow for
        // 'scope: the scope waits for this lcore before it ends.
        let rc = unsafe { sys::rte_eal_remote_launch(Some(trampoline::<F>), raw, lcore) };
        if rc == -libc::EBUSY {
            // SAFETY: EAL refuses a busy lcore before it takes the job, so it is still ours.
            drop(unsafe { Box::from_raw(raw.cast::<F>()) });
            return Err(DpdkError::new("rte_eal_remote_launch", rc));
        }
        // Any other failure came after EAL stored the job and wrote the wake-up byte (-EPIPE
        // on a failed acknowledgement): the lcore may still run it, so the job is not
        // freed here (at worst it leaks) and the lcore is waited for like any other.
        self.launched.borrow_mut().push(lcore);
        if rc < 0 {
            return Err(DpdkError::new("rte_eal_remote_launch", rc));
        }
        Ok(())
    }

    /// Set the stop flag and wait for every lcore launched so far.
    fn stop_and_wait(&self) {
        self.stop.store(true, Ordering::Release);
        for lcore in self.launched.borrow_mut().drain(..) {
            // SAFETY: `lcore` passed check_worker_lcore; waiting on it from the main
            // lcore is what EAL expects.
            let rc = unsafe { sys::rte_eal_wait_lcore(lcore) };
            let exit = if rc == PANICKED {
                LcoreExit::Panicked
            } else {
                LcoreExit::Returned(rc)
            };
            self.exits.borrow_mut().push((lcore, exit));
        }
    }
}

/// Stops and waits for a scope's lcores when dropped.
struct WaitOnExit<'a, 'scope, 'env>(&'a Lcores<'scope, 'env>);

impl Drop for WaitOnExit<'_, '_, '_> {
    fn drop(&mut self) {
        self.0.stop_and_wait();
    }
}

impl Drop for Eal {
    fn drop(&mut self) {
        let live = LIVE_OBJECTS.load(Ordering::Acquire);
        if live > 0 {
            // A port, pool or ring still uses EAL's memory: leave it (the process is
            // about to exit anyway) rather than free it under them.
            eprintln!("rvs: {live} DPDK objects still alive; EAL not cleaned up");
            return;
        }
        // SAFETY: no port, pool or ring is alive (each holds an EalRef) and every lcore
        // job has ended (scopes wait for them, and an Eal outlives its scopes).
        unsafe {
            sys::rte_eal_cleanup();
        }
    }
}

/// DPDK version rvs was built against.
pub fn dpdk_version() -> &'static str {
    sys::DPDK_VERSION
}
