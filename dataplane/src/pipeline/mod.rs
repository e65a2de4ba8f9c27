//! The packet logic of one worker, independent of DPDK: parse in place, answer ARP/NDP
//! and ICMP echo, find or create the connection, hand the packet to its forwarding method
//! ([`crate::xmit`]), route, resolve the next hop, and give the frame to
//! [`Io::send`](crate::frame::Io::send) — or, for the director's own traffic, to the kernel
//! with [`Io::send_kernel`](crate::frame::Io::send_kernel) (the exception path, see
//! [`crate::exception`]).
//!
//! Generic over the frame type so the same code runs on DPDK mbufs in the worker and on
//! `Vec<u8>` in unit tests; IPv4 and IPv6 share the connection step ([`l4`]) and the
//! egress, specialised per family at compile time ([`crate::family::Family`]).
//!
//! One file per job, each adding an `impl` block to [`Pipeline`] (defined in `state`):
//! `dispatch` (frame in: MAC, EtherType and the IPv6 header checks), `ipv4` (the IPv4
//! header stage), `ipv6` (an IPv6 TCP/UDP packet into the connection step), `deliver` (a
//! verdict carried out), `kernel` (the exception path), `steer` (which worker owns a flow),
//! `arp`, `ndp`, `echo` (ICMP to the director), `l4` (connection lookup and the established
//! step), `new_conn` (scheduling and the first packet), `reset` (the RST answering a TCP
//! segment of no connection), `fragment` (fragments), `egress` (route + neighbour),
//! `timers` (table sync, start, periodic tick) and `conn_prefetch` (burst prefetch).
//!
//! IPv6 extension headers are not walked: a packet whose next header is not TCP, UDP,
//! ICMPv6 or a Fragment header right after the fixed header is dropped and counted
//! (`ipv6_extension_header`); such packets to the director's own addresses go to its
//! kernel. TCP/UDP fragments of both families go to `fragment`, which forwards them
//! without reassembly.

mod arp;
mod conn_prefetch;
mod deliver;
mod dispatch;
mod echo;
pub(crate) mod egress;
mod fragment;
mod ipv4;
mod ipv6;
mod kernel;
mod l4;
mod lookup;
mod ndp;
mod new_conn;
mod reset;
pub(crate) mod state;
mod steer;
mod timers;
pub(crate) mod verdict;

pub use conn_prefetch::PREFETCH_BURST;
pub use state::{
    ConnListRequest, MemoryHooks, NeighbourUpdate, Pipeline, PipelineConfig, MAX_REAL_SERVERS,
};
pub use steer::{owner_of, owner_of6};

#[cfg(test)]
mod tests6;
