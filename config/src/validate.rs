//! From the raw schema to the model: apply IPVS's defaults and check every rule that
//! serde's types cannot express (ranges, references between sections, duplicates,
//! reachability), collecting every error with the path of the node at fault.

use std::collections::HashMap;
use std::net::IpAddr;
use std::time::Duration;

use crate::locate::{locate_nearest, Part, Path};
use crate::model::*;
use crate::raw::*;

/// Fewest connection slots per worker (below this a table is a misconfiguration).
const MIN_CONNECTIONS: u32 = 1024;
/// Most connection slots per worker (64 Mi: about 7 GiB of table per worker).
const MAX_CONNECTIONS: u32 = 1 << 26;
/// The kernel keeps timeouts in jiffies in an int: INT_MAX / HZ with HZ = 1000.
pub const MAX_TIMEOUT: u32 = 2_147_483;

/// Which sections decoded completely. When the structure stage found errors, the
/// meaning stage still checks what did decode, but skips every check that depends on a
/// section with broken entries (a route to a broken interface is not "unknown").
#[derive(Clone, Copy, Debug)]
pub struct Scope {
    pub interfaces: bool,
    pub routes: bool,
    pub snat_pools: bool,
}

impl Scope {
    pub const COMPLETE: Scope = Scope {
        interfaces: true,
        routes: true,
        snat_pools: true,
    };
}

/// Errors found so far, each with the node it is about.
pub struct Problems<'t> {
    text: &'t str,
    list: Vec<(Path, Part, String)>,
    scope: Scope,
}

impl<'t> Problems<'t> {
    pub fn new(text: &'t str, scope: Scope) -> Problems<'t> {
        Problems {
            text,
            list: Vec::new(),
            scope,
        }
    }

    /// An error about the node at `path`.
    fn at(&mut self, path: &Path, msg: impl Into<String>) {
        self.list.push((path.clone(), Part::Value, msg.into()));
    }

    /// An error about the key of the last segment of `path`.
    fn at_key(&mut self, path: &Path, msg: impl Into<String>) {
        self.list.push((path.clone(), Part::Key, msg.into()));
    }

    /// "line N" of an earlier node, for "already defined at line N" messages.
    fn line_of(&self, path: &Path) -> usize {
        locate_nearest(self.text, path, Part::Value).line
    }

    pub fn into_list(self) -> Vec<(Path, Part, String)> {
        self.list
    }
}

fn list_or_none<T: ToString>(items: impl IntoIterator<Item = T>) -> String {
    let v: Vec<String> = items.into_iter().map(|i| i.to_string()).collect();
    if v.is_empty() {
        "(none defined)".to_owned()
    } else {
        v.join(" ")
    }
}

fn family(ip: IpAddr) -> &'static str {
    if ip.is_ipv4() {
        "IPv4"
    } else {
        "IPv6"
    }
}

/// Builds the model from the raw schema; every problem goes to `p`. The result is only
/// meaningful when `p` stays empty. `service_index[k]` is the position in the file of
/// `raw.services[k]` (they differ when broken services were left out).
pub fn validate(raw: RawConfig, service_index: &[usize], p: &mut Problems<'_>) -> Config {
    let root = Path::root();
    let dataplane = dataplane(raw.dataplane.unwrap_or_default(), &root.key("dataplane"), p);
    let interfaces = interfaces(raw.interfaces, &root.key("interfaces"), p);
    let mut cfg = Config {
        dataplane,
        interfaces,
        routes: Vec::new(),
        snat_pools: Vec::new(),
        timeouts: timeouts(raw.timeouts.unwrap_or_default(), &root.key("timeouts"), p),
        ipvs: raw
            .ipvs
            .map(|i| Ipvs {
                expire_nodest_conn: i.expire_nodest_conn.unwrap_or(false),
                expire_quiescent_template: i.expire_quiescent_template.unwrap_or(false),
            })
            .unwrap_or_default(),
        services: Vec::new(),
        admin: admin(raw.admin.unwrap_or_default()),
    };
    cfg.routes = routes(raw.routes, &cfg, &root.key("routes"), p);
    cfg.snat_pools = snat_pools(raw.snat_pools, &cfg, &root.key("snat_pools"), p);
    let indexed = service_index.iter().copied().zip(raw.services).collect();
    cfg.services = services(indexed, &cfg, &root.key("services"), p);
    cfg
}

