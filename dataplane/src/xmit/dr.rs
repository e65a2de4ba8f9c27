//! DR — LVS-DR, direct routing, IPVS's Route (`ip_vs_dr_xmit`), ipvsadm `-g`, YAML
//! `route`: the client's packet goes unchanged to the real server's MAC (the real server
//! holds the VIP on an interface that does not answer ARP for it) and the real server
//! answers the client directly. A DR connection keeps no reply tuple — RIP:port -> client
//! is the same for one client port towards several VIPs of one real server — so its real
//! server is found by stable id in the current table.

use crate::family::Family;
use crate::tables::Tables;

/// Where a client packet of DR connection `rs_id` goes: the real server's address in the
/// current table, or None when it has left the configuration (the packet is dropped;
/// IPVS would keep sending to the removed destination until the connection expires).
#[inline(always)]
pub fn real_server<F: Family>(t: &Tables, rs_id: u32) -> Option<F> {
    t.services.routed_of(rs_id).and_then(F::of)
}

#[cfg(test)]
mod tests {
    use crate::counters::DropReason;
    use crate::service::Forward;
    use crate::tables::Tables;
    use crate::test_io::one_service::*;
    use crate::test_io::Out;

    #[test]
    fn packets_reach_the_real_server_unchanged_but_for_the_macs_and_ttl() {
        let (t, mut p, stats) = bench(Forward::Route);
        let mut io = Out::default();
        for (flags, payload) in [(0x02, &b""[..]), (0x10, b""), (0x18, b"GET /")] {
            let f = frame(
                (MACS[0], CLIENT_MAC),
                (CLIENT, 40000),
                (VIP, 80),
                flags,
                payload,
            );
            p.handle(&t, 0, f.clone(), 0, &mut io);
            let (port, out) = io.0.pop().expect("forwarded");
            assert_eq!(port, 1);
            assert_eq!((&out[0..6], &out[6..12]), (&RS_MAC[..], &MACS[1][..]));
            // Unchanged but for the TTL, decremented as IPVS's decrement_ttl() does for
            // DR too (#25 item 6), and the header checksum.
            let mut want = f.clone();
            want[14 + 8] = 63;
            crate::wire::Ipv4Packet::new_unchecked(&mut want[14..]).fill_checksum();
            assert_eq!(out[12..], want[12..]);
        }
        // A table without the real server: its DR connection's packets are dropped.
        let gone = Tables {
            services: crate::service::ServiceTable::new(vec![], vec![], 2),
            ..t.clone()
        };
        p.sync(&gone);
        let f = frame((MACS[0], CLIENT_MAC), (CLIENT, 40000), (VIP, 80), 0x10, &[]);
        p.handle(&gone, 0, f, 0, &mut io);
        assert!(io.0.is_empty());
        assert_eq!(stats.drops(DropReason::NoRealServer), 1);
    }
}
