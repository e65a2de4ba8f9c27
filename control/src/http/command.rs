//! The common path of the handlers that change the configuration with ipvsadm commands:
//! the JSON body, the commands applied on the control plane, the answer.

use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::Json;
use config::ipvsadm::IpvsCommand;

use super::error::{ApiError, IpvsApiError};
use super::state::AdminState;
use crate::plane::ipvs::apply_commands;

/// Apply `cmds` on the running configuration; `ok` is the status of a success.
pub(super) fn run(st: &AdminState, cmds: &[IpvsCommand], ok: StatusCode) -> Response {
    let mut plane = st.plane.lock();
    match apply_commands(&mut plane, cmds) {
        Ok(()) => ok.into_response(),
        Err(e) => IpvsApiError::from(e).into_response(),
    }
}

/// A JSON request body, or why it is not one.
pub(super) type JsonBody<T> = Result<Json<T>, axum::extract::rejection::JsonRejection>;

/// The request body, or a 413 when it is over the limit, or a 400 that says what is wrong
/// with it.
pub(super) fn body<T>(b: JsonBody<T>) -> Result<T, IpvsApiError> {
    b.map(|Json(v)| v).map_err(|e| {
        IpvsApiError::Bad(if e.status() == StatusCode::PAYLOAD_TOO_LARGE {
            ApiError::body_too_large()
        } else {
            ApiError::new(
                StatusCode::BAD_REQUEST,
                format!("bad request body: {}", e.body_text()),
            )
        })
    })
}
