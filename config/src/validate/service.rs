//! The `services` section: each virtual service's key (address or firewall mark and its
//! members), scheduler, persistence, SNAT pool, sorry server and health check, and the
//! checks across services (duplicates, a tuple in two services). Real servers are checked
//! in `real_server`.

use std::collections::HashMap;
use std::net::SocketAddr;

use super::health_check::health_check;
use super::method::resolve_method;
use super::network::unreachable;
use super::problems::{family, list_or_none, Problems};
use super::real_server::{real_servers, ServiceFacts};
use crate::forward::ForwardMethod;
use crate::locate::Path;
use crate::model::{
    Config, Persistence, Protocol, Scheduler, SchedulerFlag, ServiceAddr, ServiceKey,
    VirtualService, DEFAULT_PERSISTENCE_TIMEOUT, MH_DEFAULT_TABLE_SIZE, MH_TABLE_SIZES,
};
use crate::raw::{RawPersistence, RawRealServer, RawService};

pub fn services(
    raw: Vec<(usize, RawService<RawRealServer>)>,
    cfg: &Config,
    path: &Path,
    p: &mut Problems<'_>,
) -> Vec<VirtualService> {
    let mut out: Vec<VirtualService> = Vec::with_capacity(raw.len());
    // Index in the file of each entry of `out` (services without a usable key are left out).
    let mut file_index: Vec<usize> = Vec::with_capacity(raw.len());
    // Which service (file index) already holds a key / a fwmark member tuple.
    let mut keys: HashMap<ServiceKeyId, usize> = HashMap::new();
    let mut member_of: HashMap<ServiceAddr, (u32, usize)> = HashMap::new();
    for (i, r) in raw {
        let at = path.index(i);
        let Some(svc) = service(r, cfg, &at, p) else {
            continue;
        };
        let id = match &svc.key {
            ServiceKey::Addr(a) => ServiceKeyId::Addr(*a),
            ServiceKey::Fwmark { mark, .. } => ServiceKeyId::Mark(*mark),
        };
        if let Some(j) = keys.get(&id) {
            let line = p.line_of(&path.index(*j));
            p.at(&at, format!("duplicate virtual service {}; expected each service once (already defined at line {line})", svc.key));
        } else {
            keys.insert(id, i);
        }
        if let ServiceKey::Fwmark { mark, members } = &svc.key {
            for (k, m) in members.iter().enumerate() {
                let mp = at.key("members").index(k);
                match member_of.get(m) {
                    // Listed twice in this service: reported by `service_key`.
                    Some((_, j)) if *j == i => {}
                    Some((other, j)) => {
                        let line = p.line_of(&path.index(*j));
                        p.at(&mp, format!("`{m}` already carries fwmark {other} (line {line}); expected each tuple in one firewall-mark service"));
                    }
                    None => {
                        member_of.insert(*m, (*mark, i));
                    }
                }
            }
        }
        out.push(svc);
        file_index.push(i);
    }
    // A tuple both served directly and marked would be ambiguous: which service wins?
    for (s, &i) in out.iter().zip(&file_index) {
        if let ServiceKey::Addr(a) = &s.key {
            if let Some((mark, j)) = member_of.get(a) {
                let line = p.line_of(&path.index(*j));
                p.at(&path.index(i), format!("virtual service {a} is also a member of fwmark {mark} (line {line}); expected a tuple in one service only"));
            }
        }
    }
    out
}

#[derive(Hash, PartialEq, Eq)]
enum ServiceKeyId {
    Addr(ServiceAddr),
    Mark(u32),
}

fn service(
    r: RawService<RawRealServer>,
    cfg: &Config,
    at: &Path,
    p: &mut Problems<'_>,
) -> Option<VirtualService> {
    let key = service_key(&r, cfg, at, p)?;
    let ipv6 = match &key {
        ServiceKey::Addr(a) => a.vip.is_ipv6(),
        ServiceKey::Fwmark { members, .. } => members.first().is_some_and(|m| m.vip.is_ipv6()),
    };
    let svc_port = match &key {
        ServiceKey::Addr(a) => Some(a.port),
        ServiceKey::Fwmark { .. } => None,
    };

    let scheduler = r.scheduler.unwrap_or_default();
    let scheduler_flags = scheduler_flags(scheduler, &r.scheduler_flags, at, p);
    let persistence = persistence(r.persistence, ipv6, at, p);
    if svc_port == Some(0) && persistence.is_none() {
        p.at(&at.key("port"), "port 0 (all ports) on a non-persistent service; expected `persistence` for an all-ports service, as ipvsadm requires");
    }

    let one_packet = r.one_packet.unwrap_or(false);
    if one_packet {
        one_packet_protocol(&key, at, p);
    }

    let default_method = resolve_method(
        r.method,
        r.tunnel_type,
        r.tunnel_port.map(|t| t.0),
        r.tunnel_csum,
        ForwardMethod::Route,
        at,
        p,
    );
    let facts = ServiceFacts {
        port: svc_port,
        ipv6,
        method: default_method,
    };
    let real_servers = real_servers(r.real_servers, &facts, cfg, at, p);
    if let Some(size) = r.mh_table_size {
        mh_table_size(
            size,
            scheduler,
            real_servers.len(),
            &at.key("mh_table_size"),
            p,
        );
    }

    let needs_pool = real_servers
        .iter()
        .any(|rs| rs.method == ForwardMethod::FullNat)
        || default_method == ForwardMethod::FullNat;
    snat_pool(r.snat_pool.as_deref(), needs_pool, ipv6, cfg, at, p);
    let toa = r.toa.unwrap_or(true);
    if r.toa.is_some() && !needs_pool {
        p.at(
            &at.key("toa"),
            "`toa` on a service without fullnat real servers; expected it only with `method: fullnat`",
        );
    }

    let sorry_server = r.sorry_server.map(|s| s.0);
    if let Some(s) = sorry_server {
        self::sorry_server(s, ipv6, cfg, at, p);
    }

    let health_check = r.health_check.map(|h| {
        health_check(
            h,
            cfg.health.exec_dir.as_deref(),
            &at.key("health_check"),
            p,
        )
    });

    Some(VirtualService {
        key,
        scheduler,
        scheduler_flags,
        mh_table_size: r.mh_table_size,
        persistence,
        one_packet,
        method: default_method,
        snat_pool: r.snat_pool,
        toa,
        health_check,
        sorry_server,
        real_servers,
    })
}

