//! A popt-compatible option scanner over ipvsadm 1.31's option table: what
//! `poptGetNextOpt` does with ipvsadm's `options[]`, so that clusters, optional
//! values, `=` and leftover words are read exactly as ipvsadm reads them. What
//! each option means is in `options.rs`.

use super::error::{CmdName, PoptProblem};
use super::types::Protocol;
use crate::forward::{ForwardMethod, TunnelType};

/// What an option stands for (popt's `val`), grouped as `options.rs` applies them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Tag {
    /// A command (`-A`, `-L`, `--start-daemon` ...): only as the first option.
    Command(CmdName),
    /// `-h`: only as the first option.
    Help,
    /// `-v`: only as the first option.
    Version,
    /// What names the virtual service.
    Service(ServiceOpt),
    /// How the service schedules: scheduler, persistence, one-packet.
    Schedule(ScheduleOpt),
    /// The real server and how packets reach it.
    Server(ServerOpt),
    /// A tunnel real server's encapsulation.
    Tunnel(TunnelOpt),
    /// What `-L` shows and how.
    List(ListOpt),
    /// The sync daemon's settings.
    Sync(SyncOpt),
}

/// `-t`, `-u`, `--sctp-service`, `-f`, `-6`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum ServiceOpt {
    Address(Protocol),
    Fwmark,
    Ipv6,
}

/// `-s`, `-b`, `-p`, `-M`, `-o`, `--pe`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum ScheduleOpt {
    Scheduler,
    SchedFlags,
    Persistent,
    Netmask,
    OnePacket,
    PersistenceEngine,
}

/// `-r`, `-m`/`-g`/`-i`/`--fullnat`, `-w`, `-x`, `-y`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum ServerOpt {
    Address,
    /// The method an option selects; `-i`'s tunnel details come from [`TunnelOpt`]s.
    Forward(ForwardMethod),
    Weight,
    UThreshold,
    LThreshold,
}

/// `--tun-type`, `--tun-port`, `--tun-nocsum`, `--tun-csum`, `--tun-remcsum`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum TunnelOpt {
    Type,
    Port,
    NoCsum,
    Csum,
    RemCsum,
}

/// `-c`, `-n`, `--timeout`, `--daemon`, `--stats`, `--rate`, `--thresholds`,
/// `--persistent-conn`, `--nosort`, `--sort`, `--exact`, `--tun-info`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum ListOpt {
    Connection,
    Numeric,
    Timeout,
    Daemon,
    Stats,
    Rate,
    Thresholds,
    PersistentConn,
    NoSort,
    Sort,
    Exact,
    TunInfo,
}

/// `--mcast-interface`, `--syncid`, `--mcast-group`, `--mcast-port`, `--mcast-ttl`,
/// `--sync-maxlen`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum SyncOpt {
    McastInterface,
    SyncId,
    McastGroup,
    McastPort,
    McastTtl,
    SyncMaxlen,
}

/// Whether an option takes a value (popt's `POPT_ARG_*`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Arg {
    None,
    Required,
    /// `POPT_ARGFLAG_OPTIONAL`: takes the next word unless it starts with `-`.
    Optional,
}

struct OptSpec {
    long: &'static str,
    short: Option<char>,
    arg: Arg,
    tag: Tag,
}

const fn opt(long: &'static str, short: Option<char>, arg: Arg, tag: Tag) -> OptSpec {
    OptSpec {
        long,
        short,
        arg,
        tag,
    }
}

use CmdName as C;
use ListOpt as L;
use ScheduleOpt as P;
use ServerOpt as R;
use ServiceOpt as V;
use SyncOpt as Y;
use TunnelOpt as T;

