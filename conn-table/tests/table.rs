//! Behaviour of the table: both directions, counts, timeouts, expiry,
//! capacity, templates, listing.

use std::net::IpAddr;

use conn_table::*;

const S: u64 = 1000;

fn ip(s: &str) -> IpAddr {
    s.parse().unwrap()
}

fn cfg(capacity: u32) -> Config {
    Config {
        capacity,
        ipv6_capacity: capacity,
        max_templates: 16,
        max_real_servers: 8,
        tick_ms: 100,
        wheel_slots: 1024,
    }
}

/// NAT connection client:cport -> VIP:80, RS rs_addr:8080.
fn nat(cport: u16, rs: u32) -> NewConn {
    let c = ip("198.18.0.1");
    let vip = ip("198.18.0.100");
    let rip = ip("198.19.0.11");
    NewConn {
        original: Tuple::new(proto::TCP, c, cport, vip, 80),
        reply: Some(Tuple::new(proto::TCP, rip, 8080, c, cport)),
        rs,
        svc: 1,
        method: Method::Masq,
        template: None,
    }
}

fn dr(cport: u16, rs: u32) -> NewConn {
    NewConn {
        original: Tuple::new(proto::TCP, ip("198.18.0.1"), cport, ip("198.18.0.100"), 80),
        reply: None,
        rs,
        svc: 2,
        method: Method::Route,
        template: None,
    }
}

fn counts(t: &ConnTable, rs: u32) -> (u32, u32) {
    let c = t.rs_counts(rs);
    (c.active, c.inactive)
}

#[test]
fn nat_handshake_states_counts_and_timeouts() {
    let mut t = ConnTable::new(cfg(16), 0).unwrap();
    let nc = nat(40000, 3);
    let id = t.insert(&nc, 0).unwrap();
    assert_eq!(counts(&t, 3), (0, 1), "new connections start inactive");
    let info = t.get(id, 0).unwrap();
    assert_eq!(info.state, ConnState::Tcp(TcpState::None));
    assert_eq!(info.expires_in_ms, 3 * S);

    assert_eq!(t.lookup(&nc.original), Some((id, Direction::Original)));
    assert_eq!(t.lookup(&nc.reply.unwrap()), Some((id, Direction::Reply)));

    let st = t
        .on_packet(id, Direction::Original, TcpFlags::SYN, 60, 0)
        .unwrap();
    assert_eq!(st, ConnState::Tcp(TcpState::SynRecv));
    assert_eq!(counts(&t, 3), (1, 0), "SYN_RECV counts as active");
    assert_eq!(t.get(id, 0).unwrap().expires_in_ms, 60 * S);

    let st = t
        .on_packet(id, Direction::Reply, TcpFlags::SYN | TcpFlags::ACK, 60, S)
        .unwrap();
    assert_eq!(st, ConnState::Tcp(TcpState::SynRecv));
    let st = t
        .on_packet(id, Direction::Original, TcpFlags::ACK, 52, 2 * S)
        .unwrap();
    assert_eq!(st, ConnState::Tcp(TcpState::Established));
    assert_eq!(counts(&t, 3), (1, 0));
    assert_eq!(t.get(id, 2 * S).unwrap().expires_in_ms, 900 * S);

    // Client closes: FIN in -> CLOSE_WAIT (inactive, 60 s).
    let st = t
        .on_packet(
            id,
            Direction::Original,
            TcpFlags::FIN | TcpFlags::ACK,
            52,
            3 * S,
        )
        .unwrap();
    assert_eq!(st, ConnState::Tcp(TcpState::CloseWait));
    assert_eq!(counts(&t, 3), (0, 1));
    assert_eq!(t.get(id, 3 * S).unwrap().expires_in_ms, 60 * S);
    // RS FIN out -> TIME_WAIT (120 s).
    let st = t
        .on_packet(
            id,
            Direction::Reply,
            TcpFlags::FIN | TcpFlags::ACK,
            52,
            4 * S,
        )
        .unwrap();
    assert_eq!(st, ConnState::Tcp(TcpState::TimeWait));
    let info = t.get(id, 4 * S).unwrap();
    assert_eq!(info.expires_in_ms, 120 * S);
    assert_eq!(info.counters.packets, [3, 2]);
    assert_eq!(info.counters.bytes, [60 + 52 + 52, 60 + 52]);
    t.check_invariants().unwrap();

    // The shorter timeout re-armed the wheel: gone right after 124 s.
    t.expire(124 * S + 200, usize::MAX);
    assert!(t.get(id, 125 * S).is_none());
    assert_eq!(t.lookup(&nc.original), None);
    assert_eq!(t.lookup(&nc.reply.unwrap()), None);
    assert_eq!(counts(&t, 3), (0, 0));
    assert_eq!(t.stats().expired, 1);
    t.check_invariants().unwrap();
}

