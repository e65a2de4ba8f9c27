//! GET and POST /v1/config: the running configuration as YAML, and a whole new one.

use axum::extract::{Query, State};
use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde_json::json;

use super::state::AdminState;

/// `?dry_run=true`
#[derive(serde::Deserialize)]
pub(super) struct DryRun {
    #[serde(default)]
    pub(super) dry_run: bool,
}

/// GET /v1/config
pub(super) async fn get_config(State(st): State<AdminState>) -> impl IntoResponse {
    let text = config::to_yaml_string(st.plane.lock().config());
    ([(header::CONTENT_TYPE, "application/yaml")], text)
}

/// POST /v1/config (`?dry_run=true` only validates and says what would change). The
/// `admin:` section must be the running one (see [`crate::plane::ControlPlane::apply_from_api`]).
pub(super) async fn post_config(
    State(st): State<AdminState>,
    Query(q): Query<DryRun>,
    body: String,
) -> Response {
    let new = match config::from_str(&body, "request") {
        Ok(c) => c,
        Err(errors) => {
            let list: Vec<String> = errors.errors().iter().map(|e| e.to_string()).collect();
            return (
                StatusCode::BAD_REQUEST,
                Json(json!({ "error": list.first().cloned().unwrap_or_default(), "errors": list })),
            )
                .into_response();
        }
    };
    let mut plane = st.plane.lock();
    match plane.apply_from_api(new, q.dry_run) {
        Ok(diff) => Json(json!({ "applied": !q.dry_run, "generation": plane.generation(), "diff": diff })).into_response(),
        Err(r) => (
            StatusCode::UNPROCESSABLE_ENTITY,
            Json(json!({ "error": r.errors.first().cloned().unwrap_or_default(), "errors": r.errors })),
        )
            .into_response(),
    }
}
