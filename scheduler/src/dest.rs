//! Real servers (destinations), their thresholds, and the dynamic load the caller supplies.

use std::net::IpAddr;

/// Upper and lower connection thresholds of a real server (ipvsadm `-x` / `-y`); 0 means
/// "no threshold". They drive the overloaded flag exactly as the kernel's
/// `ip_vs_bind_dest`/`ip_vs_unbind_dest` (ip_vs_conn.c) and `__ip_vs_update_dest`
/// (ip_vs_ctl.c) do; the caller keeps the flag and feeds it back through [`DestLoad`].
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub struct Thresholds {
    /// Upper threshold: overloaded once active + inactive >= upper (0 = none).
    pub upper: u32,
    /// Lower threshold: overload cleared once active + inactive < lower. When 0 and an
    /// upper threshold is set, the flag clears below 3/4 of the upper threshold.
    pub lower: u32,
}

impl Thresholds {
    /// The overloaded flag after a connection was bound to the real server
    /// (`total` = active + inactive, counted after the new connection).
    pub fn after_bind(self, overloaded: bool, total: u64) -> bool {
        overloaded || (self.upper != 0 && total >= u64::from(self.upper))
    }

    /// The overloaded flag after a connection was unbound from the real server
    /// (`total` = active + inactive, counted after the connection left).
    pub fn after_unbind(self, overloaded: bool, total: u64) -> bool {
        if self.lower != 0 {
            overloaded && total >= u64::from(self.lower)
        } else if self.upper != 0 {
            // Hysteresis: clear only below 3/4 of the upper threshold.
            overloaded && total * 4 >= u64::from(self.upper) * 3
        } else {
            false
        }
    }

    /// The overloaded flag after the administrator replaced the thresholds with `new`: the
    /// kernel clears the flag when the upper threshold is removed or raised.
    pub fn after_update(self, new: Thresholds, overloaded: bool) -> bool {
        overloaded && new.upper != 0 && new.upper <= self.upper
    }
}

/// A real server of a virtual service, as the control thread configures it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Destination {
    /// Real server address (RIP).
    pub addr: IpAddr,
    /// Real server port (0 for all-ports/firewall-mark services).
    pub port: u16,
    /// Weight, 0..=65535; 0 = quiescent (no new connections).
    pub weight: u16,
    /// The last non-zero weight (the kernel's `dest->last_weight`): `mh` builds its lookup
    /// table from it so that quiescing a server (weight 0) does not reshuffle other flows.
    /// [`Destination::new`] sets it to `weight`; the control thread keeps the old value
    /// when it sets the weight to 0.
    pub last_weight: u16,
    /// Connection thresholds (see [`Thresholds`]).
    pub thresholds: Thresholds,
}

impl Destination {
    /// A real server with the given weight, `last_weight == weight` and no thresholds.
    pub const fn new(addr: IpAddr, port: u16, weight: u16) -> Self {
        Destination {
            addr,
            port,
            weight,
            last_weight: weight,
            thresholds: Thresholds { upper: 0, lower: 0 },
        }
    }
}

/// The dynamic state of one real server at pick time. The caller owns the counters (they
/// live with the connection table) and the flags.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct DestLoad {
    /// Active connections (TCP ESTABLISHED, as IPVS counts them).
    pub active: u32,
    /// Inactive connections (every other state).
    pub inactive: u32,
    /// IP_VS_DEST_F_OVERLOAD: set and cleared per [`Thresholds`].
    pub overloaded: bool,
    /// IP_VS_DEST_F_AVAILABLE: false once the real server is being removed. The kernel takes
    /// removed servers off the service's list, so every scheduler here skips a server that is
    /// not available, the hashing ones included.
    pub available: bool,
}

impl DestLoad {
    /// An available, not overloaded real server with no connections.
    pub const IDLE: DestLoad = DestLoad {
        active: 0,
        inactive: 0,
        overloaded: false,
        available: true,
    };

    /// What a missing entry reads as: never usable.
    pub const MISSING: DestLoad = DestLoad {
        active: 0,
        inactive: 0,
        overloaded: false,
        available: false,
    };

    /// An available, not overloaded real server with these counts.
    pub const fn with_conns(active: u32, inactive: u32) -> Self {
        DestLoad {
            active,
            inactive,
            overloaded: false,
            available: true,
        }
    }

    /// The kernel's `ip_vs_dest_conn_overhead`: active * 256 + inactive (in u64, so no
    /// overflow whatever the counts).
    #[inline]
    pub const fn overhead(&self) -> u64 {
        ((self.active as u64) << 8) + self.inactive as u64
    }
}

/// Read access to the per-destination dynamic state, indexed like the scheduler's
/// destination list. An index the source does not know must read as [`DestLoad::MISSING`].
pub trait DestLoads {
    /// The load of destination `index`.
    fn load(&self, index: usize) -> DestLoad;
}

impl DestLoads for [DestLoad] {
    #[inline]
    fn load(&self, index: usize) -> DestLoad {
        self.get(index).copied().unwrap_or(DestLoad::MISSING)
    }
}

impl<const N: usize> DestLoads for [DestLoad; N] {
    #[inline]
    fn load(&self, index: usize) -> DestLoad {
        self.as_slice().load(index)
    }
}

impl DestLoads for Vec<DestLoad> {
    #[inline]
    fn load(&self, index: usize) -> DestLoad {
        self.as_slice().load(index)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn thresholds_follow_kernel_hysteresis() {
        let t = Thresholds {
            upper: 100,
            lower: 0,
        };
        assert!(!t.after_bind(false, 99));
        assert!(t.after_bind(false, 100));
        // 3/4 of 100 = 75: still overloaded at 75, cleared at 74.
        assert!(t.after_unbind(true, 75));
        assert!(!t.after_unbind(true, 74));
        // Never set by an unbind.
        assert!(!t.after_unbind(false, 1000));

        let t = Thresholds {
            upper: 100,
            lower: 50,
        };
        assert!(t.after_unbind(true, 50));
        assert!(!t.after_unbind(true, 49));

        let none = Thresholds::default();
        assert!(!none.after_bind(false, u64::MAX));
        assert!(!none.after_unbind(true, 5));

        // Raising or removing the upper threshold clears; lowering keeps.
        assert!(!t.after_update(
            Thresholds {
                upper: 200,
                lower: 0
            },
            true
        ));
        assert!(!t.after_update(Thresholds::default(), true));
        assert!(t.after_update(
            Thresholds {
                upper: 80,
                lower: 0
            },
            true
        ));
    }

    #[test]
    fn missing_loads_are_unavailable() {
        let loads = [DestLoad::IDLE];
        assert!(loads.load(0).available);
        assert!(!loads.load(1).available);
        assert_eq!(DestLoad::with_conns(2, 3).overhead(), 515);
    }
}