#[test]
fn shorter_timeout_after_established_expires_early() {
    let mut t = ConnTable::new(cfg(4), 0).unwrap();
    let nc = nat(1, 0);
    let id = t.insert(&nc, 0).unwrap();
    t.on_packet(id, Direction::Original, TcpFlags::SYN, 0, 0);
    t.on_packet(id, Direction::Original, TcpFlags::ACK, 0, 0);
    // ESTABLISHED: 900 s. An RST moves it to CLOSE: 10 s.
    t.on_packet(id, Direction::Original, TcpFlags::RST, 0, S);
    assert_eq!(t.get(id, S).unwrap().state, ConnState::Tcp(TcpState::Close));
    t.expire(10 * S, usize::MAX);
    assert!(t.get(id, 10 * S).is_some(), "not before its 10 s");
    t.expire(11 * S + 200, usize::MAX);
    assert!(
        t.get(id, 12 * S).is_none(),
        "CLOSE must not wait for the old 900 s slot"
    );
}

#[test]
fn dr_uses_input_only_table_and_indexes_one_direction() {
    let mut t = ConnTable::new(cfg(4), 0).unwrap();
    let nc = dr(5000, 1);
    let id = t.insert(&nc, 0).unwrap();
    assert!(t.get(id, 0).unwrap().flags.contains(ConnFlags::NO_OUTPUT));
    assert_eq!(t.get(id, 0).unwrap().reply, None);
    t.on_packet(id, Direction::Original, TcpFlags::SYN, 0, 0);
    t.on_packet(id, Direction::Original, TcpFlags::ACK, 0, 0);
    assert_eq!(
        t.get(id, 0).unwrap().state,
        ConnState::Tcp(TcpState::Established)
    );
    // Input-only: the client's FIN means FIN_WAIT (not CLOSE_WAIT as for NAT).
    t.on_packet(id, Direction::Original, TcpFlags::FIN | TcpFlags::ACK, 0, 0);
    assert_eq!(
        t.get(id, 0).unwrap().state,
        ConnState::Tcp(TcpState::FinWait)
    );
    assert_eq!(t.timeouts().tcp_state(TcpState::FinWait), 120);
    t.check_invariants().unwrap();
}

#[test]
fn udp_is_inactive_with_udp_timeout_and_set_changes_it() {
    let mut t = ConnTable::new(cfg(4), 0).unwrap();
    let c = ip("2001:2::1");
    let nc = NewConn {
        original: Tuple::new(proto::UDP, c, 53000, ip("2001:2::100"), 53),
        reply: Some(Tuple::new(proto::UDP, ip("2001:2::11"), 53, c, 53000)),
        rs: 2,
        svc: 3,
        method: Method::Masq,
        template: None,
    };
    let id = t.insert(&nc, 0).unwrap();
    assert_eq!(t.lookup(&nc.reply.unwrap()), Some((id, Direction::Reply)));
    assert_eq!(
        t.on_packet(id, Direction::Original, TcpFlags::NONE, 100, 0),
        Some(ConnState::Udp)
    );
    assert_eq!(counts(&t, 2), (0, 1));
    assert_eq!(t.get(id, 0).unwrap().expires_in_ms, 300 * S);
    assert_eq!(t.get(id, 0).unwrap().original, nc.original);

    assert_eq!(t.timeouts().ipvsadm(), (900, 120, 300));
    t.set_ipvsadm_timeouts(30, 0, 60);
    assert_eq!(t.timeouts().ipvsadm(), (30, 120, 60));
    t.on_packet(id, Direction::Reply, TcpFlags::NONE, 100, S);
    assert_eq!(t.get(id, S).unwrap().expires_in_ms, 60 * S);
}

