//! The exception path: traffic for the director itself goes to the Linux kernel.
//!
//! # Design
//! rvsd gives every data port (unless turned off) a kernel TAP interface (DPDK `net_tap`)
//! with the port's MAC address and the director's own addresses on that port. Then:
//!
//! - **To the kernel.** A packet addressed to one of the director's own addresses that is
//!   not VIP traffic and matches no connection (SSH, ping, health-check replies, BGP, a
//!   reply to a connection the kernel opened) goes, unchanged, to the TAP of the port it
//!   arrived on; multicast frames (VRRP, OSPF; for IPv6 all but neighbour solicitations)
//!   too. The same holds for IPv6, where IPv6 fragments and extension headers to an own
//!   address go to the kernel as well (it reassembles). The kernel answers pings to the
//!   director's own addresses; the dataplane keeps answering pings to VIPs. Without a TAP
//!   on the port the dataplane answers echo requests itself and drops the rest as
//!   `for_director`, as before.
//! - **From the kernel.** Whatever the kernel sends out of a TAP leaves by the matching
//!   data port unchanged: the kernel routes, resolves its neighbours and fills in the
//!   MACs itself.
//! - **ARP.** The dataplane alone answers ARP requests for its own addresses and VIPs
//!   (so ARP works the same with the exception path on or off, and the kernel, which
//!   never sees a request from the wire, cannot answer twice). ARP *replies* addressed to
//!   an own address are learned by the dataplane and also handed to the kernel, so the
//!   kernel's own neighbour resolution (its requests leave through the TAP) completes.
//!   When a data port is itself a kernel interface read through a packet socket
//!   (af_packet, af_xdp), the kernel sees its frames too; rvsd then sets `arp_ignore=8`
//!   and `rp_filter=1` (and `disable_ipv6=1`) on that interface so the kernel answers
//!   only through the TAP.
//! - **NDP**, as ARP: the dataplane alone answers neighbour solicitations (for VIPs and
//!   own addresses); neighbour *advertisements* to an own address (answers to the
//!   kernel's solicitations, which leave through the TAP) or to all nodes (a neighbour's
//!   new MAC) are learned by the dataplane and also handed to the kernel. The kernel's
//!   IPv6 is quiet (no router solicitations or autoconfiguration, no link-local address
//!   of its own: see `control::kernel_if::setup_ipv6`), so it resolves from the
//!   configured addresses, which the dataplane answers for.
//! - **Workers.** The TAP has one queue pair per worker, like the data ports: a worker
//!   sends what it hands to the kernel on its own TAP queue and polls its own TAP queue
//!   for what the kernel sends (the kernel spreads its output over the queues by flow).
//!   No state is shared, so nothing needs a ring between workers.
//! - **Rate limit.** Each worker passes at most [`ExceptionConfig::rate`] packets per
//!   second to the kernel ([`TokenBucket`], driven by the worker's millisecond clock: no
//!   syscall). A flood to the director's address costs a worker a few comparisons per
//!   packet, never a `write` to the TAP; the excess is counted as
//!   `exception_rate_limited`.
//! - **Polling cost.** Reading a TAP is a syscall, so a worker polls its TAP queues only
//!   every [`TAP_POLL_US`] microseconds, not every loop iteration.

/// How often a worker polls its TAP queues, microseconds. Bounds both the cost of the
/// `read` syscalls on an idle TAP and the extra latency of the kernel's packets.
pub const TAP_POLL_US: u64 = 100;

/// Exception-path settings of a pipeline.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ExceptionConfig {
    /// Per port index: whether the port has a kernel interface.
    pub ports: Vec<bool>,
    /// Packets per second this worker may hand to the kernel.
    pub rate: u32,
}

impl ExceptionConfig {
    /// Whether port `port` has a kernel interface.
    #[inline]
    pub fn has_kernel(&self, port: usize) -> bool {
        self.ports.get(port).copied().unwrap_or(false)
    }

