//! The pipeline with FULLNAT services: steering of replies by local port, TOA,
//! sequence numbers, gratuitous ARP and NDP for local addresses, IPv4 and IPv6.

use super::*;

/// Two workers with real pipelines: each new FULLNAT flow gets a local port its worker
/// owns, and the reply to that port is steered back to it.
#[cfg(test)]
pub(crate) mod steering_tests {
    use std::net::Ipv4Addr;
    use std::sync::Arc;

    use super::*;
    use crate::counters::{DropReason, WorkerStats};
    use crate::pipeline::{NeighbourUpdate, Pipeline, PipelineConfig};
    use crate::route::{Ipv4Prefix, RouteTable};
    use crate::service::{proto, Forward, LocalAddr, RealServer, ServiceTable, VirtualService};
    pub(crate) use crate::test_io::Out;
    use crate::wire::Ipv4Packet;

    pub(crate) const VIP: Ipv4Addr = Ipv4Addr::new(198, 18, 0, 100);
    pub(crate) const RS: Ipv4Addr = Ipv4Addr::new(198, 19, 0, 11);
    pub(crate) const LIP: Ipv4Addr = Ipv4Addr::new(198, 19, 0, 250);
    pub(crate) const MACS: [[u8; 6]; 2] = [[2, 0, 0, 0, 0, 0xa0], [2, 0, 0, 0, 0, 0xa1]];

    pub(crate) fn tables() -> Tables {
        let rs = RealServer {
            id: 0,
            addr: RS.into(),
            port: 8080,
            weight: 1,
            forward: Forward::FullNat,
            upper_threshold: 0,
        };
        let dest = scheduler::Destination::new(RS.into(), 8080, 1);
        let svc = VirtualService {
            id: 0,
            proto: proto::TCP,
            vip: VIP.into(),
            port: 80,
            members: vec![],
            real_servers: vec![rs],
            scheduler: scheduler::Scheduler::build(
                scheduler::SchedulerKind::Rr,
                &[dest],
                Default::default(),
            )
            .unwrap(),
            persistence: None,
            snat_pool: Some(0),
        };
        let wan = Ipv4Prefix::new(Ipv4Addr::new(198, 18, 0, 0), 24).unwrap();
        let lan = Ipv4Prefix::new(Ipv4Addr::new(198, 19, 0, 0), 24).unwrap();
        let locals = vec![
            LocalAddr {
                port: 0,
                addr: Ipv4Addr::new(198, 18, 0, 254),
                prefix_len: 24,
            },
            LocalAddr {
                port: 1,
                addr: Ipv4Addr::new(198, 19, 0, 254),
                prefix_len: 24,
            },
        ];
        Tables {
            services: ServiceTable::new(vec![svc], locals, 1),
            routes: RouteTable::new(&[(wan, 0), (lan, 1)], &[]),
            timeouts: Default::default(),
            ipvs: Default::default(),
            snat: SnatTable::new(vec![SnatPool {
                addrs: vec![LIP.into()],
                port_min: 5000,
                port_max: 5099,
            }]),
            ..Tables::default()
        }
    }

    /// An Ethernet + IPv4 + TCP frame (TCP checksum left 0: the pipeline updates it
    /// incrementally and never verifies it).
    fn tcp_frame(dst_mac: [u8; 6], src: (Ipv4Addr, u16), dst: (Ipv4Addr, u16)) -> Vec<u8> {
        tcp_flags_frame(dst_mac, src, dst, 0x02)
    }

