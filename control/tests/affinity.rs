//! rvsd's own threads stay on the control core: every thread that is not a worker (the
//! control thread with its tokio runtime running the admin API and the health checks,
//! and EAL's own helper threads) runs off the workers' CPUs, and the control thread on
//! the main lcore's.

mod common;

use std::collections::BTreeSet;

use common::{spawn_rvsd, TempDir};

/// CPUs of a `Cpus_allowed_list` value (`0-2,4`).
fn cpu_list(s: &str) -> BTreeSet<usize> {
    let mut cpus = BTreeSet::new();
    for part in s.trim().split(',').filter(|p| !p.is_empty()) {
        match part.split_once('-') {
            Some((a, b)) => cpus.extend(a.parse::<usize>().unwrap()..=b.parse().unwrap()),
            None => {
                cpus.insert(part.parse().unwrap());
            }
        }
    }
    cpus
}

/// Every thread of process `pid`: (thread id, name, allowed CPUs).
fn threads(pid: u32) -> Vec<(u32, String, BTreeSet<usize>)> {
    let mut out = Vec::new();
    for entry in std::fs::read_dir(format!("/proc/{pid}/task")).unwrap() {
        let dir = entry.unwrap().path();
        let tid: u32 = dir.file_name().unwrap().to_str().unwrap().parse().unwrap();
        let name = std::fs::read_to_string(dir.join("comm")).unwrap();
        let status = std::fs::read_to_string(dir.join("status")).unwrap();
        let allowed = status
            .lines()
            .find_map(|l| l.strip_prefix("Cpus_allowed_list:"))
            .expect("Cpus_allowed_list in status");
        out.push((tid, name.trim().to_string(), cpu_list(allowed)));
    }
    out.sort();
    out
}

#[test]
fn threads_other_than_workers_stay_off_the_worker_cores() {
    let cpus = std::thread::available_parallelism().map_or(1, |n| n.get());
    if cpus < 2 {
        eprintln!("one CPU: the worker shares it with the control thread; nothing to check");
        return;
    }
    let dir = TempDir::new("affinity");
    let checked = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let d = spawn_rvsd(
        &dir,
        &format!(
            "routes:\n  - {{ prefix: 127.0.0.0/8, via: 198.19.0.1, interface: lan0 }}\nservices:\n  - proto: tcp\n    vip: 198.18.0.100\n    port: 80\n    method: masq\n    health_check: {{ type: tcp, interval: 50ms }}\n    real_servers: [ {{ address: 127.0.0.1, port: {} }} ]\nadmin:\n  listen: 127.0.0.1:{{port}}\n",
            checked.local_addr().unwrap().port()
        ),
    );
    // The API answered: the control thread's runtime runs, and the checker with it.
    let _ = ureq::get(&format!("{}/v1/health", d.base)).call().unwrap();
    let pid = d.child.id();
    let all = threads(pid);
    let listing = format!("{all:?}");
    // DPDK names its lcore threads rte-worker-N (lcore-worker-N, dpdk-workerN elsewhere).
    let is_worker = |name: &str| {
        ["rte-worker", "lcore-worker", "dpdk-worker"]
            .iter()
            .any(|p| name.starts_with(p))
    };
    let worker_cpus: BTreeSet<usize> = (all.iter())
        .filter(|t| is_worker(&t.1))
        .flat_map(|t| t.2.iter().copied())
        .collect();
    assert_eq!(
        worker_cpus,
        [1].into(),
        "worker lcore 1 on CPU 1: {listing}"
    );
    for (tid, name, allowed) in &all {
        if is_worker(name) {
            continue;
        }
        assert!(
            allowed.is_disjoint(&worker_cpus),
            "thread {tid} ({name}) may run on a worker CPU: {listing}"
        );
    }
    let control = all.iter().find(|t| t.0 == pid).expect("the main thread");
    assert_eq!(
        control.2,
        [0].into(),
        "the control thread runs on the main lcore's CPU: {listing}"
    );
}
