//! Maglev lookup table, built the way ip_vs_mh.c builds it.

use crate::dest::Destination;
use crate::flow::{addr_fold, hsiphash_u32};
use std::net::IpAddr;

/// The Maglev table sizes the kernel offers (ip_vs_mh.c `primes`); CONFIG_IP_VS_MH_TAB_INDEX
/// 8 ... 17 picks entry index - 8. A per-service setting here (`mh_table_size`).
pub const MH_TABLE_SIZES: [u32; 10] = [
    251, 509, 1021, 2039, 4093, 8191, 16381, 32749, 65521, 131071,
];

/// Default Maglev table size: the stock kernel's (CONFIG_IP_VS_MH_TAB_INDEX = 12 -> 4093), so
/// that an rvs and a kernel director with the same `mh` service pick the same real server.
pub const MH_TABLE_SIZE: u32 = 4093;

/// The stock kernel's table size (the same as [`MH_TABLE_SIZE`]; kept for callers that name
/// the kernel explicitly).
pub const MH_KERNEL_TABLE_SIZE: u32 = MH_TABLE_SIZE;

/// The kernel's IP_VS_MH_TAB_BITS for a table size of [`MH_TABLE_SIZES`]
/// (CONFIG_IP_VS_MH_TAB_INDEX / 2), or `None` for any other size.
pub(crate) fn tab_bits(size: u32) -> Option<u32> {
    let i = MH_TABLE_SIZES.iter().position(|&p| p == size)?;
    Some((i as u32 + 8) / 2)
}

/// The fixed hsiphash keys of ip_vs_mh.c `generate_hash_secret`: deterministic, so every
/// director with the same real servers builds the same table.
pub(crate) const HASH1: [u64; 2] = [2_654_435_761, 2_654_435_761];
const HASH2: [u64; 2] = [2_654_446_892, 2_654_446_892];

/// Marks an empty lookup slot (no real server with a non-zero last weight).
pub(crate) const EMPTY: u32 = u32::MAX;

/// `ip_vs_mh_hashkey`: hsiphash of offset + port + folded address.
#[inline]
pub(crate) fn mh_hashkey(addr: &IpAddr, port: u16, key: [u64; 2], offset: u32) -> u32 {
    let v = offset
        .wrapping_add(u32::from(port))
        .wrapping_add(addr_fold(addr));
    hsiphash_u32(v, key)
}

fn gcd(mut a: u32, mut b: u32) -> u32 {
    while b != 0 {
        (a, b) = (b, a % b);
    }
    a
}

/// Builds the lookup table (`ip_vs_mh_permutate` + `ip_vs_mh_populate`) over `dests` in the
/// kernel's list order; entries are positions in `dests`. `size` must be one of
/// [`MH_TABLE_SIZES`], >= `dests.len()` (checked by the caller).
pub(crate) fn build_table(dests: &[Destination], size: u32) -> Box<[u32]> {
    let mut lookup = vec![EMPTY; size as usize].into_boxed_slice();
    // gcd of the non-zero last weights; 0 when there is none (the kernel then leaves the
    // table empty and every lookup fails).
    let g = dests
        .iter()
        .map(|d| u32::from(d.last_weight))
        .filter(|&w| w > 0)
        .fold(0, |g, w| if g == 0 { w } else { gcd(g, w) });
    if g == 0 {
        return lookup;
    }
    // The kernel keeps at most IP_VS_MH_TAB_BITS significant bits of weight/gcd.
    let tab_bits = tab_bits(size).unwrap_or(6);
    let mw = dests
        .iter()
        .map(|d| u32::from(d.last_weight))
        .max()
        .unwrap_or(0)
        / g;
    let fls = 32 - mw.leading_zeros();
    let rshift = fls.saturating_sub(tab_bits);

    struct Setup {
        skip: u32,
        perm: u32,
        turns: u32,
    }
    let mut setup: Vec<Setup> = dests
        .iter()
        .map(|d| {
            let offset = mh_hashkey(&d.addr, d.port, HASH1, 0) % size;
            let skip = mh_hashkey(&d.addr, d.port, HASH2, 0) % (size - 1) + 1;
            let lw = u32::from(d.last_weight);
            let t = (lw / g) >> rshift;
            Setup {
                skip,
                perm: offset,
                turns: if t > 0 { t } else { u32::from(lw != 0) },
            }
        })
        .collect();

    let mut taken = vec![false; size as usize];
    let mut filled = 0u32;
    // Round after round over the destinations, each placing `turns` entries at the next
    // free positions of its permutation, until the table is full.
    'outer: loop {
        for (i, ds) in setup.iter_mut().enumerate() {
            for _ in 0..ds.turns {
                let mut c = ds.perm;
                while taken[c as usize] {
                    ds.perm += ds.skip;
                    if ds.perm >= size {
                        ds.perm -= size;
                    }
                    c = ds.perm;
                }
                taken[c as usize] = true;
                lookup[c as usize] = i as u32;
                filled += 1;
                if filled == size {
                    break 'outer;
                }
            }
        }
    }
    lookup
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kernel_sizes_and_bits() {
        assert_eq!(tab_bits(4093), Some(6));
        assert_eq!(tab_bits(251), Some(4));
        assert_eq!(tab_bits(509), Some(4));
        assert_eq!(tab_bits(131071), Some(8));
        assert_eq!(tab_bits(65537), None);
        assert_eq!(tab_bits(4091), None);
    }

    #[test]
    fn empty_when_all_weights_zero() {
        let d = [Destination::new("198.19.0.1".parse().unwrap(), 80, 0)];
        let t = build_table(&d, 251);
        assert!(t.iter().all(|&e| e == EMPTY));
    }

    #[test]
    fn full_and_proportional() {
        let d = [
            Destination::new("198.19.0.1".parse().unwrap(), 80, 1),
            Destination::new("198.19.0.2".parse().unwrap(), 80, 3),
        ];
        let t = build_table(&d, 4093);
        let c0 = t.iter().filter(|&&e| e == 0).count();
        let c1 = t.iter().filter(|&&e| e == 1).count();
        assert_eq!(c0 + c1, 4093);
        // turns 1 and 3: dest 1 places three entries per round.
        assert!((1022..=1024).contains(&c0), "{c0}");
    }
}