fn dataplane(raw: RawDataplane, path: &Path, p: &mut Problems<'_>) -> Dataplane {
    let d = Dataplane::default();
    let main_lcore = raw.main_lcore.unwrap_or(d.main_lcore);
    let worker_lcores = raw.worker_lcores.unwrap_or(d.worker_lcores);
    if worker_lcores.is_empty() {
        p.at(
            &path.key("worker_lcores"),
            "no worker lcores; expected at least one lcore number, such as [1]",
        );
    }
    for (i, l) in worker_lcores.iter().enumerate() {
        let at = path.key("worker_lcores").index(i);
        if *l == main_lcore {
            p.at(&at, format!("lcore {l} is the main lcore; expected worker lcores other than main_lcore {main_lcore}"));
        } else if worker_lcores[..i].contains(l) {
            p.at(
                &at,
                format!("lcore {l} is listed twice; expected each worker lcore once"),
            );
        }
    }
    if let Some(n) = raw.connections_per_worker {
        if !(MIN_CONNECTIONS..=MAX_CONNECTIONS).contains(&n) {
            p.at(
                &path.key("connections_per_worker"),
                format!("connections_per_worker {n}; expected {MIN_CONNECTIONS}..={MAX_CONNECTIONS} connection slots per worker"),
            );
        }
    }
    if raw.mbufs == Some(0) {
        p.at(
            &path.key("mbufs"),
            "mbufs 0; expected an mbuf pool size of at least 1 (or no `mbufs` for rvsd's default)",
        );
    }
    if raw.exception_rate == Some(0) {
        p.at(
            &path.key("exception_rate"),
            "exception_rate 0; expected packets per second per worker of at least 1 (turn the exception path off per interface with `exception_path: false`)",
        );
    }
    Dataplane {
        main_lcore,
        worker_lcores,
        polling: raw.polling.unwrap_or(d.polling),
        eal_args: raw.eal_args,
        mbufs: raw.mbufs,
        connections_per_worker: raw.connections_per_worker,
        exception_rate: raw.exception_rate.unwrap_or(d.exception_rate),
    }
}

/// Why `name` cannot be a Linux interface name (the kernel's `dev_valid_name`), if so.
fn bad_kernel_name(name: &str) -> Option<&'static str> {
    if name.is_empty() || name == "." || name == ".." {
        Some("is empty or a dot name")
    } else if name.len() > MAX_KERNEL_NAME {
        Some("is too long")
    } else if name
        .chars()
        .any(|c| c == '/' || c == ':' || c.is_whitespace() || c.is_control())
    {
        Some("holds `/`, `:` or white space")
    } else {
        None
    }
}

fn interfaces(raw: Vec<RawInterface>, path: &Path, p: &mut Problems<'_>) -> Vec<Interface> {
    let mut out: Vec<Interface> = Vec::with_capacity(raw.len());
    let mut owner: HashMap<IpAddr, (String, Path)> = HashMap::new();
    for (i, r) in raw.into_iter().enumerate() {
        let at = path.index(i);
        if r.name.trim().is_empty() {
            p.at(
                &at.key("name"),
                "empty interface name; expected a name such as wan0",
            );
        } else if let Some(j) = out.iter().position(|o| o.name == r.name) {
            let line = p.line_of(&path.index(j));
            p.at(&at.key("name"), format!("duplicate interface `{}`; expected a unique name (already defined at line {line})", r.name));
        }
        if r.device.trim().is_empty() {
            p.at(&at.key("device"), "empty device; expected a DPDK device such as `net_af_packet0,iface=eth1` or a PCI address");
        } else if let Some(o) = out.iter().find(|o| o.device == r.device) {
            p.at(&at.key("device"), format!("device `{}` is already used by interface `{}`; expected one interface per device", r.device, o.name));
        }
        for (k, a) in r.addresses.iter().enumerate() {
            let ap = at.key("addresses").index(k);
            if let Some((other, op)) = owner.get(&a.0.addr()) {
                let line = p.line_of(op);
                p.at(&ap, format!("address {} is already assigned to interface `{other}` (line {line}); expected each address once", a.0.addr()));
            } else {
                owner.insert(a.0.addr(), (r.name.clone(), ap));
            }
        }
        if let Some(k) = &r.kernel_name {
            if let Some(why) = bad_kernel_name(k) {
                p.at(&at.key("kernel_name"), format!("kernel_name `{k}` {why}; expected a Linux interface name of 1-{MAX_KERNEL_NAME} bytes without `/`, `:` or spaces, such as rvs-wan0"));
            }
        }
        let has_v6 = r.addresses.iter().any(|a| a.0.addr().is_ipv6());
        let min_mtu = if has_v6 { MIN_MTU_IPV6 } else { MIN_MTU_IPV4 };
        let mtu = r.mtu.unwrap_or(DEFAULT_MTU);
        if !(min_mtu..=MAX_MTU).contains(&mtu) {
            let why = if has_v6 {
                " (the port has IPv6 addresses)"
            } else {
                ""
            };
            p.at(
                &at.key("mtu"),
                format!("mtu {mtu}; expected {min_mtu}..={MAX_MTU}{why}, such as mtu: 1500"),
            );
        }
        let iface = Interface {
            name: r.name,
            device: r.device,
            addresses: r.addresses.into_iter().map(|a| a.0).collect(),
            exception_path: r.exception_path.unwrap_or(true),
            kernel_name: r.kernel_name,
            mtu,
        };
        if iface.exception_path {
            let k = iface.kernel_name();
            if let Some(o) = out
                .iter()
                .find(|o| o.exception_path && o.name != iface.name && o.kernel_name() == k)
            {
                p.at(&at.key("kernel_name"), format!("kernel interface name `{k}` is also interface `{}`'s; expected a unique `kernel_name`", o.name));
            }
        }
        out.push(iface);
    }
    out
}

