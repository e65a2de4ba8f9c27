//! The validated configuration model: what rvsd and rvsadm work with.
//!
//! Every default is already applied (scheduler, weight, port, forwarding method,
//! timeouts...), so users of the model never need to know the YAML defaults. The model is
//! built only by [`crate::from_str`] / [`crate::load_file`] (which validate); it
//! serializes back to YAML with every value explicit.

use std::fmt;
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::path::PathBuf;
use std::time::Duration;

use crate::forward::ForwardMethod;
use crate::net::{IpNet, Netmask, PortRange};
use crate::text::{named_enum, Textual};

/// IPVS's default persistence timeout when persistence is asked for without a value
/// (ipvsadm's `IPVS_SVC_PERSISTENT_TIMEOUT`, 6*60 s).
pub const DEFAULT_PERSISTENCE_TIMEOUT: u32 = 360;
/// The largest real-server weight ipvsadm accepts.
pub const MAX_WEIGHT: u32 = 65535;
/// Default admin API address.
pub const DEFAULT_ADMIN_LISTEN: SocketAddr =
    SocketAddr::new(IpAddr::V4(Ipv4Addr::new(127, 0, 0, 1)), 9180);

/// The whole configuration of one director.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Config {
    /// Cores and polling.
    pub dataplane: Dataplane,
    /// DPDK ports and the director's own addresses on them.
    pub interfaces: Vec<Interface>,
    /// Static routes (connected subnets of interface addresses are implied).
    pub routes: Vec<Route>,
    /// Local address pools for FULLNAT.
    pub snat_pools: Vec<SnatPool>,
    /// Connection timeouts (`ipvsadm --set`).
    pub timeouts: Timeouts,
    /// IPVS behaviour switches (the kernel's `net.ipv4.vs.*` sysctls).
    pub ipvs: Ipvs,
    /// Virtual services.
    pub services: Vec<VirtualService>,
    /// Who exec health checks run as and where their programs may live.
    pub health: HealthSettings,
    /// Admin REST API.
    pub admin: AdminConfig,
}

impl Config {
    /// How many worker threads (one per worker lcore) rvsd starts.
    pub fn worker_count(&self) -> usize {
        self.dataplane.worker_lcores.len()
    }

    /// Every connected subnet (interface address with host bits cleared) with the name of
    /// its interface, in configuration order.
    pub fn connected_subnets(&self) -> impl Iterator<Item = (IpNet, &str)> + '_ {
        self.interfaces.iter().flat_map(|i| {
            i.addresses
                .iter()
                .map(move |a| (a.trunc(), i.name.as_str()))
        })
    }

    /// The interface by name.
    pub fn interface(&self, name: &str) -> Option<&Interface> {
        self.interfaces.iter().find(|i| i.name == name)
    }

    /// The SNAT pool by name.
    pub fn snat_pool(&self, name: &str) -> Option<&SnatPool> {
        self.snat_pools.iter().find(|p| p.name == name)
    }

    /// How `dst` is reached: the interface and the next hop (the address itself when it is
    /// on a connected subnet, else the gateway of the longest matching static route;
    /// `None` for the next hop of a route without `via`, i.e. an on-link route). Connected
    /// subnets win over routes of the same length, as in the kernel's FIB.
    pub fn lookup_route(&self, dst: IpAddr) -> Option<NextHop<'_>> {
        let connected = self
            .connected_subnets()
            .filter(|(net, _)| net.contains(dst))
            .map(|(net, ifname)| {
                (
                    net.prefix_len(),
                    NextHop {
                        interface: ifname,
                        gateway: None,
                        connected: true,
                    },
                )
            });
        let routed = self
            .routes
            .iter()
            .filter(|r| r.prefix.contains(dst))
            .map(|r| {
                (
                    r.prefix.prefix_len(),
                    NextHop {
                        interface: r.interface.as_str(),
                        gateway: r.via,
                        connected: false,
                    },
                )
            });
        let mut best: Option<(u8, NextHop<'_>)> = None;
        // Connected first, and only a strictly longer prefix replaces the best so far.
        for (len, hop) in connected.chain(routed) {
            if best.as_ref().is_none_or(|(l, _)| len > *l) {
                best = Some((len, hop));
            }
        }
        best.map(|(_, h)| h)
    }
}

