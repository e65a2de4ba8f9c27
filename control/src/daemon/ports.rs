//! EAL, the data ports and the exception path's TAP ports, as rvsd starts them.

use std::net::IpAddr;
use std::sync::Arc;

use anyhow::{Context, Result};
use dataplane::dpdk::{Eal, Mempool, Port};
use tracing::info;

use crate::eal_args::{self, Device};
use crate::kernel_if;
use crate::spec::{DaemonSpec, InterfaceSpec};
use crate::state::stats::mac_str;

/// Descriptors per TAP queue: net_tap allocates a whole RX ring of mbufs per queue up
/// front (as the scatter list of one packet), and the exception path is low-rate.
const TAP_RING: u16 = 64;

/// Initialise EAL with the lcores and devices of `spec` (the data ports, then a TAP per
/// exception path). Returns EAL and the data ports' devices.
pub fn start_eal(spec: &DaemonSpec) -> Result<(Eal, Vec<Device>)> {
    let devices: Vec<Device> = spec
        .interfaces
        .iter()
        .map(|i| Device::parse(&i.device))
        .collect();
    // The exception path's TAP devices (see crate::kernel_if), after the data ports.
    let mut eal_devices = devices.clone();
    for (i, iface) in spec.interfaces.iter().enumerate() {
        if let Some(k) = &iface.kernel_name {
            kernel_if::check_free(&iface.name, k)?;
            eal_devices.push(kernel_if::tap_device(i, k));
        }
    }
    let args = eal_args::build(
        spec.main_lcore,
        &spec.worker_lcores,
        &eal_devices,
        &spec.eal_args,
    );
    info!(args = ?args, "initialising DPDK EAL");
    let eal = Eal::init(&args).context("DPDK EAL initialisation failed (check hugepages or add --no-huge to dataplane.eal_args, and the device strings)")?;
    Ok((eal, devices))
}

/// Open the data ports, one queue pair per worker.
pub fn open_data_ports(
    eal: &Eal,
    spec: &DaemonSpec,
    devices: &[Device],
    pool: &Arc<Mempool>,
) -> Result<Vec<Port>> {
    let queues = spec.worker_lcores.len() as u16;
    let mut ports = Vec::new();
    for (iface, dev) in spec.interfaces.iter().zip(devices) {
        let port = Port::open(eal, dev.port_name(), queues, pool).with_context(|| {
            format!(
                "interface {}: cannot open device {:?}",
                iface.name, iface.device
            )
        })?;
        info!(interface = %iface.name, port = port.id(), mac = %mac_str(&port.mac()), "port started");
        ports.push(port);
    }
    Ok(ports)
}

/// Bring up the exception path of every interface that has one (None for the others).
pub fn open_exception_path(
    eal: &Eal,
    spec: &DaemonSpec,
    ports: &[Port],
    pool: &Arc<Mempool>,
) -> Result<Vec<Option<Port>>> {
    let mut taps = Vec::new();
    for (i, iface) in spec.interfaces.iter().enumerate() {
        let tap = match &iface.kernel_name {
            Some(k) => Some(open_tap(eal, spec, i, k, &ports[i], pool)?),
            None => None,
        };
        taps.push(tap);
    }
    Ok(taps)
}

/// The TAP port of interface `i` and its kernel interface `k`: the data port's MAC
/// (frames pass between them unchanged), one queue pair per worker, the port's addresses
/// and the routes through it.
fn open_tap(
    eal: &Eal,
    spec: &DaemonSpec,
    i: usize,
    k: &str,
    data_port: &Port,
    pool: &Arc<Mempool>,
) -> Result<Port> {
    let iface: &InterfaceSpec = &spec.interfaces[i];
    let queues = spec.worker_lcores.len() as u16;
    kernel_if::setup_ipv6(k, !iface.addresses6.is_empty())
        .with_context(|| format!("interface {}", iface.name))?;
    if let Some(data_if) = kernel_if::shield_data_port(&iface.device)
        .with_context(|| format!("interface {}", iface.name))?
    {
        info!(interface = %iface.name, kernel = %data_if, "kernel set to ignore IPv4 and IPv6 arriving on the data port itself");
    }
    let dev = kernel_if::tap_device(i, k);
    let mut tap =
        Port::open_with_ring(eal, dev.port_name(), queues, pool, TAP_RING).with_context(|| {
            format!(
                "interface {}: cannot open its kernel interface {k}",
                iface.name
            )
        })?;
    tap.set_mac(data_port.mac())
        .with_context(|| format!("interface {}: cannot set the MAC of {k}", iface.name))?;
    let routes = kernel_if::kernel_routes(spec, i);
    let addresses: Vec<(IpAddr, u8)> = (iface.addresses.iter())
        .map(|&(a, len)| (a.into(), len))
        .chain(iface.addresses6.iter().map(|&(a, len)| (a.into(), len)))
        .collect();
    kernel_if::configure(k, &addresses, &routes)
        .with_context(|| format!("interface {}: cannot configure {k}", iface.name))?;
    kernel_if::set_mtu(k, iface.mtu).with_context(|| {
        format!(
            "interface {}: cannot set mtu {} on {k}",
            iface.name, iface.mtu
        )
    })?;
    info!(interface = %iface.name, kernel = %k, port = tap.id(), "exception path up");
    Ok(tap)
}
