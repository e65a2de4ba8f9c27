//! The thin safe layer over `dpdk-sys`: EAL, ports, mempools, mbufs, rings, lcore launch.
//!
//! This module (and only this module) calls into DPDK. Every `unsafe` block states why it
//! is sound. Owning types free what they own in `Drop`; packet bytes are handed out as
//! `&[u8]`/`&mut [u8]` borrowed from an [`Mbuf`], so no header view can outlive an edit.

use std::ffi::{c_char, c_int, c_void, CStr, CString};
use std::fmt;
use std::ptr::NonNull;
use std::sync::atomic::{AtomicBool, Ordering};

use dpdk_sys as sys;

/// Largest burst rvs ever asks for or sends.
pub const BURST: usize = 32;

/// An error from a DPDK call: which call, and DPDK's own message for the error number.
#[derive(Debug, thiserror::Error)]
#[error("{call} failed: {message} (errno {errno})")]
pub struct DpdkError {
    /// The DPDK function (or rvs operation) that failed.
    pub call: &'static str,
    /// The (positive) error number.
    pub errno: i32,
    /// `rte_strerror` text.
    pub message: String,
}

impl DpdkError {
    fn new(call: &'static str, errno: i32) -> Self {
        let errno = errno.abs();
        // SAFETY: rte_strerror returns a pointer to a static or thread-local NUL-terminated
        // string for any error number; we copy it out immediately.
        let message = unsafe { CStr::from_ptr(sys::rte_strerror(errno)) }
            .to_string_lossy()
            .into_owned();
        DpdkError {
            call,
            errno,
            message,
        }
    }

    /// An error whose explanation comes from the PMD (`message`, a static C string or
    /// null), as rte_flow reports them; rte_strerror's text when there is none.
    fn with_pmd_message(call: &'static str, errno: i32, message: *const c_char) -> Self {
        let mut e = Self::new(call, errno);
        if !message.is_null() {
            // SAFETY: rte_flow_error.message points to a static NUL-terminated string set
            // by the PMD (or is null, checked above); copied out at once.
            let pmd = unsafe { CStr::from_ptr(message) }.to_string_lossy();
            if pmd != e.message {
                e.message = format!("{pmd} ({})", e.message);
            }
        }
        e
    }

    fn last(call: &'static str) -> Self {
        // SAFETY: reads the calling thread's rte_errno; no preconditions.
        let errno = unsafe { sys::rvs_errno() };
        Self::new(call, errno)
    }
}

fn check(call: &'static str, rc: c_int) -> Result<c_int, DpdkError> {
    if rc < 0 {
        Err(DpdkError::new(call, rc))
    } else {
        Ok(rc)
    }
}

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

/// Bytes of frame one mbuf of a [`Mempool`] holds (DPDK's default data room, 2048): rvs
/// does not chain mbufs, so this bounds the frames a port takes, hence its MTU.
pub const MBUF_DATA_ROOM: usize =
    (sys::RTE_MBUF_DEFAULT_BUF_SIZE - sys::RTE_PKTMBUF_HEADROOM) as usize;

/// A packet-buffer pool (`rte_pktmbuf_pool_create`). Thread-safe by DPDK's design.
pub struct Mempool {
    ptr: NonNull<sys::rte_mempool>,
}

// SAFETY: rte_mempool get/put operations are multi-producer/multi-consumer safe.
unsafe impl Send for Mempool {}
// SAFETY: as above; shared references only call thread-safe DPDK functions.
unsafe impl Sync for Mempool {}

impl Mempool {
    /// Create a pool of `n` mbufs with a per-lcore cache of `cache` and the default data room.
    pub fn new(_eal: &Eal, name: &str, n: u32, cache: u32) -> Result<Mempool, DpdkError> {
        let cname = CString::new(name)
            .map_err(|_| DpdkError::new("rte_pktmbuf_pool_create", libc::EINVAL))?;
        // SAFETY: valid name; EAL is initialised (witnessed by `_eal`).
        let ptr = unsafe {
            sys::rte_pktmbuf_pool_create(
                cname.as_ptr(),
                n,
                cache,
                0,
                sys::RTE_MBUF_DEFAULT_BUF_SIZE as u16,
                sys::SOCKET_ID_ANY,
            )
        };
        NonNull::new(ptr)
            .map(|ptr| Mempool { ptr })
            .ok_or_else(|| DpdkError::last("rte_pktmbuf_pool_create"))
    }