/// Result of [`Config::lookup_route`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct NextHop<'a> {
    /// Outgoing interface name.
    pub interface: &'a str,
    /// Gateway to send to; `None` = the destination is on-link.
    pub gateway: Option<IpAddr>,
    /// Whether the match is a connected subnet (rather than a static route).
    pub connected: bool,
}

/// Dataplane resources.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Dataplane {
    /// The lcore of the control thread (EAL main lcore). Default 0.
    pub main_lcore: u32,
    /// One worker per lcore. Default `[1]`; never empty, never holds `main_lcore`.
    pub worker_lcores: Vec<u32>,
    /// How workers poll. Default adaptive.
    pub polling: Polling,
    /// Extra EAL arguments appended by rvsd.
    pub eal_args: Vec<String>,
    /// mbuf pool size; `None` = rvsd's choice.
    pub mbufs: Option<u32>,
    /// Connection-table slots of each worker; `None` = rvsd's default (262144).
    pub connections_per_worker: Option<u32>,
    /// Packets per second each worker may hand to the kernel through the exception path
    /// (a token bucket; the excess is dropped and counted). Default
    /// [`DEFAULT_EXCEPTION_RATE`].
    pub exception_rate: u32,
}

/// Default exception-path rate limit, packets per second per worker: enough for SSH,
/// health-check replies and routing protocols, small enough that a flood to the
/// director's own address cannot keep a worker busy feeding the kernel.
pub const DEFAULT_EXCEPTION_RATE: u32 = 20_000;

/// Longest Linux interface name (IFNAMSIZ - 1).
pub const MAX_KERNEL_NAME: usize = 15;
/// An interface's MTU unless `mtu:` says (Ethernet's).
pub const DEFAULT_MTU: u16 = 1500;
/// The smallest `mtu:` of a port with an IPv6 address (the IPv6 minimum link MTU).
pub const MIN_MTU_IPV6: u16 = 1280;
/// The smallest `mtu:` of an IPv4-only port (every IPv4 host accepts 576-byte packets).
pub const MIN_MTU_IPV4: u16 = 576;
/// The largest `mtu:` (jumbo frames).
pub const MAX_MTU: u16 = 9000;

impl Default for Dataplane {
    fn default() -> Dataplane {
        Dataplane {
            main_lcore: 0,
            worker_lcores: vec![1],
            polling: Polling::Adaptive,
            eal_args: Vec::new(),
            mbufs: None,
            connections_per_worker: None,
            exception_rate: DEFAULT_EXCEPTION_RATE,
        }
    }
}

named_enum! {
    /// How a worker polls its queues.
    pub enum Polling ("polling mode") {
        /// Sleep with back-off after empty polls (shares a core; tests and the demo).
        Adaptive = "adaptive",
        /// Spin without sleeping (a dedicated core; benchmarks and production).
        Busy = "busy",
    }
}

/// One DPDK port.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Interface {
    /// Name used by routes and logs (`wan0`).
    pub name: String,
    /// DPDK device: a vdev string (`net_af_packet0,iface=rvs-wan`) or a PCI address.
    pub device: String,
    /// The director's own addresses on this port, with their connected prefix.
    pub addresses: Vec<IpNet>,
    /// Whether rvsd gives the kernel a TAP interface for this port (the exception path:
    /// traffic for the director's own addresses that is not VIP traffic). Default true.
    pub exception_path: bool,
    /// Name of that kernel interface; `None` = [`Interface::kernel_name`]'s default.
    pub kernel_name: Option<String>,
    /// The port's MTU: the largest IP packet it sends (tunnel encapsulation is checked
    /// against it). Default [`DEFAULT_MTU`].
    pub mtu: u16,
}

