//! Property test: random operations against a simple reference model.
//! Checks that every live flow is found from both directions, that expired
//! and removed flows are gone, that counts match the live connections, and
//! that templates never go away while they control connections.

use std::collections::HashMap;
use std::net::IpAddr;

use conn_table::*;
use proptest::prelude::*;

const TICK_MS: u64 = 100;

#[derive(Clone, Debug)]
enum Op {
    /// Insert flow `n` (NAT, DR, TUN or FULLNAT), optionally through
    /// the template of client `n % 4`.
    Insert {
        n: u16,
        method: u8,
        rs: u32,
        persist: bool,
    },
    /// A packet on flow `n` in a direction with TCP flags.
    Packet {
        n: u16,
        reply: bool,
        flags: u8,
    },
    Remove {
        n: u16,
    },
    Advance {
        ms: u64,
        budget: usize,
    },
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        4 => (0u16..16, 0u8..4, 0u32..4, any::<bool>())
            .prop_map(|(n, method, rs, persist)| Op::Insert { n, method, rs, persist }),
        6 => (0u16..16, any::<bool>(), prop::sample::select(vec![0x02u8, 0x12, 0x10, 0x11, 0x01, 0x04, 0x14, 0x00]))
            .prop_map(|(n, reply, flags)| Op::Packet { n, reply, flags }),
        1 => (0u16..16).prop_map(|n| Op::Remove { n }),
        2 => (0u64..200_000, prop::sample::select(vec![1usize, 7, 64, usize::MAX]))
            .prop_map(|(ms, budget)| Op::Advance { ms, budget }),
    ]
}

fn client(n: u16) -> IpAddr {
    // Four clients, several ports each; IPv6 for some of them.
    if n % 4 == 3 {
        "2001:2::7".parse().unwrap()
    } else {
        IpAddr::from([198, 18, 0, (n % 4) as u8 + 1])
    }
}

fn flow(n: u16, udp: bool, method: u8, rs: u32) -> NewConn {
    let p = if udp { proto::UDP } else { proto::TCP };
    let c = client(n);
    let v6 = c.is_ipv6();
    let (vip, rip, lip): (IpAddr, IpAddr, IpAddr) = if v6 {
        (
            "2001:2::100".parse().unwrap(),
            "2001:2::11".parse().unwrap(),
            "2001:2::250".parse().unwrap(),
        )
    } else {
        (
            IpAddr::from([198, 18, 0, 100]),
            IpAddr::from([198, 19, 0, 11]),
            IpAddr::from([198, 19, 0, 250]),
        )
    };
    let cport = 10_000 + n;
    let original = Tuple::new(p, c, cport, vip, 80);
    let (method, reply) = match method {
        0 => (Method::Masq, Some(Tuple::new(p, rip, 8080, c, cport))),
        1 => (Method::Route, None),
        2 => (Method::Tunnel, None),
        _ => (
            Method::FullNat,
            Some(Tuple::new(p, rip, 8080, lip, 20_000 + n)),
        ),
    };
    NewConn {
        original,
        reply,
        rs,
        svc: 1,
        method,
        template: None,
    }
}

