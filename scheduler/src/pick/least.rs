//! Least-load schedulers: lc, wlc, sed, nq, fo, ovf (one O(n) scan of the loads each).

use crate::dest::{DestLoad, DestLoads};

use super::weight::{usable, W};

/// ip_vs_lc_schedule: least overhead (active*256 + inactive); ties go to the first. O(n).
#[inline]
pub(crate) fn pick_lc<L: DestLoads + ?Sized>(dests: &[W], loads: &L) -> Option<usize> {
    let mut least: Option<(usize, u64)> = None;
    for (i, d) in dests.iter().enumerate() {
        let l = loads.load(i);
        if !usable(d, &l) {
            continue;
        }
        let doh = l.overhead();
        if least.is_none_or(|(_, loh)| doh < loh) {
            least = Some((i, doh));
        }
    }
    least.map(|(i, _)| i)
}

#[inline]
pub(crate) fn sed_overhead(l: &DestLoad) -> u64 {
    u64::from(l.active) + 1
}

/// ip_vs_wlc_schedule (and sed, and the lblc/lblcr fallback): the server minimising
/// overhead/weight, compared as loh * w(d) > doh * w(least); ties go to the first. O(n).
#[inline]
pub(crate) fn weighted_least<L: DestLoads + ?Sized>(
    dests: &[W],
    loads: &L,
    overhead: fn(&DestLoad) -> u64,
) -> Option<usize> {
    let mut iter = dests.iter().enumerate();
    let (mut least, mut loh) = loop {
        let (i, d) = iter.next()?;
        let l = loads.load(i);
        if usable(d, &l) {
            break (i, overhead(&l));
        }
    };
    for (i, d) in iter {
        let l = loads.load(i);
        if l.overloaded || !l.available {
            continue;
        }
        let doh = overhead(&l);
        // Weight-0 servers never win: loh * 0 > doh * w is false.
        if loh * u64::from(d.weight) > doh * u64::from(dests[least].weight) {
            least = i;
            loh = doh;
        }
    }
    Some(least)
}

/// ip_vs_nq_schedule: the first idle server (no active connection), else sed. O(n).
#[inline]
pub(crate) fn pick_nq<L: DestLoads + ?Sized>(dests: &[W], loads: &L) -> Option<usize> {
    let mut least: Option<(usize, u64)> = None;
    for (i, d) in dests.iter().enumerate() {
        let l = loads.load(i);
        if !usable(d, &l) {
            continue;
        }
        if l.active == 0 {
            return Some(i);
        }
        let doh = sed_overhead(&l);
        let better = match least {
            None => true,
            Some((li, loh)) => loh * u64::from(d.weight) > doh * u64::from(dests[li].weight),
        };
        if better {
            least = Some((i, doh));
        }
    }
    least.map(|(i, _)| i)
}

/// ip_vs_fo_schedule: the highest weight; ties go to the first. O(n).
#[inline]
pub(crate) fn pick_fo<L: DestLoads + ?Sized>(dests: &[W], loads: &L) -> Option<usize> {
    let mut best: Option<(usize, u16)> = None;
    for (i, d) in dests.iter().enumerate() {
        let l = loads.load(i);
        if usable(d, &l) && best.is_none_or(|(_, hw)| d.weight > hw) {
            best = Some((i, d.weight));
        }
    }
    best.map(|(i, _)| i)
}

/// ip_vs_ovf_schedule: the highest weight among servers whose active count does not
/// exceed their weight; ties go to the first. O(n).
#[inline]
pub(crate) fn pick_ovf<L: DestLoads + ?Sized>(dests: &[W], loads: &L) -> Option<usize> {
    let mut best: Option<(usize, u16)> = None;
    for (i, d) in dests.iter().enumerate() {
        let l = loads.load(i);
        if !usable(d, &l) || l.active > u32::from(d.weight) {
            continue;
        }
        if best.is_none_or(|(_, hw)| d.weight > hw) {
            best = Some((i, d.weight));
        }
    }
    best.map(|(i, _)| i)
}
