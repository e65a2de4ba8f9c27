//! ipvsadm 1.31's listings (`print_title`, `print_service_entry`,
//! `print_largenum`, `print_conn`, `list_timeout`) and `-S` rules.

use super::command::ListFormat;
use super::types::{addr_bits, AddrPort, AddressFamily, DestConfig, ServiceConfig, VirtualService};
use super::view::{ConnView, DestView, ServiceRule, ServiceView, TimeoutsView};
use crate::forward::{ForwardMethod, TunnelType};
use std::fmt::Write as _;
use std::net::IpAddr;

/// IPVS version the header reports.
pub const IPVS_VERSION: &str = "1.2.1";
/// Connection hash-table size the header reports (IPVS's default 2^12).
pub const CONN_TAB_SIZE: u32 = 4096;

// `write!` into a String cannot fail; the results are ignored on purpose.

/// Cuts `s` to at most `n` bytes, like ipvsadm's `name[n] = '\0'`.
fn cut(mut s: String, n: usize) -> String {
    if s.len() > n {
        let mut end = n;
        while !s.is_char_boundary(end) {
            end -= 1;
        }
        s.truncate(end);
    }
    s
}

/// `print_largenum`: 9 columns, scaled to K/M/G/T unless `--exact`.
fn largenum(out: &mut String, i: u64, exact: bool) {
    if exact {
        let width = i.to_string().len().max(8) + 1;
        let _ = write!(out, "{i:>width$}");
    } else if i < 100_000_000 {
        let _ = write!(out, "{i:>9}");
    } else if i < 1_000_000_000 {
        let _ = write!(out, "{:>8}K", i / 1_000);
    } else if i < 100_000_000_000 {
        let _ = write!(out, "{:>8}M", i / 1_000_000);
    } else if i < 100_000_000_000_000 {
        let _ = write!(out, "{:>8}G", i / 1_000_000_000);
    } else {
        let _ = write!(out, "{:>8}T", i / 1_000_000_000_000);
    }
}

fn title(out: &mut String, f: &ListFormat) {
    let head = "Prot LocalAddress:Port";
    if f.stats {
        let _ = writeln!(
            out,
            "{head:<33} {:>8} {:>8} {:>8} {:>8} {:>8}\n  -> RemoteAddress:Port",
            "Conns", "InPkts", "OutPkts", "InBytes", "OutBytes"
        );
    } else if f.rate {
        let _ = writeln!(
            out,
            "{head:<33} {:>8} {:>8} {:>8} {:>8} {:>8}\n  -> RemoteAddress:Port",
            "CPS", "InPPS", "OutPPS", "InBPS", "OutBPS"
        );
    } else if f.thresholds {
        let _ = writeln!(
            out,
            "{head:<33} {:<10} {:<10} {:<10} {:<10}\n  -> RemoteAddress:Port",
            "Uthreshold", "Lthreshold", "ActiveConn", "InActConn"
        );
    } else if f.persistent_conn {
        let _ = writeln!(
            out,
            "{head:<33} {:<9} {:<11} {:<10} {:<10}\n  -> RemoteAddress:Port",
            "Weight", "PersistConn", "ActiveConn", "InActConn"
        );
    } else if f.tun_info {
        out.push_str(
            "Prot LocalAddress:Port Scheduler Flags\n  -> RemoteAddress:Port           Forward TunnelInfo    Weight ActiveConn InActConn\n",
        );
    } else {
        out.push_str(
            "Prot LocalAddress:Port Scheduler Flags\n  -> RemoteAddress:Port           Forward Weight ActiveConn InActConn\n",
        );
    }
}

/// The service column of listings: `TCP  VIP:port` or `FWM  mark`.
fn service_name(vs: &VirtualService) -> String {
    match vs {
        VirtualService::Fwmark { mark, family } => match family {
            AddressFamily::Inet => format!("FWM  {mark}"),
            AddressFamily::Inet6 => format!("FWM  {mark} IPv6"),
        },
        VirtualService::Inet {
            protocol,
            addr,
            port,
        } => {
            let name = format!("{:<4} {}", protocol.list_name(), AddrPort(*addr, *port));
            if addr.is_ipv6() {
                name
            } else {
                cut(name, 33)
            }
        }
    }
}

/// The service part of rules: `-t VIP:port` or `-f mark [-6]`.
fn service_rule_name(vs: &VirtualService) -> String {
    match vs {
        VirtualService::Fwmark { mark, family } => match family {
            AddressFamily::Inet => format!("-f {mark}"),
            AddressFamily::Inet6 => format!("-f {mark} -6"),
        },
        VirtualService::Inet {
            protocol,
            addr,
            port,
        } => format!("{} {}", protocol.rule_option(), AddrPort(*addr, *port)),
    }
}

