//! GET /openapi.json

use axum::http::header;
use axum::response::IntoResponse;

/// The OpenAPI document, kept in the repository and served at `/openapi.json`.
pub const OPENAPI: &str = include_str!("../../openapi.json");

/// GET /openapi.json
pub(super) async fn openapi() -> impl IntoResponse {
    ([(header::CONTENT_TYPE, "application/json")], OPENAPI)
}
