//! placeholder
pub mod ipvsadm;
