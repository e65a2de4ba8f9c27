//! A worker's fragments in flight for one address family: per datagram (source,
//! destination, protocol, identification), what its first fragment's step decided, and
//! the later fragments that arrived before it. Bounded in datagrams, held fragments and
//! time; knows nothing of packets beyond holding them.

use std::hash::Hash;

use hashbrown::HashMap;

use crate::pipeline::verdict::Verdict;

/// Datagrams tracked per worker and family.
pub(crate) const MAX_DATAGRAMS: usize = 4096;
/// Fragments held (waiting for their first fragment) per worker and family.
pub(crate) const MAX_HELD: usize = 256;
/// Fragments held per datagram.
pub(crate) const MAX_HELD_PER_DATAGRAM: usize = 16;
/// How long a datagram's decision is kept, and a fragment waits for the first one (ms).
/// Fragments of one datagram travel together; a short life keeps a reused
/// identification from meeting an old decision.
pub(crate) const FRAGMENT_TIMEOUT_MS: u64 = 1000;

/// What identifies the fragments of one datagram (RFC 791's and RFC 8200's reassembly
/// key; IPv4's 16-bit identification widened).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub(crate) struct FragKey<F> {
    /// Source address.
    pub src: F,
    /// Destination address.
    pub dst: F,
    /// The upper-layer protocol.
    pub proto: u8,
    /// The identification.
    pub id: u32,
}

/// What the first fragment's step did, done again to each later fragment: the addresses
/// it left, how much TTL / hop limit it took, and where the packet went.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Decision<F> {
    /// Source address after the step.
    pub src: F,
    /// Destination address after the step.
    pub dst: F,
    /// TTL / hop limit taken.
    pub hops_taken: u8,
    /// Where the packet went.
    pub verdict: Verdict<F>,
}

/// One datagram in flight.
struct Datagram<F, P> {
    /// Set once its first fragment was handled.
    decision: Option<Decision<F>>,
    expires_ms: u64,
    /// Later fragments that came first, with the port each arrived on.
    held: Vec<(usize, P)>,
}

/// What to do with a later fragment.
pub(crate) enum Later<F, P> {
    /// Its first fragment was handled: do the same.
    Decided(Decision<F>, P),
    /// Kept until its first fragment comes (or dropped at the timeout).
    Held,
    /// Not kept: the table or the hold is full.
    Refused(P),
}

/// The fragments in flight of one family on one worker.
pub(crate) struct Fragments<F, P> {
    datagrams: HashMap<FragKey<F>, Datagram<F, P>>,
    held: usize,
    /// When expired datagrams were last removed.
    swept_ms: u64,
}

impl<F, P> Default for Fragments<F, P> {
    fn default() -> Self {
        Fragments {
            datagrams: HashMap::new(),
            held: 0,
            swept_ms: 0,
        }
    }
}

impl<F: Copy + Eq + Hash, P> Fragments<F, P> {
    /// Record the decision for `key`'s datagram; returns the fragments held for it, to
    /// be handled now. A full table keeps no decision (its later fragments are refused).
    pub fn decide(&mut self, key: FragKey<F>, d: Decision<F>, now_ms: u64) -> Vec<(usize, P)> {
        let expires_ms = now_ms + FRAGMENT_TIMEOUT_MS;
        if let Some(g) = self.datagrams.get_mut(&key) {
            g.decision = Some(d);
            g.expires_ms = expires_ms;
            self.held -= g.held.len();
            return std::mem::take(&mut g.held);
        }
        if self.datagrams.len() < MAX_DATAGRAMS {
            let g = Datagram {
                decision: Some(d),
                expires_ms,
                held: Vec::new(),
            };
            self.datagrams.insert(key, g);
        }
        Vec::new()
    }

