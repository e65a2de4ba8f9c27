use super::*;

fn addr(i: u8) -> SocketAddr {
    SocketAddr::from(([198, 19, 0, i], 80))
}

const SVC: &str = "tcp 198.18.0.100:80";

#[test]
fn a_deleted_servers_id_is_reused_only_once_every_worker_reports_it_unreferenced() {
    let w = Arc::new(WorkerStats::default());
    let workers = [w.clone()];
    let mut ids = RealServerIds::default();
    let a = ids.id(SVC, addr(1)).unwrap();
    // Deleted in the tables of generation 5.
    ids.retire(|_, rs| rs != addr(1), 5);
    assert_eq!(ids.get(SVC, addr(1)), None);
    // The worker has not finished a pass on generation 5: the id stays taken.
    w.counts_generation.store(4, Relaxed);
    assert_eq!(ids.recycle(&workers), 0);
    assert_ne!(ids.id(SVC, addr(2)).unwrap(), a);
    // On generation 5, but a connection still refers to it.
    w.counts_generation.store(5, Relaxed);
    w.real_servers
        .get(a as usize)
        .unwrap()
        .refs
        .store(1, Relaxed);
    assert_eq!(ids.recycle(&workers), 0);
    w.real_servers
        .get(a as usize)
        .unwrap()
        .refs
        .store(0, Relaxed);
    assert_eq!(ids.recycle(&workers), 1);
    assert_eq!(ids.id(SVC, addr(3)).unwrap(), a, "the freed id is reused");
    assert_eq!(ids.len(), 2);
}

#[test]
fn a_server_added_back_while_its_id_drains_gets_it_back_as_fresh() {
    let mut ids = RealServerIds::default();
    let a = ids.id(SVC, addr(1)).unwrap();
    assert_eq!(ids.take_fresh(), vec![a]);
    assert!(ids.take_fresh().is_empty(), "a known server is not fresh");
    ids.id(SVC, addr(1)).unwrap();
    assert!(ids.take_fresh().is_empty());
    ids.retire(|_, _| false, 2);
    assert_eq!(ids.id(SVC, addr(1)).unwrap(), a);
    assert_eq!(
        ids.take_fresh(),
        vec![a],
        "its statistics start again at zero"
    );
    assert_eq!(ids.in_use(), 1);
}