    /// The bucket depth for [`ExceptionConfig::rate`]: 10 ms of traffic, at least 32
    /// packets (a burst of SSH or a BGP update fits; a flood is cut within 10 ms).
    pub fn burst(&self) -> u32 {
        (self.rate / 100).max(32)
    }
}

/// A token bucket on a millisecond clock. Tokens are kept in thousandths of a packet so
/// that rates below 1000 packets per second still refill every millisecond exactly.
#[derive(Clone, Debug)]
pub struct TokenBucket {
    /// Packets per second.
    rate: u64,
    /// Capacity, thousandths of a packet.
    capacity: u64,
    /// Current tokens, thousandths of a packet.
    tokens: u64,
    /// Clock of the last refill, ms.
    last_ms: u64,
}

impl TokenBucket {
    /// A full bucket passing `rate` packets per second with bursts of `burst` packets.
    pub fn new(rate: u32, burst: u32) -> Self {
        let capacity = u64::from(burst.max(1)) * 1000;
        TokenBucket {
            rate: u64::from(rate),
            capacity,
            tokens: capacity,
            last_ms: 0,
        }
    }

    /// Take one token at time `now_ms`; false when the bucket is empty (drop the packet).
    #[inline]
    pub fn take(&mut self, now_ms: u64) -> bool {
        if now_ms > self.last_ms {
            // `rate` packets per 1000 ms = `rate` thousandths per ms.
            let add = (now_ms - self.last_ms).saturating_mul(self.rate);
            self.tokens = self.tokens.saturating_add(add).min(self.capacity);
            self.last_ms = now_ms;
        }
        if self.tokens >= 1000 {
            self.tokens -= 1000;
            true
        } else {
            false
        }
    }
}

