//! The control plane: the owner of the running configuration. Every change (the admin
//! API, SIGHUP, a health transition) goes through it: validated, turned into a spec and
//! tables, published to the workers, or refused as a whole with the reasons.
//!
//! `control_plane` holds the state and the apply path; `diff` says what a change does;
//! `ipvs` replays ipvsadm commands (`-A`, `-e`, `-R`...) on the running configuration.

mod control_plane;
mod diff;
pub mod ipvs;

pub use control_plane::{ControlPlane, Rejection};
pub use diff::{diff, ConfigDiff, ServiceChange};
