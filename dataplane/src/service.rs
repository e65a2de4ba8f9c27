//! The immutable service table the workers read: virtual services, their real servers,
//! the VIPs to answer ARP for, and the director's own addresses.
//!
//! Built by the control thread from the configuration and never mutated afterwards; a new
//! configuration means a new table (published to workers by pointer swap).

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use hashbrown::{HashMap, HashSet};

/// IP protocol numbers rvs balances.
pub mod proto {
    /// ICMP.
    pub const ICMP: u8 = 1;
    /// TCP.
    pub const TCP: u8 = 6;
    /// UDP.
    pub const UDP: u8 = 17;
    /// SCTP.
    pub const SCTP: u8 = 132;
}

/// How packets reach a real server: the forwarding method with its parameters (the
/// tunnel's encapsulation). The control plane maps the configuration's method to it
/// (`control::spec`); a connection keeps only [`Forward::method`], a
/// [`conn_table::Method`], and finds the parameters by real-server id. Each method's
/// packet work is in [`crate::xmit`].
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Forward {
    /// NAT — IPVS's Masq, ipvsadm `-m`: destination to the RS, source back to the VIP on
    /// replies ([`crate::xmit::nat`]).
    Masq,
    /// DR, direct routing — IPVS's Route, ipvsadm `-g`: the destination MAC only
    /// ([`crate::xmit::dr`]).
    Route,
    /// TUN — IPVS's Tunnel, ipvsadm `-i`: IPIP, GUE or GRE encapsulation to the RS
    /// ([`crate::xmit::tun`]).
    Tunnel(crate::xmit::tun::TunnelKind),
    /// FULLNAT — ipvsadm `--fullnat` (DPVS's): the client SNATed to a local address too
    /// ([`crate::xmit::fullnat`]).
    FullNat,
}

impl Forward {
    /// The method a connection to this real server records.
    #[inline]
    pub fn method(self) -> conn_table::Method {
        match self {
            Forward::Masq => conn_table::Method::Masq,
            Forward::Route => conn_table::Method::Route,
            Forward::FullNat => conn_table::Method::FullNat,
            Forward::Tunnel(_) => conn_table::Method::Tunnel,
        }
    }
}

/// A real server as the dataplane needs it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RealServer {
    /// Stable id across configuration generations (the control plane assigns it): the
    /// connection table counts active/inactive connections per id.
    pub id: u32,
    /// RIP (of the service's family: config refuses mixed families for NAT and DR).
    pub addr: IpAddr,
    /// Port on the RS (the packet's port for port-0 services).
    pub port: u16,
    /// Weight; 0 = quiescent (no new connections).
    pub weight: u32,
    /// Forwarding method.
    pub forward: Forward,
    /// Upper connection threshold (0 = none): overloaded at or above it.
    pub upper_threshold: u32,
}

/// Persistence of a virtual service (`ipvsadm -p [timeout] [-M netmask]`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Persistence {
    /// Template timeout, seconds.
    pub timeout_s: u32,
    /// Client addresses are grouped by this prefix length (32, or 128 for IPv6, = per
    /// client).
    pub prefix_len: u8,
}

/// One virtual service (protocol + VIP + port; port 0 = every port).
#[derive(Clone, Debug)]
pub struct VirtualService {
    /// Stable id across configuration generations (persistence templates use it).
    pub id: u32,
    /// IP protocol number.
    pub proto: u8,
    /// VIP (IPv4 or IPv6).
    pub vip: IpAddr,
    /// Virtual port (0 = all ports).
    pub port: u16,
    /// For a firewall-mark service (`ipvsadm -f`): the (protocol, VIP, port) tuples that
    /// carry the mark, each leading to this service; `proto`/`vip`/`port` are then the
    /// first member's protocol and VIP with port 0, so persistence templates span all
    /// members as IPVS's fwmark templates do. Empty for an address service.
    pub members: Vec<(u8, IpAddr, u16)>,
    /// Destinations, in the order the scheduler was built over.
    pub real_servers: Vec<RealServer>,
    /// The service's scheduler (immutable; each worker keeps its own state for it).
    pub scheduler: scheduler::Scheduler,
    /// Persistence, if the service is persistent.
    pub persistence: Option<Persistence>,
    /// SNAT pool of its FULLNAT real servers (an index into the tables' pools).
    pub snat_pool: Option<crate::xmit::fullnat::snat::PoolId>,
}