/// The IPv6 side of the exception path.
#[cfg(test)]
#[path = "exception/tests6.rs"]
mod tests6;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bucket_passes_burst_then_rate() {
        let mut b = TokenBucket::new(1000, 50);
        let passed = (0..10_000).filter(|_| b.take(0)).count();
        assert_eq!(passed, 50, "a full bucket passes its burst at once");
        // 1000 pps = one packet per ms.
        let mut passed = 0;
        for ms in 1..=100 {
            passed += (0..100).filter(|_| b.take(ms)).count();
        }
        assert_eq!(passed, 100);
        // A long pause refills to the burst, not beyond.
        assert_eq!((0..1000).filter(|_| b.take(1_000_000)).count(), 50);
    }

    #[test]
    fn slow_rates_refill_exactly() {
        let mut b = TokenBucket::new(10, 1);
        assert!(b.take(0));
        assert!(!b.take(0));
        // 10 pps: one packet per 100 ms, even though each ms adds only 1/100 packet.
        let passed = (1..=1000).filter(|&ms| b.take(ms)).count();
        assert_eq!(passed, 10);
    }

    #[test]
    fn burst_has_a_floor() {
        let c = ExceptionConfig {
            ports: vec![true, false],
            rate: 100,
        };
        assert_eq!(c.burst(), 32);
        assert!(c.has_kernel(0) && !c.has_kernel(1) && !c.has_kernel(7));
        let c = ExceptionConfig { rate: 20_000, ..c };
        assert_eq!(c.burst(), 200);
    }

    /// The pipeline over `Vec<u8>` frames: what goes to the kernel, what is answered
    /// in the dataplane, and the rate limit under a flood.
    mod pipeline {
        use std::net::Ipv4Addr;
        use std::sync::Arc;

        use super::super::ExceptionConfig;
        use crate::counters::{get, DropReason, WorkerStats};
        use crate::pipeline::{Pipeline, PipelineConfig};
        use crate::route::{Ipv4Prefix, RouteTable};
        use crate::service::{LocalAddr, ServiceTable};
        use crate::tables::Tables;
        use crate::wire::{Ipv4Packet, TcpFlags, TcpPacket};

        const MAC0: [u8; 6] = [2, 0, 0, 0, 0, 1];
        const MAC1: [u8; 6] = [2, 0, 0, 0, 0, 2];
        const PEER: [u8; 6] = [2, 0, 0, 0, 0, 9];
        const WAN: Ipv4Addr = Ipv4Addr::new(198, 18, 0, 254);
        const LAN: Ipv4Addr = Ipv4Addr::new(198, 19, 0, 254);
        const CLIENT: Ipv4Addr = Ipv4Addr::new(198, 18, 0, 1);

        use crate::test_io::RecordingIo as TestIo;

        fn setup(rate: u32) -> (Pipeline<Vec<u8>>, Tables, Arc<WorkerStats>) {
            let stats = Arc::new(WorkerStats::default());
            let p = Pipeline::new(PipelineConfig {
                worker: 0,
                port_macs: vec![MAC0, MAC1],
                stats: stats.clone(),
                conn_capacity: 1024,
                gratuitous_arp: false,
                workers: 1,
                exception: ExceptionConfig {
                    ports: vec![true, false],
                    rate,
                },
            });
            let locals = vec![
                LocalAddr {
                    port: 0,
                    addr: WAN,
                    prefix_len: 24,
                },
                LocalAddr {
                    port: 1,
                    addr: LAN,
                    prefix_len: 24,
                },
            ];
            let connected = [
                (Ipv4Prefix::new(WAN, 24).unwrap(), 0),
                (Ipv4Prefix::new(LAN, 24).unwrap(), 1),
            ];
            let t = Tables {
                services: ServiceTable::new(Vec::new(), locals, 1),
                routes: RouteTable::new(&connected, &[]),
                ..Tables::default()
            };
            (p, t, stats)
        }

        /// Ethernet + IPv4 header for `proto` with `l4` after it, checksums filled.
        fn ipv4(dst_mac: [u8; 6], src: Ipv4Addr, dst: Ipv4Addr, proto: u8, l4: &[u8]) -> Vec<u8> {
            let mut f = Vec::new();
            f.extend_from_slice(&dst_mac);
            f.extend_from_slice(&PEER);
            f.extend_from_slice(&[0x08, 0x00]);
            let total = 20 + l4.len();
            f.extend_from_slice(&[0x45, 0, (total >> 8) as u8, total as u8, 0, 1, 0, 0, 64]);
            f.push(proto);
            f.extend_from_slice(&[0, 0]);
            f.extend_from_slice(&src.octets());
            f.extend_from_slice(&dst.octets());
            f.extend_from_slice(l4);
            Ipv4Packet::new_unchecked(&mut f[14..]).fill_checksum();
            f
        }

        fn syn(dst_mac: [u8; 6], dst: Ipv4Addr, sport: u16) -> Vec<u8> {
            let mut tcp = [0u8; 20];
            {
                let mut t = TcpPacket::new_unchecked(&mut tcp[..]);
                t.set_src_port(sport);
                t.set_dst_port(22);
                t.set_header_len(20);
                t.set_flags(TcpFlags::SYN);
                t.set_window_len(1024);
                t.fill_checksum_v4(CLIENT, dst);
            }
            ipv4(dst_mac, CLIENT, dst, 6, &tcp)
        }

        fn echo(dst_mac: [u8; 6], dst: Ipv4Addr) -> Vec<u8> {
            let mut icmp = [8u8, 0, 0, 0, 0, 1, 0, 1];
            let sum = !crate::wire::checksum::data(&icmp);
            icmp[2..4].copy_from_slice(&sum.to_be_bytes());
            ipv4(dst_mac, CLIENT, dst, 1, &icmp)
        }

        fn arp(op: u8, dst_mac: [u8; 6], spa: Ipv4Addr, tpa: Ipv4Addr) -> Vec<u8> {
            let mut f = Vec::new();
            f.extend_from_slice(&dst_mac);
            f.extend_from_slice(&PEER);
            f.extend_from_slice(&[0x08, 0x06, 0, 1, 0x08, 0, 6, 4, 0, op]);
            f.extend_from_slice(&PEER);
            f.extend_from_slice(&spa.octets());
            f.extend_from_slice(&if op == 2 { MAC0 } else { [0; 6] });
            f.extend_from_slice(&tpa.octets());
            f
        }

        #[test]
        fn flood_to_the_director_is_rate_limited() {
            // 1000 pps per worker: a burst of 32, then one packet per ms.
            let (mut p, t, stats) = setup(1000);
            let mut io = TestIo::default();
            p.sync(&t);
            for i in 0..10_000u16 {
                p.handle(&t, 0, syn(MAC0, WAN, 1024 + i), 5, &mut io);
            }
            assert_eq!(io.kernel.len(), 32);
            assert!(io.sent.is_empty());
            assert_eq!(stats.drops(DropReason::ExceptionRateLimited), 10_000 - 32);
            assert_eq!(get(&stats.ports[0].to_kernel_packets), 32);
            // The frames reach the kernel unchanged.
            assert_eq!(io.kernel[0], (0, syn(MAC0, WAN, 1024)));
            // 10 ms later: 10 more.
            for i in 0..1000u16 {
                p.handle(&t, 0, syn(MAC0, WAN, i), 15, &mut io);
            }
            assert_eq!(io.kernel.len(), 42);
            assert_eq!(
                stats.drops(DropReason::ExceptionRateLimited),
                10_000 - 32 + 990
            );
            assert_eq!(stats.drops(DropReason::ForDirector), 0);
        }

        #[test]
        fn kernel_or_dataplane_by_port() {
            let (mut p, t, stats) = setup(10_000);
            let mut io = TestIo::default();
            p.sync(&t);
            // Ping to the WAN address (port with a TAP): the kernel answers.
            p.handle(&t, 0, echo(MAC0, WAN), 1, &mut io);
            assert_eq!(io.kernel.len(), 1);
            assert_eq!(get(&stats.icmp_echo_replies), 0);
            // On the port without a TAP the dataplane answers, and drops TCP.
            p.handle(&t, 1, echo(MAC1, LAN), 1, &mut io);
            assert_eq!(get(&stats.icmp_echo_replies), 1);
            assert_eq!(io.sent.len(), 1);
            p.handle(&t, 1, syn(MAC1, LAN, 1000), 1, &mut io);
            assert_eq!(stats.drops(DropReason::ForDirector), 1);
            // ARP: the dataplane answers requests for its addresses; replies to them also
            // go to the kernel, which resolves its own neighbours.
            p.handle(&t, 0, arp(1, [0xff; 6], CLIENT, WAN), 1, &mut io);
            assert_eq!(io.sent.len(), 2);
            assert_eq!(get(&stats.arp_replies), 1);
            assert_eq!(io.kernel.len(), 1);
            p.handle(&t, 0, arp(2, MAC0, CLIENT, WAN), 1, &mut io);
            assert_eq!(io.kernel.len(), 2);
            assert_eq!(io.kernel[1].1[21], 2, "an ARP reply");
            // VRRP (multicast 224.0.0.18, protocol 112) goes to the kernel too.
            let vrrp = ipv4(
                [0x01, 0, 0x5e, 0, 0, 0x12],
                CLIENT,
                Ipv4Addr::new(224, 0, 0, 18),
                112,
                &[0x21, 1, 100, 0, 0, 1, 0, 0],
            );
            p.handle(&t, 0, vrrp.clone(), 1, &mut io);
            assert_eq!(io.kernel.len(), 3);
            p.handle(&t, 1, vrrp, 1, &mut io);
            assert_eq!(stats.drops(DropReason::NotOurMac), 1);
            assert_eq!(get(&stats.ports[0].to_kernel_packets), 3);
        }
    }
}
