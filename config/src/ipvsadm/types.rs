//! Typed configuration of virtual services and real servers, as ipvsadm
//! commands carry it and as `-S` prints it.

use serde::{Deserialize, Serialize};

use crate::forward::ForwardMethod;
use std::fmt;
use std::net::{IpAddr, Ipv4Addr};

/// Default scheduler when `-s` is not given (ipvsadm's `DEF_SCHED`).
pub const DEFAULT_SCHEDULER: &str = "wlc";
/// Persistence timeout when `-p` is given without a value
/// (ipvsadm's `IPVS_SVC_PERSISTENT_TIMEOUT`, 6 minutes).
pub const DEFAULT_PERSISTENCE_TIMEOUT: u32 = 360;
/// Largest timeout ipvsadm accepts for `-p` and `--set` (31 days).
pub const MAX_TIMEOUT: u32 = 86400 * 31;
/// Default real-server weight.
pub const DEFAULT_WEIGHT: u32 = 1;
/// Schedulers the table accepts: the kernel's set (ipvsadm 1.31 lists up to `mh`; `twos`
/// came later and rvs runs it too).
pub const KNOWN_SCHEDULERS: &[&str] = &[
    "rr", "wrr", "lc", "wlc", "lblc", "lblcr", "dh", "sh", "sed", "nq", "fo", "ovf", "mh", "twos",
];

/// Transport protocol of an address-based virtual service.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Protocol {
    /// `-t`, `--tcp-service`.
    Tcp,
    /// `-u`, `--udp-service`.
    Udp,
    /// `--sctp-service`.
    Sctp,
}

impl Protocol {
    /// IANA protocol number; ipvsadm sorts services by it.
    pub fn number(self) -> u8 {
        match self {
            Protocol::Tcp => 6,
            Protocol::Udp => 17,
            Protocol::Sctp => 132,
        }
    }

    /// Name in `-L` listings (`TCP`, `UDP`, `SCTP`).
    pub fn list_name(self) -> &'static str {
        match self {
            Protocol::Tcp => "TCP",
            Protocol::Udp => "UDP",
            Protocol::Sctp => "SCTP",
        }
    }

    /// Option that selects it in `-S` rules.
    pub fn rule_option(self) -> &'static str {
        match self {
            Protocol::Tcp => "-t",
            Protocol::Udp => "-u",
            Protocol::Sctp => "--sctp-service",
        }
    }
}

/// Address family of a firewall-mark service (`-6` selects IPv6).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum AddressFamily {
    /// IPv4 (`AF_INET`).
    Inet,
    /// IPv6 (`AF_INET6`).
    Inet6,
}

impl AddressFamily {
    /// Family of an address.
    pub fn of(addr: &IpAddr) -> Self {
        match addr {
            IpAddr::V4(_) => AddressFamily::Inet,
            IpAddr::V6(_) => AddressFamily::Inet6,
        }
    }
}

/// The key of a virtual service: protocol + VIP + port, or a firewall mark.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "lowercase")]
pub enum VirtualService {
    /// `-t|-u|--sctp-service VIP[:port]`; port 0 is the all-ports service.
    Inet {
        /// Transport protocol.
        protocol: Protocol,
        /// Virtual IP address.
        addr: IpAddr,
        /// Virtual port, 0 for all ports (persistent services only).
        port: u16,
    },
    /// `-f MARK [-6]`: packets carrying this firewall mark.
    Fwmark {
        /// Firewall mark, 1..=u32::MAX.
        mark: u32,
        /// Address family of the marked packets.
        family: AddressFamily,
    },
}

impl VirtualService {
    /// Address family of the service.
    pub fn family(&self) -> AddressFamily {
        match self {
            VirtualService::Inet { addr, .. } => AddressFamily::of(addr),
            VirtualService::Fwmark { family, .. } => *family,
        }
    }

    /// Virtual port (0 for firewall-mark services).
    pub fn port(&self) -> u16 {
        match self {
            VirtualService::Inet { port, .. } => *port,
            VirtualService::Fwmark { .. } => 0,
        }
    }

    /// Protocol the way ipvsadm records it: firewall-mark services are TCP.
    pub fn protocol(&self) -> Protocol {
        match self {
            VirtualService::Inet { protocol, .. } => *protocol,
            VirtualService::Fwmark { .. } => Protocol::Tcp,
        }
    }

    /// Sort key of libipvs' `ipvs_cmp_services`: mark, family, protocol,
    /// address, port. (libipvs subtracts addresses as 32-bit ints, which
    /// misorders addresses more than 2^31 apart; this key orders numerically.)
    pub(crate) fn sort_key(&self) -> (u32, AddressFamily, u8, u128, u16) {
        match self {
            VirtualService::Inet {
                protocol,
                addr,
                port,
            } => (
                0,
                AddressFamily::of(addr),
                protocol.number(),
                addr_bits(addr),
                *port,
            ),
            VirtualService::Fwmark { mark, family } => (*mark, *family, 6, 0, 0),
        }
    }
}

/// Address as a number, for ordering within one family.
pub(crate) fn addr_bits(addr: &IpAddr) -> u128 {
    match addr {
        IpAddr::V4(a) => u128::from(u32::from(*a)),
        IpAddr::V6(a) => u128::from(*a),
    }
}

