//! The connection index: a bucketed open-addressing hash table of
//! `(tag, value)` pairs, one 64-byte cache line per bucket.
//!
//! Why not `hashbrown`: a hashbrown probe reads a control-byte group and then
//! a separate slot array, and the slot points into the slab, so a lookup in a
//! table far larger than the caches makes three dependent memory accesses
//! (control bytes, slot, slab entry). Here a bucket holds seven 32-bit hash
//! tags next to their seven values, so a lookup reads one bucket line (or,
//! when its home bucket overflowed, the next one too, which a burst prefetches
//! with it), and only the slab entry whose tag matches (a false match is a
//! 1-in-2^31 event per occupied slot): two dependent accesses, and a burst can
//! issue the first access of all its lookups before it needs any of them (see
//! `ConnTable::lookup_burst`). This is the layout of DPDK's `rte_hash`
//! (signatures beside key indexes in a cache-line bucket) without its cuckoo
//! displacement: overflow goes to the following buckets, F14-style, and each
//! bucket counts the entries that overflowed past it, so a probe stops at the
//! first bucket whose count is zero and removal needs no tombstones.
//!
//! The table is sized once for its largest number of entries at a load of at
//! most 80 %, so it never grows or rehashes on the packet path.

/// Pairs per bucket: 7 tags + 7 values + the overflow count + the occupancy mask fill
/// 64 bytes.
const SLOTS: usize = 7;

/// One cache line.
#[derive(Clone, Copy, Debug)]
#[repr(C, align(64))]
struct Bucket {
    /// Hash tags; 0 marks a free slot (real tags always have bit 0 set).
    tags: [u32; SLOTS],
    /// Entries whose probe started at or before this bucket and that are
    /// stored after it: while non-zero, a probe must go on to the next bucket.
    overflow: u32,
    /// Values of the occupied slots.
    vals: [u32; SLOTS],
    /// Bit `i` set while slot `i` is occupied: an insert takes the lowest clear bit
    /// without a branch, where searching the tags for a free one ended after a number
    /// of steps that depends on the bucket's fill (a mispredicted branch on most
    /// inserts).
    used: u32,
}

const _: () = assert!(core::mem::size_of::<Bucket>() == 64);

impl Bucket {
    const EMPTY: Bucket = Bucket {
        tags: [0; SLOTS],
        overflow: 0,
        vals: [0; SLOTS],
        used: 0,
    };

    /// The value of the first slot in `matches`, and whether it is the whole
    /// answer: at most one slot matched and no entry from here on is stored
    /// further (so every entry that could match is in this bucket or, for
    /// [`Index::first_match`]'s second look, the one before).
    #[inline]
    fn first(&self, matches: u32) -> (Option<u32>, bool) {
        let cand = (matches != 0).then(|| self.vals[matches.trailing_zeros() as usize]);
        (
            cand,
            matches & matches.wrapping_sub(1) == 0 && self.overflow == 0,
        )
    }

    /// Bit `i` set when slot `i` carries `tag` (branch-free, so the compiler
    /// can compare all tags at once).
    #[inline]
    fn matches(&self, tag: u32) -> u32 {
        let mut m = 0;
        for (i, &t) in self.tags.iter().enumerate() {
            m |= u32::from(t == tag) << i;
        }
        m
    }
}

/// Where a hash leads: its home bucket and its tag.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub(crate) struct Probe {
    pub bucket: u32,
    pub tag: u32,
}

/// Bucketed index from a 64-bit hash to 32-bit values. The caller's `eq`
/// closure decides whether a value whose tag matches is the key it wants.
pub(crate) struct Index {
    buckets: Vec<Bucket>,
    len: usize,
    max_len: usize,
}

impl Index {
    /// An index for at most `max_len` entries. `advise` sees the bucket array
    /// after it is reserved and before it is first written (so the caller can
    /// ask for huge pages).
    pub fn new(max_len: usize, advise: &mut dyn FnMut(*const u8, usize)) -> Index {
        // At most 80 % of the slots in use: 5.6 entries per 7-slot bucket.
        let n = (max_len.saturating_mul(5).div_ceil(28)).clamp(1, u32::MAX as usize);
        let mut buckets: Vec<Bucket> = Vec::with_capacity(n);
        advise(
            buckets.as_ptr().cast::<u8>(),
            n * core::mem::size_of::<Bucket>(),
        );
        buckets.resize(n, Bucket::EMPTY);
        Index {
            buckets,
            len: 0,
            max_len,
        }
    }

    /// Number of entries.
    pub fn len(&self) -> usize {
        self.len
    }

