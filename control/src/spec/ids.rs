//! Stable real-server and virtual-service ids across reloads.

use anyhow::{bail, Result};
use dataplane::pipeline::MAX_REAL_SERVERS;
use hashbrown::HashMap;

/// Stable real-server ids: a real server keeps its id across reloads (the connection
/// tables count connections by id), so an id is never reused for another server.
#[derive(Debug, Default, Clone)]
pub struct RealServerIds {
    ids: HashMap<(String, std::net::SocketAddr), u32>,
    services: HashMap<String, u32>,
}

impl RealServerIds {
    /// The stable id of virtual service `svc` (persistence templates are keyed by it).
    pub fn service_id(&mut self, svc: &str) -> u32 {
        let next = self.services.len() as u32;
        *self.services.entry(svc.to_string()).or_insert(next)
    }

    /// The id of real server `rs` of service `svc`, assigning the next free one.
    pub fn id(&mut self, svc: &str, rs: std::net::SocketAddr) -> Result<u32> {
        let next = self.ids.len() as u32;
        let key = (svc.to_string(), rs);
        if let Some(&id) = self.ids.get(&key) {
            return Ok(id);
        }
        if next >= MAX_REAL_SERVERS {
            bail!("more than {MAX_REAL_SERVERS} distinct real servers since rvsd started; restart rvsd to renumber them");
        }
        self.ids.insert(key, next);
        Ok(next)
    }

    /// The id of a real server already known.
    pub fn get(&self, svc: &str, rs: std::net::SocketAddr) -> Option<u32> {
        self.ids.get(&(svc.to_string(), rs)).copied()
    }
}