    /// A later fragment of `key`'s datagram, arrived on `port`.
    pub fn later(&mut self, key: FragKey<F>, port: usize, pkt: P, now_ms: u64) -> Later<F, P> {
        if let Some(g) = self.datagrams.get_mut(&key) {
            if let Some(d) = g.decision {
                return Later::Decided(d, pkt);
            }
            if g.held.len() >= MAX_HELD_PER_DATAGRAM || self.held >= MAX_HELD {
                return Later::Refused(pkt);
            }
            g.held.push((port, pkt));
            self.held += 1;
            return Later::Held;
        }
        if self.datagrams.len() >= MAX_DATAGRAMS || self.held >= MAX_HELD {
            return Later::Refused(pkt);
        }
        let g = Datagram {
            decision: None,
            expires_ms: now_ms + FRAGMENT_TIMEOUT_MS,
            held: vec![(port, pkt)],
        };
        self.datagrams.insert(key, g);
        self.held += 1;
        Later::Held
    }

    /// Remove the datagrams whose time is up (at most every 100 ms, so a full table is
    /// not walked on every tick); returns how many held fragments were dropped with them.
    pub fn expire(&mut self, now_ms: u64) -> u64 {
        if self.datagrams.is_empty() || now_ms < self.swept_ms + 100 {
            return 0;
        }
        self.swept_ms = now_ms;
        let mut dropped = 0;
        self.datagrams.retain(|_, g| {
            let keep = g.expires_ms > now_ms;
            if !keep {
                dropped += g.held.len() as u64;
            }
            keep
        });
        self.held -= dropped as usize;
        dropped
    }

    /// Datagrams tracked.
    #[cfg(test)]
    pub fn len(&self) -> usize {
        self.datagrams.len()
    }

    /// Fragments held.
    #[cfg(test)]
    pub fn held(&self) -> usize {
        self.held
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key(id: u32) -> FragKey<u32> {
        FragKey {
            src: 1,
            dst: 2,
            proto: 17,
            id,
        }
    }

    fn decision() -> Decision<u32> {
        Decision {
            src: 1,
            dst: 3,
            hops_taken: 0,
            verdict: Verdict::Forward(3),
        }
    }

    #[test]
    fn later_fragments_wait_for_the_first_then_follow_its_decision() {
        let mut f: Fragments<u32, &str> = Fragments::default();
        assert!(matches!(f.later(key(7), 0, "second", 0), Later::Held));
        assert!(matches!(f.later(key(7), 1, "third", 1), Later::Held));
        assert_eq!(f.held(), 2);
        let held = f.decide(key(7), decision(), 2);
        assert_eq!(held, vec![(0, "second"), (1, "third")]);
        assert_eq!(f.held(), 0);
        match f.later(key(7), 0, "fourth", 3) {
            Later::Decided(d, p) => assert_eq!((d, p), (decision(), "fourth")),
            _ => panic!("decided datagram"),
        }
        // Another datagram of the same flow is its own.
        assert!(matches!(f.later(key(8), 0, "x", 3), Later::Held));
    }

    #[test]
    fn bounded_in_fragments_datagrams_and_time() {
        let mut f: Fragments<u32, u32> = Fragments::default();
        for i in 0..MAX_HELD_PER_DATAGRAM as u32 {
            assert!(matches!(f.later(key(1), 0, i, 0), Later::Held));
        }
        assert!(matches!(f.later(key(1), 0, 99, 0), Later::Refused(99)));
        let mut id = 2;
        while f.held() < MAX_HELD {
            assert!(matches!(f.later(key(id), 0, id, 0), Later::Held));
            id += 1;
        }
        assert!(matches!(f.later(key(id), 0, id, 0), Later::Refused(_)));
        // Decisions are kept up to MAX_DATAGRAMS.
        assert_eq!(f.expire(FRAGMENT_TIMEOUT_MS - 1), 0);
        assert_eq!(f.expire(FRAGMENT_TIMEOUT_MS + 200), MAX_HELD as u64);
        assert_eq!((f.len(), f.held()), (0, 0));
        for i in 0..MAX_DATAGRAMS as u32 + 10 {
            f.decide(key(i), decision(), 2_000);
        }
        assert_eq!(f.len(), MAX_DATAGRAMS);
        assert!(matches!(
            f.later(key(MAX_DATAGRAMS as u32 + 5), 0, 1, 2_000),
            Later::Refused(1)
        ));
    }
}