    /// Bytes reserved.
    pub fn allocation_size(&self) -> usize {
        self.buckets.capacity() * core::mem::size_of::<Bucket>()
    }

    /// Home bucket (from the low 32 bits of the hash, scaled to the bucket
    /// count without a division) and tag (the high 32 bits, never 0).
    #[inline]
    pub fn probe(&self, hash: u64) -> Probe {
        let n = self.buckets.len() as u64;
        Probe {
            bucket: (((hash & 0xffff_ffff) * n) >> 32) as u32,
            tag: (hash >> 32) as u32 | 1,
        }
    }

    #[inline]
    fn next(&self, b: usize) -> usize {
        if b + 1 == self.buckets.len() {
            0
        } else {
            b + 1
        }
    }

    /// Read the home bucket of `p` without using the result, so that a later
    /// [`Index::first_match`] finds it in the cache (a demand load stands in
    /// for a prefetch instruction, which stable Rust only offers as `unsafe`).
    #[inline]
    pub fn touch(&self, p: Probe) -> u32 {
        self.buckets[p.bucket as usize].overflow
    }

    /// Address of `p`'s home bucket, for a prefetch instruction.
    #[inline]
    pub fn bucket_addr(&self, p: Probe) -> *const u8 {
        (&self.buckets[p.bucket as usize] as *const Bucket).cast()
    }

    /// Address of the bucket after `p`'s home bucket (where its entry is when the
    /// home bucket was full), for a prefetch instruction. For the last bucket this
    /// is the first byte past the array (the wrap to bucket 0 goes unprefetched):
    /// computed, never read here, and a prefetch of it is a no-op hint.
    #[inline]
    pub fn next_bucket_addr(&self, p: Probe) -> *const u8 {
        self.bucket_addr(p)
            .wrapping_add(core::mem::size_of::<Bucket>())
    }

    /// The value of the first slot carrying `p`'s tag in its home bucket, or,
    /// when the home bucket has none and overflowed, in the next bucket; and
    /// whether that is the whole answer: `(None, true)` means "certainly
    /// absent", `(_, false)` means the caller must fall back to
    /// [`Index::find`] if the candidate does not match. Looking one bucket
    /// further matters at high load: at 75 % (a full 1 M table) a few
    /// percent of entries sit in the bucket after their home one, and each
    /// such lookup fell back to a walk whose reads were not prefetched (two
    /// cache misses in a row). Callers prefetch both buckets.
    #[inline]
    pub fn first_match(&self, p: Probe) -> (Option<u32>, bool) {
        let home = &self.buckets[p.bucket as usize];
        let m = home.matches(p.tag);
        if m == 0 && home.overflow != 0 {
            return self.first_match_next(p);
        }
        home.first(m)
    }

    /// [`Index::first_match`] in the bucket after the home one (out of line: a
    /// few percent of lookups at full load).
    #[cold]
    #[inline(never)]
    fn first_match_next(&self, p: Probe) -> (Option<u32>, bool) {
        let b = &self.buckets[self.next(p.bucket as usize)];
        b.first(b.matches(p.tag))
    }

    /// The value whose tag matches and that `eq` accepts.
    #[inline]
    pub fn find(&self, p: Probe, mut eq: impl FnMut(u32) -> bool) -> Option<u32> {
        let mut b = p.bucket as usize;
        loop {
            let bk = &self.buckets[b];
            let mut m = bk.matches(p.tag);
            while m != 0 {
                let v = bk.vals[m.trailing_zeros() as usize];
                if eq(v) {
                    return Some(v);
                }
                m &= m - 1;
            }
            if bk.overflow == 0 {
                return None;
            }
            b = self.next(b);
        }
    }

    /// Add `v` under `p` (the caller has checked it is not there yet).
    /// Panics only if more than the `max_len` the index was built for are
    /// inserted, which the table's capacity check rules out.
    pub fn insert(&mut self, p: Probe, v: u32) {
        assert!(self.len < self.max_len, "index sized for {}", self.max_len);
        let mut b = p.bucket as usize;
        loop {
            let bk = &mut self.buckets[b];
            let free = !bk.used & ((1 << SLOTS) - 1);
            if free != 0 {
                let i = free.trailing_zeros() as usize;
                bk.used |= 1 << i;
                bk.tags[i] = p.tag;
                bk.vals[i] = v;
                self.len += 1;
                return;
            }
            bk.overflow += 1;
            b = self.next(b);
        }
    }