    /// Allocate one mbuf (empty, default headroom).
    #[inline]
    pub fn alloc(&self) -> Option<Mbuf> {
        // SAFETY: the pool pointer is valid for the life of self.
        NonNull::new(unsafe { sys::rvs_pktmbuf_alloc(self.ptr.as_ptr()) }).map(|ptr| Mbuf { ptr })
    }

    /// Mbufs available in the pool (including per-lcore caches).
    pub fn available(&self) -> u32 {
        // SAFETY: the pool pointer is valid.
        unsafe { sys::rte_mempool_avail_count(self.ptr.as_ptr()) }
    }

    /// Mbufs currently allocated.
    pub fn in_use(&self) -> u32 {
        // SAFETY: the pool pointer is valid.
        unsafe { sys::rte_mempool_in_use_count(self.ptr.as_ptr()) }
    }

    fn as_ptr(&self) -> *mut sys::rte_mempool {
        self.ptr.as_ptr()
    }
}

impl Drop for Mempool {
    fn drop(&mut self) {
        // SAFETY: rvsd drops pools after the ports that use them are closed.
        unsafe { sys::rte_mempool_free(self.ptr.as_ptr()) }
    }
}

/// One owned packet buffer. Freed on drop unless handed to a TX queue or ring.
pub struct Mbuf {
    ptr: NonNull<sys::rte_mbuf>,
}

/// Start and length of an mbuf's first segment: `rte_pktmbuf_mtod` (buffer address plus
/// `data_off`) and `rte_pktmbuf_data_len`, read from the fields in Rust rather than through
/// the C shim (two calls per access on the per-packet path). `m` must be a valid mbuf.
#[inline(always)]
fn first_segment(m: *mut sys::rte_mbuf) -> (*mut u8, usize) {
    // SAFETY: `m` is a valid mbuf (every caller holds one it owns); these are plain field
    // reads of the struct bindgen generated from DPDK's own header (its layout tests check
    // every offset), and data_off < buf_len keeps the address inside the buffer.
    unsafe {
        let data = (*m).buf_addr.cast::<u8>().add(usize::from((*m).data_off));
        (data, usize::from((*m).data_len))
    }
}

// SAFETY: an mbuf is owned by exactly one Mbuf value; moving it between threads is how
// DPDK applications pass packets (the pool is thread-safe for the final free).
unsafe impl Send for Mbuf {}

impl Mbuf {
    /// The packet's bytes (first segment).
    #[inline]
    pub fn data(&self) -> &[u8] {
        let (p, len) = first_segment(self.ptr.as_ptr());
        // SAFETY: `first_segment` gives data_len initialised bytes inside the mbuf's buffer,
        // which we own; the slice borrows self, so it cannot outlive or alias a mutation.
        unsafe { std::slice::from_raw_parts(p, len) }
    }

    /// The packet's bytes, writable in place.
    #[inline]
    pub fn data_mut(&mut self) -> &mut [u8] {
        let (p, len) = first_segment(self.ptr.as_ptr());
        // SAFETY: as in `data`, and `&mut self` makes the borrow exclusive.
        unsafe { std::slice::from_raw_parts_mut(p, len) }
    }

    /// Length of the first segment.
    #[inline]
    pub fn len(&self) -> usize {
        first_segment(self.ptr.as_ptr()).1
    }

    /// True when the buffer holds no bytes.
    #[inline]
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Number of chained segments (rvs handles single-segment packets only).
    #[inline]
    pub fn segments(&self) -> u16 {
        // SAFETY: a plain field read of the valid mbuf we own, from the struct bindgen
        // generated (read in Rust: through the C shim it was a call per packet).
        unsafe { (*self.ptr.as_ptr()).nb_segs }
    }

    /// DPDK id of the port the packet was received on.
    #[inline]
    pub fn port(&self) -> u16 {
        // SAFETY: reads a field of a valid mbuf.
        unsafe { sys::rvs_mbuf_port(self.ptr.as_ptr()) }
    }

