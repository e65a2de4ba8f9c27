//! The admin REST API and `/metrics` on the management address, served by axum on a
//! current-thread tokio runtime confined to the control thread.
//!
//! Authentication: `Authorization: Bearer <token>` with the token from `admin.token_file`.
//! Read-only routes need the token when one is configured; routes that change anything
//! always need it (without a token file they answer 403).

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;

use axum::extract::{DefaultBodyLimit, Request, State};
use axum::http::{header, HeaderMap, StatusCode};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post, put};

use crate::api;
use axum::{Json, Router};
use dataplane::counters::WorkerStats;
use dataplane::dpdk::{MbufRing, Mempool};
use serde_json::{json, Value};

use crate::daemon::STEERING_RING_CAPACITY;
use crate::metrics::{self, MetricsSource};
use crate::plane::ControlPlane;
use axum::extract::Query;
use crossbeam::queue::ArrayQueue;
use dataplane::pipeline::ConnListRequest;
use parking_lot::Mutex;

/// Largest request body accepted (a whole YAML configuration fits easily).
pub const MAX_BODY_BYTES: usize = 1 << 20;

/// The OpenAPI document, kept in the repository and served at `/openapi.json`.
pub const OPENAPI: &str = include_str!("../openapi.json");

/// The control thread's end of one worker's request and answer queues.
pub type ConnChannel = (
    Arc<ArrayQueue<ConnListRequest>>,
    Arc<ArrayQueue<ConnListRequest>>,
);

/// What the API reads from the running daemon.
pub struct RuntimeView {
    /// Interface names by port index.
    pub interfaces: Vec<String>,
    /// Per-worker counters.
    pub workers: Vec<Arc<WorkerStats>>,
    /// Per worker: the queues to ask for its connections and get them back.
    pub conn_channels: Vec<ConnChannel>,
    /// One listing at a time (the answer queues are shared).
    pub list_lock: tokio::sync::Mutex<()>,
    /// Per-real-server statistics and rates.
    pub estimator: Mutex<crate::estimator::Estimator>,
    /// The packet pool.
    pub pool: Arc<Mempool>,
    /// Running configuration generation.
    pub generation: AtomicU64,
    /// Whether the last reload was applied.
    pub last_reload_ok: AtomicBool,
    /// Port reports for `/v1/stats` (name, device, MAC).
    pub ports: Vec<(String, String, [u8; 6])>,
    /// Steering rings between workers: (from worker, to worker, ring).
    pub steering_rings: Vec<(usize, usize, Arc<MbufRing>)>,
}

/// Shared state of the admin server.
#[derive(Clone)]
pub struct AdminState {
    /// The configuration owner (token, config, apply).
    pub plane: Arc<Mutex<ControlPlane>>,
    /// The daemon's live data.
    pub runtime: Arc<RuntimeView>,
}

/// A JSON error body: `{"error": "...", "field": "..."}`.
pub struct ApiError {
    status: StatusCode,
    message: String,
    field: Option<String>,
}

impl ApiError {
    /// An error with a status and message.
    pub fn new(status: StatusCode, message: impl Into<String>) -> Self {
        ApiError {
            status,
            message: message.into(),
            field: None,
        }
    }

    /// Name the request field at fault.
    pub fn field(mut self, f: impl Into<String>) -> Self {
        self.field = Some(f.into());
        self
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let mut body = json!({ "error": self.message });
        if let Some(f) = self.field {
            body["field"] = Value::String(f);
        }
        (self.status, Json(body)).into_response()
    }
}

/// Constant-time comparison so the token cannot be guessed byte by byte from timing.
fn token_matches(given: &[u8], want: &[u8]) -> bool {
    if given.len() != want.len() {
        return false;
    }
    given
        .iter()
        .zip(want)
        .fold(0u8, |acc, (a, b)| acc | (a ^ b))
        == 0
}

fn bearer(headers: &HeaderMap) -> Option<&str> {
    headers
        .get(header::AUTHORIZATION)?
        .to_str()
        .ok()?
        .strip_prefix("Bearer ")
}

