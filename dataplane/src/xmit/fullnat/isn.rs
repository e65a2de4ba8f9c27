//! FULLNAT's initial sequence numbers towards real servers, as the kernel's
//! `secure_tcp_seq` makes them: a keyed hash of the server-side tuple plus a clock of
//! 64 ns ticks, so the numbers of one tuple only grow (see [`super::tcp_seq`] for why).
//!
//! A real server keeps a tuple in TIME_WAIT for 60 s, longer than rvsd takes to restart;
//! it then accepts a new SYN of the tuple only if its sequence number lies after the old
//! connection's (timestamps are removed from FULLNAT SYNs). So the numbers must keep
//! growing across a restart, on whichever worker the local port lands:
//! - the secret is the same in every worker and every rvsd process of a host: the control
//!   plane keeps it in a file ([`IsnKey::from_secret`]); [`IsnKey::default`] is random,
//!   for tests;
//! - the clock is the real time (as the kernel's, `ktime_get_real_ns() >> 6`), not the
//!   worker's clock, which starts at 0 with each process. It is read once a second
//!   ([`IsnClock`]) and advanced by the worker's millisecond clock in between, never
//!   backwards within a process.

use std::collections::hash_map::RandomState;
use std::hash::BuildHasher;
use std::net::IpAddr;
use std::time::{SystemTime, UNIX_EPOCH};

/// Length of the secret the control plane keeps (a SipHash-2-4 key).
pub const SECRET_LEN: usize = 16;

/// 64 ns ticks per millisecond (the kernel's ISN clock).
pub const TICKS_PER_MS: u64 = 1_000_000 / 64;

/// How often the real time is read again (worker clock, ms): in between, the worker's
/// clock (from the TSC) advances it, whose rate error stays far below a millisecond a
/// second.
const REANCHOR_MS: u64 = 1000;

/// The director's secret for initial sequence numbers.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct IsnKey {
    k0: u64,
    k1: u64,
}

impl Default for IsnKey {
    /// A random key (tests; rvsd uses [`IsnKey::from_secret`]).
    fn default() -> Self {
        let s = RandomState::new();
        IsnKey {
            k0: s.hash_one(0u8),
            k1: s.hash_one(1u8),
        }
    }
}

impl IsnKey {
    /// The key of a secret kept across restarts (the same bytes give the same numbers).
    pub fn from_secret(secret: &[u8; SECRET_LEN]) -> Self {
        let (a, b) = secret.split_at(8);
        IsnKey {
            k0: u64::from_le_bytes(a.try_into().expect("8 bytes")),
            k1: u64::from_le_bytes(b.try_into().expect("8 bytes")),
        }
    }

    /// The initial sequence number the real server sees for a connection from `local`
    /// to `rs` made at `ticks` (64 ns ticks of the real time, [`IsnClock::ticks`]): for
    /// one tuple, later connections get larger numbers (modulo 2^32, which the clock runs
    /// through in 275 s).
    pub fn isn(&self, local: (IpAddr, u16), rs: (IpAddr, u16), ticks: u64) -> u32 {
        // Explicit bytes, not `Hash` (whose feeding of an `IpAddr` may change with the
        // compiler): the same tuple hashes alike in every rvsd build.
        let mut buf = [0u8; 36];
        let mut n = 0;
        for (addr, port) in [local, rs] {
            match addr {
                IpAddr::V4(a) => {
                    buf[n..n + 4].copy_from_slice(&a.octets());
                    n += 4;
                }
                IpAddr::V6(a) => {
                    buf[n..n + 16].copy_from_slice(&a.octets());
                    n += 16;
                }
            }
            buf[n..n + 2].copy_from_slice(&port.to_be_bytes());
            n += 2;
        }
        let h = siphash24(self.k0, self.k1, &buf[..n]) as u32;
        h.wrapping_add(ticks as u32)
    }
}

