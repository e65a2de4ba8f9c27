//! Several rvsd on one host: one advisory lock per worker CPU in the run directory
//! (`<run dir>/cpu-<N>.lock`), held for the life of the process, so that an rvsd whose
//! worker would poll a CPU another rvsd's worker already polls says so at start. Two
//! workers on one CPU share it silently otherwise, and a busy-polling one halves the
//! other's throughput.
//!
//! The lock is `flock(2)`: the kernel releases it when the process exits, however it
//! exits, so a crashed rvsd leaves no stale claim. The file records its holder (pid, lcore,
//! polling mode) for the warning of the next one. A lock that cannot be taken for another
//! reason (no run directory, not root) is reported and start-up goes on: the check is
//! advice, never a reason not to run.

use std::fs::{File, OpenOptions};
use std::io::{Read, Seek, Write};
use std::path::{Path, PathBuf};

use dataplane::worker::Polling;
use rustix::fs::{flock, FlockOperation};
use tracing::{debug, warn};

/// Where rvsd keeps its per-CPU lock files unless `--run-dir` says otherwise.
pub const DEFAULT_RUN_DIR: &str = "/run/rvs";

/// The locks of this rvsd's worker CPUs; dropping it (or the process ending) releases them.
#[derive(Debug)]
pub struct CpuLocks {
    /// The open lock files: `flock` holds as long as they stay open.
    _held: Vec<File>,
    /// The CPUs another rvsd's worker already held at start.
    pub shared: Vec<u32>,
}

/// The name of a polling mode in the lock file and the log.
fn polling_name(p: Polling) -> &'static str {
    match p {
        Polling::Busy => "busy",
        Polling::Adaptive => "adaptive",
    }
}

/// The lock file of `cpu` in `dir`.
pub fn lock_path(dir: &Path, cpu: u32) -> PathBuf {
    dir.join(format!("cpu-{cpu}.lock"))
}

/// Lock each worker CPU of `workers` (`(lcore, cpu)` pairs) in `dir` (created if missing),
/// warning once per CPU another process holds. A CPU two of this rvsd's own lcores share
/// (lcores wrapped onto a small machine) is locked once.
pub fn claim(dir: &Path, workers: &[(u32, u32)], polling: Polling) -> CpuLocks {
    let mut locks = CpuLocks {
        _held: Vec::new(),
        shared: Vec::new(),
    };
    if let Err(e) = std::fs::create_dir_all(dir) {
        warn!(dir = %dir.display(), "cannot create the run directory, so cannot tell whether another rvsd polls this rvsd's worker CPUs: {e}");
        return locks;
    }
    let mut seen = Vec::new();
    for &(lcore, cpu) in workers {
        if seen.contains(&cpu) {
            continue;
        }
        seen.push(cpu);
        let path = lock_path(dir, cpu);
        match claim_one(&path, lcore, polling) {
            Ok(Claim::Held(file)) => locks._held.push(file),
            Ok(Claim::Taken(holder)) => {
                warn_shared(cpu, lcore, polling, &holder);
                locks.shared.push(cpu);
            }
            Err(e) => {
                warn!(cpu, path = %path.display(), "cannot lock the worker CPU's lock file, so cannot tell whether another rvsd polls it: {e}");
            }
        }
    }
    locks
}

/// What trying one CPU's lock found.
enum Claim {
    /// Ours now, with our record written in it.
    Held(File),
    /// Another process holds it; its record (empty if it wrote none yet).
    Taken(String),
}

fn claim_one(path: &Path, lcore: u32, polling: Polling) -> std::io::Result<Claim> {
    let mut file = OpenOptions::new()
        .read(true)
        .write(true)
        .create(true)
        .truncate(false)
        .open(path)?;
    match flock(&file, FlockOperation::NonBlockingLockExclusive) {
        Ok(()) => {
            file.set_len(0)?;
            file.rewind()?;
            writeln!(
                file,
                "pid={} lcore={lcore} polling={}",
                std::process::id(),
                polling_name(polling)
            )?;
            debug!(path = %path.display(), "worker CPU locked");
            Ok(Claim::Held(file))
        }
        Err(e) if e == rustix::io::Errno::WOULDBLOCK => {
            let mut holder = String::new();
            file.read_to_string(&mut holder)?;
            Ok(Claim::Taken(holder))
        }
        Err(e) => Err(e.into()),
    }
}

/// The value of `key=` in a lock file's record.
fn field<'a>(record: &'a str, key: &str) -> Option<&'a str> {
    record
        .split_whitespace()
        .find_map(|kv| kv.strip_prefix(key)?.strip_prefix('='))
}

/// One line that says which CPU is shared, with whom, and what to do.
fn warn_shared(cpu: u32, lcore: u32, polling: Polling, holder: &str) {
    let other = match (field(holder, "pid"), field(holder, "polling")) {
        (Some(pid), Some(p)) => format!("rvsd pid {pid} ({p} polling)"),
        (Some(pid), None) => format!("rvsd pid {pid}"),
        _ => "another rvsd".to_string(),
    };
    warn!(
        cpu,
        other_pid = field(holder, "pid").unwrap_or("unknown"),
        "CPU {cpu} (worker lcore {lcore}) is already polled by the worker of {other}; this rvsd's worker ({} polling) will share it and both lose throughput: give each rvsd its own dataplane.worker_lcores and main_lcore, or use dataplane.polling: adaptive on the one that can wait",
        polling_name(polling)
    );
}

#[cfg(test)]
mod tests {
    use super::*;

    fn scratch(name: &str) -> PathBuf {
        let d = std::env::temp_dir().join(format!("rvs-cpu-lock-{name}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&d);
        d
    }

    /// A second claim on a CPU (its own open file, as another process would have) finds it
    /// taken with the first one's record; other CPUs stay free; dropping the first frees it.
    #[test]
    fn a_held_cpu_is_reported_with_its_holder() {
        let dir = scratch("held");
        let first = claim(&dir, &[(1, 1)], Polling::Busy);
        assert!(first.shared.is_empty());
        let record = std::fs::read_to_string(lock_path(&dir, 1)).unwrap();
        assert_eq!(
            field(&record, "pid"),
            Some(&*std::process::id().to_string())
        );
        assert_eq!(field(&record, "polling"), Some("busy"));
        match claim_one(&lock_path(&dir, 1), 1, Polling::Adaptive).unwrap() {
            Claim::Taken(holder) => assert_eq!(holder, record),
            Claim::Held(_) => panic!("CPU 1 locked twice"),
        }
        let second = claim(&dir, &[(1, 1), (2, 0), (4, 0)], Polling::Adaptive);
        assert_eq!(second.shared, [1]);
        assert_eq!(second._held.len(), 1, "CPU 0 once for lcores 2 and 4");
        drop(first);
        let third = claim(&dir, &[(1, 1)], Polling::Adaptive);
        assert!(third.shared.is_empty());
        let _ = std::fs::remove_dir_all(&dir);
    }

    /// No run directory (a file in its place): start-up goes on, nothing is held.
    #[test]
    fn an_unusable_run_directory_is_not_fatal() {
        let dir = scratch("unusable");
        std::fs::write(&dir, b"not a directory").unwrap();
        let locks = claim(&dir, &[(1, 1)], Polling::Busy);
        assert!(locks.shared.is_empty() && locks._held.is_empty());
        let _ = std::fs::remove_file(&dir);
    }
}
