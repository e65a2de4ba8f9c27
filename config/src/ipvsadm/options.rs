//! What each option after the command does (the body of ipvsadm's option loop):
//! the checks ipvsadm makes as it meets an option, in its order, and the fields of
//! the command entry the option fills.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use super::c_compat::{atoi, inet_aton, string_to_number, truncate};
use super::command::{ListFormat, SyncState};
use super::error::{CmdName, OptName, UsageError};
use super::popt::{ListOpt, ScheduleOpt, ServerOpt, ServiceOpt, SyncOpt, Tag, TunnelOpt};
use super::types::{
    AddressFamily, Protocol, SchedFlags, VirtualService, DEFAULT_WEIGHT, MAX_TIMEOUT,
};
use super::values::{looks_like_hostname, parse_fwmark, parse_service, parse_timeout};
use super::view::TimeoutsView;
use crate::forward::ForwardMethod;

/// `--tun-type` values, in the order of ipvsadm's `tunnel_types_v_options` rows.
pub(super) const TUNNEL_NAMES: [&str; 3] = ["ipip", "gue", "gre"];

/// ipvsadm's `struct ipvs_command_entry`, filled option by option.
pub(super) struct Entry {
    pub(super) cmd: CmdName,
    pub(super) options: u64,
    pub(super) format: ListFormat,
    // virtual service
    pub(super) svc_af: Option<AddressFamily>,
    pub(super) protocol: Protocol,
    pub(super) svc_addr: Option<IpAddr>,
    pub(super) svc_port: u16,
    pub(super) fwmark: u32,
    pub(super) sched: String,
    pub(super) sched_flags: SchedFlags,
    /// Raw `-b` value, parsed once the scheduler is known.
    pub(super) sched_flags_arg: Option<String>,
    pub(super) persistent: bool,
    pub(super) timeout: u32,
    /// IPv4 mask bits, or an IPv6 prefix length, as libipvs keeps it.
    pub(super) netmask: u32,
    pub(super) one_packet: bool,
    pub(super) pe: Option<String>,
    // real server
    pub(super) dest_addr: Option<IpAddr>,
    pub(super) dest_port: u16,
    /// `-m`, `-g`, `-i` or `--fullnat`; a tunnel's `--tun-*` options are applied at the end.
    pub(super) fwd: ForwardMethod,
    pub(super) weight: u32,
    pub(super) u_threshold: u32,
    pub(super) l_threshold: u32,
    pub(super) tun_type: usize,
    pub(super) tun_port: u16,
    pub(super) tun_flags: u8,
    // --set
    pub(super) timeouts: TimeoutsView,
    // sync daemon
    pub(super) daemon_state: SyncState,
    pub(super) mcast_ifn: Option<String>,
    pub(super) syncid: Option<u8>,
    pub(super) mcast_group: Option<IpAddr>,
    pub(super) mcast_port: Option<u16>,
    pub(super) mcast_ttl: Option<u8>,
    pub(super) sync_maxlen: Option<u16>,
}

