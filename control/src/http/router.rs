//! The routes of the admin API and `/metrics`, with authentication and body limits.

use axum::extract::DefaultBodyLimit;
use axum::http::StatusCode;
use axum::middleware;
use axum::routing::{get, post, put};
use axum::Router;

use super::error::{ApiError, MAX_BODY_BYTES};
use super::state::AdminState;
use super::{
    auth, config, connections, health, json_errors, metrics, openapi, real_servers, rules,
    services, stats, timeouts, version, zero,
};

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

/// The router with authentication, body limits and every error answered as JSON.
pub fn router(state: AdminState) -> Router {
    let v1 = Router::new()
        .route("/v1/version", get(version::version))
        .route("/v1/stats", get(stats::stats))
        .route(
            "/v1/config",
            get(config::get_config).post(config::post_config),
        )
        .route(
            "/v1/services",
            get(services::list_services)
                .post(services::add_service)
                .delete(services::clear_services),
        )
        .route(
            "/v1/services/{id}",
            get(services::get_service)
                .put(services::edit_service)
                .delete(services::delete_service),
        )
        .route(
            "/v1/services/{id}/real-servers",
            post(real_servers::add_real_server),
        )
        .route(
            "/v1/services/{id}/real-servers/{rs}",
            put(real_servers::edit_real_server).delete(real_servers::delete_real_server),
        )
        .route("/v1/services/{id}/zero", post(zero::zero_service))
        .route("/v1/zero", post(zero::zero_all))
        .route("/v1/connections", get(connections::list_connections))
        .route(
            "/v1/timeouts",
            get(timeouts::get_timeouts).put(timeouts::set_timeouts),
        )
        .route(
            "/v1/rules",
            get(rules::get_rules).post(rules::restore_rules),
        )
        .route("/v1/health", get(health::list))
        .route("/v1/health/{id}", get(health::get))
        .layer(middleware::from_fn_with_state(state.clone(), auth::auth));
    Router::new()
        .merge(v1)
        .route("/metrics", get(metrics::metrics_text))
        .route("/openapi.json", get(openapi::openapi))
        .fallback(not_found)
        .layer(DefaultBodyLimit::max(MAX_BODY_BYTES))
        .layer(middleware::map_response(json_errors::json_errors))
        .with_state(state)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::http::OPENAPI;
    use serde_json::Value;

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

    /// A response, through its `$ref` into `components/responses` when it has one.
    fn resolve<'a>(doc: &'a Value, response: &'a Value) -> &'a Value {
        match response["$ref"].as_str() {
            Some(r) => {
                let name = r
                    .strip_prefix("#/components/responses/")
                    .expect("local $ref");
                &doc["components"]["responses"][name]
            }
            None => response,
        }
    }

    #[test]
    fn openapi_document_lists_the_errors_every_route_can_answer() {
        let doc: Value = serde_json::from_str(OPENAPI).expect("openapi.json is JSON");
        for (path, ops) in doc["paths"].as_object().expect("paths") {
            for (method, op) in ops.as_object().expect("operations") {
                if method == "parameters" {
                    continue;
                }
                let responses = op["responses"].as_object().expect("responses");
                let at = format!("{method} {path}");
                // Every path has methods it does not serve.
                assert!(responses.contains_key("405"), "{at}: no 405");
                // Changes are refused without a token file (the auth layer, before routing).
                if method != "get" {
                    assert!(responses.contains_key("403"), "{at}: no 403");
                }
                // A body is read under the limit of `MAX_BODY_BYTES`.
                if op.get("requestBody").is_some() {
                    assert!(responses.contains_key("413"), "{at}: no 413");
                }
                for (code, response) in responses {
                    if code.starts_with('4') || code.starts_with('5') {
                        let content = &resolve(&doc, response)["content"];
                        assert!(
                            content["application/json"]["schema"].is_object(),
                            "{at}: {code} has no JSON body"
                        );
                    }
                }
            }
        }
    }
}
