//! Conversions between the YAML model and ipvsadm's view of a service (`-S` rules,
//! REST bodies), both ways.
//!
//! ipvsadm says less than the YAML model: health checks, sorry servers, SNAT pools and
//! firewall-mark members have no ipvsadm form. Going from ipvsadm to the model, those are
//! taken from a `base` service when one exists (an edit keeps them) and left empty
//! otherwise.

use std::net::IpAddr;

use crate::ipvsadm::{self, ServiceRule};
use crate::model::{
    Persistence, Protocol, RealServer, Scheduler, SchedulerFlag, ServiceAddr, ServiceKey,
    VirtualService,
};
use crate::net::Netmask;

fn proto_to_ipvsadm(p: Protocol) -> ipvsadm::Protocol {
    match p {
        Protocol::Tcp => ipvsadm::Protocol::Tcp,
        Protocol::Udp => ipvsadm::Protocol::Udp,
        Protocol::Sctp => ipvsadm::Protocol::Sctp,
    }
}

fn proto_from_ipvsadm(p: ipvsadm::Protocol) -> Protocol {
    match p {
        ipvsadm::Protocol::Tcp => Protocol::Tcp,
        ipvsadm::Protocol::Udp => Protocol::Udp,
        ipvsadm::Protocol::Sctp => Protocol::Sctp,
    }
}

/// The ipvsadm identity of a model service.
pub fn service_id(vs: &VirtualService) -> ipvsadm::VirtualService {
    match &vs.key {
        ServiceKey::Addr(a) => ipvsadm::VirtualService::Inet {
            protocol: proto_to_ipvsadm(a.proto),
            addr: a.vip,
            port: a.port,
        },
        ServiceKey::Fwmark { mark, .. } => ipvsadm::VirtualService::Fwmark {
            mark: *mark,
            family: if vs.is_ipv6() {
                ipvsadm::AddressFamily::Inet6
            } else {
                ipvsadm::AddressFamily::Inet
            },
        },
    }
}

/// Whether a model service is the one ipvsadm names `id`.
pub fn is_service(vs: &VirtualService, id: &ipvsadm::VirtualService) -> bool {
    match (&vs.key, id) {
        (
            ServiceKey::Addr(a),
            ipvsadm::VirtualService::Inet {
                protocol,
                addr,
                port,
            },
        ) => a.proto == proto_from_ipvsadm(*protocol) && a.vip == *addr && a.port == *port,
        (ServiceKey::Fwmark { mark, .. }, ipvsadm::VirtualService::Fwmark { mark: m, family }) => {
            mark == m
                && (vs.is_ipv6() == (*family == ipvsadm::AddressFamily::Inet6)
                    || matches!(&vs.key, ServiceKey::Fwmark { members, .. } if members.is_empty()))
        }
        _ => false,
    }
}

/// ipvsadm's view of a real server.
pub fn dest_config(rs: &RealServer) -> ipvsadm::DestConfig {
    ipvsadm::DestConfig {
        addr: rs.address,
        port: rs.port,
        method: rs.method,
        weight: rs.weight,
        u_threshold: rs.upper_threshold,
        l_threshold: rs.lower_threshold,
    }
}

/// The model's real server for an ipvsadm destination.
pub fn real_server(d: &ipvsadm::DestConfig) -> RealServer {
    RealServer {
        address: d.addr,
        port: d.port,
        weight: d.weight,
        method: d.method,
        upper_threshold: d.u_threshold,
        lower_threshold: d.l_threshold,
    }
}

/// ipvsadm's view of a service's settings.
pub fn service_config(vs: &VirtualService) -> ipvsadm::ServiceConfig {
    let id = service_id(vs);
    let ipv6 = vs.is_ipv6();
    let mut flags = ipvsadm::SchedFlags::default();
    for f in &vs.scheduler_flags {
        match f {
            SchedulerFlag::ShFallback | SchedulerFlag::MhFallback => flags.flag1 = true,
            SchedulerFlag::ShPort | SchedulerFlag::MhPort => flags.flag2 = true,
        }
    }
    ipvsadm::ServiceConfig {
        service: id,
        scheduler: vs.scheduler.to_string(),
        sched_flags: flags,
        persistence: vs.persistence.map(|p| ipvsadm::Persistence {
            timeout: p.timeout,
            netmask: match (ipv6, p.netmask) {
                (false, Some(m)) => ipvsadm::Netmask::V4(m.to_ipv4()),
                (true, Some(m)) => ipvsadm::Netmask::V6(m.prefix_len()),
                (false, None) => ipvsadm::Netmask::host(ipvsadm::AddressFamily::Inet),
                (true, None) => ipvsadm::Netmask::host(ipvsadm::AddressFamily::Inet6),
            },
        }),
        persistence_engine: None,
        one_packet: vs.one_packet,
        toa: (!vs.toa).then_some(false),
    }
}

