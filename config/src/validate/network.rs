//! The network sections: `interfaces`, `routes` and `snat_pools`, and whether an address
//! is reachable through them (for VIPs, real servers and sorry servers).

use std::collections::HashMap;
use std::net::IpAddr;

use super::problems::{family, list_or_none, Problems, Scope};
use crate::locate::Path;
use crate::model::{
    Config, Interface, Route, SnatPool, DEFAULT_MTU, MAX_KERNEL_NAME, MAX_MTU, MIN_MTU_IPV4,
    MIN_MTU_IPV6,
};
use crate::raw::{RawInterface, RawRoute, RawSnatPool};

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

pub fn interfaces(raw: Vec<RawInterface>, path: &Path, p: &mut Problems<'_>) -> Vec<Interface> {
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

pub fn routes(raw: Vec<RawRoute>, cfg: &Config, path: &Path, p: &mut Problems<'_>) -> Vec<Route> {
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

pub fn snat_pools(
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

/// Is `ip` reachable for a method: DR needs the real server on a connected segment (only
/// the MAC is rewritten); the other methods route. Returns the problem text.
pub fn unreachable(
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
