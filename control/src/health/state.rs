//! The health state of one real server: rise/fall counting and its transitions.

use std::net::SocketAddr;
use std::time::{SystemTime, UNIX_EPOCH};

use serde::Serialize;

/// A real server of a virtual service: the service (`tcp 198.18.0.100:80`) and the RS.
pub type RsKey = (String, SocketAddr);

/// The health of one real server.
#[derive(Clone, Debug, Serialize, PartialEq)]
pub struct RsHealth {
    /// Whether the server takes new connections as far as its checks go.
    pub up: bool,
    /// Consecutive successful checks (0 after a failure).
    pub consecutive_ok: u32,
    /// Consecutive failed checks (0 after a success).
    pub consecutive_fail: u32,
    /// Successful checks since the checker started.
    pub checks_ok: u64,
    /// Failed checks since the checker started.
    pub checks_failed: u64,
    /// Why the last failed check failed.
    pub last_error: Option<String>,
    /// When the last check ended (seconds since the Unix epoch).
    pub last_check: Option<f64>,
    /// When the server last went up or down (seconds since the Unix epoch).
    pub last_transition: Option<f64>,
}

impl Default for RsHealth {
    fn default() -> Self {
        RsHealth {
            up: true,
            consecutive_ok: 0,
            consecutive_fail: 0,
            checks_ok: 0,
            checks_failed: 0,
            last_error: None,
            last_check: None,
            last_transition: None,
        }
    }
}

pub(super) fn now_unix() -> f64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs_f64())
        .unwrap_or(0.0)
}

impl RsHealth {
    /// Count one check's result; returns the new state when the server goes up or down.
    pub fn record(&mut self, result: &Result<(), String>, rise: u32, fall: u32) -> Option<bool> {
        let now = now_unix();
        self.last_check = Some(now);
        let flip = match result {
            Ok(()) => {
                self.checks_ok += 1;
                self.consecutive_fail = 0;
                self.consecutive_ok = self.consecutive_ok.saturating_add(1);
                !self.up && self.consecutive_ok >= rise
            }
            Err(e) => {
                self.checks_failed += 1;
                self.consecutive_ok = 0;
                self.consecutive_fail = self.consecutive_fail.saturating_add(1);
                self.last_error = Some(e.clone());
                self.up && self.consecutive_fail >= fall
            }
        };
        if flip {
            self.up = !self.up;
            self.last_transition = Some(now);
            Some(self.up)
        } else {
            None
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rise_and_fall() {
        let mut h = RsHealth::default();
        assert!(h.up, "servers start up");
        let bad = Err("refused".to_string());
        assert_eq!(h.record(&bad, 2, 3), None);
        assert_eq!(h.record(&bad, 2, 3), None);
        // A success in between starts the count again.
        assert_eq!(h.record(&Ok(()), 2, 3), None);
        assert_eq!(h.record(&bad, 2, 3), None);
        assert_eq!(h.record(&bad, 2, 3), None);
        assert_eq!(h.record(&bad, 2, 3), Some(false));
        assert!(!h.up);
        assert_eq!(h.consecutive_fail, 3);
        assert_eq!(h.last_error.as_deref(), Some("refused"));
        // Further failures are no new transition.
        assert_eq!(h.record(&bad, 2, 3), None);
        assert_eq!(h.record(&Ok(()), 2, 3), None);
        assert_eq!(h.record(&Ok(()), 2, 3), Some(true));
        assert_eq!(h.record(&Ok(()), 2, 3), None);
        assert!(h.up);
        assert_eq!((h.checks_ok, h.checks_failed), (4, 6));
        assert!(h.last_transition.is_some());
    }

    #[test]
    fn one_and_one_flips_at_once() {
        let mut h = RsHealth::default();
        assert_eq!(h.record(&Err("x".into()), 1, 1), Some(false));
        assert_eq!(h.record(&Ok(()), 1, 1), Some(true));
    }
}
