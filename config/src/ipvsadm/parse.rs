//! The ipvsadm command-line grammar: a popt-compatible option scanner and
//! ipvsadm 1.31's `parse_options`/`process_options` checks, in its order.

use super::command::{
    IpvsCommand, ListFormat, ListRequest, ListTarget, SyncDaemonConfig, SyncState,
};
use super::error::{CmdName, IpvsError, OptName, PoptProblem, UsageError};
use super::types::{
    AddressFamily, DestConfig, Netmask, Persistence, Protocol, SchedFlags, ServiceConfig,
    VirtualService, DEFAULT_PERSISTENCE_TIMEOUT, DEFAULT_SCHEDULER, DEFAULT_WEIGHT, MAX_TIMEOUT,
};
use super::view::TimeoutsView;
use crate::forward::{ForwardMethod, TunnelCsum, TunnelType};
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

/// What an option stands for (popt's `val`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Tag {
    AddService,
    EditService,
    DeleteService,
    Clear,
    List,
    Zero,
    AddServer,
    EditServer,
    DeleteServer,
    Set,
    Help,
    Version,
    Restore,
    Save,
    StartDaemon,
    StopDaemon,
    Tcp,
    Udp,
    Sctp,
    Fwmark,
    Scheduler,
    Persistent,
    Netmask,
    RealServer,
    Masq,
    Ipip,
    Gatewaying,
    FullNat,
    Weight,
    UThreshold,
    LThreshold,
    Numeric,
    Connection,
    McastInterface,
    SyncId,
    Timeout,
    Daemon,
    Stats,
    Rate,
    Thresholds,
    PersistentConn,
    NoSort,
    Sort,
    Exact,
    Ipv6,
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

/// ipvsadm 1.31's popt table, plus rvs's `--fullnat`.
const OPTIONS: &[OptSpec] = &[
    opt("add-service", Some('A'), Arg::None, Tag::AddService),
    opt("edit-service", Some('E'), Arg::None, Tag::EditService),
    opt("delete-service", Some('D'), Arg::None, Tag::DeleteService),
    opt("clear", Some('C'), Arg::None, Tag::Clear),
    opt("list", Some('L'), Arg::None, Tag::List),
    opt("list", Some('l'), Arg::None, Tag::List),
    opt("zero", Some('Z'), Arg::None, Tag::Zero),
    opt("add-server", Some('a'), Arg::None, Tag::AddServer),
    opt("edit-server", Some('e'), Arg::None, Tag::EditServer),
    opt("delete-server", Some('d'), Arg::None, Tag::DeleteServer),
    opt("set", None, Arg::None, Tag::Set),
    opt("help", Some('h'), Arg::None, Tag::Help),
    opt("version", Some('v'), Arg::None, Tag::Version),
    opt("restore", Some('R'), Arg::None, Tag::Restore),
    opt("save", Some('S'), Arg::None, Tag::Save),
    opt("start-daemon", None, Arg::Required, Tag::StartDaemon),
    opt("stop-daemon", None, Arg::Required, Tag::StopDaemon),
    opt("tcp-service", Some('t'), Arg::Required, Tag::Tcp),
    opt("udp-service", Some('u'), Arg::Required, Tag::Udp),
    opt("sctp-service", None, Arg::Required, Tag::Sctp),
    opt("fwmark-service", Some('f'), Arg::Required, Tag::Fwmark),
    opt("scheduler", Some('s'), Arg::Required, Tag::Scheduler),
    opt("persistent", Some('p'), Arg::Optional, Tag::Persistent),
    opt("netmask", Some('M'), Arg::Required, Tag::Netmask),
    opt("real-server", Some('r'), Arg::Required, Tag::RealServer),
    opt("masquerading", Some('m'), Arg::None, Tag::Masq),
    opt("ipip", Some('i'), Arg::None, Tag::Ipip),
    opt("gatewaying", Some('g'), Arg::None, Tag::Gatewaying),
    opt("fullnat", None, Arg::None, Tag::FullNat),
    opt("weight", Some('w'), Arg::Required, Tag::Weight),
    opt("u-threshold", Some('x'), Arg::Required, Tag::UThreshold),
    opt("l-threshold", Some('y'), Arg::Required, Tag::LThreshold),
    opt("numeric", Some('n'), Arg::None, Tag::Numeric),
    opt("connection", Some('c'), Arg::None, Tag::Connection),
    opt("mcast-interface", None, Arg::Required, Tag::McastInterface),
    opt("syncid", None, Arg::Required, Tag::SyncId),
    opt("timeout", None, Arg::None, Tag::Timeout),
    opt("daemon", None, Arg::None, Tag::Daemon),
    opt("stats", None, Arg::None, Tag::Stats),
    opt("rate", None, Arg::None, Tag::Rate),
    opt("thresholds", None, Arg::None, Tag::Thresholds),
    opt("persistent-conn", None, Arg::None, Tag::PersistentConn),
    opt("nosort", None, Arg::None, Tag::NoSort),
    opt("sort", None, Arg::None, Tag::Sort),
    opt("exact", Some('X'), Arg::None, Tag::Exact),
    opt("ipv6", Some('6'), Arg::None, Tag::Ipv6),
    opt("ops", Some('o'), Arg::None, Tag::Ops),
    opt("pe", None, Arg::Required, Tag::Pe),
    opt("sched-flags", Some('b'), Arg::Required, Tag::SchedFlags),
    opt("mcast-group", None, Arg::Required, Tag::McastGroup),
    opt("mcast-port", None, Arg::Required, Tag::McastPort),
    opt("mcast-ttl", None, Arg::Required, Tag::McastTtl),
    opt("sync-maxlen", None, Arg::Required, Tag::SyncMaxlen),
    opt("tun-info", None, Arg::None, Tag::TunInfo),
    opt("tun-type", None, Arg::Required, Tag::TunType),
    opt("tun-port", None, Arg::Required, Tag::TunPort),
    opt("tun-nocsum", None, Arg::None, Tag::TunNocsum),
    opt("tun-csum", None, Arg::None, Tag::TunCsum),
    opt("tun-remcsum", None, Arg::None, Tag::TunRemcsum),
];

