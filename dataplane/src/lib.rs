//! rvs dataplane: the safe DPDK layer, zero-copy packet views, the neighbour table, routes,
//! the forwarding modes and the per-core [`worker::Worker`] poll loop.
//!
//! Only [`dpdk`] contains `unsafe` code. Everything else is plain Rust over byte slices,
//! tested without DPDK running.
#![deny(missing_docs)]

pub mod counters;
pub mod dpdk;
pub mod exception;
pub mod fullnat;
pub mod neigh;
pub mod pipeline;
pub mod rcu;
pub mod route;
pub mod route6;
pub mod service;
pub mod tcp_seq;
#[cfg(test)]
mod test_io;
pub mod toa;
pub mod tunnel;
pub mod tunnel6;
pub mod wire;
pub mod worker;