#[test]
fn capacity_limit_refuses_and_counts_existing_unaffected() {
    let mut t = ConnTable::new(cfg(2), 0).unwrap();
    let a = t.insert(&nat(1, 0), 0).unwrap();
    let b = t.insert(&nat(2, 0), 0).unwrap();
    assert_eq!(t.insert(&nat(3, 0), 0), Err(InsertError::Full));
    assert_eq!(t.insert(&nat(4, 0), 0), Err(InsertError::Full));
    assert_eq!(t.stats().refused_full, 2);
    assert_eq!(
        t.lookup(&nat(1, 0).original),
        Some((a, Direction::Original))
    );
    assert_eq!(
        t.lookup(&nat(2, 0).reply.unwrap()),
        Some((b, Direction::Reply))
    );
    assert!(t
        .on_packet(a, Direction::Original, TcpFlags::SYN, 1, 0)
        .is_some());
    // Room again after a removal.
    assert!(t.remove(a));
    assert!(!t.remove(a));
    assert!(t.insert(&nat(3, 0), 0).is_ok());
    t.check_invariants().unwrap();
}

#[test]
fn insert_rejects_bad_input_without_side_effects() {
    let mut t = ConnTable::new(cfg(4), 0).unwrap();
    t.insert(&nat(1, 0), 0).unwrap();
    assert_eq!(t.insert(&nat(1, 0), 0), Err(InsertError::Exists));
    let mut clash = nat(2, 0);
    clash.reply = nat(1, 0).reply;
    assert_eq!(t.insert(&clash, 0), Err(InsertError::ReplyExists));
    assert!(matches!(
        t.insert(&nat(3, 99), 0),
        Err(InsertError::RealServerOutOfRange { rs: 99, max: 8 })
    ));
    let mut mixed = nat(4, 0);
    mixed.original.dst = ip("2001:2::1");
    assert_eq!(t.insert(&mixed, 0), Err(InsertError::FamilyMismatch));
    let mut proto_mix = nat(5, 0);
    proto_mix.reply.as_mut().unwrap().proto = proto::UDP;
    assert_eq!(t.insert(&proto_mix, 0), Err(InsertError::ProtocolMismatch));
    let mut stale = nat(6, 0);
    stale.template = Some(TemplateId(3));
    assert_eq!(t.insert(&stale, 0), Err(InsertError::StaleTemplate));
    assert_eq!(t.len(), 1);
    assert_eq!(t.stats().refused_full, 0);
    assert_eq!(
        t.on_packet(ConnId(77), Direction::Original, TcpFlags::SYN, 1, 0),
        None
    );
    t.check_invariants().unwrap();
}

#[test]
fn expire_respects_budget() {
    let mut t = ConnTable::new(cfg(1000), 0).unwrap();
    for p in 0..1000 {
        let id = t.insert(&nat(p, (p % 8) as u32), 0).unwrap();
        t.on_packet(id, Direction::Original, TcpFlags::SYN, 60, 0);
    }
    assert_eq!(t.rs_counts(0).active, 125);
    let now = 61 * S;
    let mut calls = 0;
    loop {
        let spent = t.expire(now, 50);
        assert!(spent <= 50);
        calls += 1;
        if spent < 50 {
            break;
        }
    }
    assert!(calls >= 20, "1000 expiries in chunks of 50");
    assert!(t.is_empty());
    assert_eq!(t.stats().expired, 1000);
    assert!(t.all_rs_counts().iter().all(|c| *c == RsCounts::default()));
    t.check_invariants().unwrap();
}