impl Interface {
    /// The kernel interface's name: the configured one, else `rvs-<name>` cut to 15 bytes.
    pub fn kernel_name(&self) -> String {
        match &self.kernel_name {
            Some(n) => n.clone(),
            None => {
                let mut n = format!("rvs-{}", self.name);
                while n.len() > MAX_KERNEL_NAME {
                    n.pop();
                }
                n
            }
        }
    }
}

/// A static route.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Route {
    /// Destination prefix (`0.0.0.0/0` for the default route).
    pub prefix: IpNet,
    /// Gateway; `None` = on-link.
    pub via: Option<IpAddr>,
    /// Outgoing interface (a name from `interfaces`).
    pub interface: String,
}

/// Local addresses and ports FULLNAT uses as the source of packets to real servers.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SnatPool {
    /// Name services refer to.
    pub name: String,
    /// Local addresses (LIPs).
    pub addresses: Vec<IpAddr>,
    /// Local port range. Default 1024-65535.
    pub ports: PortRange,
}

/// Connection timeouts in seconds, with `ipvsadm --set tcp tcpfin udp` semantics.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Timeouts {
    /// Established TCP connections. Default 900.
    pub tcp: u32,
    /// TCP after FIN. Default 120.
    pub tcp_fin: u32,
    /// UDP. Default 300.
    pub udp: u32,
}

impl Default for Timeouts {
    /// The kernel's defaults (`ipvsadm -Ln --timeout`: 900 120 300).
    fn default() -> Timeouts {
        Timeouts {
            tcp: 900,
            tcp_fin: 120,
            udp: 300,
        }
    }
}

/// IPVS behaviour switches, named after the kernel's `net.ipv4.vs.*` sysctls and with
/// their defaults (off), and how the director answers segments of no connection.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Ipvs {
    /// `expire_nodest_conn`: a packet of a connection whose real server was removed
    /// expires the connection at once (and is dropped) instead of still being forwarded
    /// to the removed server, so the client notices and reconnects.
    pub expire_nodest_conn: bool,
    /// `expire_quiescent_template`: a persistence template whose real server is quiescent
    /// (weight 0) no longer pins new connections to it; they are scheduled anew.
    pub expire_quiescent_template: bool,
    /// `reset_unknown_conn` (default on): a TCP segment to a virtual service that no
    /// connection claims and that starts none (not a SYN) is answered by a rate-limited
    /// RST from the VIP, as the director's own TCP stack answers it under IPVS, so a
    /// client whose connection the director no longer knows (a restart, an idle
    /// connection expired) reconnects at once. Off: such segments are dropped silently.
    /// (The scale-out issue's future `sloppy_tcp`, which makes a connection of such a
    /// segment, will take precedence over it.)
    pub reset_unknown_conn: bool,
}

impl Default for Ipvs {
    /// The kernel's defaults: the sysctls off; RSTs for segments of no connection on.
    fn default() -> Ipvs {
        Ipvs {
            expire_nodest_conn: false,
            expire_quiescent_template: false,
            reset_unknown_conn: true,
        }
    }
}

named_enum! {
    /// Transport protocol of a virtual service.
    pub enum Protocol ("protocol") {
        /// TCP (`ipvsadm -t`).
        Tcp = "tcp",
        /// UDP (`ipvsadm -u`).
        Udp = "udp",
        /// SCTP (`ipvsadm --sctp-service`).
        Sctp = "sctp",
    }
}

impl Protocol {
    /// The IP protocol number (IPPROTO_TCP, IPPROTO_UDP, IPPROTO_SCTP).
    pub fn ip_proto(&self) -> u8 {
        match self {
            Protocol::Tcp => 6,
            Protocol::Udp => 17,
            Protocol::Sctp => 132,
        }
    }
}

