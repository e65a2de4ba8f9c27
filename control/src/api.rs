//! The ipvsadm-shaped part of the admin API: virtual services, real servers, timeouts,
//! counters and `-S`/`-R` rules. Every change is an [`IpvsCommand`] replayed on an
//! ipvsadm rule table built from the running configuration (so refusals are exactly
//! the kernel's), then turned back into the model, validated and applied as a whole.

use std::net::{IpAddr, SocketAddr};
use std::sync::atomic::Ordering::Relaxed;

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::Json;
use config::convert;
use config::ipvsadm::{
    self, DestConfig, DestView, IpvsCommand, OpError, RuleTable, ServiceConfig, ServiceView,
    TimeoutsView,
};
use config::Config;
use serde_json::json;

use crate::admin::{AdminState, ApiError};
use crate::plane::ControlPlane;

/// Why an ipvsadm-style change failed.
pub enum IpvsApiError {
    /// Refused as IPVS refuses (exists, no such service...).
    Op(OpError),
    /// The result is not a valid configuration.
    Invalid(Vec<String>),
    /// Valid, but this daemon cannot run it.
    Rejected(Vec<String>),
    /// Malformed request.
    Bad(ApiError),
}

impl IntoResponse for IpvsApiError {
    fn into_response(self) -> Response {
        match self {
            IpvsApiError::Op(op) => {
                let status = match op {
                    OpError::ServiceExists | OpError::DestinationExists => StatusCode::CONFLICT,
                    OpError::NoSuchService | OpError::ServiceNotDefined | OpError::NoSuchDestination | OpError::SchedulerNotFound => StatusCode::NOT_FOUND,
                    _ => StatusCode::BAD_REQUEST,
                };
                (status, Json(json!({ "error": op.to_string(), "op_error": op }))).into_response()
            }
            IpvsApiError::Invalid(errors) => (StatusCode::BAD_REQUEST, Json(json!({ "error": errors.first().cloned().unwrap_or_default(), "errors": errors }))).into_response(),
            IpvsApiError::Rejected(errors) => {
                (StatusCode::UNPROCESSABLE_ENTITY, Json(json!({ "error": errors.first().cloned().unwrap_or_default(), "errors": errors }))).into_response()
            }
            IpvsApiError::Bad(e) => e.into_response(),
        }
    }
}

/// The running services as an ipvsadm rule table.
fn rule_table(cfg: &Config) -> RuleTable {
    let t = cfg.timeouts;
    RuleTable::from_parts(
        cfg.services.iter().map(convert::service_rule).collect(),
        TimeoutsView {
            tcp: t.tcp,
            tcp_fin: t.tcp_fin,
            udp: t.udp,
        },
    )
}

/// Turn a rule table back into a configuration, keeping per-service settings ipvsadm
/// cannot express from the running one.
fn config_from_table(cur: &Config, table: &RuleTable) -> Result<Config, IpvsApiError> {
    let mut new = cur.clone();
    new.services.clear();
    for rule in table.services() {
        let base = cur
            .services
            .iter()
            .find(|s| convert::is_service(s, &rule.service.service));
        let mut vs = convert::service_from_config(&rule.service, base)
            .map_err(|e| IpvsApiError::Invalid(vec![e.to_string()]))?;
        vs.real_servers = rule.real_servers.iter().map(convert::real_server).collect();
        new.services.push(vs);
    }
    let t = table.timeouts();
    new.timeouts = config::Timeouts {
        tcp: t.tcp,
        tcp_fin: t.tcp_fin,
        udp: t.udp,
    };
    Ok(new)
}

/// Apply ipvsadm commands in order on the running configuration, all or nothing.
pub fn apply_commands(plane: &mut ControlPlane, cmds: &[IpvsCommand]) -> Result<(), IpvsApiError> {
    let mut table = rule_table(plane.config());
    for c in cmds {
        table.apply(c).map_err(IpvsApiError::Op)?;
    }
    commit_table(plane, &table)
}

