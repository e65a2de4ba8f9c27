//! Plain data describing what `-L`, `-Lc`, `--timeout` and `-S` show. These
//! are also the admin REST API's JSON bodies.

use super::types::{DestConfig, ServiceConfig};
use serde::{Deserialize, Serialize};
use std::net::IpAddr;

/// Cumulative counters of a service or real server (`--stats`).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct Stats {
    /// Connections scheduled.
    pub conns: u64,
    /// Packets from clients.
    pub inpkts: u64,
    /// Packets to clients.
    pub outpkts: u64,
    /// Bytes from clients.
    pub inbytes: u64,
    /// Bytes to clients.
    pub outbytes: u64,
}

/// Estimated rates of a service or real server (`--rate`).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct Rates {
    /// Connections per second.
    pub cps: u64,
    /// Packets per second from clients.
    pub inpps: u64,
    /// Packets per second to clients.
    pub outpps: u64,
    /// Bytes per second from clients.
    pub inbps: u64,
    /// Bytes per second to clients.
    pub outbps: u64,
}

/// A real server as `-L` shows it.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct DestView {
    /// Its configuration.
    #[serde(flatten)]
    pub config: DestConfig,
    /// Established connections (`ActiveConn`).
    #[serde(default)]
    pub active_conns: u32,
    /// Other connections (`InActConn`).
    #[serde(default)]
    pub inactive_conns: u32,
    /// Persistence templates pointing at it (`PersistConn`).
    #[serde(default)]
    pub persistent_conns: u32,
    /// Counters.
    #[serde(default)]
    pub stats: Stats,
    /// Rates.
    #[serde(default)]
    pub rates: Rates,
}

impl DestView {
    /// A real server with zero counters.
    pub fn new(config: DestConfig) -> Self {
        DestView {
            config,
            active_conns: 0,
            inactive_conns: 0,
            persistent_conns: 0,
            stats: Stats::default(),
            rates: Rates::default(),
        }
    }
}

/// A virtual service and its real servers as `-L` shows them.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct ServiceView {
    /// Its configuration.
    #[serde(flatten)]
    pub config: ServiceConfig,
    /// Counters.
    #[serde(default)]
    pub stats: Stats,
    /// Rates.
    #[serde(default)]
    pub rates: Rates,
    /// Real servers, in any order (listings sort them).
    #[serde(default)]
    pub real_servers: Vec<DestView>,
}

impl ServiceView {
    /// A service with zero counters and the given real servers.
    pub fn new(config: ServiceConfig, real_servers: Vec<DestView>) -> Self {
        ServiceView {
            config,
            stats: Stats::default(),
            rates: Rates::default(),
            real_servers,
        }
    }
}

/// Protocol column of a connection entry (`/proc/net/ip_vs_conn` names).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ConnProtocol {
    /// TCP.
    Tcp,
    /// UDP.
    Udp,
    /// SCTP.
    Sctp,
    /// ICMP.
    Icmp,
    /// ICMPv6.
    Icmpv6,
    /// Protocol 0: persistence templates of firewall-mark services.
    Ip,
}

impl ConnProtocol {
    /// Name printed by `-Lc`.
    pub fn name(self) -> &'static str {
        match self {
            ConnProtocol::Tcp => "TCP",
            ConnProtocol::Udp => "UDP",
            ConnProtocol::Sctp => "SCTP",
            ConnProtocol::Icmp => "ICMP",
            ConnProtocol::Icmpv6 => "ICMPv6",
            ConnProtocol::Ip => "IP",
        }
    }
}

/// Persistence-engine data of a connection (`--persistent-conn` columns).
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct PeData {
    /// Engine name, e.g. `sip`.
    pub name: String,
    /// Engine data, e.g. the SIP Call-ID.
    pub data: String,
}

/// One connection (or persistence template) as `-Lc` shows it.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct ConnView {
    /// Protocol.
    pub protocol: ConnProtocol,
    /// IPVS state name (`ESTABLISHED`, `FIN_WAIT`, `NONE` for templates, `UDP`...).
    pub state: String,
    /// Seconds until the entry expires.
    pub expires: u32,
    /// Client address.
    pub client_addr: IpAddr,
    /// Client port.
    pub client_port: u16,
    /// Virtual address.
    pub virtual_addr: IpAddr,
    /// Virtual port.
    pub virtual_port: u16,
    /// Real server address.
    pub dest_addr: IpAddr,
    /// Real server port.
    pub dest_port: u16,
    /// Persistence-engine data, if the service uses one.
    #[serde(default)]
    pub pe: Option<PeData>,
}

/// Connection timeouts in seconds (`--set tcp tcpfin udp`, `-L --timeout`).
/// In a `--set` command a 0 leaves that value unchanged.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct TimeoutsView {
    /// Established TCP connections.
    pub tcp: u32,
    /// TCP connections after a FIN.
    pub tcp_fin: u32,
    /// UDP.
    pub udp: u32,
}

impl Default for TimeoutsView {
    /// IPVS's defaults: 900 120 300.
    fn default() -> Self {
        TimeoutsView {
            tcp: 900,
            tcp_fin: 120,
            udp: 300,
        }
    }
}

impl TimeoutsView {
    /// Applies a `--set` value: each non-zero field replaces the current one.
    pub fn apply_set(&mut self, set: &TimeoutsView) {
        if set.tcp != 0 {
            self.tcp = set.tcp;
        }
        if set.tcp_fin != 0 {
            self.tcp_fin = set.tcp_fin;
        }
        if set.udp != 0 {
            self.udp = set.udp;
        }
    }
}

/// A service and its real servers without counters: what `-S` saves and
/// `-R` rebuilds.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct ServiceRule {
    /// The service.
    pub service: ServiceConfig,
    /// Its real servers.
    pub real_servers: Vec<DestConfig>,
}

impl From<&ServiceView> for ServiceRule {
    fn from(view: &ServiceView) -> Self {
        ServiceRule {
            service: view.config.clone(),
            real_servers: view.real_servers.iter().map(|d| d.config).collect(),
        }
    }
}
