//! The kernel side of the exception path (see `dataplane::exception` for the packet
//! side): one DPDK `net_tap` device per data port, whose kernel interface carries the
//! director's own addresses on that port and the configured routes through it.
//!
//! The control thread configures the kernel interface once at start with `ip` (iproute2):
//! a handful of commands, off the packet path, with iproute2's own error messages when
//! something is refused. (Netlink through libc would avoid the dependency on the `ip`
//! binary but would be several hundred lines of message building for the same effect.)
//! Interfaces (and so the kernel's addresses) cannot change while rvsd runs; routes can,
//! but a reload updates only the dataplane's: the kernel keeps the routes rvsd started
//! with (restart rvsd, or change them with `ip route`, to move the kernel's).

use std::net::Ipv4Addr;
use std::path::Path;
use std::process::Command;

use anyhow::{bail, Context, Result};
use dataplane::route::Ipv4Prefix;

use crate::eal_args::Device;

/// The DPDK device of interface `index`'s kernel interface `kernel_name`. The vdev name
/// starts with `net_tap` (which selects the driver) and cannot clash with a user's
/// `net_tapN` data port.
pub fn tap_device(index: usize, kernel_name: &str) -> Device {
    Device::parse(&format!("net_tap_rvs{index},iface={kernel_name}"))
}

/// Refuse to start when an interface called `name` exists already in this network
/// namespace (another rvsd, or a clash with a real interface): net_tap would otherwise
/// fail deep inside EAL initialisation.
pub fn check_free(interface: &str, name: &str) -> Result<()> {
    if Path::new("/sys/class/net").join(name).exists() {
        bail!(
            "interface {interface}: a network interface named {name} exists already in this namespace; \
             set `kernel_name` to another name, or `exception_path: false` to run without the kernel exception path"
        );
    }
    Ok(())
}

/// Turn IPv6 off on the kernel interface before it goes up: the dataplane does not carry
/// IPv6 yet, so router solicitations, MLD and DAD from the kernel would only add noise on
/// the wire. Best effort (a kernel without IPv6 has no such switch).
pub fn quiet_ipv6(name: &str) {
    let path = format!("/proc/sys/net/ipv6/conf/{name}/disable_ipv6");
    let _ = std::fs::write(path, "1");
}

/// When a data port is itself a kernel interface read through a packet socket
/// (`net_af_packet`/`net_af_xdp` with `iface=NAME`), the kernel receives its frames too
/// (af_packet copies them; af_xdp passes on what it does not redirect). Once the kernel
/// holds the director's addresses (on the TAP), it would answer ARP and accept packets
/// arriving on `NAME` as well: duplicate ARP replies and echo replies, and the ARP owner
/// would no longer be the dataplane alone. Make the kernel ignore IPv4 on `NAME`:
/// `arp_ignore=8` (never answer ARP there) and `rp_filter=1` (the director's peers are
/// reached through the TAP, so packets arriving on `NAME` fail the strict reverse-path
/// check and are dropped). Returns the interface name when it applied.
pub fn shield_data_port(device: &str) -> Result<Option<String>> {
    let mut parts = device.split(',');
    let driver = parts.next().unwrap_or("").trim();
    let socket_pmd = ["net_af_packet", "eth_af_packet", "net_af_xdp"]
        .iter()
        .any(|d| driver.starts_with(d));
    if !socket_pmd {
        return Ok(None);
    }
    let Some(iface) = parts.find_map(|kv| kv.trim().strip_prefix("iface=")) else {
        return Ok(None);
    };
    for (key, value) in [("arp_ignore", "8"), ("rp_filter", "1")] {
        let path = format!("/proc/sys/net/ipv4/conf/{iface}/{key}");
        std::fs::write(&path, value).with_context(|| {
            format!("cannot write {path} (keeping the kernel off the data port {iface})")
        })?;
    }
    // The kernel uses the larger of `all` and the interface's value: loose (2) wins.
    if std::fs::read_to_string("/proc/sys/net/ipv4/conf/all/rp_filter")
        .map(|v| v.trim() == "2")
        .unwrap_or(false)
    {
        tracing::warn!(iface, "net.ipv4.conf.all.rp_filter is 2 (loose): the kernel may still accept packets arriving on the data port itself; set it to 0 or 1");
    }
    Ok(Some(iface.to_string()))
}