    /// RSS hash the NIC computed (0 if none).
    #[inline]
    pub fn rss_hash(&self) -> u32 {
        // SAFETY: reads a field of a valid mbuf.
        unsafe { sys::rvs_mbuf_rss_hash(self.ptr.as_ptr()) }
    }

    /// Grow the packet at the end by `n` bytes; returns the new tail, or None without room.
    #[inline]
    pub fn append(&mut self, n: usize) -> Option<&mut [u8]> {
        let n16 = u16::try_from(n).ok()?;
        // SAFETY: rte_pktmbuf_append returns NULL or a pointer to `n` writable bytes in the
        // buffer we own; the slice borrows self mutably.
        unsafe {
            let p = sys::rvs_pktmbuf_append(self.ptr.as_ptr(), n16) as *mut u8;
            if p.is_null() {
                return None;
            }
            Some(std::slice::from_raw_parts_mut(p, n))
        }
    }

    /// Grow the packet at the front by `n` bytes (into the headroom). False without room.
    #[inline]
    pub fn prepend(&mut self, n: usize) -> bool {
        let Ok(n16) = u16::try_from(n) else {
            return false;
        };
        // SAFETY: returns NULL (no change) or moves data_off back within the buffer.
        !unsafe { sys::rvs_pktmbuf_prepend(self.ptr.as_ptr(), n16) }.is_null()
    }

    /// Remove `n` bytes from the front. False if the packet is shorter.
    #[inline]
    pub fn adj(&mut self, n: usize) -> bool {
        let Ok(n16) = u16::try_from(n) else {
            return false;
        };
        // SAFETY: returns NULL (no change) if n exceeds the first segment.
        !unsafe { sys::rvs_pktmbuf_adj(self.ptr.as_ptr(), n16) }.is_null()
    }

    /// Remove `n` bytes from the end. False if the packet is shorter.
    #[inline]
    pub fn trim(&mut self, n: usize) -> bool {
        let Ok(n16) = u16::try_from(n) else {
            return false;
        };
        // SAFETY: fails without change if n exceeds the last segment.
        unsafe { sys::rvs_pktmbuf_trim(self.ptr.as_ptr(), n16) == 0 }
    }

    /// Set the packet length to `len` bytes (shrinking or growing at the tail).
    pub fn set_len(&mut self, len: usize) -> bool {
        let cur = self.len();
        if len <= cur {
            self.trim(cur - len)
        } else {
            self.append(len - cur).is_some()
        }
    }

    fn into_raw(self) -> *mut sys::rte_mbuf {
        let p = self.ptr.as_ptr();
        std::mem::forget(self);
        p
    }

    /// # Safety
    /// `p` must be a non-null mbuf owned by the caller and not referenced elsewhere.
    unsafe fn from_raw(p: *mut sys::rte_mbuf) -> Mbuf {
        Mbuf {
            // SAFETY: the caller guarantees p is non-null.
            ptr: unsafe { NonNull::new_unchecked(p) },
        }
    }
}

impl Drop for Mbuf {
    fn drop(&mut self) {
        // SAFETY: we own the mbuf; after this nobody references it.
        unsafe { sys::rvs_pktmbuf_free(self.ptr.as_ptr()) }
    }
}

impl fmt::Debug for Mbuf {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Mbuf({} bytes)", self.len())
    }
}

/// A burst of received mbufs, filled by [`RxQueue::rx_burst`]. Fixed size, no allocation.
pub struct RxBurst {
    ptrs: [*mut sys::rte_mbuf; BURST],
    len: usize,
    next: usize,
}

impl Default for RxBurst {
    fn default() -> Self {
        RxBurst {
            ptrs: [std::ptr::null_mut(); BURST],
            len: 0,
            next: 0,
        }
    }
}

impl RxBurst {
    /// Take the next received mbuf.
    #[inline]
    pub fn pop(&mut self) -> Option<Mbuf> {
        if self.next < self.len {
            let p = self.ptrs[self.next];
            self.next += 1;
            // SAFETY: slots [next, len) hold mbufs the PMD handed us and nobody else owns.
            Some(unsafe { Mbuf::from_raw(p) })
        } else {
            None
        }
    }

    /// Packets received in the last burst.
    pub fn received(&self) -> usize {
        self.len
    }

