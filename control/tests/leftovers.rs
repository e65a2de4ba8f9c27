//! What rvsd leaves behind: EAL's run directory goes at exit, and those of dead rvsd
//! processes go at the next start.

mod common;
use std::path::PathBuf;
use std::time::{Duration, Instant};

use common::{spawn_rvsd, TempDir};

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
    let mut gone = std::process::Command::new("true").spawn().unwrap();
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
