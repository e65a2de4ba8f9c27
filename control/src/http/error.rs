//! Error bodies: `{"error": "...", "field": "..."}` with a status, the ipvsadm
//! refusals with the status IPVS's error maps to, and the request body limit.

use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::Json;
use config::ipvsadm::OpError;
use serde_json::{json, Value};

use crate::plane::ipvs::IpvsChangeError;

/// Largest request body accepted (a whole YAML configuration fits easily).
pub const MAX_BODY_BYTES: usize = 1 << 20;

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

    /// 413: the request body is over [`MAX_BODY_BYTES`].
    pub fn body_too_large() -> Self {
        ApiError::new(
            StatusCode::PAYLOAD_TOO_LARGE,
            format!("request body larger than {MAX_BODY_BYTES} bytes"),
        )
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

/// Why an ipvsadm-style change failed.
pub enum IpvsApiError {
    /// Refused as IPVS refuses (exists, no such service...).
    Op(OpError),
    /// The result is not a valid configuration.
    Invalid(Vec<String>),
    /// Valid, but this daemon cannot run it.
    Rejected(Vec<String>),
    /// Malformed request.
    Bad(ApiError),
}

impl IntoResponse for IpvsApiError {
    fn into_response(self) -> Response {
        match self {
            IpvsApiError::Op(op) => {
                let status = match op {
                    OpError::ServiceExists | OpError::DestinationExists => StatusCode::CONFLICT,
                    OpError::NoSuchService | OpError::ServiceNotDefined | OpError::NoSuchDestination | OpError::SchedulerNotFound => StatusCode::NOT_FOUND,
                    _ => StatusCode::BAD_REQUEST,
                };
                (status, Json(json!({ "error": op.to_string(), "op_error": op }))).into_response()
            }
            IpvsApiError::Invalid(errors) => (StatusCode::BAD_REQUEST, Json(json!({ "error": errors.first().cloned().unwrap_or_default(), "errors": errors }))).into_response(),
            IpvsApiError::Rejected(errors) => {
                (StatusCode::UNPROCESSABLE_ENTITY, Json(json!({ "error": errors.first().cloned().unwrap_or_default(), "errors": errors }))).into_response()
            }
            IpvsApiError::Bad(e) => e.into_response(),
        }
    }
}

impl From<IpvsChangeError> for IpvsApiError {
    fn from(e: IpvsChangeError) -> Self {
        match e {
            IpvsChangeError::Op(op) => IpvsApiError::Op(op),
            IpvsChangeError::Invalid(errors) => IpvsApiError::Invalid(errors),
            IpvsChangeError::Rejected(errors) => IpvsApiError::Rejected(errors),
        }
    }
}
