//! The forwarding method: how the packets of a virtual service reach a real server.
//!
//! One type, [`ForwardMethod`], for the YAML model, ipvsadm's commands, rules and
//! listings, and the admin REST API. It has a name in each of those vocabularies; this
//! module lists them and holds the conversions between them, and its tests pin every
//! spelling (ipvsadm's option table, `ipvsadm/popt.rs`, maps the options to it):
//!
//! | LVS | [`ForwardMethod`] | IPVS, `-L` "Forward" | ipvsadm | YAML `method` | REST JSON |
//! |---|---|---|---|---|---|
//! | NAT | `Masq` | `Masq` | `-m`, `--masquerading` | `masq` | `"masq"` |
//! | DR | `Route` (default) | `Route` | `-g`, `--gatewaying` | `route` | `"route"` |
//! | TUN | `Tunnel(TunnelType)` | `Tunnel` | `-i`, `--ipip`, `--tun-*` | `tunnel`, `tunnel_*` | `{"tunnel":{"type":"ipip"}}` |
//! | FULLNAT | `FullNat` | `FullNat` | `--fullnat` (rvs only) | `fullnat` | `"fullnat"` |
//!
//! The YAML names are their own small types ([`MethodName`], [`TunnelName`],
//! [`CsumName`]) because YAML spreads one method over up to four keys, and a real server
//! inherits the keys it leaves out from its service (see `validate::method`); the
//! mapping between them and the method is here ([`ForwardMethod::yaml_keys`],
//! [`MethodName::plain`], [`TunnelName::tunnel`], `From<CsumName>`).

use serde::{Deserialize, Serialize};

use crate::text::named_enum;

/// How packets reach a real server: the IPVS "forward" method of a destination.
///
/// - NAT, IPVS's `Masq` (ipvsadm `-m`): the director rewrites the destination to the
///   real server and the source of replies back to the VIP; replies must route through it.
/// - DR, IPVS's `Route` (ipvsadm `-g`, the default): only the MAC is rewritten; the real
///   server is on a connected segment, holds the VIP itself and answers the client directly.
/// - TUN, IPVS's `Tunnel` (ipvsadm `-i` with `--tun-type`): the packet is encapsulated
///   (IPIP, GUE or GRE, see [`TunnelType`]) to the real server, which answers directly.
/// - FULLNAT, listed `FullNat` (rvs's `--fullnat`, not in IPVS upstream): destination and
///   source are rewritten, the source to a local address of the service's SNAT pool, so
///   replies come back to the director from anywhere.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ForwardMethod {
    /// NAT (`-m`), listed as `Masq`.
    Masq,
    /// Direct routing (`-g`, the default), listed as `Route`.
    #[default]
    Route,
    /// IP tunnelling (`-i`), listed as `Tunnel`.
    Tunnel(TunnelType),
    /// rvs full NAT (`--fullnat`), listed as `FullNat`.
    FullNat,
}

impl ForwardMethod {
    /// Name in the `Forward` column of `ipvsadm -L`.
    pub fn list_name(&self) -> &'static str {
        match self {
            ForwardMethod::Masq => "Masq",
            ForwardMethod::Route => "Route",
            ForwardMethod::Tunnel(_) => "Tunnel",
            ForwardMethod::FullNat => "FullNat",
        }
    }

    /// The ipvsadm option that selects it in rules (`-S`): `-m`, `-g`, `-i`, `--fullnat`.
    pub fn rule_option(&self) -> &'static str {
        match self {
            ForwardMethod::Masq => "-m",
            ForwardMethod::Route => "-g",
            ForwardMethod::Tunnel(_) => "-i",
            ForwardMethod::FullNat => "--fullnat",
        }
    }

    /// The YAML keys that write this method, every tunnel detail explicit except the
    /// default checksum option.
    pub(crate) fn yaml_keys(&self) -> YamlMethod {
        let plain = |method| YamlMethod {
            method,
            tunnel_type: None,
            tunnel_port: None,
            tunnel_csum: None,
        };
        match *self {
            ForwardMethod::Masq => plain(MethodName::Masq),
            ForwardMethod::Route => plain(MethodName::Route),
            ForwardMethod::FullNat => plain(MethodName::FullNat),
            ForwardMethod::Tunnel(t) => YamlMethod {
                method: MethodName::Tunnel,
                tunnel_type: Some(t.yaml_name()),
                tunnel_port: match t {
                    TunnelType::Gue { port, .. } => Some(port),
                    TunnelType::Ipip | TunnelType::Gre { .. } => None,
                },
                tunnel_csum: t.csum().and_then(TunnelCsum::yaml_name),
            },
        }
    }
}