/// `one_packet` is for UDP (and firewall-mark) services only, as ipvsadm -o.
fn one_packet_protocol(key: &ServiceKey, at: &Path, p: &mut Problems<'_>) {
    if let ServiceKey::Addr(a) = key {
        if a.proto != Protocol::Udp {
            p.at(&at.key("one_packet"), format!("one-packet scheduling on a {} service; expected it only on udp services (or firewall-mark services)", a.proto));
        }
    }
}

/// `mh_table_size`: an mh service's, one of the kernel's primes, room for every real server
/// (the kernel refuses more real servers than table entries with EINVAL).
fn mh_table_size(size: u32, scheduler: Scheduler, servers: usize, at: &Path, p: &mut Problems<'_>) {
    let sizes = MH_TABLE_SIZES.map(|s| s.to_string()).join(", ");
    if scheduler != Scheduler::Mh {
        p.at(
            at,
            format!("mh_table_size on a {scheduler} service; expected it only with scheduler mh"),
        );
    } else if !MH_TABLE_SIZES.contains(&size) {
        p.at(at, format!("mh_table_size {size} is not a kernel Maglev table size; expected one of {sizes} (default {MH_DEFAULT_TABLE_SIZE})"));
    } else if servers > size as usize {
        p.at(at, format!("mh_table_size {size} is smaller than the service's {servers} real servers; expected a larger size from {sizes}"));
    }
}

/// `scheduler_flags`: each flag of the service's scheduler, once.
fn scheduler_flags(
    scheduler: Scheduler,
    raw: &[SchedulerFlag],
    at: &Path,
    p: &mut Problems<'_>,
) -> Vec<SchedulerFlag> {
    let mut scheduler_flags = Vec::new();
    for (k, f) in raw.iter().enumerate() {
        let fp = at.key("scheduler_flags").index(k);
        if f.scheduler() != scheduler {
            p.at(&fp, format!("scheduler flag `{f}` needs scheduler {}, not {scheduler}; expected sh-* flags with sh and mh-* flags with mh only", f.scheduler()));
        } else if scheduler_flags.contains(f) {
            p.at(
                &fp,
                format!("scheduler flag `{f}` is listed twice; expected each flag once"),
            );
        } else {
            scheduler_flags.push(*f);
        }
    }
    scheduler_flags
}

/// `persistence`: off, or a timeout in ipvsadm's range and a netmask of the service's family.
fn persistence(
    raw: Option<RawPersistence>,
    ipv6: bool,
    at: &Path,
    p: &mut Problems<'_>,
) -> Option<Persistence> {
    let m = match raw {
        None | Some(RawPersistence::Off) => return None,
        Some(RawPersistence::On(m)) => m,
    };
    let timeout = m.timeout.unwrap_or(DEFAULT_PERSISTENCE_TIMEOUT);
    // ipvsadm's -p range (1 s to 31 days), so every YAML service has an ipvsadm form.
    if timeout == 0 || timeout > crate::ipvsadm::MAX_TIMEOUT {
        p.at(
            &at.key("persistence"),
            format!("persistence timeout {timeout}; expected 1..={} seconds, as ipvsadm -p (or `persistence: false`)", crate::ipvsadm::MAX_TIMEOUT),
        );
    }
    let netmask = m.netmask.map(|n| n.0);
    if let Some(n) = netmask {
        if !ipv6 && n.prefix_len() > 32 {
            p.at(&at.key("persistence").key("netmask"), format!("netmask /{} is longer than an IPv4 address; expected 0..=32 bits or a dotted mask", n.prefix_len()));
        }
    }
    Some(Persistence { timeout, netmask })
}

