//! Every Linux IPVS scheduler with the kernel's semantics, plus Maglev (`mh`).
//!
//! The crate splits a scheduler in three parts, matching how the dataplane uses it:
//!
//! * [`Scheduler`]: immutable and `Send + Sync`, built by the control thread whenever a
//!   virtual service's configuration changes. It holds the real servers ([`Destination`])
//!   and every precomputed table (wrr gcd/max weight, dh/sh 256-bucket tables, the Maglev
//!   lookup table). Building allocates; picking never does.
//! * [`SchedState`]: per-worker mutable state (rr/wrr position, twos RNG, the lblc/lblcr
//!   locality caches), created once per worker and per [`Scheduler`] with
//!   [`Scheduler::new_state`] (or [`Scheduler::carry_state`] to keep positions and caches
//!   across a configuration change, as the kernel does).
//! * Dynamic per-destination inputs ([`DestLoad`]: active/inactive connection counts,
//!   overloaded and available flags) that the caller owns and passes at pick time through
//!   the [`DestLoads`] trait.
//!
//! [`Scheduler::pick`] returns the index of the chosen real server in the destination list,
//! or `None` where IPVS reports "no destination available". The list is in the kernel's
//! order: a new real server goes to its head, so real servers in the order they were added
//! are passed reversed.
//!
//! Kernel semantics are followed scheduler by scheduler (see each `pick_*` function and
//! the crate README for the complexity table and the few documented deviations, which all
//! come from per-worker state and bounded, allocation-free caches).
#![deny(missing_docs)]
#![forbid(unsafe_code)]

mod dest;
mod flow;
mod kind;
mod locality;
mod maglev;
mod pick;
mod sched;

pub use dest::{DestLoad, DestLoads, Destination, Thresholds};
pub use flow::{FlowKey, IPPROTO_SCTP, IPPROTO_TCP, IPPROTO_UDP};
pub use kind::{SchedFlags, SchedulerKind, UnknownScheduler};
pub use locality::{LocalityParams, MAX_REPLICAS};
pub use maglev::{MH_KERNEL_TABLE_SIZE, MH_TABLE_SIZE, MH_TABLE_SIZES};
pub use sched::{BuildError, SchedOptions, SchedState, Schedule, Scheduler};