/// The real time in 64 ns ticks, read once a second and advanced by the worker's
/// millisecond clock in between.
#[derive(Clone, Copy, Debug, Default)]
pub struct IsnClock {
    /// Worker clock (ms) of the last reading; None before the first.
    anchor_ms: Option<u64>,
    /// Real time (ticks) read then.
    anchor_ticks: u64,
    /// The last value handed out: the clock never goes back within a process (a new
    /// reading may be up to a millisecond behind the worker clock's estimate).
    last: u64,
}

impl IsnClock {
    /// The ticks at worker clock `now_ms`.
    #[inline]
    pub fn ticks(&mut self, now_ms: u64) -> u64 {
        self.ticks_with(now_ms, real_time_ticks)
    }

    /// [`IsnClock::ticks`] with the real time read by `read`.
    fn ticks_with(&mut self, now_ms: u64, read: impl FnOnce() -> u64) -> u64 {
        let anchor = match self.anchor_ms {
            Some(a) if now_ms >= a && now_ms - a < REANCHOR_MS => a,
            _ => {
                self.anchor_ticks = read();
                self.anchor_ms = Some(now_ms);
                now_ms
            }
        };
        let t = self.anchor_ticks + (now_ms - anchor) * TICKS_PER_MS;
        self.last = t.max(self.last.wrapping_add(1));
        self.last
    }
}

/// The real time in 64 ns ticks since the Unix epoch (0 on a clock before it).
fn real_time_ticks() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| (d.as_nanos() >> 6) as u64)
}