#[derive(Clone, Debug)]
struct Model {
    conn: NewConn,
    expires: u64,
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    #[test]
    fn table_matches_model(ops in prop::collection::vec(op(), 1..80)) {
        let cfg = Config {
            capacity: 10,
            ipv6_capacity: 3,
            max_templates: 4,
            max_real_servers: 4,
            tick_ms: TICK_MS as u32,
            wheel_slots: 16384,
        };
        let mut t = ConnTable::new(cfg, 1_000).unwrap();
        let mut now = 1_000u64;
        let mut model: HashMap<u16, Model> = HashMap::new();
        let mut full_refusals = 0u64;
        for op in ops {
            match op {
                Op::Insert { n, method, rs, persist } => {
                    // Flows 0, 5, 10, ... are UDP, the rest TCP.
                    let mut nc = flow(n, n % 5 == 0, method, rs);
                    if persist {
                        let key = TemplateKey { svc: 1, client: client(n), vport: 80 };
                        let tid = match t.template_get(&key, now) {
                            Some((tid, bound)) => { nc.rs = bound; Some(tid) }
                            None => t.template_create(&key, rs, 30, now).ok(),
                        };
                        nc.template = tid;
                    }
                    let res = t.insert(&nc, now);
                    match res {
                        Ok(_) => {
                            prop_assert!(!model.contains_key(&n));
                            model.insert(n, Model { conn: nc, expires: now + 3_000 });
                        }
                        Err(InsertError::Exists) => prop_assert!(model.contains_key(&n)),
                        Err(InsertError::Full) => {
                            full_refusals += 1;
                            let v6 = model.values().filter(|m| m.conn.original.is_ipv6()).count();
                            prop_assert!(model.len() == 10 || (nc.original.is_ipv6() && v6 == 3));
                        }
                        Err(e) => prop_assert!(false, "unexpected {e:?}"),
                    }
                }
                Op::Packet { n, reply, flags } => {
                    let Some(m) = model.get_mut(&n) else { continue };
                    let tuple = if reply {
                        match m.conn.reply { Some(r) => r, None => continue }
                    } else {
                        m.conn.original
                    };
                    let (id, dir) = t.lookup(&tuple).expect("live flow found");
                    prop_assert_eq!(dir, if reply { Direction::Reply } else { Direction::Original });
                    let st = t.on_packet(id, dir, TcpFlags(flags), 100, now).unwrap();
                    let timeouts = t.timeouts();
                    let secs = match st {
                        ConnState::Tcp(s) => timeouts.tcp_state(s),
                        ConnState::Udp => timeouts.udp,
                        _ => unreachable!(),
                    };
                    m.expires = now + u64::from(secs) * 1000;
                    let info = t.get(id, now).unwrap();
                    prop_assert_eq!(info.expires_in_ms, u64::from(secs) * 1000);
                    // The borrowed view reads the same record the copy does.
                    let v = t.conn(id).unwrap();
                    prop_assert_eq!(v.info(now), info);
                    prop_assert_eq!((v.id(), v.rs(), v.svc(), v.method()), (id, info.rs, info.svc, info.method));
                    prop_assert_eq!((v.state(), v.flags(), v.template()), (st, info.flags, info.template));
                    prop_assert_eq!(v.original(), info.original);
                    prop_assert_eq!(v.reply(), info.reply);
                    for d in [Direction::Original, Direction::Reply] {
                        let tu = if d == Direction::Original { Some(info.original) } else { info.reply };
                        prop_assert_eq!(v.src(d), tu.map(|x| (x.src, x.sport)));
                        prop_assert_eq!(v.dst(d), tu.map(|x| (x.dst, x.dport)));
                        // The typed views: the same endpoint in its family, None in the other.
                        let v4 = |e: Option<(IpAddr, u16)>| match e {
                            Some((IpAddr::V4(a), p)) => Some((a, p)),
                            _ => None,
                        };
                        let v6 = |e: Option<(IpAddr, u16)>| match e {
                            Some((IpAddr::V6(a), p)) => Some((a, p)),
                            _ => None,
                        };
                        prop_assert_eq!(v.src_v4(d), v4(v.src(d)));
                        prop_assert_eq!(v.dst_v4(d), v4(v.dst(d)));
                        prop_assert_eq!(v.src_v6(d), v6(v.src(d)));
                        prop_assert_eq!(v.dst_v6(d), v6(v.dst(d)));
                        prop_assert_eq!(v.packets(d), info.counters.packets[d as usize]);
                        prop_assert_eq!(v.bytes(d), info.counters.bytes[d as usize]);
                    }
                }
                Op::Remove { n } => {
                    let Some(m) = model.remove(&n) else { continue };
                    let (id, _) = t.lookup(&m.conn.original).unwrap();
                    prop_assert!(t.remove(id));
                    prop_assert!(t.conn(id).is_none());
                }
                Op::Advance { ms, budget } => {
                    now += ms;
                    let mut spent = t.expire(now, budget);
                    // Finish the sweep so the model comparison is exact.
                    while spent == budget {
                        spent = t.expire(now, budget);
                    }
                    // Whatever expired in a tick before the current one is
                    // gone; whatever expires after `now` is still there.
                    model.retain(|_, m| m.expires / TICK_MS >= now / TICK_MS);
                    // Entries due earlier in the current tick may go either
                    // way (expiry is at most one tick late): align.
                    let due_now: Vec<u16> = model
                        .iter()
                        .filter(|(_, m)| m.expires <= now && t.lookup(&m.conn.original).is_none())
                        .map(|(n, _)| *n)
                        .collect();
                    for n in due_now {
                        model.remove(&n);
                    }
                }
            }
            // Every model flow is found from both directions; nothing else is.
            prop_assert_eq!(t.len(), model.len());
            for m in model.values() {
                let (id, d) = t.lookup(&m.conn.original).expect("original found");
                prop_assert_eq!(d, Direction::Original);
                if let Some(r) = m.conn.reply {
                    prop_assert_eq!(t.lookup(&r), Some((id, Direction::Reply)));
                }
                for tu in [Some(m.conn.original), m.conn.reply].into_iter().flatten() {
                    if let (IpAddr::V4(s), IpAddr::V4(d)) = (tu.src, tu.dst) {
                        prop_assert_eq!(
                            t.lookup_v4(tu.proto, (s, tu.sport), (d, tu.dport)),
                            t.lookup(&tu)
                        );
                    }
                }
                let info = t.get(id, now).unwrap();
                prop_assert_eq!(info.rs, m.conn.rs);
                prop_assert_eq!(info.template, m.conn.template);
            }
            // Counts: active + inactive per real server equal the live flows.
            for rs in 0..4u32 {
                let c = t.rs_counts(rs);
                let n = model.values().filter(|m| m.conn.rs == rs).count() as u32;
                prop_assert_eq!(c.active + c.inactive, n);
            }
            prop_assert_eq!(t.stats().refused_full, full_refusals);
            // Index, wheel, counts, template control counts all consistent
            // (this also fails if a template was freed while controlling).
            if let Err(e) = t.check_invariants() {
                prop_assert!(false, "{}", e);
            }
        }
        // Finally everything expires, templates after their connections.
        now += 10_000_000;
        while t.expire(now, 1000) == 1000 {}
        prop_assert!(t.is_empty());
        now += 100_000;
        while t.expire(now, 1000) == 1000 {}
        prop_assert_eq!(t.templates_len(), 0);
        prop_assert!(t.all_rs_counts().iter().all(|c| *c == RsCounts::default()));
    }
}
