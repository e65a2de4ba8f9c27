//! /v1/zero and /v1/services/{id}/zero (`ipvsadm -Z`): counters and rates restart from
//! zero.

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use config::convert;
use config::ipvsadm::{self, OpError};

use super::error::IpvsApiError;
use super::ids::parse_service_id;
use super::state::AdminState;
use crate::plane::ControlPlane;

/// The stable ids of a service's real servers and the service's key (all services when
/// `vs` is None); None when the service does not exist.
fn real_server_ids_of(
    plane: &ControlPlane,
    vs: Option<&ipvsadm::VirtualService>,
) -> Option<(Vec<u32>, Vec<String>)> {
    let cfg = plane.config();
    let ids = plane.real_server_ids();
    let (mut out, mut keys) = (Vec::new(), Vec::new());
    let mut found = vs.is_none();
    for s in &cfg.services {
        if vs.is_some_and(|v| !convert::is_service(s, v)) {
            continue;
        }
        found = true;
        let key = s.key.to_string();
        keys.push(key.clone());
        out.extend(
            s.real_servers
                .iter()
                .filter_map(|rs| ids.get(&key, rs.socket_addr())),
        );
    }
    found.then_some((out, keys))
}

fn zero(st: &AdminState, vs: Option<&ipvsadm::VirtualService>) -> Response {
    let ids = {
        let plane = st.plane.lock();
        real_server_ids_of(&plane, vs)
    };
    match ids {
        Some((ids, services)) => {
            let mut est = st.runtime.estimator.lock();
            est.zero(&st.runtime.workers, ids);
            // What the services' deleted real servers counted goes too.
            est.zero_services(services.iter().map(String::as_str));
            StatusCode::NO_CONTENT.into_response()
        }
        None => IpvsApiError::Op(OpError::NoSuchService).into_response(),
    }
}

/// POST /v1/zero (ipvsadm -Z): every service's counters and rates restart from zero.
pub(super) async fn zero_all(State(st): State<AdminState>) -> Response {
    zero(&st, None)
}

/// POST /v1/services/{id}/zero (ipvsadm -Z -t ...)
pub(super) async fn zero_service(State(st): State<AdminState>, Path(id): Path<String>) -> Response {
    match parse_service_id(&id) {
        Ok(vs) => zero(&st, Some(&vs)),
        Err(e) => e.into_response(),
    }
}
