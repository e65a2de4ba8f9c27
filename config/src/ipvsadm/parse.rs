//! ipvsadm's command line: the first option picks the command, the popt scanner
//! (`popt.rs`) reads the rest, each option is applied as ipvsadm applies it
//! (`options.rs`), then come ipvsadm's checks (`checks.rs`) and the typed
//! [`IpvsCommand`]. Values are read as C reads them (`c_compat.rs`, `values.rs`).

use std::net::Ipv4Addr;

use super::checks::{generic_opt_check, process_options};
use super::command::{
    IpvsCommand, ListFormat, ListRequest, ListTarget, SyncDaemonConfig, SyncState,
};
use super::error::{CmdName, IpvsError, OptName, UsageError};
use super::options::{apply_option, Entry};
use super::popt::{Scan, Scanner, Tag};
use super::types::{
    AddressFamily, DestConfig, Netmask, Persistence, ServiceConfig, VirtualService, MAX_TIMEOUT,
};
use super::values::{parse_sched_flags, parse_timeout};
use super::view::TimeoutsView;
use crate::forward::{ForwardMethod, TunnelCsum, TunnelType};

/// Parses one ipvsadm command line. `argv[0]` is the program name (used in
/// the "Try ... -h" message); with nothing after it the command is a plain
/// listing, as for ipvsadm without arguments.
///
/// Every check ipvsadm 1.31 makes before talking to the kernel is made
/// here, in the same order, with the same message and exit code.
pub fn parse_argv<S: AsRef<str>>(argv: &[S]) -> Result<IpvsCommand, IpvsError> {
    let program = argv.first().map(|s| s.as_ref()).unwrap_or("ipvsadm");
    let args: Vec<&str> = argv.iter().skip(1).map(|s| s.as_ref()).collect();
    if args.is_empty() {
        return Ok(IpvsCommand::List(ListRequest {
            target: ListTarget::All,
            format: ListFormat::default(),
        }));
    }
    let try_help = || IpvsError::TryHelp {
        program: program.to_string(),
    };
    let mut scanner = Scanner::new(&args);
    let mut e = match scanner.next_opt() {
        Scan::Opt(Tag::Command(cmd), value) => command_entry(cmd, value)?,
        Scan::Opt(Tag::Help, _) => return Ok(IpvsCommand::Help),
        Scan::Opt(Tag::Version, _) => return Ok(IpvsCommand::Version),
        Scan::Opt(..) | Scan::End | Scan::Error(_) => return Err(try_help()),
    };
    loop {
        match scanner.next_opt() {
            Scan::End => break,
            Scan::Error(problem) => {
                return Err(IpvsError::BadOption {
                    option: scanner.bad_option(),
                    problem,
                })
            }
            Scan::Opt(tag, value) => {
                let bad = scanner.bad_option();
                apply_option(&mut e, tag, value, &bad)?;
            }
        }
    }
    leftovers(&mut e, &scanner.leftovers)?;
    if let Some(arg) = e.sched_flags_arg.take().filter(|a| !a.is_empty()) {
        e.sched_flags = parse_sched_flags(&e.sched, &arg)?;
    }
    generic_opt_check(e.cmd, e.options)?;
    process_options(&mut e)?;
    command(e)
}

/// The entry of a command; `--start-daemon` and `--stop-daemon` take the
/// daemon's state as their value.
fn command_entry(cmd: CmdName, value: Option<&str>) -> Result<Entry, IpvsError> {
    let mut e = Entry::new(cmd);
    if matches!(cmd, CmdName::StartDaemon | CmdName::StopDaemon) {
        e.daemon_state = match value {
            Some("master") => SyncState::Master,
            Some("backup") => SyncState::Backup,
            _ if cmd == CmdName::StartDaemon => return Err(UsageError::IllegalStartDaemon.into()),
            _ => return Err(UsageError::IllegalStopDaemon.into()),
        };
    }
    Ok(e)
}

/// The words that are not options: `--set`'s three timeouts, nothing else.
fn leftovers(e: &mut Entry, words: &[&str]) -> Result<(), IpvsError> {
    let mut leftovers = words.iter();
    if e.cmd == CmdName::Set {
        let (Some(tcp), Some(fin), Some(udp)) =
            (leftovers.next(), leftovers.next(), leftovers.next())
        else {
            return Err(UsageError::SetNeedsThreeValues.into());
        };
        let max = i64::from(MAX_TIMEOUT);
        e.timeouts = TimeoutsView {
            tcp: parse_timeout(Some(tcp), 0, max)?,
            tcp_fin: parse_timeout(Some(fin), 0, max)?,
            udp: parse_timeout(Some(udp), 0, max)?,
        };
    }
    if let Some(extra) = leftovers.next() {
        return Err(UsageError::UnexpectedArgument(extra.to_string()).into());
    }
    Ok(())
}