#[test]
fn refreshed_connection_survives_its_first_deadline() {
    let mut t = ConnTable::new(cfg(4), 0).unwrap();
    let id = t.insert(&dr(9, 0), 0).unwrap();
    t.on_packet(id, Direction::Original, TcpFlags::SYN, 0, 0); // 60 s
    t.on_packet(id, Direction::Original, TcpFlags::ACK, 0, 50 * S); // ES: 950 s
    t.expire(100 * S, usize::MAX);
    assert!(t.get(id, 100 * S).is_some());
    // Past the wheel's span (1024 x 100 ms) too: parked and re-armed.
    t.expire(949 * S, usize::MAX);
    assert!(t.get(id, 949 * S).is_some());
    t.expire(951 * S, usize::MAX);
    assert!(t.get(id, 951 * S).is_none());
}

#[test]
fn templates_live_until_after_their_last_connection() {
    let mut t = ConnTable::new(cfg(8), 0).unwrap();
    let key = TemplateKey {
        svc: 1,
        client: mask_client(ip("198.18.0.1"), 24),
        vport: 80,
    };
    assert_eq!(t.template_get(&key, 0), None);
    let tid = t.template_create(&key, 5, 30, 0).unwrap();
    assert_eq!(t.template_create(&key, 5, 30, 0), Err(InsertError::Exists));
    assert_eq!(t.rs_counts(5).persistent, 1);
    // A client of the same /24 finds it.
    let other = TemplateKey {
        client: mask_client(ip("198.18.0.77"), 24),
        ..key
    };
    assert_eq!(t.template_get(&other, S), Some((tid, 5)));

    let mut nc = nat(1234, 5);
    nc.template = Some(tid);
    let id = t.insert(&nc, 0).unwrap();
    t.on_packet(id, Direction::Original, TcpFlags::SYN, 0, 0);
    t.on_packet(id, Direction::Original, TcpFlags::ACK, 0, 0); // 900 s
    assert_eq!(t.template_info(tid, 0).unwrap().controlled, 1);

    // Persistence timeout long past, the connection still alive: kept.
    for now in (10..=600).step_by(10) {
        t.expire(now * S, usize::MAX);
        assert_eq!(t.template_get(&key, now * S), Some((tid, 5)), "at {now} s");
        t.check_invariants().unwrap();
    }
    t.remove(id);
    assert_eq!(t.template_info(tid, 600 * S).unwrap().controlled, 0);
    // Not freed at once: the template is re-checked every 60 s...
    t.expire(600 * S + 200, usize::MAX);
    assert_eq!(t.template_get(&key, 600 * S + 200), Some((tid, 5)));
    // ...and gone within 60 s of the last connection.
    t.expire(661 * S, usize::MAX);
    assert_eq!(t.template_get(&key, 661 * S), None);
    assert_eq!(t.templates_len(), 0);
    assert_eq!(t.rs_counts(5).persistent, 0);
    assert_eq!(t.stats().templates_expired, 1);
    t.check_invariants().unwrap();
}

#[test]
fn invalidated_template_is_not_found_but_keeps_its_connections() {
    let mut t = ConnTable::new(cfg(8), 0).unwrap();
    let key = TemplateKey {
        svc: 9,
        client: ip("2001:2::5"),
        vport: 0,
    };
    let tid = t.template_create(&key, 1, 60, 0).unwrap();
    let mut nc = dr(1, 1);
    nc.template = Some(tid);
    let id = t.insert(&nc, 0).unwrap();
    assert!(t.template_invalidate(tid));
    assert!(!t.template_invalidate(tid));
    assert_eq!(t.template_get(&key, 0), None);
    // A fresh template for the same key can be made.
    let t2 = t.template_create(&key, 2, 60, 0).unwrap();
    assert_ne!(t2, tid);
    assert_eq!(t.get(id, 0).unwrap().rs, 1);
    t.check_invariants().unwrap();
    t.remove(id);
    t.expire(200 * S, usize::MAX);
    assert_eq!(t.templates_len(), 0);
    t.check_invariants().unwrap();
}

