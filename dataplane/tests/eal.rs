//! The safe DPDK layer on a real EAL (one per process, so one test): lcore launch refuses
//! what DPDK would misuse and survives a panicking job, queue handles are handed out once,
//! ring ends and chained mbufs behave.

use std::sync::atomic::{AtomicBool, Ordering};

use dataplane::dpdk::{Eal, LcoreExit, MbufRing, Mempool, Port, RxBurst};

#[test]
fn the_dpdk_layer_refuses_what_would_be_undefined() {
    let prefix = format!("--file-prefix=rvs-test-eal-{}", std::process::id());
    let eal = Eal::init(&[
        "-l",
        "0,1",
        "--main-lcore",
        "0",
        "--no-huge",
        "-m",
        "128",
        "--no-pci",
        "--no-shconf",
        "--log-level=lib.eal:error",
        "--vdev=net_null0",
        prefix.as_str(),
    ])
    .expect("EAL");
    let run_dir = eal.runtime_dir();
    let pool = Mempool::new(&eal, "eal_test", 1023, 0).expect("pool");
    let port = Port::open(&eal, "net_null0", 1, &pool).expect("net_null0");

    lcores(&eal, &port);
    queues(&port);
    ring(&eal, &pool);
    chained_mbufs(&pool);

    drop(port);
    drop(pool);
    drop(eal);
    let _ = std::fs::remove_dir_all(run_dir);
}

fn lcores(eal: &Eal, port: &Port) {
    let stop = AtomicBool::new(false);
    let (_, exits) = eal.scope(&stop, |lcores| {
        assert!(lcores.launch(0, || 0).is_err(), "the main lcore");
        assert!(
            lcores.launch(5, || 0).is_err(),
            "an lcore EAL did not enable"
        );
        assert!(lcores.launch(100_000, || 0).is_err(), "past RTE_MAX_LCORE");
        lcores
            .launch(1, || panic!("a worker's bug"))
            .expect("lcore 1");
        assert!(lcores.launch(1, || 0).is_err(), "lcore 1 is taken");
    });
    assert_eq!(exits, vec![(1, LcoreExit::Panicked)]);

    // The lcore is free again, and a job may borrow what outlives the scope: here it polls
    // a queue of the port until the scope ends and sets `stop`.
    let stop = AtomicBool::new(false);
    let mut rx = port.rx_queue(0).expect("rx queue 0");
    let (received, exits) = eal.scope(&stop, |lcores| {
        let (stop, rx) = (&stop, &mut rx);
        lcores
            .launch(1, move || {
                let mut burst = RxBurst::default();
                let mut n = 0;
                while !stop.load(Ordering::Acquire) {
                    n += rx.rx_burst(&mut burst);
                }
                i32::from(n > 0)
            })
            .expect("lcore 1 again");
        "the scope's value"
    });
    assert_eq!(received, "the scope's value");
    assert_eq!(
        exits,
        vec![(1, LcoreExit::Returned(1))],
        "net_null delivers"
    );
}

fn queues(port: &Port) {
    // Queue 0's RX handle went to `lcores`.
    assert!(port.rx_queue(0).is_err(), "RX queue 0 handed out twice");
    let err = port.rx_queue(1).expect_err("one queue configured");
    assert_eq!(err.errno, libc::EINVAL, "{err}");
    let _tx = port.tx_queue(0).expect("tx queue 0");
    let err = port.tx_queue(0).expect_err("TX queue 0 handed out twice");
    assert_eq!(err.errno, libc::EBUSY, "{err}");
}

fn ring(eal: &Eal, pool: &Mempool) {
    let (mut producer, mut consumer) = MbufRing::create(eal, "eal_test_ring", 4).expect("ring");
    let ring = producer.ring();
    for _ in 0..3 {
        producer.enqueue(pool.alloc().unwrap()).expect("room");
    }
    assert!(producer.enqueue(pool.alloc().unwrap()).is_err(), "full");
    assert_eq!(ring.count(), 3);
    let mut burst = RxBurst::default();
    assert_eq!(consumer.dequeue(&mut burst), 3);
    drop(burst);
    // Entries left when the ends go are freed with the ring.
    producer.enqueue(pool.alloc().unwrap()).unwrap();
    let in_use = pool.in_use();
    drop((producer, consumer, ring));
    assert_eq!(pool.in_use(), in_use - 1);
}

fn chained_mbufs(pool: &Mempool) {
    let mut head = pool.alloc().unwrap();
    head.append(100).unwrap();
    let mut tail = pool.alloc().unwrap();
    tail.append(50).unwrap();
    head.chain(tail).expect("chain");
    assert_eq!(head.segments(), 2);
    assert_eq!(head.len(), 100, "the first segment");
    // DPDK would trim or grow the last segment, which `len` and `data` do not see.
    assert!(!head.trim(10));
    assert!(head.append(10).is_none());
    assert!(!head.set_len(90));
    assert_eq!(head.len(), 100);
    let mut single = pool.alloc().unwrap();
    single.append(100).unwrap();
    assert!(single.set_len(90) && single.len() == 90);
}
