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

/// IPVS's overload flag over the real server's connections on every worker: with upper
/// threshold 2 and lower 1 on RS 0, one connection on each of two workers overloads it for
/// both; it stays overloaded while one connection is left (the lower threshold's
/// hysteresis) and is usable again once none is.
#[test]
fn thresholds_count_the_connections_of_every_worker() {
    use crate::service::ServiceTable;
    let fam = Fam::V4;
    let mut t = tables(fam, &Setup::default());
    let mut svc = t.services.services()[0].clone();
    let mut dests = svc.scheduler.destinations().to_vec();
    dests[0].thresholds = scheduler::Thresholds { upper: 2, lower: 1 };
    svc.scheduler =
        scheduler::Scheduler::build(scheduler::SchedulerKind::Rr, &dests, Default::default())
            .unwrap();
    let locals = t.services.locals().to_vec();
    t.services = ServiceTable::new(vec![svc], locals, 1);
    // Two workers on the same table (bench's own tables are of other generations).
    let (_, mut w1, _) = bench(
        fam,
        &Setup {
            generation: 7,
            ..Setup::default()
        },
    );
    let (_, mut w2, _) = bench(
        fam,
        &Setup {
            generation: 8,
            ..Setup::default()
        },
    );
    w1.sync(&t);
    w2.sync(&t);
    assert_eq!(picks(&mut w1, &t, fam, &[1000], 1), [0]);
    assert_eq!(picks(&mut w2, &t, fam, &[2000], 1), [0]);
    // Two connections in all: RS 0 is skipped where rr would pick it (per worker, each
    // had one connection only).
    assert_eq!(picks(&mut w1, &t, fam, &[1001, 1002, 1003], 2), [1, 1, 1]);
    // Worker 2's connection expires: one left, not below the lower threshold 1.
    // An hour later, ticked until the wheel has caught up (a tick's work is bounded).
    let later = |w: &mut Pipeline<Vec<u8>>| {
        let mut io = crate::test_io::Out::default();
        for ms in 3_600_000..3_601_000 {
            w.tick(&t, ms, &mut io);
        }
        assert_eq!(w.conns.len(), 0);
        // The neighbours aged out meanwhile: known again.
        let rss = (0..2).map(|i| (1, fam.rs(i), RS_MAC));
        for (port, ip, mac) in [(0, fam.client(), CLIENT_MAC)].into_iter().chain(rss) {
            let n = crate::pipeline::NeighbourUpdate { port, ip, mac };
            w.learn_remote(n, 3_601_000, &mut io);
        }
    };
    later(&mut w2);
    assert_eq!(picks(&mut w1, &t, fam, &[1004, 1005], 5), [1, 1]);
    // Worker 1's expire too: RS 0 takes connections again.
    later(&mut w1);
    assert_eq!(picks(&mut w1, &t, fam, &[1006, 1007], 3_601_000), [0, 1]);
}