    pub(crate) fn tcp_flags_frame(
        dst_mac: [u8; 6],
        src: (Ipv4Addr, u16),
        dst: (Ipv4Addr, u16),
        flags: u8,
    ) -> Vec<u8> {
        let mut f = vec![0u8; 14 + 20 + 20];
        f[0..6].copy_from_slice(&dst_mac);
        f[6..12].copy_from_slice(&[2, 0, 0, 0, 0, 1]);
        f[12..14].copy_from_slice(&[0x08, 0x00]);
        let ip = &mut f[14..];
        ip[0] = 0x45;
        ip[2..4].copy_from_slice(&40u16.to_be_bytes());
        ip[8] = 64;
        ip[9] = proto::TCP;
        ip[12..16].copy_from_slice(&src.0.octets());
        ip[16..20].copy_from_slice(&dst.0.octets());
        ip[20..22].copy_from_slice(&src.1.to_be_bytes());
        ip[22..24].copy_from_slice(&dst.1.to_be_bytes());
        ip[32] = 0x50;
        ip[33] = flags;
        Ipv4Packet::new_unchecked(&mut f[14..]).fill_checksum();
        f
    }

    pub(crate) fn ports_of(f: &[u8]) -> (Ipv4Addr, u16, Ipv4Addr, u16) {
        let ip = &f[14..];
        (
            Ipv4Addr::new(ip[12], ip[13], ip[14], ip[15]),
            u16::from_be_bytes([ip[20], ip[21]]),
            Ipv4Addr::new(ip[16], ip[17], ip[18], ip[19]),
            u16::from_be_bytes([ip[22], ip[23]]),
        )
    }

    #[test]
    fn replies_reach_the_worker_that_owns_the_local_port() {
        let t = tables();
        let stats: Vec<_> = (0..2).map(|_| Arc::new(WorkerStats::default())).collect();
        let mut workers: Vec<Pipeline<Vec<u8>>> = (0..2)
            .map(|w| {
                let mut p = Pipeline::new(PipelineConfig {
                    worker: w,
                    port_macs: MACS.to_vec(),
                    stats: stats[w].clone(),
                    conn_capacity: 1024,
                    gratuitous_arp: false,
                    workers: 2,
                    exception: Default::default(),
                });
                p.sync(&t);
                p
            })
            .collect();
        let mut io = Out::default();
        for p in &mut workers {
            p.learn_remote(
                NeighbourUpdate {
                    port: 1,
                    ip: RS.into(),
                    mac: [2, 0, 0, 0, 0, 0x11],
                },
                0,
                &mut io,
            );
        }
        let mut per_worker = [0; 2];
        for i in 0..16u8 {
            let client = Ipv4Addr::new(198, 18, 0, 10 + i);
            let syn = tcp_frame(MACS[0], (client, 40000), (VIP, 80));
            let owner = workers[0].owner(&t, &syn).expect("two workers: an owner");
            assert_eq!(workers[1].owner(&t, &syn), Some(owner));
            workers[owner].handle(&t, 0, syn, 0, &mut io);
            let (port, out) = io.0.pop().expect("SYN forwarded");
            assert_eq!(port, 1);
            let (src, lport, dst, dport) = ports_of(&out);
            assert_eq!((src, dst, dport), (LIP, RS, 8080));
            assert_eq!(port_owner(lport, 2), owner);
            per_worker[owner] += 1;
            // The real server's answer to LIP:lport goes to the same worker...
            let synack = tcp_frame(MACS[1], (RS, 8080), (LIP, lport));
            assert_eq!(workers[0].owner(&t, &synack), Some(owner));
            // ...which alone knows the connection.
            let other = 1 - owner;
            let before = stats[other].drops(DropReason::NoService);
            workers[other].handle(&t, 1, synack.clone(), 0, &mut io);
            assert_eq!(stats[other].drops(DropReason::NoService), before + 1);
            workers[owner].learn_remote(
                NeighbourUpdate {
                    port: 0,
                    ip: client.into(),
                    mac: [2, 0, 0, 0, 0, 1],
                },
                0,
                &mut io,
            );
            workers[owner].handle(&t, 1, synack, 0, &mut io);
            let (port, back) = io.0.pop().unwrap_or_else(|| {
                let d: Vec<_> = DropReason::ALL
                    .iter()
                    .map(|r| (r.name(), stats[owner].drops(*r)))
                    .filter(|x| x.1 > 0)
                    .collect();
                panic!("reply not forwarded: drops {d:?}")
            });
            assert_eq!(port, 0);
            assert_eq!(ports_of(&back), (VIP, 80, client, 40000));
        }
        assert!(per_worker.iter().all(|&n| n > 0), "{per_worker:?}");
        // Expiry (SYN_RECV: 60 s) gives every local port back.
        for (w, p) in workers.iter_mut().enumerate() {
            p.tick(&t, 0, &mut io);
            let in_use = crate::counters::get(&stats[w].snat_ports_in_use);
            assert_eq!(in_use, per_worker[w]);
            for _ in 0..20 {
                p.tick(&t, 200_000, &mut io);
            }
            assert_eq!(crate::counters::get(&stats[w].snat_ports_in_use), 0);
            assert_eq!(crate::counters::get(&stats[w].conns_current), 0);
        }
    }
}