/// `snat_pool`: given whenever a real server uses FULLNAT, naming a pool with an address
/// of the service's family.
fn snat_pool(
    name: Option<&str>,
    needs_pool: bool,
    ipv6: bool,
    cfg: &Config,
    at: &Path,
    p: &mut Problems<'_>,
) {
    match (name, needs_pool) {
        (None, true) => p.at(
            at,
            format!(
                "fullnat without `snat_pool`; expected `snat_pool:` naming one of {}",
                list_or_none(cfg.snat_pools.iter().map(|s| s.name.as_str()))
            ),
        ),
        (Some(name), _) => match cfg.snat_pool(name) {
            None if !p.scope.snat_pools => {}
            None => p.at(
                &at.key("snat_pool"),
                format!(
                    "unknown snat pool `{name}`; expected one of {}",
                    list_or_none(cfg.snat_pools.iter().map(|s| s.name.as_str()))
                ),
            ),
            Some(pool) if needs_pool && !pool.addresses.iter().any(|a| a.is_ipv6() == ipv6) => {
                p.at(&at.key("snat_pool"), format!("snat pool `{name}` has no {} address; expected one of the real servers' family", if ipv6 { "IPv6" } else { "IPv4" }));
            }
            Some(_) => {}
        },
        (None, false) => {}
    }
}

/// `sorry_server`: of the service's family, and reachable.
fn sorry_server(s: SocketAddr, ipv6: bool, cfg: &Config, at: &Path, p: &mut Problems<'_>) {
    if s.ip().is_ipv6() != ipv6 {
        p.at(
            &at.key("sorry_server"),
            format!(
                "sorry server {s} is {} but the service is not; expected the service's family",
                family(s.ip())
            ),
        );
    } else if let Some(msg) = unreachable(cfg, p.scope, s.ip(), "sorry server", false) {
        p.at(&at.key("sorry_server"), msg);
    }
}

/// The service's key: `fwmark` with `members`, or `proto`, `vip` and `port`.
fn service_key(
    r: &RawService<RawRealServer>,
    cfg: &Config,
    at: &Path,
    p: &mut Problems<'_>,
) -> Option<ServiceKey> {
    if let Some(mark) = r.fwmark {
        return fwmark_key(r, mark, cfg, at, p);
    }
    if r.members.is_some() {
        p.at_key(
            &at.key("members"),
            "`members` without `fwmark`; expected members only in a firewall-mark service",
        );
    }
    let mut missing = |k: &str, what: &str| {
        p.at(at, format!("missing `{k}`; expected {what} (or `fwmark` with `members` for a firewall-mark service)"));
    };
    let (Some(proto), Some(vip), Some(port)) = (r.proto, r.vip, r.port) else {
        if r.proto.is_none() {
            missing("proto", "tcp, udp or sctp");
        }
        if r.vip.is_none() {
            missing("vip", "the virtual IP address");
        }
        if r.port.is_none() {
            missing(
                "port",
                "the virtual port 0..=65535 (0 = all ports, with persistence)",
            );
        }
        return None;
    };
    if let Some(msg) = unreachable(cfg, p.scope, vip.0, "VIP", false) {
        p.at(&at.key("vip"), msg);
    }
    Some(ServiceKey::Addr(ServiceAddr {
        proto,
        vip: vip.0,
        port: port.0,
    }))
}

/// A firewall-mark service's key: a mark and its members, one family, each reachable.
fn fwmark_key(
    r: &RawService<RawRealServer>,
    mark: u32,
    cfg: &Config,
    at: &Path,
    p: &mut Problems<'_>,
) -> Option<ServiceKey> {
    let mut ok = true;
    for (k, given) in [
        ("proto", r.proto.is_some()),
        ("vip", r.vip.is_some()),
        ("port", r.port.is_some()),
    ] {
        if given {
            p.at_key(&at.key(k), format!("`{k}` given with `fwmark`; expected either fwmark (with members) or proto, vip and port"));
            ok = false;
        }
    }
    if mark == 0 {
        p.at(
            &at.key("fwmark"),
            "fwmark 0; expected a mark 1..=4294967295",
        );
        ok = false;
    }
    let members: Vec<ServiceAddr> = r.members.iter().flatten().map(|m| m.0).collect();
    if members.is_empty() {
        p.at(at, format!("firewall-mark service without `members`; expected the list of `PROTO VIP:PORT` tuples that carry mark {mark}, such as members: [\"tcp 198.18.0.100:80\"]"));
        ok = false;
    }
    for (k, m) in members.iter().enumerate() {
        let mp = at.key("members").index(k);
        if m.vip.is_ipv6() != members[0].vip.is_ipv6() {
            p.at(&mp, format!("member `{m}` is {} but the first member is not; expected one address family per firewall-mark service", family(m.vip)));
        } else if members[..k].contains(m) {
            p.at(
                &mp,
                format!("member `{m}` is listed twice; expected each tuple once"),
            );
        } else if let Some(msg) = unreachable(cfg, p.scope, m.vip, "VIP", false) {
            p.at(&mp, msg);
        }
    }
    ok.then_some(ServiceKey::Fwmark { mark, members })
}
