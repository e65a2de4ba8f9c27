//! The validated configuration model -> what the dataplane of this build runs.
//!
//! `config` accepts everything rvs's schema can say; this module refuses, with one clear
//! line each, what this build's dataplane cannot do yet, rather than run it differently.

use std::net::IpAddr;

use anyhow::{bail, Context, Result};
use config::{
    Config, ForwardMethod, Protocol, RealServer as RsConfig, SchedulerFlag, ServiceKey, TunnelCsum,
    TunnelType, VirtualService as VsConfig,
};
use dataplane::route::Ipv4Prefix;
use dataplane::route::Ipv6Prefix;
use dataplane::service::{proto, Forward, Persistence, RealServer, VirtualService};
use dataplane::tables::{IpvsSwitches, IpvsTimeouts};
use dataplane::worker::Polling;
use dataplane::xmit::tun::TunnelKind;
use scheduler::{Destination, SchedFlags, SchedOptions, SchedulerKind, Thresholds};

use super::fullnat::Pools;
use super::ids::RealServerIds;
use super::model::{DaemonSpec, InterfaceSpec, CONN_CAPACITY, DEFAULT_MBUFS};

/// Convert a validated configuration into the daemon's spec, reading the token file.
pub fn from_config(cfg: &Config, ids: &mut RealServerIds) -> Result<DaemonSpec> {
    let interfaces = interfaces(cfg)?;
    let (routes, routes6) = routes(cfg)?;
    let mut services = Vec::new();
    let mut snat = Pools::default();
    for s in &cfg.services {
        services.push(service(cfg, s, ids, &mut snat)?);
    }
    let (snat_pools, toa_off) = snat.into_parts();
    // A missing exec user is refused here, at --check, start and every change alike.
    crate::health::run_as(&cfg.health).map_err(anyhow::Error::msg)?;
    let admin_token = match &cfg.admin.token_file {
        Some(f) => Some(
            std::fs::read_to_string(f)
                .with_context(|| format!("cannot read admin.token_file {}", f.display()))?
                .trim()
                .to_string(),
        ),
        None => None,
    };
    Ok(DaemonSpec {
        main_lcore: cfg.dataplane.main_lcore,
        worker_lcores: cfg.dataplane.worker_lcores.clone(),
        polling: match cfg.dataplane.polling {
            config::Polling::Busy => Polling::Busy,
            config::Polling::Adaptive => Polling::Adaptive,
        },
        eal_args: cfg.dataplane.eal_args.clone(),
        mbufs: cfg.dataplane.mbufs.unwrap_or(DEFAULT_MBUFS),
        interfaces,
        routes,
        routes6,
        services,
        snat_pools,
        toa_off,
        timeouts: IpvsTimeouts {
            tcp: cfg.timeouts.tcp,
            tcp_fin: cfg.timeouts.tcp_fin,
            udp: cfg.timeouts.udp,
        },
        ipvs: IpvsSwitches {
            expire_nodest_conn: cfg.ipvs.expire_nodest_conn,
            expire_quiescent_template: cfg.ipvs.expire_quiescent_template,
            reset_unknown_conn: cfg.ipvs.reset_unknown_conn,
        },
        conn_capacity: cfg
            .dataplane
            .connections_per_worker
            .map_or(CONN_CAPACITY, |n| n as usize),
        exception_rate: cfg.dataplane.exception_rate,
        admin_listen: Some(cfg.admin.listen),
        admin_token,
    })
}

/// The interfaces, with their addresses split by family.
fn interfaces(cfg: &Config) -> Result<Vec<InterfaceSpec>> {
    let mut interfaces = Vec::new();
    for i in &cfg.interfaces {
        // Ethernet header + MTU must fit one mbuf (no scatter/jumbo mbufs yet).
        let max_mtu = dataplane::dpdk::MBUF_DATA_ROOM - 14;
        if usize::from(i.mtu) > max_mtu {
            bail!(
                "interface {}: mtu {} needs frames larger than this build's dataplane buffers ({} bytes, no jumbo mbufs yet); use mtu {max_mtu} or less",
                i.name,
                i.mtu,
                dataplane::dpdk::MBUF_DATA_ROOM
            );
        }
        let mut addresses = Vec::new();
        let mut addresses6 = Vec::new();
        for a in &i.addresses {
            match a.addr() {
                IpAddr::V4(v4) => addresses.push((v4, a.prefix_len())),
                IpAddr::V6(v6) => addresses6.push((v6, a.prefix_len())),
            }
        }
        interfaces.push(InterfaceSpec {
            name: i.name.clone(),
            device: i.device.clone(),
            addresses,
            kernel_name: i.exception_path.then(|| i.kernel_name()),
            addresses6,
            mtu: i.mtu,
        });
    }
    Ok(interfaces)
}

