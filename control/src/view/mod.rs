//! Read models of the running daemon, built from the control plane and the runtime
//! state: what `ipvsadm -Ln` shows, the health of every server, the rows of `/metrics`.
//! Plain data (serde), no HTTP: the admin API's handlers serialise them.

pub mod health;
pub mod metrics;
pub mod services;
