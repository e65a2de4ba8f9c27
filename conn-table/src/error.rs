//! Why a connection or template was not created. (An invalid sizing is
//! `table::config::ConfigError`.)

use thiserror::Error;

/// Why a connection or template was not created. Every variant leaves the
/// table unchanged (except the refusal counters).
#[derive(Debug, Error, Clone, Copy, PartialEq, Eq)]
pub enum InsertError {
    /// The table holds its configured maximum of connections (or of IPv6
    /// connections); counted in `TableStats::refused_full`.
    #[error("connection table full")]
    Full,
    /// The template table is full; counted in
    /// `TableStats::refused_templates_full`.
    #[error("persistence template table full")]
    TemplatesFull,
    /// A connection with this original tuple (or a template with this key)
    /// already exists.
    #[error("connection already exists")]
    Exists,
    /// Another connection already uses this reply tuple (or the reply tuple
    /// equals the original one).
    #[error("reply tuple already in use")]
    ReplyExists,
    /// The real server id is not below `Config::max_real_servers`.
    #[error("real server id {rs} out of range (max {max})")]
    RealServerOutOfRange {
        /// The id given.
        rs: u32,
        /// The configured number of real servers.
        max: u32,
    },
    /// A tuple mixes IPv4 and IPv6, or the reply tuple's family differs from
    /// the original's.
    #[error("address family mismatch")]
    FamilyMismatch,
    /// The reply tuple's protocol differs from the original's.
    #[error("protocol mismatch between original and reply tuples")]
    ProtocolMismatch,
    /// The template handle does not name a live template.
    #[error("stale persistence template handle")]
    StaleTemplate,
}
