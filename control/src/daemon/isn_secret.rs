//! The secret of FULLNAT's initial sequence numbers, kept across restarts in the run
//! directory (`<run dir>/fullnat-isn.secret`, 16 random bytes, mode 0600, created at the
//! first start). Real servers keep a FULLNAT local port in TIME_WAIT for 60 s and accept
//! a new connection of it only if its sequence number lies after the old one's: a
//! restarted rvsd with a new secret would number the tuple anew, and about half of the
//! new connections would wait for a SYN retransmission (see
//! `dataplane::xmit::fullnat::isn`). The run directory is a tmpfs (`/run/rvs`), so a
//! reboot draws a new secret; a reboot outlasts the servers' TIME_WAIT on the machines
//! rvsd runs on. Whoever reads the file can predict the director's sequence numbers
//! towards the real servers, as a kernel's `net_secret` would: hence 0600.

use std::fs::{self, OpenOptions};
use std::io::{Read, Write};
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};

use dataplane::xmit::fullnat::isn::SECRET_LEN;
use tracing::{info, warn};

/// The secret's file name in the run directory.
pub const FILE_NAME: &str = "fullnat-isn.secret";

/// The secret kept in `dir`, created there if absent (or unreadable as one). When it
/// cannot be kept, a random secret for this process only, with a warning: new FULLNAT
/// connections may then stall for a second after the next restart.
pub fn load_or_create(dir: &Path) -> [u8; SECRET_LEN] {
    let path = dir.join(FILE_NAME);
    match read(&path) {
        Ok(Some(secret)) => return secret,
        Ok(None) => {}
        Err(e) => {
            warn!(path = %path.display(), "the FULLNAT sequence-number secret is not 16 bytes; replacing it: {e}")
        }
    }
    let secret = match random() {
        Ok(s) => s,
        Err(e) => {
            warn!("cannot read /dev/urandom for the FULLNAT sequence-number secret: {e}; using a weaker one");
            weak_random()
        }
    };
    match write(dir, &path, &secret) {
        Ok(()) => info!(path = %path.display(), "created the FULLNAT sequence-number secret"),
        Err(e) => {
            warn!(path = %path.display(), "cannot keep the FULLNAT sequence-number secret, so real servers may refuse new FULLNAT connections for a minute after rvsd restarts: {e}")
        }
    }
    secret
}

/// The secret in `path`; None when there is no such file.
fn read(path: &Path) -> std::io::Result<Option<[u8; SECRET_LEN]>> {
    let f = match fs::File::open(path) {
        Ok(f) => f,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(e),
    };
    let mut buf = Vec::with_capacity(SECRET_LEN + 1);
    f.take(SECRET_LEN as u64 + 1).read_to_end(&mut buf)?;
    let secret: [u8; SECRET_LEN] = buf
        .try_into()
        .map_err(|b: Vec<u8>| std::io::Error::other(format!("{} bytes", b.len())))?;
    Ok(Some(secret))
}

/// Write `secret` to `path` (mode 0600) through a temporary file, so a crash never leaves
/// half a secret.
fn write(dir: &Path, path: &Path, secret: &[u8; SECRET_LEN]) -> std::io::Result<()> {
    fs::create_dir_all(dir)?;
    let tmp: PathBuf = dir.join(format!(".{FILE_NAME}.{}", std::process::id()));
    let mut f = OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .mode(0o600)
        .open(&tmp)?;
    let written = f.write_all(secret).and_then(|()| f.sync_all());
    if let Err(e) = written.and_then(|()| fs::rename(&tmp, path)) {
        let _ = fs::remove_file(&tmp);
        return Err(e);
    }
    Ok(())
}

/// 16 bytes from the kernel's random source.
fn random() -> std::io::Result<[u8; SECRET_LEN]> {
    let mut s = [0u8; SECRET_LEN];
    fs::File::open("/dev/urandom")?.read_exact(&mut s)?;
    Ok(s)
}

/// 16 bytes from std's per-process random hash keys (no /dev/urandom).
fn weak_random() -> [u8; SECRET_LEN] {
    use std::hash::BuildHasher;
    let s = std::collections::hash_map::RandomState::new();
    let mut out = [0u8; SECRET_LEN];
    out[..8].copy_from_slice(&s.hash_one(1u8).to_le_bytes());
    out[8..].copy_from_slice(&s.hash_one(2u8).to_le_bytes());
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::PermissionsExt;

    fn scratch(name: &str) -> PathBuf {
        let d = std::env::temp_dir().join(format!("rvs-isn-{name}-{}", std::process::id()));
        let _ = fs::remove_dir_all(&d);
        d
    }

    #[test]
    fn the_secret_is_created_once_and_kept() {
        let dir = scratch("kept");
        let first = load_or_create(&dir);
        let path = dir.join(FILE_NAME);
        let mode = fs::metadata(&path).unwrap().permissions().mode();
        assert_eq!(mode & 0o777, 0o600);
        assert_eq!(
            load_or_create(&dir),
            first,
            "a restart reads the same secret"
        );
        assert_eq!(
            fs::read_dir(&dir).unwrap().count(),
            1,
            "no temporary file left"
        );
        fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn a_damaged_secret_is_replaced() {
        let dir = scratch("damaged");
        fs::create_dir_all(&dir).unwrap();
        let path = dir.join(FILE_NAME);
        fs::write(&path, b"short").unwrap();
        let s = load_or_create(&dir);
        assert_eq!(fs::read(&path).unwrap(), s);
        fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn an_unusable_directory_still_gives_a_secret() {
        let dir = scratch("file");
        fs::write(&dir, b"not a directory").unwrap();
        let a = load_or_create(&dir);
        let b = load_or_create(&dir);
        assert_ne!(a, b, "random each time: nothing could be kept");
        fs::remove_file(&dir).unwrap();
    }
}
