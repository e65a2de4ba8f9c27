//! From the raw schema to the model: apply IPVS's defaults and check every rule that
//! serde's types cannot express (ranges, references between sections, duplicates,
//! reachability), collecting every error with the path of the node at fault.
//!
//! One module per section: [`global`] (dataplane, timeouts, ipvs, health, admin), [`network`]
//! (interfaces, routes, SNAT pools, reachability), [`service`] (virtual services), with
//! [`real_server`], [`method`] (forwarding method and tunnel keys) and [`health_check`]
//! below it. [`problems`] holds what they all report to; it uses none of them.

mod global;
mod health_check;
mod method;
mod network;
mod problems;
mod real_server;
mod service;

pub use problems::{Problems, Scope};

use crate::locate::Path;
use crate::model::Config;
use crate::raw::RawConfig;

/// Builds the model from the raw schema; every problem goes to `p`. The result is only
/// meaningful when `p` stays empty. `service_index[k]` is the position in the file of
/// `raw.services[k]` (they differ when broken services were left out).
pub fn validate(raw: RawConfig, service_index: &[usize], p: &mut Problems<'_>) -> Config {
    let root = Path::root();
    let dataplane = global::dataplane(raw.dataplane.unwrap_or_default(), &root.key("dataplane"), p);
    let interfaces = network::interfaces(raw.interfaces, &root.key("interfaces"), p);
    let mut cfg = Config {
        dataplane,
        interfaces,
        routes: Vec::new(),
        snat_pools: Vec::new(),
        timeouts: global::timeouts(raw.timeouts.unwrap_or_default(), &root.key("timeouts"), p),
        ipvs: global::ipvs(raw.ipvs.unwrap_or_default()),
        services: Vec::new(),
        health: global::health(raw.health.unwrap_or_default(), &root.key("health"), p),
        admin: global::admin(raw.admin.unwrap_or_default()),
    };
    cfg.routes = network::routes(raw.routes, &cfg, &root.key("routes"), p);
    cfg.snat_pools = network::snat_pools(raw.snat_pools, &cfg, &root.key("snat_pools"), p);
    let indexed = service_index.iter().copied().zip(raw.services).collect();
    cfg.services = service::services(indexed, &cfg, &root.key("services"), p);
    cfg
}
