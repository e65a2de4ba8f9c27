//! Every error answered in the format of [`ApiError`]: axum answers a wrong method (405),
//! an oversized body (413) and malformed queries or bodies outside the handlers with plain
//! text or nothing; this turns those answers into `{"error": "..."}`.

use axum::body::to_bytes;
use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};

use super::error::ApiError;

/// Longest plain-text error body kept as the message (axum's are one line).
const MAX_TEXT: usize = 4096;

/// The response unchanged unless it is an error without a JSON body; then the same status
/// and headers (`Allow`, `WWW-Authenticate`) with a JSON body.
pub(super) async fn json_errors(resp: Response) -> Response {
    let status = resp.status();
    if !(status.is_client_error() || status.is_server_error()) || is_json(&resp) {
        return resp;
    }
    let (parts, body) = resp.into_parts();
    let error = match status {
        StatusCode::PAYLOAD_TOO_LARGE => ApiError::body_too_large(),
        StatusCode::METHOD_NOT_ALLOWED => ApiError::new(
            status,
            "method not allowed on this route; see /openapi.json",
        ),
        _ => {
            let text = to_bytes(body, MAX_TEXT).await.unwrap_or_default();
            let text = String::from_utf8_lossy(&text).trim().to_string();
            if text.is_empty() {
                ApiError::new(status, status.canonical_reason().unwrap_or("error"))
            } else {
                ApiError::new(status, text)
            }
        }
    };
    let mut out = error.into_response();
    for (name, value) in &parts.headers {
        if name != header::CONTENT_TYPE && name != header::CONTENT_LENGTH {
            out.headers_mut().append(name, value.clone());
        }
    }
    out
}

fn is_json(resp: &Response) -> bool {
    resp.headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.starts_with("application/json"))
}