async fn auth(State(st): State<AdminState>, req: Request, next: Next) -> Response {
    let mutating =
        req.method() != axum::http::Method::GET && req.method() != axum::http::Method::HEAD;
    let token = st.plane.lock().token();
    match (&token, bearer(req.headers())) {
        (Some(want), Some(given)) if token_matches(given.as_bytes(), want.as_bytes()) => {
            next.run(req).await
        }
        (Some(_), _) => {
            let mut r = ApiError::new(StatusCode::UNAUTHORIZED, "missing or wrong bearer token; send 'Authorization: Bearer <token from admin.token_file>'")
                .into_response();
            r.headers_mut().insert(
                header::WWW_AUTHENTICATE,
                "Bearer".parse().expect("static header"),
            );
            r
        }
        (None, _) if mutating => ApiError::new(
            StatusCode::FORBIDDEN,
            "changes need a token: set admin.token_file in the configuration",
        )
        .into_response(),
        (None, _) => next.run(req).await,
    }
}

async fn version() -> Json<Value> {
    Json(json!({
        "rvs": env!("CARGO_PKG_VERSION"),
        "dpdk": dataplane::dpdk::dpdk_version(),
        "ipvs_compat": "1.2.1",
    }))
}

async fn stats(State(st): State<AdminState>) -> Json<Value> {
    let rt = &st.runtime;
    let reports: Vec<crate::stats::PortReport<'_>> = rt
        .ports
        .iter()
        .map(|(name, device, mac)| crate::stats::PortReport {
            name,
            device,
            mac: *mac,
            hw: Default::default(),
        })
        .collect();
    let mut v = crate::stats::to_json(&reports, &rt.workers);
    v["generation"] = rt.generation.load(Ordering::Relaxed).into();
    v["last_reload_ok"] = rt.last_reload_ok.load(Ordering::Relaxed).into();
    Json(v)
}

async fn metrics_text(State(st): State<AdminState>) -> impl IntoResponse {
    let rt = &st.runtime;
    let (rows, health) = {
        let plane = st.plane.lock();
        (
            crate::api::service_metrics(&st, &plane),
            crate::health::view::metrics(&plane),
        )
    };
    let text = metrics::render(&MetricsSource {
        interfaces: &rt.interfaces,
        workers: &rt.workers,
        mempool: (rt.pool.available(), rt.pool.in_use()),
        steering_rings: &rt
            .steering_rings
            .iter()
            .map(|(f, t, r)| (*f, *t, r.count(), STEERING_RING_CAPACITY))
            .collect::<Vec<_>>(),
        generation: rt.generation.load(Ordering::Relaxed),
        last_reload_ok: rt.last_reload_ok.load(Ordering::Relaxed),
        services: &rows,
        health: &health,
    });
    ([(header::CONTENT_TYPE, "text/plain; version=0.0.4")], text)
}

/// `?dry_run=true`
#[derive(serde::Deserialize)]
struct DryRun {
    #[serde(default)]
    dry_run: bool,
}

async fn get_config(State(st): State<AdminState>) -> impl IntoResponse {
    let text = config::to_yaml_string(st.plane.lock().config());
    ([(header::CONTENT_TYPE, "application/yaml")], text)
}

async fn post_config(
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
    match plane.apply(new, q.dry_run) {
        Ok(diff) => Json(json!({ "applied": !q.dry_run, "generation": plane.generation(), "diff": diff })).into_response(),
        Err(r) => (
            StatusCode::UNPROCESSABLE_ENTITY,
            Json(json!({ "error": r.errors.first().cloned().unwrap_or_default(), "errors": r.errors })),
        )
            .into_response(),
    }
}

async fn openapi() -> impl IntoResponse {
    ([(header::CONTENT_TYPE, "application/json")], OPENAPI)
}

async fn not_found() -> ApiError {
    ApiError::new(StatusCode::NOT_FOUND, "no such route; see /openapi.json")
}