#[test]
fn template_capacity_is_enforced() {
    let mut t = ConnTable::new(cfg(8), 0).unwrap();
    for i in 0..16u8 {
        let key = TemplateKey {
            svc: 1,
            client: IpAddr::from([198, 18, 1, i]),
            vport: 80,
        };
        t.template_create(&key, 0, 60, 0).unwrap();
    }
    let key = TemplateKey {
        svc: 1,
        client: ip("198.18.2.1"),
        vport: 80,
    };
    assert_eq!(
        t.template_create(&key, 0, 60, 0),
        Err(InsertError::TemplatesFull)
    );
    assert_eq!(t.stats().refused_templates_full, 1);
}

#[test]
fn listing_in_bounded_chunks_sees_every_connection() {
    let mut t = ConnTable::new(cfg(300), 0).unwrap();
    let mut ids = Vec::new();
    for p in 0..300 {
        ids.push(t.insert(&nat(p, 0), 0).unwrap());
    }
    // Holes in the slab.
    for id in ids.iter().step_by(3) {
        t.remove(*id);
    }
    let mut out = Vec::new();
    let mut cursor = Some(ListCursor::START);
    let mut calls = 0;
    while let Some(c) = cursor {
        let before = out.len();
        cursor = t.list(c, 16, 0, &mut out);
        assert!(out.len() - before <= 16);
        calls += 1;
    }
    assert_eq!(out.len(), 200);
    assert!(calls >= 13);
    let mut ports: Vec<u16> = out.iter().map(|c| c.original.sport).collect();
    ports.sort_unstable();
    let expected: Vec<u16> = (0..300).filter(|p| p % 3 != 0).collect();
    assert_eq!(ports, expected);
}

#[test]
fn secure_tcp_uses_dos_table() {
    let mut t = ConnTable::new(cfg(4), 0).unwrap();
    t.set_secure_tcp(true);
    let id = t.insert(&dr(1, 0), 0).unwrap();
    // Input-only SYN from NONE is SYNACK under secure_tcp.
    t.on_packet(id, Direction::Original, TcpFlags::SYN, 0, 0);
    assert_eq!(
        t.get(id, 0).unwrap().state,
        ConnState::Tcp(TcpState::SynAck)
    );
    assert_eq!(t.rs_counts(0).active, 1);
}

#[test]
fn config_is_validated() {
    let bad = Config {
        wheel_slots: 1000,
        ..cfg(4)
    };
    assert_eq!(
        ConnTable::new(bad, 0).err(),
        Some(ConfigError::WheelSlots(1000))
    );
    let bad = Config {
        tick_ms: 0,
        ..cfg(4)
    };
    assert_eq!(ConnTable::new(bad, 0).err(), Some(ConfigError::ZeroTick));
    let bad = Config {
        ipv6_capacity: 5,
        ..cfg(4)
    };
    assert_eq!(
        ConnTable::new(bad, 0).err(),
        Some(ConfigError::Ipv6CapacityTooLarge)
    );
}

#[test]
fn entry_and_memory_budget() {
    const { assert!(ConnTable::ENTRY_SIZE <= 96) };
    let t = ConnTable::new(
        Config {
            capacity: 1 << 16,
            ipv6_capacity: 0,
            ..cfg(4)
        },
        0,
    )
    .unwrap();
    let m = t.memory_usage();
    let per_conn = (m.slab + m.index) as f64 / f64::from(1u32 << 16);
    assert!(per_conn <= 128.0, "{per_conn} bytes per connection");
}