/// IPv4 and IPv6 routes, as (prefix, gateway, interface index).
type Routes = (
    Vec<(Ipv4Prefix, std::net::Ipv4Addr, usize)>,
    Vec<(Ipv6Prefix, std::net::Ipv6Addr, usize)>,
);

/// The static routes, by family.
fn routes(cfg: &Config) -> Result<Routes> {
    let mut routes = Vec::new();
    let mut routes6 = Vec::new();
    for r in &cfg.routes {
        let idx = cfg
            .interfaces
            .iter()
            .position(|i| i.name == r.interface)
            .context("route names an unknown interface")?;
        let Some(via) = r.via else {
            bail!(
                "route {}: on-link routes without `via` are not supported yet; give a gateway",
                r.prefix
            );
        };
        // config checks that the gateway is of the prefix's family.
        match (r.prefix.addr(), via) {
            (IpAddr::V4(p), IpAddr::V4(via)) => {
                let prefix =
                    Ipv4Prefix::new(p, r.prefix.prefix_len()).context("bad route prefix")?;
                routes.push((prefix, via, idx));
            }
            (IpAddr::V6(p), IpAddr::V6(via)) => {
                let prefix =
                    Ipv6Prefix::new(p, r.prefix.prefix_len()).context("bad route prefix")?;
                routes6.push((prefix, via, idx));
            }
            _ => bail!(
                "route {}: gateway {via} is of another address family",
                r.prefix
            ),
        }
    }
    Ok((routes, routes6))
}

/// One virtual service in dataplane terms: its real servers get their stable ids, its
/// scheduler is built and its SNAT pool translated.
fn service(
    cfg: &Config,
    s: &VsConfig,
    ids: &mut RealServerIds,
    snat: &mut Pools,
) -> Result<VirtualService> {
    let what = format!("service {}", s.key);
    let ip_proto = |p: Protocol| match p {
        Protocol::Tcp => Ok(proto::TCP),
        Protocol::Udp => Ok(proto::UDP),
        Protocol::Sctp => bail!("{what}: SCTP is not supported by this build's dataplane yet"),
    };
    // A firewall-mark service is reached through each of its member tuples; it takes
    // its first member's protocol and VIP, with port 0 (see VirtualService::members).
    let (addr, port, members) = match &s.key {
        ServiceKey::Addr(a) => (a, a.port, Vec::new()),
        ServiceKey::Fwmark { members, .. } => {
            let Some(first) = members.first() else {
                bail!("{what}: a firewall-mark service needs at least one member");
            };
            let mut tuples = Vec::new();
            for m in members {
                tuples.push((ip_proto(m.proto)?, m.vip, m.port));
            }
            (first, 0, tuples)
        }
    };
    let p = ip_proto(addr.proto)?;
    let kind: SchedulerKind = s
        .scheduler
        .to_string()
        .parse()
        .map_err(|e| anyhow::anyhow!("{what}: {e}"))?;
    let mut real_servers = Vec::new();
    // The kernel's list order (see `scheduler`): the last configured real server first.
    for rs in s.real_servers.iter().rev() {
        if rs.address.is_ipv6() != s.is_ipv6() {
            bail!(
                "{what}: real server {}: mixed address families are not supported by this build's dataplane yet",
                rs.socket_addr()
            );
        }
        real_servers.push(RealServer {
            id: ids.id(&s.key.to_string(), rs.socket_addr())?,
            addr: rs.address,
            port: rs.port,
            weight: rs.weight,
            forward: forward(rs),
            upper_threshold: rs.upper_threshold,
        });
    }
    let scheduler = scheduler(s, kind).map_err(|e| anyhow::anyhow!("{what}: {e}"))?;
    let snat_pool = snat.for_service(cfg, s, &what)?;
    snat.toa_off(s, &real_servers);
    Ok(VirtualService {
        snat_pool,
        id: ids.service_id(&s.key.to_string()),
        persistence: s.persistence.map(|ps| Persistence {
            timeout_s: ps.timeout,
            prefix_len: ps
                .prefix_len(s.is_ipv6())
                .min(if s.is_ipv6() { 128 } else { 32 }),
        }),
        proto: p,
        vip: addr.vip,
        port,
        members,
        real_servers,
        scheduler,
    })
}