/// Bring the kernel interface `name` up with `addresses` and `routes` (prefix, gateway).
pub fn configure(
    name: &str,
    addresses: &[(Ipv4Addr, u8)],
    routes: &[(Ipv4Prefix, Ipv4Addr)],
) -> Result<()> {
    ip(&["link", "set", "dev", name, "up"])?;
    for (a, len) in addresses {
        ip(&["addr", "replace", &format!("{a}/{len}"), "dev", name])?;
    }
    for (prefix, via) in routes {
        ip(&[
            "route",
            "replace",
            &format!("{}/{}", prefix.network(), prefix.len()),
            "via",
            &via.to_string(),
            "dev",
            name,
        ])?;
    }
    Ok(())
}

/// Bring the routes through kernel interface `name` from `old` to `new` after a
/// configuration change: delete the ones that went away, replace the rest. The dataplane
/// already forwards by `new`; this keeps the kernel's own traffic (health checks, ssh)
/// on the same paths. Every route is tried; the first failure is returned.
pub fn sync_routes(
    name: &str,
    old: &[(Ipv4Prefix, Ipv4Addr)],
    new: &[(Ipv4Prefix, Ipv4Addr)],
) -> Result<()> {
    let mut first_error = None;
    let mut run = |args: &[&str]| {
        if let Err(e) = ip(args) {
            first_error.get_or_insert(e);
        }
    };
    for (prefix, via) in old.iter().filter(|r| !new.contains(r)) {
        let net = format!("{}/{}", prefix.network(), prefix.len());
        run(&["route", "del", &net, "via", &via.to_string(), "dev", name]);
    }
    for (prefix, via) in new.iter().filter(|r| !old.contains(r)) {
        let net = format!("{}/{}", prefix.network(), prefix.len());
        run(&[
            "route",
            "replace",
            &net,
            "via",
            &via.to_string(),
            "dev",
            name,
        ]);
    }
    first_error.map_or(Ok(()), Err)
}

/// Give the kernel interface `name` its port's MTU (`interfaces[].mtu`), so the
/// director's own traffic leaves in packets the port takes.
pub fn set_mtu(name: &str, mtu: u16) -> Result<()> {
    ip(&["link", "set", "dev", name, "mtu", &mtu.to_string()])
}

fn ip(args: &[&str]) -> Result<()> {
    let out = Command::new("ip")
        .args(args)
        .output()
        .context("cannot run `ip` (iproute2) to configure the exception path's kernel interface; install iproute2 or set `exception_path: false`")?;
    if !out.status.success() {
        bail!(
            "`ip {}` failed: {}",
            args.join(" "),
            String::from_utf8_lossy(&out.stderr).trim()
        );
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tap_devices_are_named_apart_from_user_devices() {
        let d = tap_device(1, "rvs-lan0");
        assert_eq!(d.port_name(), "net_tap_rvs1");
        assert_eq!(
            d,
            Device::Virtual {
                spec: "net_tap_rvs1,iface=rvs-lan0".into(),
                name: "net_tap_rvs1".into()
            }
        );
    }

    #[test]
    fn only_socket_data_ports_are_shielded() {
        assert_eq!(shield_data_port("0000:01:00.0").unwrap(), None);
        assert_eq!(shield_data_port("net_pcap0,iface=lo").unwrap(), None);
        assert_eq!(shield_data_port("net_af_packet0,qpairs=2").unwrap(), None);
    }

    #[test]
    fn an_existing_name_is_refused() {
        let e = check_free("wan0", "lo").unwrap_err().to_string();
        assert!(e.contains("named lo exists already"), "{e}");
        check_free("wan0", "rvs-no-such-if").unwrap();
    }
}
