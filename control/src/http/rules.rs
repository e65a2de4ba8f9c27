//! /v1/rules: `ipvsadm -S -n` and `ipvsadm -R`.

use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::Json;
use config::convert;
use config::ipvsadm;
use serde_json::json;

use super::error::IpvsApiError;
use super::state::AdminState;
use crate::plane::ipvs::{commit_table, rule_table};

/// GET /v1/rules (ipvsadm -S -n)
pub(super) async fn get_rules(State(st): State<AdminState>) -> impl IntoResponse {
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
pub(super) async fn restore_rules(State(st): State<AdminState>, text: String) -> Response {
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
        Err(e) => IpvsApiError::from(e).into_response(),
    }
}
