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