/// One step of the scanner.
enum Scan<'a> {
    Opt(Tag, Option<&'a str>),
    End,
    Error(PoptProblem),
}

/// popt's `poptGetNextOpt` for ipvsadm's table: long options (`--x`,
/// `--x=v`), clusters of short options (`-Lnc`, `-p300`, `-t=v`), optional
/// values, `--` and leftover words (which may appear anywhere).
struct Scanner<'a> {
    args: &'a [&'a str],
    next: usize,
    /// Rest of a short-option cluster still to read.
    cluster: Option<&'a str>,
    rest_are_leftovers: bool,
    leftovers: Vec<&'a str>,
}

impl<'a> Scanner<'a> {
    fn new(args: &'a [&'a str]) -> Self {
        Scanner {
            args,
            next: 0,
            cluster: None,
            rest_are_leftovers: false,
            leftovers: Vec::new(),
        }
    }

    /// The argv element popt blames (`poptBadOption`): the last one read.
    fn bad_option(&self) -> String {
        self.next
            .checked_sub(1)
            .and_then(|i| self.args.get(i))
            .map(|s| s.to_string())
            .unwrap_or_default()
    }

    fn next_opt(&mut self) -> Scan<'a> {
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
const TUNNEL_NAMES: [&str; 3] = ["ipip", "gue", "gre"];

fn generic_opt_check(cmd: CmdName, options: u64) -> Result<(), UsageError> {
    let row = COMMANDS_V_OPTIONS[cmd.index()];
    let mut first_exclusive: Option<OptName> = None;
    for (j, opt) in OptName::ALL.iter().enumerate() {
        let given = options & opt.bit() != 0;
        match (given, row[j]) {
            (false, b'+') => {
                return Err(UsageError::MissingOption {
                    option: *opt,
                    command: cmd,
                })
            }
            (true, b'x') => {
                return Err(UsageError::IllegalOption {
                    option: *opt,
                    command: cmd,
                })
            }
            (true, b'1') => match first_exclusive {
                None => first_exclusive = Some(*opt),
                Some(other) => {
                    return Err(UsageError::ConflictingOptions {
                        option: *opt,
                        other,
                        command: cmd,
                    })
                }
            },
            _ => {}
        }
    }
    Ok(())
}

