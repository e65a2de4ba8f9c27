//! The model back to the raw schema, the inverse of validation: every value explicit
//! (defaults written out), so that the YAML written reads back to an equal model. The
//! model's `Serialize` goes through here.

use serde::{Serialize, Serializer};

use crate::model::{
    Config, HealthCheck, HealthCheckKind, HealthSettings, RealServer, ServiceKey, VirtualService,
    DEFAULT_MTU,
};
use crate::raw::{
    CheckName, RawAdmin, RawConfig, RawDataplane, RawHealth, RawHealthCheck, RawInterface, RawIpvs,
    RawPersistence, RawPersistenceMap, RawRealServer, RawRoute, RawService, RawSnatPool,
    RawTimeouts,
};
use crate::text::{Port, Text};

impl Serialize for Config {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        to_raw(self).serialize(s)
    }
}

impl Serialize for VirtualService {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        service_to_raw(self).serialize(s)
    }
}

impl Serialize for RealServer {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        real_server_to_raw(self).serialize(s)
    }
}

/// Model back to the raw schema, every value explicit, for writing YAML.
fn to_raw(cfg: &Config) -> RawConfig {
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
                addresses: i.addresses.iter().map(|a| Text(*a)).collect(),
                exception_path: Some(i.exception_path),
                kernel_name: i.kernel_name.clone(),
                mtu: (i.mtu != DEFAULT_MTU).then_some(i.mtu),
            })
            .collect(),
        routes: cfg
            .routes
            .iter()
            .map(|r| RawRoute {
                prefix: Text(r.prefix),
                via: r.via.map(Text),
                interface: r.interface.clone(),
            })
            .collect(),
        snat_pools: cfg
            .snat_pools
            .iter()
            .map(|s| RawSnatPool {
                name: s.name.clone(),
                addresses: s.addresses.iter().map(|a| Text(*a)).collect(),
                ports: Some(Text(s.ports)),
            })
            .collect(),
        ipvs: Some(RawIpvs {
            expire_nodest_conn: Some(cfg.ipvs.expire_nodest_conn),
            expire_quiescent_template: Some(cfg.ipvs.expire_quiescent_template),
            reset_unknown_conn: Some(cfg.ipvs.reset_unknown_conn),
        }),
        timeouts: Some(RawTimeouts {
            tcp: Some(cfg.timeouts.tcp),
            tcp_fin: Some(cfg.timeouts.tcp_fin),
            udp: Some(cfg.timeouts.udp),
        }),
        services: cfg.services.iter().map(service_to_raw).collect(),
        health: (cfg.health != HealthSettings::default()).then(|| RawHealth {
            exec_user: cfg.health.exec_user.clone(),
            exec_dir: cfg.health.exec_dir.clone(),
        }),
        admin: Some(RawAdmin {
            listen: Some(Text(cfg.admin.listen)),
            token_file: cfg.admin.token_file.clone(),
        }),
    }
}

fn service_to_raw(s: &VirtualService) -> RawService<RawRealServer> {
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
    let m = s.method.yaml_keys();
    RawService {
        proto,
        vip,
        port,
        fwmark,
        members,
        scheduler: Some(s.scheduler),
        scheduler_flags: s.scheduler_flags.clone(),
        mh_table_size: s.mh_table_size,
        persistence: s.persistence.map(|ps| {
            RawPersistence::On(RawPersistenceMap {
                timeout: Some(ps.timeout),
                netmask: ps.netmask.map(Text),
            })
        }),
        one_packet: s.one_packet.then_some(true),
        method: Some(m.method),
        tunnel_type: m.tunnel_type,
        tunnel_port: m.tunnel_port.map(Port),
        tunnel_csum: m.tunnel_csum,
        snat_pool: s.snat_pool.clone(),
        toa: (!s.toa).then_some(false),
        health_check: s.health_check.as_ref().map(health_check_to_raw),
        sorry_server: s.sorry_server.map(Text),
        real_servers: s.real_servers.iter().map(real_server_to_raw).collect(),
    }
}

fn real_server_to_raw(r: &RealServer) -> RawRealServer {
    let m = r.method.yaml_keys();
    RawRealServer {
        address: Text(r.address),
        port: Some(Port(r.port)),
        weight: Some(r.weight),
        method: Some(m.method),
        tunnel_type: m.tunnel_type,
        tunnel_port: m.tunnel_port.map(Port),
        tunnel_csum: m.tunnel_csum,
        upper_threshold: (r.upper_threshold != 0).then_some(r.upper_threshold),
        lower_threshold: (r.lower_threshold != 0).then_some(r.lower_threshold),
    }
}

/// The YAML form of a health check, every value explicit.
fn health_check_to_raw(h: &HealthCheck) -> RawHealthCheck {
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
}
