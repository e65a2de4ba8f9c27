//! Per-worker IPVS connection table for rvs: a slab of connection entries,
//! a two-direction hash index, the IPVS TCP/UDP state machine and timeouts,
//! timer-wheel expiry with a work budget, persistence templates and
//! per-real-server active/inactive counts. Pure Rust: no DPDK, no `unsafe`,
//! no locks, no atomics, no clock reads.
//!
//! ```
//! use conn_table::*;
//! let now = 0u64; // caller's monotonic clock, ms
//! let mut table = ConnTable::new(Config::default(), now).unwrap();
//! let client = "198.18.0.1".parse().unwrap();
//! let vip = "198.18.0.100".parse().unwrap();
//! let rip = "198.19.0.11".parse().unwrap();
//! let syn = Tuple::new(proto::TCP, client, 40000, vip, 80);
//! // Miss on a VIP: schedule (persistence template or scheduler), then create.
//! assert!(table.lookup(&syn).is_none());
//! let id = table
//!     .insert(
//!         &NewConn {
//!             original: syn,
//!             reply: Some(Tuple::new(proto::TCP, rip, 8080, client, 40000)),
//!             rs: 0,
//!             svc: 0,
//!             method: Method::Masq,
//!             template: None,
//!         },
//!         now,
//!     )
//!     .unwrap();
//! table.on_packet(id, Direction::Original, TcpFlags::SYN, 60, now);
//! // The real server's SYN-ACK finds the same connection.
//! let reply = Tuple::new(proto::TCP, rip, 8080, client, 40000);
//! let (rid, dir) = table.lookup(&reply).unwrap();
//! assert_eq!((rid, dir), (id, Direction::Reply));
//! table.on_packet(rid, dir, TcpFlags::SYN | TcpFlags::ACK, 60, now + 1);
//! assert_eq!(table.rs_counts(0).active, 1);
//! // Once per poll-loop iteration:
//! table.expire(now + 2, 64);
//! ```
//!
//! # Ownership and time
//! One [`ConnTable`] per worker, owned exclusively and used through
//! `&mut self`. The caller passes time in as a monotonic millisecond count
//! (`now_ms`, e.g. derived from the TSC once per poll-loop iteration): the
//! crate never reads a clock or makes a system call.
//!
//! # Layout and memory
//! Connections live in a slab (`Vec` reserved to [`Config::capacity`] up
//! front) of 96-byte, 32-byte-aligned entries holding both tuples (IPv4
//! addresses inline; IPv6 addresses in a 64-byte side slot), real server and
//! service ids, forwarding method, state, flags, per-direction packet/byte
//! counters, expiry, controlling template and timer-wheel links; what a
//! lookup compares sits in the entry's first 32 bytes, so within one cache
//! line. The index has one 64-byte bucket per cache line holding seven
//! (32-bit hash tag, `slot << 1 | direction`) pairs, so a lookup reads one
//! bucket line and then only the entry whose tag matches: two dependent
//! memory accesses, the second of which the caller's packet accounting
//! needs anyway. Buckets that fill up spill into the next ones and count
//! what spilled past them (no tombstones, no rehash). The index is sized
//! for `2 * capacity` entries at 80 % load when the table is created, so
//! it never grows on the packet path. [`ConnTable::lookup_burst`] overlaps
//! the memory accesses of up to 32 lookups, and
//! [`ConnTable::with_memory_advice`] lets the caller put the big arrays on
//! huge pages. Measured at 10 M IPv4 connections: see `benches/RESULTS.md`.
//!
//! # Directions
//! `Original` is the client's packet as it arrives (client -> VIP).
//! `Reply` is what comes back: RS -> client for NAT, RS -> local address for
//! FULLNAT. The caller supplies both tuples; DR/TUN connections pass no reply
//! tuple (their replies never reach the director) and the TCP state machine
//! then uses the kernel's input-only table.
//!
//! # State machine and counts
//! [`ConnTable::on_packet`] applies the kernel's `tcp_states` (or, with
//! [`ConnTable::set_secure_tcp`], `tcp_states_dos`) from
//! `ip_vs_proto_tcp.c`, then sets the expiry from the state's timeout
//! ([`Timeouts`], defaults from the kernel, changeable at run time like
//! ipvsadm `--set`). A new connection starts in NONE, counted *inactive*; it
//! counts as *active* while in ESTABLISHED, SYN_SENT, SYN_RECV or SYNACK (the
//! current kernel's `tcp_state_active_table`; older kernels counted only
//! ESTABLISHED). UDP/ICMP connections are always inactive, as in IPVS. The
//! counts per real server are kept exact across state changes, removal and
//! expiry ([`ConnTable::rs_counts`]).
//!
//! # Expiry
//! A single-level timer wheel with lazy re-arm: a packet that pushes the
//! expiry later only writes the entry's expiry; a state change to a shorter
//! timeout re-links the entry (O(1)). [`ConnTable::expire`] does at most
//! `budget` units of work per call, so a worker can call it every loop
//! iteration without stalling.
//!
//! # Persistence templates and workers
//! Templates are per table too. Consistency across workers comes from the
//! dataplane's steering: every flow is handled by an owner worker chosen from
//! a hash of the CLIENT address (replies of FULLNAT flows are steered by the
//! local-port partition of that same worker), so all flows of one client —
//! and with them its templates — live on one worker. (Note: this holds when
//! the steering hash uses the masked client address or a netmask no wider
//! than the steering granularity; with a persistence netmask coarser than
//! /32 two clients of one subnet on different workers may be bound to
//! different real servers. The steering must hash the address masked by the
//! widest persistence netmask in use for exact IPVS semantics.)
//!
//! A template binds (service, masked client address, vport — 0 for port-0
//! and firewall-mark services) to a real server, with the service's
//! persistence timeout. Each connection created through it refreshes it and
//! is counted in it (IPVS `cp->control`); when its timer fires while it
//! still controls connections it is checked again 60 s later (IPVS
//! `expire_later`), so it expires only after its last connection: at its
//! persistence deadline or within 60 s of the last connection's end,
//! whichever is later.
//!
//! # Capacity and listing
//! When full, [`ConnTable::insert`] returns [`InsertError::Full`] and counts
//! the refusal; existing flows are untouched. [`ConnTable::list`] returns up
//! to N connections per call from a cursor, as plain `Copy` data, so a worker
//! answers `ipvsadm -Lnc` snapshot requests in bounded chunks.
//!
//! # Not covered yet
//! SCTP's state machine (SCTP flows get one state and the `other`
//! timeout); one-packet scheduling (OPS) connections, which IPVS never hashes
//! — the dataplane simply does not insert them.
#![deny(missing_docs)]
#![forbid(unsafe_code)]

mod error;
mod index;
mod state;
mod table;
mod tuple;
mod wheel;

pub use error::InsertError;
pub use state::{tcp_transition, ConnState, TcpFlags, TcpState, Timeouts, INITIAL_TIMEOUT_S};
pub use table::{
    Config, ConfigError, ConnFlags, ConnId, ConnInfo, ConnRef, ConnTable, Counters, ListCursor,
    MemoryUsage, NewConn, RsCounts, TableStats, TemplateId, TemplateInfo, MAX_CAPACITY,
    TEMPLATE_RECHECK_S,
};
pub use tuple::{mask_client, proto, Direction, Method, TemplateKey, Tuple};