#[cfg(test)]
mod toa_tests {
    use std::sync::Arc;

    use std::net::Ipv4Addr;

    use super::steering_tests::*;
    use crate::counters::WorkerStats;
    use crate::pipeline::{NeighbourUpdate, Pipeline, PipelineConfig};

    /// The client of these tests.
    const CLIENT: Ipv4Addr = Ipv4Addr::new(198, 18, 0, 7);

    /// One worker with the tables of `t`, the client and the real server known as
    /// neighbours.
    fn one_worker(t: &crate::tables::Tables) -> (Pipeline<Vec<u8>>, Out) {
        let mut p: Pipeline<Vec<u8>> = Pipeline::new(PipelineConfig {
            worker: 0,
            port_macs: MACS.to_vec(),
            stats: Arc::new(WorkerStats::default()),
            conn_capacity: 64,
            gratuitous_arp: false,
            workers: 1,
            exception: Default::default(),
        });
        p.sync(t);
        let mut io = Out::default();
        for (port, ip) in [(1, RS), (0, CLIENT)] {
            let mac = [2, 0, 0, 0, 0, 9];
            p.learn_remote(
                NeighbourUpdate {
                    port,
                    ip: ip.into(),
                    mac,
                },
                0,
                &mut io,
            );
        }
        io.0.clear();
        (p, io)
    }

    /// TOA rides on the client's ACKs until the real server sends more than its SYN-ACK.
    #[test]
    fn toa_only_before_the_real_server_answers() {
        let t = tables();
        let (mut p, mut io) = one_worker(&t);
        let c = (CLIENT, 40000);
        let mut send = |p: &mut Pipeline<Vec<u8>>, port, f: Vec<u8>| {
            p.handle(&t, port, f, 0, &mut io);
            io.0.pop().expect("forwarded").1
        };
        let syn = send(&mut p, 0, tcp_flags_frame(MACS[0], c, (VIP, 80), 0x02));
        let (_, lport, _, _) = ports_of(&syn);
        assert_eq!(syn.len(), 54, "no TOA on the SYN");
        send(
            &mut p,
            1,
            tcp_flags_frame(MACS[1], (RS, 8080), (LIP, lport), 0x12),
        );
        let ack = send(&mut p, 0, tcp_flags_frame(MACS[0], c, (VIP, 80), 0x10));
        assert_eq!(ack.len(), 62);
        assert_eq!(&ack[54..62], &[254, 8, 0x9c, 0x40, 198, 18, 0, 7]);
        assert_eq!(ack[14 + 20 + 12] >> 4, 7, "data offset 28 bytes");
        let data = send(&mut p, 0, tcp_flags_frame(MACS[0], c, (VIP, 80), 0x18));
        assert_eq!(data.len(), 62, "request data still carries TOA");
        send(
            &mut p,
            1,
            tcp_flags_frame(MACS[1], (RS, 8080), (LIP, lport), 0x18),
        );
        let later = send(&mut p, 0, tcp_flags_frame(MACS[0], c, (VIP, 80), 0x10));
        assert_eq!(later.len(), 54, "no TOA once the real server has answered");
    }

