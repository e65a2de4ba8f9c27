//! The kernel side of the exception path (see `dataplane::exception` for the packet
//! side): one DPDK `net_tap` device per data port, whose kernel interface carries the
//! director's own addresses on that port (IPv4 and IPv6) and the configured routes
//! through it.
//!
//! The control thread configures the kernel interface once at start with `ip` (iproute2):
//! a handful of commands, off the packet path, with iproute2's own error messages when
//! something is refused. (Netlink through libc would avoid the dependency on the `ip`
//! binary but would be several hundred lines of message building for the same effect.)
//! Interfaces (and so the kernel's addresses) cannot change while rvsd runs; routes can,
//! and a reload moves the kernel's routes with the dataplane's ([`sync_routes`]).

use std::net::IpAddr;
use std::path::Path;
use std::process::Command;

use anyhow::{bail, Context, Result};

use crate::eal_args::Device;
use crate::spec::DaemonSpec;

/// A route through a kernel interface: destination network, prefix length and gateway,
/// all of one address family.
pub type KernelRoute = (IpAddr, u8, IpAddr);

/// Whether this kernel has IPv6 (not booted with `ipv6.disable=1`). Without it the
/// kernel interfaces carry IPv4 only; the dataplane still serves IPv6.
pub fn kernel_has_ipv6() -> bool {
    Path::new("/proc/sys/net/ipv6").exists()
}

/// The configured routes (IPv4, then IPv6 when the kernel has it) through interface
/// `port`, for its kernel interface.
pub fn kernel_routes(spec: &DaemonSpec, port: usize) -> Vec<KernelRoute> {
    let v4 = spec
        .routes
        .iter()
        .filter(|r| r.2 == port)
        .map(|r| (IpAddr::V4(r.0.network()), r.0.len(), IpAddr::V4(r.1)));
    let v6 = (spec.routes6.iter())
        .filter(|r| r.2 == port && kernel_has_ipv6())
        .map(|r| (IpAddr::V6(r.0.network()), r.0.len(), IpAddr::V6(r.1)));
    v4.chain(v6).collect()
}

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

/// Set up IPv6 on the kernel interface `name` before it goes up. Without IPv6 addresses
/// on its port (`ipv6: false`) IPv6 stays off there: router solicitations, MLD and DAD
/// from the kernel would only add noise on the wire. With them it is on, but quiet:
///
/// - `accept_ra=0`, `autoconf=0`, `router_solicitations=0`: the director's addresses
///   and routes come from rvs's configuration, never from a router advertisement (an RA
///   would give the kernel routes the dataplane does not have), and it solicits none;
/// - `addr_gen_mode=1` (none; best effort, older kernels lack it): no link-local
///   address of the kernel's own. The dataplane answers neighbour solicitations only for
///   the configured addresses, so a link-local one nobody could resolve would only be
///   picked as a source now and then; the kernel resolves its neighbours from its
///   global addresses instead.
///
/// IPv6 is switched off first and on again last, so that a link-local address the
/// kernel made while the interface was already up goes away. A kernel without IPv6 is
/// left alone (with a warning when the port has IPv6 addresses: the dataplane serves
/// them, but the director's own IPv6 traffic and IPv6 health checks cannot work).
pub fn setup_ipv6(name: &str, ipv6: bool) -> Result<()> {
    let conf = format!("/proc/sys/net/ipv6/conf/{name}");
    if !kernel_has_ipv6() {
        if ipv6 {
            tracing::warn!(interface = name, "the kernel has no IPv6 (booted with ipv6.disable=1?): its exception-path interface carries IPv4 only");
        }
        return Ok(());
    }
    let write = |key: &str, value: &str| std::fs::write(format!("{conf}/{key}"), value);
    let _ = write("disable_ipv6", "1");
    if !ipv6 {
        return Ok(());
    }
    for (key, value) in [
        ("accept_ra", "0"),
        ("autoconf", "0"),
        ("router_solicitations", "0"),
        ("addr_gen_mode", "1"),
    ] {
        if let Err(e) = write(key, value) {
            tracing::debug!(interface = name, key, error = %e, "IPv6 setting not applied");
        }
    }
    write("disable_ipv6", "0").with_context(|| format!("cannot turn IPv6 on for {name}"))
}

