//! ipvsadm's error messages and exit codes.
//!
//! Messages are ipvsadm 1.31's (`fail()` calls in ipvsadm.c, popt's
//! `poptStrerror`, libipvs' `ipvs_strerror`), byte for byte; ipvsadm prints
//! each on stderr followed by a newline. Exit codes: 2 for usage errors
//! (`fail(2, ...)`), 255 for option-parser errors and failed changes
//! (ipvsadm returns -1 from `main`), 1 for failed listings.

use serde::{Deserialize, Serialize};
use std::fmt;
use thiserror::Error;

/// Commands, named as ipvsadm's `cmdnames` table names them in messages.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum CmdName {
    /// `-A`.
    AddService,
    /// `-E`.
    EditService,
    /// `-D`.
    DeleteService,
    /// `-C`.
    Flush,
    /// `-L`, `-l`.
    List,
    /// `-a`.
    AddServer,
    /// `-d`.
    DeleteServer,
    /// `-e`.
    EditServer,
    /// `--set`.
    Set,
    /// `--start-daemon`.
    StartDaemon,
    /// `--stop-daemon`.
    StopDaemon,
    /// `-R`.
    Restore,
    /// `-S`.
    Save,
    /// `-Z`.
    Zero,
}

impl CmdName {
    pub(crate) fn index(self) -> usize {
        self as usize
    }

    fn name(self) -> &'static str {
        [
            "add-service",
            "edit-service",
            "delete-service",
            "flush",
            "list",
            "add-server",
            "delete-server",
            "edit-server",
            "set",
            "start-daemon",
            "stop-daemon",
            "restore",
            "save",
            "zero",
        ][self.index()]
    }
}

impl fmt::Display for CmdName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// Options, named as ipvsadm's `optnames` table names them in messages
/// (the order is the table's, which decides which error is reported first).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
#[allow(missing_docs)] // each variant is the option its name says
pub enum OptName {
    Numeric,
    Connection,
    ServiceAddress,
    Scheduler,
    Persistent,
    Netmask,
    RealServer,
    ForwardingMethod,
    Weight,
    UThreshold,
    LThreshold,
    McastInterface,
    Timeout,
    Daemon,
    Stats,
    Rate,
    Thresholds,
    PersistentConn,
    NoSort,
    SyncId,
    Exact,
    Ops,
    Pe,
    SchedFlags,
    McastGroup,
    McastPort,
    McastTtl,
    SyncMaxlen,
    TunInfo,
    TunType,
    TunPort,
    TunNocsum,
    TunCsum,
    TunRemcsum,
}

impl OptName {
    /// Number of options in the table.
    pub(crate) const COUNT: usize = 34;

    /// All options in table order.
    pub(crate) const ALL: [OptName; OptName::COUNT] = [
        OptName::Numeric,
        OptName::Connection,
        OptName::ServiceAddress,
        OptName::Scheduler,
        OptName::Persistent,
        OptName::Netmask,
        OptName::RealServer,
        OptName::ForwardingMethod,
        OptName::Weight,
        OptName::UThreshold,
        OptName::LThreshold,
        OptName::McastInterface,
        OptName::Timeout,
        OptName::Daemon,
        OptName::Stats,
        OptName::Rate,
        OptName::Thresholds,
        OptName::PersistentConn,
        OptName::NoSort,
        OptName::SyncId,
        OptName::Exact,
        OptName::Ops,
        OptName::Pe,
        OptName::SchedFlags,
        OptName::McastGroup,
        OptName::McastPort,
        OptName::McastTtl,
        OptName::SyncMaxlen,
        OptName::TunInfo,
        OptName::TunType,
        OptName::TunPort,
        OptName::TunNocsum,
        OptName::TunCsum,
        OptName::TunRemcsum,
    ];

    pub(crate) fn bit(self) -> u64 {
        1u64 << (self as u32)
    }

