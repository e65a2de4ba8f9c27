//! The ids of services and real servers in API paths.

use std::net::{IpAddr, SocketAddr};

use axum::http::StatusCode;
use config::ipvsadm;

use super::error::ApiError;

/// Parse a service id: `tcp:198.18.0.100:80`, `udp:[2001:2::1]:53`, `fwm:10`, `fwm6:10`.
pub fn parse_service_id(id: &str) -> Result<ipvsadm::VirtualService, ApiError> {
    let bad = || {
        ApiError::new(StatusCode::BAD_REQUEST, format!("bad service id `{id}`; expected tcp:VIP:PORT, udp:VIP:PORT, sctp:VIP:PORT, fwm:MARK or fwm6:MARK")).field("service")
    };
    let (kind, rest) = id.split_once(':').ok_or_else(bad)?;
    let protocol = match kind {
        "tcp" => ipvsadm::Protocol::Tcp,
        "udp" => ipvsadm::Protocol::Udp,
        "sctp" => ipvsadm::Protocol::Sctp,
        "fwm" | "fwm6" => {
            let mark = rest.parse().map_err(|_| bad())?;
            let family = if kind == "fwm6" {
                ipvsadm::AddressFamily::Inet6
            } else {
                ipvsadm::AddressFamily::Inet
            };
            return Ok(ipvsadm::VirtualService::Fwmark { mark, family });
        }
        _ => return Err(bad()),
    };
    let sa: SocketAddr = rest.parse().map_err(|_| bad())?;
    Ok(ipvsadm::VirtualService::Inet {
        protocol,
        addr: sa.ip(),
        port: sa.port(),
    })
}

/// Parse a real-server id: `198.19.0.11:80` or `[2001:2::11]:80`.
pub fn parse_rs_id(id: &str) -> Result<(IpAddr, u16), ApiError> {
    let sa: SocketAddr = id.parse().map_err(|_| {
        ApiError::new(
            StatusCode::BAD_REQUEST,
            format!("bad real server id `{id}`; expected ADDR:PORT or [V6]:PORT"),
        )
        .field("real_server")
    })?;
    Ok((sa.ip(), sa.port()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_parse() {
        assert_eq!(
            parse_service_id("tcp:198.18.0.100:80").ok(),
            Some(ipvsadm::VirtualService::Inet {
                protocol: ipvsadm::Protocol::Tcp,
                addr: "198.18.0.100".parse().unwrap(),
                port: 80
            })
        );
        assert!(matches!(
            parse_service_id("udp:[2001:2::1]:53"),
            Ok(ipvsadm::VirtualService::Inet { port: 53, .. })
        ));
        assert_eq!(
            parse_service_id("fwm6:10").ok(),
            Some(ipvsadm::VirtualService::Fwmark {
                mark: 10,
                family: ipvsadm::AddressFamily::Inet6
            })
        );
        assert!(parse_service_id("tcp:198.18.0.100").is_err());
        assert!(parse_service_id("icmp:198.18.0.100:0").is_err());
        assert_eq!(
            parse_rs_id("198.19.0.11:80").ok(),
            Some(("198.19.0.11".parse().unwrap(), 80))
        );
        assert!(parse_rs_id("198.19.0.11").is_err());
    }
}