fn interface_names(cfg: &Config) -> String {
    list_or_none(cfg.interfaces.iter().map(|i| i.name.as_str()))
}

fn subnets(cfg: &Config) -> String {
    list_or_none(cfg.connected_subnets().map(|(n, _)| n))
}

fn routes(raw: Vec<RawRoute>, cfg: &Config, path: &Path, p: &mut Problems<'_>) -> Vec<Route> {
    let mut out: Vec<Route> = Vec::with_capacity(raw.len());
    for (i, r) in raw.into_iter().enumerate() {
        let at = path.index(i);
        let prefix = r.prefix.0.trunc();
        let iface = cfg.interface(&r.interface);
        if iface.is_none() && p.scope.interfaces {
            p.at(
                &at.key("interface"),
                format!(
                    "unknown interface `{}`; expected one of {}",
                    r.interface,
                    interface_names(cfg)
                ),
            );
        }
        if let Some(via) = r.via.map(|v| v.0) {
            if via.is_ipv4() != prefix.addr().is_ipv4() {
                p.at(&at.key("via"), format!("gateway {via} is {} but the prefix {prefix} is {}; expected a gateway of the prefix's family", family(via), family(prefix.addr())));
            } else if let Some(iface) = iface {
                if !iface.addresses.iter().any(|a| a.contains(via)) {
                    let nets = list_or_none(iface.addresses.iter().map(|a| a.trunc()));
                    p.at(&at.key("via"), format!("gateway {via} is not on a connected subnet of `{}`; expected an address inside {nets}", iface.name));
                }
            }
        }
        if let Some(j) = out.iter().position(|o| o.prefix == prefix) {
            let line = p.line_of(&path.index(j));
            p.at(&at.key("prefix"), format!("duplicate route {prefix}; expected each prefix once (already defined at line {line})"));
        }
        out.push(Route {
            prefix,
            via: r.via.map(|v| v.0),
            interface: r.interface,
        });
    }
    out
}

fn snat_pools(
    raw: Vec<RawSnatPool>,
    cfg: &Config,
    path: &Path,
    p: &mut Problems<'_>,
) -> Vec<SnatPool> {
    let mut out: Vec<SnatPool> = Vec::with_capacity(raw.len());
    for (i, r) in raw.into_iter().enumerate() {
        let at = path.index(i);
        if r.name.trim().is_empty() {
            p.at(
                &at.key("name"),
                "empty pool name; expected a name such as pool1",
            );
        } else if let Some(j) = out.iter().position(|o| o.name == r.name) {
            let line = p.line_of(&path.index(j));
            p.at(&at.key("name"), format!("duplicate snat pool `{}`; expected a unique name (already defined at line {line})", r.name));
        }
        if r.addresses.is_empty() {
            p.at(
                &at.key("addresses"),
                "no addresses; expected at least one local address (LIP)",
            );
        }
        let addresses: Vec<IpAddr> = r.addresses.into_iter().map(|a| a.0).collect();
        for (k, a) in addresses.iter().enumerate() {
            let ap = at.key("addresses").index(k);
            if addresses[..k].contains(a) {
                p.at(
                    &ap,
                    format!("local address {a} is listed twice; expected each address once"),
                );
            } else if p.scope.interfaces && !cfg.connected_subnets().any(|(n, _)| n.contains(*a)) {
                // Replies from real servers come back to the LIP: the director must
                // answer ARP/NDP for it on a directly connected segment.
                p.at(&ap, format!("local address {a} is not on a connected subnet; expected an address inside {}", subnets(cfg)));
            }
        }
        out.push(SnatPool {
            name: r.name,
            addresses,
            ports: r.ports.map(|t| t.0).unwrap_or_default(),
        });
    }
    out
}

fn timeouts(raw: RawTimeouts, path: &Path, p: &mut Problems<'_>) -> Timeouts {
    let d = Timeouts::default();
    let mut one = |name: &str, v: Option<u32>, def: u32| match v {
        Some(t) if t == 0 || t > MAX_TIMEOUT => {
            p.at(
                &path.key(name),
                format!("{name} timeout {t}; expected 1..={MAX_TIMEOUT} seconds"),
            );
            def
        }
        Some(t) => t,
        None => def,
    };
    Timeouts {
        tcp: one("tcp", raw.tcp, d.tcp),
        tcp_fin: one("tcp_fin", raw.tcp_fin, d.tcp_fin),
        udp: one("udp", raw.udp, d.udp),
    }
}

