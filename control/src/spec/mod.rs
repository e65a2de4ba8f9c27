//! The daemon's spec and the workers' tables: a validated configuration becomes what
//! this build's dataplane runs ([`from_config`], refusing what it cannot do yet), and a
//! spec becomes the tables the workers read ([`build_tables`]) and the NIC's FULLNAT
//! reply-steering rules ([`flow_steer`]).
//!
//! Used by the daemon at start and by the control plane on every change; uses only
//! `config`, `scheduler` and `dataplane`.

mod convert;
pub mod flow_steer;
mod fullnat;
mod ids;
mod model;
mod tables;

pub use convert::from_config;
pub use ids::RealServerIds;
pub use model::{DaemonSpec, InterfaceSpec, CONN_CAPACITY, DEFAULT_MBUFS};
pub use tables::build_tables;