/// A real server's forwarding method in the dataplane's terms.
fn forward(rs: &RsConfig) -> Forward {
    match rs.method {
        ForwardMethod::Masq => Forward::Masq,
        ForwardMethod::Route => Forward::Route,
        ForwardMethod::FullNat => Forward::FullNat,
        ForwardMethod::Tunnel(t) => Forward::Tunnel(match t {
            TunnelType::Ipip => TunnelKind::Ipip,
            TunnelType::Gue { port, csum } => TunnelKind::Gue {
                port,
                csum: match csum {
                    TunnelCsum::NoCsum => dataplane::xmit::tun::TunnelCsum::NoCsum,
                    TunnelCsum::Csum => dataplane::xmit::tun::TunnelCsum::Csum,
                    TunnelCsum::RemCsum => dataplane::xmit::tun::TunnelCsum::RemCsum,
                },
            },
            // config refuses remcsum for GRE.
            TunnelType::Gre { csum } => TunnelKind::Gre {
                csum: csum != TunnelCsum::NoCsum,
            },
        }),
    }
}

/// The service's scheduler over its real servers.
fn scheduler(
    s: &VsConfig,
    kind: SchedulerKind,
) -> Result<scheduler::Scheduler, impl std::fmt::Display> {
    let flags = SchedFlags {
        fallback: s
            .scheduler_flags
            .iter()
            .any(|f| matches!(f, SchedulerFlag::ShFallback | SchedulerFlag::MhFallback)),
        port: s
            .scheduler_flags
            .iter()
            .any(|f| matches!(f, SchedulerFlag::ShPort | SchedulerFlag::MhPort)),
    };
    // In the kernel's list order, as the dataplane's real servers: `ip_vs_add_dest` puts a
    // new real server at the head of its service's list, so the configuration's order (the
    // order an ipvsadm-restore or a series of `-a` would add them in) is reversed. It decides
    // rr/wrr sequences, ties and the dh/sh/mh tables; `-Ln` sorts by address as ipvsadm does.
    let dests: Vec<Destination> = s
        .real_servers
        .iter()
        .rev()
        .map(|rs| Destination {
            thresholds: Thresholds {
                upper: rs.upper_threshold,
                lower: rs.lower_threshold,
            },
            ..Destination::new(rs.address, rs.port, rs.weight.min(u16::MAX as u32) as u16)
        })
        .collect();
    scheduler::Scheduler::build(
        kind,
        &dests,
        SchedOptions {
            flags,
            mh_table_size: s.mh_table_size.unwrap_or(config::MH_DEFAULT_TABLE_SIZE),
            ..SchedOptions::default()
        },
    )
}

#[cfg(test)]
mod tests {
    use conn_table::Method;
    use dataplane::xmit::tun::TunnelCsum as Csum;

    use super::*;

    /// A real server of `method`.
    fn rs(method: ForwardMethod) -> RsConfig {
        RsConfig {
            address: "192.0.2.11".parse().unwrap(),
            port: 8080,
            weight: 1,
            method,
            upper_threshold: 0,
            lower_threshold: 0,
        }
    }