/// Make a changed rule table the running configuration: back to the model, validated,
/// applied as a whole.
fn commit_table(plane: &mut ControlPlane, table: &RuleTable) -> Result<(), IpvsApiError> {
    let new = config_from_table(plane.config(), table)?;
    let new = new.revalidate().map_err(|e| {
        IpvsApiError::Invalid(e.errors().iter().map(|e| e.message.clone()).collect())
    })?;
    plane
        .apply(new, false)
        .map_err(|r| IpvsApiError::Rejected(r.errors))?;
    Ok(())
}

/// Parse a service id: `tcp:198.18.0.100:80`, `udp:[2001:2::1]:53`, `fwm:10`, `fwm6:10`.
pub fn parse_service_id(id: &str) -> Result<ipvsadm::VirtualService, ApiError> {
    let bad = || {
        ApiError::new(StatusCode::BAD_REQUEST, format!("bad service id `{id}`; expected tcp:VIP:PORT, udp:VIP:PORT, sctp:VIP:PORT, fwm:MARK or fwm6:MARK")).field("service")
    };
    let (kind, rest) = id.split_once(':').ok_or_else(bad)?;
    let protocol = match kind {
        "tcp" => ipvsadm::Protocol::Tcp,
        "udp" => ipvsadm::Protocol::Udp,
        "sctp" => ipvsadm::Protocol::Sctp,
        "fwm" | "fwm6" => {
            let mark = rest.parse().map_err(|_| bad())?;
            let family = if kind == "fwm6" {
                ipvsadm::AddressFamily::Inet6
            } else {
                ipvsadm::AddressFamily::Inet
            };
            return Ok(ipvsadm::VirtualService::Fwmark { mark, family });
        }
        _ => return Err(bad()),
    };
    let sa: SocketAddr = rest.parse().map_err(|_| bad())?;
    Ok(ipvsadm::VirtualService::Inet {
        protocol,
        addr: sa.ip(),
        port: sa.port(),
    })
}

/// Parse a real-server id: `198.19.0.11:80` or `[2001:2::11]:80`.
pub fn parse_rs_id(id: &str) -> Result<(IpAddr, u16), ApiError> {
    let sa: SocketAddr = id.parse().map_err(|_| {
        ApiError::new(
            StatusCode::BAD_REQUEST,
            format!("bad real server id `{id}`; expected ADDR:PORT or [V6]:PORT"),
        )
        .field("real_server")
    })?;
    Ok((sa.ip(), sa.port()))
}

/// The services as ipvsadm lists them, with each real server's connection counts summed
/// over the workers.
fn views(st: &AdminState, plane: &ControlPlane) -> Vec<ServiceView> {
    let ids = plane.real_server_ids();
    let workers = &st.runtime.workers;
    let est = st.runtime.estimator.lock();
    let count = |id: Option<u32>, f: fn(&dataplane::counters::RealServerCounts) -> u32| -> u32 {
        id.map(|id| {
            workers
                .iter()
                .filter_map(|w| w.real_servers.get(id as usize))
                .map(f)
                .sum()
        })
        .unwrap_or(0)
    };
    // What runs, as ipvsadm -Ln shows the kernel's table: health-checked servers that are
    // down at weight 0 (or absent), a sorry server in use.
    plane
        .effective_config()
        .services
        .iter()
        .map(|vs| {
            let svc = vs.key.to_string();
            let dests = vs
                .real_servers
                .iter()
                .map(|rs| {
                    let id = ids.get(&svc, rs.socket_addr());
                    let mut d = DestView::new(convert::dest_config(rs));
                    d.active_conns = count(id, |c| c.active.load(Relaxed));
                    d.inactive_conns = count(id, |c| c.inactive.load(Relaxed));
                    d.persistent_conns = count(id, |c| c.persistent.load(Relaxed));
                    if let Some(id) = id {
                        d.stats = est.stats(workers, id);
                        d.rates = est.rates(id);
                    }
                    d
                })
                .collect::<Vec<DestView>>();
            let mut v = ServiceView::new(convert::service_config(vs), dests);
            // A service's numbers are the sum of its real servers'.
            for d in &v.real_servers {
                v.stats.conns += d.stats.conns;
                v.stats.inpkts += d.stats.inpkts;
                v.stats.outpkts += d.stats.outpkts;
                v.stats.inbytes += d.stats.inbytes;
                v.stats.outbytes += d.stats.outbytes;
                v.rates.cps += d.rates.cps;
                v.rates.inpps += d.rates.inpps;
                v.rates.outpps += d.rates.outpps;
                v.rates.inbps += d.rates.inbps;
                v.rates.outbps += d.rates.outbps;
            }
            v
        })
        .collect()
}

