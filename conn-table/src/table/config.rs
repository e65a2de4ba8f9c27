//! The sizing of a table ([`Config`]).

/// Largest capacity: slab indexes keep one bit for the direction.
pub const MAX_CAPACITY: u32 = (1 << 31) - 1;

/// Sizing of a `ConnTable`. Everything is allocated up front, so neither
/// inserts nor lookups ever allocate or rehash on the packet path.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Config {
    /// Most connections the table holds; more are refused with
    /// [`InsertError::Full`](crate::error::InsertError::Full).
    pub capacity: u32,
    /// Most IPv6 connections (each takes a 64-byte side slot for its
    /// addresses on top of its entry). At most `capacity`.
    pub ipv6_capacity: u32,
    /// Most persistence templates.
    pub max_templates: u32,
    /// Real server ids run from 0 to `max_real_servers - 1`; the table keeps
    /// active/inactive/persistent counts for each.
    pub max_real_servers: u32,
    /// Timer wheel granularity in milliseconds: expiry happens at most one
    /// tick late.
    pub tick_ms: u32,
    /// Number of wheel slots, a power of two; `tick_ms * wheel_slots` should
    /// exceed the longest timeout to avoid re-arming (it stays correct if not).
    pub wheel_slots: u32,
}

impl Default for Config {
    fn default() -> Self {
        Config {
            capacity: 1 << 20,
            ipv6_capacity: 1 << 20,
            max_templates: 1 << 16,
            max_real_servers: 4096,
            tick_ms: 100,
            wheel_slots: 16384,
        }
    }
}
