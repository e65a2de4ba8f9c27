//! ipvsadm commands on the running configuration: every change is an [`IpvsCommand`]
//! replayed on an ipvsadm rule table built from the running configuration (so refusals
//! are exactly the kernel's), then turned back into the model, validated and applied as
//! a whole.

use config::convert;
use config::ipvsadm::{IpvsCommand, OpError, RuleTable, TimeoutsView};
use config::Config;

use super::control_plane::ControlPlane;

/// Why an ipvsadm-style change failed.
#[derive(Debug)]
pub enum IpvsChangeError {
    /// Refused as IPVS refuses (exists, no such service...).
    Op(OpError),
    /// The result is not a valid configuration.
    Invalid(Vec<String>),
    /// Valid, but this daemon cannot run it.
    Rejected(Vec<String>),
}

/// The running services as an ipvsadm rule table.
pub fn rule_table(cfg: &Config) -> RuleTable {
    let t = cfg.timeouts;
    RuleTable::from_parts(
        cfg.services.iter().map(convert::service_rule).collect(),
        TimeoutsView {
            tcp: t.tcp,
            tcp_fin: t.tcp_fin,
            udp: t.udp,
        },
    )
}

/// Turn a rule table back into a configuration, keeping per-service settings ipvsadm
/// cannot express from the running one.
fn config_from_table(cur: &Config, table: &RuleTable) -> Result<Config, IpvsChangeError> {
    let mut new = cur.clone();
    new.services.clear();
    for rule in table.services() {
        let base = cur
            .services
            .iter()
            .find(|s| convert::is_service(s, &rule.service.service));
        let mut vs = convert::service_from_config(&rule.service, base)
            .map_err(|e| IpvsChangeError::Invalid(vec![e.to_string()]))?;
        vs.real_servers = rule.real_servers.iter().map(convert::real_server).collect();
        new.services.push(vs);
    }
    let t = table.timeouts();
    new.timeouts = config::Timeouts {
        tcp: t.tcp,
        tcp_fin: t.tcp_fin,
        udp: t.udp,
    };
    Ok(new)
}

/// Apply ipvsadm commands in order on the running configuration, all or nothing.
pub fn apply_commands(
    plane: &mut ControlPlane,
    cmds: &[IpvsCommand],
) -> Result<(), IpvsChangeError> {
    let mut table = rule_table(plane.config());
    for c in cmds {
        table.apply(c).map_err(IpvsChangeError::Op)?;
    }
    commit_table(plane, &table)
}

/// Make a changed rule table the running configuration: back to the model, validated,
/// applied as a whole.
pub fn commit_table(plane: &mut ControlPlane, table: &RuleTable) -> Result<(), IpvsChangeError> {
    let new = config_from_table(plane.config(), table)?;
    let new = new.revalidate().map_err(|e| {
        IpvsChangeError::Invalid(e.errors().iter().map(|e| e.message.clone()).collect())
    })?;
    // The same limits as POST /v1/config (admin section, exec checks) as a safeguard.
    plane
        .apply_from_api(new, false)
        .map_err(|r| IpvsChangeError::Rejected(r.errors))?;
    Ok(())
}
