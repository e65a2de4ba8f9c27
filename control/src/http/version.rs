//! GET /v1/version

use axum::Json;
use serde_json::{json, Value};

/// GET /v1/version: rvs's, DPDK's and the ipvsadm interface's versions.
pub(super) async fn version() -> Json<Value> {
    Json(json!({
        "rvs": env!("CARGO_PKG_VERSION"),
        "dpdk": dataplane::dpdk::dpdk_version(),
        "ipvs_compat": "1.2.1",
    }))
}
