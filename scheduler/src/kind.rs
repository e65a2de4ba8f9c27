//! Scheduler names (ipvsadm spelling) and the per-service scheduler flags.

use std::fmt;
use std::str::FromStr;

/// One of the IPVS scheduling algorithms, named as ipvsadm's `-s` option names it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum SchedulerKind {
    /// `rr`: round robin.
    Rr,
    /// `wrr`: weighted round robin (gcd/max-weight stepping).
    Wrr,
    /// `lc`: least connection (overhead = active*256 + inactive).
    Lc,
    /// `wlc`: weighted least connection; ipvsadm's default.
    Wlc,
    /// `sed`: shortest expected delay (overhead = active + 1, weighted).
    Sed,
    /// `nq`: never queue (an idle server first, else sed).
    Nq,
    /// `lblc`: locality-based least connection, keyed by the packet's destination address.
    Lblc,
    /// `lblcr`: locality-based least connection with replication.
    Lblcr,
    /// `dh`: destination hashing (256-bucket table).
    Dh,
    /// `sh`: source hashing (256-bucket table built from weights).
    Sh,
    /// `fo`: weighted failover (highest weight wins).
    Fo,
    /// `ovf`: overflow connection (highest weight while active <= weight).
    Ovf,
    /// `twos`: weighted power of two choices.
    Twos,
    /// `mh`: Maglev hashing.
    Mh,
}

impl SchedulerKind {
    /// Every scheduler, in the order the kernel's Kconfig lists them (and errors print them).
    pub const ALL: [SchedulerKind; 14] = [
        SchedulerKind::Rr,
        SchedulerKind::Wrr,
        SchedulerKind::Lc,
        SchedulerKind::Wlc,
        SchedulerKind::Fo,
        SchedulerKind::Ovf,
        SchedulerKind::Lblc,
        SchedulerKind::Lblcr,
        SchedulerKind::Dh,
        SchedulerKind::Sh,
        SchedulerKind::Mh,
        SchedulerKind::Sed,
        SchedulerKind::Nq,
        SchedulerKind::Twos,
    ];

    /// The ipvsadm name (`"rr"`, `"wrr"`, ...).
    pub const fn name(self) -> &'static str {
        match self {
            SchedulerKind::Rr => "rr",
            SchedulerKind::Wrr => "wrr",
            SchedulerKind::Lc => "lc",
            SchedulerKind::Wlc => "wlc",
            SchedulerKind::Sed => "sed",
            SchedulerKind::Nq => "nq",
            SchedulerKind::Lblc => "lblc",
            SchedulerKind::Lblcr => "lblcr",
            SchedulerKind::Dh => "dh",
            SchedulerKind::Sh => "sh",
            SchedulerKind::Fo => "fo",
            SchedulerKind::Ovf => "ovf",
            SchedulerKind::Twos => "twos",
            SchedulerKind::Mh => "mh",
        }
    }

    /// Whether the scheduler hashes the flow key (and so honours [`SchedFlags`]).
    pub const fn is_hashing(self) -> bool {
        matches!(self, SchedulerKind::Sh | SchedulerKind::Mh)
    }
}

impl fmt::Display for SchedulerKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// An unknown scheduler name; the message lists the known names.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("unknown scheduler {name:?}; known schedulers: rr, wrr, lc, wlc, fo, ovf, lblc, lblcr, dh, sh, mh, sed, nq, twos")]
pub struct UnknownScheduler {
    /// The name that was given.
    pub name: String,
}

impl FromStr for SchedulerKind {
    type Err = UnknownScheduler;

    /// Parses an ipvsadm scheduler name. Like ipvsadm (which passes the name to the kernel
    /// verbatim), the match is exact and case-sensitive.
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        SchedulerKind::ALL
            .iter()
            .copied()
            .find(|k| k.name() == s)
            .ok_or_else(|| UnknownScheduler { name: s.to_owned() })
    }
}

/// Scheduler flags of a virtual service (ipvsadm `-b`): `sh-fallback`/`mh-fallback` and
/// `sh-port`/`mh-port`. The kernel stores them in the same two bits (IP_VS_SVC_F_SCHED1 and
/// IP_VS_SVC_F_SCHED2) whatever the scheduler; only `sh` and `mh` read them.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub struct SchedFlags {
    /// `sh-fallback` / `mh-fallback`: when the hashed real server is unusable, walk the
    /// table from the hashed position to find a usable one instead of failing.
    pub fallback: bool,
    /// `sh-port` / `mh-port`: add the client's source port (TCP, UDP and SCTP only) to the
    /// hash key.
    pub port: bool,
}

impl SchedFlags {
    /// IP_VS_SVC_F_SCHED1: `sh-fallback` / `mh-fallback` / `flag-1`.
    pub const SCHED1: u32 = 0x0008;
    /// IP_VS_SVC_F_SCHED2: `sh-port` / `mh-port` / `flag-2`.
    pub const SCHED2: u32 = 0x0010;

    /// Reads the flags from the kernel's virtual-service flag word.
    pub const fn from_svc_flags(flags: u32) -> Self {
        SchedFlags {
            fallback: flags & Self::SCHED1 != 0,
            port: flags & Self::SCHED2 != 0,
        }
    }

    /// The kernel's virtual-service flag bits for these flags.
    pub const fn to_svc_flags(self) -> u32 {
        (if self.fallback { Self::SCHED1 } else { 0 }) | (if self.port { Self::SCHED2 } else { 0 })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_round_trip() {
        for k in SchedulerKind::ALL {
            assert_eq!(k.name().parse::<SchedulerKind>(), Ok(k));
            assert_eq!(k.to_string(), k.name());
        }
    }

    #[test]
    fn unknown_name_lists_known_ones() {
        let err = "WRR".parse::<SchedulerKind>().unwrap_err();
        let msg = err.to_string();
        assert!(msg.contains("\"WRR\""), "{msg}");
        for k in SchedulerKind::ALL {
            assert!(msg.contains(k.name()), "{msg} lacks {k}");
        }
        assert!("".parse::<SchedulerKind>().is_err());
    }

    #[test]
    fn flags_bits() {
        let f = SchedFlags::from_svc_flags(0x0008 | 0x0001);
        assert!(f.fallback && !f.port);
        assert_eq!(SchedFlags::from_svc_flags(0x18).to_svc_flags(), 0x18);
    }
}
