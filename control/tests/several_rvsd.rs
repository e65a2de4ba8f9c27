//! Several rvsd on one host: an rvsd whose worker would poll a CPU another rvsd's worker
//! already polls says so at start (one warning line naming the CPU, the other rvsd's pid
//! and what to do); with their own cores, nothing is said.

mod common;

use std::process::{Command, Stdio};

use common::{free_port, wait_for_api, RunningRvsd, TempDir};

/// Start rvsd on two traffic-less net_null ports with `dataplane` lines (lcores, polling),
/// the lock files in `run_dir`, its log in `dir/<name>.log`; wait for its admin API.
fn start(dir: &TempDir, name: &str, dataplane: &str, run_dir: &std::path::Path) -> RunningRvsd {
    let port = free_port();
    let yaml = format!(
        "dataplane:\n{dataplane}  eal_args: [\"--no-huge\", \"-m\", \"256\"]\n  mbufs: 2047\ninterfaces:\n  - {{ name: wan0, device: \"net_null0,no-rx=1\", addresses: [198.18.0.254/24], exception_path: false }}\n  - {{ name: lan0, device: \"net_null1,no-rx=1\", addresses: [198.19.0.254/24], exception_path: false }}\nadmin:\n  listen: 127.0.0.1:{port}\n"
    );
    let config = dir.path(&format!("{name}.yaml"));
    std::fs::write(&config, yaml).unwrap();
    let log = std::fs::File::create(dir.path(&format!("{name}.log"))).unwrap();
    let child = Command::new(env!("CARGO_BIN_EXE_rvsd"))
        .arg("--config")
        .arg(&config)
        .arg("--run-dir")
        .arg(run_dir)
        .env("RUST_LOG", "info")
        .stdout(Stdio::null())
        .stderr(log)
        .spawn()
        .unwrap();
    let r = RunningRvsd {
        child,
        base: format!("http://127.0.0.1:{port}"),
    };
    wait_for_api(&r, || {
        format!("rvsd {name} did not come up:\n{}", log_of(dir, name))
    });
    r
}

fn log_of(dir: &TempDir, name: &str) -> String {
    std::fs::read_to_string(dir.path(&format!("{name}.log"))).unwrap_or_default()
}

/// The value of `rvs_worker_cpus_shared` in `r`'s `/metrics`.
fn shared_cpus(r: &RunningRvsd) -> String {
    let text = ureq::get(&format!("{}/metrics", r.base))
        .call()
        .unwrap()
        .into_string()
        .unwrap();
    let line = (text.lines())
        .find(|l| l.starts_with("rvs_worker_cpus_shared "))
        .unwrap_or_else(|| panic!("no rvs_worker_cpus_shared in:\n{text}"));
    line["rvs_worker_cpus_shared ".len()..].to_string()
}

fn warnings(log: &str) -> Vec<&str> {
    log.lines()
        .filter(|l| l.contains("is already polled by"))
        .collect()
}

#[test]
fn a_second_rvsd_on_the_same_worker_cpu_warns() {
    let dir = TempDir::new("several-same");
    let run_dir = dir.path("run");
    let lcores = "  main_lcore: 0\n  worker_lcores: [1]\n";
    let first = start(
        &dir,
        "first",
        &format!("{lcores}  polling: adaptive\n"),
        &run_dir,
    );
    let second = start(
        &dir,
        "second",
        &format!("{lcores}  polling: busy\n"),
        &run_dir,
    );
    let first_log = log_of(&dir, "first");
    assert!(warnings(&first_log).is_empty(), "{first_log}");
    let log = log_of(&dir, "second");
    let lines = warnings(&log);
    assert_eq!(lines.len(), 1, "one warning for CPU 1:\n{log}");
    let line = lines[0];
    for part in [
        "WARN",
        "CPU 1 (worker lcore 1)",
        &format!("rvsd pid {} (adaptive polling)", first.child.id()),
        "this rvsd's worker (busy polling)",
        "dataplane.worker_lcores",
        "main_lcore",
        "dataplane.polling: adaptive",
    ] {
        assert!(line.contains(part), "{part:?} not in: {line}");
    }
    assert_eq!(shared_cpus(&first), "0");
    assert_eq!(shared_cpus(&second), "1");
    drop(second);
    drop(first);
}

#[test]
fn rvsd_on_their_own_cores_say_nothing() {
    let cpus = std::thread::available_parallelism().map_or(1, |n| n.get());
    if cpus < 2 {
        eprintln!("one CPU: every lcore runs on CPU 0, so any two rvsd share it");
        return;
    }
    let dir = TempDir::new("several-own");
    let run_dir = dir.path("run");
    let first = start(
        &dir,
        "first",
        "  main_lcore: 0\n  worker_lcores: [1]\n",
        &run_dir,
    );
    // Lcore 2: CPU 2, or CPU 0 on a two-CPU machine (lcores wrap): not CPU 1 either way.
    let second = start(
        &dir,
        "second",
        "  main_lcore: 0\n  worker_lcores: [2]\n",
        &run_dir,
    );
    for name in ["first", "second"] {
        let log = log_of(&dir, name);
        assert!(warnings(&log).is_empty(), "{name}:\n{log}");
    }
    assert_eq!(shared_cpus(&first), "0");
    assert_eq!(shared_cpus(&second), "0");
    assert!(run_dir.join("cpu-1.lock").exists());
    drop(second);
    drop(first);
}