/// The typed command of a checked entry.
fn command(e: Entry) -> Result<IpvsCommand, IpvsError> {
    let cmd = e.cmd;
    // generic_opt_check guaranteed a service wherever one is required.
    let service = e.virtual_service();
    let need_service = || {
        service.ok_or(UsageError::MissingOption {
            option: OptName::ServiceAddress,
            command: cmd,
        })
    };
    Ok(match cmd {
        CmdName::AddService => IpvsCommand::AddService {
            service: service_config(&e, need_service()?),
        },
        CmdName::EditService => IpvsCommand::EditService {
            service: service_config(&e, need_service()?),
        },
        CmdName::DeleteService => IpvsCommand::DeleteService {
            service: need_service()?,
        },
        CmdName::Flush => IpvsCommand::Clear,
        CmdName::Restore => IpvsCommand::Restore,
        CmdName::Save => IpvsCommand::Save {
            numeric: e.format.numeric,
        },
        CmdName::AddServer | CmdName::EditServer | CmdName::DeleteServer => {
            server_command(&e, need_service()?)?
        }
        CmdName::List => IpvsCommand::List(ListRequest {
            target: list_target(&e, service),
            format: e.format,
        }),
        CmdName::Zero => IpvsCommand::Zero { service },
        CmdName::Set => IpvsCommand::SetTimeouts(e.timeouts),
        CmdName::StartDaemon => IpvsCommand::StartDaemon(SyncDaemonConfig {
            state: e.daemon_state,
            mcast_interface: e.mcast_ifn.clone().unwrap_or_else(|| "eth0".to_string()),
            syncid: e.syncid,
            mcast_group: e.mcast_group,
            mcast_port: e.mcast_port,
            mcast_ttl: e.mcast_ttl,
            sync_maxlen: e.sync_maxlen,
        }),
        CmdName::StopDaemon => IpvsCommand::StopDaemon {
            state: e.daemon_state,
            syncid: e.syncid,
        },
    })
}

/// What `-A`/`-E` set on the service `vs`.
fn service_config(e: &Entry, vs: VirtualService) -> ServiceConfig {
    ServiceConfig {
        service: vs,
        scheduler: e.sched.clone(),
        sched_flags: e.sched_flags,
        persistence: e.persistent.then(|| Persistence {
            timeout: e.timeout,
            netmask: match vs.family() {
                AddressFamily::Inet => Netmask::V4(Ipv4Addr::from(e.netmask)),
                AddressFamily::Inet6 => Netmask::V6(e.netmask.min(128) as u8),
            },
        }),
        persistence_engine: e.pe.clone(),
        one_packet: e.one_packet,
        toa: None,
    }
}

/// `-a`, `-e` or `-d` on the service `vs`.
fn server_command(e: &Entry, vs: VirtualService) -> Result<IpvsCommand, IpvsError> {
    let cmd = e.cmd;
    let addr = e.dest_addr.ok_or(UsageError::MissingOption {
        option: OptName::RealServer,
        command: cmd,
    })?;
    if cmd == CmdName::DeleteServer {
        return Ok(IpvsCommand::DeleteServer {
            service: vs,
            addr,
            port: e.dest_port,
        });
    }
    let server = DestConfig {
        addr,
        port: e.dest_port,
        method: forward_method(e),
        weight: e.weight,
        u_threshold: e.u_threshold,
        l_threshold: e.l_threshold,
    };
    Ok(if cmd == CmdName::AddServer {
        IpvsCommand::AddServer {
            service: vs,
            server,
        }
    } else {
        IpvsCommand::EditServer {
            service: vs,
            server,
        }
    })
}

/// The real server's method, a tunnel with its `--tun-*` options.
fn forward_method(e: &Entry) -> ForwardMethod {
    let csum = match e.tun_flags {
        0 => TunnelCsum::NoCsum,
        1 => TunnelCsum::Csum,
        _ => TunnelCsum::RemCsum,
    };
    match e.fwd {
        ForwardMethod::Tunnel(_) => ForwardMethod::Tunnel(match e.tun_type {
            0 => TunnelType::Ipip,
            1 => TunnelType::Gue {
                port: e.tun_port,
                csum,
            },
            _ => TunnelType::Gre { csum },
        }),
        other => other,
    }
}

/// What `-L` lists: connections, one service, timeouts, daemons or everything.
fn list_target(e: &Entry, service: Option<VirtualService>) -> ListTarget {
    if e.has(OptName::Connection) {
        ListTarget::Connections
    } else if let Some(service) = service {
        ListTarget::Service { service }
    } else if e.has(OptName::Timeout) {
        ListTarget::Timeouts
    } else if e.has(OptName::Daemon) {
        ListTarget::Daemons
    } else {
        ListTarget::All
    }
}