fn run(st: &AdminState, cmds: &[IpvsCommand], ok: StatusCode) -> Response {
    let mut plane = st.plane.lock();
    match apply_commands(&mut plane, cmds) {
        Ok(()) => ok.into_response(),
        Err(e) => e.into_response(),
    }
}

type JsonBody<T> = Result<Json<T>, axum::extract::rejection::JsonRejection>;

fn body<T>(b: JsonBody<T>) -> Result<T, IpvsApiError> {
    b.map(|Json(v)| v).map_err(|e| {
        IpvsApiError::Bad(ApiError::new(
            StatusCode::BAD_REQUEST,
            format!("bad request body: {}", e.body_text()),
        ))
    })
}

/// GET /v1/services
pub async fn list_services(State(st): State<AdminState>) -> Json<Vec<ServiceView>> {
    let plane = st.plane.lock();
    Json(views(&st, &plane))
}

/// GET /v1/services/{id}
pub async fn get_service(
    State(st): State<AdminState>,
    Path(id): Path<String>,
) -> Result<Json<ServiceView>, IpvsApiError> {
    let vs = parse_service_id(&id).map_err(IpvsApiError::Bad)?;
    let plane = st.plane.lock();
    let found = plane
        .config()
        .services
        .iter()
        .position(|s| convert::is_service(s, &vs))
        .ok_or(IpvsApiError::Op(OpError::NoSuchService))?;
    Ok(Json(views(&st, &plane).swap_remove(found)))
}

/// POST /v1/services (ipvsadm -A)
pub async fn add_service(State(st): State<AdminState>, b: JsonBody<ServiceConfig>) -> Response {
    match body(b) {
        Ok(service) => run(
            &st,
            &[IpvsCommand::AddService { service }],
            StatusCode::CREATED,
        ),
        Err(e) => e.into_response(),
    }
}

/// PUT /v1/services/{id} (ipvsadm -E)
pub async fn edit_service(
    State(st): State<AdminState>,
    Path(id): Path<String>,
    b: JsonBody<ServiceConfig>,
) -> Response {
    let (vs, service) = match (parse_service_id(&id), body(b)) {
        (Ok(vs), Ok(s)) => (vs, s),
        (Err(e), _) => return e.into_response(),
        (_, Err(e)) => return e.into_response(),
    };
    if service.service != vs {
        return ApiError::new(
            StatusCode::BAD_REQUEST,
            "the body's service differs from the one in the path",
        )
        .field("service")
        .into_response();
    }
    run(&st, &[IpvsCommand::EditService { service }], StatusCode::OK)
}

/// DELETE /v1/services/{id} (ipvsadm -D)
pub async fn delete_service(State(st): State<AdminState>, Path(id): Path<String>) -> Response {
    match parse_service_id(&id) {
        Ok(service) => run(
            &st,
            &[IpvsCommand::DeleteService { service }],
            StatusCode::NO_CONTENT,
        ),
        Err(e) => e.into_response(),
    }
}

