//! rvsd (the daemon) and rvsadm (the ipvsadm-compatible CLI): everything that is glue
//! between the configuration, the dataplane and the operator.
#![deny(missing_docs)]

pub mod admin;
pub mod api;
pub mod daemon;
pub mod eal_args;
pub mod estimator;
pub mod flow_steer;
pub mod health;
pub mod kernel_if;
pub mod metrics;
pub mod plane;
pub mod rvsadm;
pub mod spec;
mod spec_fullnat;
pub mod stats;