    /// The bytes (first segment) of each mbuf not taken yet, in order: lets a worker look
    /// at a whole burst (e.g. to prefetch its connections) before handling it packet by
    /// packet.
    pub fn pending(&self) -> impl Iterator<Item = &[u8]> + '_ {
        self.ptrs[self.next..self.len].iter().map(|&p| {
            // SAFETY: slots [next, len) hold valid mbufs this burst owns; mtod points at
            // data_len initialised bytes of each. The slices borrow the burst, so no mbuf
            // can be popped (then written or freed) while they live.
            unsafe {
                let (data, len) = first_segment(p);
                std::slice::from_raw_parts(data, len)
            }
        })
    }
}

// SAFETY: the burst exclusively owns the mbufs in slots [next, len), and Mbuf is Send.
unsafe impl Send for RxBurst {}

impl Drop for RxBurst {
    fn drop(&mut self) {
        while self.pop().is_some() {}
    }
}

/// Result of flushing a [`TxBuffer`].
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct TxResult {
    /// Packets the PMD accepted.
    pub sent: u32,
    /// Bytes the PMD accepted.
    pub bytes: u64,
    /// Packets the PMD refused (freed by rvs).
    pub dropped: u32,
}

/// Packets waiting to be sent on one TX queue. Fixed size, no allocation.
pub struct TxBuffer {
    ptrs: [*mut sys::rte_mbuf; BURST],
    lens: [u16; BURST],
    len: usize,
}

impl Default for TxBuffer {
    fn default() -> Self {
        TxBuffer {
            ptrs: [std::ptr::null_mut(); BURST],
            lens: [0; BURST],
            len: 0,
        }
    }
}

impl TxBuffer {
    /// True when the buffer is full and must be flushed before the next push.
    #[inline]
    pub fn is_full(&self) -> bool {
        self.len == BURST
    }

    /// Packets waiting.
    #[inline]
    pub fn len(&self) -> usize {
        self.len
    }

    /// True when nothing waits.
    #[inline]
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// Queue a packet. The caller flushes first when [`is_full`](Self::is_full); a push on a
    /// full buffer frees the packet and returns false.
    #[inline]
    pub fn push(&mut self, m: Mbuf) -> bool {
        if self.len == BURST {
            return false;
        }
        self.lens[self.len] = m.len() as u16;
        self.ptrs[self.len] = m.into_raw();
        self.len += 1;
        true
    }
}

// SAFETY: the buffer exclusively owns the mbufs it holds (like a Vec<Mbuf>), and Mbuf is Send.
unsafe impl Send for TxBuffer {}

impl Drop for TxBuffer {
    fn drop(&mut self) {
        for p in &self.ptrs[..self.len] {
            // SAFETY: slots [0, len) hold mbufs owned by this buffer.
            drop(unsafe { Mbuf::from_raw(*p) });
        }
    }
}

/// A configured and started Ethernet port.
pub struct Port {
    id: u16,
    name: String,
    mac: [u8; 6],
    queues: u16,
    started: bool,
}

/// Per-port hardware/PMD counters.
#[derive(Clone, Copy, Debug, Default)]
pub struct PortStats {
    /// Packets received.
    pub ipackets: u64,
    /// Packets sent.
    pub opackets: u64,
    /// Bytes received.
    pub ibytes: u64,
    /// Bytes sent.
    pub obytes: u64,
    /// Packets dropped by the device because no RX buffer was free.
    pub imissed: u64,
    /// RX errors.
    pub ierrors: u64,
    /// TX errors.
    pub oerrors: u64,
    /// RX mbuf allocation failures.
    pub rx_nombuf: u64,
}

impl Port {
    /// Find the port EAL created for the device `name` (e.g. `net_af_packet0`).
    /// Configure `queues` RX and TX queues drawing from `pool`, enable promiscuous mode
    /// (virtual ports deliver frames for the VIP's MAC only then) and start it.
    pub fn open(eal: &Eal, name: &str, queues: u16, pool: &Mempool) -> Result<Port, DpdkError> {
        Self::open_with_ring(eal, name, queues, pool, 1024)
    }

