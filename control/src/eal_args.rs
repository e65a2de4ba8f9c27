//! Building DPDK EAL arguments from the configuration.

/// A port's device: a virtual device string (`net_af_packet0,iface=x`) or a PCI address.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Device {
    /// `--vdev=<spec>`; the ethdev name is the part before the first comma.
    Virtual {
        /// Full vdev string.
        spec: String,
        /// DPDK port name.
        name: String,
    },
    /// `-a <pci>`; the ethdev name is the PCI address.
    Pci(String),
}

impl Device {
    /// Classify a device string from the configuration.
    pub fn parse(s: &str) -> Device {
        let name = s.split(',').next().unwrap_or(s).trim().to_string();
        // PCI addresses look like 0000:01:00.0 or 01:00.0.
        let is_pci = name.contains(':')
            && name.contains('.')
            && name
                .chars()
                .all(|c| c.is_ascii_hexdigit() || c == ':' || c == '.');
        if is_pci {
            Device::Pci(s.trim().to_string())
        } else {
            Device::Virtual {
                spec: s.trim().to_string(),
                name,
            }
        }
    }

    /// The name `rte_eth_dev_get_port_by_name` knows the port by.
    pub fn port_name(&self) -> &str {
        match self {
            Device::Virtual { name, .. } => name,
            Device::Pci(spec) => spec.split(',').next().unwrap_or(spec),
        }
    }
}

/// EAL arguments: lcores, main lcore, devices, then the user's extra arguments. Unless the
/// user chose a `--file-prefix` or `--in-memory`, parallel rvsd processes are kept from
/// sharing DPDK runtime files: `--in-memory`, or with `--no-huge` (which EAL does not allow
/// with `--in-memory`) `--no-shconf` and a per-process file prefix. Adds `--no-pci` when no
/// PCI device is configured.
pub fn build(
    main_lcore: u32,
    workers: &[u32],
    devices: &[Device],
    extra: &[String],
) -> Vec<String> {
    build_for_cpus(main_lcore, workers, devices, extra, machine_cpus())
}

/// The CPUs this machine lets rvsd run on (at least 1).
pub fn machine_cpus() -> u32 {
    std::thread::available_parallelism()
        .map(|n| n.get() as u32)
        .unwrap_or(1)
}

/// Each lcore of rvsd's (the main lcore first, then the workers not equal to it) with the
/// CPU [`build_for_cpus`] runs it on: its own number when every lcore fits the machine's
/// `cpus`, else its number modulo `cpus`.
pub fn lcore_cpus(main_lcore: u32, workers: &[u32], cpus: u32) -> Vec<(u32, u32)> {
    let mut lcores = vec![main_lcore];
    lcores.extend(workers.iter().copied().filter(|w| *w != main_lcore));
    let fits = lcores.iter().all(|l| *l < cpus);
    lcores
        .into_iter()
        .map(|l| (l, if fits { l } else { l % cpus.max(1) }))
        .collect()
}

/// [`build`] for a machine with `cpus` CPUs. Each lcore runs on the CPU of the same number;
/// lcores beyond the machine's CPUs wrap around (`--lcores L@cpu`), so a small test
/// machine can still run several workers.
pub fn build_for_cpus(
    main_lcore: u32,
    workers: &[u32],
    devices: &[Device],
    extra: &[String],
    cpus: u32,
) -> Vec<String> {
    let lcores = lcore_cpus(main_lcore, workers, cpus);
    let mut args = if lcores.iter().all(|(l, cpu)| l == cpu) {
        vec![
            "-l".to_string(),
            lcores
                .iter()
                .map(|(l, _)| l.to_string())
                .collect::<Vec<_>>()
                .join(","),
        ]
    } else {
        let map = lcores
            .iter()
            .map(|(l, cpu)| format!("{l}@{cpu}"))
            .collect::<Vec<_>>()
            .join(",");
        vec![format!("--lcores={map}")]
    };
    args.extend(["--main-lcore".to_string(), main_lcore.to_string()]);
    let mut any_pci = false;
    for d in devices {
        match d {
            Device::Virtual { spec, .. } => args.push(format!("--vdev={spec}")),
            Device::Pci(spec) => {
                any_pci = true;
                args.push("-a".into());
                args.push(spec.clone());
            }
        }
    }
    if !any_pci {
        args.push("--no-pci".into());
    }
    let has = |flag: &str| {
        extra
            .iter()
            .any(|a| a == flag || a.starts_with(&format!("{flag}=")))
    };
    if !has("--file-prefix") && !has("--in-memory") {
        if has("--no-huge") {
            if !has("--no-shconf") {
                args.push("--no-shconf".into());
            }
            args.push(format!("--file-prefix=rvsd-{}", std::process::id()));
        } else {
            args.push("--in-memory".into());
        }
    }
    if !has("--log-level") {
        // EAL's own notices are noise for operators; errors still show.
        args.push("--log-level=lib.eal:error".into());
    }
    args.extend(extra.iter().cloned());
    args
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn vdev_and_pci_are_told_apart() {
        assert_eq!(
            Device::parse("net_af_packet0,iface=rvs-wan"),
            Device::Virtual {
                spec: "net_af_packet0,iface=rvs-wan".into(),
                name: "net_af_packet0".into()
            }
        );
        assert_eq!(
            Device::parse("0000:01:00.0"),
            Device::Pci("0000:01:00.0".into())
        );
        assert_eq!(Device::parse("0000:01:00.0").port_name(), "0000:01:00.0");
        assert_eq!(
            Device::parse("net_pcap1,rx_pcap=/tmp/a.pcap").port_name(),
            "net_pcap1"
        );
    }

    #[test]
    fn args_have_lcores_devices_and_isolation() {
        let a = build(
            0,
            &[1],
            &[Device::parse("net_null0")],
            &["--no-huge".into(), "-m".into(), "256".into()],
        );
        let prefix = format!("--file-prefix=rvsd-{}", std::process::id());
        assert_eq!(
            a,
            [
                "-l",
                "0,1",
                "--main-lcore",
                "0",
                "--vdev=net_null0",
                "--no-pci",
                "--no-shconf",
                &prefix,
                "--log-level=lib.eal:error",
                "--no-huge",
                "-m",
                "256"
            ]
        );
        let h = build_for_cpus(2, &[3, 2], &[], &[], 4);
        assert_eq!(&h[..4], ["-l", "2,3", "--main-lcore", "2"]);
        let w = build_for_cpus(0, &[1, 2], &[], &[], 2);
        assert_eq!(&w[..3], ["--lcores=0@0,1@1,2@0", "--main-lcore", "0"]);
        assert_eq!(lcore_cpus(0, &[1, 2], 2), [(0, 0), (1, 1), (2, 0)]);
        assert_eq!(lcore_cpus(2, &[3, 2], 4), [(2, 2), (3, 3)]);
        assert!(h.contains(&"--in-memory".to_string()));
        let b = build(
            0,
            &[1],
            &[Device::parse("0000:01:00.0")],
            &["--file-prefix=x".into()],
        );
        assert!(
            b.contains(&"-a".to_string())
                && !b.contains(&"--no-pci".to_string())
                && !b.contains(&"--in-memory".to_string())
        );
    }
}
