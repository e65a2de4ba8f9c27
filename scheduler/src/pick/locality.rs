//! Locality-based schedulers: lblc (one cached server per destination address) and
//! lblcr (a cached server set), both falling back to wlc.

use crate::dest::{DestLoad, DestLoads};
use crate::flow::FlowKey;
use crate::locality::{Cache, DestSet};

use super::least::weighted_least;
use super::weight::W;

/// lblc/lblcr's `is_overloaded`: more active connections than weight while some other
/// server is below half its weight. O(1) unless active > weight, then O(n).
#[inline]
fn locality_overloaded<L: DestLoads + ?Sized>(dests: &[W], loads: &L, i: usize) -> bool {
    let (Some(d), l) = (dests.get(i), loads.load(i)) else {
        return true;
    };
    if l.active <= u32::from(d.weight) {
        return false;
    }
    dests.iter().enumerate().any(|(j, dj)| {
        let lj = loads.load(j);
        lj.available && u64::from(lj.active) * 2 < u64::from(dj.weight)
    })
}

/// ip_vs_lblc_schedule: the cached server for the packet's destination address if it is
/// available, weighted and not locality-overloaded (the kernel does not check the
/// OVERLOAD flag here), else wlc and cache the result. O(1) on a hit, O(n) on a miss.
#[inline]
pub(crate) fn pick_lblc<L: DestLoads + ?Sized>(
    dests: &[W],
    loads: &L,
    cache: &mut Cache<u32>,
    flow: &FlowKey,
    now: u64,
) -> Option<usize> {
    if let Some(&mut d) = cache.get(&flow.dst_addr, now) {
        let i = d as usize;
        if let Some(dest) = dests.get(i) {
            if loads.load(i).available && dest.weight > 0 && !locality_overloaded(dests, loads, i) {
                return Some(i);
            }
        }
    }
    let i = weighted_least(dests, loads, DestLoad::overhead)?;
    cache.insert(flow.dst_addr, now, i as u32);
    Some(i)
}

/// `ip_vs_dest_set_min`: weighted least-connection member that is available and not
/// overloaded.
fn set_min<L: DestLoads + ?Sized>(dests: &[W], loads: &L, set: &DestSet) -> Option<usize> {
    let mut iter = set.as_slice().iter().map(|&d| d as usize);
    let (mut least, mut loh) = loop {
        let i = iter.next()?;
        let (Some(d), l) = (dests.get(i), loads.load(i)) else {
            continue;
        };
        if !l.overloaded && d.weight > 0 && l.available {
            break (i, l.overhead());
        }
    };
    for i in iter {
        let (Some(d), l) = (dests.get(i), loads.load(i)) else {
            continue;
        };
        if l.overloaded {
            continue;
        }
        let doh = l.overhead();
        if loh * u64::from(d.weight) > doh * u64::from(dests[least].weight) && l.available {
            least = i;
            loh = doh;
        }
    }
    Some(least)
}

/// `ip_vs_dest_set_max`: weighted most-connection member with a non-zero weight.
fn set_max<L: DestLoads + ?Sized>(dests: &[W], loads: &L, set: &DestSet) -> Option<usize> {
    let mut iter = set.as_slice().iter().map(|&d| d as usize);
    let (mut most, mut moh) = loop {
        let i = iter.next()?;
        if dests.get(i).is_some_and(|d| d.weight > 0) {
            break (i, loads.load(i).overhead());
        }
    };
    for i in iter {
        let Some(d) = dests.get(i) else { continue };
        let doh = loads.load(i).overhead();
        if moh * u64::from(d.weight) < doh * u64::from(dests[most].weight) && d.weight > 0 {
            most = i;
            moh = doh;
        }
    }
    Some(most)
}

/// ip_vs_lblcr_schedule: the least loaded member of the destination address's server
/// set; a set of several members that has not changed for `expiration` drops its most
/// loaded member; when the chosen member is locality-overloaded (or none is usable), wlc
/// picks a server that joins the set. O(set) on a hit, O(n) on a miss.
#[inline]
pub(crate) fn pick_lblcr<L: DestLoads + ?Sized>(
    dests: &[W],
    loads: &L,
    cache: &mut Cache<DestSet>,
    flow: &FlowKey,
    now: u64,
    expiration: u64,
) -> Option<usize> {
    if let Some(set) = cache.get(&flow.dst_addr, now) {
        let dest = set_min(dests, loads, set);
        if set.len > 1 && now > set.lastmod.saturating_add(expiration) {
            if let Some(m) = set_max(dests, loads, set) {
                set.erase(m as u32, now);
            }
        }
        if let Some(i) = dest {
            if !locality_overloaded(dests, loads, i) {
                return Some(i);
            }
        }
        let i = weighted_least(dests, loads, DestLoad::overhead)?;
        set.insert(i as u32, now);
        return Some(i);
    }
    let i = weighted_least(dests, loads, DestLoad::overhead)?;
    cache.insert(flow.dst_addr, now, DestSet::single(i as u32, now));
    Some(i)
}
