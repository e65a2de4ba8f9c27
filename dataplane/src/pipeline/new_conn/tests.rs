//! A new connection, over both families: only a SYN starts a TCP one, the scheduler
//! picks the real server, persistence templates send a client back to its real server
//! (also a quiescent one, unless `expire_quiescent_template`).

use crate::counters::{get, DropReason};
use crate::pipeline::Pipeline;
use crate::tables::{IpvsSwitches, Tables};
use crate::test_io::two_servers::*;

#[test]
fn only_a_bare_syn_starts_a_tcp_connection() {
    let strays = [ACK, SYN | ACK, RST, SYN | RST, FIN, FIN | ACK, 0];
    for fam in FAMILIES {
        let (t, mut p, stats) = bench(fam, &Setup::default());
        for (i, flags) in strays.into_iter().enumerate() {
            let out = run(&mut p, &t, 0, from_client(fam, 1000, flags), 1);
            // Nothing reaches a real server; the director answers RST (`reset`) to all
            // but a RST.
            let back: Vec<_> = out.0.iter().map(|(port, _)| *port).collect();
            let want = if flags & RST == 0 { vec![0] } else { vec![] };
            assert_eq!(back, want, "{fam:?} {flags:#x}");
            let n = stats.drops(DropReason::NoConnection);
            assert_eq!(n, i as u64 + 1, "{fam:?} {flags:#x}");
        }
        assert_eq!(p.conns.len(), 0, "{fam:?}");
        assert_eq!(get(&stats.conns_created), 0, "{fam:?}");
        let out = run(&mut p, &t, 0, from_client(fam, 1000, SYN), 2);
        assert_eq!(sent_to(&out), (1, fam.rs(0)), "{fam:?}");
        assert_eq!(get(&stats.conns_created), 1, "{fam:?}");
        assert_eq!(p.conns.len(), 1, "{fam:?}");
    }
}

/// The real server each SYN from the client's ports `cports` (one a millisecond from
/// `now`) is sent to.
fn picks(p: &mut Pipeline<Vec<u8>>, t: &Tables, fam: Fam, cports: &[u16], now: u64) -> Vec<u8> {
    let rs_of = |addr| (0..2).find(|&i| fam.rs(i) == addr).expect("a real server");
    let mut picked = Vec::new();
    for (&cport, now) in cports.iter().zip(now..) {
        let out = run(p, t, 0, from_client(fam, cport, SYN), now);
        let (port, to) = sent_to(&out);
        assert_eq!(port, 1, "{fam:?}");
        picked.push(rs_of(to));
    }
    picked
}

#[test]
fn a_persistence_template_sends_a_client_back_to_its_real_server() {
    for fam in FAMILIES {
        // Without persistence, round robin.
        let (t, mut p, _) = bench(fam, &Setup::default());
        assert_eq!(picks(&mut p, &t, fam, &[1000, 1001, 1002], 1), [0, 1, 0]);
        assert_eq!(p.conns.templates_len(), 0, "{fam:?}");
        let setup = Setup {
            persistence: Some(fam.per_client()),
            ..Setup::default()
        };
        let (t, mut p, stats) = bench(fam, &setup);
        assert_eq!(picks(&mut p, &t, fam, &[1000, 1001, 1002], 1), [0, 0, 0]);
        assert_eq!(p.conns.templates_len(), 1, "{fam:?}");
        assert_eq!(get(&stats.conns_created), 3, "{fam:?}");
    }
}

/// A persistent bench whose client has a template to `rs(0)`, then a table of
/// generation 2 where `rs(0)` has weight `weight` (`None`: left the service), with
/// `expire_quiescent_template` as given.
fn template_to_rs0_then(
    fam: Fam,
    weight: Option<u32>,
    expire_quiescent_template: bool,
) -> (Tables, Pipeline<Vec<u8>>) {
    let mut setup = Setup {
        persistence: Some(fam.per_client()),
        ..Setup::default()
    };
    let (t, mut p, _) = bench(fam, &setup);
    assert_eq!(picks(&mut p, &t, fam, &[1000], 1), [0], "{fam:?}");
    setup.weights = vec![weight, Some(1)];
    setup.ipvs = IpvsSwitches {
        expire_quiescent_template,
        ..IpvsSwitches::default()
    };
    setup.generation = 2;
    let t = tables(fam, &setup);
    p.sync(&t);
    (t, p)
}

#[test]
fn a_quiescent_real_server_keeps_its_persistent_clients() {
    for fam in FAMILIES {
        let (t, mut p) = template_to_rs0_then(fam, Some(0), false);
        assert_eq!(picks(&mut p, &t, fam, &[1001, 1002], 10), [0, 0], "{fam:?}");
    }
}

#[test]
fn expire_quiescent_template_moves_clients_off_a_weight_0_real_server() {
    for fam in FAMILIES {
        let (t, mut p) = template_to_rs0_then(fam, Some(0), true);
        // Scheduled anew, and the new template holds.
        assert_eq!(picks(&mut p, &t, fam, &[1001, 1002], 10), [1, 1], "{fam:?}");
    }
}

#[test]
fn a_template_whose_real_server_left_is_dropped() {
    for fam in FAMILIES {
        let (t, mut p) = template_to_rs0_then(fam, None, false);
        assert_eq!(picks(&mut p, &t, fam, &[1001, 1002], 10), [1, 1], "{fam:?}");
    }
}

#[test]
fn a_service_of_quiescent_real_servers_takes_no_new_connection() {
    for fam in FAMILIES {
        let setup = Setup {
            weights: vec![Some(0), Some(0)],
            ..Setup::default()
        };
        let (t, mut p, stats) = bench(fam, &setup);
        let out = run(&mut p, &t, 0, from_client(fam, 1000, SYN), 1);
        assert!(out.0.is_empty(), "{fam:?}");
        assert_eq!(stats.drops(DropReason::NoRealServer), 1, "{fam:?}");
        assert_eq!(p.conns.len(), 0, "{fam:?}");
    }
}
