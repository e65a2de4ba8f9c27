//! The HTTP exchange with rvsd's admin API, behind a trait so that the
//! command -> request and response -> output mappings are tested without a
//! server.

use std::fmt;
use std::io::Read;
use std::time::Duration;

/// HTTP method of an admin API call.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Method {
    /// GET.
    Get,
    /// POST.
    Post,
    /// PUT.
    Put,
    /// DELETE.
    Delete,
}

impl Method {
    /// The method's name on the wire.
    pub fn as_str(self) -> &'static str {
        match self {
            Method::Get => "GET",
            Method::Post => "POST",
            Method::Put => "PUT",
            Method::Delete => "DELETE",
        }
    }
}

impl fmt::Display for Method {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Request body.
#[derive(Debug, Clone, PartialEq)]
pub enum Body {
    /// No body.
    Empty,
    /// `application/json`.
    Json(serde_json::Value),
    /// `text/plain` (the rules of `-R`).
    Text(String),
}

/// One admin API call: method, path below the base URL, body.
#[derive(Debug, Clone, PartialEq)]
pub struct ApiRequest {
    /// Method.
    pub method: Method,
    /// Path with percent-encoded ids, e.g. `/v1/services/tcp:198.18.0.100:80`.
    pub path: String,
    /// Body.
    pub body: Body,
}

impl ApiRequest {
    /// A call without a body.
    pub fn new(method: Method, path: impl Into<String>) -> Self {
        ApiRequest {
            method,
            path: path.into(),
            body: Body::Empty,
        }
    }

    /// A call with a JSON body.
    pub fn json(method: Method, path: impl Into<String>, body: serde_json::Value) -> Self {
        ApiRequest {
            method,
            path: path.into(),
            body: Body::Json(body),
        }
    }
}

/// What the server answered: any status, with its body as text.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ApiResponse {
    /// HTTP status code.
    pub status: u16,
    /// Response body.
    pub body: String,
}

impl ApiResponse {
    /// Whether the status is 2xx.
    pub fn is_success(&self) -> bool {
        (200..300).contains(&self.status)
    }
}

/// The request never got an HTTP answer (connection refused, timeout,
/// bad URL). The text is the HTTP library's.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct TransportError(pub String);

/// Sends admin API calls. Implemented by [`HttpClient`] and, in tests, by a
/// recorder with canned answers.
pub trait Client {
    /// Base URL the calls go to (for messages).
    fn base_url(&self) -> &str;
    /// Whether calls carry a token (so a 401 can say which mistake it is).
    fn sends_token(&self) -> bool;
    /// Sends one call and returns the answer whatever its status.
    fn send(&self, request: &ApiRequest) -> Result<ApiResponse, TransportError>;
}

impl<C: Client + ?Sized> Client for &C {
    fn base_url(&self) -> &str {
        (**self).base_url()
    }
    fn sends_token(&self) -> bool {
        (**self).sends_token()
    }
    fn send(&self, request: &ApiRequest) -> Result<ApiResponse, TransportError> {
        (**self).send(request)
    }
}

/// The real client: plain HTTP with a bearer token.
pub struct HttpClient {
    base: String,
    token: Option<String>,
    agent: ureq::Agent,
}

impl HttpClient {
    /// A client for `base` (e.g. `http://127.0.0.1:9180`); a trailing `/`
    /// is dropped. `token` is sent as `Authorization: Bearer <token>`.
    pub fn new(base: &str, token: Option<String>) -> Self {
        // The admin API answers from memory: a short connect timeout makes
        // "daemon not running" fail fast, the read timeout covers a busy
        // control thread applying a large -R.
        let agent = ureq::AgentBuilder::new()
            .timeout_connect(Duration::from_secs(3))
            .timeout_read(Duration::from_secs(60))
            .build();
        HttpClient {
            base: base.trim_end_matches('/').to_string(),
            token,
            agent,
        }
    }
}

impl Client for HttpClient {
    fn base_url(&self) -> &str {
        &self.base
    }

    fn sends_token(&self) -> bool {
        self.token.is_some()
    }

    fn send(&self, request: &ApiRequest) -> Result<ApiResponse, TransportError> {
        let url = format!("{}{}", self.base, request.path);
        let mut req = self.agent.request(request.method.as_str(), &url);
        if let Some(token) = &self.token {
            req = req.set("Authorization", &format!("Bearer {token}"));
        }
        let result = match &request.body {
            Body::Empty => req.call(),
            Body::Json(v) => req.send_json(v),
            Body::Text(t) => req
                .set("Content-Type", "text/plain; charset=utf-8")
                .send_string(t),
        };
        let response = match result {
            Ok(r) => r,
            Err(ureq::Error::Status(_, r)) => r,
            Err(ureq::Error::Transport(t)) => {
                // ureq's Display repeats the URL, which the message of
                // CliError::Unreachable already names.
                let mut reason = t.kind().to_string();
                if let Some(m) = t.message() {
                    reason = format!("{reason}: {m}");
                }
                if let Some(src) = std::error::Error::source(&t) {
                    reason = format!("{reason}: {src}");
                }
                return Err(TransportError(reason));
            }
        };
        let status = response.status();
        // into_string() caps bodies at 10 MB; a large connection table can
        // be bigger, so read the whole body.
        let mut body = String::new();
        response
            .into_reader()
            .read_to_string(&mut body)
            .map_err(|e| TransportError(format!("reading the response from {url}: {e}")))?;
        Ok(ApiResponse { status, body })
    }
}
