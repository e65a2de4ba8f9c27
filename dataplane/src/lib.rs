//! rvs dataplane: the safe DPDK layer, zero-copy packet views, the neighbour table, routes,
//! the forwarding methods and the per-core [`worker::Worker`] poll loop.
//!
//! Layering (docs/ARCHITECTURE.md): [`dpdk`] is the only module that calls DPDK, and with
//! [`rcu`] the only one with `unsafe` code (each allowed there by name; the crate denies it
//! everywhere else). The packet logic — [`wire`], [`pipeline`], [`xmit`], [`neigh`],
//! [`route`], [`service`] — is plain Rust over byte slices behind [`frame::Frame`] and
//! [`frame::Io`], tested without DPDK; [`worker`] joins it to [`dpdk`].
#![deny(missing_docs)]
#![deny(unsafe_code)]

pub mod counters;
#[allow(unsafe_code)]
pub mod dpdk;
pub mod exception;
pub mod family;
pub mod frame;
pub mod neigh;
pub mod overload;
pub mod pipeline;
#[allow(unsafe_code)]
pub mod rcu;
pub mod route;
pub mod service;
pub mod tables;
#[cfg(test)]
mod test_io;
pub mod wire;
pub mod worker;
pub mod xmit;
