//! Health state as the admin API (`GET /v1/health`, `GET /v1/health/{id}`) shows it: per
//! real server its check state, counts, last error and last transition, and the weight it
//! has in the running table beside the configured one.

use config::convert;
use config::ipvsadm;
use config::{HealthCheckKind, VirtualService};
use serde::Serialize;

use crate::health::{sorry_active, RsHealth};
use crate::plane::ControlPlane;

/// One real server's health.
#[derive(Clone, Debug, Serialize)]
pub struct RealServerHealth {
    /// Address (RIP).
    pub address: String,
    /// Port.
    pub port: u16,
    /// `up`, `down`, or `unchecked` (the service has no health check).
    pub state: &'static str,
    /// Configured weight.
    pub weight: u32,
    /// Weight in the running table (0 when quiescent; `null` when out of the service).
    pub effective_weight: Option<u32>,
    /// Check counters and times; `null` when unchecked.
    pub health: Option<RsHealth>,
}

/// One virtual service's health.
#[derive(Clone, Debug, Serialize)]
pub struct ServiceHealth {
    /// The service (`tcp 198.18.0.100:80`, `fwmark 10`).
    pub service: String,
    /// Check type (`tcp`, `http`, `exec`, `dns`), `null` when none.
    pub check: Option<&'static str>,
    /// Whether down servers keep weight 0 (`true`) or leave the service.
    pub quiescent: Option<bool>,
    /// The sorry server, if any.
    pub sorry_server: Option<String>,
    /// Whether the sorry server takes the new connections now.
    pub sorry_server_active: bool,
    /// Real servers, in configuration order.
    pub real_servers: Vec<RealServerHealth>,
}

fn service_health(plane: &ControlPlane, vs: &VirtualService) -> ServiceHealth {
    let svc = vs.key.to_string();
    let running = plane
        .effective_config()
        .services
        .iter()
        .find(|e| e.key == vs.key);
    ServiceHealth {
        service: svc.clone(),
        check: vs.health_check.as_ref().map(|h| match h.kind {
            HealthCheckKind::Tcp => "tcp",
            HealthCheckKind::Http { .. } => "http",
            HealthCheckKind::Exec { .. } => "exec",
            HealthCheckKind::Dns { .. } => "dns",
            HealthCheckKind::Https { .. } => "https",
        }),
        quiescent: vs.health_check.as_ref().map(|h| h.quiescent),
        sorry_server: vs.sorry_server.map(|s| s.to_string()),
        sorry_server_active: running.is_some_and(sorry_active),
        real_servers: vs
            .real_servers
            .iter()
            .map(|rs| {
                let h = plane.health().get(&svc, rs.socket_addr());
                RealServerHealth {
                    address: rs.address.to_string(),
                    port: rs.port,
                    state: match &h {
                        None => "unchecked",
                        Some(h) if h.up => "up",
                        Some(_) => "down",
                    },
                    weight: rs.weight,
                    effective_weight: running.and_then(|e| {
                        e.real_servers
                            .iter()
                            .find(|r| r.socket_addr() == rs.socket_addr())
                            .map(|r| r.weight)
                    }),
                    health: h,
                }
            })
            .collect(),
    }
}

/// The health of every configured service, in configuration order.
pub fn all(plane: &ControlPlane) -> Vec<ServiceHealth> {
    plane
        .config()
        .services
        .iter()
        .map(|vs| service_health(plane, vs))
        .collect()
}

/// The health of one service; None when it is not configured.
pub fn of(plane: &ControlPlane, want: &ipvsadm::VirtualService) -> Option<ServiceHealth> {
    plane
        .config()
        .services
        .iter()
        .find(|s| convert::is_service(s, want))
        .map(|vs| service_health(plane, vs))
}