fn sorted_services<'a>(services: &'a [ServiceView], f: &ListFormat) -> Vec<&'a ServiceView> {
    let mut v: Vec<&ServiceView> = services.iter().collect();
    if !f.nosort {
        v.sort_by_key(|s| s.config.service.sort_key());
    }
    v
}

/// libipvs' `ipvs_cmp_dests` order: address, then port.
fn dest_key(addr: &IpAddr, port: u16) -> (AddressFamily, u128, u16) {
    (AddressFamily::of(addr), addr_bits(addr), port)
}

/// The line of a service in listings other than `--stats`/`--rate`.
fn service_flags_line(out: &mut String, name: &str, c: &ServiceConfig) {
    let _ = write!(out, "{name} {}", c.scheduler);
    if !c.sched_flags.is_empty() {
        let _ = write!(out, " ({})", c.sched_flags.names(&c.scheduler));
    }
    if let Some(p) = &c.persistence {
        let _ = write!(out, " persistent {}", p.timeout);
        if !p.netmask.is_host() {
            let _ = write!(out, " mask {}", p.netmask);
        }
        if let Some(pe) = &c.persistence_engine {
            let _ = write!(out, " pe {pe}");
        }
    }
    if c.one_packet {
        out.push_str(" ops");
    }
    out.push('\n');
}

/// `--tun-info` column.
fn tun_info(method: &ForwardMethod) -> String {
    match method {
        ForwardMethod::Tunnel(TunnelType::Ipip) => "ipip".to_string(),
        ForwardMethod::Tunnel(TunnelType::Gue { port, csum }) => {
            format!("gue:{port}:{}", csum.info())
        }
        ForwardMethod::Tunnel(TunnelType::Gre { csum }) => format!("gre:{}", csum.info()),
        _ => "n/a".to_string(),
    }
}

fn service_entry(out: &mut String, s: &ServiceView, f: &ListFormat) {
    let name = service_name(&s.config.service);
    if f.stats || f.rate {
        let _ = write!(out, "{name:<33}");
        let v = if f.stats {
            let t = &s.stats;
            [t.conns, t.inpkts, t.outpkts, t.inbytes, t.outbytes]
        } else {
            let r = &s.rates;
            [r.cps, r.inpps, r.outpps, r.inbps, r.outbps]
        };
        for n in v {
            largenum(out, n, f.exact);
        }
        out.push('\n');
    } else {
        service_flags_line(out, &name, &s.config);
    }

    let mut dests: Vec<&DestView> = s.real_servers.iter().collect();
    if !f.nosort {
        dests.sort_by_key(|d| dest_key(&d.config.addr, d.config.port));
    }
    for d in dests {
        let c = &d.config;
        let dname = AddrPort(c.addr, c.port).to_string();
        let dname = if c.addr.is_ipv6() {
            dname
        } else {
            cut(dname, 28)
        };
        if f.stats {
            let _ = write!(out, "  -> {dname:<28}");
            let t = &d.stats;
            for n in [t.conns, t.inpkts, t.outpkts, t.inbytes, t.outbytes] {
                largenum(out, n, f.exact);
            }
            out.push('\n');
        } else if f.rate {
            let r = &d.rates;
            let _ = write!(
                out,
                "  -> {dname:<28} {:>8} {:>8} {:>8}",
                r.cps, r.inpps, r.outpps
            );
            largenum(out, r.inbps, f.exact);
            largenum(out, r.outbps, f.exact);
            out.push('\n');
        } else if f.thresholds {
            let _ = writeln!(
                out,
                "  -> {dname:<28} {:<10} {:<10} {:<10} {:<10}",
                c.u_threshold, c.l_threshold, d.active_conns, d.inactive_conns
            );
        } else if f.persistent_conn {
            let _ = writeln!(
                out,
                "  -> {dname:<28} {:<9} {:<11} {:<10} {:<10}",
                c.weight, d.persistent_conns, d.active_conns, d.inactive_conns
            );
        } else if f.tun_info {
            let _ = writeln!(
                out,
                "  -> {dname:<28} {:<7} {:<13} {:<6} {:<10} {:<10}",
                c.method.list_name(),
                tun_info(&c.method),
                c.weight,
                d.active_conns,
                d.inactive_conns
            );
        } else {
            let _ = writeln!(
                out,
                "  -> {dname:<28} {:<7} {:<6} {:<10} {:<10}",
                c.method.list_name(),
                c.weight,
                d.active_conns,
                d.inactive_conns
            );
        }
    }
}