fn admin(raw: RawAdmin) -> AdminConfig {
    AdminConfig {
        listen: raw.listen.map(|l| l.0).unwrap_or(DEFAULT_ADMIN_LISTEN),
        token_file: raw.token_file,
    }
}

/// Is `ip` reachable for a method: DR needs the real server on a connected segment (only
/// the MAC is rewritten); the other methods route. Returns the problem text.
fn unreachable(
    cfg: &Config,
    scope: Scope,
    ip: IpAddr,
    what: &str,
    direct_only: bool,
) -> Option<String> {
    if !scope.interfaces || (!scope.routes && !direct_only) {
        return None;
    }
    if direct_only {
        if cfg.connected_subnets().any(|(n, _)| n.contains(ip)) {
            return None;
        }
        return Some(format!("{what} {ip} is not on a connected subnet, which direct routing needs; expected an address inside {}", subnets(cfg)));
    }
    if cfg.lookup_route(ip).is_some() {
        return None;
    }
    Some(format!("{what} {ip} is outside every interface subnet and no route covers it; expected an address inside {} or a route to it", subnets(cfg)))
}

/// Resolves `method` + `tunnel_type` + `tunnel_port` of a service or real server.
fn method(
    m: Option<MethodName>,
    tt: Option<TunnelName>,
    tp: Option<u16>,
    default: ForwardMethod,
    at: &Path,
    p: &mut Problems<'_>,
) -> ForwardMethod {
    let is_tunnel = m == Some(MethodName::Tunnel)
        || (m.is_none() && matches!(default, ForwardMethod::Tunnel(_)));
    if tt.is_some() && !is_tunnel {
        p.at_key(
            &at.key("tunnel_type"),
            "`tunnel_type` without method tunnel; expected it only with `method: tunnel`",
        );
    }
    match m {
        None if tt.is_none() && tp.is_none() => default,
        None if !is_tunnel => {
            if tp.is_some() {
                p.at_key(&at.key("tunnel_port"), "`tunnel_port` without tunnel_type gue; expected it only with `tunnel_type: gue`");
            }
            default
        }
        Some(MethodName::Masq) | Some(MethodName::Route) | Some(MethodName::FullNat) => {
            if tp.is_some() {
                p.at_key(&at.key("tunnel_port"), "`tunnel_port` without tunnel_type gue; expected it only with `tunnel_type: gue`");
            }
            match m {
                Some(MethodName::Masq) => ForwardMethod::Masq,
                Some(MethodName::FullNat) => ForwardMethod::FullNat,
                _ => ForwardMethod::Route,
            }
        }
        _ => {
            // A tunnel: given here, or inherited with a type/port override.
            let inherited = match default {
                ForwardMethod::Tunnel(t) => t,
                _ => TunnelType::Ipip,
            };
            let kind = tt.unwrap_or(match inherited {
                TunnelType::Ipip => TunnelName::Ipip,
                TunnelType::Gue { .. } => TunnelName::Gue,
                TunnelType::Gre { .. } => TunnelName::Gre,
            });
            match kind {
                TunnelName::Ipip | TunnelName::Gre => {
                    if tp.is_some() {
                        p.at_key(&at.key("tunnel_port"), "`tunnel_port` without tunnel_type gue; expected it only with `tunnel_type: gue`");
                    }
                    ForwardMethod::Tunnel(if kind == TunnelName::Gre {
                        TunnelType::Gre {
                            csum: TunnelCsum::NoCsum,
                        }
                    } else {
                        TunnelType::Ipip
                    })
                }
                TunnelName::Gue => {
                    let inherited_port = match inherited {
                        TunnelType::Gue { port, .. } => Some(port),
                        _ => None,
                    };
                    match (tp, inherited_port) {
                        (Some(0), _) => {
                            p.at(
                                &at.key("tunnel_port"),
                                "tunnel_port 0; expected the real server's GUE UDP port 1..=65535",
                            );
                            ForwardMethod::Tunnel(TunnelType::Gue {
                                port: 0,
                                csum: TunnelCsum::NoCsum,
                            })
                        }
                        // An inherited port 0 was reported at the service already.
                        (Some(port), _) | (None, Some(port)) => {
                            ForwardMethod::Tunnel(TunnelType::Gue {
                                port,
                                csum: TunnelCsum::NoCsum,
                            })
                        }
                        (None, None) => {
                            p.at(at, "gue tunnel without `tunnel_port`; expected the real server's GUE UDP port, such as tunnel_port: 6080");
                            ForwardMethod::Tunnel(TunnelType::Gue {
                                port: 0,
                                csum: TunnelCsum::NoCsum,
                            })
                        }
                    }
                }
            }
        }
    }
}