/// The director's own address on one port.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct LocalAddr {
    /// Port index.
    pub port: usize,
    /// The address.
    pub addr: Ipv4Addr,
    /// Its prefix length.
    pub prefix_len: u8,
}

/// Index of a virtual service in a [`ServiceTable`].
pub type ServiceId = u32;

/// Immutable table of virtual services.
#[derive(Clone, Debug, Default)]
pub struct ServiceTable {
    services: Vec<VirtualService>,
    index: HashMap<(u8, Ipv4Addr, u16), ServiceId>,
    vips: HashSet<Ipv4Addr>,
    locals: Vec<LocalAddr>,
    generation: u64,
    steer_prefix: u8,
    /// The IPv6 side: VIPs, own addresses and service index.
    v6: Family6,
    /// Bit `id` set when real server `id` is in some service (for `expire_nodest_conn`).
    present: Vec<u64>,
    /// Address and encapsulation of each tunnel real server, by stable id: a tunnel
    /// connection remembers its real server's id only (it keeps no reply tuple).
    tunnels: HashMap<u32, (Ipv4Addr, crate::xmit::tun::TunnelKind)>,
    /// Address of each direct-routing real server, by stable id: a DR connection keeps
    /// no reply tuple either (one client port towards two VIPs of one real server would
    /// give both the same one).
    routed: HashMap<u32, IpAddr>,
    /// What workers need to continue their scheduler state: the generation this table
    /// follows and, per service, its index and scheduler in that table (see
    /// [`ServiceTable::follow`]).
    predecessors: Option<(u64, Vec<Option<Predecessor>>)>,
    /// Egress MTU of each port, by port index (see [`ServiceTable::with_port_mtus`]).
    port_mtus: Vec<u16>,
    /// The overload flags and connection totals of real servers with thresholds, shared
    /// by the workers.
    overload: crate::overload::Overload,
}

/// A service's index and scheduler in the table its table follows.
type Predecessor = (ServiceId, scheduler::Scheduler);

impl ServiceTable {
    /// Build a table; `generation` counts configuration versions.
    pub fn new(services: Vec<VirtualService>, locals: Vec<LocalAddr>, generation: u64) -> Self {
        let mut index = HashMap::with_capacity(services.len());
        let mut vips = HashSet::new();
        let mut tunnels = HashMap::new();
        let mut routed = HashMap::new();
        let mut v6 = Family6::default();
        for (i, s) in services.iter().enumerate() {
            let own = s.members.is_empty().then_some((s.proto, s.vip, s.port));
            for (proto, vip, port) in own.into_iter().chain(s.members.iter().copied()) {
                match vip {
                    IpAddr::V4(vip) => {
                        index.insert((proto, vip, port), i as ServiceId);
                        vips.insert(vip);
                    }
                    IpAddr::V6(vip) => {
                        v6.index.insert((proto, vip, port), i as ServiceId);
                        v6.vips.insert(vip);
                    }
                }
            }
            for rs in &s.real_servers {
                match (rs.forward, rs.addr) {
                    (Forward::Tunnel(kind), IpAddr::V4(rip)) => {
                        tunnels.insert(rs.id, (rip, kind));
                    }
                    (Forward::Tunnel(kind), IpAddr::V6(rip)) => {
                        v6.tunnels.insert(rs.id, (rip, kind));
                    }
                    _ => {}
                }
                if rs.forward == Forward::Route {
                    routed.insert(rs.id, rs.addr);
                }
            }
        }
        // Flows are owned by a worker chosen from the client address; with persistence the
        // address masked by the widest persistence netmask, so every client that shares a
        // template lands on the worker holding it.
        let steer_prefix = services
            .iter()
            .filter(|s| s.vip.is_ipv4())
            .filter_map(|s| s.persistence.map(|p| p.prefix_len))
            .min()
            .unwrap_or(32);
        v6.steer_prefix = services
            .iter()
            .filter(|s| s.vip.is_ipv6())
            .filter_map(|s| s.persistence.map(|p| p.prefix_len))
            .min()
            .unwrap_or(128);
        let mut present = Vec::new();
        for rs in services.iter().flat_map(|s| &s.real_servers) {
            let (word, bit) = (rs.id as usize / 64, rs.id % 64);
            if present.len() <= word {
                present.resize(word + 1, 0);
            }
            present[word] |= 1 << bit;
        }
        let overload = crate::overload::Overload::new(services.iter().map(|s| {
            let ids = s.real_servers.iter().map(|r| r.id);
            (s.scheduler.destinations(), ids)
        }));
        ServiceTable {
            overload,
            services,
            index,
            vips,
            locals,
            generation,
            steer_prefix,
            v6,
            present,
            tunnels,
            routed,
            predecessors: None,
            port_mtus: Vec::new(),
        }
    }

