//! Hardware steering of FULLNAT replies (rte_flow), where a port supports it.
//!
//! A FULLNAT reply belongs to the worker whose share of the local ports holds its
//! destination port (`fullnat::port_owner`: `lport % workers`). With a power-of-two worker
//! count that is `lport & (workers - 1)`, which a NIC's flow rules can match: one rule per
//! (local address, protocol, worker) sends the replies straight to the owner's RX queue,
//! as DPVS does with flow director rules, and no steering ring is crossed. Everything else
//! (client traffic, whose owner is a hash of the client address a NIC cannot compute) and
//! every port without flow rules keeps the software steering, which stays in force for all
//! packets anyway: a rule only saves the hop. Rules are installed once at start (the pools
//! of the start configuration; a reload that adds local addresses leaves their replies to
//! software steering).

use std::net::IpAddr;

use dataplane::dpdk::Port;
use dataplane::xmit::fullnat::SnatTable;
use tracing::{info, warn};

/// What became of one port.
#[derive(Debug, PartialEq, Eq)]
pub enum Outcome {
    /// Nothing to steer: one worker, or no SNAT pool.
    NotNeeded,
    /// Software steering only, and why.
    Software(String),
    /// This many rules installed.
    Rules(usize),
}

/// Install the reply-steering rules on every port that takes them; log per port what
/// happened. `names` are the interfaces' names, in port order.
pub fn install_fullnat_rules(
    ports: &[Port],
    names: &[String],
    snat: &SnatTable,
    workers: usize,
) -> Vec<Outcome> {
    let mut lips: Vec<IpAddr> = snat
        .pools()
        .iter()
        .flat_map(|p| p.addrs.iter().copied())
        .collect();
    lips.sort();
    lips.dedup();
    ports
        .iter()
        .zip(names)
        .map(|(port, name)| {
            let outcome = install_on(port, &lips, workers);
            match &outcome {
                Outcome::NotNeeded => {}
                Outcome::Software(why) => info!(interface = %name, reason = %why, "FULLNAT replies reach their worker by software steering"),
                Outcome::Rules(n) => info!(interface = %name, rules = n, "FULLNAT replies steered to their worker's RX queue by rte_flow rules"),
            }
            outcome
        })
        .collect()
}

/// The destination-port mask that picks the owner of a reply, or why rules cannot.
fn owner_mask(lips: &[IpAddr], workers: usize) -> Result<u16, Outcome> {
    if workers < 2 || lips.is_empty() {
        return Err(Outcome::NotNeeded);
    }
    if !workers.is_power_of_two() || workers > usize::from(u16::MAX) {
        return Err(Outcome::Software(format!(
            "{workers} workers: flow rules can pick the owner (local port % workers) only for a power-of-two worker count"
        )));
    }
    Ok((workers - 1) as u16)
}

fn install_on(port: &Port, lips: &[IpAddr], workers: usize) -> Outcome {
    let mask = match owner_mask(lips, workers) {
        Ok(mask) => mask,
        Err(outcome) => return outcome,
    };
    // Ask first: most virtual ports have no flow support at all.
    if let Err(e) = port.steer_dst_port(lips[0], 6, 0, mask, 0, true) {
        return Outcome::Software(format!("the port takes no flow rule: {e}"));
    }
    let mut installed = 0;
    for &lip in lips {
        for proto in [6u8, 17] {
            for w in 0..workers as u16 {
                if let Err(e) = port.steer_dst_port(lip, proto, w, mask, w, false) {
                    warn!(port = port.name(), %lip, proto, worker = w, error = %e, "flow rule refused; the rest of this port's replies are steered in software");
                    return Outcome::Rules(installed);
                }
                installed += 1;
            }
        }
    }
    Outcome::Rules(installed)
}

#[cfg(test)]
mod tests {
    use super::*;
    use dataplane::xmit::fullnat::port_owner;

    #[test]
    fn the_mask_picks_the_same_owner_as_software_steering() {
        let lip: IpAddr = "198.19.0.250".parse().unwrap();
        for workers in [2usize, 4, 8] {
            let mask = owner_mask(&[lip], workers).unwrap();
            for lport in [1024u16, 1025, 40000, 40003, 65535] {
                assert_eq!(usize::from(lport & mask), port_owner(lport, workers));
            }
        }
    }

    #[test]
    fn no_rules_for_one_worker_no_pool_or_an_odd_worker_count() {
        let lip: IpAddr = "2001:2::fa".parse().unwrap();
        assert_eq!(owner_mask(&[lip], 1), Err(Outcome::NotNeeded));
        assert_eq!(owner_mask(&[], 4), Err(Outcome::NotNeeded));
        assert!(matches!(owner_mask(&[lip], 3), Err(Outcome::Software(_))));
    }
}