/// Applies `tunnel_csum` to the resolved method `m` of a service or real server: given,
/// or else inherited from `default` (the service's method) when that is a tunnel of the
/// same type.
fn tunnel_csum(
    m: ForwardMethod,
    tc: Option<CsumName>,
    default: ForwardMethod,
    at: &Path,
    p: &mut Problems<'_>,
) -> ForwardMethod {
    let csum_of = |t: TunnelType| match t {
        TunnelType::Gue { csum, .. } | TunnelType::Gre { csum } => Some(csum),
        TunnelType::Ipip => None,
    };
    let ForwardMethod::Tunnel(t) = m else {
        if tc.is_some() {
            p.at_key(&at.key("tunnel_csum"), "`tunnel_csum` without method tunnel; expected it only with `tunnel_type: gue` or `gre`");
        }
        return m;
    };
    let csum = match tc {
        Some(CsumName::NoCsum) => TunnelCsum::NoCsum,
        Some(CsumName::Csum) => TunnelCsum::Csum,
        Some(CsumName::RemCsum) => TunnelCsum::RemCsum,
        None => match default {
            ForwardMethod::Tunnel(d)
                if std::mem::discriminant(&d) == std::mem::discriminant(&t) =>
            {
                csum_of(d).unwrap_or_default()
            }
            _ => TunnelCsum::NoCsum,
        },
    };
    ForwardMethod::Tunnel(match t {
        TunnelType::Ipip => {
            if tc.is_some() {
                p.at(&at.key("tunnel_csum"), "`tunnel_csum` with tunnel_type ipip; expected it only with `tunnel_type: gue` or `gre`");
            }
            TunnelType::Ipip
        }
        TunnelType::Gue { port, .. } => TunnelType::Gue { port, csum },
        TunnelType::Gre { .. } => {
            // An inherited one was reported at the service already.
            if csum == TunnelCsum::RemCsum && tc.is_some() {
                p.at(&at.key("tunnel_csum"), "tunnel_csum remcsum with tunnel_type gre; expected nocsum or csum (remote checksum offload is GUE only)");
            }
            TunnelType::Gre { csum }
        }
    })
}

