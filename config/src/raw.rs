//! The YAML schema as serde types: exactly what a file may contain, nothing resolved.
//!
//! Every struct denies unknown keys. Optional keys are `Option` (or default to empty) so
//! that validation can tell "absent" from "given" and apply IPVS's defaults itself.
//! The model converts back into these types to be written as YAML.

use std::net::{IpAddr, SocketAddr};
use std::path::PathBuf;
use std::time::Duration;

use serde::de::{self, Deserializer, MapAccess, Visitor};
use serde::{Deserialize, Serialize, Serializer};

use crate::forward::{CsumName, MethodName, TunnelName};
use crate::model::{Polling, Protocol, Scheduler, SchedulerFlag, ServiceAddr};
use crate::net::{IpNet, Netmask, PortRange};
use crate::text::{named_enum, Port, Text};

/// Top-level keys, in the order they are documented.
pub const TOP_LEVEL_KEYS: &[&str] = &[
    "dataplane",
    "interfaces",
    "routes",
    "snat_pools",
    "timeouts",
    "ipvs",
    "services",
    "health",
    "admin",
];

#[derive(Debug, Default, Deserialize, Serialize)]
#[serde(deny_unknown_fields, default)]
pub struct RawConfig {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub dataplane: Option<RawDataplane>,
    pub interfaces: Vec<RawInterface>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub routes: Vec<RawRoute>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub snat_pools: Vec<RawSnatPool>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub timeouts: Option<RawTimeouts>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub ipvs: Option<RawIpvs>,
    pub services: Vec<RawService<RawRealServer>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub health: Option<RawHealth>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub admin: Option<RawAdmin>,
}

#[derive(Debug, Default, Deserialize, Serialize)]
#[serde(deny_unknown_fields, default)]
pub struct RawDataplane {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub main_lcore: Option<u32>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub worker_lcores: Option<Vec<u32>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub polling: Option<Polling>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub eal_args: Vec<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub mbufs: Option<u32>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub connections_per_worker: Option<u32>,
    pub exception_rate: Option<u32>,
}

#[derive(Debug, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct RawInterface {
    pub name: String,
    pub device: String,
    #[serde(default)]
    pub addresses: Vec<Text<IpNet>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub exception_path: Option<bool>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub kernel_name: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub mtu: Option<u16>,
}

#[derive(Debug, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct RawRoute {
    pub prefix: Text<IpNet>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub via: Option<Text<IpAddr>>,
    pub interface: String,
}

#[derive(Debug, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct RawSnatPool {
    pub name: String,
    pub addresses: Vec<Text<IpAddr>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ports: Option<Text<PortRange>>,
}

#[derive(Debug, Default, Deserialize, Serialize)]
#[serde(deny_unknown_fields, default)]
pub struct RawTimeouts {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub tcp: Option<u32>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub tcp_fin: Option<u32>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub udp: Option<u32>,
}

#[derive(Debug, Default, Deserialize, Serialize)]
#[serde(deny_unknown_fields, default)]
pub struct RawIpvs {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub expire_nodest_conn: Option<bool>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub expire_quiescent_template: Option<bool>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reset_unknown_conn: Option<bool>,
}

named_enum! {
    /// Health check types as written in YAML.
    pub enum CheckName ("health check type") {
        /// TCP connect.
        Tcp = "tcp",
        /// HTTP GET.
        Http = "http",
        /// HTTPS GET (TLS, the certificate not verified).
        Https = "https",
        /// External program.
        Exec = "exec",
        /// DNS query over UDP.
        Dns = "dns",
    }
}

/// A virtual service; `R` is the real-server type, [`de::IgnoredAny`] when only the
/// service's own keys are being checked.
#[derive(Debug, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct RawService<R> {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub proto: Option<Protocol>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub vip: Option<Text<IpAddr>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub port: Option<Port>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub fwmark: Option<u32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub members: Option<Vec<Text<ServiceAddr>>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub scheduler: Option<Scheduler>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub scheduler_flags: Vec<SchedulerFlag>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub mh_table_size: Option<u32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub persistence: Option<RawPersistence>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub one_packet: Option<bool>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub method: Option<MethodName>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tunnel_type: Option<TunnelName>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tunnel_port: Option<Port>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tunnel_csum: Option<CsumName>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub snat_pool: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub toa: Option<bool>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub health_check: Option<RawHealthCheck>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sorry_server: Option<Text<SocketAddr>>,
    #[serde(default = "Vec::new")]
    pub real_servers: Vec<R>,
}

