//! Hashing schedulers: dh and sh (256-bucket tables) and mh (the Maglev table), with
//! the building of the dh and sh tables.

use std::net::IpAddr;

use crate::dest::{DestLoads, Destination};
use crate::flow::{addr_fold, hash_32, FlowKey};
use crate::kind::SchedFlags;
use crate::maglev::{self, EMPTY};

use super::weight::{usable, W};

/// Buckets of the dh and sh tables (IP_VS_DH_TAB_BITS = IP_VS_SH_TAB_BITS = 8).
const HASH_TAB_BITS: u32 = 8;
pub(crate) const HASH_TAB_SIZE: usize = 1 << HASH_TAB_BITS;
const HASH_TAB_MASK: u32 = HASH_TAB_SIZE as u32 - 1;

/// ip_vs_dh_reassign: buckets cycle through the list of `n` servers, weights ignored.
pub(crate) fn dh_table(n: usize) -> [u32; HASH_TAB_SIZE] {
    let mut t = [EMPTY; HASH_TAB_SIZE];
    if n > 0 {
        for (b, slot) in t.iter_mut().enumerate() {
            *slot = (b % n) as u32;
        }
    }
    t
}

/// ip_vs_sh_reassign: each server takes `weight` consecutive buckets (at least one),
/// cycling through the list until the 256 buckets are full.
pub(crate) fn sh_table(dests: &[Destination]) -> [u32; HASH_TAB_SIZE] {
    let n = dests.len();
    let mut t = [EMPTY; HASH_TAB_SIZE];
    if n > 0 {
        let (mut p, mut count) = (0usize, 0u32);
        for slot in t.iter_mut() {
            *slot = p as u32;
            count += 1;
            if count >= u32::from(dests[p].weight) {
                p = (p + 1) % n;
                count = 0;
            }
        }
    }
    t
}

/// ip_vs_dh_schedule: bucket `hash_32(folded destination address, 8)` (the top 8 bits
/// of the multiplicative hash, `ip_vs_dh_hashkey` in current kernels, as sh's); fails if
/// that server is unavailable, weight 0 or overloaded. O(1).
#[inline]
pub(crate) fn pick_dh<L: DestLoads + ?Sized>(
    dests: &[W],
    loads: &L,
    table: &[u32; HASH_TAB_SIZE],
    flow: &FlowKey,
) -> Option<usize> {
    let b = hash_32(addr_fold(&flow.dst_addr), HASH_TAB_BITS);
    let i = table[b as usize] as usize;
    let d = dests.get(i)?;
    usable(d, &loads.load(i)).then_some(i)
}

#[inline]
fn sh_hashkey(addr: &IpAddr, port: u16, offset: u32) -> usize {
    let h = hash_32(u32::from(port).wrapping_add(addr_fold(addr)), HASH_TAB_BITS);
    (offset.wrapping_add(h) & HASH_TAB_MASK) as usize
}

/// ip_vs_sh_schedule: bucket hash_32(source port (sh-port) + folded source address);
/// with sh-fallback, walk the table (offsets 0..255 re-hashed) to the first usable
/// server. O(1), O(256) worst case with fallback.
#[inline]
pub(crate) fn pick_sh<L: DestLoads + ?Sized>(
    dests: &[W],
    loads: &L,
    table: &[u32; HASH_TAB_SIZE],
    flow: &FlowKey,
    flags: SchedFlags,
) -> Option<usize> {
    let port = if flags.port { flow.hash_port() } else { 0 };
    let addr = &flow.src_addr;
    let ok = |i: usize| dests.get(i).is_some_and(|d| usable(d, &loads.load(i)));
    let ihash = sh_hashkey(addr, port, 0);
    let i = table[ihash];
    if i == EMPTY {
        return None;
    }
    if ok(i as usize) {
        return Some(i as usize);
    }
    if !flags.fallback {
        return None;
    }
    for offset in 0..HASH_TAB_SIZE as u32 {
        let roffset = (offset + ihash as u32) & HASH_TAB_MASK;
        let i = table[sh_hashkey(addr, port, roffset)];
        if i == EMPTY {
            break;
        }
        if ok(i as usize) {
            return Some(i as usize);
        }
    }
    None
}

/// ip_vs_mh_schedule: lookup[hsiphash(source port (mh-port) + folded source address) % M];
/// with mh-fallback, re-hash with offsets 0..M-1 to the first usable server. O(1),
/// O(M) worst case with fallback.
#[inline]
pub(crate) fn pick_mh<L: DestLoads + ?Sized>(
    dests: &[W],
    loads: &L,
    table: &[u32],
    flow: &FlowKey,
    flags: SchedFlags,
) -> Option<usize> {
    let size = table.len() as u32;
    if size == 0 {
        return None;
    }
    let port = if flags.port { flow.hash_port() } else { 0 };
    let addr = &flow.src_addr;
    let ok = |i: usize| dests.get(i).is_some_and(|d| usable(d, &loads.load(i)));
    let ihash = maglev::mh_hashkey(addr, port, maglev::HASH1, 0) % size;
    let i = table[ihash as usize];
    if i == EMPTY {
        return None;
    }
    if ok(i as usize) {
        return Some(i as usize);
    }
    if !flags.fallback {
        return None;
    }
    for offset in 0..size {
        let roffset = (offset + ihash) % size;
        let h = maglev::mh_hashkey(addr, port, maglev::HASH1, roffset) % size;
        let i = table[h as usize];
        if i == EMPTY {
            break;
        }
        if ok(i as usize) {
            return Some(i as usize);
        }
    }
    None
}
