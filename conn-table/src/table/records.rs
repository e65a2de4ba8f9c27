//! The plain data a table takes in and hands out: handles, the description of
//! a new connection, records of connections and templates, counts and
//! counters. Nothing here knows the table's layout.

use crate::state::ConnState;
use crate::tuple::{Method, TemplateKey, Tuple};

/// Handle of a connection: its slab slot. Valid from the `insert` or
/// `lookup` that returned it until the connection is removed or expired (a
/// later connection may reuse the slot), so use it within the processing of
/// one packet or one control request.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ConnId(pub u32);

/// Handle of a persistence template, valid like a [`ConnId`].
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct TemplateId(pub u32);

/// Connection flags visible to callers (a subset of `IP_VS_CONN_F_*`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Default)]
pub struct ConnFlags(pub u8);

impl ConnFlags {
    /// Counted in its real server's inactive connections
    /// (`IP_VS_CONN_F_INACTIVE`).
    pub const INACTIVE: ConnFlags = ConnFlags(0x01);
    /// No reply seen yet on a DR/TUN connection: the state machine uses the
    /// input-only table (`IP_VS_CONN_F_NOOUTPUT`).
    pub const NO_OUTPUT: ConnFlags = ConnFlags(0x02);

    /// Whether every bit of `other` is set.
    pub const fn contains(self, other: ConnFlags) -> bool {
        self.0 & other.0 == other.0
    }
}

/// What a new connection is made of; both tuples come from the caller (the
/// dataplane knows the rewrite it will apply).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct NewConn {
    /// The tuple of the client's packets as they arrive (client -> VIP).
    pub original: Tuple,
    /// The tuple of the packets that come back: RS -> client for NAT,
    /// RS -> local address for FULLNAT. `None` for DR/TUN, whose replies
    /// never reach the director, which saves an index entry.
    pub reply: Option<Tuple>,
    /// Real server id (`< Config::max_real_servers`).
    pub rs: u32,
    /// Virtual service id.
    pub svc: u32,
    /// Forwarding method.
    pub method: Method,
    /// The persistence template that chose `rs`, if any: it is then kept
    /// alive at least as long as this connection.
    pub template: Option<TemplateId>,
}

/// Packet and byte counters of a connection, per [`Direction`](crate::tuple::Direction).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub struct Counters {
    /// Packets, indexed by `Direction as usize`.
    pub packets: [u64; 2],
    /// Bytes, indexed by `Direction as usize`.
    pub bytes: [u64; 2],
}

/// A connection as plain data, for the dataplane's rewrite and for listings
/// (`ipvsadm -Lnc`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ConnInfo {
    /// Its handle.
    pub id: ConnId,
    /// Client -> virtual service tuple.
    pub original: Tuple,
    /// Reply tuple, if indexed.
    pub reply: Option<Tuple>,
    /// Real server id.
    pub rs: u32,
    /// Virtual service id.
    pub svc: u32,
    /// Forwarding method.
    pub method: Method,
    /// Protocol state.
    pub state: ConnState,
    /// Flags.
    pub flags: ConnFlags,
    /// Milliseconds until expiry (0 if already due).
    pub expires_in_ms: u64,
    /// Counters.
    pub counters: Counters,
    /// Controlling persistence template.
    pub template: Option<TemplateId>,
}

/// A persistence template as plain data.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct TemplateInfo {
    /// Its handle.
    pub id: TemplateId,
    /// Its key.
    pub key: TemplateKey,
    /// Real server the client is bound to.
    pub rs: u32,
    /// Persistence timeout, seconds.
    pub timeout_s: u32,
    /// Milliseconds until its timer fires (it is re-armed then while it
    /// still controls connections).
    pub expires_in_ms: u64,
    /// Number of live connections it controls.
    pub controlled: u32,
    /// Whether new connections can still find it (false once invalidated).
    pub hashed: bool,
}

/// Connection counts of one real server, as `ipvsadm -Ln` shows them.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub struct RsCounts {
    /// ActiveConn.
    pub active: u32,
    /// InActConn.
    pub inactive: u32,
    /// PersistConn: persistence templates bound to it.
    pub persistent: u32,
}

/// Table-wide counters.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub struct TableStats {
    /// Connection inserts refused because the table was full.
    pub refused_full: u64,
    /// Template creations refused because the template table was full.
    pub refused_templates_full: u64,
    /// Connections removed by expiry.
    pub expired: u64,
    /// Templates removed by expiry.
    pub templates_expired: u64,
}

/// Bytes reserved by a table, by part.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub struct MemoryUsage {
    /// Connection slab (capacity x entry size).
    pub slab: usize,
    /// IPv6 address side slab.
    pub ipv6: usize,
    /// Two-direction hash index.
    pub index: usize,
    /// Templates (slab and index).
    pub templates: usize,
    /// Timer wheels and per-real-server counts.
    pub other: usize,
}

impl MemoryUsage {
    /// Sum of all parts.
    pub const fn total(&self) -> usize {
        self.slab + self.ipv6 + self.index + self.templates + self.other
    }
}

/// Position in a listing; start with [`ListCursor::START`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ListCursor(pub u32);

impl ListCursor {
    /// The beginning of the table.
    pub const START: ListCursor = ListCursor(0);
}