/// ipvsadm's view of a whole service (`-S` line and its real servers).
pub fn service_rule(vs: &VirtualService) -> ServiceRule {
    ServiceRule {
        service: service_config(vs),
        real_servers: vs.real_servers.iter().map(dest_config).collect(),
    }
}

fn netmask_from_ipvsadm(m: ipvsadm::Netmask) -> Option<Netmask> {
    if m.is_host() {
        return None;
    }
    match m {
        ipvsadm::Netmask::V4(a) => Netmask::from_prefix_len(u32::from(a).leading_ones() as u8),
        ipvsadm::Netmask::V6(p) => Netmask::from_prefix_len(p),
    }
}

/// Why an ipvsadm service has no model form.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum ConvertError {
    /// Scheduler name rvs does not know.
    #[error("Scheduler or persistence engine not found: {0}")]
    UnknownScheduler(String),
    /// Persistence engines (`--pe`) are not implemented by rvs.
    #[error("persistence engine {0} is not supported by rvs")]
    PersistenceEngine(String),
}

/// The model service for ipvsadm settings `sc`, keeping what ipvsadm cannot say
/// (method default, SNAT pool, health check, sorry server, fwmark members, real servers)
/// from `base`.
pub fn service_from_config(
    sc: &ipvsadm::ServiceConfig,
    base: Option<&VirtualService>,
) -> Result<VirtualService, ConvertError> {
    if let Some(pe) = &sc.persistence_engine {
        return Err(ConvertError::PersistenceEngine(pe.clone()));
    }
    let scheduler = sc
        .scheduler
        .parse()
        .map_err(|_| ConvertError::UnknownScheduler(sc.scheduler.clone()))?;
    let mut scheduler_flags = Vec::new();
    match sc.scheduler.as_str() {
        "sh" | "mh" => {
            let sh = sc.scheduler == "sh";
            if sc.sched_flags.flag1 {
                scheduler_flags.push(if sh {
                    SchedulerFlag::ShFallback
                } else {
                    SchedulerFlag::MhFallback
                });
            }
            if sc.sched_flags.flag2 {
                scheduler_flags.push(if sh {
                    SchedulerFlag::ShPort
                } else {
                    SchedulerFlag::MhPort
                });
            }
        }
        _ => {}
    }
    let key = match sc.service {
        ipvsadm::VirtualService::Inet {
            protocol,
            addr,
            port,
        } => ServiceKey::Addr(ServiceAddr {
            proto: proto_from_ipvsadm(protocol),
            vip: addr,
            port,
        }),
        ipvsadm::VirtualService::Fwmark { mark, .. } => ServiceKey::Fwmark {
            mark,
            members: match base.map(|b| &b.key) {
                Some(ServiceKey::Fwmark { members, .. }) => members.clone(),
                _ => Vec::new(),
            },
        },
    };
    Ok(VirtualService {
        key,
        scheduler,
        scheduler_flags,
        // An ipvsadm edit cannot say it: kept while the service stays mh.
        mh_table_size: base
            .filter(|_| scheduler == Scheduler::Mh)
            .and_then(|b| b.mh_table_size),
        persistence: sc.persistence.map(|p| Persistence {
            timeout: p.timeout,
            netmask: netmask_from_ipvsadm(p.netmask),
        }),
        one_packet: sc.one_packet,
        method: base.map(|b| b.method).unwrap_or_default(),
        snat_pool: base.and_then(|b| b.snat_pool.clone()),
        toa: sc.toa.unwrap_or_else(|| base.is_none_or(|b| b.toa)),
        health_check: base.and_then(|b| b.health_check.clone()),
        sorry_server: base.and_then(|b| b.sorry_server),
        real_servers: base.map(|b| b.real_servers.clone()).unwrap_or_default(),
    })
}

/// Model services for a list of ipvsadm rules (`-S` text parsed by
/// [`ipvsadm::RuleTable`]), with no base.
pub fn services_from_rules(rules: &[ServiceRule]) -> Result<Vec<VirtualService>, ConvertError> {
    rules
        .iter()
        .map(|r| {
            let mut vs = service_from_config(&r.service, None)?;
            vs.real_servers = r.real_servers.iter().map(real_server).collect();
            // A service whose servers all use one method says so once, as YAML users write it.
            if let Some(first) = vs.real_servers.first() {
                if vs.real_servers.iter().all(|rs| rs.method == first.method) {
                    vs.method = first.method;
                }
            }
            Ok(vs)
        })
        .collect()
}