#[test]
fn lookup_burst_agrees_with_lookup() {
    let mut t = ConnTable::new(cfg(100), 0).unwrap();
    let mut tuples = Vec::new();
    for p in 0..70 {
        let nc = nat(p, 0);
        t.insert(&nc, 0).unwrap();
        tuples.push(nc.original);
        tuples.push(nc.reply.unwrap());
        tuples.push(nat(p + 1000, 0).original); // miss
    }
    // IPv6 flows, and near misses of each: another protocol, port or address.
    for p in 0..20 {
        let c = ip("2001:2::1");
        let nc = NewConn {
            original: Tuple::new(proto::UDP, c, p, ip("2001:2::100"), 53),
            reply: Some(Tuple::new(proto::UDP, ip("2001:2:1::11"), 53, c, p)),
            rs: 1,
            svc: 2,
            method: Method::Masq,
            template: None,
        };
        t.insert(&nc, 0).unwrap();
        tuples.push(nc.original);
        tuples.push(nc.reply.unwrap());
        let mut other = nc.original;
        other.proto = proto::TCP;
        tuples.push(other);
        let mut other = nc.original;
        other.dst = ip("2001:2::101");
        tuples.push(other);
    }
    let mut other = nat(3, 0).original;
    other.dport = 81;
    tuples.push(other);
    let mut other = nat(3, 0).original;
    other.src = ip("198.18.0.2");
    tuples.push(other);
    let mut mixed = nat(1, 0).original;
    mixed.dst = ip("2001:2::1");
    tuples.push(mixed);
    let mut out = vec![None; tuples.len()];
    t.lookup_burst(&tuples, &mut out);
    for (tu, o) in tuples.iter().zip(&out) {
        assert_eq!(*o, t.lookup(tu), "{tu:?}");
        // The IPv4 packet path's lookup from the tuple's parts: the same answer.
        if let (IpAddr::V4(s), IpAddr::V4(d)) = (tu.src, tu.dst) {
            assert_eq!(
                t.lookup_v4(tu.proto, (s, tu.sport), (d, tu.dport)),
                *o,
                "{tu:?}"
            );
        }
    }
    assert_eq!(out.iter().filter(|o| o.is_some()).count(), 180);
}

#[test]
fn long_idle_then_bounded_catch_up() {
    let mut t = ConnTable::new(cfg(64), 0).unwrap();
    for p in 0..64 {
        let id = t.insert(&nat(p, 1), 0).unwrap();
        t.on_packet(id, Direction::Original, TcpFlags::SYN, 0, 0);
    }
    // Ten hours without a single expire() call: far more than one lap of
    // the wheel (1024 x 100 ms). Each call still does bounded work.
    let now = 10 * 3600 * S;
    let mut calls = 0;
    while t.expire(now, 16) == 16 {
        calls += 1;
        assert!(calls < 200, "catch-up must not walk every missed tick");
    }
    assert!(t.is_empty());
    assert_eq!(t.rs_counts(1), RsCounts::default());
    // The wheel is usable afterwards.
    let id = t.insert(&nat(1, 1), now).unwrap();
    t.on_packet(id, Direction::Original, TcpFlags::SYN, 0, now);
    t.expire(now + 30 * S, usize::MAX);
    assert!(t.get(id, now + 30 * S).is_some());
    t.expire(now + 61 * S, usize::MAX);
    assert!(t.get(id, now + 61 * S).is_none());
}

#[test]
fn clock_near_the_end_of_time_does_not_panic() {
    let start = u64::MAX - 1000;
    let mut t = ConnTable::new(cfg(4), start).unwrap();
    let id = t.insert(&nat(1, 0), start).unwrap();
    t.on_packet(id, Direction::Original, TcpFlags::SYN, 0, start);
    t.expire(u64::MAX, usize::MAX);
    t.check_invariants().unwrap();
}

