//! The sizing of a table ([`Config`]) and why one is refused ([`ConfigError`]).

use thiserror::Error;

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
    /// Real server ids run from 0 to `max_real_servers - 1` (more with
    /// `ConnTable::reserve_real_servers`); the table keeps active/inactive/persistent
    /// counts for each.
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

impl Config {
    /// The first reason this sizing cannot make a table, if any.
    pub(super) fn validate(&self) -> Result<(), ConfigError> {
        if self.capacity > MAX_CAPACITY || self.max_templates > MAX_CAPACITY {
            return Err(ConfigError::CapacityTooLarge);
        }
        if self.ipv6_capacity > self.capacity {
            return Err(ConfigError::Ipv6CapacityTooLarge);
        }
        if self.tick_ms == 0 {
            return Err(ConfigError::ZeroTick);
        }
        if !self.wheel_slots.is_power_of_two() || self.wheel_slots < 2 {
            return Err(ConfigError::WheelSlots(self.wheel_slots));
        }
        Ok(())
    }
}

/// An invalid [`Config`].
#[derive(Debug, Error, Clone, Copy, PartialEq, Eq)]
pub enum ConfigError {
    /// A capacity is above [`MAX_CAPACITY`].
    #[error("capacity above {}", MAX_CAPACITY)]
    CapacityTooLarge,
    /// `ipv6_capacity` is above `capacity`.
    #[error("ipv6_capacity above capacity")]
    Ipv6CapacityTooLarge,
    /// `tick_ms` is 0.
    #[error("timer wheel tick must be at least 1 ms")]
    ZeroTick,
    /// `wheel_slots` is not a power of two of at least 2.
    #[error("timer wheel slots {0} is not a power of two >= 2")]
    WheelSlots(u32),
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Each refusal names the first rule the sizing breaks, in the order the
    /// constructor has always checked them.
    #[test]
    fn validate_names_the_first_broken_rule() {
        let ok = Config::default();
        assert_eq!(ok.validate(), Ok(()));
        let cases = [
            (
                Config {
                    capacity: MAX_CAPACITY + 1,
                    tick_ms: 0,
                    ..ok
                },
                ConfigError::CapacityTooLarge,
            ),
            (
                Config {
                    max_templates: MAX_CAPACITY + 1,
                    ..ok
                },
                ConfigError::CapacityTooLarge,
            ),
            (
                Config {
                    ipv6_capacity: ok.capacity + 1,
                    tick_ms: 0,
                    ..ok
                },
                ConfigError::Ipv6CapacityTooLarge,
            ),
            (Config { tick_ms: 0, ..ok }, ConfigError::ZeroTick),
            (
                Config {
                    wheel_slots: 1,
                    ..ok
                },
                ConfigError::WheelSlots(1),
            ),
            (
                Config {
                    wheel_slots: 100,
                    ..ok
                },
                ConfigError::WheelSlots(100),
            ),
        ];
        for (cfg, want) in cases {
            assert_eq!(cfg.validate(), Err(want), "{cfg:?}");
        }
        assert_eq!(
            ConfigError::CapacityTooLarge.to_string(),
            "capacity above 2147483647"
        );
    }
}
