//! /v1/timeouts: `ipvsadm -L --timeout` and `ipvsadm --set`.

use axum::extract::State;
use axum::response::{IntoResponse, Response};
use axum::Json;
use config::ipvsadm::{IpvsCommand, TimeoutsView};

use super::command::{body, JsonBody};
use super::error::IpvsApiError;
use super::state::AdminState;
use crate::plane::ipvs::apply_commands;

/// GET /v1/timeouts (ipvsadm -L --timeout)
pub(super) async fn get_timeouts(State(st): State<AdminState>) -> Json<TimeoutsView> {
    let t = st.plane.lock().config().timeouts;
    Json(TimeoutsView {
        tcp: t.tcp,
        tcp_fin: t.tcp_fin,
        udp: t.udp,
    })
}

/// PUT /v1/timeouts (ipvsadm --set; 0 leaves a value unchanged)
pub(super) async fn set_timeouts(
    State(st): State<AdminState>,
    b: JsonBody<TimeoutsView>,
) -> Response {
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
        Err(e) => IpvsApiError::from(e).into_response(),
    }
}
