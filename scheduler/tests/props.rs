//! Property tests: usability of every pick, wrr cycle exactness, Maglev balance/disruption.

use proptest::prelude::*;
use scheduler::{
    DestLoad, Destination, FlowKey, LocalityParams, SchedFlags, SchedOptions, Scheduler,
    SchedulerKind, IPPROTO_TCP, IPPROTO_UDP,
};
use std::net::IpAddr;

fn rs(i: usize, weight: u16) -> Destination {
    Destination::new(
        IpAddr::from([198, 19, (i >> 8) as u8, i as u8]),
        8080,
        weight,
    )
}

fn load_strategy() -> impl Strategy<Value = DestLoad> {
    (
        0u32..12,
        0u32..12,
        prop::bool::weighted(0.2),
        prop::bool::weighted(0.9),
    )
        .prop_map(|(active, inactive, overloaded, available)| DestLoad {
            active,
            inactive,
            overloaded,
            available,
        })
}

fn flow_strategy() -> impl Strategy<Value = FlowKey> {
    (any::<u16>(), any::<u16>(), any::<u8>(), prop::bool::ANY).prop_map(|(h, port, d, tcp)| {
        FlowKey {
            protocol: if tcp { IPPROTO_TCP } else { IPPROTO_UDP },
            src_addr: IpAddr::from([198, 18, (h >> 8) as u8, h as u8]),
            src_port: port,
            dst_addr: IpAddr::from([198, 19, 255, d % 8]),
            dst_port: 80,
        }
    })
}

fn usable(d: &Destination, l: &DestLoad) -> bool {
    d.weight > 0 && !l.overloaded && l.available
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(96))]

    /// No scheduler ever returns a quiescent (weight 0), overloaded or unavailable real
    /// server -- except the kernel's lblc, whose cache hit ignores the OVERLOAD flag (it
    /// checks its own "active > weight" rule instead). And the schedulers that scan the
    /// whole list return None only when no server is usable.
    #[test]
    fn picks_are_usable(
        kind_idx in 0usize..SchedulerKind::ALL.len(),
        setup in prop::collection::vec((0u16..5, 0u16..5, load_strategy()), 0..12),
        flows in prop::collection::vec((flow_strategy(), 0usize..3), 1..24),
        fallback in prop::bool::ANY,
        port in prop::bool::ANY,
    ) {
        let kind = SchedulerKind::ALL[kind_idx];
        let dests: Vec<Destination> = setup
            .iter()
            .enumerate()
            .map(|(i, &(w, lw, _))| Destination { last_weight: lw.max(w), ..rs(i, w) })
            .collect();
        let loads: Vec<DestLoad> = setup.iter().map(|s| s.2).collect();
        let opts = SchedOptions {
            flags: SchedFlags { fallback, port },
            mh_table_size: 251,
            locality: LocalityParams { capacity: 16, expiration_ms: 50 },
        };
        let s = Scheduler::build(kind, &dests, opts).unwrap();
        let mut st = s.new_state(42);
        let any_usable = dests.iter().zip(&loads).any(|(d, l)| usable(d, l));
        for (t, (f, step)) in flows.iter().enumerate() {
            let now = (t * step * 20) as u64;
            let got = s.pick(&mut st, &loads, f, now);
            match got {
                Some(i) => {
                    prop_assert!(i < dests.len());
                    let (d, l) = (&dests[i], &loads[i]);
                    prop_assert!(d.weight > 0, "{kind}: weight 0 picked");
                    prop_assert!(l.available, "{kind}: unavailable picked");
                    if kind != SchedulerKind::Lblc {
                        prop_assert!(!l.overloaded, "{kind}: overloaded picked");
                    }
                    if kind == SchedulerKind::Ovf {
                        prop_assert!(l.active <= u32::from(d.weight));
                    }
                }
                None => {
                    let scans_all = !matches!(
                        kind,
                        SchedulerKind::Dh | SchedulerKind::Sh | SchedulerKind::Mh | SchedulerKind::Ovf
                    );
                    if scans_all {
                        prop_assert!(!any_usable, "{kind}: None with a usable server");
                    }
                }
            }
        }
    }

    /// Over any window of sum(w)/gcd consecutive picks, wrr hands out exactly w/gcd picks
    /// to each server.
    #[test]
    fn wrr_cycle_matches_weights(
        weights in prop::collection::vec(0u16..24, 1..9),
        scale in 1u16..5,
        warmup in 0usize..64,
    ) {
        let weights: Vec<u16> = weights.iter().map(|w| w * scale).collect();
        let g = weights.iter().filter(|&&w| w > 0).fold(0u16, |g, &w| gcd(g, w));
        prop_assume!(g > 0);
        let dests: Vec<_> = weights.iter().enumerate().map(|(i, &w)| rs(i, w)).collect();
        let s = Scheduler::build(SchedulerKind::Wrr, &dests, SchedOptions::default()).unwrap();
        let loads = vec![DestLoad::IDLE; dests.len()];
        let f = FlowKey::new(IPPROTO_TCP, "198.18.0.1:1".parse().unwrap(), "198.18.0.2:80".parse().unwrap());
        let mut st = s.new_state(0);
        for _ in 0..warmup {
            s.pick(&mut st, &loads, &f, 0);
        }
        let cycle: usize = weights.iter().map(|&w| usize::from(w / g)).sum();
        let mut counts = vec![0usize; dests.len()];
        for _ in 0..cycle {
            counts[s.pick(&mut st, &loads, &f, 0).unwrap()] += 1;
        }
        let want: Vec<usize> = weights.iter().map(|&w| usize::from(w / g)).collect();
        prop_assert_eq!(counts, want);
    }
}

