//! Configuration -> [`DaemonSpec`]. TEMPORARY minimal YAML reader until `config` lands.

use std::net::Ipv4Addr;
use std::path::Path;

use anyhow::{anyhow, bail, Context, Result};
use dataplane::conns::Timeouts;
use dataplane::route::Ipv4Prefix;
use dataplane::service::{proto, Forward, RealServer, VirtualService};
use dataplane::worker::Polling;
use serde::Deserialize;

use crate::daemon::{DaemonSpec, InterfaceSpec};

#[derive(Deserialize)]
struct Y {
    #[serde(default)]
    dataplane: Option<YD>,
    interfaces: Vec<YI>,
    #[serde(default)]
    routes: Vec<YR>,
    #[serde(default)]
    services: Vec<YS>,
    #[serde(default)]
    admin: Option<YA>,
}
#[derive(Deserialize)]
struct YA {
    listen: Option<std::net::SocketAddr>,
    token_file: Option<std::path::PathBuf>,
}
#[derive(Deserialize)]
struct YD {
    main_lcore: Option<u32>,
    worker_lcores: Option<Vec<u32>>,
    polling: Option<String>,
    #[serde(default)]
    eal_args: Vec<String>,
    mbufs: Option<u32>,
}
#[derive(Deserialize)]
struct YI {
    name: String,
    device: String,
    addresses: Vec<String>,
}
#[derive(Deserialize)]
struct YR {
    prefix: String,
    via: Ipv4Addr,
    interface: String,
}
#[derive(Deserialize)]
struct YS {
    proto: String,
    vip: Ipv4Addr,
    port: u16,
    #[serde(default)]
    method: Option<String>,
    #[serde(default)]
    scheduler: Option<String>,
    real_servers: Vec<Yrs>,
}
#[derive(Deserialize)]
struct Yrs {
    address: Ipv4Addr,
    port: Option<u16>,
    weight: Option<u32>,
}

fn cidr(s: &str) -> Result<(Ipv4Addr, u8)> {
    let (a, l) = s
        .split_once('/')
        .ok_or_else(|| anyhow!("{s}: expected address/prefix-length"))?;
    Ok((a.parse()?, l.parse()?))
}

/// Load a configuration file into a daemon spec.
pub fn load(path: &Path) -> Result<DaemonSpec> {
    let text =
        std::fs::read_to_string(path).with_context(|| format!("cannot read {}", path.display()))?;
    let y: Y = serde_yaml::from_str(&text).with_context(|| format!("{}", path.display()))?;
    let d = y.dataplane.unwrap_or(YD {
        main_lcore: None,
        worker_lcores: None,
        polling: None,
        eal_args: vec![],
        mbufs: None,
    });
    let interfaces = y
        .interfaces
        .iter()
        .map(|i| {
            Ok(InterfaceSpec {
                name: i.name.clone(),
                device: i.device.clone(),
                addresses: i.addresses.iter().map(|a| cidr(a)).collect::<Result<_>>()?,
            })
        })
        .collect::<Result<Vec<_>>>()?;
    let mut routes = vec![];
    for r in &y.routes {
        let (a, l) = cidr(&r.prefix)?;
        let idx = interfaces
            .iter()
            .position(|i| i.name == r.interface)
            .ok_or_else(|| anyhow!("unknown interface {}", r.interface))?;
        routes.push((
            Ipv4Prefix::new(a, l).ok_or_else(|| anyhow!("bad prefix"))?,
            r.via,
            idx,
        ));
    }
    let mut services = vec![];
    for s in &y.services {
        let p = match s.proto.as_str() {
            "tcp" => proto::TCP,
            "udp" => proto::UDP,
            o => bail!("unsupported proto {o}"),
        };
        if s.method.as_deref().unwrap_or("masq") != "masq" {
            bail!("only masq is supported");
        }
        let _ = &s.scheduler;
        services.push(VirtualService {
            proto: p,
            vip: s.vip,
            port: s.port,
            real_servers: s
                .real_servers
                .iter()
                .map(|r| RealServer {
                    addr: r.address,
                    port: r.port.unwrap_or(s.port),
                    weight: r.weight.unwrap_or(1),
                    forward: Forward::Masq,
                })
                .collect(),
        });
    }
    Ok(DaemonSpec {
        main_lcore: d.main_lcore.unwrap_or(0),
        worker_lcores: d.worker_lcores.unwrap_or_else(|| vec![1]),
        polling: if d.polling.as_deref() == Some("busy") {
            Polling::Busy
        } else {
            Polling::Adaptive
        },
        eal_args: d.eal_args,
        mbufs: d.mbufs.unwrap_or(16383),
        interfaces,
        routes,
        services,
        timeouts: Timeouts::default(),
        conn_capacity: 1 << 16,
        admin_listen: Some(
            y.admin
                .as_ref()
                .and_then(|a| a.listen)
                .unwrap_or_else(|| "127.0.0.1:9180".parse().expect("valid")),
        ),
        admin_token: match y.admin.as_ref().and_then(|a| a.token_file.as_ref()) {
            Some(f) => Some(
                std::fs::read_to_string(f)
                    .with_context(|| format!("cannot read admin.token_file {}", f.display()))?
                    .trim()
                    .to_string(),
            ),
            None => None,
        },
    })
}
