//! Ethernet ports: open (configure queues and RSS, start), MAC address, per-queue
//! handles, device counters, close.

use std::ffi::CString;
use std::marker::PhantomData;
use std::sync::atomic::{AtomicBool, Ordering};

use dpdk_sys as sys;

use super::eal::{Eal, EalRef};
use super::error::{check, DpdkError};
use super::mempool::Mempool;
use super::queue::{RxQueue, TxQueue};

/// A configured and started Ethernet port.
pub struct Port {
    id: u16,
    name: String,
    mac: [u8; 6],
    queues: u16,
    started: bool,
    /// rvsd turned promiscuous mode on, so closing turns it off again.
    restore_promiscuous: bool,
    /// Per queue: handed out already (each queue is polled by one thread only).
    rx_taken: Vec<AtomicBool>,
    tx_taken: Vec<AtomicBool>,
    _eal: EalRef,
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
        eal: &Eal,
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
        // SAFETY: valid port. Promiscuous mode is best effort (some PMDs lack it); it is
        // put back as it was at close (af_packet sets the kernel interface's flag).
        let was_promiscuous = unsafe { sys::rte_eth_promiscuous_get(id) } == 1;
        // SAFETY: as above.
        let enabled = unsafe { sys::rte_eth_promiscuous_enable(id) } == 0;
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
            restore_promiscuous: enabled && !was_promiscuous,
            rx_taken: (0..queues).map(|_| AtomicBool::new(false)).collect(),
            tx_taken: (0..queues).map(|_| AtomicBool::new(false)).collect(),
            _eal: EalRef::new(eal),
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

    /// RX queue `q` of this port, for one worker: each queue is handed out once, and
    /// the handle borrows the port, which cannot close while it is polled.
    pub fn rx_queue(&self, q: u16) -> Result<RxQueue<'_>, DpdkError> {
        self.take("RX", &self.rx_taken, q)?;
        Ok(RxQueue {
            port: self.id,
            queue: q,
            _port: PhantomData,
        })
    }

    /// TX queue `q` of this port, for one worker (as [`rx_queue`](Self::rx_queue)).
    pub fn tx_queue(&self, q: u16) -> Result<TxQueue<'_>, DpdkError> {
        self.take("TX", &self.tx_taken, q)?;
        Ok(TxQueue {
            port: self.id,
            queue: q,
            _port: PhantomData,
        })
    }

    /// Mark queue `q` handed out: refused past the configured queues or a second time.
    fn take(&self, kind: &str, taken: &[AtomicBool], q: u16) -> Result<(), DpdkError> {
        let refuse = |errno, why: String| DpdkError {
            call: "rvs queue handle",
            errno,
            message: format!("port {}: {kind} queue {q} {why}", self.name),
        };
        let Some(flag) = taken.get(usize::from(q)) else {
            let n = taken.len();
            return Err(refuse(
                libc::EINVAL,
                format!("does not exist ({n} configured)"),
            ));
        };
        if flag.swap(true, Ordering::AcqRel) {
            return Err(refuse(libc::EBUSY, "is already handed out".into()));
        }
        Ok(())
    }

    /// The device's counters.
    pub fn stats(&self) -> PortStats {
        self.counters().read()
    }

    /// A handle that reads this port's counters from another thread (the control
    /// thread's `/v1/stats`) while the workers poll.
    pub fn counters(&self) -> PortCounters {
        PortCounters { id: self.id }
    }

    /// Put promiscuous mode back as it was, stop and close the port (flushes pcap output
    /// files, releases af_packet sockets).
    pub fn close(&mut self) {
        if self.started {
            // SAFETY: valid port; workers using it have finished (rvsd waits on lcores first).
            unsafe {
                if self.restore_promiscuous {
                    sys::rte_eth_promiscuous_disable(self.id);
                }
                sys::rte_eth_dev_stop(self.id);
                sys::rte_eth_dev_close(self.id);
            }
            self.started = false;
        }
    }
}

/// Reads one port's basic counters (`rte_eth_stats_get`): DPDK allows that from any
/// thread while the port's queues are polled. It holds only the port id, which DPDK checks
/// on every read: once the port is closed the handle reads zeros. The port must not be
/// closed during a read (rvsd closes its ports after the control thread, which holds the
/// handles, has ended).
#[derive(Clone, Copy, Debug)]
pub struct PortCounters {
    id: u16,
}

impl PortCounters {
    /// The device's counters now, or zeros if the port is gone or the PMD has none.
    pub fn read(&self) -> PortStats {
        let mut s = sys::rte_eth_stats::default();
        // SAFETY: a valid out pointer; DPDK validates the port id itself.
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
}

impl Drop for Port {
    fn drop(&mut self) {
        self.close();
    }
}