    fn with_seq_ack(mut f: Vec<u8>, seq: u32, ack: u32) -> Vec<u8> {
        crate::wire::write_u32(&mut f[14 + 24..], seq);
        crate::wire::write_u32(&mut f[14 + 28..], ack);
        f
    }

    fn seq_ack(f: &[u8]) -> (u32, u32) {
        let r = |at: usize| crate::wire::read_u32(&f[at..]);
        (r(14 + 24), r(14 + 28))
    }

    /// The real server sees the director's sequence numbers for the local port (see
    /// `tcp_seq`), the client its own: the SYN, its retransmission and the client's
    /// data are shifted by one offset, the real server's acknowledgements shifted back.
    #[test]
    fn sequence_numbers_are_translated_both_ways() {
        let t = tables();
        let (mut p, mut io) = one_worker(&t);
        let c = (CLIENT, 40000);
        let mut send = |p: &mut Pipeline<Vec<u8>>, port, f: Vec<u8>| {
            p.handle(&t, port, f, 0, &mut io);
            io.0.pop().expect("forwarded").1
        };
        let isn = 1_000_000u32;
        let syn = tcp_flags_frame(MACS[0], c, (VIP, 80), 0x02);
        let out = send(&mut p, 0, with_seq_ack(syn.clone(), isn, 0));
        let (lport, (server_isn, _)) = (ports_of(&out).1, seq_ack(&out));
        assert_ne!(
            server_isn, isn,
            "the real server gets the director's number"
        );
        let again = send(&mut p, 0, with_seq_ack(syn, isn, 0));
        assert_eq!(
            seq_ack(&again).0,
            server_isn,
            "a retransmitted SYN: the same"
        );
        let synack = tcp_flags_frame(MACS[1], (RS, 8080), (LIP, lport), 0x12);
        let back = send(
            &mut p,
            1,
            with_seq_ack(synack, 77, server_isn.wrapping_add(1)),
        );
        assert_eq!(
            seq_ack(&back),
            (77, isn + 1),
            "the client sees its own number"
        );
        let data = tcp_flags_frame(MACS[0], c, (VIP, 80), 0x18);
        let out = send(&mut p, 0, with_seq_ack(data, isn + 1, 78));
        assert_eq!(
            seq_ack(&out),
            (server_isn.wrapping_add(1), 78),
            "the server's own numbers in the ack stay"
        );
    }

    /// FULLNAT decrements the TTL towards the real server as IPVS's other methods do
    /// (#25 item 6; DPVS and Alibaba's FULLNAT route it the same way); a first packet
    /// that would leave with 0 is answered from the VIP and takes no local port.
    #[test]
    fn ttl_is_decremented_and_a_dying_syn_takes_no_local_port() {
        let t = tables();
        let (mut p, mut io) = one_worker(&t);
        let syn = tcp_flags_frame(MACS[0], (CLIENT, 40000), (VIP, 80), 0x02);
        p.handle(&t, 0, syn, 0, &mut io);
        let (_, out) = io.0.pop().expect("forwarded");
        let ip = crate::wire::Ipv4Packet::new_checked(&out[14..]).unwrap();
        assert_eq!((ip.ttl(), ip.verify_checksum()), (63, true));
        let mut dying = tcp_flags_frame(MACS[0], (CLIENT, 40001), (VIP, 80), 0x02);
        dying[14 + 8] = 1;
        crate::wire::Ipv4Packet::new_unchecked(&mut dying[14..]).fill_checksum();
        p.handle(&t, 0, dying, 0, &mut io);
        let (port, answer) = io.0.pop().expect("time exceeded");
        assert_eq!(port, 0);
        let ip = crate::wire::Ipv4Packet::new_checked(&answer[14..]).unwrap();
        assert_eq!(
            (ip.src_addr(), ip.dst_addr(), ip.payload()[0]),
            (VIP, CLIENT, 11)
        );
        assert_eq!(p.snat.in_use(), 1, "only the first SYN's local port");
        assert_eq!(p.conns.len(), 1);
    }
}