fn tunnel_opt_check(tun_type: usize, options: u64) -> Result<(), UsageError> {
    let row = TUNNEL_V_OPTIONS[tun_type];
    let tunnel = TUNNEL_NAMES[tun_type];
    let mut first_exclusive: Option<OptName> = None;
    for (j, opt) in TUN_OPTS.iter().enumerate() {
        let given = options & opt.bit() != 0;
        match (given, row[j]) {
            (false, b'+') => {
                return Err(UsageError::MissingTunnelOption {
                    option: *opt,
                    tunnel,
                })
            }
            (true, b'x') => {
                return Err(UsageError::IllegalTunnelOption {
                    option: *opt,
                    tunnel,
                })
            }
            (true, b'1') => match first_exclusive {
                None => first_exclusive = Some(*opt),
                Some(other) => {
                    return Err(UsageError::ConflictingTunnelOptions {
                        option: *opt,
                        other,
                        tunnel,
                    })
                }
            },
            _ => {}
        }
    }
    Ok(())
}

/// C's `isspace` in the "C" locale.
fn c_space(c: char) -> bool {
    matches!(c, ' ' | '\t' | '\n' | '\x0b' | '\x0c' | '\r')
}

/// ipvsadm's `string_to_number`: a whole-string `strtol` in `min..=max`.
fn string_to_number(s: &str, min: i64, max: i64) -> Option<i64> {
    let t = s.trim_start_matches(c_space);
    let (neg, digits) = match t.as_bytes().first() {
        Some(b'-') => (true, &t[1..]),
        Some(b'+') => (false, &t[1..]),
        _ => (false, t),
    };
    if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    // Overflow is strtol's ERANGE, which ipvsadm rejects.
    let mut value: i64 = 0;
    for b in digits.bytes() {
        value = value.checked_mul(10)?.checked_add(i64::from(b - b'0'))?;
    }
    let value = if neg { -value } else { value };
    (min..=max).contains(&value).then_some(value)
}

/// C's `atoi` (ipvsadm reads IPv6 netmasks with it): leading digits only.
fn atoi(s: &str) -> i64 {
    let t = s.trim_start_matches(c_space);
    let (neg, digits) = match t.as_bytes().first() {
        Some(b'-') => (true, &t[1..]),
        Some(b'+') => (false, &t[1..]),
        _ => (false, t),
    };
    let mut value: i64 = 0;
    for b in digits.bytes().take_while(u8::is_ascii_digit) {
        value = value.saturating_mul(10).saturating_add(i64::from(b - b'0'));
    }
    if neg {
        -value
    } else {
        value
    }
}

/// glibc's `inet_aton`: 1 to 4 dot-separated parts in C notation (decimal,
/// `0` octal, `0x` hex); the last part fills the remaining bytes; anything
/// after trailing whitespace is ignored.
pub(crate) fn inet_aton(s: &str) -> Option<Ipv4Addr> {
    let b = s.as_bytes();
    let mut i = 0;
    let mut parts: Vec<u64> = Vec::with_capacity(4);
    let last = loop {
        if !b.get(i).is_some_and(u8::is_ascii_digit) {
            return None;
        }
        let mut base = 10;
        if b[i] == b'0' {
            i += 1;
            if matches!(b.get(i), Some(b'x' | b'X')) {
                base = 16;
                i += 1;
            } else {
                base = 8;
            }
        }
        let mut value: u64 = 0;
        let mut any_digit = base == 8;
        while let Some(&c) = b.get(i) {
            let d = match c {
                b'0'..=b'9' if base == 8 && c >= b'8' => return None,
                b'0'..=b'9' => u64::from(c - b'0'),
                b'a'..=b'f' if base == 16 => u64::from(c - b'a' + 10),
                b'A'..=b'F' if base == 16 => u64::from(c - b'A' + 10),
                _ => break,
            };
            value = value * base + d;
            if value > 0xffff_ffff {
                return None;
            }
            any_digit = true;
            i += 1;
        }
        if !any_digit {
            return None;
        }
        if b.get(i) == Some(&b'.') {
            if parts.len() >= 3 || value > 0xff {
                return None;
            }
            parts.push(value);
            i += 1;
        } else {
            break value;
        }
    };
    if let Some(&c) = b.get(i) {
        if !c.is_ascii() || !c_space(char::from(c)) {
            return None;
        }
    }
    let limit: u64 = match parts.len() {
        0 => 0xffff_ffff,
        1 => 0xff_ffff,
        2 => 0xffff,
        _ => 0xff,
    };
    if last > limit {
        return None;
    }
    let mut addr: u64 = last;
    for (k, p) in parts.iter().enumerate() {
        addr |= p << (24 - 8 * k);
    }
    Some(Ipv4Addr::from(u32::try_from(addr).ok()?))
}