    /// The same table with the egress MTU of each port, by port index (`interfaces[].mtu`);
    /// ports not listed have [`crate::xmit::tun::DEFAULT_MTU`].
    pub fn with_port_mtus(mut self, mtus: Vec<u16>) -> Self {
        self.port_mtus = mtus;
        self
    }

    /// The egress MTU of `port`: the largest IP packet it sends.
    #[inline]
    pub fn port_mtu(&self, port: usize) -> usize {
        self.port_mtus
            .get(port)
            .map_or(crate::xmit::tun::DEFAULT_MTU, |&m| usize::from(m))
    }

    /// Whether real server `id` (a stable id) is still a destination of some service;
    /// connections to one that is not belong to a removed real server.
    #[inline]
    pub fn has_real_server(&self, id: u32) -> bool {
        self.present
            .get(id as usize / 64)
            .is_some_and(|w| w & (1 << (id % 64)) != 0)
    }

    /// The encapsulation of a tunnel real server at `rip` whose outer packets are of IP
    /// protocol `proto` (and, for GUE, UDP destination port `dport`), if any. A linear
    /// scan: for ICMP errors about tunnel packets only.
    pub fn tunnel_to(
        &self,
        rip: Ipv4Addr,
        proto: u8,
        dport: u16,
    ) -> Option<crate::xmit::tun::TunnelKind> {
        self.tunnels
            .values()
            .find(|(a, k)| *a == rip && k.matches(proto, dport))
            .map(|&(_, k)| k)
    }

    /// The address and encapsulation of tunnel real server `rs_id`, if it is one in this
    /// table.
    #[inline]
    pub fn tunnel_of(&self, rs_id: u32) -> Option<(Ipv4Addr, crate::xmit::tun::TunnelKind)> {
        self.tunnels.get(&rs_id).copied()
    }

    /// The address of direct-routing real server `rs_id` (either family), if it is one in
    /// this table.
    #[inline]
    pub fn routed_of(&self, rs_id: u32) -> Option<IpAddr> {
        self.routed.get(&rs_id).copied()
    }

    /// The address of real server `rs_id` for a connection that keeps no reply tuple
    /// (DR and TUN), if it is one in this table.
    pub fn bypass_addr_of(&self, rs_id: u32) -> Option<IpAddr> {
        self.routed_of(rs_id)
            .or_else(|| self.tunnel_of(rs_id).map(|(a, _)| IpAddr::V4(a)))
            .or_else(|| self.tunnel6_of(rs_id).map(|(a, _)| IpAddr::V6(a)))
    }

    /// The service for a packet to `vip:port`: an exact match first, then the VIP's
    /// port-0 (all ports) service, as IPVS does.
    #[inline]
    pub fn find(&self, proto: u8, vip: Ipv4Addr, port: u16) -> Option<ServiceId> {
        self.index
            .get(&(proto, vip, port))
            .or_else(|| self.index.get(&(proto, vip, 0)))
            .copied()
    }

    /// A service by id.
    #[inline]
    pub fn get(&self, id: ServiceId) -> &VirtualService {
        &self.services[id as usize]
    }

    /// All services.
    pub fn services(&self) -> &[VirtualService] {
        &self.services
    }

    /// Whether `ip` is a VIP of any service.
    #[inline]
    pub fn is_vip(&self, ip: Ipv4Addr) -> bool {
        self.vips.contains(&ip)
    }