named_enum! {
    /// IPVS scheduling algorithms (`ipvsadm -s`).
    pub enum Scheduler ("scheduler") {
        /// Round robin.
        Rr = "rr",
        /// Weighted round robin.
        Wrr = "wrr",
        /// Least connection.
        Lc = "lc",
        /// Weighted least connection (the IPVS default).
        Wlc = "wlc",
        /// Locality-based least connection.
        Lblc = "lblc",
        /// Locality-based least connection with replication.
        Lblcr = "lblcr",
        /// Destination hashing.
        Dh = "dh",
        /// Source hashing.
        Sh = "sh",
        /// Shortest expected delay.
        Sed = "sed",
        /// Never queue.
        Nq = "nq",
        /// Weighted failover.
        Fo = "fo",
        /// Weighted overflow.
        Ovf = "ovf",
        /// Maglev hashing.
        Mh = "mh",
        /// Weighted random twos choice.
        Twos = "twos",
    }
}

impl Default for Scheduler {
    /// IPVS's default scheduler, wlc.
    fn default() -> Scheduler {
        Scheduler::Wlc
    }
}

named_enum! {
    /// Scheduler flags (`ipvsadm -b`).
    pub enum SchedulerFlag ("scheduler flag") {
        /// sh: fall back to another server when the chosen one is unavailable.
        ShFallback = "sh-fallback",
        /// sh: hash the source port too.
        ShPort = "sh-port",
        /// mh: fall back to another server when the chosen one is unavailable.
        MhFallback = "mh-fallback",
        /// mh: hash the source port too.
        MhPort = "mh-port",
    }
}

impl SchedulerFlag {
    /// The scheduler this flag belongs to.
    pub fn scheduler(&self) -> Scheduler {
        match self {
            SchedulerFlag::ShFallback | SchedulerFlag::ShPort => Scheduler::Sh,
            SchedulerFlag::MhFallback | SchedulerFlag::MhPort => Scheduler::Mh,
        }
    }
}

/// A protocol, virtual address and port: `tcp 198.18.0.100:80`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ServiceAddr {
    /// Protocol.
    pub proto: Protocol,
    /// Virtual IP.
    pub vip: IpAddr,
    /// Port; 0 = every port (persistent services only).
    pub port: u16,
}

impl fmt::Display for ServiceAddr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} {}", self.proto, SocketAddr::new(self.vip, self.port))
    }
}

impl Textual for ServiceAddr {
    fn parse_text(s: &str) -> Result<ServiceAddr, String> {
        let err = || {
            format!("bad firewall-mark member `{s}`; expected PROTO VIP:PORT such as `tcp 198.18.0.100:80`")
        };
        let (proto, addr) = s.trim().split_once(char::is_whitespace).ok_or_else(err)?;
        let proto: Protocol = proto.parse().map_err(|_| err())?;
        let addr: SocketAddr = addr.trim().parse().map_err(|_| err())?;
        Ok(ServiceAddr {
            proto,
            vip: addr.ip(),
            port: addr.port(),
        })
    }
    fn to_text(&self) -> String {
        self.to_string()
    }
}

/// What identifies a virtual service.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub enum ServiceKey {
    /// Protocol, VIP and port (`ipvsadm -t/-u/--sctp-service VIP:PORT`).
    Addr(ServiceAddr),
    /// Firewall mark (`ipvsadm -f MARK`); rvs has no iptables, so the members list which
    /// protocol/VIP/port tuples carry the mark.
    Fwmark {
        /// The mark, 1..=u32::MAX.
        mark: u32,
        /// The tuples that map to this mark; one address family for all.
        members: Vec<ServiceAddr>,
    },
}

impl fmt::Display for ServiceKey {
    /// `tcp 198.18.0.100:80` or `fwmark 10`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ServiceKey::Addr(a) => a.fmt(f),
            ServiceKey::Fwmark { mark, .. } => write!(f, "fwmark {mark}"),
        }
    }
}

