//! The per-real-server weights every picker scans, and the common usability test.

use crate::dest::DestLoad;

/// The weights, packed (2 bytes per real server) so that the O(n) scans touch as little
/// memory as possible; the field name keeps the scans reading `d.weight`.
#[derive(Clone, Copy, Debug)]
pub(crate) struct W {
    pub(crate) weight: u16,
}

/// Weight > 0, not overloaded, available: what every non-locality scheduler requires.
#[inline]
pub(crate) fn usable(d: &W, l: &DestLoad) -> bool {
    d.weight > 0 && !l.overloaded && l.available
}