#[cfg(test)]
mod garp_tests {
    use std::sync::Arc;

    use super::steering_tests::*;
    use crate::counters::WorkerStats;
    use crate::pipeline::{Pipeline, PipelineConfig};

    #[test]
    fn gratuitous_arp_for_local_addresses_on_the_real_servers_port() {
        let t = tables();
        let mut p: Pipeline<Vec<u8>> = Pipeline::new(PipelineConfig {
            worker: 0,
            port_macs: MACS.to_vec(),
            stats: Arc::new(WorkerStats::default()),
            conn_capacity: 64,
            gratuitous_arp: true,
            workers: 1,
            exception: Default::default(),
        });
        let mut io = Out::default();
        p.start(&t, &mut io, 0);
        let lip_arps: Vec<_> =
            io.0.iter()
                .filter(|(_, f)| f[12..14] == [0x08, 0x06] && f[14 + 14..14 + 18] == LIP.octets())
                .map(|(port, f)| (*port, f[14 + 24..14 + 28].to_vec()))
                .collect();
        assert_eq!(lip_arps, vec![(1, LIP.octets().to_vec())]);
    }
}

/// IPv6 FULLNAT through real pipelines: both directions rewritten, replies steered by
/// local port, TOA of length 20, NDP for the local address, exhaustion counted.
#[cfg(test)]
mod ipv6_tests {
    use std::net::{IpAddr, Ipv6Addr};
    use std::sync::Arc;

    use super::steering_tests::{Out, MACS};
    use super::*;
    use crate::counters::{DropReason, WorkerStats};
    use crate::pipeline::{NeighbourUpdate, Pipeline, PipelineConfig};
    use crate::route::{Ipv6Prefix, RouteTable6};
    use crate::service::{proto, Forward, LocalAddr6, RealServer, ServiceTable, VirtualService};
    use crate::wire::{Icmpv6Packet, Ipv6Packet, TcpPacket};

    fn a(s: &str) -> Ipv6Addr {
        s.parse().unwrap()
    }
    const VIP: &str = "2001:2::100";
    const RS: &str = "2001:2:0:1::11";
    const LIP: &str = "2001:2:0:1::fa";

    fn tables(ports: (u16, u16), toa: bool) -> Tables {
        let rs = RealServer {
            id: 0,
            addr: IpAddr::V6(a(RS)),
            port: 8080,
            weight: 1,
            forward: Forward::FullNat,
            upper_threshold: 0,
        };
        let svc = |id, p| VirtualService {
            id,
            proto: p,
            vip: IpAddr::V6(a(VIP)),
            port: 80,
            members: vec![],
            real_servers: vec![rs.clone()],
            scheduler: scheduler::Scheduler::build(
                scheduler::SchedulerKind::Rr,
                &[scheduler::Destination::new(rs.addr, 8080, 1)],
                Default::default(),
            )
            .unwrap(),
            persistence: None,
            snat_pool: Some(0),
        };
        let locals6 = vec![
            LocalAddr6 {
                port: 0,
                addr: a("2001:2::fe"),
                prefix_len: 64,
            },
            LocalAddr6 {
                port: 1,
                addr: a("2001:2:0:1::fe"),
                prefix_len: 64,
            },
        ];
        let snat = SnatTable::new(vec![SnatPool {
            addrs: vec![IpAddr::V6(a(LIP))],
            port_min: ports.0,
            port_max: ports.1,
        }]);
        Tables {
            services: ServiceTable::new(vec![svc(0, proto::TCP), svc(1, proto::UDP)], vec![], 1)
                .with_locals6(locals6),
            routes6: RouteTable6::new(
                &[
                    (Ipv6Prefix::new(a("2001:2::"), 64).unwrap(), 0),
                    (Ipv6Prefix::new(a("2001:2:0:1::"), 64).unwrap(), 1),
                ],
                &[],
            ),
            snat: if toa { snat } else { snat.with_toa_off(&[0]) },
            ..Tables::default()
        }
    }