impl Entry {
    pub(super) fn new(cmd: CmdName) -> Self {
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

    pub(super) fn set_option(&mut self, opt: OptName) -> Result<(), UsageError> {
        if self.options & opt.bit() != 0 {
            return Err(UsageError::DuplicateOption(opt));
        }
        self.options |= opt.bit();
        Ok(())
    }

    pub(super) fn has(&self, opt: OptName) -> bool {
        self.options & opt.bit() != 0
    }

    pub(super) fn virtual_service(&self) -> Option<VirtualService> {
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

/// Handles one option after the command. `bad` is the word popt blames in messages.
pub(super) fn apply_option(
    e: &mut Entry,
    tag: Tag,
    value: Option<&str>,
    bad: &str,
) -> Result<(), UsageError> {
    let v = value.unwrap_or("");
    match tag {
        Tag::Service(o) => service_option(e, o, v),
        Tag::Schedule(o) => schedule_option(e, o, value),
        Tag::Server(o) => server_option(e, o, v),
        Tag::Tunnel(o) => tunnel_option(e, o, v),
        Tag::List(o) => list_option(e, o),
        Tag::Sync(o) => sync_option(e, o, v),
        // Commands, -h and -v are only read as the first option.
        Tag::Command(_) | Tag::Help | Tag::Version => {
            Err(UsageError::InvalidOption(bad.to_string()))
        }
    }
}

/// `-t`, `-u`, `--sctp-service`, `-f`, `-6`.
fn service_option(e: &mut Entry, o: ServiceOpt, v: &str) -> Result<(), UsageError> {
    match o {
        ServiceOpt::Address(protocol) => {
            e.set_option(OptName::ServiceAddress)?;
            e.protocol = protocol;
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
        ServiceOpt::Fwmark => {
            e.set_option(OptName::ServiceAddress)?;
            e.svc_af = Some(AddressFamily::Inet);
            e.protocol = Protocol::Tcp;
            e.fwmark = parse_fwmark(v)?;
        }
        ServiceOpt::Ipv6 => {
            if e.fwmark == 0 {
                return Err(UsageError::Ipv6BeforeFwmark);
            }
            e.svc_af = Some(AddressFamily::Inet6);
            e.netmask = 128;
        }
    }
    Ok(())
}

/// `-s`, `-b`, `-p`, `-M`, `-o`, `--pe`; `value` is `None` for a bare `-p`.
fn schedule_option(e: &mut Entry, o: ScheduleOpt, value: Option<&str>) -> Result<(), UsageError> {
    let v = value.unwrap_or("");
    match o {
        ScheduleOpt::Scheduler => {
            e.set_option(OptName::Scheduler)?;
            e.sched = truncate(v, 15);
        }
        ScheduleOpt::SchedFlags => {
            e.set_option(OptName::SchedFlags)?;
            // Parsed at the end, when the scheduler is known.
            e.sched_flags_arg = Some(v.to_string());
        }
        ScheduleOpt::Persistent => {
            e.set_option(OptName::Persistent)?;
            e.persistent = true;
            e.timeout = parse_timeout(value, 1, i64::from(MAX_TIMEOUT))?;
        }
        ScheduleOpt::Netmask => {
            e.set_option(OptName::Netmask)?;
            e.netmask = netmask(e.svc_af, v)?;
        }
        ScheduleOpt::OnePacket => {
            e.set_option(OptName::Ops)?;
            e.one_packet = true;
        }
        ScheduleOpt::PersistenceEngine => {
            e.set_option(OptName::Pe)?;
            e.pe = Some(truncate(v, 16));
        }
    }
    Ok(())
}

/// `-M`: a dotted mask unless the service given before it is IPv6, then a prefix length.
fn netmask(svc_af: Option<AddressFamily>, v: &str) -> Result<u32, UsageError> {
    if svc_af != Some(AddressFamily::Inet6) {
        match inet_aton(v) {
            Some(mask) => Ok(u32::from(mask)),
            None if looks_like_hostname(v) => Err(UsageError::NotNumeric {
                what: "netmask",
                name: v.to_string(),
            }),
            None => Err(UsageError::IllegalPersistentMask),
        }
    } else {
        let prefix = atoi(v);
        if !(1..=128).contains(&prefix) {
            return Err(UsageError::IllegalIpv6Netmask);
        }
        Ok(prefix as u32)
    }
}

/// `-r`, `-m`/`-g`/`-i`/`--fullnat`, `-w`, `-x`, `-y`.
fn server_option(e: &mut Entry, o: ServerOpt, v: &str) -> Result<(), UsageError> {
    match o {
        ServerOpt::Address => {
            e.set_option(OptName::RealServer)?;
            let p = parse_service(v, UsageError::IllegalServerAddress)?;
            e.dest_addr = Some(p.addr);
            // Without a port the real server takes the virtual port known so far.
            e.dest_port = p.port.unwrap_or(e.svc_port);
        }
        ServerOpt::Forward(method) => {
            e.set_option(OptName::ForwardingMethod)?;
            e.fwd = method;
        }
        ServerOpt::Weight => {
            e.set_option(OptName::Weight)?;
            e.weight = string_to_number(v, 0, 65535).ok_or(UsageError::IllegalWeight)? as u32;
        }
        ServerOpt::UThreshold => {
            e.set_option(OptName::UThreshold)?;
            e.u_threshold = string_to_number(v, 0, i64::from(i32::MAX))
                .ok_or(UsageError::IllegalUThreshold)? as u32;
        }
        ServerOpt::LThreshold => {
            e.set_option(OptName::LThreshold)?;
            e.l_threshold = string_to_number(v, 0, i64::from(i32::MAX))
                .ok_or(UsageError::IllegalLThreshold)? as u32;
        }
    }
    Ok(())
}

/// `--tun-type`, `--tun-port`, `--tun-nocsum`, `--tun-csum`, `--tun-remcsum`.
fn tunnel_option(e: &mut Entry, o: TunnelOpt, v: &str) -> Result<(), UsageError> {
    match o {
        TunnelOpt::Type => {
            e.set_option(OptName::TunType)?;
            e.tun_type = TUNNEL_NAMES
                .iter()
                .position(|n| *n == v)
                .ok_or(UsageError::IllegalTunnelType)?;
        }
        TunnelOpt::Port => {
            e.set_option(OptName::TunPort)?;
            e.tun_port = string_to_number(v, 1, 65535).ok_or(UsageError::IllegalTunnelPort)? as u16;
        }
        TunnelOpt::NoCsum => e.set_option(OptName::TunNocsum)?,
        TunnelOpt::Csum => {
            e.set_option(OptName::TunCsum)?;
            e.tun_flags |= 1;
        }
        TunnelOpt::RemCsum => {
            e.set_option(OptName::TunRemcsum)?;
            e.tun_flags |= 2;
        }
    }
    Ok(())
}

/// `-c`, `-n`, `--timeout`, `--daemon` and the listing formats.
fn list_option(e: &mut Entry, o: ListOpt) -> Result<(), UsageError> {
    let opt = match o {
        // Sorting is the default; ipvsadm keeps --sort as a no-op.
        ListOpt::Sort => return Ok(()),
        ListOpt::Connection => OptName::Connection,
        ListOpt::Timeout => OptName::Timeout,
        ListOpt::Daemon => OptName::Daemon,
        ListOpt::Numeric => OptName::Numeric,
        ListOpt::Stats => OptName::Stats,
        ListOpt::Rate => OptName::Rate,
        ListOpt::Thresholds => OptName::Thresholds,
        ListOpt::PersistentConn => OptName::PersistentConn,
        ListOpt::NoSort => OptName::NoSort,
        ListOpt::Exact => OptName::Exact,
        ListOpt::TunInfo => OptName::TunInfo,
    };
    e.set_option(opt)?;
    let f = &mut e.format;
    match o {
        ListOpt::Numeric => f.numeric = true,
        ListOpt::Stats => f.stats = true,
        ListOpt::Rate => f.rate = true,
        ListOpt::Thresholds => f.thresholds = true,
        ListOpt::PersistentConn => f.persistent_conn = true,
        ListOpt::NoSort => f.nosort = true,
        ListOpt::Exact => f.exact = true,
        ListOpt::TunInfo => f.tun_info = true,
        ListOpt::Connection | ListOpt::Timeout | ListOpt::Daemon | ListOpt::Sort => {}
    }
    Ok(())
}

/// The sync daemon's `--mcast-interface`, `--syncid`, `--mcast-*` and `--sync-maxlen`.
fn sync_option(e: &mut Entry, o: SyncOpt, v: &str) -> Result<(), UsageError> {
    match o {
        SyncOpt::McastInterface => {
            e.set_option(OptName::McastInterface)?;
            e.mcast_ifn = Some(truncate(v, 15));
        }
        SyncOpt::SyncId => {
            e.set_option(OptName::SyncId)?;
            e.syncid = Some(string_to_number(v, 0, 255).ok_or(UsageError::IllegalSyncId)? as u8);
        }
        SyncOpt::McastGroup => {
            e.set_option(OptName::McastGroup)?;
            e.mcast_group = Some(mcast_group(v)?);
        }
        SyncOpt::McastPort => {
            e.set_option(OptName::McastPort)?;
            e.mcast_port =
                Some(string_to_number(v, 1, 65535).ok_or(UsageError::IllegalMcastPort)? as u16);
        }
        SyncOpt::McastTtl => {
            e.set_option(OptName::McastTtl)?;
            e.mcast_ttl =
                Some(string_to_number(v, 1, 255).ok_or(UsageError::IllegalMcastTtl)? as u8);
        }
        SyncOpt::SyncMaxlen => {
            e.set_option(OptName::SyncMaxlen)?;
            e.sync_maxlen = Some(
                string_to_number(v, 1, 65535 - 20 - 8).ok_or(UsageError::IllegalSyncMaxlen)? as u16,
            );
        }
    }
    Ok(())
}

/// `--mcast-group`: a multicast address, IPv6 when it has a colon.
fn mcast_group(v: &str) -> Result<IpAddr, UsageError> {
    if v.contains(':') {
        match v.parse::<Ipv6Addr>() {
            Ok(a) if a.is_multicast() => Ok(IpAddr::V6(a)),
            _ => Err(UsageError::InvalidIpv6McastGroup(v.to_string())),
        }
    } else {
        match v.parse::<Ipv4Addr>() {
            Ok(a) if a.is_multicast() => Ok(IpAddr::V4(a)),
            _ => Err(UsageError::InvalidIpv4McastGroup(v.to_string())),
        }
    }
}