/// Looks like a DNS name: letters, digits, dots and dashes, with a letter,
/// and not a mistyped address (first label all digits, as in `198.18.0.x`).
fn looks_like_hostname(s: &str) -> bool {
    let first_label = s.split('.').next().unwrap_or("");
    !s.is_empty()
        && s.bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'.' || b == b'-')
        && s.bytes().any(|b| b.is_ascii_alphabetic())
        && !first_label.bytes().all(|b| b.is_ascii_digit())
}

/// Looks like an /etc/services name (`http`, `http-alt`).
fn looks_like_port_name(s: &str) -> bool {
    !s.is_empty()
        && s.bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
        && s.bytes().any(|b| b.is_ascii_alphabetic())
}

/// Result of ipvsadm's `parse_service`.
struct ParsedAddr {
    addr: IpAddr,
    port: Option<u16>,
}

/// ipvsadm's `parse_service`: `v4[:port]`, `v6`, `[v6]:port`. Names are
/// refused with a clear error instead of being resolved.
fn parse_service(buf: &str, illegal: UsageError) -> Result<ParsedAddr, UsageError> {
    if buf.bytes().all(|b| b.is_ascii_digit()) {
        return Err(illegal);
    }
    let mut host = buf;
    let mut port_str: Option<&str> = None;
    if let Some(inner) = buf.strip_prefix('[') {
        let Some((h, after)) = inner.split_once(']') else {
            return Err(illegal);
        };
        let Some(p) = after.strip_prefix(':') else {
            return Err(illegal);
        };
        host = h;
        port_str = Some(p);
    }
    let addr = if let Ok(v6) = host.parse::<Ipv6Addr>() {
        IpAddr::V6(v6)
    } else {
        // As ipvsadm, a bracketed non-IPv6 host loses the port after the
        // bracket and takes the one after its own last colon, if any.
        port_str = None;
        if let Some((h, p)) = host.rsplit_once(':') {
            host = h;
            port_str = Some(p);
        }
        match inet_aton(host) {
            Some(v4) => IpAddr::V4(v4),
            None if looks_like_hostname(host) => {
                return Err(UsageError::NotNumeric {
                    what: "address",
                    name: host.to_string(),
                })
            }
            None => return Err(illegal),
        }
    };
    let port = match port_str {
        None => None,
        Some(p) => match string_to_number(p, 0, 65535) {
            Some(n) => Some(n as u16),
            None if looks_like_port_name(p) => {
                return Err(UsageError::NotNumeric {
                    what: "port",
                    name: p.to_string(),
                })
            }
            None => return Err(illegal),
        },
    };
    Ok(ParsedAddr { addr, port })
}

fn parse_timeout(s: Option<&str>, min: i64, max: i64) -> Result<u32, UsageError> {
    let Some(s) = s else {
        return Ok(DEFAULT_PERSISTENCE_TIMEOUT);
    };
    string_to_number(s, min, max)
        .map(|n| n as u32)
        .ok_or_else(|| UsageError::InvalidTimeout(s.to_string()))
}

fn parse_fwmark(s: &str) -> Result<u32, UsageError> {
    string_to_number(s, 1, i64::from(u32::MAX))
        .map(|n| n as u32)
        .ok_or_else(|| UsageError::InvalidFwmark(s.to_string()))
}

fn parse_sched_flags(sched: &str, arg: &str) -> Result<SchedFlags, UsageError> {
    let sched = if sched.is_empty() {
        DEFAULT_SCHEDULER
    } else {
        sched
    };
    let mut flags = SchedFlags::default();
    let mut any = false;
    for flag in arg.split(',').filter(|f| !f.is_empty()) {
        any = true;
        let needs = match flag {
            "flag-1" => {
                flags.flag1 = true;
                None
            }
            "flag-2" => {
                flags.flag2 = true;
                None
            }
            "flag-3" => {
                flags.flag3 = true;
                None
            }
            "sh-fallback" | "mh-fallback" => {
                flags.flag1 = true;
                Some(&flag[..2])
            }
            "sh-port" | "mh-port" => {
                flags.flag2 = true;
                Some(&flag[..2])
            }
            _ => return Err(UsageError::InvalidSchedFlag(flag.to_string())),
        };
        if needs.is_some_and(|s| s != sched) {
            return Err(UsageError::IncompatibleSchedFlag(flag.to_string()));
        }
    }
    if !any {
        // ipvsadm dereferences a null token here; refuse the empty list.
        return Err(UsageError::InvalidSchedFlag(arg.to_string()));
    }
    Ok(flags)
}

