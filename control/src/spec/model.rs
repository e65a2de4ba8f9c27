//! What rvsd runs, in dataplane terms: the daemon's spec built from a configuration.

use std::net::{Ipv4Addr, Ipv6Addr, SocketAddr};

use dataplane::route::Ipv4Prefix;
use dataplane::route::Ipv6Prefix;
use dataplane::service::VirtualService;
use dataplane::tables::{IpvsSwitches, IpvsTimeouts};
use dataplane::worker::Polling;
use dataplane::xmit::fullnat::SnatPool;

/// Connection table slots per worker unless `dataplane.connections_per_worker` says.
pub const CONN_CAPACITY: usize = 1 << 18;
/// Default mbuf pool size.
pub const DEFAULT_MBUFS: u32 = 16383;

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
    pub addresses6: Vec<(Ipv6Addr, u8)>,
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
    pub routes6: Vec<(Ipv6Prefix, Ipv6Addr, usize)>,
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
    pub admin_listen: Option<SocketAddr>,
    /// Bearer token for the REST API (read from admin.token_file).
    pub admin_token: Option<String>,
}
