//! The difference between two configurations, service by service, as the API reports
//! what a change does.

use config::{Config, ServiceKey, VirtualService};
use serde::Serialize;

/// What changing one virtual service does.
#[derive(Debug, Clone, Default, Serialize, PartialEq, Eq)]
pub struct ServiceChange {
    /// The service (`tcp 198.18.0.100:80` or `fwmark 10`).
    pub service: String,
    /// Settings that differ (scheduler, persistence, ...).
    pub settings: Vec<String>,
    /// Real servers added (`addr:port`).
    pub real_servers_added: Vec<String>,
    /// Real servers removed.
    pub real_servers_removed: Vec<String>,
    /// Real servers whose weight, method or thresholds change.
    pub real_servers_changed: Vec<String>,
}

/// The difference between two configurations, as the API reports it.
#[derive(Debug, Clone, Default, Serialize, PartialEq, Eq)]
pub struct ConfigDiff {
    /// Services only in the new configuration.
    pub services_added: Vec<String>,
    /// Services only in the old configuration.
    pub services_removed: Vec<String>,
    /// Services in both, with differences.
    pub services_changed: Vec<ServiceChange>,
    /// Other sections that differ (routes, timeouts, ipvs, snat_pools, admin).
    pub sections_changed: Vec<String>,
}

impl ConfigDiff {
    /// True when nothing changes.
    pub fn is_empty(&self) -> bool {
        *self == ConfigDiff::default()
    }
}

fn key_name(k: &ServiceKey) -> String {
    k.to_string()
}

fn service_change(old: &VirtualService, new: &VirtualService) -> Option<ServiceChange> {
    let mut c = ServiceChange {
        service: key_name(&new.key),
        ..Default::default()
    };
    if old.scheduler != new.scheduler || old.scheduler_flags != new.scheduler_flags {
        c.settings.push("scheduler".into());
    }
    if old.persistence != new.persistence {
        c.settings.push("persistence".into());
    }
    if old.one_packet != new.one_packet {
        c.settings.push("one_packet".into());
    }
    if old.snat_pool != new.snat_pool {
        c.settings.push("snat_pool".into());
    }
    if old.toa != new.toa {
        c.settings.push("toa".into());
    }
    if old.health_check != new.health_check {
        c.settings.push("health_check".into());
    }
    if old.sorry_server != new.sorry_server {
        c.settings.push("sorry_server".into());
    }
    if old.key != new.key {
        c.settings.push("members".into());
    }
    for rs in &new.real_servers {
        match old
            .real_servers
            .iter()
            .find(|o| o.socket_addr() == rs.socket_addr())
        {
            None => c.real_servers_added.push(rs.socket_addr().to_string()),
            Some(o) if o != rs => c.real_servers_changed.push(rs.socket_addr().to_string()),
            Some(_) => {}
        }
    }
    for o in &old.real_servers {
        if !new
            .real_servers
            .iter()
            .any(|rs| rs.socket_addr() == o.socket_addr())
        {
            c.real_servers_removed.push(o.socket_addr().to_string());
        }
    }
    let unchanged = c.settings.is_empty()
        && c.real_servers_added.is_empty()
        && c.real_servers_removed.is_empty()
        && c.real_servers_changed.is_empty();
    (!unchanged).then_some(c)
}

/// Compare two configurations service by service.
pub fn diff(old: &Config, new: &Config) -> ConfigDiff {
    let same_service = |a: &VirtualService, b: &VirtualService| match (&a.key, &b.key) {
        (ServiceKey::Addr(x), ServiceKey::Addr(y)) => x == y,
        (ServiceKey::Fwmark { mark: x, .. }, ServiceKey::Fwmark { mark: y, .. }) => x == y,
        _ => false,
    };
    let mut d = ConfigDiff::default();
    for n in &new.services {
        match old.services.iter().find(|o| same_service(o, n)) {
            None => d.services_added.push(key_name(&n.key)),
            Some(o) => d.services_changed.extend(service_change(o, n)),
        }
    }
    for o in &old.services {
        if !new.services.iter().any(|n| same_service(o, n)) {
            d.services_removed.push(key_name(&o.key));
        }
    }
    if old.routes != new.routes {
        d.sections_changed.push("routes".into());
    }
    if old.timeouts != new.timeouts {
        d.sections_changed.push("timeouts".into());
    }
    if old.ipvs != new.ipvs {
        d.sections_changed.push("ipvs".into());
    }
    if old.snat_pools != new.snat_pools {
        d.sections_changed.push("snat_pools".into());
    }
    if old.admin != new.admin {
        d.sections_changed.push("admin".into());
    }
    d
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cfg(extra_rs: &str, sched: &str) -> Config {
        let text = format!(
            "interfaces:\n  - {{ name: wan0, device: net_null0, addresses: [198.18.0.254/24] }}\nservices:\n  - proto: tcp\n    vip: 198.18.0.100\n    port: 80\n    scheduler: {sched}\n    method: masq\n    real_servers:\n      - {{ address: 198.18.0.11 }}\n{extra_rs}"
        );
        config::from_str(&text, "test.yaml").unwrap()
    }

    #[test]
    fn diff_names_services_and_real_servers() {
        let a = cfg("", "rr");
        let b = cfg("      - { address: 198.18.0.12, weight: 3 }\n", "wrr");
        let d = diff(&a, &b);
        assert!(d.services_added.is_empty() && d.services_removed.is_empty());
        assert_eq!(d.services_changed.len(), 1);
        let c = &d.services_changed[0];
        assert_eq!(c.service, "tcp 198.18.0.100:80");
        assert_eq!(c.settings, vec!["scheduler"]);
        assert_eq!(c.real_servers_added, vec!["198.18.0.12:80"]);
        let back = diff(&b, &a);
        assert_eq!(
            back.services_changed[0].real_servers_removed,
            vec!["198.18.0.12:80"]
        );
        assert!(diff(&a, &a).is_empty());
    }
}
