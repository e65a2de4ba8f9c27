//! The running daemon's state as the control thread sees it: the live handles on the
//! workers ([`RuntimeView`]), the per-real-server rate estimator, and the counter
//! summaries of the shutdown report and `/v1/stats`. No HTTP here: the admin API and
//! the control plane read it.

pub mod estimator;
mod runtime;
pub mod stats;

pub use runtime::{ConnChannel, PortView, RuntimeView, STEERING_RING_CAPACITY, STEERING_RING_SIZE};
