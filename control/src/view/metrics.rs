//! The rows `/metrics` renders: per virtual service and real server (node_exporter's
//! ipvs labels) and per checked real server.

use std::net::SocketAddr;

use config::convert;

use crate::metrics::{service_labels, HealthMetrics, ServiceMetrics};
use crate::plane::ControlPlane;
use crate::state::RuntimeView;

/// Prometheus rows: one per service and one per real server (node_exporter ipvs labels).
pub fn service_rows(runtime: &RuntimeView, plane: &ControlPlane) -> Vec<ServiceMetrics> {
    let mut rows = Vec::new();
    for v in super::services::services(runtime, plane) {
        let (proto, addr, port, mark) = service_labels(&v.config.service);
        let base = ServiceMetrics {
            proto,
            local_address: addr,
            local_port: port,
            local_mark: mark,
            ..Default::default()
        };
        rows.push(ServiceMetrics {
            connections: v.stats.conns,
            in_packets: v.stats.inpkts,
            in_bytes: v.stats.inbytes,
            out_packets: v.stats.outpkts,
            out_bytes: v.stats.outbytes,
            ..base.clone()
        });
        for d in &v.real_servers {
            rows.push(ServiceMetrics {
                remote_address: d.config.addr.to_string(),
                remote_port: d.config.port,
                active: u64::from(d.active_conns),
                inactive: u64::from(d.inactive_conns),
                weight: u64::from(d.config.weight),
                ..base.clone()
            });
        }
    }
    rows
}

/// The rows of every checked real server (down ones too, even when out of the table).
pub fn health_rows(plane: &ControlPlane) -> Vec<HealthMetrics> {
    let mut rows = Vec::new();
    for vs in &plane.config().services {
        let svc = vs.key.to_string();
        let (proto, addr, port, mark) = service_labels(&convert::service_config(vs).service);
        for rs in &vs.real_servers {
            let addr_port: SocketAddr = rs.socket_addr();
            let Some(h) = plane.health().get(&svc, addr_port) else {
                continue;
            };
            rows.push(HealthMetrics {
                proto: proto.clone(),
                local_address: addr.clone(),
                local_port: port,
                local_mark: mark.clone(),
                remote_address: rs.address.to_string(),
                remote_port: rs.port,
                up: h.up,
                checks_ok: h.checks_ok,
                checks_failed: h.checks_failed,
            });
        }
    }
    rows
}