    /// All VIPs.
    pub fn vips(&self) -> impl Iterator<Item = Ipv4Addr> + '_ {
        self.vips.iter().copied()
    }

    /// The director's own address `ip` on `port`, if it is one.
    #[inline]
    pub fn local_on(&self, port: usize, ip: Ipv4Addr) -> Option<&LocalAddr> {
        self.locals.iter().find(|l| l.port == port && l.addr == ip)
    }

    /// Whether `ip` is any of the director's own addresses.
    #[inline]
    pub fn is_local(&self, ip: Ipv4Addr) -> bool {
        self.locals.iter().any(|l| l.addr == ip)
    }

    /// The source address to use on `port` when talking to `dst` (the port's address in
    /// dst's subnet, else its first address).
    pub fn source_for(&self, port: usize, dst: Ipv4Addr) -> Option<Ipv4Addr> {
        let on_port = || self.locals.iter().filter(|l| l.port == port);
        on_port()
            .find(|l| {
                crate::route::Ipv4Prefix::new(l.addr, l.prefix_len)
                    .map(|p| p.contains(dst))
                    .unwrap_or(false)
            })
            .or_else(|| on_port().next())
            .map(|l| l.addr)
    }

    /// The director's own addresses.
    pub fn locals(&self) -> &[LocalAddr] {
        &self.locals
    }

    /// Prefix length of the client address that picks a flow's owner worker.
    #[inline]
    pub fn steer_prefix(&self) -> u8 {
        self.steer_prefix
    }

    /// Configuration generation this table was built from.
    pub fn generation(&self) -> u64 {
        self.generation
    }

    /// Record that this table replaces `prev`: each service (matched by its stable id)
    /// continues its real servers' last non-zero weights from there
    /// ([`scheduler::Scheduler::continue_last_weights`]) and remembers its index and
    /// scheduler there, so a worker that ran `prev` continues its
    /// per-service scheduler state ([`scheduler::Scheduler::carry_state`]) instead of
    /// restarting it, as the kernel keeps rr/wrr positions and lblc caches across edits.
    /// Without this, every reload or health transition would put each rr service back at
    /// its first real server. Built by the control thread, never on the packet path.
    pub fn follow(&mut self, prev: &ServiceTable) {
        let by_id: HashMap<u32, ServiceId> = prev
            .services
            .iter()
            .enumerate()
            .map(|(i, s)| (s.id, i as ServiceId))
            .collect();
        let found = self
            .services
            .iter_mut()
            .map(|s| {
                let &i = by_id.get(&s.id)?;
                let before = &prev.services[i as usize].scheduler;
                // A real server whose weight went to 0 keeps its last non-zero weight, as
                // the kernel's does (mh keeps its table slots).
                if let Some(continued) = s.scheduler.continue_last_weights(before) {
                    s.scheduler = continued;
                }
                Some((i, before.clone()))
            })
            .collect();
        self.predecessors = Some((prev.generation, found));
        self.overload.follow(&prev.overload);
    }

    /// The real servers' shared overload flags (`-x`/`-y` thresholds over all workers).
    #[inline]
    pub fn overload(&self) -> &crate::overload::Overload {
        &self.overload
    }

    /// Service `sid`'s index and scheduler in the table of generation `generation`, if
    /// this table follows that one and the service was in it.
    pub fn predecessor(
        &self,
        generation: u64,
        sid: ServiceId,
    ) -> Option<(ServiceId, &scheduler::Scheduler)> {
        let (g, list) = self.predecessors.as_ref()?;
        if *g != generation {
            return None;
        }
        let (i, s) = list.get(sid as usize)?.as_ref()?;
        Some((*i, s))
    }
}

/// The director's own IPv6 address on one port.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct LocalAddr6 {
    /// Port index.
    pub port: usize,
    /// The address.
    pub addr: Ipv6Addr,
    /// Its prefix length.
    pub prefix_len: u8,
}

/// The IPv6 half of a [`ServiceTable`]: kept apart so the IPv4 lookups stay on 4-byte
/// keys.
#[derive(Clone, Debug, Default)]
struct Family6 {
    index: HashMap<(u8, Ipv6Addr, u16), ServiceId>,
    vips: HashSet<Ipv6Addr>,
    locals: Vec<LocalAddr6>,
    steer_prefix: u8,
    /// Address and encapsulation of each IPv6 tunnel real server, by stable id.
    tunnels: HashMap<u32, (Ipv6Addr, crate::xmit::tun::TunnelKind)>,
}

