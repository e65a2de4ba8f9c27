//! /v1/health: the health of every service's real servers, or of one service.

use axum::extract::{Path, State};
use axum::Json;
use config::ipvsadm::OpError;

use super::error::IpvsApiError;
use super::ids::parse_service_id;
use super::state::AdminState;
use crate::view::health::{self, ServiceHealth};

/// GET /v1/health
pub(super) async fn list(State(st): State<AdminState>) -> Json<Vec<ServiceHealth>> {
    let plane = st.plane.lock();
    Json(health::all(&plane))
}

/// GET /v1/health/{id}
pub(super) async fn get(
    State(st): State<AdminState>,
    Path(id): Path<String>,
) -> Result<Json<ServiceHealth>, IpvsApiError> {
    let want = parse_service_id(&id).map_err(IpvsApiError::Bad)?;
    let plane = st.plane.lock();
    health::of(&plane, &want)
        .map(Json)
        .ok_or(IpvsApiError::Op(OpError::NoSuchService))
}
