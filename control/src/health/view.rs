//! Health state as the admin API (`GET /v1/health`, `GET /v1/health/{id}`) and `/metrics`
//! show it: per real server its check state, counts, last error and last transition, and
//! the weight it has in the running table beside the configured one.

use std::net::SocketAddr;

use axum::extract::{Path, State};
use axum::Json;
use config::convert;
use config::ipvsadm::OpError;
use config::{HealthCheckKind, VirtualService};
use serde::Serialize;

use crate::admin::AdminState;
use crate::api::{parse_service_id, IpvsApiError};
use crate::plane::ControlPlane;

use super::{sorry_active, RsHealth};

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

/// GET /v1/health
pub async fn list(State(st): State<AdminState>) -> Json<Vec<ServiceHealth>> {
    let plane = st.plane.lock();
    Json(
        plane
            .config()
            .services
            .iter()
            .map(|vs| service_health(&plane, vs))
            .collect(),
    )
}

/// GET /v1/health/{id}
pub async fn get(
    State(st): State<AdminState>,
    Path(id): Path<String>,
) -> Result<Json<ServiceHealth>, IpvsApiError> {
    let want = parse_service_id(&id).map_err(IpvsApiError::Bad)?;
    let plane = st.plane.lock();
    plane
        .config()
        .services
        .iter()
        .find(|s| convert::is_service(s, &want))
        .map(|vs| Json(service_health(&plane, vs)))
        .ok_or(IpvsApiError::Op(OpError::NoSuchService))
}

/// One checked real server for `/metrics`, with the node_exporter ipvs labels.
#[derive(Clone, Debug, Default)]
pub struct HealthMetrics {
    /// "TCP", "UDP", "SCTP" or "" for firewall marks.
    pub proto: String,
    /// VIP.
    pub local_address: String,
    /// Virtual port.
    pub local_port: u16,
    /// Firewall mark ("" when none).
    pub local_mark: String,
    /// Real server address.
    pub remote_address: String,
    /// Real server port.
    pub remote_port: u16,
    /// 1 = up.
    pub up: bool,
    /// Successful checks.
    pub checks_ok: u64,
    /// Failed checks.
    pub checks_failed: u64,
}

/// The rows of every checked real server (down ones too, even when out of the table).
pub fn metrics(plane: &ControlPlane) -> Vec<HealthMetrics> {
    let mut rows = Vec::new();
    for vs in &plane.config().services {
        let svc = vs.key.to_string();
        let (proto, addr, port, mark) =
            crate::metrics::service_labels(&convert::service_config(vs).service);
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