/// IPv6 lookups, the counterparts of the IPv4 ones above.
impl ServiceTable {
    /// The address and encapsulation of IPv6 tunnel real server `rs_id`, if it is one in
    /// this table.
    #[inline]
    pub fn tunnel6_of(&self, rs_id: u32) -> Option<(Ipv6Addr, crate::xmit::tun::TunnelKind)> {
        self.v6.tunnels.get(&rs_id).copied()
    }

    /// The same table with the director's own IPv6 addresses.
    pub fn with_locals6(mut self, locals: Vec<LocalAddr6>) -> Self {
        self.v6.locals = locals;
        self
    }

    /// The service for an IPv6 packet to `[vip]:port` (exact port, then port 0).
    #[inline]
    pub fn find6(&self, proto: u8, vip: Ipv6Addr, port: u16) -> Option<ServiceId> {
        self.v6
            .index
            .get(&(proto, vip, port))
            .or_else(|| self.v6.index.get(&(proto, vip, 0)))
            .copied()
    }

    /// Whether `ip` is an IPv6 VIP of any service.
    #[inline]
    pub fn is_vip6(&self, ip: Ipv6Addr) -> bool {
        self.v6.vips.contains(&ip)
    }

    /// All IPv6 VIPs.
    pub fn vips6(&self) -> impl Iterator<Item = Ipv6Addr> + '_ {
        self.v6.vips.iter().copied()
    }

    /// The director's own IPv6 address `ip` on `port`, if it is one.
    #[inline]
    pub fn local6_on(&self, port: usize, ip: Ipv6Addr) -> Option<&LocalAddr6> {
        self.v6
            .locals
            .iter()
            .find(|l| l.port == port && l.addr == ip)
    }

    /// Whether `ip` is one of the director's own IPv6 addresses (any port).
    #[inline]
    pub fn is_local6(&self, ip: Ipv6Addr) -> bool {
        self.v6.locals.iter().any(|l| l.addr == ip)
    }

    /// The source address for a neighbour solicitation to `dst` out of `port`: the
    /// port's address whose subnet holds `dst`, else its first IPv6 address.
    pub fn source6_for(&self, port: usize, dst: Ipv6Addr) -> Option<Ipv6Addr> {
        let on_port = || self.v6.locals.iter().filter(|l| l.port == port);
        on_port()
            .find(|l| {
                crate::route::Ipv6Prefix::new(l.addr, l.prefix_len)
                    .map(|p| p.contains(dst))
                    .unwrap_or(false)
            })
            .or_else(|| on_port().next())
            .map(|l| l.addr)
    }

    /// The director's own IPv6 addresses.
    pub fn locals6(&self) -> &[LocalAddr6] {
        &self.v6.locals
    }

    /// Prefix length IPv6 clients are steered by (the widest IPv6 persistence netmask,
    /// 128 without persistence).
    #[inline]
    pub fn steer_prefix6(&self) -> u8 {
        self.v6.steer_prefix
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn vs(port: u16) -> VirtualService {
        VirtualService {
            id: port as u32,
            proto: proto::TCP,
            vip: IpAddr::V4(Ipv4Addr::new(198, 18, 0, 100)),
            port,
            members: vec![],
            real_servers: vec![],
            scheduler: scheduler::Scheduler::build(
                scheduler::SchedulerKind::Rr,
                &[],
                Default::default(),
            )
            .unwrap(),
            persistence: None,
            snat_pool: None,
        }
    }

    #[test]
    fn each_forward_records_its_method() {
        use conn_table::Method;
        let tun = Forward::Tunnel(crate::xmit::tun::TunnelKind::Ipip);
        assert_eq!(Forward::Masq.method(), Method::Masq);
        assert_eq!(Forward::Route.method(), Method::Route);
        assert_eq!(tun.method(), Method::Tunnel);
        assert_eq!(Forward::FullNat.method(), Method::FullNat);
    }

    #[test]
    fn firewall_mark_members_lead_to_their_service() {
        let vip = Ipv4Addr::new(198, 18, 0, 100);
        let mut mark = vs(0);
        mark.members = vec![(proto::TCP, vip.into(), 80), (proto::TCP, vip.into(), 443)];
        let t = ServiceTable::new(vec![vs(22), mark], vec![], 1);
        assert_eq!(t.find(proto::TCP, vip, 80), Some(1));
        assert_eq!(t.find(proto::TCP, vip, 443), Some(1));
        assert_eq!(t.find(proto::TCP, vip, 22), Some(0));
        // The mark's port 0 is not an all-ports service.
        assert_eq!(t.find(proto::TCP, vip, 8080), None);
        assert_eq!(t.find(proto::UDP, vip, 80), None);
    }

    #[test]
    fn real_server_presence_by_stable_id() {
        let mut svc = vs(80);
        svc.real_servers = [3u32, 64, 700]
            .iter()
            .map(|&id| RealServer {
                id,
                addr: Ipv4Addr::new(198, 19, 0, 11).into(),
                port: 80,
                weight: 1,
                forward: Forward::Masq,
                upper_threshold: 0,
            })
            .collect();
        let t = ServiceTable::new(vec![svc], vec![], 1);
        for id in [3, 64, 700] {
            assert!(t.has_real_server(id), "{id}");
        }
        for id in [0, 2, 4, 63, 65, 699, 701, 100_000] {
            assert!(!t.has_real_server(id), "{id}");
        }
    }

    #[test]
    fn exact_port_beats_port_zero() {
        let t = ServiceTable::new(vec![vs(0), vs(80)], vec![], 1);
        let vip = Ipv4Addr::new(198, 18, 0, 100);
        assert_eq!(t.find(proto::TCP, vip, 80), Some(1));
        assert_eq!(t.find(proto::TCP, vip, 443), Some(0));
        assert_eq!(t.find(proto::UDP, vip, 80), None);
        assert!(t.is_vip(vip));
    }

    /// A reload that sets an mh real server's weight to 0 keeps its Maglev slots (the
    /// kernel's last_weight), so the other servers' flows do not move.
    #[test]
    fn following_a_table_keeps_last_weights() {
        use scheduler::{Destination, SchedulerKind};
        // (last byte of the real server's address, weight)
        let mh = |servers: &[(u8, u16)], generation| {
            let dests: Vec<Destination> = servers
                .iter()
                .map(|&(h, w)| Destination::new(IpAddr::from([198, 19, 0, h]), 80, w))
                .collect();
            let mut svc = vs(80);
            svc.scheduler =
                scheduler::Scheduler::build(SchedulerKind::Mh, &dests, Default::default()).unwrap();
            ServiceTable::new(vec![svc], vec![], generation)
        };
        let first = mh(&[(1, 1), (2, 1), (3, 1)], 1);
        let mut second = mh(&[(1, 1), (2, 0), (3, 1)], 2);
        second.follow(&first);
        let table = |t: &ServiceTable| t.services()[0].scheduler.hash_table().unwrap().to_vec();
        // Slots whose real server differs from the first generation's.
        let moved = |t: &ServiceTable| {
            let (a, b) = (table(t), table(&first));
            a.iter().zip(&b).filter(|(x, y)| x != y).count()
        };
        assert_eq!(moved(&second), 0);
        // ... and through a further generation that leaves it at 0.
        let mut third = mh(&[(1, 1), (2, 0), (3, 1)], 3);
        third.follow(&second);
        assert_eq!(moved(&third), 0);
        // Removed and added again at weight 0: the kernel's add sets last_weight 0.
        let mut gone = mh(&[(1, 1), (3, 1)], 4);
        gone.follow(&third);
        let mut back = mh(&[(1, 1), (2, 0), (3, 1)], 5);
        back.follow(&gone);
        assert_ne!(moved(&back), 0);
    }

    #[test]
    fn source_address_prefers_the_destination_subnet() {
        let locals = vec![
            LocalAddr {
                port: 1,
                addr: Ipv4Addr::new(198, 19, 0, 254),
                prefix_len: 24,
            },
            LocalAddr {
                port: 1,
                addr: Ipv4Addr::new(198, 19, 1, 254),
                prefix_len: 24,
            },
        ];
        let t = ServiceTable::new(vec![], locals, 1);
        assert_eq!(
            t.source_for(1, Ipv4Addr::new(198, 19, 1, 9)),
            Some(Ipv4Addr::new(198, 19, 1, 254))
        );
        assert_eq!(
            t.source_for(1, Ipv4Addr::new(198, 20, 1, 9)),
            Some(Ipv4Addr::new(198, 19, 0, 254))
        );
        assert_eq!(t.source_for(0, Ipv4Addr::new(198, 19, 1, 9)), None);
    }
}