/// SipHash-2-4 of `data` with key `(k0, k1)` (the keyed hash the kernel uses for its own
/// initial sequence numbers; Aumasson and Bernstein's reference algorithm).
fn siphash24(k0: u64, k1: u64, data: &[u8]) -> u64 {
    let mut v = [
        k0 ^ 0x736f_6d65_7073_6575,
        k1 ^ 0x646f_7261_6e64_6f6d,
        k0 ^ 0x6c79_6765_6e65_7261,
        k1 ^ 0x7465_6462_7974_6573,
    ];
    let round = |v: &mut [u64; 4]| {
        v[0] = v[0].wrapping_add(v[1]);
        v[1] = v[1].rotate_left(13) ^ v[0];
        v[0] = v[0].rotate_left(32);
        v[2] = v[2].wrapping_add(v[3]);
        v[3] = v[3].rotate_left(16) ^ v[2];
        v[0] = v[0].wrapping_add(v[3]);
        v[3] = v[3].rotate_left(21) ^ v[0];
        v[2] = v[2].wrapping_add(v[1]);
        v[1] = v[1].rotate_left(17) ^ v[2];
        v[2] = v[2].rotate_left(32);
    };
    let mut words = data.chunks_exact(8);
    for w in &mut words {
        let m = u64::from_le_bytes(w.try_into().expect("8 bytes"));
        v[3] ^= m;
        round(&mut v);
        round(&mut v);
        v[0] ^= m;
    }
    let mut last = [0u8; 8];
    let rest = words.remainder();
    last[..rest.len()].copy_from_slice(rest);
    last[7] = data.len() as u8;
    let m = u64::from_le_bytes(last);
    v[3] ^= m;
    round(&mut v);
    round(&mut v);
    v[0] ^= m;
    v[2] ^= 0xff;
    for _ in 0..4 {
        round(&mut v);
    }
    v[0] ^ v[1] ^ v[2] ^ v[3]
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tuple() -> ((IpAddr, u16), (IpAddr, u16)) {
        (
            ("198.19.0.250".parse().unwrap(), 2000),
            ("198.19.0.11".parse().unwrap(), 80),
        )
    }

    #[test]
    fn siphash_matches_the_reference_vectors() {
        // The paper's example (key 00..0f, message 00..0e) and the first vector of the
        // reference implementation (empty message).
        let k0 = u64::from_le_bytes([0, 1, 2, 3, 4, 5, 6, 7]);
        let k1 = u64::from_le_bytes([8, 9, 10, 11, 12, 13, 14, 15]);
        let msg: Vec<u8> = (0..15).collect();
        assert_eq!(siphash24(k0, k1, &msg), 0xa129_ca61_49be_45e5);
        assert_eq!(siphash24(k0, k1, &[]), 0x726f_db47_dd0e_0e31);
    }

    /// A restarted rvsd (a new key from the same kept secret) numbers a tuple as the old
    /// one did: the same ISN for the same tuple and time.
    #[test]
    fn keys_of_one_secret_give_the_same_numbers() {
        let secret: [u8; SECRET_LEN] = *b"0123456789abcdef";
        let (old, new) = (IsnKey::from_secret(&secret), IsnKey::from_secret(&secret));
        let (local, rs) = tuple();
        for ticks in [0u64, 1, 15_625_000, u64::MAX / 3] {
            assert_eq!(old.isn(local, rs, ticks), new.isn(local, rs, ticks));
        }
        let v6 = (
            ("2001:db8::250".parse().unwrap(), 2000),
            ("2001:db8::11".parse().unwrap(), 80),
        );
        assert_eq!(old.isn(v6.0, v6.1, 9), new.isn(v6.0, v6.1, 9));
        let other = IsnKey::from_secret(b"0123456789abcdeF");
        assert_ne!(old.isn(local, rs, 0), other.isn(local, rs, 0));
        assert_ne!(IsnKey::default().isn(local, rs, 0), old.isn(local, rs, 0));
    }

    #[test]
    fn initial_numbers_of_one_tuple_grow_with_time() {
        let key = IsnKey::default();
        let (local, rs) = tuple();
        let t0 = 1_000 * TICKS_PER_MS;
        let first = key.isn(local, rs, t0);
        // A connection reusing the tuple within the server's TIME_WAIT (60 s) starts
        // "after" the first one's numbers, by 15.6 M per second.
        for dt in [1u64, 1_000, 30_000, 60_000, 120_000] {
            let later = key.isn(local, rs, t0 + dt * TICKS_PER_MS);
            let ahead = later.wrapping_sub(first);
            assert_eq!(u64::from(ahead), dt * TICKS_PER_MS % (1 << 32));
            assert!((ahead as i32) > 0, "{dt} ms later");
        }
        // Another tuple starts somewhere else.
        let other = key.isn(local, ("198.19.0.12".parse().unwrap(), 80), t0);
        assert_ne!(other, first);
    }

    /// The clock is the real time, so a new process (its worker clock at 0 again) goes
    /// on from where the old one was, not from the start.
    #[test]
    fn the_clock_follows_the_real_time_across_a_restart() {
        let real = |ms: u64| move || ms * TICKS_PER_MS;
        let mut old = IsnClock::default();
        assert_eq!(old.ticks_with(0, real(50_000)), 50_000 * TICKS_PER_MS);
        // Advanced by the worker clock between readings.
        assert_eq!(
            old.ticks_with(400, || unreachable!()),
            50_400 * TICKS_PER_MS
        );
        // Read again after a second.
        assert_eq!(old.ticks_with(1_500, real(51_502)), 51_502 * TICKS_PER_MS);
        let before_stop = old.ticks_with(9_000, real(59_000));
        // Restarted 2 s later: worker clock 0, real time 61 s.
        let mut new = IsnClock::default();
        let after = new.ticks_with(0, real(61_000));
        assert_eq!(after - before_stop, 2_000 * TICKS_PER_MS);
        // Never backwards within a process, even when a reading is behind the estimate.
        let est = new.ticks_with(999, || unreachable!());
        let next = new.ticks_with(1_000, real(61_999));
        assert!(next > est);
        // The real clock itself is well past 2020.
        assert!(IsnClock::default().ticks(0) > 1_577_836_800_000 * TICKS_PER_MS);
    }
}
