//! twos: two weighted random draws, the less loaded wins; its per-worker PRNG.

use crate::dest::DestLoads;

use super::weight::{usable, W};

/// The seed of a worker's twos PRNG state (splitmix64 of the worker's seed).
pub(crate) fn splitmix64(mut x: u64) -> u64 {
    x = x.wrapping_add(0x9E37_79B9_7F4A_7C15);
    x = (x ^ (x >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    x = (x ^ (x >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    x ^ (x >> 31)
}

/// xorshift64*: a small, fast per-worker PRNG standing in for the kernel's prandom_u32().
#[inline]
fn next_u32(state: &mut u64) -> u32 {
    let mut x = *state;
    x ^= x >> 12;
    x ^= x << 25;
    x ^= x >> 27;
    *state = x;
    (x.wrapping_mul(0x2545_F491_4F6C_DD1D) >> 32) as u32
}

/// ip_vs_twos_schedule: two weighted random draws in [0, total weight], then the one with
/// the lower overhead/weight (choice 2 only if strictly better). O(n).
#[inline]
pub(crate) fn pick_twos<L: DestLoads + ?Sized>(
    dests: &[W],
    loads: &L,
    rng: &mut u64,
) -> Option<usize> {
    let mut total: u64 = 0;
    for (i, d) in dests.iter().enumerate() {
        if usable(d, &loads.load(i)) {
            total += u64::from(d.weight);
        }
    }
    if total == 0 {
        return None;
    }
    // "+1 so that the random weights are inclusive from 0 to total_weight".
    let total = total + 1;
    let mut r1 = (u64::from(next_u32(rng)) % total) as i64;
    let mut r2 = (u64::from(next_u32(rng)) % total) as i64;
    let mut c1: Option<(usize, u64, u64)> = None;
    let mut c2: Option<(usize, u64, u64)> = None;
    for (i, d) in dests.iter().enumerate() {
        let l = loads.load(i);
        if !usable(d, &l) {
            continue;
        }
        let w = i64::from(d.weight);
        r1 -= w;
        r2 -= w;
        if r1 <= 0 && c1.is_none() {
            c1 = Some((i, u64::from(d.weight), l.overhead()));
        }
        if r2 <= 0 && c2.is_none() {
            c2 = Some((i, u64::from(d.weight), l.overhead()));
        }
        if c1.is_some() && c2.is_some() {
            break;
        }
    }
    let (i1, w1, o1) = c1?;
    match c2 {
        Some((i2, w2, o2)) if w2 * o1 > w1 * o2 => Some(i2),
        _ => Some(i1),
    }
}