fn services(
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
    let mut scheduler_flags = Vec::new();
    for (k, f) in r.scheduler_flags.iter().enumerate() {
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

    let persistence = match r.persistence {
        None | Some(RawPersistence::Off) => None,
        Some(RawPersistence::On(m)) => {
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
    };
    if svc_port == Some(0) && persistence.is_none() {
        p.at(&at.key("port"), "port 0 (all ports) on a non-persistent service; expected `persistence` for an all-ports service, as ipvsadm requires");
    }

    let one_packet = r.one_packet.unwrap_or(false);
    if one_packet {
        if let ServiceKey::Addr(a) = &key {
            if a.proto != Protocol::Udp {
                p.at(&at.key("one_packet"), format!("one-packet scheduling on a {} service; expected it only on udp services (or firewall-mark services)", a.proto));
            }
        }
    }

    let default_method = method(
        r.method,
        r.tunnel_type,
        r.tunnel_port.map(|t| t.0),
        ForwardMethod::Route,
        at,
        p,
    );
    let default_method = tunnel_csum(default_method, r.tunnel_csum, ForwardMethod::Route, at, p);

    let mut real_servers: Vec<RealServer> = Vec::with_capacity(r.real_servers.len());
    for (j, rs) in r.real_servers.into_iter().enumerate() {
        let rp = at.key("real_servers").index(j);
        let address = rs.address.0;
        let m = method(
            rs.method,
            rs.tunnel_type,
            rs.tunnel_port.map(|t| t.0),
            default_method,
            &rp,
            p,
        );
        let m = tunnel_csum(m, rs.tunnel_csum, default_method, &rp, p);
        let port = match (rs.port.map(|x| x.0), svc_port) {
            (Some(pt), Some(sp))
                if pt != sp && matches!(m, ForwardMethod::Route | ForwardMethod::Tunnel(_)) =>
            {
                p.at(&rp.key("port"), format!("port {pt} differs from the service port {sp}, but {} forwarding cannot change ports; expected port {sp} or method masq or fullnat", if m == ForwardMethod::Route { "route (DR)" } else { "tunnel" }));
                pt
            }
            (Some(pt), _) => pt,
            (None, sp) => sp.unwrap_or(0),
        };
        let weight = rs.weight.unwrap_or(1);
        if weight > MAX_WEIGHT {
            p.at(
                &rp.key("weight"),
                format!("weight {weight} is out of range; expected 0..={MAX_WEIGHT}"),
            );
        }
        let upper_threshold = rs.upper_threshold.unwrap_or(0);
        let lower_threshold = rs.lower_threshold.unwrap_or(0);
        // ipvsadm -x/-y take 0..=INT_MAX; keep every YAML file expressible as rules.
        for (key, v) in [
            ("upper_threshold", upper_threshold),
            ("lower_threshold", lower_threshold),
        ] {
            if v > i32::MAX as u32 {
                p.at(
                    &rp.key(key),
                    format!(
                        "{key} {v} is out of range; expected 0..={} as ipvsadm -x/-y",
                        i32::MAX
                    ),
                );
            }
        }
        // The kernel refuses lower > upper even without an upper threshold (ERANGE in
        // ip_vs_add_dest/ip_vs_edit_dest), so a YAML file and `ipvsadm -a ... -y` agree.
        if lower_threshold > upper_threshold {
            p.at(&rp.key("lower_threshold"), format!("lower_threshold {lower_threshold} is above upper_threshold {upper_threshold}; expected lower <= upper"));
        }
        if address.is_ipv6() != ipv6 && !matches!(m, ForwardMethod::Tunnel(_)) {
            p.at(&rp.key("address"), format!("real server {address} is {} but the service is {}; expected the service's family (mixed families only with tunnel)", family(address), if ipv6 { "IPv6" } else { "IPv4" }));
        } else if let Some(msg) = unreachable(
            cfg,
            p.scope,
            address,
            "real server",
            m == ForwardMethod::Route,
        ) {
            p.at(&rp.key("address"), msg);
        }
        if let Some(k) = real_servers
            .iter()
            .position(|o| o.address == address && o.port == port)
        {
            let line = p.line_of(&at.key("real_servers").index(k));
            p.at(&rp, format!("duplicate real server {}; expected each address and port once (already defined at line {line})", std::net::SocketAddr::new(address, port)));
        }
        real_servers.push(RealServer {
            address,
            port,
            weight,
            method: m,
            upper_threshold,
            lower_threshold,
        });
    }

    let needs_pool = real_servers
        .iter()
        .any(|rs| rs.method == ForwardMethod::FullNat)
        || default_method == ForwardMethod::FullNat;
    match (&r.snat_pool, needs_pool) {
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
    let toa = r.toa.unwrap_or(true);
    if r.toa.is_some() && !needs_pool {
        p.at(
            &at.key("toa"),
            "`toa` on a service without fullnat real servers; expected it only with `method: fullnat`",
        );
    }

    let sorry_server = r.sorry_server.map(|s| s.0);
    if let Some(s) = sorry_server {
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

    let health_check = r
        .health_check
        .map(|h| health_check(h, &at.key("health_check"), p));

    Some(VirtualService {
        key,
        scheduler,
        scheduler_flags,
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

fn service_key(
    r: &RawService<RawRealServer>,
    cfg: &Config,
    at: &Path,
    p: &mut Problems<'_>,
) -> Option<ServiceKey> {
    if let Some(mark) = r.fwmark {
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
        return ok.then_some(ServiceKey::Fwmark { mark, members });
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

fn health_check(h: RawHealthCheck, at: &Path, p: &mut Problems<'_>) -> HealthCheck {
    // Keys that belong to one check type only.
    let http_only = [
        ("path", h.path.is_some()),
        ("expect_status", h.expect_status.is_some()),
        ("host", h.host.is_some()),
        ("expect_body", h.expect_body.is_some()),
    ];
    let exec_only = [
        ("command", h.command.is_some()),
        ("args", !h.args.is_empty()),
    ];
    let dns_only = [("query_name", h.query_name.is_some())];
    let mut not_for = |keys: &[(&str, bool)], ty: &str| {
        for &(k, given) in keys {
            if given {
                p.at_key(
                    &at.key(k),
                    format!("`{k}` applies to {ty} checks; expected it only with `type: {ty}`"),
                );
            }
        }
    };
    if !matches!(h.kind, CheckName::Http | CheckName::Https) {
        not_for(&http_only, "http");
    }
    if h.kind != CheckName::Exec {
        not_for(&exec_only, "exec");
    }
    if h.kind != CheckName::Dns {
        not_for(&dns_only, "dns");
    }
    let kind = match h.kind {
        CheckName::Tcp => HealthCheckKind::Tcp,
        CheckName::Http | CheckName::Https => {
            let path = h.path.unwrap_or_else(|| "/".to_owned());
            if !path.starts_with('/') {
                p.at(&at.key("path"), format!("HTTP path `{path}` does not start with `/`; expected an absolute path such as /health"));
            }
            let expect_status = h.expect_status.unwrap_or(200);
            if !(100..=599).contains(&expect_status) {
                p.at(
                    &at.key("expect_status"),
                    format!("HTTP status {expect_status}; expected 100..=599"),
                );
            }
            if h.kind == CheckName::Https {
                HealthCheckKind::Https {
                    path,
                    expect_status,
                    host: h.host,
                    expect_body: h.expect_body,
                }
            } else {
                HealthCheckKind::Http {
                    path,
                    expect_status,
                    host: h.host,
                    expect_body: h.expect_body,
                }
            }
        }
        CheckName::Exec => {
            let given = h.command.is_some();
            let command = h.command.unwrap_or_default();
            if !command.is_absolute() {
                p.at_key(
                    &at.key(if given { "command" } else { "type" }),
                    format!(
                        "exec check command `{}` is not an absolute path; expected `command: /path/to/check`",
                        command.display()
                    ),
                );
            }
            HealthCheckKind::Exec {
                command,
                args: h.args,
            }
        }
        CheckName::Dns => {
            let name = h.query_name.unwrap_or_else(|| ".".to_owned());
            if let Err(why) = dns_name_ok(&name) {
                p.at(
                    &at.key("query_name"),
                    format!("DNS name `{name}` {why}; expected a name such as example.org or ."),
                );
            }
            HealthCheckKind::Dns { name }
        }
    };
    // Defaults as in the issue and DESIGN.md: a check every second, 3 s to answer.
    let interval = h.interval.map(|d| d.0).unwrap_or(Duration::from_secs(1));
    let timeout = h.timeout.map(|d| d.0).unwrap_or(Duration::from_secs(3));
    if interval.is_zero() {
        p.at(
            &at.key("interval"),
            "interval 0; expected a duration above zero, such as 1s",
        );
    }
    // A timeout longer than the interval is allowed (DESIGN.md's sketch has 1s/3s): the
    // health checker must not start a check of a server while one is still running.
    if timeout.is_zero() && h.timeout.is_some() {
        p.at(
            &at.key("timeout"),
            "timeout 0; expected a duration above zero, such as 500ms",
        );
    }
    let rise = h.rise.unwrap_or(1);
    let fall = h.fall.unwrap_or(1);
    for (k, v) in [("rise", rise), ("fall", fall)] {
        if v == 0 {
            p.at(&at.key(k), format!("{k} 0; expected a count of at least 1"));
        }
    }
    HealthCheck {
        kind,
        port: h.port.map(|x| x.0),
        interval,
        timeout,
        rise,
        fall,
        quiescent: h.quiescent.unwrap_or(true),
    }
}

/// Whether a DNS query name can be sent: ASCII labels of 1..=63 bytes, at most 253 in all.
fn dns_name_ok(name: &str) -> Result<(), &'static str> {
    let trimmed = name.strip_suffix('.').unwrap_or(name);
    if trimmed.is_empty() {
        return Ok(());
    }
    if trimmed.len() > 253 {
        return Err("is longer than 253 bytes");
    }
    for label in trimmed.split('.') {
        if label.is_empty() || label.len() > 63 {
            return Err("has an empty label or one longer than 63 bytes");
        }
        if !label.bytes().all(|b| b.is_ascii_graphic()) {
            return Err("has a character that is not printable ASCII");
        }
    }
    Ok(())
}

/// Model back to the raw schema, every value explicit, for writing YAML.
pub fn to_raw(cfg: &Config) -> RawConfig {
    let d = &cfg.dataplane;
    RawConfig {
        dataplane: Some(RawDataplane {
            main_lcore: Some(d.main_lcore),
            worker_lcores: Some(d.worker_lcores.clone()),
            polling: Some(d.polling),
            eal_args: d.eal_args.clone(),
            mbufs: d.mbufs,
            connections_per_worker: d.connections_per_worker,
            exception_rate: Some(d.exception_rate),
        }),
        interfaces: cfg
            .interfaces
            .iter()
            .map(|i| RawInterface {
                name: i.name.clone(),
                device: i.device.clone(),
                addresses: i.addresses.iter().map(|a| crate::text::Text(*a)).collect(),
                exception_path: Some(i.exception_path),
                kernel_name: i.kernel_name.clone(),
                mtu: (i.mtu != DEFAULT_MTU).then_some(i.mtu),
            })
            .collect(),
        routes: cfg
            .routes
            .iter()
            .map(|r| RawRoute {
                prefix: crate::text::Text(r.prefix),
                via: r.via.map(crate::text::Text),
                interface: r.interface.clone(),
            })
            .collect(),
        snat_pools: cfg
            .snat_pools
            .iter()
            .map(|s| RawSnatPool {
                name: s.name.clone(),
                addresses: s.addresses.iter().map(|a| crate::text::Text(*a)).collect(),
                ports: Some(crate::text::Text(s.ports)),
            })
            .collect(),
        ipvs: Some(RawIpvs {
            expire_nodest_conn: Some(cfg.ipvs.expire_nodest_conn),
            expire_quiescent_template: Some(cfg.ipvs.expire_quiescent_template),
        }),
        timeouts: Some(RawTimeouts {
            tcp: Some(cfg.timeouts.tcp),
            tcp_fin: Some(cfg.timeouts.tcp_fin),
            udp: Some(cfg.timeouts.udp),
        }),
        services: cfg.services.iter().map(service_to_raw).collect(),
        admin: Some(RawAdmin {
            listen: Some(crate::text::Text(cfg.admin.listen)),
            token_file: cfg.admin.token_file.clone(),
        }),
    }
}

/// The YAML `tunnel_csum` of a checksum option (none for the default).
fn csum_to_raw(c: TunnelCsum) -> Option<CsumName> {
    match c {
        TunnelCsum::NoCsum => None,
        TunnelCsum::Csum => Some(CsumName::Csum),
        TunnelCsum::RemCsum => Some(CsumName::RemCsum),
    }
}

type RawMethod = (
    MethodName,
    Option<TunnelName>,
    Option<crate::text::Port>,
    Option<CsumName>,
);

fn method_to_raw(m: ForwardMethod) -> RawMethod {
    match m {
        ForwardMethod::Masq => (MethodName::Masq, None, None, None),
        ForwardMethod::Route => (MethodName::Route, None, None, None),
        ForwardMethod::FullNat => (MethodName::FullNat, None, None, None),
        ForwardMethod::Tunnel(TunnelType::Ipip) => {
            (MethodName::Tunnel, Some(TunnelName::Ipip), None, None)
        }
        ForwardMethod::Tunnel(TunnelType::Gre { csum }) => (
            MethodName::Tunnel,
            Some(TunnelName::Gre),
            None,
            csum_to_raw(csum),
        ),
        ForwardMethod::Tunnel(TunnelType::Gue { port, csum }) => (
            MethodName::Tunnel,
            Some(TunnelName::Gue),
            Some(crate::text::Port(port)),
            csum_to_raw(csum),
        ),
    }
}

pub fn service_to_raw(s: &VirtualService) -> RawService<RawRealServer> {
    use crate::text::{Port, Text};
    let (proto, vip, port, fwmark, members) = match &s.key {
        ServiceKey::Addr(a) => (
            Some(a.proto),
            Some(Text(a.vip)),
            Some(Port(a.port)),
            None,
            None,
        ),
        ServiceKey::Fwmark { mark, members } => (
            None,
            None,
            None,
            Some(*mark),
            Some(members.iter().map(|m| Text(*m)).collect()),
        ),
    };
    let (method, tunnel_type, tunnel_port, tunnel_csum) = method_to_raw(s.method);
    RawService {
        proto,
        vip,
        port,
        fwmark,
        members,
        scheduler: Some(s.scheduler),
        scheduler_flags: s.scheduler_flags.clone(),
        persistence: s.persistence.map(|ps| {
            RawPersistence::On(RawPersistenceMap {
                timeout: Some(ps.timeout),
                netmask: ps.netmask.map(Text),
            })
        }),
        one_packet: s.one_packet.then_some(true),
        method: Some(method),
        tunnel_type,
        tunnel_port,
        tunnel_csum,
        snat_pool: s.snat_pool.clone(),
        toa: (!s.toa).then_some(false),
        health_check: s.health_check.as_ref().map(|h| {
            let mut raw = RawHealthCheck {
                kind: CheckName::Tcp,
                path: None,
                expect_status: None,
                host: None,
                expect_body: None,
                command: None,
                args: Vec::new(),
                query_name: None,
                port: h.port.map(Port),
                interval: Some(Text(h.interval)),
                timeout: Some(Text(h.timeout)),
                rise: Some(h.rise),
                fall: Some(h.fall),
                quiescent: Some(h.quiescent),
            };
            match &h.kind {
                HealthCheckKind::Tcp => {}
                HealthCheckKind::Http {
                    path,
                    expect_status,
                    host,
                    expect_body,
                }
                | HealthCheckKind::Https {
                    path,
                    expect_status,
                    host,
                    expect_body,
                } => {
                    raw.kind = if matches!(h.kind, HealthCheckKind::Https { .. }) {
                        CheckName::Https
                    } else {
                        CheckName::Http
                    };
                    raw.path = Some(path.clone());
                    raw.expect_status = Some(*expect_status);
                    raw.host = host.clone();
                    raw.expect_body = expect_body.clone();
                }
                HealthCheckKind::Exec { command, args } => {
                    raw.kind = CheckName::Exec;
                    raw.command = Some(command.clone());
                    raw.args = args.clone();
                }
                HealthCheckKind::Dns { name } => {
                    raw.kind = CheckName::Dns;
                    raw.query_name = Some(name.clone());
                }
            }
            raw
        }),
        sorry_server: s.sorry_server.map(Text),
        real_servers: s.real_servers.iter().map(real_server_to_raw).collect(),
    }
}

pub fn real_server_to_raw(r: &RealServer) -> RawRealServer {
    use crate::text::{Port, Text};
    let (method, tunnel_type, tunnel_port, tunnel_csum) = method_to_raw(r.method);
    RawRealServer {
        address: Text(r.address),
        port: Some(Port(r.port)),
        weight: Some(r.weight),
        method: Some(method),
        tunnel_type,
        tunnel_port,
        tunnel_csum,
        upper_threshold: (r.upper_threshold != 0).then_some(r.upper_threshold),
        lower_threshold: (r.lower_threshold != 0).then_some(r.lower_threshold),
    }
}
