//! The tables workers read (services, routes, timeouts, SNAT pools), built from a spec.

use dataplane::route::{Ipv4Prefix, RouteTable};
use dataplane::route::{Ipv6Prefix, RouteTable6};
use dataplane::service::{LocalAddr, LocalAddr6, ServiceTable};
use dataplane::tables::Tables;
use dataplane::xmit::fullnat::SnatTable;

use super::model::{DaemonSpec, InterfaceSpec};

/// The tables workers read, built from a spec: connected routes from the interfaces'
/// addresses, static routes, services, and the director's own addresses.
pub fn build_tables(spec: &DaemonSpec, generation: u64) -> Tables {
    let v4 = |f: &InterfaceSpec| f.addresses.clone();
    let v6 = |f: &InterfaceSpec| f.addresses6.clone();
    let connected = per_address(spec, v4, |port, a, l| {
        Ipv4Prefix::new(a, l).map(|p| (p, port))
    });
    let connected6 = per_address(spec, v6, |port, a, l| {
        Ipv6Prefix::new(a, l).map(|p| (p, port))
    });
    let locals = per_address(spec, v4, |port, addr, prefix_len| {
        Some(LocalAddr {
            port,
            addr,
            prefix_len,
        })
    });
    let locals6 = per_address(spec, v6, |port, addr, prefix_len| {
        Some(LocalAddr6 {
            port,
            addr,
            prefix_len,
        })
    });
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

/// `f(port index, address, prefix length)` for every address `addrs` gives of every
/// interface, keeping the `Some`s.
fn per_address<A, T>(
    spec: &DaemonSpec,
    addrs: impl Fn(&InterfaceSpec) -> Vec<(A, u8)>,
    f: impl Fn(usize, A, u8) -> Option<T>,
) -> Vec<T> {
    let mut out = Vec::new();
    for (port, iface) in spec.interfaces.iter().enumerate() {
        out.extend(addrs(iface).into_iter().filter_map(|(a, l)| f(port, a, l)));
    }
    out
}
