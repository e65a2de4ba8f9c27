//! Bearer-token authentication of the API routes.

use axum::extract::{Request, State};
use axum::http::{header, HeaderMap, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};

use super::error::ApiError;
use super::state::AdminState;

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

/// The token of a `Bearer` credential. The scheme name is case-insensitive and one or
/// more spaces separate it from the token (RFC 7235 section 2.1).
fn bearer(headers: &HeaderMap) -> Option<&str> {
    let value = headers.get(header::AUTHORIZATION)?.to_str().ok()?;
    let (scheme, token) = value.split_once(' ')?;
    scheme
        .eq_ignore_ascii_case("bearer")
        .then(|| token.trim_start_matches(' '))
}

pub(super) async fn auth(State(st): State<AdminState>, req: Request, next: Next) -> Response {
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

#[cfg(test)]
mod tests {
    use super::*;

    fn headers(authorization: &str) -> HeaderMap {
        let mut h = HeaderMap::new();
        h.insert(header::AUTHORIZATION, authorization.parse().unwrap());
        h
    }

    #[test]
    fn bearer_scheme_is_case_insensitive() {
        assert_eq!(bearer(&headers("Bearer s3cret")), Some("s3cret"));
        assert_eq!(bearer(&headers("bearer s3cret")), Some("s3cret"));
        assert_eq!(bearer(&headers("BEARER  s3cret")), Some("s3cret"));
        assert_eq!(bearer(&headers("Basic s3cret")), None);
        assert_eq!(bearer(&headers("Bearers3cret")), None);
        assert_eq!(bearer(&headers("s3cret")), None);
    }

    #[test]
    fn token_comparison() {
        assert!(token_matches(b"secret", b"secret"));
        assert!(!token_matches(b"secreT", b"secret"));
        assert!(!token_matches(b"secret1", b"secret"));
        assert!(!token_matches(b"", b"secret"));
    }
}
