//! ipvsadm's tables of which options go with which command and tunnel type
//! (`commands_v_options`, `tunnel_types_v_options`) and the checks of its
//! `process_options` that come after every option has been read.

use super::error::{CmdName, IpvsError, OptName, UsageError};
use super::options::{Entry, TUNNEL_NAMES};
use super::types::{AddressFamily, Protocol, DEFAULT_SCHEDULER};
use crate::forward::ForwardMethod;

/// Legal combinations of commands and options (ipvsadm's
/// `commands_v_options`): `+` required, `x` illegal, `1` at most one of the
/// `1`s, ` ` optional. Rows in [`CmdName`] order, columns in [`OptName`] order.
const COMMANDS_V_OPTIONS: [&[u8; OptName::COUNT]; 14] = [
    b"xx+   xxxxxxxxxxxxxxx   xxxxxxxxxx", // add-service
    b"xx+   xxxxxxxxxxxxxxx   xxxxxxxxxx", // edit-service
    b"xx+xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx", // delete-service
    b"xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx", // flush
    b" 11xxxxxxxxx11       xxxxxxx xxxxx", // list
    b"xx+xxx+    xxxxxxxxxxxxxxxxxx     ", // add-server
    b"xx+xxx+xxxxxxxxxxxxxxxxxxxxxxxxxxx", // delete-server
    b"xx+xxx+    xxxxxxxxxxxxxxxxxx     ", // edit-server
    b"xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx", // set
    b"xxxxxxxxxxx xxxxxxx xxxx    xxxxxx", // start-daemon
    b"xxxxxxxxxxxxxxxxxxx xxxxxxxxxxxxxx", // stop-daemon
    b"xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx", // restore
    b" xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx", // save
    b"xx xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx", // zero
];

/// Tunnel options checked per tunnel type (ipvsadm's `tunopts`).
const TUN_OPTS: [OptName; 4] = [
    OptName::TunPort,
    OptName::TunNocsum,
    OptName::TunCsum,
    OptName::TunRemcsum,
];

/// Legal tunnel options per tunnel type (`tunnel_types_v_options`): ipip, gue, gre.
const TUNNEL_V_OPTIONS: [&[u8; 4]; 3] = [b"xxxx", b"+111", b"x11x"];

/// What a row of an option table refuses (the first problem, in column order).
enum RowProblem {
    /// A `+` option not given.
    Missing(OptName),
    /// An `x` option given.
    Illegal(OptName),
    /// A second `1` option given (with the first).
    Conflicting(OptName, OptName),
}

/// Checks the given `options` against one table row whose columns are `columns`.
fn check_row(row: &[u8], columns: &[OptName], options: u64) -> Result<(), RowProblem> {
    let mut first_exclusive: Option<OptName> = None;
    for (&opt, &rule) in columns.iter().zip(row) {
        let given = options & opt.bit() != 0;
        match (given, rule) {
            (false, b'+') => return Err(RowProblem::Missing(opt)),
            (true, b'x') => return Err(RowProblem::Illegal(opt)),
            (true, b'1') => match first_exclusive {
                None => first_exclusive = Some(opt),
                Some(other) => return Err(RowProblem::Conflicting(opt, other)),
            },
            _ => {}
        }
    }
    Ok(())
}

/// ipvsadm's `generic_opt_check`: the options the command allows and needs.
pub(super) fn generic_opt_check(cmd: CmdName, options: u64) -> Result<(), UsageError> {
    check_row(COMMANDS_V_OPTIONS[cmd.index()], &OptName::ALL, options).map_err(|p| match p {
        RowProblem::Missing(option) => UsageError::MissingOption {
            option,
            command: cmd,
        },
        RowProblem::Illegal(option) => UsageError::IllegalOption {
            option,
            command: cmd,
        },
        RowProblem::Conflicting(option, other) => UsageError::ConflictingOptions {
            option,
            other,
            command: cmd,
        },
    })
}

/// ipvsadm's `tunnel_opt_check`: the `--tun-*` options the tunnel type allows and needs.
fn tunnel_opt_check(tun_type: usize, options: u64) -> Result<(), UsageError> {
    let tunnel = TUNNEL_NAMES[tun_type];
    check_row(TUNNEL_V_OPTIONS[tun_type], &TUN_OPTS, options).map_err(|p| match p {
        RowProblem::Missing(option) => UsageError::MissingTunnelOption { option, tunnel },
        RowProblem::Illegal(option) => UsageError::IllegalTunnelOption { option, tunnel },
        RowProblem::Conflicting(option, other) => UsageError::ConflictingTunnelOptions {
            option,
            other,
            tunnel,
        },
    })
}

/// The checks of ipvsadm's `process_options` after every option is read, and the
/// defaults they fill in (the scheduler; DR and tunnel real servers keep the virtual
/// port).
pub(super) fn process_options(e: &mut Entry) -> Result<(), IpvsError> {
    let cmd = e.cmd;
    if matches!(cmd, CmdName::AddService | CmdName::EditService) {
        if e.fwmark == 0 && e.svc_port == 0 && !e.persistent {
            return Err(UsageError::ZeroPortNonPersistent.into());
        }
        if e.one_packet && e.fwmark == 0 && e.protocol != Protocol::Udp {
            return Err(UsageError::OnePacketNotUdp.into());
        }
        if e.sched.is_empty() {
            e.sched = DEFAULT_SCHEDULER.to_string();
        }
    }
    if matches!(cmd, CmdName::AddServer | CmdName::EditServer) {
        // DR and tunnels cannot change the port: the real server gets the
        // virtual port (firewall-mark services have none).
        if e.fwmark == 0 && matches!(e.fwd, ForwardMethod::Tunnel(_) | ForwardMethod::Route) {
            e.dest_port = e.svc_port;
        }
        let dest_af = e.dest_addr.as_ref().map(AddressFamily::of);
        if dest_af != e.svc_af && !matches!(e.fwd, ForwardMethod::Tunnel(_)) {
            return Err(UsageError::FamilyMismatch.into());
        }
        let tun_opts = OptName::TunType.bit()
            | OptName::TunPort.bit()
            | OptName::TunNocsum.bit()
            | OptName::TunCsum.bit()
            | OptName::TunRemcsum.bit();
        if e.options & tun_opts != 0 && !matches!(e.fwd, ForwardMethod::Tunnel(_)) {
            return Err(UsageError::TunnelOptionsConflict.into());
        }
        tunnel_opt_check(e.tun_type, e.options)?;
    }
    if cmd == CmdName::List {
        let one_of = |opts: &[OptName]| opts.iter().any(|o| e.has(*o));
        if (one_of(&[OptName::Connection, OptName::Timeout, OptName::Daemon])
            && one_of(&[OptName::Stats, OptName::Rate, OptName::Thresholds]))
            || (one_of(&[OptName::Timeout, OptName::Daemon]) && e.has(OptName::PersistentConn))
        {
            return Err(UsageError::ListOptionsConflict.into());
        }
    }
    Ok(())
}