    /// [`Port::open`] with `ring` descriptors per RX and TX queue instead of 1024 (a
    /// low-rate port such as the exception path's TAP, whose PMD allocates a whole RX
    /// ring of mbufs up front, needs few).
    pub fn open_with_ring(
        _eal: &Eal,
        name: &str,
        queues: u16,
        pool: &Mempool,
        ring: u16,
    ) -> Result<Port, DpdkError> {
        let cname = CString::new(name)
            .map_err(|_| DpdkError::new("rte_eth_dev_get_port_by_name", libc::EINVAL))?;
        let mut id: u16 = 0;
        // SAFETY: valid C string and out pointer.
        check("rte_eth_dev_get_port_by_name", unsafe {
            sys::rte_eth_dev_get_port_by_name(cname.as_ptr(), &mut id)
        })?;
        let mut info = sys::rte_eth_dev_info::default();
        // SAFETY: valid port id and out pointer.
        check("rte_eth_dev_info_get", unsafe {
            sys::rte_eth_dev_info_get(id, &mut info)
        })?;
        if queues > info.max_rx_queues || queues > info.max_tx_queues {
            return Err(DpdkError {
                call: "rte_eth_dev_configure",
                errno: libc::EINVAL,
                message: format!(
                    "device {name} supports {} rx / {} tx queues, {queues} needed (one per worker); for af_packet add qpairs={queues}",
                    info.max_rx_queues, info.max_tx_queues
                ),
            });
        }
        let mut conf = sys::rte_eth_conf::default();
        if queues > 1 {
            conf.rxmode.mq_mode = sys::rte_eth_rx_mq_mode_RTE_ETH_MQ_RX_RSS;
            conf.rx_adv_conf.rss_conf.rss_hf = // SAFETY: returns a constant.
                unsafe { sys::rvs_rss_hf_ip_tcp_udp() } & info.flow_type_rss_offloads;
        }
        // SAFETY: valid port, conf fully initialised (zeroed default plus the fields above).
        check("rte_eth_dev_configure", unsafe {
            sys::rte_eth_dev_configure(id, queues, queues, &conf)
        })?;
        // SAFETY: valid port id.
        let socket = unsafe { sys::rte_eth_dev_socket_id(id) };
        let socket = if socket < 0 { 0 } else { socket as u32 };
        for q in 0..queues {
            // SAFETY: queue index < configured count; NULL conf = driver defaults; pool valid.
            check("rte_eth_rx_queue_setup", unsafe {
                sys::rte_eth_rx_queue_setup(id, q, ring, socket, std::ptr::null(), pool.as_ptr())
            })?;
            // SAFETY: as above.
            check("rte_eth_tx_queue_setup", unsafe {
                sys::rte_eth_tx_queue_setup(id, q, ring, socket, std::ptr::null())
            })?;
        }
        // SAFETY: valid port. Promiscuous mode is best effort (some PMDs lack it).
        let _ = unsafe { sys::rte_eth_promiscuous_enable(id) };
        // SAFETY: the port is configured with all its queues.
        check("rte_eth_dev_start", unsafe { sys::rte_eth_dev_start(id) })?;
        let mut addr = sys::rte_ether_addr::default();
        // SAFETY: valid port and out pointer.
        check("rte_eth_macaddr_get", unsafe {
            sys::rte_eth_macaddr_get(id, &mut addr)
        })?;
        Ok(Port {
            id,
            name: name.to_string(),
            mac: addr.addr_bytes,
            queues,
            started: true,
        })
    }

    /// DPDK port id.
    pub fn id(&self) -> u16 {
        self.id
    }

    /// Device name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// Set the port's MAC address (for net_tap this also sets the kernel interface's).
    pub fn set_mac(&mut self, mac: [u8; 6]) -> Result<(), DpdkError> {
        let mut addr = sys::rte_ether_addr { addr_bytes: mac };
        // SAFETY: valid port id and a valid address to read.
        check("rte_eth_dev_default_mac_addr_set", unsafe {
            sys::rte_eth_dev_default_mac_addr_set(self.id, &mut addr)
        })?;
        self.mac = mac;
        Ok(())
    }

    /// The port's MAC address.
    pub fn mac(&self) -> [u8; 6] {
        self.mac
    }

    /// Queue pairs configured.
    pub fn queues(&self) -> u16 {
        self.queues
    }

