//! Round robin: rr and wrr, which walk the destination list from the last pick.

use crate::dest::{DestLoads, Destination};

use super::weight::{usable, W};

/// The rr/wrr position "before the first real server" (the kernel's list head).
pub(crate) const HEAD: usize = usize::MAX;

/// wrr's precomputed pass parameters `(di, mw)`: the gcd of the non-zero weights (1 if
/// none) and the max weight - (di - 1).
pub(crate) fn wrr_params(dests: &[Destination]) -> (i64, i64) {
    let g = dests
        .iter()
        .map(|d| u32::from(d.weight))
        .filter(|&w| w > 0)
        .fold(0, |g, w| if g == 0 { w } else { gcd(g, w) });
    let di = i64::from(if g == 0 { 1 } else { g });
    let max = dests.iter().map(|d| i64::from(d.weight)).max().unwrap_or(0);
    (di, max - (di - 1))
}

fn gcd(mut a: u32, mut b: u32) -> u32 {
    while b != 0 {
        (a, b) = (b, a % b);
    }
    a
}

/// ip_vs_rr_schedule: the first usable server after the last one picked, wrapping once.
/// O(n) worst case, O(1) when servers are usable.
#[inline]
pub(crate) fn pick_rr<L: DestLoads + ?Sized>(
    dests: &[W],
    loads: &L,
    last: &mut usize,
) -> Option<usize> {
    let n = dests.len();
    let start = if *last >= n { 0 } else { *last + 1 };
    let found = (start..n)
        .find(|&i| usable(&dests[i], &loads.load(i)))
        .or_else(|| (0..start.min(n)).find(|&i| usable(&dests[i], &loads.load(i))));
    if let Some(i) = found {
        *last = i;
    }
    found
}

/// ip_vs_wrr_schedule, pass by pass: the current weight `cw` steps down from `mw` by the
/// gcd `di` to 1, and each pass takes the servers whose weight is >= cw. Overloaded (and
/// unavailable) servers are skipped; the `stop` logic ends the search after every server
/// was checked at the lowest weight. O(n) amortised, O(n * mw/di) worst case.
#[inline]
pub(crate) fn pick_wrr<L: DestLoads + ?Sized>(
    dests: &[W],
    loads: &L,
    di: i64,
    mw: i64,
    cl: &mut usize,
    cw: &mut i64,
) -> Option<usize> {
    let n = dests.len();
    if mw <= 0 || n == 0 {
        return None;
    }
    if *cl != HEAD && *cl >= n {
        *cl = HEAD;
    }
    let last = *cl;
    let mut from = if last == HEAD { 0 } else { last + 1 };
    let mut stop = HEAD;
    let mut last_pass = false;
    let mut restarted = false;
    loop {
        for (i, d) in dests.iter().enumerate().skip(from) {
            let l = loads.load(i);
            if !l.overloaded && l.available && i64::from(d.weight) >= *cw {
                *cl = i;
                return Some(i);
            }
            if i == stop {
                *cl = i;
                return None;
            }
        }
        from = 0;
        *cw -= di;
        if *cw <= 0 {
            *cw = mw;
            if last_pass || last == HEAD {
                *cl = HEAD;
                return None;
            }
            restarted = true;
        }
        last_pass = *cw <= di;
        if last_pass && restarted && last != HEAD {
            // The first traversal covered only the servers after `last`; finish the
            // lowest-weight pass at `last` itself.
            stop = last;
        }
    }
}
