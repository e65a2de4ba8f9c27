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

#[cfg(test)]
mod tests {
    use crate::spec::{from_config, RealServerIds};

    const HEAD: &str = "interfaces:\n  - { name: wan0, device: net_null0, addresses: [198.18.0.254/24] }\n  - { name: lan0, device: net_null1, addresses: [198.19.0.254/24] }\n";

    fn spec(pools: &str, services: &str) -> anyhow::Result<crate::daemon::DaemonSpec> {
        let text = format!("{HEAD}snat_pools:\n{pools}services:\n{services}");
        let cfg = config::from_str(&text, "t.yaml").map_err(|e| anyhow::anyhow!("{e}"))?;
        from_config(&cfg, &mut RealServerIds::default())
    }

    fn svc(port: u16, pool: &str, method: &str) -> String {
        format!("  - {{ proto: tcp, vip: 198.18.0.100, port: {port}, method: {method}, snat_pool: {pool}, real_servers: [ {{ address: 198.19.0.11 }} ] }}\n")
    }

    #[test]
    fn used_pools_are_translated_once_in_first_use_order() {
        let pools = "  - { name: a, addresses: [198.19.0.250], ports: 2000-2999 }\n  - { name: b, addresses: [198.19.0.251, 198.19.0.252] }\n  - { name: c, addresses: [198.19.0.253] }\n";
        let services = [
            svc(80, "b", "fullnat"),
            svc(81, "a", "fullnat"),
            svc(82, "b", "fullnat"),
            svc(83, "a", "masq"),
        ]
        .concat();
        let s = spec(pools, &services).unwrap();
        let ids: Vec<_> = s.services.iter().map(|v| v.snat_pool).collect();
        assert_eq!(ids, vec![Some(0), Some(1), Some(0), None]);
        assert_eq!(s.snat_pools.len(), 2, "the unused pool is not translated");
        assert_eq!(
            (s.snat_pools[1].port_min, s.snat_pools[1].port_max),
            (2000, 2999)
        );
        assert_eq!(s.snat_pools[0].addrs.len(), 2);
        assert_eq!(
            (s.snat_pools[0].port_min, s.snat_pools[0].port_max),
            (1024, 65535)
        );
    }

    #[test]
    fn a_local_address_in_two_pools_is_refused() {
        let shared = "  - { name: a, addresses: [198.19.0.250] }\n  - { name: b, addresses: [198.19.0.250] }\n";
        let services = [svc(80, "a", "fullnat"), svc(81, "b", "fullnat")].concat();
        let e = spec(shared, &services).unwrap_err().to_string();
        assert!(
            e.contains("address 198.19.0.250 is also in snat pool a"),
            "{e}"
        );
    }
}