    /// Ask the port (rte_flow) to deliver ingress TCP (`l4_proto` 6) or UDP (17) packets
    /// for local address `addr` whose destination port satisfies `port & mask == value`
    /// to RX queue `queue`. With `validate_only`, only ask whether it would take the rule
    /// (nothing is installed). Rules live until the port is closed.
    pub fn steer_dst_port(
        &self,
        addr: std::net::IpAddr,
        l4_proto: u8,
        value: u16,
        mask: u16,
        queue: u16,
        validate_only: bool,
    ) -> Result<(), DpdkError> {
        let (bytes, is_v6) = match addr {
            std::net::IpAddr::V4(a) => {
                let mut b = [0u8; 16];
                b[..4].copy_from_slice(&a.octets());
                (b, false)
            }
            std::net::IpAddr::V6(a) => (a.octets(), true),
        };
        let mut message: *const c_char = std::ptr::null();
        // SAFETY: valid port id; `bytes` holds the 4 or 16 address bytes the shim reads
        // for `is_v6`; `message` is a valid out pointer. The shim builds the rule on its
        // stack and DPDK copies what it keeps.
        let rc = unsafe {
            sys::rvs_flow_steer_dst_port(
                self.id,
                c_int::from(is_v6),
                bytes.as_ptr(),
                l4_proto,
                value,
                mask,
                queue,
                c_int::from(validate_only),
                &mut message,
            )
        };
        if rc == 0 {
            Ok(())
        } else {
            Err(DpdkError::with_pmd_message("rte_flow", rc, message))
        }
    }

    /// RX queue `q` of this port, for one worker. Only one worker may poll a queue.
    pub fn rx_queue(&self, q: u16) -> RxQueue {
        RxQueue {
            port: self.id,
            queue: q,
        }
    }

    /// TX queue `q` of this port, for one worker.
    pub fn tx_queue(&self, q: u16) -> TxQueue {
        TxQueue {
            port: self.id,
            queue: q,
        }
    }

    /// The device's counters.
    pub fn stats(&self) -> PortStats {
        let mut s = sys::rte_eth_stats::default();
        // SAFETY: valid port and out pointer.
        let rc = unsafe { sys::rte_eth_stats_get(self.id, &mut s) };
        if rc != 0 {
            return PortStats::default();
        }
        PortStats {
            ipackets: s.ipackets,
            opackets: s.opackets,
            ibytes: s.ibytes,
            obytes: s.obytes,
            imissed: s.imissed,
            ierrors: s.ierrors,
            oerrors: s.oerrors,
            rx_nombuf: s.rx_nombuf,
        }
    }

    /// Stop and close the port (flushes pcap output files, releases af_packet sockets).
    pub fn close(&mut self) {
        if self.started {
            // SAFETY: valid port; workers using it have finished (rvsd waits on lcores first).
            unsafe {
                sys::rte_eth_dev_stop(self.id);
                sys::rte_eth_dev_close(self.id);
            }
            self.started = false;
        }
    }
}

impl Drop for Port {
    fn drop(&mut self) {
        self.close();
    }
}

/// One RX queue of one port, polled by exactly one worker.
#[derive(Debug)]
pub struct RxQueue {
    port: u16,
    queue: u16,
}

// SAFETY: an RxQueue is a (port, queue) id pair; rvs hands each to exactly one worker,
// and the PMD's per-queue functions are safe to call from any single thread.
unsafe impl Send for RxQueue {}

impl RxQueue {
    /// Receive up to [`BURST`] packets into `burst` (replacing what it held).
    #[inline]
    pub fn rx_burst(&mut self, burst: &mut RxBurst) -> usize {
        while burst.pop().is_some() {}
        // SAFETY: ptrs has room for BURST pointers; the queue is polled by this thread only
        // (`&mut self`), and returned mbufs become owned by `burst`.
        let n = unsafe {
            sys::rvs_eth_rx_burst(self.port, self.queue, burst.ptrs.as_mut_ptr(), BURST as u16)
        };
        burst.len = n as usize;
        burst.next = 0;
        n as usize
    }
}

/// One TX queue of one port, used by exactly one worker.
#[derive(Debug)]
pub struct TxQueue {
    port: u16,
    queue: u16,
}

// SAFETY: as for RxQueue.
unsafe impl Send for TxQueue {}

