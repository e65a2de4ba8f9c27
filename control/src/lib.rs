//! rvsd (the daemon) and rvsadm (the ipvsadm-compatible CLI): everything that is glue
//! between the configuration, the dataplane and the operator.
//!
//! Layers, each using only the ones listed before it (and `config`, `dataplane`,
//! `scheduler`, `conn-table`):
//!
//! 1. [`eal_args`], [`metrics`] (Prometheus rendering), [`state`] (the running daemon's
//!    live handles, rate estimator, counter summaries), [`health`] (the checkers and the
//!    health overlay), [`spec`] (configuration -> spec -> tables), [`sync`] (IPVS's
//!    connection sync messages);
//! 2. [`kernel_if`] (the exception path's kernel side, from a spec);
//! 3. [`plane`]: the control plane, owner of the running configuration;
//! 4. [`view`]: read models built from the plane and the state;
//! 5. [`http`]: the admin REST API and `/metrics`;
//! 6. [`daemon`]: rvsd's life cycle and control thread.
//!
//! [`rvsadm`] (the CLI) stands apart: it talks to the API over HTTP and uses only `config`.
#![deny(missing_docs)]

pub mod daemon;
pub mod eal_args;
pub mod health;
pub mod http;
pub mod kernel_if;
pub mod metrics;
pub mod plane;
pub mod rvsadm;
pub mod spec;
pub mod state;
pub mod sync;
pub mod view;
