//! What rvsd leaves behind: EAL's run directory goes at exit, those of dead rvsd
//! processes go at the next start, and a data port's promiscuous mode is put back.

mod common;
use std::path::PathBuf;
use std::process::Command;
use std::time::{Duration, Instant};

use common::{free_port, spawn_rvsd, spawn_rvsd_config, TempDir, DATAPLANE};

/// Where EAL puts its run directories (as DPDK chooses: /var/run for root).
fn dpdk_run_base() -> PathBuf {
    let root = std::fs::read_to_string("/proc/self/status")
        .unwrap()
        .lines()
        .find_map(|l| l.strip_prefix("Uid:"))
        .and_then(|u| u.split_whitespace().nth(1).map(|e| e == "0"))
        .unwrap();
    if root {
        PathBuf::from("/var/run/dpdk")
    } else {
        let base = std::env::var("XDG_RUNTIME_DIR").unwrap_or_else(|_| "/tmp".into());
        PathBuf::from(base).join("dpdk")
    }
}

#[test]
fn the_run_directory_goes_at_exit_and_dead_ones_at_start() {
    // A directory as `kill -9` leaves it, of a process that has exited.
    let mut gone = Command::new("true").spawn().unwrap();
    gone.wait().unwrap();
    let stale = dpdk_run_base().join(format!("rvsd-{}", gone.id()));
    std::fs::create_dir_all(&stale).unwrap();
    std::fs::write(stale.join("dpdk_telemetry.v2"), b"").unwrap();

    let dir = TempDir::new("leftovers");
    let d = spawn_rvsd(&dir, "services: []\nadmin:\n  listen: 127.0.0.1:{port}\n");
    let ours = dpdk_run_base().join(format!("rvsd-{}", d.child.id()));
    assert!(ours.is_dir(), "{} while rvsd runs", ours.display());
    assert!(!stale.exists(), "{} left at start", stale.display());

    drop(d); // SIGTERM and wait
    let deadline = Instant::now() + Duration::from_secs(5);
    while ours.exists() && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(50));
    }
    assert!(!ours.exists(), "{} left after a clean exit", ours.display());
}

/// A veth pair, deleted on drop.
struct Veth(String);

impl Veth {
    fn new(name: &str) -> Veth {
        let ok = Command::new("ip")
            .args(["link", "add", name, "type", "veth", "peer", "name"])
            .arg(format!("{name}p"))
            .status()
            .unwrap()
            .success();
        assert!(ok, "cannot create veth {name} (needs CAP_NET_ADMIN)");
        let up = |n: &str| Command::new("ip").args(["link", "set", n, "up"]).status();
        up(name).unwrap();
        up(&format!("{name}p")).unwrap();
        Veth(name.to_string())
    }

    /// Whether the kernel interface is in promiscuous mode (IFF_PROMISC).
    fn promiscuous(&self) -> bool {
        let flags = std::fs::read_to_string(format!("/sys/class/net/{}/flags", self.0)).unwrap();
        u32::from_str_radix(flags.trim().trim_start_matches("0x"), 16).unwrap() & 0x100 != 0
    }
}

impl Drop for Veth {
    fn drop(&mut self) {
        let _ = Command::new("ip").args(["link", "del", &self.0]).status();
    }
}

#[test]
fn a_data_port_leaves_promiscuous_mode_as_it_found_it() {
    let veth = Veth::new(&format!("rvsp{}", std::process::id() % 100_000));
    assert!(!veth.promiscuous());
    let dir = TempDir::new("leftovers-promisc");
    let port = free_port();
    let yaml = format!(
        r#"{DATAPLANE}interfaces:
  - {{ name: wan0, device: "net_af_packet0,iface={iface}", addresses: [198.18.0.254/24], exception_path: false }}
  - {{ name: lan0, device: "net_null1,no-rx=1", addresses: [198.19.0.254/24], exception_path: false }}
admin:
  listen: 127.0.0.1:{port}
"#,
        iface = veth.0
    );
    std::fs::write(dir.path("rvsd.yaml"), yaml).unwrap();
    let d = spawn_rvsd_config(&dir, port, &["--no-garp"]);
    assert!(veth.promiscuous(), "rvsd turns promiscuous mode on");
    drop(d); // SIGTERM and wait
    assert!(!veth.promiscuous(), "promiscuous mode left on after exit");
}

#[test]
fn an_error_after_the_workers_start_stops_them_and_cleans_up() {
    // admin.listen already taken: the error comes once the worker polls (traffic on
    // net_null0's RX), so the ports, the pool and EAL must outlive it.
    let taken = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = taken.local_addr().unwrap().port();
    let dir = TempDir::new("leftovers-admin-in-use");
    let yaml = format!(
        r#"{DATAPLANE}interfaces:
  - {{ name: wan0, device: "net_null0", addresses: [198.18.0.254/24], exception_path: false }}
  - {{ name: lan0, device: "net_null1", addresses: [198.19.0.254/24], exception_path: false }}
admin:
  listen: 127.0.0.1:{port}
"#
    );
    std::fs::write(dir.path("rvsd.yaml"), yaml).unwrap();
    let log = std::fs::File::create(dir.path("rvsd.log")).unwrap();
    let mut child = Command::new(env!("CARGO_BIN_EXE_rvsd"))
        .arg("--config")
        .arg(dir.path("rvsd.yaml"))
        .arg("--run-dir")
        .arg(dir.path("run"))
        .stdout(std::process::Stdio::null())
        .stderr(log)
        .spawn()
        .unwrap();
    let ours = dpdk_run_base().join(format!("rvsd-{}", child.id()));
    let deadline = Instant::now() + Duration::from_secs(30);
    let status = loop {
        if let Some(s) = child.try_wait().unwrap() {
            break s;
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            let _ = child.wait();
            panic!(
                "rvsd still running 30 s after its admin address failed:\n{}",
                std::fs::read_to_string(dir.path("rvsd.log")).unwrap_or_default()
            );
        }
        std::thread::sleep(Duration::from_millis(50));
    };
    let log = std::fs::read_to_string(dir.path("rvsd.log")).unwrap_or_default();
    use std::os::unix::process::ExitStatusExt;
    assert_eq!(status.signal(), None, "rvsd killed by a signal:\n{log}");
    assert_eq!(status.code(), Some(1), "rvsd's exit status:\n{log}");
    assert!(
        log.contains(&format!(
            "cannot listen on admin address 127.0.0.1:{port} (admin.listen)"
        )),
        "the error is not reported:\n{log}"
    );
    assert!(!ours.exists(), "{} left after the error", ours.display());
    drop(taken);
}