/// Every route of the API (kept in step with `openapi.json`; a test checks both ways).
pub const ROUTES: &[(&str, &str)] = &[
    ("GET", "/v1/version"),
    ("GET", "/v1/stats"),
    ("GET", "/v1/config"),
    ("POST", "/v1/config"),
    ("GET", "/v1/services"),
    ("POST", "/v1/services"),
    ("DELETE", "/v1/services"),
    ("GET", "/v1/services/{id}"),
    ("PUT", "/v1/services/{id}"),
    ("DELETE", "/v1/services/{id}"),
    ("POST", "/v1/services/{id}/real-servers"),
    ("PUT", "/v1/services/{id}/real-servers/{rs}"),
    ("DELETE", "/v1/services/{id}/real-servers/{rs}"),
    ("POST", "/v1/services/{id}/zero"),
    ("POST", "/v1/zero"),
    ("GET", "/v1/connections"),
    ("GET", "/v1/timeouts"),
    ("PUT", "/v1/timeouts"),
    ("GET", "/v1/rules"),
    ("POST", "/v1/rules"),
    ("GET", "/v1/health"),
    ("GET", "/v1/health/{id}"),
    ("GET", "/metrics"),
    ("GET", "/openapi.json"),
];

/// The router with authentication and body limits.
pub fn router(state: AdminState) -> Router {
    let v1 = Router::new()
        .route("/v1/version", get(version))
        .route("/v1/stats", get(stats))
        .route("/v1/config", get(get_config).post(post_config))
        .route(
            "/v1/services",
            get(api::list_services)
                .post(api::add_service)
                .delete(api::clear_services),
        )
        .route(
            "/v1/services/{id}",
            get(api::get_service)
                .put(api::edit_service)
                .delete(api::delete_service),
        )
        .route("/v1/services/{id}/real-servers", post(api::add_real_server))
        .route(
            "/v1/services/{id}/real-servers/{rs}",
            put(api::edit_real_server).delete(api::delete_real_server),
        )
        .route("/v1/services/{id}/zero", post(api::zero_service))
        .route("/v1/zero", post(api::zero_all))
        .route("/v1/connections", get(api::list_connections))
        .route(
            "/v1/timeouts",
            get(api::get_timeouts).put(api::set_timeouts),
        )
        .route("/v1/rules", get(api::get_rules).post(api::restore_rules))
        .route("/v1/health", get(crate::health::view::list))
        .route("/v1/health/{id}", get(crate::health::view::get))
        .layer(middleware::from_fn_with_state(state.clone(), auth));
    Router::new()
        .merge(v1)
        .route("/metrics", get(metrics_text))
        .route("/openapi.json", get(openapi))
        .fallback(not_found)
        .layer(DefaultBodyLimit::max(MAX_BODY_BYTES))
        .with_state(state)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn token_comparison() {
        assert!(token_matches(b"secret", b"secret"));
        assert!(!token_matches(b"secreT", b"secret"));
        assert!(!token_matches(b"secret1", b"secret"));
        assert!(!token_matches(b"", b"secret"));
    }

    #[test]
    fn openapi_document_lists_exactly_the_routes() {
        let doc: Value = serde_json::from_str(OPENAPI).expect("openapi.json is JSON");
        assert_eq!(doc["openapi"].as_str().map(|s| &s[..2]), Some("3."));
        let mut documented: Vec<(String, String)> = vec![];
        for (path, ops) in doc["paths"].as_object().expect("paths") {
            for method in ops
                .as_object()
                .expect("operations")
                .keys()
                .filter(|k| *k != "parameters")
            {
                documented.push((method.to_uppercase(), path.clone()));
            }
        }
        documented.sort();
        let mut served: Vec<(String, String)> = ROUTES
            .iter()
            .map(|(m, p)| (m.to_string(), p.to_string()))
            .collect();
        served.sort();
        assert_eq!(documented, served);
    }
}
