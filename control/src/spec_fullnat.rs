//! The SNAT pools of FULLNAT services, in dataplane terms (part of [`crate::spec`]).

use std::net::IpAddr;

use anyhow::{bail, Result};
use config::{Config, ForwardMethod, VirtualService};
use dataplane::fullnat::{PoolId, SnatPool};

/// The pools the services use, translated once each, in first-use order.
#[derive(Debug, Default)]
pub(crate) struct Pools {
    names: Vec<String>,
    pools: Vec<SnatPool>,
}

impl Pools {
    /// The pool of service `s` (None when none of its real servers uses fullnat),
    /// translating it on first use. `what` names the service in errors.
    pub(crate) fn for_service(
        &mut self,
        cfg: &Config,
        s: &VirtualService,
        what: &str,
    ) -> Result<Option<PoolId>> {
        if !s
            .real_servers
            .iter()
            .any(|rs| rs.method == ForwardMethod::FullNat)
        {
            return Ok(None);
        }
        let Some(name) = s.snat_pool.as_deref() else {
            bail!("{what}: fullnat real servers need the service's `snat_pool`");
        };
        if let Some(i) = self.names.iter().position(|n| n == name) {
            return Ok(Some(i as PoolId));
        }
        let Some(pool) = cfg.snat_pool(name) else {
            bail!("{what}: unknown snat pool `{name}`");
        };
        let mut addrs = Vec::with_capacity(pool.addresses.len());
        for &a in &pool.addresses {
            let IpAddr::V4(a) = a else {
                bail!("snat pool {name}: address {a}: IPv6 is not supported by this build's dataplane yet; use IPv4");
            };
            if let Some(other) = self
                .pools
                .iter()
                .position(|p| p.addrs.contains(&a))
                .map(|i| &self.names[i])
            {
                bail!("snat pool {name}: address {a} is also in snat pool {other}; a local address belongs to one pool");
            }
            addrs.push(a);
        }
        if addrs.is_empty() {
            bail!("snat pool {name}: no addresses");
        }
        self.names.push(name.to_string());
        self.pools.push(SnatPool {
            addrs,
            port_min: pool.ports.first,
            port_max: pool.ports.last,
        });
        Ok(Some((self.pools.len() - 1) as PoolId))
    }

    /// The translated pools, indexed by the ids handed out.
    pub(crate) fn into_pools(self) -> Vec<SnatPool> {
        self.pools
    }
}
