//! `prefetch_insert` is only a hint: it asks the caller's prefetcher for the reply
//! tuple's index bucket and the slab slot the next insert takes, and changes nothing.

use std::cell::RefCell;
use std::net::IpAddr;

use conn_table::*;

thread_local! {
    static SEEN: RefCell<Vec<usize>> = const { RefCell::new(Vec::new()) };
}

fn record(p: *const u8) {
    SEEN.with(|s| s.borrow_mut().push(p as usize));
}

fn seen() -> Vec<usize> {
    SEEN.with(|s| std::mem::take(&mut *s.borrow_mut()))
}

fn nat(cport: u16) -> NewConn {
    let (c, vip, rip): (IpAddr, IpAddr, IpAddr) = (
        IpAddr::from([198, 18, 0, 1]),
        IpAddr::from([198, 18, 0, 100]),
        IpAddr::from([198, 19, 0, 11]),
    );
    NewConn {
        original: Tuple::new(proto::TCP, c, cport, vip, 80),
        reply: Some(Tuple::new(proto::TCP, rip, 8080, c, cport)),
        rs: 0,
        svc: 1,
        method: Method::Masq,
        template: None,
    }
}

#[test]
fn prefetch_insert_hints_the_reply_bucket_and_the_next_slot() {
    let cfg = Config {
        capacity: 4,
        ipv6_capacity: 4,
        max_templates: 4,
        max_real_servers: 4,
        tick_ms: 100,
        wheel_slots: 1024,
    };
    let mut t = ConnTable::new(cfg, 0).unwrap();
    // Without a prefetcher it does nothing at all.
    t.prefetch_insert(nat(1).reply.as_ref());
    assert!(seen().is_empty());
    t.set_prefetcher(record);
    let (mut ids, mut slots) = (Vec::new(), Vec::new());
    for port in 1..=4u16 {
        let c = nat(port);
        // The reply's bucket and the slot; for DR/TUN (no reply) only the slot.
        t.prefetch_insert(c.reply.as_ref());
        let both = seen();
        assert_eq!(both.len(), 2);
        t.prefetch_insert(None);
        assert_eq!(seen(), vec![both[1]]);
        slots.push(both[1]);
        ids.push(t.insert(&c, 0).unwrap());
    }
    // Fresh slots follow each other in the slab.
    for w in slots.windows(2) {
        assert_eq!(w[1] - w[0], ConnTable::ENTRY_SIZE);
    }
    // Full: no slot left to hint, only the bucket; the insert is refused as before.
    t.prefetch_insert(nat(9).reply.as_ref());
    assert_eq!(seen().len(), 1);
    assert_eq!(t.insert(&nat(9), 0), Err(InsertError::Full));
    // A freed slot is the next one taken, and the hint names it.
    assert!(t.remove(ids[1]));
    t.prefetch_insert(None);
    assert_eq!(seen(), vec![slots[1]]);
    assert_eq!(t.insert(&nat(9), 0), Ok(ids[1]));
    t.check_invariants().unwrap();
}