/// Truncates like `strncpy` into a fixed buffer of `max` bytes.
fn truncate(s: &str, max: usize) -> String {
    let mut end = s.len().min(max);
    while !s.is_char_boundary(end) {
        end -= 1;
    }
    s[..end].to_string()
}

/// ipvsadm's `struct ipvs_command_entry`, filled option by option.
struct Entry {
    cmd: CmdName,
    options: u64,
    format: ListFormat,
    // virtual service
    svc_af: Option<AddressFamily>,
    protocol: Protocol,
    svc_addr: Option<IpAddr>,
    svc_port: u16,
    fwmark: u32,
    sched: String,
    sched_flags: SchedFlags,
    /// Raw `-b` value, parsed once the scheduler is known.
    sched_flags_arg: Option<String>,
    persistent: bool,
    timeout: u32,
    /// IPv4 mask bits, or an IPv6 prefix length, as libipvs keeps it.
    netmask: u32,
    one_packet: bool,
    pe: Option<String>,
    // real server
    dest_addr: Option<IpAddr>,
    dest_port: u16,
    /// `-m`, `-g`, `-i` or `--fullnat`; a tunnel's `--tun-*` options are applied at the end.
    fwd: ForwardMethod,
    weight: u32,
    u_threshold: u32,
    l_threshold: u32,
    tun_type: usize,
    tun_port: u16,
    tun_flags: u8,
    // --set
    timeouts: TimeoutsView,
    // sync daemon
    daemon_state: SyncState,
    mcast_ifn: Option<String>,
    syncid: Option<u8>,
    mcast_group: Option<IpAddr>,
    mcast_port: Option<u16>,
    mcast_ttl: Option<u8>,
    sync_maxlen: Option<u16>,
}

impl Entry {
    fn new(cmd: CmdName) -> Self {
        Entry {
            cmd,
            options: 0,
            format: ListFormat::default(),
            svc_af: None,
            protocol: Protocol::Tcp,
            svc_addr: None,
            svc_port: 0,
            fwmark: 0,
            sched: String::new(),
            sched_flags: SchedFlags::default(),
            sched_flags_arg: None,
            persistent: false,
            timeout: 0,
            netmask: u32::MAX,
            one_packet: false,
            pe: None,
            dest_addr: None,
            dest_port: 0,
            fwd: ForwardMethod::Route,
            weight: DEFAULT_WEIGHT,
            u_threshold: 0,
            l_threshold: 0,
            tun_type: 0,
            tun_port: 0,
            tun_flags: 0,
            timeouts: TimeoutsView {
                tcp: 0,
                tcp_fin: 0,
                udp: 0,
            },
            daemon_state: SyncState::Master,
            mcast_ifn: None,
            syncid: None,
            mcast_group: None,
            mcast_port: None,
            mcast_ttl: None,
            sync_maxlen: None,
        }
    }

    fn set_option(&mut self, opt: OptName) -> Result<(), UsageError> {
        if self.options & opt.bit() != 0 {
            return Err(UsageError::DuplicateOption(opt));
        }
        self.options |= opt.bit();
        Ok(())
    }

    fn has(&self, opt: OptName) -> bool {
        self.options & opt.bit() != 0
    }

    fn virtual_service(&self) -> Option<VirtualService> {
        if self.fwmark != 0 {
            return Some(VirtualService::Fwmark {
                mark: self.fwmark,
                family: self.svc_af.unwrap_or(AddressFamily::Inet),
            });
        }
        self.svc_addr.map(|addr| VirtualService::Inet {
            protocol: self.protocol,
            addr,
            port: self.svc_port,
        })
    }
}

