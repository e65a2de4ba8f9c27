//! EAL's run directory (`/var/run/dpdk/rvsd-<pid>` with the file prefix rvsd picks):
//! removed at exit, and those of rvsd processes that no longer run removed at start (a
//! `kill -9` leaves one behind, with the telemetry socket in it).

use std::fs;
use std::path::{Path, PathBuf};

use dataplane::dpdk::Eal;
use tracing::{debug, warn};

/// The prefix of the run directories rvsd names (`--file-prefix=rvsd-<pid>`).
const PREFIX: &str = "rvsd-";

/// This process's run directory if rvsd named it; a prefix the operator chose is theirs.
pub fn ours(eal: &Eal) -> Option<PathBuf> {
    let dir = eal.runtime_dir();
    let name = format!("{PREFIX}{}", std::process::id());
    (dir.file_name()? == name.as_str()).then_some(dir)
}

/// Remove the run directories beside `ours` whose rvsd process is gone.
pub fn clean_stale(ours: &Path) {
    let Some(entries) = ours.parent().and_then(|base| fs::read_dir(base).ok()) else {
        return;
    };
    for entry in entries.flatten() {
        let pid = entry
            .file_name()
            .to_str()
            .and_then(|n| n.strip_prefix(PREFIX).and_then(|p| p.parse::<u32>().ok()));
        let Some(pid) = pid else { continue };
        if pid == std::process::id() || is_rvsd(pid) {
            continue;
        }
        match fs::remove_dir_all(entry.path()) {
            Ok(()) => debug!(dir = %entry.path().display(), "removed a dead rvsd's run directory"),
            Err(e) => {
                warn!(dir = %entry.path().display(), error = %e, "cannot remove a dead rvsd's run directory")
            }
        }
    }
}

/// Remove this process's run directory (after EAL cleanup).
pub fn remove(dir: &Path) {
    if let Err(e) = fs::remove_dir_all(dir) {
        warn!(dir = %dir.display(), error = %e, "cannot remove the run directory");
    }
}

/// Whether `pid` is a running rvsd (a reused pid of another program is not).
fn is_rvsd(pid: u32) -> bool {
    fs::read_to_string(format!("/proc/{pid}/comm")).is_ok_and(|c| c.trim_end() == "rvsd")
}
