//! The admin REST API and `/metrics` on the management address, served by axum on the
//! control thread's current-thread tokio runtime.
//!
//! `router` maps the routes (kept in step with `openapi.json`) to one handler module per
//! resource; `auth` checks the bearer token; `error` shapes error bodies and
//! `json_errors` gives axum's own refusals (405, 413, malformed queries) the same shape; `ids` parses the
//! service and real-server ids of paths; `command` is the common path of the handlers that
//! change the configuration with ipvsadm commands. Handlers read the control plane and the
//! runtime state through [`AdminState`] and the read models of [`crate::view`]; changes go
//! through [`crate::plane`].
//!
//! Authentication: `Authorization: Bearer <token>` with the token from `admin.token_file`
//! (the scheme name in any case).
//! Read-only routes need the token when one is configured; routes that change anything
//! always need it (without a token file they answer 403).

mod auth;
mod command;
mod config;
mod connections;
mod error;
mod health;
mod ids;
mod json_errors;
mod metrics;
mod openapi;
mod real_servers;
mod router;
mod rules;
mod services;
mod state;
mod stats;
mod timeouts;
mod version;
mod zero;

pub use error::{ApiError, IpvsApiError, MAX_BODY_BYTES};
pub use ids::{parse_rs_id, parse_service_id};
pub use openapi::OPENAPI;
pub use router::{router, ROUTES};
pub use state::AdminState;
