//! Bounded, allocation-free caches for lblc and lblcr (destination address -> real server(s)).
//!
//! The kernel keeps one unbounded hash table per service and trims it from a timer
//! (entries unused for `lblc_expiration`/`lblcr_expiration`, default one day; and, when it
//! holds more than 16384 entries, entries unused for 6 minutes). Here each worker owns a
//! set-associative table sized at build time ([`LocalityParams::capacity`]):
//!
//! * an entry unused for `expiration_ms` is treated as absent on lookup (lazy expiry,
//!   instead of the kernel's periodic sweep);
//! * inserting into a full set replaces the least recently used entry of that set (the
//!   kernel would grow past its limit until its next sweep).

use std::net::IpAddr;

/// Ways per set: a lookup compares at most this many keys.
const WAYS: usize = 4;

/// Most real servers an lblcr entry's server set holds (the kernel's set is unbounded, but it
/// only grows when every member is overloaded). Inserting into a full set drops the member
/// that was added first.
pub const MAX_REPLICAS: usize = 8;

/// Sizing and expiry of the lblc/lblcr per-worker caches.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct LocalityParams {
    /// Entries per worker; rounded up to a power of two, at least 4. Default 16384, the
    /// kernel's `max_size` (IP_VS_LBLC_TAB_SIZE * 16).
    pub capacity: usize,
    /// An entry unused this long is expired; for lblcr it is also the age after which a
    /// server set of more than one member drops its most loaded member. Default one day
    /// (the kernel's `lblc_expiration`/`lblcr_expiration` sysctls).
    pub expiration_ms: u64,
}

impl Default for LocalityParams {
    fn default() -> Self {
        LocalityParams {
            capacity: 16384,
            expiration_ms: 24 * 60 * 60 * 1000,
        }
    }
}

/// An lblcr server set: members in kernel list order (most recently added first).
#[derive(Clone, Copy, Debug)]
pub(crate) struct DestSet {
    pub(crate) members: [u32; MAX_REPLICAS],
    pub(crate) len: u8,
    pub(crate) lastmod: u64,
}

impl DestSet {
    pub(crate) fn single(dest: u32, now: u64) -> Self {
        let mut members = [0; MAX_REPLICAS];
        members[0] = dest;
        DestSet {
            members,
            len: 1,
            lastmod: now,
        }
    }

    pub(crate) fn as_slice(&self) -> &[u32] {
        &self.members[..usize::from(self.len)]
    }

    /// `ip_vs_dest_set_insert(.., check = true)`: no duplicate; new members go first.
    pub(crate) fn insert(&mut self, dest: u32, now: u64) {
        if self.as_slice().contains(&dest) {
            return;
        }
        let len = usize::from(self.len);
        let keep = len.min(MAX_REPLICAS - 1);
        self.members.copy_within(0..keep, 1);
        self.members[0] = dest;
        self.len = (keep + 1) as u8;
        self.lastmod = now;
    }

    /// `ip_vs_dest_set_erase`.
    pub(crate) fn erase(&mut self, dest: u32, now: u64) {
        let len = usize::from(self.len);
        if let Some(pos) = self.as_slice().iter().position(|&d| d == dest) {
            self.members.copy_within(pos + 1..len, pos);
            self.len -= 1;
            self.lastmod = now;
        }
    }
}

#[derive(Clone, Copy, Debug)]
struct Slot<V> {
    key: IpAddr,
    lastuse: u64,
    used: bool,
    val: V,
}

/// A set-associative cache keyed by destination address.
#[derive(Clone, Debug)]
pub(crate) struct Cache<V> {
    slots: Box<[Slot<V>]>,
    set_mask: usize,
    expiration_ms: u64,
}

#[inline]
fn key_hash(key: &IpAddr) -> u64 {
    let folded = match key {
        IpAddr::V4(a) => u64::from(u32::from_be_bytes(a.octets())),
        IpAddr::V6(a) => {
            let v = u128::from_be_bytes(a.octets());
            (v as u64) ^ ((v >> 64) as u64) ^ (1 << 63)
        }
    };
    folded.wrapping_mul(0x9E37_79B9_7F4A_7C15)
}

impl<V: Copy> Cache<V> {
    pub(crate) fn new(params: &LocalityParams, filler: V) -> Self {
        let cap = params.capacity.max(WAYS).next_power_of_two();
        let slot = Slot {
            key: IpAddr::V4(std::net::Ipv4Addr::UNSPECIFIED),
            lastuse: 0,
            used: false,
            val: filler,
        };
        Cache {
            slots: vec![slot; cap].into_boxed_slice(),
            set_mask: cap / WAYS - 1,
            expiration_ms: params.expiration_ms,
        }
    }