/// DELETE /v1/services (ipvsadm -C)
pub async fn clear_services(State(st): State<AdminState>) -> Response {
    run(&st, &[IpvsCommand::Clear], StatusCode::NO_CONTENT)
}

/// POST /v1/services/{id}/real-servers (ipvsadm -a)
pub async fn add_real_server(
    State(st): State<AdminState>,
    Path(id): Path<String>,
    b: JsonBody<DestConfig>,
) -> Response {
    match (parse_service_id(&id), body(b)) {
        (Ok(service), Ok(server)) => run(
            &st,
            &[IpvsCommand::AddServer { service, server }],
            StatusCode::CREATED,
        ),
        (Err(e), _) => e.into_response(),
        (_, Err(e)) => e.into_response(),
    }
}

/// PUT /v1/services/{id}/real-servers/{rs} (ipvsadm -e)
pub async fn edit_real_server(
    State(st): State<AdminState>,
    Path((id, rs)): Path<(String, String)>,
    b: JsonBody<DestConfig>,
) -> Response {
    let (service, (addr, port), server) = match (parse_service_id(&id), parse_rs_id(&rs), body(b)) {
        (Ok(a), Ok(b), Ok(c)) => (a, b, c),
        (Err(e), _, _) | (_, Err(e), _) => return e.into_response(),
        (_, _, Err(e)) => return e.into_response(),
    };
    if server.addr != addr || server.port != port {
        return ApiError::new(
            StatusCode::BAD_REQUEST,
            "the body's real server differs from the one in the path",
        )
        .field("real_server")
        .into_response();
    }
    run(
        &st,
        &[IpvsCommand::EditServer { service, server }],
        StatusCode::OK,
    )
}

/// DELETE /v1/services/{id}/real-servers/{rs} (ipvsadm -d)
pub async fn delete_real_server(
    State(st): State<AdminState>,
    Path((id, rs)): Path<(String, String)>,
) -> Response {
    match (parse_service_id(&id), parse_rs_id(&rs)) {
        (Ok(service), Ok((addr, port))) => run(
            &st,
            &[IpvsCommand::DeleteServer {
                service,
                addr,
                port,
            }],
            StatusCode::NO_CONTENT,
        ),
        (Err(e), _) | (_, Err(e)) => e.into_response(),
    }
}

/// The stable ids of a service's real servers (all services when `vs` is None); None
/// when the service does not exist.
fn real_server_ids_of(
    plane: &ControlPlane,
    vs: Option<&ipvsadm::VirtualService>,
) -> Option<Vec<u32>> {
    let cfg = plane.config();
    let ids = plane.real_server_ids();
    let mut out = Vec::new();
    let mut found = vs.is_none();
    for s in &cfg.services {
        if vs.is_some_and(|v| !convert::is_service(s, v)) {
            continue;
        }
        found = true;
        let key = s.key.to_string();
        out.extend(
            s.real_servers
                .iter()
                .filter_map(|rs| ids.get(&key, rs.socket_addr())),
        );
    }
    found.then_some(out)
}

fn zero(st: &AdminState, vs: Option<&ipvsadm::VirtualService>) -> Response {
    let ids = {
        let plane = st.plane.lock();
        real_server_ids_of(&plane, vs)
    };
    match ids {
        Some(ids) => {
            st.runtime.estimator.lock().zero(&st.runtime.workers, ids);
            StatusCode::NO_CONTENT.into_response()
        }
        None => IpvsApiError::Op(OpError::NoSuchService).into_response(),
    }
}

/// POST /v1/zero (ipvsadm -Z): every service's counters and rates restart from zero.
pub async fn zero_all(State(st): State<AdminState>) -> Response {
    zero(&st, None)
}

/// POST /v1/services/{id}/zero (ipvsadm -Z -t ...)
pub async fn zero_service(State(st): State<AdminState>, Path(id): Path<String>) -> Response {
    match parse_service_id(&id) {
        Ok(vs) => zero(&st, Some(&vs)),
        Err(e) => e.into_response(),
    }
}