#[test]
fn expiry_hands_fullnat_local_address_back() {
    let mut t = ConnTable::new(cfg(8), 0).unwrap();
    let (c, vip, rip, lip) = (
        ip("198.18.0.1"),
        ip("198.18.0.100"),
        ip("198.19.0.11"),
        ip("198.19.0.250"),
    );
    let full = NewConn {
        original: Tuple::new(proto::TCP, c, 40000, vip, 80),
        reply: Some(Tuple::new(proto::TCP, rip, 8080, lip, 5001)),
        rs: 1,
        svc: 1,
        method: Method::FullNat,
        template: None,
    };
    let id = t.insert(&full, 0).unwrap();
    t.on_packet(id, Direction::Original, TcpFlags::SYN, 60, 0);
    // The reply, addressed to the local address, finds the connection in one lookup.
    let back = Tuple::new(proto::TCP, rip, 8080, lip, 5001);
    assert_eq!(t.lookup(&back), Some((id, Direction::Reply)));
    let d = t.insert(&dr(7, 0), 0).unwrap();
    t.on_packet(d, Direction::Original, TcpFlags::SYN, 60, 0);
    let mut seen = Vec::new();
    t.expire_with(61 * S, usize::MAX, |m, r| seen.push((m, *r)));
    // DR has no reply tuple: only the FULLNAT connection is reported.
    assert_eq!(seen, vec![(Method::FullNat, back)]);
    assert!(t.is_empty());
    t.check_invariants().unwrap();
}
/// A full table (the index at its 80 % design load, so buckets overflow into
/// their neighbours) under churn: removal keeps every other flow findable,
/// the burst lookup agrees with the single one, and the index's overflow
/// counts stay exact (`check_invariants`).
#[test]
fn full_table_churn_keeps_index_consistent() {
    let cap = 700u32;
    let mut t = ConnTable::new(cfg(cap), 0).unwrap();
    let v6 = |p: u16| {
        let mut nc = nat(p, 0);
        nc.original.src = ip("2001:2::1");
        nc.original.dst = ip("2001:2::100");
        nc.reply = Some(Tuple::new(
            proto::TCP,
            ip("2001:2::11"),
            8080,
            ip("2001:2::1"),
            p,
        ));
        nc
    };
    let flow = |p: u16| {
        if p.is_multiple_of(7) {
            v6(p)
        } else {
            nat(p, 0)
        }
    };
    let mut live: Vec<u16> = (0..cap as u16).collect();
    for &p in &live {
        t.insert(&flow(p), 0).unwrap();
    }
    assert_eq!(t.insert(&flow(9999), 0), Err(InsertError::Full));
    t.check_invariants().unwrap();
    let mut next = cap as u16;
    for round in 0..6u16 {
        // Remove every third live flow (varying with the round), add new ones.
        let mut kept = Vec::new();
        for (i, &p) in live.iter().enumerate() {
            if (i as u16 + round).is_multiple_of(3) {
                let (id, _) = t.lookup(&flow(p).original).unwrap();
                assert!(t.remove(id));
            } else {
                kept.push(p);
            }
        }
        while kept.len() < cap as usize {
            t.insert(&flow(next), 0).unwrap();
            kept.push(next);
            next += 1;
        }
        live = kept;
        t.check_invariants().unwrap();
        let mut tuples = Vec::new();
        for &p in &live {
            tuples.push(flow(p).original);
            tuples.push(flow(p).reply.unwrap());
        }
        for p in next..next + 100 {
            tuples.push(flow(p).original);
        }
        let mut out = vec![None; tuples.len()];
        t.lookup_burst(&tuples, &mut out);
        for (tu, o) in tuples.iter().zip(&out) {
            assert_eq!(*o, t.lookup(tu), "{tu:?}");
        }
        assert_eq!(out.iter().filter(|o| o.is_some()).count(), 2 * live.len());
    }
}

/// `with_memory_advice` reports the slab, the IPv6 side slab and the index,
/// whose sizes add up to what `memory_usage` reports for them.
#[test]
fn memory_advice_sees_the_big_arrays() {
    let mut seen = Vec::new();
    let t =
        ConnTable::with_memory_advice(cfg(1000), 0, |p, len| seen.push((p as usize, len))).unwrap();
    let m = t.memory_usage();
    assert_eq!(seen.len(), 3);
    assert!(seen.iter().all(|&(p, _)| p != 0));
    let lens: Vec<usize> = seen.iter().map(|s| s.1).collect();
    assert_eq!(lens, vec![m.slab, m.ipv6, m.index]);
}

