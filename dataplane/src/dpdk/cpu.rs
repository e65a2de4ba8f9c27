//! CPU and memory helpers of the poll loop: time-stamp counter, spin hint, prefetch,
//! transparent huge-page advice.

use std::ffi::c_void;

use dpdk_sys as sys;

/// Read the CPU's time-stamp counter.
#[inline]
pub fn rdtsc() -> u64 {
    // SAFETY: rdtsc has no preconditions.
    unsafe { sys::rvs_rdtsc() }
}

/// Spin-wait hint for busy polling.
#[inline]
pub fn pause() {
    // SAFETY: no preconditions.
    unsafe { sys::rvs_pause() }
}

/// Prefetch the cache line at `p` into all cache levels (x86 `PREFETCHT0`). For
/// `ConnTable::set_prefetcher`.
#[inline]
pub fn prefetch(p: *const u8) {
    // SAFETY: a prefetch is only a hint: it never faults, whatever the address (an
    // unmapped or invalid one is simply ignored), and writes no memory; SSE, which the
    // intrinsic requires, is part of the x86_64 baseline.
    unsafe { std::arch::x86_64::_mm_prefetch::<{ std::arch::x86_64::_MM_HINT_T0 }>(p.cast()) }
}

/// Size of a transparent huge page on x86_64.
const HUGE_PAGE: usize = 2 << 20;

/// Ask the kernel to back the memory at `[addr, addr + len)` with transparent huge pages
/// (2 MiB) as it is first touched: `madvise(MADV_HUGEPAGE)`. Meant for the big arrays of a
/// connection table (pass it to `ConnTable::with_memory_advice`): a worker's lookups hit
/// them at random, and with 4 KiB pages nearly every lookup also misses the TLB. It uses
/// ordinary memory, not the EAL's hugetlbfs pool, and needs no EAL. Takes effect when
/// `/sys/kernel/mm/transparent_hugepage/enabled` is `madvise` or `always`; ranges smaller
/// than one huge page are left alone. Returns whether the kernel took the advice. Not for
/// the packet path (a system call).
pub fn advise_huge_pages(addr: *const u8, len: usize) -> bool {
    if len < HUGE_PAGE || addr.is_null() {
        return false;
    }
    // madvise wants a page-aligned start: widen the range down to its first page.
    let page = 4096;
    let start = addr as usize & !(page - 1);
    let len = len + (addr as usize - start);
    // SAFETY: MADV_HUGEPAGE only changes the kernel's page-size policy for the mapped pages
    // of the range; it never changes their contents, their protection or whether they are
    // mapped, so no Rust reference to memory in or around the range is affected. An
    // unmapped part of the range only makes the call fail with ENOMEM.
    let rc = unsafe { libc::madvise(start as *mut c_void, len, libc::MADV_HUGEPAGE) };
    rc == 0
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The range's `AnonHugePages` in /proc/self/smaps, in KiB.
    fn anon_huge_kib(addr: usize) -> Option<u64> {
        let smaps = std::fs::read_to_string("/proc/self/smaps").ok()?;
        let mut inside = false;
        for line in smaps.lines() {
            let first = line.split_whitespace().next().unwrap_or("");
            if let Some((a, b)) = first.split_once('-') {
                if let (Ok(a), Ok(b)) = (usize::from_str_radix(a, 16), usize::from_str_radix(b, 16))
                {
                    inside = (a..b).contains(&addr);
                    continue;
                }
            }
            if inside {
                if let Some(v) = line.strip_prefix("AnonHugePages:") {
                    return v.trim().trim_end_matches("kB").trim().parse().ok();
                }
            }
        }
        None
    }

    #[test]
    fn huge_page_advice_takes_effect_where_thp_is_available() {
        let small = [0u8; 64];
        assert!(!advise_huge_pages(small.as_ptr(), small.len()));
        let thp = std::fs::read_to_string("/sys/kernel/mm/transparent_hugepage/enabled")
            .unwrap_or_default();
        if !thp.contains("[madvise]") && !thp.contains("[always]") {
            eprintln!("transparent huge pages off here ({thp:?}): nothing to check");
            return;
        }
        let len = 16 << 20;
        let mut v: Vec<u8> = Vec::with_capacity(len);
        assert!(advise_huge_pages(v.as_ptr(), len));
        v.resize(len, 1);
        let kib = anon_huge_kib(v.as_ptr() as usize + len / 2).expect("mapping in smaps");
        assert!(kib >= 2048, "AnonHugePages {kib} KiB after advice");
    }
}
