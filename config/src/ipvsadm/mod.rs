//! ipvsadm 1.31's command grammar and output, for `rvsadm` and `rvsd`.
//!
//! # What is here
//! - [`parse_argv`]: one command line (`rvsadm -A -t 198.18.0.1:80 -s rr`)
//!   into a typed [`IpvsCommand`], with every check ipvsadm makes before it
//!   talks to the kernel, in ipvsadm's order, with its messages and exit
//!   codes ([`IpvsError::exit_code`]).
//! - [`parse_rules`]: `-S` text (the input of `-R`) into commands, one per
//!   line; [`RuleTable`] replays them with the kernel's refusals ("Service
//!   already exists", "Destination already exists", ...) to rebuild the
//!   table, so `-S | -R` round-trips.
//! - View types ([`ServiceView`], [`DestView`], [`ConnView`],
//!   [`TimeoutsView`]): what `-L` shows, also the admin REST API's JSON.
//! - Formatters, byte-identical to ipvsadm 1.31: [`format_list`] (`-Ln`,
//!   `--stats`, `--rate`, `--thresholds`, `--persistent-conn`, `--tun-info`,
//!   `--exact`, `--nosort`), [`format_service`] (`-Ln -t VIP:port`),
//!   [`format_connections`] (`-Lnc`), [`format_timeouts`] (`-Ln --timeout`),
//!   [`format_rules`] (`-S -n`).
//!
//! # Grammar
//! Commands: `-A -E -D -C -R -S -a -e -d -L/-l -Z --set --start-daemon
//! --stop-daemon -h -v`; services `-t -u --sctp-service -f [-6]`; options
//! `-s -b -p [timeout] -M --pe -o -r -g -i -m -w -x -y --tun-type --tun-port
//! --tun-nocsum --tun-csum --tun-remcsum -n -c --timeout --daemon --stats
//! --rate --exact --thresholds --persistent-conn --tun-info --sort --nosort
//! --syncid --mcast-*  --sync-maxlen`, each also in its long form.
//! As with popt: short options cluster (`-Ln`, `-Lnc`, `-p300`), long ones
//! take `--opt value` or `--opt=value`, `-p` takes the next word as its
//! timeout unless that word starts with `-` (alone it means 360 s), words
//! that are not options are collected for `--set tcp tcpfin udp` and refused
//! elsewhere ("unexpected argument"), `--` ends the options, and the first
//! option must be the command. Addresses are `v4[:port]`, `v6` or
//! `[v6]:port`; an IPv4 address may use inet_aton's forms (`198.18.1`).
//!
//! # Where rvs differs from ipvsadm 1.31
//! - `--fullnat` (long option only; `-b` is already the scheduler flags)
//!   selects rvs's full NAT; listings call it `FullNat` and `-S` writes
//!   `--fullnat`.
//! - No name is ever resolved: host and port names are refused with a
//!   message that says so ([`UsageError::NotNumeric`]), and output is
//!   always numeric, with or without `-n`.
//! - `-S` appends `-x U -y L` to real servers whose thresholds are not 0
//!   (ipvsadm drops thresholds, so `-R` could not rebuild them); other lines
//!   are byte-identical.
//! - Firewall marks print unsigned (ipvsadm 1.31 printed marks above 2^31
//!   as negative numbers, fixed upstream after 1.31).
//! - Sorting uses the numeric order of addresses; libipvs subtracts them as
//!   32-bit ints, which misorders addresses more than 2^31 apart (for
//!   example 10.0.0.1 after 198.18.0.1).
//! - In rule text, a word starting with `#` comments out the rest of the
//!   line and a trailing `\` continues a line.
//! - `-L --daemon` has nothing to print: rvs runs no IPVS sync daemon, and
//!   `--start-daemon`/`--stop-daemon` parse but are refused with
//!   [`OpError::SyncDaemonUnsupported`].
//!
//! # Why a hand-written parser and not clap
//! ipvsadm's grammar is popt's: the first option is the command, `-p` takes
//! an optional value only when the next word does not start with `-`,
//! values are checked as they are met (so which error wins depends on
//! argument order), `-M` is read as a mask or a prefix length depending on
//! the service given before it, and the command/option table decides the
//! exact message. clap can express the options but not that order-dependent
//! processing or the messages, so a small popt-compatible scanner
//! (`popt.rs`) feeds a transcription of ipvsadm's option handling
//! (`options.rs`) and checks (`checks.rs`), which read values as ipvsadm's
//! C does (`values.rs`, `c_compat.rs`); `parse.rs` drives them.

mod c_compat;
mod checks;
mod command;
mod error;
mod format;
mod options;
mod parse;
mod popt;
mod rules;
mod types;
mod usage;
mod values;
mod view;

#[cfg(test)]
mod tests;

/// The forwarding method and its tunnel options, shared with the YAML model.
pub use crate::forward::{ForwardMethod, TunnelCsum, TunnelType};
pub use command::{IpvsCommand, ListFormat, ListRequest, ListTarget, SyncDaemonConfig, SyncState};
pub use error::{CmdName, IpvsError, OpError, OptName, PoptProblem, UsageError};
pub use format::{
    format_connections, format_list, format_rules, format_service, format_timeouts, CONN_TAB_SIZE,
    IPVS_VERSION,
};
pub use parse::parse_argv;
pub use rules::{parse_rules, RuleError, RuleLine, RuleTable};
pub use types::{
    AddressFamily, DestConfig, Netmask, Persistence, Protocol, SchedFlags, ServiceConfig,
    VirtualService, DEFAULT_PERSISTENCE_TIMEOUT, DEFAULT_SCHEDULER, DEFAULT_WEIGHT,
    KNOWN_SCHEDULERS, MAX_TIMEOUT,
};
pub use usage::{usage, version_line, IPVSADM_COMPAT_VERSION};
pub use view::{
    ConnProtocol, ConnView, DestView, PeData, Rates, ServiceRule, ServiceView, Stats, TimeoutsView,
};