#[derive(Debug, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct RawRealServer {
    pub address: Text<IpAddr>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub port: Option<Port>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub weight: Option<u32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub method: Option<MethodName>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tunnel_type: Option<TunnelName>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tunnel_port: Option<Port>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tunnel_csum: Option<CsumName>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub upper_threshold: Option<u32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub lower_threshold: Option<u32>,
}

/// `persistence:` is `true`/`false`, a timeout in seconds, or a mapping.
#[derive(Debug, PartialEq, Eq)]
pub enum RawPersistence {
    /// `false`.
    Off,
    /// `true`, a number, or a mapping.
    On(RawPersistenceMap),
}

#[derive(Debug, Default, PartialEq, Eq, Deserialize, Serialize)]
#[serde(deny_unknown_fields, default)]
pub struct RawPersistenceMap {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub timeout: Option<u32>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub netmask: Option<Text<Netmask>>,
}

impl Serialize for RawPersistence {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        match self {
            RawPersistence::Off => s.serialize_bool(false),
            RawPersistence::On(m) => m.serialize(s),
        }
    }
}

impl<'de> Deserialize<'de> for RawPersistence {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<RawPersistence, D::Error> {
        d.deserialize_any(PersistenceVisitor)
    }
}

struct PersistenceVisitor;

impl<'de> Visitor<'de> for PersistenceVisitor {
    type Value = RawPersistence;
    fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("true, false, a timeout in seconds, or a mapping with `timeout` and `netmask`")
    }
    fn visit_bool<E: de::Error>(self, v: bool) -> Result<RawPersistence, E> {
        Ok(if v {
            RawPersistence::On(RawPersistenceMap::default())
        } else {
            RawPersistence::Off
        })
    }
    fn visit_u64<E: de::Error>(self, v: u64) -> Result<RawPersistence, E> {
        let timeout = u32::try_from(v).map_err(|_| {
            E::custom(format!(
                "persistence timeout {v} is too large; expected 1..=4294967295 seconds"
            ))
        })?;
        Ok(RawPersistence::On(RawPersistenceMap {
            timeout: Some(timeout),
            netmask: None,
        }))
    }
    fn visit_i64<E: de::Error>(self, v: i64) -> Result<RawPersistence, E> {
        match u64::try_from(v) {
            Ok(u) => self.visit_u64(u),
            Err(_) => Err(E::custom(format!(
                "persistence timeout {v} is negative; expected 1..=4294967295 seconds"
            ))),
        }
    }
    fn visit_map<A: MapAccess<'de>>(self, map: A) -> Result<RawPersistence, A::Error> {
        RawPersistenceMap::deserialize(de::value::MapAccessDeserializer::new(map))
            .map(RawPersistence::On)
    }
}

#[derive(Debug, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct RawHealthCheck {
    #[serde(rename = "type")]
    pub kind: CheckName,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub path: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub expect_status: Option<u16>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub host: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub expect_body: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub command: Option<PathBuf>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub args: Vec<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub query_name: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub port: Option<Port>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub interval: Option<Text<Duration>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub timeout: Option<Text<Duration>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rise: Option<u32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub fall: Option<u32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub quiescent: Option<bool>,
}

#[derive(Debug, Default, Deserialize, Serialize)]
#[serde(deny_unknown_fields, default)]
pub struct RawHealth {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub exec_user: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub exec_dir: Option<PathBuf>,
}

#[derive(Debug, Default, Deserialize, Serialize)]
#[serde(deny_unknown_fields, default)]
pub struct RawAdmin {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub listen: Option<Text<SocketAddr>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub token_file: Option<PathBuf>,
}