impl TxQueue {
    /// Send everything in `buf`; what the PMD refuses is freed and counted as dropped.
    #[inline]
    pub fn flush(&mut self, buf: &mut TxBuffer) -> TxResult {
        if buf.len == 0 {
            return TxResult::default();
        }
        // SAFETY: slots [0, len) hold owned mbufs; the PMD takes ownership of the first
        // `sent` of them. This thread alone uses this queue (`&mut self`).
        let sent = unsafe {
            sys::rvs_eth_tx_burst(self.port, self.queue, buf.ptrs.as_mut_ptr(), buf.len as u16)
        } as usize;
        let bytes = buf.lens[..sent].iter().map(|&l| l as u64).sum();
        for p in &buf.ptrs[sent..buf.len] {
            // SAFETY: the PMD did not take these; we still own them.
            drop(unsafe { Mbuf::from_raw(*p) });
        }
        let dropped = (buf.len - sent) as u32;
        buf.len = 0;
        TxResult {
            sent: sent as u32,
            bytes,
            dropped,
        }
    }
}

/// A single-producer/single-consumer ring of mbufs between two workers.
pub struct MbufRing {
    ptr: NonNull<sys::rte_ring>,
}

// SAFETY: an SPSC rte_ring is safe to use from one producer thread and one consumer thread
// at the same time; rvs hands each end to one worker.
unsafe impl Send for MbufRing {}
// SAFETY: as above; enqueue and dequeue touch disjoint ring indices.
unsafe impl Sync for MbufRing {}

impl MbufRing {
    /// Create an SPSC ring with room for `size - 1` mbufs (`size` a power of two).
    pub fn new(_eal: &Eal, name: &str, size: u32) -> Result<MbufRing, DpdkError> {
        let cname =
            CString::new(name).map_err(|_| DpdkError::new("rte_ring_create", libc::EINVAL))?;
        // SAFETY: valid name; EAL initialised.
        let ptr = unsafe {
            sys::rte_ring_create(
                cname.as_ptr(),
                size,
                sys::SOCKET_ID_ANY,
                sys::RING_F_SP_ENQ | sys::RING_F_SC_DEQ,
            )
        };
        NonNull::new(ptr)
            .map(|ptr| MbufRing { ptr })
            .ok_or_else(|| DpdkError::last("rte_ring_create"))
    }

    /// Enqueue one mbuf; gives it back when the ring is full.
    #[inline]
    pub fn enqueue(&self, m: Mbuf) -> Result<(), Mbuf> {
        let p = m.into_raw() as *mut c_void;
        // SAFETY: one valid object pointer; only the single producer calls enqueue.
        let n = unsafe { sys::rvs_ring_enqueue_burst(self.ptr.as_ptr(), &p, 1) };
        if n == 1 {
            Ok(())
        } else {
            // SAFETY: not enqueued, so still ours.
            Err(unsafe { Mbuf::from_raw(p as *mut sys::rte_mbuf) })
        }
    }

    /// Dequeue up to [`BURST`] mbufs into `burst`.
    #[inline]
    pub fn dequeue(&self, burst: &mut RxBurst) -> usize {
        while burst.pop().is_some() {}
        // SAFETY: room for BURST pointers; only the single consumer calls dequeue; the
        // ring holds only mbuf pointers enqueued by `enqueue`.
        let n = unsafe {
            sys::rvs_ring_dequeue_burst(
                self.ptr.as_ptr(),
                burst.ptrs.as_mut_ptr() as *mut *mut c_void,
                BURST as u32,
            )
        };
        burst.len = n as usize;
        burst.next = 0;
        n as usize
    }

    /// Entries waiting.
    pub fn count(&self) -> u32 {
        // SAFETY: valid ring.
        unsafe { sys::rvs_ring_count(self.ptr.as_ptr()) }
    }
}

impl Drop for MbufRing {
    fn drop(&mut self) {
        let mut b = RxBurst::default();
        while self.dequeue(&mut b) > 0 {
            drop(std::mem::take(&mut b));
        }
        // SAFETY: nobody else uses the ring any more (it is being dropped).
        unsafe { sys::rte_ring_free(self.ptr.as_ptr()) }
    }
}

/// Read the CPU's time-stamp counter.
#[inline]
pub fn rdtsc() -> u64 {
    // SAFETY: rdtsc has no preconditions.
    unsafe { sys::rvs_rdtsc() }
}

