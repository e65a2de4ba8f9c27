//! GET /metrics (Prometheus text)

use std::sync::atomic::Ordering;

use axum::extract::State;
use axum::http::header;
use axum::response::IntoResponse;

use super::state::AdminState;
use crate::metrics::{render, MetricsSource};
use crate::state::STEERING_RING_CAPACITY;
use crate::view;

/// GET /metrics: every counter, gauge and health row, rendered fresh per scrape.
pub(super) async fn metrics_text(State(st): State<AdminState>) -> impl IntoResponse {
    let rt = &st.runtime;
    let (rows, health) = {
        let plane = st.plane.lock();
        (
            view::metrics::service_rows(rt, &plane),
            view::metrics::health_rows(&plane),
        )
    };
    let text = render(&MetricsSource {
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
        shared_worker_cpus: rt.shared_worker_cpus,
        services: &rows,
        health: &health,
    });
    ([(header::CONTENT_TYPE, "text/plain; version=0.0.4")], text)
}
