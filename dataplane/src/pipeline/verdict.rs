//! What a stage of the packet path decided for a packet, for either address family.

use crate::counters::DropReason;
use crate::xmit::tun::TunnelKind;

/// The decision for a packet of family address `A` (`Ipv4Addr` or `Ipv6Addr`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Verdict<A> {
    /// Forward towards this address (route + neighbour lookup).
    Forward(A),
    /// Send back out of the port it came in on, to the sender's MAC (echo reply).
    Reflect,
    /// Hand to the kernel unchanged (exception path; dropped as `for_director` where the
    /// port has none).
    ToKernel,
    /// Drop and count.
    Drop(DropReason),
    /// Encapsulate for tunnel real server `A` and forward.
    Tunnel(A, TunnelKind),
    /// Cut the frame to this many bytes (a packet rebuilt shorter), then forward.
    ForwardTrimmed(A, usize),
    /// A TCP/UDP fragment: to the fragment step (`fragment`).
    Fragment,
    /// Its TTL / hop limit would reach zero on the way to a real server: dropped
    /// (`ttl_exceeded`), and its source answered ICMP / ICMPv6 time exceeded from its
    /// destination (the VIP) within the rate limit, as IPVS's `decrement_ttl`.
    TimeExceeded,
}
