//! The typed result of parsing one ipvsadm command line.

use super::error::{IpvsError, OpError};
use super::types::{DestConfig, ServiceConfig, VirtualService};
use super::view::TimeoutsView;
use serde::{Deserialize, Serialize};
use std::net::IpAddr;

/// One ipvsadm command with every default applied (as ipvsadm hands it to
/// the kernel: `-E` and `-e` replace the whole service or server).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case", tag = "command")]
pub enum IpvsCommand {
    /// `-A`: add a virtual service.
    AddService {
        /// The service.
        service: ServiceConfig,
    },
    /// `-E`: replace a virtual service's settings.
    EditService {
        /// The new settings; `service.service` names the service.
        service: ServiceConfig,
    },
    /// `-D`: delete a virtual service.
    DeleteService {
        /// The service.
        service: VirtualService,
    },
    /// `-C`: delete every virtual service.
    Clear,
    /// `-R`: read commands from stdin (see [`super::parse_rules`]).
    Restore,
    /// `-S [-n]`: print the table as rules.
    Save {
        /// `-n` was given (output is always numeric: rvsadm resolves no names).
        numeric: bool,
    },
    /// `-a`: add a real server.
    AddServer {
        /// The service.
        service: VirtualService,
        /// The real server.
        server: DestConfig,
    },
    /// `-e`: replace a real server's settings.
    EditServer {
        /// The service.
        service: VirtualService,
        /// The new settings; address and port name the server.
        server: DestConfig,
    },
    /// `-d`: delete a real server.
    DeleteServer {
        /// The service.
        service: VirtualService,
        /// Real server address.
        addr: IpAddr,
        /// Real server port.
        port: u16,
    },
    /// `-L`/`-l`: list.
    List(ListRequest),
    /// `-Z [service]`: zero counters of one or all services.
    Zero {
        /// One service, or all when `None`.
        service: Option<VirtualService>,
    },
    /// `--set tcp tcpfin udp`; a 0 leaves that timeout unchanged.
    SetTimeouts(TimeoutsView),
    /// `--start-daemon master|backup`.
    StartDaemon(SyncDaemonConfig),
    /// `--stop-daemon master|backup`.
    StopDaemon {
        /// Which daemon.
        state: SyncState,
        /// `--syncid`, if given.
        syncid: Option<u8>,
    },
    /// `-h`: print the usage text to stdout and exit 0.
    Help,
    /// `-v`: print the version line and exit 0.
    Version,
}

impl IpvsCommand {
    /// Whether the command only reads (a failure then exits with 1, not 255).
    pub fn is_listing(&self) -> bool {
        matches!(self, IpvsCommand::List(_) | IpvsCommand::Save { .. })
    }

    /// Wraps a refusal of this command into the error rvsadm reports,
    /// with ipvsadm's exit code for it.
    pub fn failure(&self, error: OpError) -> IpvsError {
        if self.is_listing() {
            IpvsError::Listing(error)
        } else {
            IpvsError::Command(error)
        }
    }

    /// The refusal for a service that does not exist: libipvs says
    /// "Service not defined" for real-server commands and "No such service"
    /// for the others.
    pub fn missing_service(&self) -> OpError {
        match self {
            IpvsCommand::AddServer { .. }
            | IpvsCommand::EditServer { .. }
            | IpvsCommand::DeleteServer { .. } => OpError::ServiceNotDefined,
            _ => OpError::NoSuchService,
        }
    }
}

/// What `-L` lists.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case", tag = "what")]
pub enum ListTarget {
    /// The whole table, with the version header.
    All,
    /// One service (`-L -t VIP:port`), without the version header.
    Service {
        /// The service.
        service: VirtualService,
    },
    /// Connections (`-c`).
    Connections,
    /// Timeouts (`--timeout`).
    Timeouts,
    /// Sync daemons (`--daemon`).
    Daemons,
}

/// Output options of `-L` (ipvsadm's `FMT_*` flags).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ListFormat {
    /// `-n` (output is numeric either way: rvsadm resolves no names).
    pub numeric: bool,
    /// `--stats`.
    pub stats: bool,
    /// `--rate`.
    pub rate: bool,
    /// `--thresholds`.
    pub thresholds: bool,
    /// `--persistent-conn`.
    pub persistent_conn: bool,
    /// `--tun-info`.
    pub tun_info: bool,
    /// `--exact`: no K/M/G scaling.
    pub exact: bool,
    /// `--nosort`: keep the order the director gave.
    pub nosort: bool,
}

/// A `-L` command.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct ListRequest {
    /// What to list.
    pub target: ListTarget,
    /// How.
    pub format: ListFormat,
}

/// Role of an IPVS connection-sync daemon.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum SyncState {
    /// Sends connection updates.
    Master,
    /// Receives them.
    Backup,
}

/// `--start-daemon` and its daemon options.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SyncDaemonConfig {
    /// Master or backup.
    pub state: SyncState,
    /// `--mcast-interface` (default `eth0`).
    pub mcast_interface: String,
    /// `--syncid`.
    pub syncid: Option<u8>,
    /// `--mcast-group`.
    pub mcast_group: Option<IpAddr>,
    /// `--mcast-port`.
    pub mcast_port: Option<u16>,
    /// `--mcast-ttl`.
    pub mcast_ttl: Option<u8>,
    /// `--sync-maxlen`.
    pub sync_maxlen: Option<u16>,
}