/// Handles one option after the command (the body of ipvsadm's option loop).
fn apply_option(e: &mut Entry, tag: Tag, value: Option<&str>, bad: &str) -> Result<(), UsageError> {
    let v = value.unwrap_or("");
    match tag {
        Tag::Tcp | Tag::Udp | Tag::Sctp => {
            e.set_option(OptName::ServiceAddress)?;
            e.protocol = match tag {
                Tag::Tcp => Protocol::Tcp,
                Tag::Udp => Protocol::Udp,
                _ => Protocol::Sctp,
            };
            let p = parse_service(v, UsageError::IllegalServiceAddress)?;
            e.svc_af = Some(AddressFamily::of(&p.addr));
            if p.addr.is_ipv6() {
                e.netmask = 128;
            }
            e.svc_addr = Some(p.addr);
            if let Some(port) = p.port {
                e.svc_port = port;
            }
        }
        Tag::Fwmark => {
            e.set_option(OptName::ServiceAddress)?;
            e.svc_af = Some(AddressFamily::Inet);
            e.protocol = Protocol::Tcp;
            e.fwmark = parse_fwmark(v)?;
        }
        Tag::Scheduler => {
            e.set_option(OptName::Scheduler)?;
            e.sched = truncate(v, 15);
        }
        Tag::Persistent => {
            e.set_option(OptName::Persistent)?;
            e.persistent = true;
            e.timeout = parse_timeout(value, 1, i64::from(MAX_TIMEOUT))?;
        }
        Tag::Netmask => {
            e.set_option(OptName::Netmask)?;
            if e.svc_af != Some(AddressFamily::Inet6) {
                match inet_aton(v) {
                    Some(mask) => e.netmask = u32::from(mask),
                    None if looks_like_hostname(v) => {
                        return Err(UsageError::NotNumeric {
                            what: "netmask",
                            name: v.to_string(),
                        })
                    }
                    None => return Err(UsageError::IllegalPersistentMask),
                }
            } else {
                let prefix = atoi(v);
                if !(1..=128).contains(&prefix) {
                    return Err(UsageError::IllegalIpv6Netmask);
                }
                e.netmask = prefix as u32;
            }
        }
        Tag::RealServer => {
            e.set_option(OptName::RealServer)?;
            let p = parse_service(v, UsageError::IllegalServerAddress)?;
            e.dest_addr = Some(p.addr);
            // Without a port the real server takes the virtual port known so far.
            e.dest_port = p.port.unwrap_or(e.svc_port);
        }
        Tag::Ipip | Tag::Gatewaying | Tag::Masq | Tag::FullNat => {
            e.set_option(OptName::ForwardingMethod)?;
            e.fwd = match tag {
                Tag::Ipip => ForwardMethod::Tunnel(TunnelType::Ipip),
                Tag::Gatewaying => ForwardMethod::Route,
                Tag::Masq => ForwardMethod::Masq,
                _ => ForwardMethod::FullNat,
            };
        }
        Tag::Weight => {
            e.set_option(OptName::Weight)?;
            e.weight = string_to_number(v, 0, 65535).ok_or(UsageError::IllegalWeight)? as u32;
        }
        Tag::UThreshold => {
            e.set_option(OptName::UThreshold)?;
            e.u_threshold = string_to_number(v, 0, i64::from(i32::MAX))
                .ok_or(UsageError::IllegalUThreshold)? as u32;
        }
        Tag::LThreshold => {
            e.set_option(OptName::LThreshold)?;
            e.l_threshold = string_to_number(v, 0, i64::from(i32::MAX))
                .ok_or(UsageError::IllegalLThreshold)? as u32;
        }
        Tag::Connection => e.set_option(OptName::Connection)?,
        Tag::Numeric => {
            e.set_option(OptName::Numeric)?;
            e.format.numeric = true;
        }
        Tag::McastInterface => {
            e.set_option(OptName::McastInterface)?;
            e.mcast_ifn = Some(truncate(v, 15));
        }
        Tag::SyncId => {
            e.set_option(OptName::SyncId)?;
            e.syncid = Some(string_to_number(v, 0, 255).ok_or(UsageError::IllegalSyncId)? as u8);
        }
        Tag::Timeout => e.set_option(OptName::Timeout)?,
        Tag::Daemon => e.set_option(OptName::Daemon)?,
        Tag::Stats => {
            e.set_option(OptName::Stats)?;
            e.format.stats = true;
        }
        Tag::Rate => {
            e.set_option(OptName::Rate)?;
            e.format.rate = true;
        }
        Tag::Thresholds => {
            e.set_option(OptName::Thresholds)?;
            e.format.thresholds = true;
        }
        Tag::PersistentConn => {
            e.set_option(OptName::PersistentConn)?;
            e.format.persistent_conn = true;
        }
        Tag::NoSort => {
            e.set_option(OptName::NoSort)?;
            e.format.nosort = true;
        }
        // Sorting is the default; ipvsadm keeps --sort as a no-op.
        Tag::Sort => {}
        Tag::Exact => {
            e.set_option(OptName::Exact)?;
            e.format.exact = true;
        }
        Tag::Ipv6 => {
            if e.fwmark == 0 {
                return Err(UsageError::Ipv6BeforeFwmark);
            }
            e.svc_af = Some(AddressFamily::Inet6);
            e.netmask = 128;
        }
        Tag::Ops => {
            e.set_option(OptName::Ops)?;
            e.one_packet = true;
        }
        Tag::Pe => {
            e.set_option(OptName::Pe)?;
            e.pe = Some(truncate(v, 16));
        }
        Tag::SchedFlags => {
            e.set_option(OptName::SchedFlags)?;
            // Parsed at the end, when the scheduler is known.
            e.sched_flags_arg = Some(v.to_string());
        }
        Tag::McastGroup => {
            e.set_option(OptName::McastGroup)?;
            e.mcast_group = Some(if v.contains(':') {
                match v.parse::<Ipv6Addr>() {
                    Ok(a) if a.is_multicast() => IpAddr::V6(a),
                    _ => return Err(UsageError::InvalidIpv6McastGroup(v.to_string())),
                }
            } else {
                match v.parse::<Ipv4Addr>() {
                    Ok(a) if a.is_multicast() => IpAddr::V4(a),
                    _ => return Err(UsageError::InvalidIpv4McastGroup(v.to_string())),
                }
            });
        }
        Tag::McastPort => {
            e.set_option(OptName::McastPort)?;
            e.mcast_port =
                Some(string_to_number(v, 1, 65535).ok_or(UsageError::IllegalMcastPort)? as u16);
        }
        Tag::McastTtl => {
            e.set_option(OptName::McastTtl)?;
            e.mcast_ttl =
                Some(string_to_number(v, 1, 255).ok_or(UsageError::IllegalMcastTtl)? as u8);
        }
        Tag::SyncMaxlen => {
            e.set_option(OptName::SyncMaxlen)?;
            e.sync_maxlen = Some(
                string_to_number(v, 1, 65535 - 20 - 8).ok_or(UsageError::IllegalSyncMaxlen)? as u16,
            );
        }
        Tag::TunInfo => {
            e.set_option(OptName::TunInfo)?;
            e.format.tun_info = true;
        }
        Tag::TunType => {
            e.set_option(OptName::TunType)?;
            e.tun_type = TUNNEL_NAMES
                .iter()
                .position(|n| *n == v)
                .ok_or(UsageError::IllegalTunnelType)?;
        }
        Tag::TunPort => {
            e.set_option(OptName::TunPort)?;
            e.tun_port = string_to_number(v, 1, 65535).ok_or(UsageError::IllegalTunnelPort)? as u16;
        }
        Tag::TunNocsum => e.set_option(OptName::TunNocsum)?,
        Tag::TunCsum => {
            e.set_option(OptName::TunCsum)?;
            e.tun_flags |= 1;
        }
        Tag::TunRemcsum => {
            e.set_option(OptName::TunRemcsum)?;
            e.tun_flags |= 2;
        }
        // Commands, -h and -v are only read as the first option.
        Tag::AddService
        | Tag::EditService
        | Tag::DeleteService
        | Tag::Clear
        | Tag::List
        | Tag::Zero
        | Tag::AddServer
        | Tag::EditServer
        | Tag::DeleteServer
        | Tag::Set
        | Tag::Help
        | Tag::Version
        | Tag::Restore
        | Tag::Save
        | Tag::StartDaemon
        | Tag::StopDaemon => return Err(UsageError::InvalidOption(bad.to_string())),
    }
    Ok(())
}

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
    let (cmd, daemon_state) = match scanner.next_opt() {
        Scan::Opt(tag, value) => match tag {
            Tag::AddService => (CmdName::AddService, None),
            Tag::EditService => (CmdName::EditService, None),
            Tag::DeleteService => (CmdName::DeleteService, None),
            Tag::AddServer => (CmdName::AddServer, None),
            Tag::EditServer => (CmdName::EditServer, None),
            Tag::DeleteServer => (CmdName::DeleteServer, None),
            Tag::Clear => (CmdName::Flush, None),
            Tag::List => (CmdName::List, None),
            Tag::Zero => (CmdName::Zero, None),
            Tag::Set => (CmdName::Set, None),
            Tag::Restore => (CmdName::Restore, None),
            Tag::Save => (CmdName::Save, None),
            Tag::StartDaemon | Tag::StopDaemon => {
                let state = match value {
                    Some("master") => SyncState::Master,
                    Some("backup") => SyncState::Backup,
                    _ if tag == Tag::StartDaemon => {
                        return Err(UsageError::IllegalStartDaemon.into())
                    }
                    _ => return Err(UsageError::IllegalStopDaemon.into()),
                };
                let cmd = if tag == Tag::StartDaemon {
                    CmdName::StartDaemon
                } else {
                    CmdName::StopDaemon
                };
                (cmd, Some(state))
            }
            Tag::Help => return Ok(IpvsCommand::Help),
            Tag::Version => return Ok(IpvsCommand::Version),
            _ => return Err(try_help()),
        },
        Scan::End | Scan::Error(_) => return Err(try_help()),
    };
    let mut e = Entry::new(cmd);
    if let Some(state) = daemon_state {
        e.daemon_state = state;
    }
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
    let mut leftovers = scanner.leftovers.iter();
    if cmd == CmdName::Set {
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
    if let Some(arg) = e.sched_flags_arg.take().filter(|a| !a.is_empty()) {
        e.sched_flags = parse_sched_flags(&e.sched, &arg)?;
    }
    generic_opt_check(cmd, e.options)?;
    finish(e)
}

