//! The kernel side of the exception path (see `dataplane::exception` for the packet
//! side): one DPDK `net_tap` device per data port, whose kernel interface carries the
//! director's own addresses on that port and the configured routes through it.
//!
//! The control thread configures the kernel interface once at start with `ip` (iproute2):
//! a handful of commands, off the packet path, with iproute2's own error messages when
//! something is refused. (Netlink through libc would avoid the dependency on the `ip`
//! binary but would be several hundred lines of message building for the same effect.)
//! Addresses and routes are not changed by a reload: interfaces are fixed while rvsd runs.

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
    fn an_existing_name_is_refused() {
        let e = check_free("wan0", "lo").unwrap_err().to_string();
        assert!(e.contains("named lo exists already"), "{e}");
        check_free("wan0", "rvs-no-such-if").unwrap();
    }
}