/// Prometheus rows: one per service and one per real server (node_exporter ipvs labels).
pub fn service_metrics(
    st: &AdminState,
    plane: &ControlPlane,
) -> Vec<crate::metrics::ServiceMetrics> {
    let mut rows = Vec::new();
    for v in views(st, plane) {
        let (proto, addr, port, mark) = crate::metrics::service_labels(&v.config.service);
        let base = crate::metrics::ServiceMetrics {
            proto,
            local_address: addr,
            local_port: port,
            local_mark: mark,
            ..Default::default()
        };
        rows.push(crate::metrics::ServiceMetrics {
            connections: v.stats.conns,
            in_packets: v.stats.inpkts,
            in_bytes: v.stats.inbytes,
            out_packets: v.stats.outpkts,
            out_bytes: v.stats.outbytes,
            ..base.clone()
        });
        for d in &v.real_servers {
            rows.push(crate::metrics::ServiceMetrics {
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

/// GET /v1/timeouts (ipvsadm -L --timeout)
pub async fn get_timeouts(State(st): State<AdminState>) -> Json<TimeoutsView> {
    let t = st.plane.lock().config().timeouts;
    Json(TimeoutsView {
        tcp: t.tcp,
        tcp_fin: t.tcp_fin,
        udp: t.udp,
    })
}

/// PUT /v1/timeouts (ipvsadm --set; 0 leaves a value unchanged)
pub async fn set_timeouts(State(st): State<AdminState>, b: JsonBody<TimeoutsView>) -> Response {
    let t = match body(b) {
        Ok(t) => t,
        Err(e) => return e.into_response(),
    };
    let mut plane = st.plane.lock();
    match apply_commands(&mut plane, &[IpvsCommand::SetTimeouts(t)]) {
        Ok(()) => {
            let t = plane.config().timeouts;
            Json(TimeoutsView {
                tcp: t.tcp,
                tcp_fin: t.tcp_fin,
                udp: t.udp,
            })
            .into_response()
        }
        Err(e) => e.into_response(),
    }
}

/// GET /v1/rules (ipvsadm -S -n)
pub async fn get_rules(State(st): State<AdminState>) -> impl IntoResponse {
    let rules: Vec<ipvsadm::ServiceRule> = st
        .plane
        .lock()
        .config()
        .services
        .iter()
        .map(convert::service_rule)
        .collect();
    (
        [(
            axum::http::header::CONTENT_TYPE,
            "text/plain; charset=utf-8",
        )],
        ipvsadm::format_rules(&rules),
    )
}

/// POST /v1/rules (ipvsadm -R): every line applies in order; all or nothing.
pub async fn restore_rules(State(st): State<AdminState>, text: String) -> Response {
    let lines = match ipvsadm::parse_rules(&text, "rvsadm") {
        Ok(l) => l,
        Err(e) => {
            return (
                StatusCode::BAD_REQUEST,
                Json(json!({ "error": e.error.to_string(), "line": e.line })),
            )
                .into_response()
        }
    };
    let mut plane = st.plane.lock();
    let mut table = rule_table(plane.config());
    for l in &lines {
        if let Err(op) = table.apply(&l.command) {
            return (
                StatusCode::BAD_REQUEST,
                Json(json!({ "error": op.to_string(), "op_error": op, "line": l.line })),
            )
                .into_response();
        }
    }
    let result = commit_table(&mut plane, &table);
    match result {
        Ok(_) => StatusCode::OK.into_response(),
        Err(e) => e.into_response(),
    }
}

/// Connections fetched per request to a worker.
const LIST_CHUNK: usize = 1024;
/// How long a worker may take to answer one chunk.
const LIST_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(2);

fn conn_view(c: &conn_table::ConnInfo) -> ipvsadm::ConnView {
    use ipvsadm::ConnProtocol;
    let protocol = match c.original.proto {
        conn_table::proto::TCP => ConnProtocol::Tcp,
        conn_table::proto::UDP => ConnProtocol::Udp,
        conn_table::proto::SCTP => ConnProtocol::Sctp,
        conn_table::proto::ICMP => ConnProtocol::Icmp,
        conn_table::proto::ICMPV6 => ConnProtocol::Icmpv6,
        _ => ConnProtocol::Ip,
    };
    // The real server is the source of the replies (the dataplane fills the tuple in for
    // DR/TUN connections, which keep none).
    let (dest_addr, dest_port) = c
        .reply
        .map(|r| (r.src, r.sport))
        .unwrap_or((c.original.dst, c.original.dport));
    ipvsadm::ConnView {
        protocol,
        state: c.state.name().to_string(),
        expires: c.expires_in_ms.div_ceil(1000) as u32,
        client_addr: c.original.src,
        client_port: c.original.sport,
        virtual_addr: c.original.dst,
        virtual_port: c.original.dport,
        dest_addr,
        dest_port,
        pe: None,
    }
}

/// GET /v1/connections (ipvsadm -Lnc): every worker's connections, fetched in chunks the
/// workers answer between packet bursts.
pub async fn list_connections(State(st): State<AdminState>) -> Response {
    let rt = st.runtime.clone();
    let _one_at_a_time = rt.list_lock.lock().await;
    let mut out = Vec::new();
    for (w, (requests, answers)) in rt.conn_channels.iter().enumerate() {
        // Answers to an earlier listing that timed out must not be taken for ours.
        while answers.pop().is_some() {}
        let mut cursor = Some(conn_table::ListCursor::START);
        while let Some(c) = cursor {
            let req = dataplane::pipeline::ConnListRequest {
                cursor: c,
                buf: Vec::with_capacity(LIST_CHUNK),
                next: None,
            };
            if requests.push(req).is_err() {
                return ApiError::new(
                    StatusCode::SERVICE_UNAVAILABLE,
                    format!("worker {w} is busy with another request; retry"),
                )
                .into_response();
            }
            let deadline = tokio::time::Instant::now() + LIST_TIMEOUT;
            let answer = loop {
                if let Some(a) = answers.pop() {
                    break a;
                }
                if tokio::time::Instant::now() >= deadline {
                    return ApiError::new(
                        StatusCode::SERVICE_UNAVAILABLE,
                        format!("worker {w} did not answer within {LIST_TIMEOUT:?}"),
                    )
                    .into_response();
                }
                tokio::time::sleep(std::time::Duration::from_millis(1)).await;
            };
            out.extend(answer.buf.iter().map(conn_view));
            cursor = answer.next;
        }
    }
    Json(out).into_response()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_parse() {
        assert_eq!(
            parse_service_id("tcp:198.18.0.100:80").ok(),
            Some(ipvsadm::VirtualService::Inet {
                protocol: ipvsadm::Protocol::Tcp,
                addr: "198.18.0.100".parse().unwrap(),
                port: 80
            })
        );
        assert!(matches!(
            parse_service_id("udp:[2001:2::1]:53"),
            Ok(ipvsadm::VirtualService::Inet { port: 53, .. })
        ));
        assert_eq!(
            parse_service_id("fwm6:10").ok(),
            Some(ipvsadm::VirtualService::Fwmark {
                mark: 10,
                family: ipvsadm::AddressFamily::Inet6
            })
        );
        assert!(parse_service_id("tcp:198.18.0.100").is_err());
        assert!(parse_service_id("icmp:198.18.0.100:0").is_err());
        assert_eq!(
            parse_rs_id("198.19.0.11:80").ok(),
            Some(("198.19.0.11".parse().unwrap(), 80))
        );
        assert!(parse_rs_id("198.19.0.11").is_err());
    }
}