/// Spin-wait hint for busy polling.
#[inline]
pub fn pause() {
    // SAFETY: no preconditions.
    unsafe { sys::rvs_pause() }
}

/// DPDK version rvs was built against.
pub fn dpdk_version() -> &'static str {
    sys::DPDK_VERSION
}

/// Prefetch the cache line at `p` into all cache levels (x86 `PREFETCHT0`). For
/// `ConnTable::set_prefetcher`.
#[inline]
pub fn prefetch(p: *const u8) {
    // SAFETY: a prefetch is only a hint: it never faults, whatever the address (an
    // unmapped or invalid one is simply ignored), and writes no memory; SSE, which the
    // intrinsic requires, is part of the x86_64 baseline.
    unsafe { std::arch::x86_64::_mm_prefetch::<{ std::arch::x86_64::_MM_HINT_T0 }>(p.cast()) }
}

/// Size of a transparent huge page on x86_64.
const HUGE_PAGE: usize = 2 << 20;

/// Ask the kernel to back the memory at `[addr, addr + len)` with transparent huge pages
/// (2 MiB) as it is first touched: `madvise(MADV_HUGEPAGE)`. Meant for the big arrays of a
/// connection table (pass it to `ConnTable::with_memory_advice`): a worker's lookups hit
/// them at random, and with 4 KiB pages nearly every lookup also misses the TLB. It uses
/// ordinary memory, not the EAL's hugetlbfs pool, and needs no EAL. Takes effect when
/// `/sys/kernel/mm/transparent_hugepage/enabled` is `madvise` or `always`; ranges smaller
/// than one huge page are left alone. Returns whether the kernel took the advice. Not for
/// the packet path (a system call).
pub fn advise_huge_pages(addr: *const u8, len: usize) -> bool {
    if len < HUGE_PAGE || addr.is_null() {
        return false;
    }
    // madvise wants a page-aligned start: widen the range down to its first page.
    let page = 4096;
    let start = addr as usize & !(page - 1);
    let len = len + (addr as usize - start);
    // SAFETY: MADV_HUGEPAGE only changes the kernel's page-size policy for the mapped pages
    // of the range; it never changes their contents, their protection or whether they are
    // mapped, so no Rust reference to memory in or around the range is affected. An
    // unmapped part of the range only makes the call fail with ENOMEM.
    let rc = unsafe { libc::madvise(start as *mut c_void, len, libc::MADV_HUGEPAGE) };
    rc == 0
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The range's `AnonHugePages` in /proc/self/smaps, in KiB.
    fn anon_huge_kib(addr: usize) -> Option<u64> {
        let smaps = std::fs::read_to_string("/proc/self/smaps").ok()?;
        let mut inside = false;
        for line in smaps.lines() {
            let first = line.split_whitespace().next().unwrap_or("");
            if let Some((a, b)) = first.split_once('-') {
                if let (Ok(a), Ok(b)) = (usize::from_str_radix(a, 16), usize::from_str_radix(b, 16))
                {
                    inside = (a..b).contains(&addr);
                    continue;
                }
            }
            if inside {
                if let Some(v) = line.strip_prefix("AnonHugePages:") {
                    return v.trim().trim_end_matches("kB").trim().parse().ok();
                }
            }
        }
        None
    }

    #[test]
    fn huge_page_advice_takes_effect_where_thp_is_available() {
        let small = [0u8; 64];
        assert!(!advise_huge_pages(small.as_ptr(), small.len()));
        let thp = std::fs::read_to_string("/sys/kernel/mm/transparent_hugepage/enabled")
            .unwrap_or_default();
        if !thp.contains("[madvise]") && !thp.contains("[always]") {
            eprintln!("transparent huge pages off here ({thp:?}): nothing to check");
            return;
        }
        let len = 16 << 20;
        let mut v: Vec<u8> = Vec::with_capacity(len);
        assert!(advise_huge_pages(v.as_ptr(), len));
        v.resize(len, 1);
        let kib = anon_huge_kib(v.as_ptr() as usize + len / 2).expect("mapping in smaps");
        assert!(kib >= 2048, "AnonHugePages {kib} KiB after advice");
    }
}