/// `prefetch` only warms caches: lookups answer the same before and after,
/// whatever it is given (hits, misses, mixed families, more than 32).
#[test]
fn prefetch_changes_nothing() {
    let mut t = ConnTable::new(cfg(64), 0).unwrap();
    let mut tuples = Vec::new();
    for p in 0..40 {
        let nc = nat(p, 0);
        t.insert(&nc, 0).unwrap();
        tuples.push(nc.original);
        tuples.push(nat(p + 500, 0).original);
    }
    let mut mixed = nat(1, 0).original;
    mixed.dst = ip("2001:2::1");
    tuples.insert(0, mixed);
    let before: Vec<_> = tuples.iter().map(|tu| t.lookup(tu)).collect();
    t.prefetch(&tuples);
    t.prefetch(&[]);
    let after: Vec<_> = tuples.iter().map(|tu| t.lookup(tu)).collect();
    assert_eq!(before, after);
    assert_eq!(after.iter().filter(|o| o.is_some()).count(), 40);
    t.check_invariants().unwrap();
}

static PREFETCHES: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);

fn counting_prefetch(p: *const u8) {
    assert!(!p.is_null());
    PREFETCHES.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
}

/// With a prefetcher the burst stages call it (a bucket per tuple with a
/// key, an entry per tag match) and answer exactly as without one.
#[test]
fn burst_with_prefetcher_calls_it_and_agrees() {
    let mut t = ConnTable::new(cfg(64), 0).unwrap();
    let mut tuples = Vec::new();
    for p in 0..20 {
        let nc = nat(p, 0);
        t.insert(&nc, 0).unwrap();
        tuples.push(nc.original);
        tuples.push(nat(p + 500, 0).original);
    }
    let mut plain = vec![None; tuples.len()];
    t.lookup_burst(&tuples, &mut plain);
    t.set_prefetcher(counting_prefetch);
    let mut out = vec![None; tuples.len()];
    t.lookup_burst(&tuples, &mut out);
    assert_eq!(out, plain);
    assert_eq!(out.iter().filter(|o| o.is_some()).count(), 20);
    // Two buckets (home and next) per tuple + at most one entry per tuple (a
    // hit whose entry sits further than the next bucket has no candidate, so
    // the count of entry prefetches depends on the hash seed).
    let n = PREFETCHES.load(std::sync::atomic::Ordering::Relaxed);
    assert!((80..=120).contains(&n), "{n} prefetches");
    // `prefetch` warms both lines of each matched entry (for on_packet): 2 x 10
    // buckets + two per tag match.
    t.prefetch(&tuples[..10]);
    let m = PREFETCHES.load(std::sync::atomic::Ordering::Relaxed) - n;
    assert!(
        (20..=40).contains(&m) && m.is_multiple_of(2),
        "{m} prefetches"
    );
}

/// A new connection's first packet arms it at its state's timeout at once: the sweep that
/// passes the 3 s of `insert` finds nothing to re-arm (it would otherwise visit every new
/// connection a second time, 3 s later, with its lines long out of the caches).
#[test]
fn first_packet_arms_the_real_timeout_at_once() {
    let mut t = ConnTable::new(cfg(256), 0).unwrap();
    for p in 0..100 {
        let id = t.insert(&nat(p, 0), 0).unwrap();
        t.on_packet(id, Direction::Original, TcpFlags::SYN, 60, 0);
    }
    // 3.1 s: 31 ticks of 100 ms passed, each one unit of budget; a re-armed connection
    // would cost one more.
    let used = t.expire(3_100, 100_000);
    assert!(used <= 32, "the sweep visited {used} slots and connections");
    assert_eq!(t.len(), 100);
    // Still expire at SYN_RECV's 60 s, not before.
    t.expire(59_900, 100_000);
    assert_eq!(t.len(), 100);
    t.expire(60_100, 100_000);
    assert_eq!(t.len(), 0);
}