    #[inline]
    fn set_range(&self, key: &IpAddr) -> std::ops::Range<usize> {
        let sets = self.set_mask + 1;
        // High bits of the multiplicative hash are the well-mixed ones.
        let set = ((key_hash(key) >> 32) as usize) & (sets - 1);
        set * WAYS..set * WAYS + WAYS
    }

    /// The live entry for `key`, with its last-use time refreshed; an expired entry is
    /// dropped and reads as absent.
    #[inline]
    pub(crate) fn get(&mut self, key: &IpAddr, now: u64) -> Option<&mut V> {
        let range = self.set_range(key);
        let exp = self.expiration_ms;
        let set = &mut self.slots[range];
        let slot = set.iter_mut().find(|s| s.used && s.key == *key)?;
        // The kernel keeps an entry while lastuse + expiration is after now.
        if now >= slot.lastuse.saturating_add(exp) {
            slot.used = false;
            return None;
        }
        slot.lastuse = now;
        Some(&mut slot.val)
    }

    /// Stores `val` for `key` (replacing an existing entry), evicting the set's least
    /// recently used entry when the set is full.
    #[inline]
    pub(crate) fn insert(&mut self, key: IpAddr, now: u64, val: V) {
        let range = self.set_range(&key);
        let set = &mut self.slots[range];
        let idx = set
            .iter()
            .position(|s| s.used && s.key == key)
            .or_else(|| set.iter().position(|s| !s.used))
            .unwrap_or_else(|| {
                let mut lru = 0;
                for (i, s) in set.iter().enumerate() {
                    if s.lastuse < set[lru].lastuse {
                        lru = i;
                    }
                }
                lru
            });
        set[idx] = Slot {
            key,
            lastuse: now,
            used: true,
            val,
        };
    }

    /// Live entries, for carrying a cache over to a new table version.
    pub(crate) fn entries(&self) -> impl Iterator<Item = (IpAddr, u64, &V)> {
        self.slots
            .iter()
            .filter(|s| s.used)
            .map(|s| (s.key, s.lastuse, &s.val))
    }

    /// Re-inserts an entry with its original last-use time.
    pub(crate) fn restore(&mut self, key: IpAddr, lastuse: u64, val: V) {
        self.insert(key, lastuse, val);
    }

    /// Number of live (not known to be expired) entries.
    #[cfg(test)]
    pub(crate) fn len(&self) -> usize {
        self.slots.iter().filter(|s| s.used).count()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn a(i: u32) -> IpAddr {
        IpAddr::V4(std::net::Ipv4Addr::from(0xC612_0000 | i))
    }

    #[test]
    fn expiry_and_bounded_size() {
        let p = LocalityParams {
            capacity: 16,
            expiration_ms: 1000,
        };
        let mut c = Cache::new(&p, 0u32);
        c.insert(a(1), 0, 7);
        assert_eq!(c.get(&a(1), 999).copied(), Some(7));
        // Used at 999: lives until 1999.
        assert_eq!(c.get(&a(1), 1998).copied(), Some(7));
        assert_eq!(c.get(&a(1), 2998), None);
        for i in 0..1000 {
            c.insert(a(i), u64::from(i), i);
        }
        assert!(c.len() <= 16);
        // The most recent insert is always present.
        assert_eq!(c.get(&a(999), 1000).copied(), Some(999));
    }

    #[test]
    fn entry_sizes_match_the_documented_memory_bound() {
        // README: about 32 B per lblc entry and 80 B per lblcr entry.
        assert!(std::mem::size_of::<Slot<u32>>() <= 32);
        assert!(std::mem::size_of::<Slot<DestSet>>() <= 80);
    }

    #[test]
    fn dest_set_order_and_bound() {
        let mut s = DestSet::single(1, 0);
        s.insert(2, 5);
        s.insert(2, 6);
        assert_eq!(s.as_slice(), &[2, 1]);
        assert_eq!(s.lastmod, 5);
        for d in 3..20 {
            s.insert(d, 7);
        }
        assert_eq!(s.as_slice().len(), MAX_REPLICAS);
        assert_eq!(s.as_slice()[0], 19);
        s.erase(19, 9);
        assert_eq!(s.as_slice()[0], 18);
        assert_eq!(s.as_slice().len(), MAX_REPLICAS - 1);
    }
}