    fn name(self) -> &'static str {
        [
            "numeric",
            "connection",
            "service-address",
            "scheduler",
            "persistent",
            "netmask",
            "real-server",
            "forwarding-method",
            "weight",
            "u-threshold",
            "l-threshold",
            "mcast-interface",
            "timeout",
            "daemon",
            "stats",
            "rate",
            "thresholds",
            "persistent-conn",
            "nosort",
            "syncid",
            "exact",
            "ops",
            "pe",
            "sched-flags",
            "mcast-group",
            "mcast-port",
            "mcast-ttl",
            "sync-maxlen",
            "tun-info",
            "tun-type",
            "tun-port",
            "tun-nocsum",
            "tun-csum",
            "tun-remcsum",
        ][self as usize]
    }
}

impl fmt::Display for OptName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// A usage error: ipvsadm's `fail(2, ...)` messages. Exit code 2.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
#[allow(missing_docs)] // the message is the documentation
pub enum UsageError {
    #[error("illegal virtual server address[:port] specified")]
    IllegalServiceAddress,
    #[error("illegal real server address[:port] specified")]
    IllegalServerAddress,
    /// rvs-specific: ipvsadm would resolve the name; rvsadm resolves none.
    #[error("`{name}' is not a numeric {what}: rvsadm resolves no names, give an IP address and a port number")]
    NotNumeric { what: &'static str, name: String },
    #[error("illegal virtual server persistent mask specified")]
    IllegalPersistentMask,
    #[error("illegal ipv6 netmask specified")]
    IllegalIpv6Netmask,
    #[error("illegal weight specified")]
    IllegalWeight,
    #[error("illegal u_threshold specified")]
    IllegalUThreshold,
    #[error("illegal l_threshold specified")]
    IllegalLThreshold,
    #[error("illegal syncid specified")]
    IllegalSyncId,
    /// ipvsadm's message ends with its own newline before `fail` adds one.
    #[error("-6 used before -f\n")]
    Ipv6BeforeFwmark,
    #[error("invalid IPv6 mcast-group `{0}'")]
    InvalidIpv6McastGroup(String),
    #[error("invalid IPv4 mcast-group `{0}'")]
    InvalidIpv4McastGroup(String),
    #[error("illegal mcast-port specified")]
    IllegalMcastPort,
    #[error("illegal mcast-ttl specified")]
    IllegalMcastTtl,
    #[error("illegal sync-maxlen specified")]
    IllegalSyncMaxlen,
    #[error("illegal tunnel type specified")]
    IllegalTunnelType,
    #[error("illegal tunnel port specified")]
    IllegalTunnelPort,
    #[error("invalid option `{0}'")]
    InvalidOption(String),
    #[error("--set option requires 3 timeout values")]
    SetNeedsThreeValues,
    #[error("unexpected argument {0}")]
    UnexpectedArgument(String),
    #[error("invalid timeout value `{0}' specified")]
    InvalidTimeout(String),
    #[error("invalid fwmark value `{0}' specified")]
    InvalidFwmark(String),
    #[error("incompatible scheduler flag `{0}'")]
    IncompatibleSchedFlag(String),
    #[error("invalid scheduler flag `{0}'")]
    InvalidSchedFlag(String),
    #[error("You need to supply the '{option}' option for the '{command}' command")]
    MissingOption { option: OptName, command: CmdName },
    #[error("Illegal '{option}' option with the '{command}' command")]
    IllegalOption { option: OptName, command: CmdName },
    #[error(
        "The option '{option}' conflicts with the '{other}' option in the '{command}' command"
    )]
    ConflictingOptions {
        option: OptName,
        other: OptName,
        command: CmdName,
    },
    #[error("You need to supply the '{option}' option for the '{tunnel}' tunnel type")]
    MissingTunnelOption {
        option: OptName,
        tunnel: &'static str,
    },
    #[error("Illegal '{option}' option with the '{tunnel}' tunnel type")]
    IllegalTunnelOption {
        option: OptName,
        tunnel: &'static str,
    },
    #[error(
        "The option '{option}' conflicts with the '{other}' option in the '{tunnel}' tunnel type"
    )]
    ConflictingTunnelOptions {
        option: OptName,
        other: OptName,
        tunnel: &'static str,
    },
    #[error("multiple '{0}' options specified")]
    DuplicateOption(OptName),
    #[error("Zero port specified for non-persistent service")]
    ZeroPortNonPersistent,
    #[error("One-Packet Scheduling is only for UDP virtual services")]
    OnePacketNotUdp,
    #[error("Different address family is allowed only for tunneling servers")]
    FamilyMismatch,
    #[error("Tunnel options conflict with forward method")]
    TunnelOptionsConflict,
    #[error("options conflicts in the list command")]
    ListOptionsConflict,
    #[error("illegal start-daemon parameter specified")]
    IllegalStartDaemon,
    /// ipvsadm's wording for a bad `--stop-daemon` argument.
    #[error("illegal start_daemon specified")]
    IllegalStopDaemon,
}