/// Persistence (`ipvsadm -p [timeout] -M netmask`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Persistence {
    /// Persistence template timeout in seconds. Default 360.
    pub timeout: u32,
    /// Client address mask; `None` = the whole address (/32 or /128).
    pub netmask: Option<Netmask>,
}

impl Persistence {
    /// The prefix length templates key on, for a service of this family.
    pub fn prefix_len(&self, ipv6: bool) -> u8 {
        match self.netmask {
            Some(m) => m.prefix_len(),
            None if ipv6 => 128,
            None => 32,
        }
    }
}

/// What a health check sends.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum HealthCheckKind {
    /// A TCP connect.
    Tcp,
    /// An HTTP GET whose status must match.
    Http {
        /// Request path. Default `/`.
        path: String,
        /// Expected status. Default 200.
        expect_status: u16,
        /// Host header; default the real server's address.
        host: Option<String>,
        /// A substring the response body must contain (ldirectord's `receive`); `None` =
        /// the status alone decides.
        expect_body: Option<String>,
    },
    /// An external program (ldirectord's `external`, keepalived's `MISC_CHECK`): exit
    /// status 0 = up. It gets the virtual and real address and port as its last four
    /// arguments and in `RVS_*` environment variables, and is killed at the timeout.
    Exec {
        /// Program to run (absolute path).
        command: std::path::PathBuf,
        /// Arguments before the four addresses.
        args: Vec<String>,
    },
    /// A DNS query over UDP (keepalived's `DNS_CHECK`): an SOA query for `name` whose
    /// answer must carry the query's id and RCODE NOERROR.
    Dns {
        /// Name to ask for. Default `.` (the root).
        name: String,
    },
    /// An HTTP GET over TLS (keepalived's `SSL_GET`), judged like [`HealthCheckKind::Http`].
    /// The server's certificate is not verified: real servers commonly have self-signed
    /// ones, and the check asks whether the service answers, not whom to trust.
    Https {
        /// Request path. Default `/`.
        path: String,
        /// Expected status. Default 200.
        expect_status: u16,
        /// Host header and TLS server name (SNI); default the real server's address
        /// (and then no SNI, which names hosts only).
        host: Option<String>,
        /// A substring the response body must contain; `None` = the status alone decides.
        expect_body: Option<String>,
    },
}

/// Health checking of a service's real servers (run by the control thread).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct HealthCheck {
    /// Check type and its details.
    pub kind: HealthCheckKind,
    /// Port to check; `None` = the real server's port.
    pub port: Option<u16>,
    /// Time between checks. Default 1 s.
    pub interval: Duration,
    /// Time a check may take. Default 3 s.
    pub timeout: Duration,
    /// Consecutive successes to mark a server up. Default 1.
    pub rise: u32,
    /// Consecutive failures to mark a server down. Default 1.
    pub fall: u32,
    /// What a server that is down becomes: `true` (default, ldirectord's `quiescent=yes`,
    /// keepalived's `inhibit_on_failure`) keeps it with weight 0, so its connections
    /// continue; `false` takes it out of the service.
    pub quiescent: bool,
}

/// The Maglev table sizes the kernel offers (ip_vs_mh.c, CONFIG_IP_VS_MH_TAB_INDEX 8 ... 17).
pub const MH_TABLE_SIZES: [u32; 10] = [
    251, 509, 1021, 2039, 4093, 8191, 16381, 32749, 65521, 131071,
];

/// The stock kernel's Maglev table size (CONFIG_IP_VS_MH_TAB_INDEX = 12).
pub const MH_DEFAULT_TABLE_SIZE: u32 = 4093;