fn gcd(a: u16, b: u16) -> u16 {
    if b == 0 {
        a
    } else {
        gcd(b, a % b)
    }
}

/// The lookup table at the kernel's 65521 entries (`mh_table_size`; the default 4093 moves
/// a few percent more on a removal, as the Maglev paper's Fig. 10 shows for small tables).
fn mh_table(dests: &[Destination]) -> Vec<u32> {
    let opts = SchedOptions {
        mh_table_size: 65521,
        ..SchedOptions::default()
    };
    Scheduler::build(SchedulerKind::Mh, dests, opts)
        .unwrap()
        .hash_table()
        .unwrap()
        .to_vec()
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(12))]

    /// Maglev balance: the population takes turns, so after R full rounds each server holds
    /// between turns*R and turns*(R+1) entries (equal weights: M/N rounded down or up).
    #[test]
    fn mh_table_is_balanced(weights in prop::collection::vec(1u16..9, 1..40)) {
        let dests: Vec<_> = weights.iter().enumerate().map(|(i, &w)| rs(i, w)).collect();
        let table = mh_table(&dests);
        let g = weights.iter().fold(0u16, |g, &w| gcd(g, w));
        let turns: Vec<usize> = weights.iter().map(|&w| usize::from(w / g)).collect();
        let total: usize = turns.iter().sum();
        let rounds = table.len() / total;
        let mut counts = vec![0usize; dests.len()];
        for &e in &table {
            counts[e as usize] += 1;
        }
        for (i, &c) in counts.iter().enumerate() {
            prop_assert!(c >= turns[i] * rounds && c <= turns[i] * (rounds + 1),
                "server {i}: {c} entries, turns {} rounds {rounds}", turns[i]);
        }
    }

    /// Maglev disruption: removing one of N servers moves the removed server's ~1/N of the
    /// slots plus a small extra share (the paper's Fig. 10 shows a few percent at most).
    #[test]
    fn mh_removal_disruption_close_to_one_over_n(n in 5usize..60, victim in 0usize..60) {
        let victim = victim % n;
        let dests: Vec<_> = (0..n).map(|i| rs(i, 1)).collect();
        let before = mh_table(&dests);
        let mut rest = dests.clone();
        rest.remove(victim);
        let after = mh_table(&rest);
        // Map new indices back to old ones to compare the real servers, not positions.
        let old_index = |j: u32| if (j as usize) < victim { j } else { j + 1 };
        let changed = before
            .iter()
            .zip(&after)
            .filter(|(&b, &a)| b != old_index(a))
            .count();
        let frac = changed as f64 / before.len() as f64;
        let ideal = 1.0 / n as f64;
        // Measured with a 65537-entry table (65521 now): the extra disruption stays well below
        // 0.5% for these sizes (0.2% at N=5, 0.48% at N=50); 1% (absolute) is the asserted bound.
        prop_assert!(frac >= ideal * 0.95, "frac {frac} below ideal {ideal}");
        prop_assert!(frac <= ideal + 0.01, "n={n}: disruption {frac} vs ideal {ideal}");
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]

    /// Robustness: a stale state (from another version of the same scheduler, with a
    /// different number of real servers) and a loads slice of the wrong length never make
    /// `pick` panic or return an index without a load entry.
    #[test]
    fn stale_state_and_short_loads_never_panic(
        kind_idx in 0usize..SchedulerKind::ALL.len(),
        n_old in 0usize..10,
        n_new in 0usize..10,
        n_loads in 0usize..12,
        flows in prop::collection::vec(flow_strategy(), 1..16),
    ) {
        let kind = SchedulerKind::ALL[kind_idx];
        let opts = SchedOptions { mh_table_size: 251, ..SchedOptions::default() };
        let old_d: Vec<_> = (0..n_old).map(|i| rs(i, 1 + i as u16 % 3)).collect();
        let new_d: Vec<_> = (0..n_new).map(|i| rs(i + 3, 1 + i as u16 % 2)).collect();
        let old = Scheduler::build(kind, &old_d, opts).unwrap();
        let new = Scheduler::build(kind, &new_d, opts).unwrap();
        let old_loads = vec![DestLoad::IDLE; n_old];
        let mut st = old.new_state(3);
        for f in &flows {
            old.pick(&mut st, &old_loads, f, 1);
        }
        let loads = vec![DestLoad::with_conns(1, 1); n_loads];
        let mut carried = new.carry_state(3, &old, &st);
        for (t, f) in flows.iter().enumerate() {
            for s in [&mut st, &mut carried] {
                if let Some(i) = new.pick(s, &loads, f, 2 + t as u64) {
                    prop_assert!(i < n_new.min(n_loads), "{kind}: index {i}");
                }
            }
        }
    }
}
