//! The per-worker connection table, one file per job. Layering, lowest first
//! (a file uses only files above it in this list):
//!
//! - `config`: the sizing ([`Config`]) and why it is refused;
//! - `records`: the plain data taken in and handed out (handles, [`NewConn`],
//!   [`ConnInfo`], counts);
//! - `entry`: the slab entries' layout and flag bits, and the reads of an entry
//!   (its key, whether it holds a tuple, its tuples);
//! - `layout`: [`ConnTable`] itself, its arrays and their sizing, the index hash,
//!   settings and counts;
//! - `lookup`, `view` ([`ConnRef`]), `packet` (a packet's accounting), `templates`:
//!   each on `layout` and `entry`;
//! - `insert` (uses `templates`), `expiry` (uses `templates` and `view`), `listing`
//!   (uses `view` and `templates`), `invariants` (uses `lookup`, a test aid).
//!
//! This file only declares the parts and re-exports their public items.

mod config;
mod entry;
mod expiry;
mod insert;
mod invariants;
mod layout;
mod listing;
mod lookup;
mod packet;
mod records;
mod templates;
mod view;

pub use config::{Config, ConfigError, MAX_CAPACITY};
pub use layout::ConnTable;
pub use records::{
    ConnFlags, ConnId, ConnInfo, Counters, ListCursor, MemoryUsage, NewConn, RsCounts, TableStats,
    TemplateId, TemplateInfo,
};
pub use templates::TEMPLATE_RECHECK_S;
pub use view::ConnRef;
