//! Health checks of real servers and the sorry server, with ldirectord/keepalived
//! semantics.
//!
//! - One checker per (virtual service, real server), running the service's check (as in
//!   keepalived, one check configuration applies to each of the service's servers) as a
//!   task on the control thread's tokio runtime. Checks are I/O waits on kernel sockets or
//!   child processes, so a current-thread runtime runs hundreds of them without a thread
//!   each, and the admin API stays responsive beside them.
//! - A check starts right away and then every `interval` from the start of the previous
//!   one; a check never overlaps the next (a slow one delays it), and each is bounded by
//!   `timeout` (the socket is closed or the program killed).
//! - Rise/fall: a server goes down after `fall` consecutive failures and up after `rise`
//!   consecutive successes. A server starts **up** (keepalived's default without `alpha`,
//!   ldirectord's too): starting rvsd or reloading never takes traffic away from servers
//!   that have not failed yet. A reload keeps the state of servers that remain.
//! - What the dataplane sees is the configuration overlaid with the health state
//!   ([`effective`]): a down server gets weight 0 when the check is `quiescent` (existing
//!   connections go on) or leaves the service otherwise; the sorry server becomes the only
//!   destination while no server has a weight above 0 and leaves as soon as one has.
//!   The configuration itself (GET /v1/config, /v1/rules) is unchanged.
//! - Every transition is logged once, with the service, the server and the reason.
//!
//! Layout: [`check`] runs one check of one kind (`tcp`, `http`, `tls` for https, `dns`,
//! `exec`: one file each, plain sockets and processes, no HTTP-server types; `exec_user`
//! picks who exec programs run as); `checkers`
//! keeps one task per checked server; `state` counts rise and fall; `overlay` applies
//! the state to a configuration. The control plane owns a [`Health`]; the admin API's
//! views read it through the plane.

pub mod check;
mod checkers;
mod dns;
mod exec;
mod exec_user;
mod http;
mod overlay;
mod state;
mod target;
mod tcp;
mod tls;

pub use checkers::{detection_bound, Health};
pub use exec_user::{run_as, RunAs};
pub use overlay::{effective, sorry_active};
pub use state::{RsHealth, RsKey};