/// Tunnel encapsulation of the tunnel method (`ipvsadm --tun-type`, YAML `tunnel_type`).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "lowercase")]
pub enum TunnelType {
    /// IP in IP (the IPVS default for `-i`).
    #[default]
    Ipip,
    /// Generic UDP Encapsulation to a UDP port on the real server.
    Gue {
        /// Destination UDP port of the GUE packets (`--tun-port`, `tunnel_port`; required).
        port: u16,
        /// UDP checksum option (`--tun-[no|rem]csum`, `tunnel_csum`).
        csum: TunnelCsum,
    },
    /// GRE.
    Gre {
        /// GRE checksum option (`tunnel_csum`; never `RemCsum`).
        csum: TunnelCsum,
    },
}

impl TunnelType {
    /// `ipip`, `gue` or `gre` (ipvsadm's `--tun-type` values).
    pub fn name(&self) -> &'static str {
        self.yaml_name().name()
    }

    /// The checksum option; `None` for IPIP, which has none.
    pub fn csum(&self) -> Option<TunnelCsum> {
        match *self {
            TunnelType::Ipip => None,
            TunnelType::Gue { csum, .. } | TunnelType::Gre { csum } => Some(csum),
        }
    }

    /// The YAML `tunnel_type`.
    pub(crate) fn yaml_name(&self) -> TunnelName {
        match self {
            TunnelType::Ipip => TunnelName::Ipip,
            TunnelType::Gue { .. } => TunnelName::Gue,
            TunnelType::Gre { .. } => TunnelName::Gre,
        }
    }
}

/// Checksum option of a GUE or GRE tunnel (`--tun-nocsum|--tun-csum|--tun-remcsum`).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum TunnelCsum {
    /// No checksum (the default).
    #[default]
    NoCsum,
    /// Checksum in the encapsulation header.
    Csum,
    /// Remote checksum offload (GUE only).
    RemCsum,
}

impl TunnelCsum {
    /// Short form of `--tun-info` listings (`-c`, `+c`, `r+c`).
    pub fn info(self) -> &'static str {
        match self {
            TunnelCsum::NoCsum => "-c",
            TunnelCsum::Csum => "+c",
            TunnelCsum::RemCsum => "r+c",
        }
    }

    /// Option that sets it in rules.
    pub fn rule_option(self) -> &'static str {
        match self {
            TunnelCsum::NoCsum => "--tun-nocsum",
            TunnelCsum::Csum => "--tun-csum",
            TunnelCsum::RemCsum => "--tun-remcsum",
        }
    }

    /// The YAML `tunnel_csum`; none for the default, which YAML leaves out.
    pub(crate) fn yaml_name(self) -> Option<CsumName> {
        match self {
            TunnelCsum::NoCsum => None,
            TunnelCsum::Csum => Some(CsumName::Csum),
            TunnelCsum::RemCsum => Some(CsumName::RemCsum),
        }
    }
}

/// The YAML keys of one method, as [`ForwardMethod::yaml_keys`] writes them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct YamlMethod {
    /// `method`.
    pub method: MethodName,
    /// `tunnel_type`.
    pub tunnel_type: Option<TunnelName>,
    /// `tunnel_port`.
    pub tunnel_port: Option<u16>,
    /// `tunnel_csum`.
    pub tunnel_csum: Option<CsumName>,
}

named_enum! {
    /// Forwarding method names as written in YAML (`method:`).
    pub enum MethodName ("forwarding method") {
        /// NAT.
        Masq = "masq",
        /// Direct routing.
        Route = "route",
        /// Tunnel (see `tunnel_type`).
        Tunnel = "tunnel",
        /// Full NAT.
        FullNat = "fullnat",
    }
}

impl MethodName {
    /// The method this name stands for alone; `None` for `tunnel`, whose details come
    /// from the `tunnel_*` keys (see [`TunnelName::tunnel`]).
    pub fn plain(self) -> Option<ForwardMethod> {
        match self {
            MethodName::Masq => Some(ForwardMethod::Masq),
            MethodName::Route => Some(ForwardMethod::Route),
            MethodName::FullNat => Some(ForwardMethod::FullNat),
            MethodName::Tunnel => None,
        }
    }
}

named_enum! {
    /// Tunnel types as written in YAML (`tunnel_type:`).
    pub enum TunnelName ("tunnel type") {
        /// IP in IP.
        Ipip = "ipip",
        /// Generic UDP Encapsulation.
        Gue = "gue",
        /// GRE.
        Gre = "gre",
    }
}

impl TunnelName {
    /// The tunnel of this type; IPIP takes neither `port` nor `csum`, GRE no `port`.
    pub fn tunnel(self, port: u16, csum: TunnelCsum) -> TunnelType {
        match self {
            TunnelName::Ipip => TunnelType::Ipip,
            TunnelName::Gue => TunnelType::Gue { port, csum },
            TunnelName::Gre => TunnelType::Gre { csum },
        }
    }
}