    fn pipeline(w: usize, workers: usize, garp: bool) -> (Pipeline<Vec<u8>>, Arc<WorkerStats>) {
        let stats = Arc::new(WorkerStats::default());
        let p = Pipeline::new(PipelineConfig {
            worker: w,
            port_macs: MACS.to_vec(),
            stats: stats.clone(),
            conn_capacity: 256,
            gratuitous_arp: garp,
            workers,
            exception: Default::default(),
        });
        (p, stats)
    }

    /// Ethernet + IPv6 + TCP (`flags`, options `opts`) or UDP (`flags` None), with a
    /// valid L4 checksum.
    fn frame(
        dst_mac: [u8; 6],
        src: (Ipv6Addr, u16),
        dst: (Ipv6Addr, u16),
        flags: Option<u8>,
        opts: &[u8],
    ) -> Vec<u8> {
        let l4_len = if flags.is_some() {
            20 + opts.len()
        } else {
            8 + 4
        };
        let mut f = vec![0u8; 14 + 40 + l4_len];
        f[0..6].copy_from_slice(&dst_mac);
        f[6..12].copy_from_slice(&[2, 0, 0, 0, 0, 1]);
        f[12..14].copy_from_slice(&[0x86, 0xdd]);
        {
            let mut ip = Ipv6Packet::new_unchecked(&mut f[14..]);
            ip.set_version();
            ip.set_payload_len(l4_len as u16);
            ip.set_next_header(if flags.is_some() {
                proto::TCP
            } else {
                proto::UDP
            });
            ip.set_hop_limit(64);
            ip.set_src_addr(src.0);
            ip.set_dst_addr(dst.0);
        }
        let l4 = &mut f[54..];
        l4[0..2].copy_from_slice(&src.1.to_be_bytes());
        l4[2..4].copy_from_slice(&dst.1.to_be_bytes());
        match flags {
            Some(fl) => {
                l4[12] = (((20 + opts.len()) / 4) as u8) << 4;
                l4[13] = fl;
                l4[20..].copy_from_slice(opts);
                TcpPacket::new_unchecked(&mut f[54..]).fill_checksum_v6(src.0, dst.0);
            }
            None => {
                l4[4..6].copy_from_slice(&(l4_len as u16).to_be_bytes());
                l4[8..12].copy_from_slice(b"ping");
                let mut u = crate::wire::UdpPacket::new_unchecked(&mut f[54..]);
                u.fill_checksum_v6(src.0, dst.0);
            }
        }
        f
    }

    fn addrs(f: &[u8]) -> ((Ipv6Addr, u16), (Ipv6Addr, u16)) {
        let ip = Ipv6Packet::new_checked(&f[14..]).unwrap();
        let l4 = ip.payload();
        (
            (ip.src_addr(), u16::from_be_bytes([l4[0], l4[1]])),
            (ip.dst_addr(), u16::from_be_bytes([l4[2], l4[3]])),
        )
    }

    fn l4_checksum_ok(f: &[u8]) -> bool {
        let ip = Ipv6Packet::new_checked(&f[14..]).unwrap();
        match ip.next_header() {
            proto::TCP => TcpPacket::new_checked(ip.payload())
                .unwrap()
                .verify_checksum_v6(ip.src_addr(), ip.dst_addr()),
            _ => crate::wire::UdpPacket::new_checked(ip.payload())
                .unwrap()
                .verify_checksum_v6(ip.src_addr(), ip.dst_addr()),
        }
    }

    fn learn(p: &mut Pipeline<Vec<u8>>, client: Ipv6Addr, io: &mut Out) {
        for (port, ip) in [(1, a(RS)), (0, client)] {
            let u = NeighbourUpdate {
                port,
                ip: ip.into(),
                mac: [2, 0, 0, 0, 0, 9],
            };
            p.learn_remote(u, 0, io);
        }
    }

