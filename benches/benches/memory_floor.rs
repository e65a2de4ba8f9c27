//! What this machine's memory allows a connection-table lookup at 1 M connections: the
//! same memory accesses as `ConnTable::lookup_burst` with (almost) no computing around
//! them, so `conn_table/lookup_hit_burst32/1000000` can be read against a floor instead
//! of against a guess.
//!
//! Two arrays the size of the 1 M table's (capacity 1 M + 65 536 as in the conn_table
//! bench): an index of 64-byte buckets (24.4 MB) and a slab of 96-byte entries (102 MB),
//! both on transparent huge pages as rvsd allocates them. One iteration is a burst of 32
//! "lookups" at pseudo-random buckets, in the stages of `lookup_burst`:
//!
//! - `two_reads`: prefetch 32 buckets; read each (its first word names an entry) and
//!   prefetch that entry; read the 32 entries. The table's two dependent reads per
//!   lookup; no hashing, no key compare.
//! - `one_read`: prefetch 32 random entries of the slab, then read them: what a lookup
//!   would cost if the index held the keys (one read).
//! - `bucket_reads_hooked`: 32 random buckets, prefetched through a function pointer as
//!   `ConnTable` calls rvsd's prefetch instruction, then read.
//!
//! ```text
//! cargo bench -p benches --bench memory_floor
//! ```

use std::hint::black_box;

use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion, Throughput};

/// Connections of the conn_table bench's 1 M table (its capacity).
const CAPACITY: usize = 1_000_000 + 65_536;
const BURST: usize = 32;

/// One index bucket: a cache line.
#[derive(Clone, Copy)]
#[repr(C, align(64))]
struct Bucket([u32; 16]);

/// One slab entry: 96 bytes, 32-byte aligned (as `Conn`).
#[derive(Clone, Copy)]
#[repr(C, align(32))]
struct Entry([u32; 24]);

/// A vector of `n` copies of `v`, advised onto huge pages before it is first written.
fn huge_vec<T: Copy>(n: usize, v: T) -> Vec<T> {
    let mut out: Vec<T> = Vec::with_capacity(n);
    dataplane::dpdk::advise_huge_pages(out.as_ptr().cast(), n * std::mem::size_of::<T>());
    out.resize(n, v);
    out
}

/// xorshift64: a few instructions per pseudo-random number.
struct Rng(u64);

impl Rng {
    #[inline]
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }
    /// A pseudo-random index below `n` (multiply-shift, no division).
    #[inline]
    fn below(&mut self, n: usize) -> usize {
        (((self.next() & 0xffff_ffff) * n as u64) >> 32) as usize
    }
}

/// Sum of one word of each of the `at` elements of `v`: the reads whose wait is measured.
#[inline]
fn first_words<T>(v: &[T], at: &[usize], word: impl Fn(&T) -> u32) -> u32 {
    at.iter().fold(0u32, |s, &a| s.wrapping_add(word(&v[a])))
}

fn floor(c: &mut Criterion) {
    // Buckets as the index sizes them: two index entries per connection, at most 80 %
    // of 7 slots per bucket.
    let buckets = (CAPACITY * 2 * 5).div_ceil(28);
    let mut rng = Rng(0x9e37_79b9_7f4a_7c15);
    let mut index = huge_vec(buckets, Bucket([0; 16]));
    for b in index.iter_mut() {
        b.0[8] = rng.below(CAPACITY) as u32;
    }
    let slab = huge_vec(CAPACITY, Entry([1; 24]));

    let mut g = c.benchmark_group("memory_floor");
    g.throughput(Throughput::Elements(BURST as u64));
    let mut at = [0usize; BURST];
    g.bench_function(BenchmarkId::new("two_reads", 1_000_000), |b| {
        b.iter(|| {
            for a in at.iter_mut() {
                *a = rng.below(buckets);
                dataplane::dpdk::prefetch((&index[*a] as *const Bucket).cast());
            }
            for a in at.iter_mut() {
                *a = index[*a].0[8] as usize;
                dataplane::dpdk::prefetch((&slab[*a] as *const Entry).cast());
            }
            black_box(first_words(&slab, &at, |e| e.0[0]))
        })
    });
    g.bench_function(BenchmarkId::new("one_read", 1_000_000), |b| {
        b.iter(|| {
            for a in at.iter_mut() {
                *a = rng.below(CAPACITY);
                dataplane::dpdk::prefetch((&slab[*a] as *const Entry).cast());
            }
            black_box(first_words(&slab, &at, |e| e.0[0]))
        })
    });
    // The buckets alone, prefetched through a function pointer as `ConnTable` calls
    // rvsd's prefetch instruction.
    let hook: fn(*const u8) = black_box(dataplane::dpdk::prefetch);
    g.bench_function(BenchmarkId::new("bucket_reads_hooked", 1_000_000), |b| {
        b.iter(|| {
            for a in at.iter_mut() {
                *a = rng.below(buckets);
                hook((&index[*a] as *const Bucket).cast());
            }
            black_box(first_words(&index, &at, |b| b.0[8]))
        })
    });
    g.finish();
}

criterion_group! {
    name = benches;
    config = Criterion::default().sample_size(20);
    targets = floor
}
criterion_main!(benches);
