//! What the dataplane sees: the configuration overlaid with the health state (see
//! [`crate::health`]). The configuration itself is never changed.

use std::collections::HashSet;

use config::{Config, RealServer};

use super::state::RsKey;

/// Whether a service's sorry server is in use in `effective` (its only destination).
pub fn sorry_active(vs: &config::VirtualService) -> bool {
    vs.sorry_server.is_some_and(|s| {
        vs.real_servers.iter().any(|r| r.socket_addr() == s)
            && vs
                .real_servers
                .iter()
                .all(|r| r.socket_addr() == s || r.weight == 0)
    })
}

/// The configuration the dataplane runs: `cfg` with the health state applied (see the
/// module documentation). `down` holds the servers whose checks have them down.
pub fn effective(cfg: &Config, down: &HashSet<RsKey>) -> Config {
    let mut out = cfg.clone();
    for s in &mut out.services {
        let svc = s.key.to_string();
        if let Some(hc) = &s.health_check {
            let quiescent = hc.quiescent;
            s.real_servers.retain_mut(|rs| {
                if !down.contains(&(svc.clone(), rs.socket_addr())) {
                    return true;
                }
                rs.weight = 0;
                quiescent
            });
        }
        if let Some(sorry) = s.sorry_server {
            // keepalived: the sorry server serves while no server can take a connection,
            // and only then (IPVS never schedules a weight-0 server).
            if s.real_servers.iter().all(|rs| rs.weight == 0) {
                s.real_servers.retain(|rs| rs.socket_addr() != sorry);
                s.real_servers.push(RealServer {
                    address: sorry.ip(),
                    port: sorry.port(),
                    weight: 1,
                    method: s.method,
                    upper_threshold: 0,
                    lower_threshold: 0,
                });
                // Quiescent servers stay listed with weight 0: their connections go on.
            }
        }
    }
    out
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    pub(crate) fn cfg(quiescent: bool, weights: &str) -> Config {
        let text = format!(
            "interfaces:\n  - {{ name: lan0, device: net_null0, addresses: [198.19.0.254/24] }}\nservices:\n  - proto: tcp\n    vip: 198.19.0.100\n    port: 80\n    method: masq\n    health_check: {{ type: tcp, quiescent: {quiescent} }}\n    sorry_server: 198.19.0.9:8080\n    real_servers:\n      - {{ address: 198.19.0.11, weight: {} }}\n      - {{ address: 198.19.0.12, weight: 3 }}\n",
            weights
        );
        config::from_str(&text, "t.yaml").unwrap()
    }

    fn weights(c: &Config) -> Vec<(String, u32)> {
        c.services[0]
            .real_servers
            .iter()
            .map(|r| (r.socket_addr().to_string(), r.weight))
            .collect()
    }

    pub(crate) fn key(rs: &str) -> RsKey {
        ("tcp 198.19.0.100:80".into(), rs.parse().unwrap())
    }

    #[test]
    fn overlay_quiescent_and_sorry() {
        let c = cfg(true, "2");
        let none = HashSet::new();
        assert_eq!(effective(&c, &none), c, "all up: the configuration itself");
        let one: HashSet<_> = [key("198.19.0.11:80")].into();
        let e = effective(&c, &one);
        assert_eq!(
            weights(&e),
            [("198.19.0.11:80".into(), 0), ("198.19.0.12:80".into(), 3)]
        );
        assert!(!sorry_active(&e.services[0]));
        let both: HashSet<_> = [key("198.19.0.11:80"), key("198.19.0.12:80")].into();
        let e = effective(&c, &both);
        assert_eq!(
            weights(&e),
            [
                ("198.19.0.11:80".into(), 0),
                ("198.19.0.12:80".into(), 0),
                ("198.19.0.9:8080".into(), 1)
            ]
        );
        assert!(sorry_active(&e.services[0]));
        // Configured weight 0 everywhere counts as down for the sorry server too.
        let c0 = cfg(true, "0");
        let e = effective(&c0, &[key("198.19.0.12:80")].into());
        assert_eq!(e.services[0].real_servers.last().unwrap().weight, 1);
        // The configuration is untouched.
        assert_eq!(c.services[0].real_servers.len(), 2);
    }

    #[test]
    fn overlay_not_quiescent_removes() {
        let c = cfg(false, "2");
        let e = effective(&c, &[key("198.19.0.12:80")].into());
        assert_eq!(weights(&e), [("198.19.0.11:80".into(), 2)]);
        let e = effective(&c, &[key("198.19.0.11:80"), key("198.19.0.12:80")].into());
        assert_eq!(weights(&e), [("198.19.0.9:8080".into(), 1)]);
        assert!(sorry_active(&e.services[0]));
    }
}