/// The checks of ipvsadm's `process_options` and the typed command.
fn finish(mut e: Entry) -> Result<IpvsCommand, IpvsError> {
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
    // generic_opt_check guaranteed a service wherever one is required.
    let service = e.virtual_service();
    let need_service = || {
        service.ok_or(UsageError::MissingOption {
            option: OptName::ServiceAddress,
            command: cmd,
        })
    };
    Ok(match cmd {
        CmdName::AddService | CmdName::EditService => {
            let vs = need_service()?;
            let config = ServiceConfig {
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
            };
            if cmd == CmdName::AddService {
                IpvsCommand::AddService { service: config }
            } else {
                IpvsCommand::EditService { service: config }
            }
        }
        CmdName::DeleteService => IpvsCommand::DeleteService {
            service: need_service()?,
        },
        CmdName::Flush => IpvsCommand::Clear,
        CmdName::Restore => IpvsCommand::Restore,
        CmdName::Save => IpvsCommand::Save {
            numeric: e.format.numeric,
        },
        CmdName::AddServer | CmdName::EditServer | CmdName::DeleteServer => {
            let vs = need_service()?;
            let addr = e.dest_addr.ok_or(UsageError::MissingOption {
                option: OptName::RealServer,
                command: cmd,
            })?;
            if cmd == CmdName::DeleteServer {
                IpvsCommand::DeleteServer {
                    service: vs,
                    addr,
                    port: e.dest_port,
                }
            } else {
                let csum = match e.tun_flags {
                    0 => TunnelCsum::NoCsum,
                    1 => TunnelCsum::Csum,
                    _ => TunnelCsum::RemCsum,
                };
                let method = match e.fwd {
                    ForwardMethod::Tunnel(_) => ForwardMethod::Tunnel(match e.tun_type {
                        0 => TunnelType::Ipip,
                        1 => TunnelType::Gue {
                            port: e.tun_port,
                            csum,
                        },
                        _ => TunnelType::Gre { csum },
                    }),
                    other => other,
                };
                let server = DestConfig {
                    addr,
                    port: e.dest_port,
                    method,
                    weight: e.weight,
                    u_threshold: e.u_threshold,
                    l_threshold: e.l_threshold,
                };
                if cmd == CmdName::AddServer {
                    IpvsCommand::AddServer {
                        service: vs,
                        server,
                    }
                } else {
                    IpvsCommand::EditServer {
                        service: vs,
                        server,
                    }
                }
            }
        }
        CmdName::List => {
            let target = if e.has(OptName::Connection) {
                ListTarget::Connections
            } else if let Some(service) = service {
                ListTarget::Service { service }
            } else if e.has(OptName::Timeout) {
                ListTarget::Timeouts
            } else if e.has(OptName::Daemon) {
                ListTarget::Daemons
            } else {
                ListTarget::All
            };
            IpvsCommand::List(ListRequest {
                target,
                format: e.format,
            })
        }
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
