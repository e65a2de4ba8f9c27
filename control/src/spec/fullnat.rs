//! The SNAT pools of FULLNAT services, in dataplane terms.

use anyhow::{bail, Result};
use config::{Config, ForwardMethod, VirtualService};
use dataplane::xmit::fullnat::{PoolId, SnatPool};

/// The pools the services use, translated once per (name, address family), in first-use
/// order: a dataplane pool serves one family, so a pool named by IPv4 and IPv6 services
/// becomes two, each with the addresses of its family.
#[derive(Debug, Default)]
pub(crate) struct Pools {
    names: Vec<(String, bool)>,
    pools: Vec<SnatPool>,
    /// Real servers (stable ids) of fullnat services with `toa: false`.
    toa_off: Vec<u32>,
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
        let v6 = s.is_ipv6();
        if let Some(i) = self.names.iter().position(|(n, f)| n == name && *f == v6) {
            return Ok(Some(i as PoolId));
        }
        let Some(pool) = cfg.snat_pool(name) else {
            bail!("{what}: unknown snat pool `{name}`");
        };
        let mut addrs = Vec::with_capacity(pool.addresses.len());
        for &a in pool.addresses.iter().filter(|a| a.is_ipv6() == v6) {
            if let Some((other, _)) = self
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
            let family = if v6 { "IPv6" } else { "IPv4" };
            bail!("{what}: snat pool {name} has no {family} address; expected local addresses of the service's family");
        }
        self.names.push((name.to_string(), v6));
        self.pools.push(SnatPool {
            addrs,
            port_min: pool.ports.first,
            port_max: pool.ports.last,
        });
        Ok(Some((self.pools.len() - 1) as PoolId))
    }

    /// Remember the fullnat real servers (stable ids) of a service with `toa: false`.
    pub(crate) fn toa_off(
        &mut self,
        s: &VirtualService,
        servers: &[dataplane::service::RealServer],
    ) {
        if !s.toa {
            let fullnat = servers
                .iter()
                .filter(|rs| rs.forward == dataplane::service::Forward::FullNat);
            self.toa_off.extend(fullnat.map(|rs| rs.id));
        }
    }

    /// The translated pools, indexed by the ids handed out, and the real servers whose
    /// connections go without TOA.
    pub(crate) fn into_parts(self) -> (Vec<SnatPool>, Vec<u32>) {
        (self.pools, self.toa_off)
    }
}

#[cfg(test)]
mod tests {
    use crate::spec::{from_config, RealServerIds};

    const HEAD: &str = "interfaces:\n  - { name: wan0, device: net_null0, addresses: [198.18.0.254/24] }\n  - { name: lan0, device: net_null1, addresses: [198.19.0.254/24] }\n";

    fn spec(pools: &str, services: &str) -> anyhow::Result<crate::spec::DaemonSpec> {
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

    const HEAD6: &str = "interfaces:\n  - { name: wan0, device: net_null0, addresses: [198.18.0.254/24, \"2001:2::fe/64\"] }\n  - { name: lan0, device: net_null1, addresses: [198.19.0.254/24, \"2001:2:0:1::fe/64\"] }\n";

    fn spec6(text: &str) -> anyhow::Result<crate::spec::DaemonSpec> {
        let text = format!("{HEAD6}{text}");
        let cfg = config::from_str(&text, "t.yaml").map_err(|e| anyhow::anyhow!("{e}"))?;
        from_config(&cfg, &mut RealServerIds::default())
    }

    #[test]
    fn ipv6_fullnat_takes_the_pools_ipv6_addresses_and_the_toa_switch() {
        let s = spec6(
            "snat_pools:\n  - { name: p, addresses: [198.19.0.250, \"2001:2:0:1::fa\", \"2001:2:0:1::fb\"] }\nservices:\n  - { proto: tcp, vip: \"2001:2::100\", port: 80, method: fullnat, snat_pool: p, toa: false, real_servers: [ { address: \"2001:2:0:1::11\" }, { address: \"2001:2:0:1::12\" } ] }\n  - { proto: tcp, vip: 198.18.0.100, port: 80, method: fullnat, snat_pool: p, real_servers: [ { address: 198.19.0.11 } ] }\n",
        )
        .unwrap();
        let ids: Vec<_> = s.services.iter().map(|v| v.snat_pool).collect();
        assert_eq!(ids, vec![Some(0), Some(1)], "one dataplane pool per family");
        assert_eq!(
            s.snat_pools[0].addrs,
            vec![
                "2001:2:0:1::fa".parse::<std::net::IpAddr>().unwrap(),
                "2001:2:0:1::fb".parse().unwrap()
            ]
        );
        assert_eq!(
            s.snat_pools[1].addrs,
            vec!["198.19.0.250".parse::<std::net::IpAddr>().unwrap()]
        );
        let mut off = s.toa_off.clone();
        off.sort();
        let mut want: Vec<_> = s.services[0].real_servers.iter().map(|r| r.id).collect();
        want.sort();
        assert_eq!(
            off, want,
            "TOA off for the IPv6 service's real servers only"
        );
    }

    #[test]
    fn nat64_fullnat_is_refused_with_a_clear_error() {
        let e = spec6(
            "snat_pools:\n  - { name: p, addresses: [\"2001:2:0:1::fa\"] }\nservices:\n  - { proto: tcp, vip: \"2001:2::100\", port: 80, method: fullnat, snat_pool: p, real_servers: [ { address: 198.19.0.11 } ] }\n",
        )
        .unwrap_err()
        .to_string();
        // The configuration layer refuses it before spec sees it.
        assert!(
            e.contains("real server 198.19.0.11 is IPv4 but the service is IPv6"),
            "{e}"
        );
    }
}