/// ipvsadm 1.31's popt table, plus rvs's `--fullnat`.
const OPTIONS: &[OptSpec] = &[
    opt(
        "add-service",
        Some('A'),
        Arg::None,
        Tag::Command(C::AddService),
    ),
    opt(
        "edit-service",
        Some('E'),
        Arg::None,
        Tag::Command(C::EditService),
    ),
    opt(
        "delete-service",
        Some('D'),
        Arg::None,
        Tag::Command(C::DeleteService),
    ),
    opt("clear", Some('C'), Arg::None, Tag::Command(C::Flush)),
    opt("list", Some('L'), Arg::None, Tag::Command(C::List)),
    opt("list", Some('l'), Arg::None, Tag::Command(C::List)),
    opt("zero", Some('Z'), Arg::None, Tag::Command(C::Zero)),
    opt(
        "add-server",
        Some('a'),
        Arg::None,
        Tag::Command(C::AddServer),
    ),
    opt(
        "edit-server",
        Some('e'),
        Arg::None,
        Tag::Command(C::EditServer),
    ),
    opt(
        "delete-server",
        Some('d'),
        Arg::None,
        Tag::Command(C::DeleteServer),
    ),
    opt("set", None, Arg::None, Tag::Command(C::Set)),
    opt("help", Some('h'), Arg::None, Tag::Help),
    opt("version", Some('v'), Arg::None, Tag::Version),
    opt("restore", Some('R'), Arg::None, Tag::Command(C::Restore)),
    opt("save", Some('S'), Arg::None, Tag::Command(C::Save)),
    opt(
        "start-daemon",
        None,
        Arg::Required,
        Tag::Command(C::StartDaemon),
    ),
    opt(
        "stop-daemon",
        None,
        Arg::Required,
        Tag::Command(C::StopDaemon),
    ),
    opt(
        "tcp-service",
        Some('t'),
        Arg::Required,
        Tag::Service(V::Address(Protocol::Tcp)),
    ),
    opt(
        "udp-service",
        Some('u'),
        Arg::Required,
        Tag::Service(V::Address(Protocol::Udp)),
    ),
    opt(
        "sctp-service",
        None,
        Arg::Required,
        Tag::Service(V::Address(Protocol::Sctp)),
    ),
    opt(
        "fwmark-service",
        Some('f'),
        Arg::Required,
        Tag::Service(V::Fwmark),
    ),
    opt(
        "scheduler",
        Some('s'),
        Arg::Required,
        Tag::Schedule(P::Scheduler),
    ),
    opt(
        "persistent",
        Some('p'),
        Arg::Optional,
        Tag::Schedule(P::Persistent),
    ),
    opt(
        "netmask",
        Some('M'),
        Arg::Required,
        Tag::Schedule(P::Netmask),
    ),
    opt(
        "real-server",
        Some('r'),
        Arg::Required,
        Tag::Server(R::Address),
    ),
    opt(
        "masquerading",
        Some('m'),
        Arg::None,
        Tag::Server(R::Forward(ForwardMethod::Masq)),
    ),
    opt(
        "ipip",
        Some('i'),
        Arg::None,
        Tag::Server(R::Forward(ForwardMethod::Tunnel(TunnelType::Ipip))),
    ),
    opt(
        "gatewaying",
        Some('g'),
        Arg::None,
        Tag::Server(R::Forward(ForwardMethod::Route)),
    ),
    opt(
        "fullnat",
        None,
        Arg::None,
        Tag::Server(R::Forward(ForwardMethod::FullNat)),
    ),
    opt("weight", Some('w'), Arg::Required, Tag::Server(R::Weight)),
    opt(
        "u-threshold",
        Some('x'),
        Arg::Required,
        Tag::Server(R::UThreshold),
    ),
    opt(
        "l-threshold",
        Some('y'),
        Arg::Required,
        Tag::Server(R::LThreshold),
    ),
    opt("numeric", Some('n'), Arg::None, Tag::List(L::Numeric)),
    opt("connection", Some('c'), Arg::None, Tag::List(L::Connection)),
    opt(
        "mcast-interface",
        None,
        Arg::Required,
        Tag::Sync(Y::McastInterface),
    ),
    opt("syncid", None, Arg::Required, Tag::Sync(Y::SyncId)),
    opt("timeout", None, Arg::None, Tag::List(L::Timeout)),
    opt("daemon", None, Arg::None, Tag::List(L::Daemon)),
    opt("stats", None, Arg::None, Tag::List(L::Stats)),
    opt("rate", None, Arg::None, Tag::List(L::Rate)),
    opt("thresholds", None, Arg::None, Tag::List(L::Thresholds)),
    opt(
        "persistent-conn",
        None,
        Arg::None,
        Tag::List(L::PersistentConn),
    ),
    opt("nosort", None, Arg::None, Tag::List(L::NoSort)),
    opt("sort", None, Arg::None, Tag::List(L::Sort)),
    opt("exact", Some('X'), Arg::None, Tag::List(L::Exact)),
    opt("ipv6", Some('6'), Arg::None, Tag::Service(V::Ipv6)),
    opt("ops", Some('o'), Arg::None, Tag::Schedule(P::OnePacket)),
    opt(
        "pe",
        None,
        Arg::Required,
        Tag::Schedule(P::PersistenceEngine),
    ),
    opt(
        "sched-flags",
        Some('b'),
        Arg::Required,
        Tag::Schedule(P::SchedFlags),
    ),
    opt("mcast-group", None, Arg::Required, Tag::Sync(Y::McastGroup)),
    opt("mcast-port", None, Arg::Required, Tag::Sync(Y::McastPort)),
    opt("mcast-ttl", None, Arg::Required, Tag::Sync(Y::McastTtl)),
    opt("sync-maxlen", None, Arg::Required, Tag::Sync(Y::SyncMaxlen)),
    opt("tun-info", None, Arg::None, Tag::List(L::TunInfo)),
    opt("tun-type", None, Arg::Required, Tag::Tunnel(T::Type)),
    opt("tun-port", None, Arg::Required, Tag::Tunnel(T::Port)),
    opt("tun-nocsum", None, Arg::None, Tag::Tunnel(T::NoCsum)),
    opt("tun-csum", None, Arg::None, Tag::Tunnel(T::Csum)),
    opt("tun-remcsum", None, Arg::None, Tag::Tunnel(T::RemCsum)),
];

