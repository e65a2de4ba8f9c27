//! The tables workers read (services, routes, timeouts, SNAT pools), built from a spec.

use dataplane::fullnat::SnatTable;
use dataplane::pipeline::Tables;
use dataplane::route::{Ipv4Prefix, RouteTable};
use dataplane::route6::{Ipv6Prefix, RouteTable6};
use dataplane::service::{LocalAddr, LocalAddr6, ServiceTable};

use super::model::DaemonSpec;

/// The tables workers read, built from a spec: connected routes from the interfaces'
/// addresses, static routes, services, and the director's own addresses.
pub fn build_tables(spec: &DaemonSpec, generation: u64) -> Tables {
    let connected: Vec<(Ipv4Prefix, usize)> = spec
        .interfaces
        .iter()
        .enumerate()
        .flat_map(|(i, f)| {
            f.addresses
                .iter()
                .filter_map(move |&(a, l)| Ipv4Prefix::new(a, l).map(|p| (p, i)))
        })
        .collect();
    let locals: Vec<LocalAddr> = spec
        .interfaces
        .iter()
        .enumerate()
        .flat_map(|(i, f)| {
            f.addresses
                .iter()
                .map(move |&(addr, prefix_len)| LocalAddr {
                    port: i,
                    addr,
                    prefix_len,
                })
        })
        .collect();
    let connected6: Vec<(Ipv6Prefix, usize)> = spec
        .interfaces
        .iter()
        .enumerate()
        .flat_map(|(i, f)| {
            f.addresses6
                .iter()
                .filter_map(move |&(a, l)| Ipv6Prefix::new(a, l).map(|p| (p, i)))
        })
        .collect();
    let locals6: Vec<LocalAddr6> = spec
        .interfaces
        .iter()
        .enumerate()
        .flat_map(|(i, f)| {
            f.addresses6
                .iter()
                .map(move |&(addr, prefix_len)| LocalAddr6 {
                    port: i,
                    addr,
                    prefix_len,
                })
        })
        .collect();
    Tables {
        services: ServiceTable::new(spec.services.clone(), locals, generation)
            .with_locals6(locals6)
            .with_port_mtus(spec.interfaces.iter().map(|f| f.mtu).collect()),
        routes: RouteTable::new(&connected, &spec.routes),
        routes6: RouteTable6::new(&connected6, &spec.routes6),
        timeouts: spec.timeouts,
        ipvs: spec.ipvs,
        snat: SnatTable::new(spec.snat_pools.clone()).with_toa_off(&spec.toa_off),
    }
}