/// When a data port is itself a kernel interface read through a packet socket
/// (`net_af_packet`/`net_af_xdp` with `iface=NAME`), the kernel receives its frames too
/// (af_packet copies them; af_xdp passes on what it does not redirect). Once the kernel
/// holds the director's addresses (on the TAP), it would answer ARP and accept packets
/// arriving on `NAME` as well: duplicate ARP replies and echo replies, and the ARP owner
/// would no longer be the dataplane alone. Make the kernel ignore IPv4 on `NAME`:
/// `arp_ignore=8` (never answer ARP there) and `rp_filter=1` (the director's peers are
/// reached through the TAP, so packets arriving on `NAME` fail the strict reverse-path
/// check and are dropped). IPv6 has no reverse-path filter and accepts a packet for any
/// of its addresses on any interface: turn IPv6 off on `NAME` (`disable_ipv6=1`; the
/// packet socket still reads every frame). Returns the interface name when it applied.
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
        set_sysctl(&path, value, iface)?;
    }
    let v6 = format!("/proc/sys/net/ipv6/conf/{iface}/disable_ipv6");
    // A kernel without IPv6 has nothing to switch off.
    if Path::new(&v6).exists() {
        set_sysctl(&v6, "1", iface)?;
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

/// Set the sysctl file `path` to `value` for [`shield_data_port`], unless it already has
/// it: in a container `/proc/sys` is read-only, and the operator sets the values on the
/// host instead (the error says which).
fn set_sysctl(path: &str, value: &str, iface: &str) -> Result<()> {
    if std::fs::read_to_string(path).is_ok_and(|v| v.trim() == value) {
        return Ok(());
    }
    std::fs::write(path, value).with_context(|| {
        format!(
            "cannot write {path} (keeping the kernel off the data port {iface}); \
             if /proc/sys is read-only here (a container), run `echo {value} > {path}` on the host first"
        )
    })
}

/// Bring the kernel interface `name` up with `addresses` (IPv4 and IPv6, with prefix
/// lengths; IPv6 ones only when the kernel has IPv6) and `routes`. IPv6 addresses are `nodad`: the dataplane owns them on the wire
/// (it answers solicitations for them), so duplicate address detection would only keep
/// them tentative (unusable as a source) for a second or more after start.
pub fn configure(name: &str, addresses: &[(IpAddr, u8)], routes: &[KernelRoute]) -> Result<()> {
    ip(&["link", "set", "dev", name, "up"])?;
    for (a, len) in addresses
        .iter()
        .filter(|a| a.0.is_ipv4() || kernel_has_ipv6())
    {
        let a = format!("{a}/{len}");
        if a.contains(':') {
            ip(&["-6", "addr", "replace", &a, "dev", name, "nodad"])?;
        } else {
            ip(&["addr", "replace", &a, "dev", name])?;
        }
    }
    for r in routes {
        ip(&route_args("replace", name, r))?;
    }
    Ok(())
}

/// `ip` arguments that `verb` (replace, del) route `r` through `name`.
fn route_args(verb: &str, name: &str, r: &KernelRoute) -> Vec<String> {
    let family = if r.0.is_ipv6() { "-6" } else { "-4" };
    [
        family,
        "route",
        verb,
        &format!("{}/{}", r.0, r.1),
        "via",
        &r.2.to_string(),
        "dev",
        name,
    ]
    .map(String::from)
    .to_vec()
}

/// Bring the routes through kernel interface `name` from `old` to `new` after a
/// configuration change: delete the ones that went away, replace the rest. The dataplane
/// already forwards by `new`; this keeps the kernel's own traffic (health checks, ssh)
/// on the same paths. Every route is tried; the first failure is returned.
pub fn sync_routes(name: &str, old: &[KernelRoute], new: &[KernelRoute]) -> Result<()> {
    let mut first_error = None;
    let mut run = |args: Vec<String>| {
        if let Err(e) = ip(&args) {
            first_error.get_or_insert(e);
        }
    };
    for r in old.iter().filter(|r| !new.contains(r)) {
        run(route_args("del", name, r));
    }
    for r in new.iter().filter(|r| !old.contains(r)) {
        run(route_args("replace", name, r));
    }
    first_error.map_or(Ok(()), Err)
}

/// Give the kernel interface `name` its port's MTU (`interfaces[].mtu`), so the
/// director's own traffic leaves in packets the port takes.
pub fn set_mtu(name: &str, mtu: u16) -> Result<()> {
    ip(&["link", "set", "dev", name, "mtu", &mtu.to_string()])
}

fn ip<S: AsRef<std::ffi::OsStr>>(args: &[S]) -> Result<()> {
    let out = Command::new("ip")
        .args(args)
        .output()
        .context("cannot run `ip` (iproute2) to configure the exception path's kernel interface; install iproute2 or set `exception_path: false`")?;
    if !out.status.success() {
        bail!(
            "`ip {}` failed: {}",
            args.iter()
                .map(|a| a.as_ref().to_string_lossy())
                .collect::<Vec<_>>()
                .join(" "),
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

    /// A value already in place is accepted without writing (a container's read-only
    /// /proc/sys, set on the host); one that cannot be written says what to do.
    #[test]
    fn sysctl_already_set_is_kept_and_a_failed_write_says_where_to_set_it() {
        let dir = std::env::temp_dir().join(format!("rvs-sysctl-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let set = dir.join("arp_ignore");
        std::fs::write(&set, "8\n").unwrap();
        set_sysctl(set.to_str().unwrap(), "8", "veth0").unwrap();
        let missing = dir.join("no-such-dir/rp_filter");
        let err = set_sysctl(missing.to_str().unwrap(), "1", "veth0").unwrap_err();
        let msg = format!("{err:#}");
        assert!(
            msg.contains("data port veth0") && msg.contains("on the host"),
            "{msg}"
        );
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn routes_of_both_families_become_ip_arguments() {
        let v4: KernelRoute = (
            "198.19.128.0".parse().unwrap(),
            24,
            "198.19.0.11".parse().unwrap(),
        );
        let v6: KernelRoute = (
            "2001:2:0:80::".parse().unwrap(),
            64,
            "2001:2:0:1::11".parse().unwrap(),
        );
        assert_eq!(
            route_args("replace", "rvs-lan0", &v4).join(" "),
            "-4 route replace 198.19.128.0/24 via 198.19.0.11 dev rvs-lan0"
        );
        assert_eq!(
            route_args("del", "rvs-lan0", &v6).join(" "),
            "-6 route del 2001:2:0:80::/64 via 2001:2:0:1::11 dev rvs-lan0"
        );
    }

    #[test]
    fn an_existing_name_is_refused() {
        let e = check_free("wan0", "lo").unwrap_err().to_string();
        assert!(e.contains("named lo exists already"), "{e}");
        check_free("wan0", "rvs-no-such-if").unwrap();
    }
}