    #[test]
    fn every_forward_method_reaches_its_connection_method() {
        let mut table = vec![
            ("NAT", ForwardMethod::Masq, Forward::Masq, Method::Masq),
            ("DR", ForwardMethod::Route, Forward::Route, Method::Route),
            (
                "FULLNAT",
                ForwardMethod::FullNat,
                Forward::FullNat,
                Method::FullNat,
            ),
            (
                "TUN ipip",
                ForwardMethod::Tunnel(TunnelType::Ipip),
                Forward::Tunnel(TunnelKind::Ipip),
                Method::Tunnel,
            ),
        ];
        let csums = [
            (TunnelCsum::NoCsum, Csum::NoCsum, false),
            (TunnelCsum::Csum, Csum::Csum, true),
            // config refuses remcsum for GRE; given one, GRE's checksum would be on.
            (TunnelCsum::RemCsum, Csum::RemCsum, true),
        ];
        for (csum, gue_csum, gre_csum) in csums {
            let gue = TunnelType::Gue { port: 6080, csum };
            let gue_kind = TunnelKind::Gue {
                port: 6080,
                csum: gue_csum,
            };
            let gre = TunnelType::Gre { csum };
            let gre_kind = TunnelKind::Gre { csum: gre_csum };
            table.extend([
                (
                    "TUN gue",
                    ForwardMethod::Tunnel(gue),
                    Forward::Tunnel(gue_kind),
                    Method::Tunnel,
                ),
                (
                    "TUN gre",
                    ForwardMethod::Tunnel(gre),
                    Forward::Tunnel(gre_kind),
                    Method::Tunnel,
                ),
            ]);
        }
        for (name, method, expected, conn) in &table {
            let got = forward(&rs(*method));
            assert_eq!(got, *expected, "{name}: {method:?}");
            assert_eq!(got.method(), *conn, "{name}: {method:?}");
        }
        // Every method of the configuration and of the connection table is in the table.
        let mut listed: Vec<_> = table.iter().map(|r| r.1.list_name()).collect();
        listed.dedup();
        assert_eq!(listed, ["Masq", "Route", "FullNat", "Tunnel"]);
        let mut methods: Vec<_> = table.iter().map(|r| r.3 as u8).collect();
        methods.dedup();
        assert_eq!(methods, [0, 1, 3, 2], "Masq, Route, FullNat, Tunnel");
    }

    /// Real servers are scheduled in the kernel's list order: the last added first, so rr
    /// over A, B, C (configuration order) picks C, B, A.
    #[test]
    fn real_servers_are_scheduled_newest_first() {
        let mut vs = mh_service();
        vs.scheduler = config::Scheduler::Rr;
        vs.mh_table_size = None;
        vs.real_servers = (1..=3u8)
            .map(|i| RsConfig {
                address: std::net::IpAddr::from([192, 0, 2, i]),
                ..rs(ForwardMethod::Masq)
            })
            .collect();
        let s = scheduler(&vs, SchedulerKind::Rr)
            .map_err(|e| e.to_string())
            .unwrap();
        let loads = [scheduler::DestLoad::IDLE; 3];
        let flow = scheduler::FlowKey::new(
            6,
            "198.18.0.1:1000".parse().unwrap(),
            "198.18.0.100:80".parse().unwrap(),
        );
        let mut st = s.new_state(0);
        let picks: Vec<u8> = (0..4)
            .map(|_| {
                let i = s.pick(&mut st, &loads[..], &flow, 0).unwrap();
                match s.destinations()[i].addr {
                    std::net::IpAddr::V4(a) => a.octets()[3],
                    std::net::IpAddr::V6(_) => unreachable!(),
                }
            })
            .collect();
        assert_eq!(picks, [3, 2, 1, 3]);
    }

    /// The YAML `mh_table_size` sizes the service's Maglev table; without it, the kernel's
    /// default 4093.
    #[test]
    fn mh_table_size_reaches_the_scheduler() {
        let mut vs = mh_service();
        let built = |vs: &VsConfig| {
            let s = scheduler(vs, SchedulerKind::Mh)
                .map_err(|e| e.to_string())
                .unwrap();
            s.hash_table().unwrap().len()
        };
        assert_eq!(built(&vs), 251);
        vs.mh_table_size = None;
        assert_eq!(built(&vs), 4093);
    }

    /// An mh service with a 251-entry table and one real server.
    fn mh_service() -> VsConfig {
        VsConfig {
            key: ServiceKey::Addr(config::ServiceAddr {
                proto: Protocol::Tcp,
                vip: "198.18.0.100".parse().unwrap(),
                port: 80,
            }),
            scheduler: config::Scheduler::Mh,
            scheduler_flags: vec![],
            mh_table_size: Some(251),
            persistence: None,
            one_packet: false,
            method: ForwardMethod::Masq,
            snat_pool: None,
            toa: true,
            health_check: None,
            sorry_server: None,
            real_servers: vec![rs(ForwardMethod::Masq)],
        }
    }
}
