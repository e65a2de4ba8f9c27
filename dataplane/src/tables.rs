//! The immutable tables a worker reads, published by the control thread through
//! [`crate::rcu`]: services, routes of both families, timeouts, IPVS switches and the
//! SNAT pools.

use crate::route::{RouteTable, RouteTable6};
use crate::service::ServiceTable;
use crate::xmit::fullnat::snat::SnatTable;

/// The immutable tables a worker reads, published by the control thread through
/// [`crate::rcu`]: a configuration change is a new `Tables` value.
#[derive(Clone, Debug, Default)]
pub struct Tables {
    /// Virtual services, VIPs and the director's own addresses.
    pub services: ServiceTable,
    /// Routes.
    pub routes: RouteTable,
    /// IPv6 routes.
    pub routes6: RouteTable6,
    /// Connection timeouts (ipvsadm `--set`).
    pub timeouts: IpvsTimeouts,
    /// IPVS behaviour switches (`net.ipv4.vs.*` sysctls).
    pub ipvs: IpvsSwitches,
    /// FULLNAT's SNAT pools.
    pub snat: SnatTable,
}

/// The IPVS sysctls that change how workers treat existing connections and templates,
/// and how they answer segments of no connection.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct IpvsSwitches {
    /// `expire_nodest_conn`: a packet for a connection whose real server is gone expires
    /// the connection and is dropped (else it still goes to the removed server).
    pub expire_nodest_conn: bool,
    /// `expire_quiescent_template`: a template pointing at a weight-0 real server is
    /// dropped and the flow scheduled anew.
    pub expire_quiescent_template: bool,
    /// A TCP segment to a virtual service that no connection claims and that starts
    /// none gets a RST from the VIP, as the director's TCP stack answers it under IPVS
    /// (`pipeline::reset`); off: silently dropped.
    pub reset_unknown_conn: bool,
}

impl Default for IpvsSwitches {
    /// IPVS's defaults: the two sysctls off, RSTs on.
    fn default() -> Self {
        IpvsSwitches {
            expire_nodest_conn: false,
            expire_quiescent_template: false,
            reset_unknown_conn: true,
        }
    }
}

/// The three timeouts ipvsadm sets, in seconds.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct IpvsTimeouts {
    /// TCP established.
    pub tcp: u32,
    /// TCP after FIN.
    pub tcp_fin: u32,
    /// UDP.
    pub udp: u32,
}

impl Default for IpvsTimeouts {
    fn default() -> Self {
        IpvsTimeouts {
            tcp: 900,
            tcp_fin: 120,
            udp: 300,
        }
    }
}
