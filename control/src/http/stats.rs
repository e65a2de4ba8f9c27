//! GET /v1/stats

use std::sync::atomic::Ordering;

use axum::extract::State;
use axum::Json;
use serde_json::Value;

use super::state::AdminState;
use crate::state::stats::{to_json, PortReport};

/// GET /v1/stats: the counters of the `--stats-file` report (the devices' own counters
/// read now), with the generation.
pub(super) async fn stats(State(st): State<AdminState>) -> Json<Value> {
    let rt = &st.runtime;
    let reports: Vec<PortReport<'_>> = rt
        .ports
        .iter()
        .map(|p| PortReport {
            name: &p.name,
            device: &p.device,
            mac: p.mac,
            hw: p.counters.read(),
        })
        .collect();
    let mut v = to_json(&reports, &rt.workers);
    v["generation"] = rt.generation.load(Ordering::Relaxed).into();
    v["last_reload_ok"] = rt.last_reload_ok.load(Ordering::Relaxed).into();
    Json(v)
}