/// Whether a real server is the one at `addr:port`.
pub fn is_real_server(rs: &RealServer, addr: IpAddr, port: u16) -> bool {
    rs.address == addr && rs.port == port
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ForwardMethod;

    const YAML: &str = r#"interfaces:
  - { name: wan0, device: net_null0, addresses: [198.18.0.254/24] }
  - { name: lan0, device: net_null1, addresses: [198.19.0.254/24] }
services:
  - proto: tcp
    vip: 198.18.0.100
    port: 80
    scheduler: sh
    scheduler_flags: [sh-port]
    persistence: { timeout: 600, netmask: 255.255.255.0 }
    method: masq
    real_servers:
      - { address: 198.19.0.11, weight: 3, upper_threshold: 100, lower_threshold: 50 }
      - { address: 198.19.0.12 }
  - proto: udp
    vip: 198.18.0.100
    port: 53
    scheduler: rr
    real_servers:
      - { address: 198.18.0.21 }
"#;

    #[test]
    fn toa_switch_in_the_rest_form_and_kept_by_edits_that_omit_it() {
        let text = "interfaces:\n  - { name: wan0, device: net_null0, addresses: [198.18.0.254/24] }\n  - { name: lan0, device: net_null1, addresses: [198.19.0.254/24] }\nsnat_pools: [ { name: p, addresses: [198.19.0.250] } ]\nservices:\n  - { proto: tcp, vip: 198.18.0.100, port: 80, method: fullnat, snat_pool: p, toa: false, real_servers: [ { address: 198.19.0.11 } ] }\n";
        let cfg = crate::from_str(text, "t.yaml").unwrap();
        let vs = &cfg.services[0];
        let sc = service_config(vs);
        assert_eq!(sc.toa, Some(false));
        let json = serde_json::to_value(&sc).unwrap();
        assert_eq!(json["toa"], serde_json::json!(false), "{json}");
        // An edit that does not mention it (ipvsadm -E, or REST without the field) keeps it.
        let mut edit = sc.clone();
        edit.toa = None;
        edit.scheduler = "rr".into();
        assert!(!service_from_config(&edit, Some(vs)).unwrap().toa);
        // One that does changes it; a new service has TOA on.
        edit.toa = Some(true);
        assert!(service_from_config(&edit, Some(vs)).unwrap().toa);
        edit.toa = None;
        assert!(service_from_config(&edit, None).unwrap().toa);
        // The default is not printed.
        let on = service_config(&service_from_config(&edit, None).unwrap());
        assert!(serde_json::to_value(&on).unwrap().get("toa").is_none());
    }

    #[test]
    fn model_to_rules_text_to_model_keeps_everything_ipvsadm_can_say() {
        let cfg = crate::from_str(YAML, "t.yaml").unwrap();
        let rules: Vec<ServiceRule> = cfg.services.iter().map(service_rule).collect();
        let text = ipvsadm::format_rules(&rules);
        assert!(
            text.contains("-A -t 198.18.0.100:80 -s sh -p 600 -M 255.255.255.0 -b sh-port"),
            "{text}"
        );
        assert!(
            text.contains("-a -t 198.18.0.100:80 -r 198.19.0.11:80 -m -w 3"),
            "{text}"
        );
        let mut table = ipvsadm::RuleTable::new();
        table.restore(&text, "rvsadm").unwrap();
        let back = services_from_rules(table.services()).unwrap();
        assert_eq!(back, cfg.services);
    }

    #[test]
    fn edits_keep_what_ipvsadm_cannot_say() {
        let cfg = crate::from_str(YAML, "t.yaml").unwrap();
        let base = &cfg.services[0];
        let mut sc = service_config(base);
        sc.scheduler = "wlc".into();
        let edited = service_from_config(&sc, Some(base)).unwrap();
        assert_eq!(edited.scheduler, crate::Scheduler::Wlc);
        assert!(
            edited.scheduler_flags.is_empty(),
            "sh flags do not apply to wlc"
        );
        assert_eq!(edited.real_servers, base.real_servers);
        assert_eq!(edited.method, ForwardMethod::Masq);
        sc.scheduler = "fastest".into();
        assert_eq!(
            service_from_config(&sc, Some(base)),
            Err(ConvertError::UnknownScheduler("fastest".into()))
        );
    }
}