    /// Remove value `v` stored under `p`. Returns whether it was there.
    pub fn remove(&mut self, p: Probe, v: u32) -> bool {
        let home = p.bucket as usize;
        let mut b = home;
        loop {
            let bk = &mut self.buckets[b];
            let m = bk.matches(p.tag);
            if let Some(i) = (0..SLOTS).find(|&i| m & (1 << i) != 0 && bk.vals[i] == v) {
                bk.tags[i] = 0;
                bk.used &= !(1 << i);
                bk.vals[i] = 0;
                // Every bucket passed on the way here counted this entry.
                let mut c = home;
                while c != b {
                    self.buckets[c].overflow -= 1;
                    c = self.next(c);
                }
                self.len -= 1;
                return true;
            }
            if bk.overflow == 0 {
                return false;
            }
            b = self.next(b);
        }
    }

    /// Check the overflow counts against the stored entries (tests).
    #[doc(hidden)]
    pub fn check(&self, mut home_of: impl FnMut(u32) -> Probe) -> Result<(), String> {
        let n = self.buckets.len();
        let mut expect = vec![0u32; n];
        let mut len = 0;
        for (b, bk) in self.buckets.iter().enumerate() {
            for i in 0..SLOTS {
                if (bk.tags[i] != 0) != (bk.used & (1 << i) != 0) {
                    return Err(format!("bucket {b} slot {i}: occupancy bit differs"));
                }
                if bk.tags[i] == 0 {
                    continue;
                }
                len += 1;
                let p = home_of(bk.vals[i]);
                if p.tag != bk.tags[i] {
                    return Err(format!("bucket {b} slot {i}: tag differs"));
                }
                let mut c = p.bucket as usize;
                while c != b {
                    expect[c] += 1;
                    c = self.next(c);
                }
            }
        }
        if len != self.len {
            return Err(format!("index len {} but {len} entries", self.len));
        }
        for (b, (bk, e)) in self.buckets.iter().zip(&expect).enumerate() {
            if bk.overflow != *e {
                return Err(format!("bucket {b}: overflow {} expected {e}", bk.overflow));
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn none(_: *const u8, _: usize) {}

    /// Few buckets, many colliding entries: overflow chains across the wrap.
    #[test]
    fn overflow_chains_insert_find_remove() {
        let mut ix = Index::new(40, &mut none);
        assert_eq!(ix.buckets.len(), 8);
        // Every key homes in the last bucket, so chains wrap around.
        let probe = |v: u32| Probe {
            bucket: 7,
            tag: (v % 3) * 2 + 1,
        };
        for v in 0..40 {
            assert!(ix.find(probe(v), |x| x == v).is_none());
            ix.insert(probe(v), v);
            ix.check(probe).unwrap();
        }
        for v in 0..40 {
            assert_eq!(ix.find(probe(v), |x| x == v), Some(v));
        }
        for v in (0..40).step_by(3) {
            assert!(ix.remove(probe(v), v));
            assert!(!ix.remove(probe(v), v));
            ix.check(probe).unwrap();
        }
        for v in 0..40 {
            let want = (v % 3 != 0).then_some(v);
            assert_eq!(ix.find(probe(v), |x| x == v), want);
        }
        assert_eq!(ix.len(), 26);
    }

    /// At the largest load the index is built for (80 % of the slots), the home
    /// bucket and the next one answer nearly every hit by themselves: only the
    /// rest take `find`'s walk, whose reads a burst has not prefetched.
    #[test]
    fn first_match_answers_most_hits_at_full_load() {
        let n = 100_000u32;
        let mut ix = Index::new(n as usize, &mut none);
        // A well-mixed 64-bit hash of each value.
        let probe = |v: u32| {
            let h = u64::from(v).wrapping_mul(0x9e37_79b9_7f4a_7c15);
            (h ^ (h >> 29)).wrapping_mul(0xbf58_476d_1ce4_e5b9)
        };
        for v in 0..n {
            let p = ix.probe(probe(v));
            ix.insert(p, v);
        }
        let direct = (0..n)
            .filter(|&v| ix.first_match(ix.probe(probe(v))).0 == Some(v))
            .count();
        // 96.2 % here; the home bucket alone answered 90.6 %.
        let share = direct as f64 / f64::from(n);
        assert!(share > 0.95, "{share}");
        for v in (0..n).step_by(97) {
            assert_eq!(ix.find(ix.probe(probe(v)), |x| x == v), Some(v));
        }
    }

    #[test]
    fn first_match_is_exact_only_without_overflow() {
        let mut ix = Index::new(56, &mut none);
        let p = Probe { bucket: 3, tag: 5 };
        assert_eq!(ix.first_match(p), (None, true));
        ix.insert(p, 9);
        assert_eq!(ix.first_match(p), (Some(9), true));
        ix.insert(p, 10);
        // Two candidates with the same tag: not decisive.
        assert_eq!(ix.first_match(p), (Some(9), false));
    }
}