/// One step of the scanner.
pub(super) enum Scan<'a> {
    Opt(Tag, Option<&'a str>),
    End,
    Error(PoptProblem),
}

/// popt's `poptGetNextOpt` for ipvsadm's table: long options (`--x`,
/// `--x=v`), clusters of short options (`-Lnc`, `-p300`, `-t=v`), optional
/// values, `--` and leftover words (which may appear anywhere).
pub(super) struct Scanner<'a> {
    args: &'a [&'a str],
    next: usize,
    /// Rest of a short-option cluster still to read.
    cluster: Option<&'a str>,
    rest_are_leftovers: bool,
    pub(super) leftovers: Vec<&'a str>,
}

impl<'a> Scanner<'a> {
    pub(super) fn new(args: &'a [&'a str]) -> Self {
        Scanner {
            args,
            next: 0,
            cluster: None,
            rest_are_leftovers: false,
            leftovers: Vec::new(),
        }
    }

    /// The argv element popt blames (`poptBadOption`): the last one read.
    pub(super) fn bad_option(&self) -> String {
        self.next
            .checked_sub(1)
            .and_then(|i| self.args.get(i))
            .map(|s| s.to_string())
            .unwrap_or_default()
    }

    pub(super) fn next_opt(&mut self) -> Scan<'a> {
        loop {
            let mut long_value: Option<&'a str> = None;
            let spec: &OptSpec;
            if let Some(cluster) = self.cluster.take() {
                let mut chars = cluster.chars();
                let Some(c) = chars.next() else {
                    continue;
                };
                let rest = chars.as_str();
                match OPTIONS.iter().find(|o| o.short == Some(c)) {
                    Some(o) => spec = o,
                    None => return Scan::Error(PoptProblem::UnknownOption),
                }
                if !rest.is_empty() {
                    self.cluster = Some(rest);
                }
            } else {
                let Some(&word) = self.args.get(self.next) else {
                    return Scan::End;
                };
                self.next += 1;
                if self.rest_are_leftovers || !word.starts_with('-') || word == "-" {
                    self.leftovers.push(word);
                    continue;
                }
                if word == "--" {
                    self.rest_are_leftovers = true;
                    continue;
                }
                if let Some(long) = word.strip_prefix("--") {
                    let (name, value) = match long.split_once('=') {
                        Some((n, v)) => (n, Some(v)),
                        None => (long, None),
                    };
                    match OPTIONS.iter().find(|o| o.long == name) {
                        Some(o) => spec = o,
                        None => return Scan::Error(PoptProblem::UnknownOption),
                    }
                    long_value = value;
                } else {
                    // No ipvsadm option is a one-dash long option, so a single
                    // dash always starts a cluster of short options.
                    self.cluster = Some(&word[1..]);
                    continue;
                }
            }
            return self.take_value(spec, long_value);
        }
    }

    fn take_value(&mut self, spec: &OptSpec, long_value: Option<&'a str>) -> Scan<'a> {
        match spec.arg {
            Arg::None => {
                if long_value.is_some() || self.cluster.is_some_and(|c| c.starts_with('=')) {
                    return Scan::Error(PoptProblem::UnwantedArgument);
                }
                Scan::Opt(spec.tag, None)
            }
            Arg::Required | Arg::Optional => {
                if let Some(v) = long_value {
                    return Scan::Opt(spec.tag, Some(v));
                }
                if let Some(c) = self.cluster.take() {
                    return Scan::Opt(spec.tag, Some(c.strip_prefix('=').unwrap_or(c)));
                }
                match self.args.get(self.next) {
                    None if spec.arg == Arg::Optional => Scan::Opt(spec.tag, None),
                    None => Scan::Error(PoptProblem::MissingArgument),
                    Some(w) if spec.arg == Arg::Optional && w.starts_with('-') => {
                        Scan::Opt(spec.tag, None)
                    }
                    Some(&w) => {
                        self.next += 1;
                        Scan::Opt(spec.tag, Some(w))
                    }
                }
            }
        }
    }
}