/// `-L` of the whole table: version header, column titles, every service
/// sorted as ipvsadm sorts (unless `--nosort`).
pub fn format_list(services: &[ServiceView], format: &ListFormat) -> String {
    let mut out = format!("IP Virtual Server version {IPVS_VERSION} (size={CONN_TAB_SIZE})\n");
    title(&mut out, format);
    for s in sorted_services(services, format) {
        service_entry(&mut out, s, format);
    }
    out
}

/// `-L -t VIP:port` (one service): column titles and the service, without
/// the version header.
pub fn format_service(service: &ServiceView, format: &ListFormat) -> String {
    let mut out = String::new();
    title(&mut out, format);
    service_entry(&mut out, service, format);
    out
}

/// `-Lc`: connection entries in the order given (ipvsadm prints the
/// kernel's hash order). `--persistent-conn` adds the persistence-engine
/// columns.
pub fn format_connections(conns: &[ConnView], format: &ListFormat) -> String {
    let mut out = String::from("IPVS connection entries\n");
    if format.persistent_conn {
        let _ = writeln!(
            out,
            "pro expire {:<11} {:<18} {:<18} {:<18} {:<16} pe_data",
            "state", "source", "virtual", "destination", "pe name"
        );
    } else {
        let _ = writeln!(
            out,
            "pro expire {:<11} {:<18} {:<18} destination",
            "state", "source", "virtual"
        );
    }
    for c in conns {
        let expire = format!("{:02}:{:02}", c.expires / 60, c.expires % 60);
        let src = AddrPort(c.client_addr, c.client_port).to_string();
        let vip = AddrPort(c.virtual_addr, c.virtual_port).to_string();
        let dst = AddrPort(c.dest_addr, c.dest_port).to_string();
        let proto = c.protocol.name();
        match (&c.pe, format.persistent_conn) {
            (Some(pe), true) => {
                let _ = writeln!(
                    out,
                    "{proto:<3} {expire:<6} {:<11} {src:<18} {vip:<18} {dst:<16} {:<18} {}",
                    c.state, pe.name, pe.data
                );
            }
            _ => {
                let _ = writeln!(
                    out,
                    "{proto:<3} {expire:<6} {:<11} {src:<18} {vip:<18} {dst}",
                    c.state
                );
            }
        }
    }
    out
}

/// `-L --timeout`.
pub fn format_timeouts(t: &TimeoutsView) -> String {
    format!(
        "Timeout (tcp tcpfin udp): {} {} {}\n",
        t.tcp, t.tcp_fin, t.udp
    )
}

/// One `-a` rule line.
fn dest_rule(out: &mut String, svc: &str, d: &DestConfig) {
    let dname = AddrPort(d.addr, d.port);
    let _ = write!(
        out,
        "-a {svc} -r {dname} {} -w {}",
        d.method.rule_option(),
        d.weight
    );
    if let ForwardMethod::Tunnel(encap) = &d.method {
        let _ = write!(out, " --tun-type {}", encap.name());
        match encap {
            TunnelType::Ipip => {}
            TunnelType::Gue { port, csum } => {
                let _ = write!(out, " --tun-port {port} {}", csum.rule_option());
            }
            TunnelType::Gre { csum } => {
                let _ = write!(out, " {}", csum.rule_option());
            }
        }
    }
    // ipvsadm 1.31 drops thresholds from -S; rvs keeps them so that -R
    // rebuilds the same table. Lines without thresholds are unchanged.
    if d.u_threshold != 0 || d.l_threshold != 0 {
        let _ = write!(out, " -x {} -y {}", d.u_threshold, d.l_threshold);
    }
    out.push('\n');
}

/// `-S -n`: the table as `-R` rules, services and real servers sorted as
/// ipvsadm sorts them.
pub fn format_rules(services: &[ServiceRule]) -> String {
    let mut out = String::new();
    let mut sorted: Vec<&ServiceRule> = services.iter().collect();
    sorted.sort_by_key(|s| s.service.service.sort_key());
    for s in sorted {
        let c = &s.service;
        let svc = service_rule_name(&c.service);
        let _ = write!(out, "-A {svc} -s {}", c.scheduler);
        if let Some(p) = &c.persistence {
            let _ = write!(out, " -p {}", p.timeout);
            if !p.netmask.is_host() {
                let _ = write!(out, " -M {}", p.netmask);
            }
        }
        if let Some(pe) = &c.persistence_engine {
            let _ = write!(out, " --pe {pe}");
        }
        if c.one_packet {
            out.push_str(" -o");
        }
        if !c.sched_flags.is_empty() {
            let _ = write!(out, " -b {}", c.sched_flags.names(&c.scheduler));
        }
        out.push('\n');
        let mut dests: Vec<&DestConfig> = s.real_servers.iter().collect();
        dests.sort_by_key(|d| dest_key(&d.addr, d.port));
        for d in dests {
            dest_rule(&mut out, &svc, d);
        }
    }
    out
}