/// Writes `addr:port`, with IPv6 in brackets, as ipvsadm's numeric output.
pub(crate) struct AddrPort(pub IpAddr, pub u16);

impl fmt::Display for AddrPort {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.0 {
            IpAddr::V4(a) => write!(f, "{}:{}", a, self.1),
            IpAddr::V6(a) => write!(f, "[{}]:{}", a, self.1),
        }
    }
}

/// Persistence granularity mask (`-M`): a dotted mask for IPv4 services,
/// a prefix length for IPv6 ones.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Netmask {
    /// IPv4 mask, applied bitwise to the client address (need not be contiguous).
    V4(Ipv4Addr),
    /// IPv6 prefix length, 1..=128.
    V6(u8),
}

impl Netmask {
    /// The per-client default: /32 for IPv4, /128 for IPv6.
    pub fn host(family: AddressFamily) -> Self {
        match family {
            AddressFamily::Inet => Netmask::V4(Ipv4Addr::BROADCAST),
            AddressFamily::Inet6 => Netmask::V6(128),
        }
    }

    /// Whether this is the per-client default, which ipvsadm does not print.
    pub fn is_host(&self) -> bool {
        match self {
            Netmask::V4(m) => *m == Ipv4Addr::BROADCAST,
            Netmask::V6(p) => *p == 128,
        }
    }
}

impl fmt::Display for Netmask {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Netmask::V4(m) => write!(f, "{m}"),
            Netmask::V6(p) => write!(f, "{p}"),
        }
    }
}

/// Persistence of a service (`-p [timeout] [-M netmask]`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct Persistence {
    /// Seconds a persistence template outlives its last connection.
    pub timeout: u32,
    /// Client address mask that groups clients onto one template.
    pub netmask: Netmask,
}

/// Scheduler flags (`-b`). IPVS has three generic bits; `sh` and `mh` name
/// the first two `*-fallback` and `*-port`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct SchedFlags {
    /// `flag-1`, `sh-fallback`, `mh-fallback`.
    pub flag1: bool,
    /// `flag-2`, `sh-port`, `mh-port`.
    pub flag2: bool,
    /// `flag-3`.
    pub flag3: bool,
}

impl SchedFlags {
    /// No flag set.
    pub fn is_empty(&self) -> bool {
        !(self.flag1 || self.flag2 || self.flag3)
    }

    /// The comma-separated names ipvsadm prints for `scheduler`
    /// (`print_sched_flags`): `sh`/`mh` show only their two named flags.
    pub fn names(&self, scheduler: &str) -> String {
        let mut names: Vec<&str> = Vec::new();
        match scheduler {
            "sh" | "mh" => {
                if self.flag1 {
                    names.push(if scheduler == "sh" {
                        "sh-fallback"
                    } else {
                        "mh-fallback"
                    });
                }
                if self.flag2 {
                    names.push(if scheduler == "sh" {
                        "sh-port"
                    } else {
                        "mh-port"
                    });
                }
            }
            _ => {
                if self.flag1 {
                    names.push("flag-1");
                }
                if self.flag2 {
                    names.push("flag-2");
                }
                if self.flag3 {
                    names.push("flag-3");
                }
            }
        }
        names.join(",")
    }
}

/// Everything `-A`/`-E` set on a virtual service.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct ServiceConfig {
    /// The service's key.
    pub service: VirtualService,
    /// Scheduler name (`-s`, default `wlc`).
    pub scheduler: String,
    /// Scheduler flags (`-b`).
    #[serde(default)]
    pub sched_flags: SchedFlags,
    /// Persistence (`-p`, `-M`); `None` when the service is not persistent.
    #[serde(default)]
    pub persistence: Option<Persistence>,
    /// Persistence engine (`--pe`), e.g. `sip`.
    #[serde(default)]
    pub persistence_engine: Option<String>,
    /// One-packet scheduling (`-o`, UDP and firewall-mark services only).
    #[serde(default)]
    pub one_packet: bool,
    /// FULLNAT's TOA switch (rvs, not ipvsadm): `Some(false)` when the service's
    /// connections carry no TOA option; `None` keeps the current setting (TOA on for a
    /// new service).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub toa: Option<bool>,
}

impl ServiceConfig {
    /// A service with ipvsadm's defaults: `wlc`, not persistent.
    pub fn new(service: VirtualService) -> Self {
        ServiceConfig {
            service,
            scheduler: DEFAULT_SCHEDULER.to_string(),
            sched_flags: SchedFlags::default(),
            persistence: None,
            persistence_engine: None,
            one_packet: false,
            toa: None,
        }
    }
}

/// Everything `-a`/`-e` set on a real server.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct DestConfig {
    /// Real server address.
    pub addr: IpAddr,
    /// Real server port (equal to the virtual port for Route and Tunnel).
    pub port: u16,
    /// Forwarding method.
    pub method: ForwardMethod,
    /// Weight 0..=65535; 0 makes the server quiescent.
    pub weight: u32,
    /// Upper connection threshold (`-x`), 0 = none.
    #[serde(default)]
    pub u_threshold: u32,
    /// Lower connection threshold (`-y`), 0 = none.
    #[serde(default)]
    pub l_threshold: u32,
}
