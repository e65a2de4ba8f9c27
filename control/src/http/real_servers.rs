//! /v1/services/{id}/real-servers: add (`ipvsadm -a`), edit (`-e`) and delete (`-d`)
//! real servers.

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use config::ipvsadm::{DestConfig, IpvsCommand};

use super::command::{body, run, JsonBody};
use super::error::ApiError;
use super::ids::{parse_rs_id, parse_service_id};
use super::state::AdminState;

/// POST /v1/services/{id}/real-servers (ipvsadm -a)
pub(super) async fn add_real_server(
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
pub(super) async fn edit_real_server(
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
pub(super) async fn delete_real_server(
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