named_enum! {
    /// Tunnel checksum options as written in YAML (`tunnel_csum:`, ipvsadm's `--tun-*csum`).
    pub enum CsumName ("tunnel checksum option") {
        /// No checksum.
        NoCsum = "nocsum",
        /// Checksum.
        Csum = "csum",
        /// Remote checksum offload (GUE).
        RemCsum = "remcsum",
    }
}

impl From<CsumName> for TunnelCsum {
    fn from(c: CsumName) -> TunnelCsum {
        match c {
            CsumName::NoCsum => TunnelCsum::NoCsum,
            CsumName::Csum => TunnelCsum::Csum,
            CsumName::RemCsum => TunnelCsum::RemCsum,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every method, and every tunnel with every checksum option it may have.
    fn every_method() -> Vec<ForwardMethod> {
        let mut all = vec![
            ForwardMethod::Masq,
            ForwardMethod::Route,
            ForwardMethod::FullNat,
            ForwardMethod::Tunnel(TunnelType::Ipip),
        ];
        for csum in [TunnelCsum::NoCsum, TunnelCsum::Csum, TunnelCsum::RemCsum] {
            all.push(ForwardMethod::Tunnel(TunnelType::Gue { port: 6080, csum }));
        }
        for csum in [TunnelCsum::NoCsum, TunnelCsum::Csum] {
            all.push(ForwardMethod::Tunnel(TunnelType::Gre { csum }));
        }
        all
    }

    #[test]
    fn names_in_every_vocabulary() {
        let gue = ForwardMethod::Tunnel(TunnelType::Gue {
            port: 6080,
            csum: TunnelCsum::RemCsum,
        });
        // (method, -L name, ipvsadm option, YAML method, REST JSON)
        let table = [
            (ForwardMethod::Masq, "Masq", "-m", "masq", r#""masq""#),
            (ForwardMethod::Route, "Route", "-g", "route", r#""route""#),
            (
                ForwardMethod::Tunnel(TunnelType::Ipip),
                "Tunnel",
                "-i",
                "tunnel",
                r#"{"tunnel":{"type":"ipip"}}"#,
            ),
            (
                gue,
                "Tunnel",
                "-i",
                "tunnel",
                r#"{"tunnel":{"type":"gue","port":6080,"csum":"remcsum"}}"#,
            ),
            (
                ForwardMethod::FullNat,
                "FullNat",
                "--fullnat",
                "fullnat",
                r#""fullnat""#,
            ),
        ];
        for (m, list, option, yaml, json) in table {
            assert_eq!(m.list_name(), list, "{m:?}");
            assert_eq!(m.rule_option(), option, "{m:?}");
            assert_eq!(m.yaml_keys().method.name(), yaml, "{m:?}");
            assert_eq!(serde_json::to_string(&m).unwrap(), json, "{m:?}");
            assert_eq!(serde_json::from_str::<ForwardMethod>(json).unwrap(), m);
        }
        assert_eq!(ForwardMethod::default(), ForwardMethod::Route);
        let keys = gue.yaml_keys();
        assert_eq!(keys.tunnel_type, Some(TunnelName::Gue));
        assert_eq!(keys.tunnel_port, Some(6080));
        assert_eq!(keys.tunnel_csum, Some(CsumName::RemCsum));
    }

    #[test]
    fn yaml_keys_name_the_same_method_back() {
        for m in every_method() {
            let y = m.yaml_keys();
            let back = y.method.plain().unwrap_or_else(|| {
                let csum = y.tunnel_csum.map(TunnelCsum::from).unwrap_or_default();
                let tunnel = y.tunnel_type.expect("a tunnel writes its type");
                ForwardMethod::Tunnel(tunnel.tunnel(y.tunnel_port.unwrap_or(0), csum))
            });
            assert_eq!(back, m);
        }
    }

    #[test]
    fn a_real_server_written_as_yaml_reads_back_with_its_method() {
        for m in every_method() {
            let text = "interfaces:\n  - { name: wan0, device: net_null0, addresses: [198.18.0.254/24] }\nsnat_pools: [ { name: p, addresses: [198.18.0.250] } ]\nservices:\n  - { proto: tcp, vip: 198.18.0.100, port: 80, snat_pool: p, real_servers: [ { address: 198.18.0.11 } ] }\n";
            let mut cfg = crate::from_str(text, "t.yaml").unwrap();
            cfg.services[0].real_servers[0].method = m;
            let back = crate::from_str(&crate::to_yaml_string(&cfg), "back.yaml").unwrap();
            assert_eq!(back.services[0].real_servers[0].method, m);
        }
    }
}
