//! The pickers of every IPVS scheduler, one file per family, each a function over the
//! packed weights ([`weight::W`]) and the caller's [`crate::DestLoads`]; `crate::sched`
//! dispatches to them. `weight` is the leaf they share; this file only declares them.

pub(crate) mod hash;
pub(crate) mod least;
pub(crate) mod locality;
pub(crate) mod rr;
pub(crate) mod twos;
pub(crate) mod weight;