/// What popt reports about one argument (`poptStrerror`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PoptProblem {
    /// An option that needs a value came last.
    MissingArgument,
    /// No such option.
    UnknownOption,
    /// `--flag=value` or `-L=x` on an option without a value.
    UnwantedArgument,
}

impl fmt::Display for PoptProblem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            PoptProblem::MissingArgument => "missing argument",
            PoptProblem::UnknownOption => "unknown option",
            PoptProblem::UnwantedArgument => "option does not take an argument",
        })
    }
}

/// Why the director refused an operation: libipvs' `ipvs_strerror` texts.
/// These travel in REST responses, so they serialize.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Error, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
#[allow(missing_docs)] // the message is the documentation
pub enum OpError {
    /// `-A` of an existing service (EEXIST).
    #[error("Service already exists")]
    ServiceExists,
    /// Unknown scheduler or persistence engine (ENOENT on -A/-E).
    #[error("Scheduler or persistence engine not found")]
    SchedulerNotFound,
    /// ESRCH on -E, -D, -Z and listings of one service.
    #[error("No such service")]
    NoSuchService,
    /// ESRCH on -a, -e, -d.
    #[error("Service not defined")]
    ServiceNotDefined,
    #[error("Destination already exists")]
    DestinationExists,
    #[error("No such destination")]
    NoSuchDestination,
    #[error("Daemon has already run")]
    DaemonRunning,
    #[error("No daemon is running")]
    NoDaemon,
    #[error("Permission denied (you must be root)")]
    PermissionDenied,
    #[error("Invalid operation.  Possibly wrong module version, address not unicast, ...")]
    InvalidOperation,
    #[error("Protocol not available")]
    ProtocolNotAvailable,
    #[error("Memory allocation problem")]
    OutOfMemory,
    #[error("Operation not supported with IPv6")]
    Ipv6NotSupported,
    #[error("Operation not supported with specified address family")]
    FamilyNotSupported,
    #[error("Module is wrong version")]
    WrongVersion,
    /// ERANGE from the kernel: negative weight, or lower threshold above
    /// the upper one (strerror text).
    #[error("Numerical result out of range")]
    OutOfRange,
    /// rvs-specific: the IPVS sync daemon commands.
    #[error("unsupported: use rvsd's connection sync (planned)")]
    SyncDaemonUnsupported,
}

/// Any error rvsadm reports, with ipvsadm's message and exit code.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum IpvsError {
    /// A `fail(2, ...)` usage error.
    #[error(transparent)]
    Usage(#[from] UsageError),
    /// No command, or an unknown first option.
    #[error("Try `{program} -h' or '{program} --help' for more information.")]
    TryHelp {
        /// `argv[0]`.
        program: String,
    },
    /// An argument popt could not parse; `option` is the argv element.
    #[error("{option}: {problem}")]
    BadOption {
        /// The offending argv element.
        option: String,
        /// What is wrong with it.
        problem: PoptProblem,
    },
    /// A listing failed (exit code 1).
    #[error("{0}")]
    Listing(OpError),
    /// A change failed (exit code 255).
    #[error("{0}")]
    Command(OpError),
}

impl IpvsError {
    /// Process exit status ipvsadm gives for this error.
    pub fn exit_code(&self) -> i32 {
        match self {
            IpvsError::Usage(_) => 2,
            IpvsError::Listing(_) => 1,
            IpvsError::TryHelp { .. } | IpvsError::BadOption { .. } | IpvsError::Command(_) => 255,
        }
    }
}
