//! /v1/services: list, get, add (`ipvsadm -A`), edit (`-E`), delete (`-D`) and clear
//! (`-C`) virtual services.

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::Json;
use config::convert;
use config::ipvsadm::{IpvsCommand, OpError, ServiceConfig, ServiceView};

use super::command::{body, run, JsonBody};
use super::error::{ApiError, IpvsApiError};
use super::ids::parse_service_id;
use super::state::AdminState;
use crate::view;

/// GET /v1/services
pub(super) async fn list_services(State(st): State<AdminState>) -> Json<Vec<ServiceView>> {
    let plane = st.plane.lock();
    Json(view::services::services(&st.runtime, &plane))
}

/// GET /v1/services/{id}
pub(super) async fn get_service(
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
    Ok(Json(
        view::services::services(&st.runtime, &plane).swap_remove(found),
    ))
}

/// POST /v1/services (ipvsadm -A)
pub(super) async fn add_service(
    State(st): State<AdminState>,
    b: JsonBody<ServiceConfig>,
) -> Response {
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
pub(super) async fn edit_service(
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
pub(super) async fn delete_service(
    State(st): State<AdminState>,
    Path(id): Path<String>,
) -> Response {
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
pub(super) async fn clear_services(State(st): State<AdminState>) -> Response {
    run(&st, &[IpvsCommand::Clear], StatusCode::NO_CONTENT)
}