    #[test]
    fn tcp_and_udp_both_ways_with_replies_steered_by_local_port() {
        let t = tables((5000, 5099), true);
        let (mut workers, stats): (Vec<_>, Vec<_>) = (0..2)
            .map(|w| {
                let (mut p, s) = pipeline(w, 2, false);
                p.sync(&t);
                (p, s)
            })
            .unzip();
        let mut io = Out::default();
        let mut per_worker = [0; 2];
        for i in 0..12u16 {
            let client = Ipv6Addr::new(0x2001, 2, 0, 0, 0, 0, 7, i);
            let udp = i % 3 == 0;
            let flags = (!udp).then_some(0x02);
            let syn = frame(MACS[0], (client, 40000 + i), (a(VIP), 80), flags, &[]);
            let owner = workers[0].owner(&t, &syn).unwrap();
            learn(&mut workers[owner], client, &mut io);
            workers[owner].handle(&t, 0, syn, 0, &mut io);
            let (port, out) = io.0.pop().expect("forwarded");
            assert_eq!(port, 1);
            let ((s, lport), d) = addrs(&out);
            assert_eq!((s, d), (a(LIP), (a(RS), 8080)));
            assert_eq!(port_owner(lport, 2), owner);
            assert!(l4_checksum_ok(&out), "client -> RS checksum");
            per_worker[owner] += 1;
            // The answer to LIP:lport is steered to the owner by its port alone.
            let reply = frame(
                MACS[1],
                (a(RS), 8080),
                (a(LIP), lport),
                flags.map(|_| 0x12),
                &[],
            );
            assert_eq!(workers[1 - owner].owner(&t, &reply), Some(owner));
            workers[owner].handle(&t, 1, reply, 0, &mut io);
            let (port, back) = io.0.pop().expect("reply forwarded");
            assert_eq!(port, 0);
            assert_eq!(addrs(&back), ((a(VIP), 80), (client, 40000 + i)));
            assert!(l4_checksum_ok(&back), "RS -> client checksum");
        }
        assert!(per_worker.iter().all(|&n| n > 0), "{per_worker:?}");
        for (w, p) in workers.iter_mut().enumerate() {
            p.tick(&t, 0, &mut io);
            assert_eq!(
                crate::counters::get(&stats[w].snat_ports_in_use),
                per_worker[w]
            );
            for _ in 0..40 {
                p.tick(&t, 400_000, &mut io);
            }
            assert_eq!(crate::counters::get(&stats[w].snat_ports_in_use), 0);
        }
    }

    #[test]
    fn toa_of_length_20_after_mss_clamp_by_20_and_off_when_switched_off() {
        for toa in [true, false] {
            let t = tables((5000, 5099), toa);
            let (mut p, stats) = pipeline(0, 1, false);
            p.sync(&t);
            let mut io = Out::default();
            let client = a("2001:2::7");
            learn(&mut p, client, &mut io);
            let c = (client, 40000);
            let mut send = |p: &mut Pipeline<Vec<u8>>, port, f: Vec<u8>| {
                p.handle(&t, port, f, 0, &mut io);
                io.0.pop().expect("forwarded").1
            };
            let mss = [2, 4, 0x05, 0xa0];
            let syn = send(&mut p, 0, frame(MACS[0], c, (a(VIP), 80), Some(0x02), &mss));
            let want_mss: u16 = if toa { 1440 - 20 } else { 1440 };
            assert_eq!(u16::from_be_bytes([syn[54 + 22], syn[54 + 23]]), want_mss);
            assert!(l4_checksum_ok(&syn));
            let ((_, lport), _) = addrs(&syn);
            send(
                &mut p,
                1,
                frame(MACS[1], (a(RS), 8080), (a(LIP), lport), Some(0x12), &[]),
            );
            let ack = send(&mut p, 0, frame(MACS[0], c, (a(VIP), 80), Some(0x10), &[]));
            assert!(l4_checksum_ok(&ack));
            if toa {
                assert_eq!(ack.len(), 14 + 40 + 40);
                let mut want = vec![254, 20, 0x9c, 0x40];
                want.extend_from_slice(&client.octets());
                assert_eq!(&ack[74..94], &want[..]);
                assert_eq!(ack[54 + 12] >> 4, 10);
            } else {
                assert_eq!(ack.len(), 14 + 40 + 20, "TOA switched off");
            }
            // A full TCP header has no room: forwarded without TOA, counted.
            let full = send(
                &mut p,
                0,
                frame(MACS[0], c, (a(VIP), 80), Some(0x10), &[1u8; 40]),
            );
            assert_eq!(full.len(), 14 + 40 + 60);
            assert_eq!(crate::counters::get(&stats.toa_no_room), u64::from(toa));
        }
    }