/// A virtual service and its real servers.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct VirtualService {
    /// Address or firewall mark.
    pub key: ServiceKey,
    /// Scheduler. Default wlc.
    pub scheduler: Scheduler,
    /// Scheduler flags; each belongs to the service's scheduler.
    pub scheduler_flags: Vec<SchedulerFlag>,
    /// Maglev lookup table size of an `mh` service (YAML `mh_table_size`), one of the
    /// kernel's [`MH_TABLE_SIZES`]; `None` = [`MH_DEFAULT_TABLE_SIZE`], a stock kernel's.
    pub mh_table_size: Option<u32>,
    /// Persistence; `None` = off.
    pub persistence: Option<Persistence>,
    /// One-packet scheduling (`ipvsadm -o`): schedule every UDP datagram on its own.
    pub one_packet: bool,
    /// Method for real servers added later without one (the YAML `method` of the
    /// service). Default route.
    pub method: ForwardMethod,
    /// SNAT pool for FULLNAT real servers (set whenever one uses fullnat).
    pub snat_pool: Option<String>,
    /// FULLNAT: tell the real servers the client's address and port in the TCP option
    /// TOA (kind 254). Default true; `false` only on services with fullnat real servers.
    pub toa: bool,
    /// Health check of the real servers; `None` = none (servers always up).
    pub health_check: Option<HealthCheck>,
    /// Used when every real server is down or quiescent.
    pub sorry_server: Option<SocketAddr>,
    /// Real servers, in configuration order.
    pub real_servers: Vec<RealServer>,
}

impl VirtualService {
    /// Whether the service is IPv6 (a firewall-mark service takes its first member's family).
    pub fn is_ipv6(&self) -> bool {
        match &self.key {
            ServiceKey::Addr(a) => a.vip.is_ipv6(),
            ServiceKey::Fwmark { members, .. } => members.first().is_some_and(|m| m.vip.is_ipv6()),
        }
    }
}

/// A real server of a virtual service.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct RealServer {
    /// Address (RIP).
    pub address: IpAddr,
    /// Port; defaults to the service port (0 for firewall-mark services).
    pub port: u16,
    /// Weight 0..=65535; 0 = quiescent. Default 1.
    pub weight: u32,
    /// Forwarding method. Default: the service's method.
    pub method: ForwardMethod,
    /// Upper connection threshold; 0 = none.
    pub upper_threshold: u32,
    /// Lower connection threshold; 0 = none.
    pub lower_threshold: u32,
}

impl RealServer {
    /// Address and port.
    pub fn socket_addr(&self) -> SocketAddr {
        SocketAddr::new(self.address, self.port)
    }
}

/// The `health:` section: settings of the health checkers as a whole.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct HealthSettings {
    /// The user exec checks run as (keepalived's `script_user`). `None`: the user
    /// [`DEFAULT_EXEC_USER`] when the system has it, otherwise rvsd's own (root).
    pub exec_user: Option<String>,
    /// When set, every exec check's command must be a program under this directory.
    pub exec_dir: Option<PathBuf>,
}

/// The user exec health checks run as when `health.exec_user` is not given and the system
/// has it (keepalived's `keepalived_script` in the same role).
pub const DEFAULT_EXEC_USER: &str = "rvs_script";

/// The admin REST API.
///
/// Without `token_file` the API is read-only: GET requests (listing, stats) are served
/// and every change is refused, so that a director never accepts unauthenticated
/// configuration changes. With it, changes need `Authorization: Bearer <token>` where
/// the token is the file's content without surrounding whitespace.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AdminConfig {
    /// Listen address. Default 127.0.0.1:9180.
    pub listen: SocketAddr,
    /// File holding the bearer token for changes.
    pub token_file: Option<PathBuf>,
}

impl AdminConfig {
    /// Whether the API refuses every change (no token file).
    pub fn read_only(&self) -> bool {
        self.token_file.is_none()
    }
}

impl Default for AdminConfig {
    fn default() -> AdminConfig {
        AdminConfig {
            listen: DEFAULT_ADMIN_LISTEN,
            token_file: None,
        }
    }
}
