//! The `real_servers` of a virtual service: method (inherited from the service), port,
//! weight, thresholds, family and reachability, and duplicates.

use std::net::SocketAddr;

use super::method::resolve_method;
use super::network::unreachable;
use super::problems::{family, Problems};
use crate::forward::ForwardMethod;
use crate::locate::Path;
use crate::model::{Config, RealServer, MAX_WEIGHT};
use crate::raw::RawRealServer;

/// What a real server's checks need to know of its service.
pub struct ServiceFacts {
    /// The virtual port; `None` for a firewall-mark service.
    pub port: Option<u16>,
    /// Whether the service is IPv6.
    pub ipv6: bool,
    /// The service's method, which a real server inherits.
    pub method: ForwardMethod,
}

/// Checks the real servers of the service at `at`, in file order.
pub fn real_servers(
    raw: Vec<RawRealServer>,
    svc: &ServiceFacts,
    cfg: &Config,
    at: &Path,
    p: &mut Problems<'_>,
) -> Vec<RealServer> {
    let mut out: Vec<RealServer> = Vec::with_capacity(raw.len());
    for (j, rs) in raw.into_iter().enumerate() {
        let rp = at.key("real_servers").index(j);
        let server = real_server(rs, svc, cfg, &rp, p);
        if let Some(k) = out
            .iter()
            .position(|o| o.address == server.address && o.port == server.port)
        {
            let line = p.line_of(&at.key("real_servers").index(k));
            p.at(&rp, format!("duplicate real server {}; expected each address and port once (already defined at line {line})", SocketAddr::new(server.address, server.port)));
        }
        out.push(server);
    }
    out
}

fn real_server(
    rs: RawRealServer,
    svc: &ServiceFacts,
    cfg: &Config,
    rp: &Path,
    p: &mut Problems<'_>,
) -> RealServer {
    let address = rs.address.0;
    let m = resolve_method(
        rs.method,
        rs.tunnel_type,
        rs.tunnel_port.map(|t| t.0),
        rs.tunnel_csum,
        svc.method,
        rp,
        p,
    );
    let port = match (rs.port.map(|x| x.0), svc.port) {
        (Some(pt), Some(sp))
            if pt != sp && matches!(m, ForwardMethod::Route | ForwardMethod::Tunnel(_)) =>
        {
            p.at(&rp.key("port"), format!("port {pt} differs from the service port {sp}, but {} forwarding cannot change ports; expected port {sp} or method masq or fullnat", if m == ForwardMethod::Route { "route (DR)" } else { "tunnel" }));
            pt
        }
        (Some(pt), _) => pt,
        (None, sp) => sp.unwrap_or(0),
    };
    let weight = rs.weight.unwrap_or(1);
    if weight > MAX_WEIGHT {
        p.at(
            &rp.key("weight"),
            format!("weight {weight} is out of range; expected 0..={MAX_WEIGHT}"),
        );
    }
    let (upper_threshold, lower_threshold) = thresholds(&rs, rp, p);
    let ipv6 = svc.ipv6;
    if address.is_ipv6() != ipv6 && !matches!(m, ForwardMethod::Tunnel(_)) {
        p.at(&rp.key("address"), format!("real server {address} is {} but the service is {}; expected the service's family (mixed families only with tunnel)", family(address), if ipv6 { "IPv6" } else { "IPv4" }));
    } else if let Some(msg) = unreachable(
        cfg,
        p.scope,
        address,
        "real server",
        m == ForwardMethod::Route,
    ) {
        p.at(&rp.key("address"), msg);
    }
    RealServer {
        address,
        port,
        weight,
        method: m,
        upper_threshold,
        lower_threshold,
    }
}

/// `upper_threshold` and `lower_threshold` (0 = none), as ipvsadm and the kernel take them.
fn thresholds(rs: &RawRealServer, rp: &Path, p: &mut Problems<'_>) -> (u32, u32) {
    let upper_threshold = rs.upper_threshold.unwrap_or(0);
    let lower_threshold = rs.lower_threshold.unwrap_or(0);
    // ipvsadm -x/-y take 0..=INT_MAX; keep every YAML file expressible as rules.
    for (key, v) in [
        ("upper_threshold", upper_threshold),
        ("lower_threshold", lower_threshold),
    ] {
        if v > i32::MAX as u32 {
            p.at(
                &rp.key(key),
                format!(
                    "{key} {v} is out of range; expected 0..={} as ipvsadm -x/-y",
                    i32::MAX
                ),
            );
        }
    }
    // The kernel refuses lower > upper even without an upper threshold (ERANGE in
    // ip_vs_add_dest/ip_vs_edit_dest), so a YAML file and `ipvsadm -a ... -y` agree.
    if lower_threshold > upper_threshold {
        p.at(&rp.key("lower_threshold"), format!("lower_threshold {lower_threshold} is above upper_threshold {upper_threshold}; expected lower <= upper"));
    }
    (upper_threshold, lower_threshold)
}