    #[test]
    fn local_address_answered_in_ndp_and_announced_at_start() {
        let t = tables((5000, 5001), true);
        let (mut p, _) = pipeline(0, 1, true);
        p.sync(&t);
        let mut io = Out::default();
        p.start(&t, &mut io, 0);
        let lip = a(LIP);
        let na_for =
            |f: &[u8]| f[12..14] == [0x86, 0xdd] && f[54] == 136 && f[62..78] == lip.octets();
        let announced: Vec<_> =
            io.0.iter()
                .filter(|(_, f)| na_for(f))
                .map(|(port, _)| *port)
                .collect();
        assert_eq!(
            announced,
            vec![1],
            "unsolicited NA for the LIP on the RS port"
        );
        io.0.clear();
        // A solicitation from the real server for the LIP is answered on port 1 only.
        let mut ns = vec![135, 0, 0, 0, 0, 0, 0, 0];
        ns.extend_from_slice(&lip.octets());
        ns.extend_from_slice(&[1, 1, 2, 0, 0, 0, 0, 0x11]);
        let group = {
            let o = lip.octets();
            Ipv6Addr::from([
                0xff, 2, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1, 0xff, o[13], o[14], o[15],
            ])
        };
        let mut f = vec![0u8; 14 + 40 + ns.len()];
        f[0..6].copy_from_slice(&[0x33, 0x33, 0xff, 0, 0, 0xfa]);
        f[6..12].copy_from_slice(&[2, 0, 0, 0, 0, 0x11]);
        f[12..14].copy_from_slice(&[0x86, 0xdd]);
        {
            let mut ip = Ipv6Packet::new_unchecked(&mut f[14..]);
            ip.set_version();
            ip.set_payload_len(ns.len() as u16);
            ip.set_next_header(58);
            ip.set_hop_limit(255);
            ip.set_src_addr(a(RS));
            ip.set_dst_addr(group);
        }
        f[54..].copy_from_slice(&ns);
        Icmpv6Packet::new_unchecked(&mut f[54..]).fill_checksum(a(RS), group);
        p.handle(&t, 1, f.clone(), 0, &mut io);
        assert_eq!(io.0.len(), 1);
        assert_eq!(io.0[0].0, 1);
        assert!(na_for(&io.0[0].1));
        io.0.clear();
        p.handle(&t, 0, f, 0, &mut io);
        assert!(io.0.is_empty(), "not on the client side");
    }

    #[test]
    fn exhaustion_is_refused_and_counted() {
        // Two ports, one worker: the third flow finds none.
        let t = tables((5000, 5001), true);
        let (mut p, stats) = pipeline(0, 1, false);
        p.sync(&t);
        let mut io = Out::default();
        for i in 0..3u16 {
            let client = Ipv6Addr::new(0x2001, 2, 0, 0, 0, 0, 9, i);
            learn(&mut p, client, &mut io);
            let syn = frame(MACS[0], (client, 1000), (a(VIP), 80), Some(0x02), &[]);
            p.handle(&t, 0, syn, 0, &mut io);
        }
        assert_eq!(io.0.len(), 2);
        assert_eq!(stats.drops(DropReason::SnatExhausted), 1);
    }
}
