//! Loader tests: defaults, every validation error with its exact position, round trip,
//! and robustness against arbitrary text.

use std::net::{IpAddr, SocketAddr};
use std::time::Duration;

use proptest::prelude::*;

use super::*;

fn load(text: &str) -> Config {
    match from_str(text, "t.yaml") {
        Ok(c) => c,
        Err(e) => panic!("{e}"),
    }
}

/// The errors of `text`, one `file:line:col: message` string each.
fn errs(text: &str) -> Vec<String> {
    match from_str(text, "t.yaml") {
        Ok(_) => panic!("expected errors, the configuration loaded"),
        Err(e) => e.0.iter().map(|e| e.to_string()).collect(),
    }
}

/// Two interfaces and nothing else: the start of most test documents (7 lines).
const IFACES: &str = "\
# Test interfaces: every test document that starts with them has its own lines
# from line 8 on.
interfaces:
  - name: wan0
    device: net_null0
    addresses: [198.18.0.254/24]
  - { name: lan0, device: net_null1, addresses: [198.19.0.254/24, \"2001:2::fe/64\"] }
";

fn with_ifaces(rest: &str) -> String {
    format!("{IFACES}{rest}")
}

fn ip(s: &str) -> IpAddr {
    s.parse().unwrap()
}

#[test]
fn examples_load() {
    let dir = format!("{}/../examples", env!("CARGO_MANIFEST_DIR"));
    let mut n = 0;
    for entry in std::fs::read_dir(&dir).unwrap() {
        let path = entry.unwrap().path();
        if path.extension().is_some_and(|e| e == "yaml") {
            if let Err(e) = load_file(&path) {
                panic!("{e}");
            }
            n += 1;
        }
    }
    assert!(n >= 2, "examples/*.yaml: found {n} files");
}

#[test]
fn demo_example_matches_the_testing_topology() {
    let cfg = load_file(format!(
        "{}/../examples/demo.yaml",
        env!("CARGO_MANIFEST_DIR")
    ))
    .unwrap();
    assert_eq!(cfg.interfaces[0].device, "net_af_packet0,iface=rvs-wan");
    assert_eq!(cfg.interfaces[1].device, "net_af_packet1,iface=rvs-lan");
    assert_eq!(cfg.dataplane.polling, Polling::Adaptive);
    assert_eq!(cfg.dataplane.eal_args, ["--no-huge", "-m", "512"]);
    assert_eq!(cfg.services.len(), 2);
    assert_eq!(
        [
            Protocol::Tcp.ip_proto(),
            Protocol::Udp.ip_proto(),
            Protocol::Sctp.ip_proto()
        ],
        [6, 17, 132]
    );
    for (s, (proto, port)) in cfg
        .services
        .iter()
        .zip([(Protocol::Tcp, 80), (Protocol::Udp, 5353)])
    {
        assert_eq!(
            s.key,
            ServiceKey::Addr(ServiceAddr {
                proto,
                vip: ip("198.18.0.100"),
                port
            })
        );
        assert_eq!(s.scheduler, Scheduler::Rr);
        let rs: Vec<_> = s
            .real_servers
            .iter()
            .map(|r| (r.socket_addr(), r.method))
            .collect();
        assert_eq!(
            rs,
            [
                (
                    SocketAddr::new(ip("198.19.0.11"), port),
                    ForwardMethod::Masq
                ),
                (
                    SocketAddr::new(ip("198.19.0.12"), port),
                    ForwardMethod::Masq
                )
            ]
        );
    }
}

#[test]
fn ipvs_defaults() {
    let cfg = load(&with_ifaces(
        "\
services:
  - proto: tcp
    vip: 198.18.0.100
    port: 80
    real_servers: [ { address: 198.19.0.11 } ]
  - { proto: tcp, vip: 198.18.0.100, port: 0, persistence: true, real_servers: [ { address: 198.19.0.11 } ] }
  - { proto: udp, vip: 198.18.0.100, port: 53, persistence: 60, health_check: { type: http } }
",
    ));
    assert_eq!(
        cfg.dataplane,
        Dataplane {
            main_lcore: 0,
            worker_lcores: vec![1],
            polling: Polling::Adaptive,
            eal_args: vec![],
            mbufs: None,
            connections_per_worker: None,
            exception_rate: DEFAULT_EXCEPTION_RATE,
        }
    );
    assert_eq!(cfg.worker_count(), 1);
    assert_eq!(
        cfg.timeouts,
        Timeouts {
            tcp: 900,
            tcp_fin: 120,
            udp: 300
        }
    );
    assert_eq!(
        cfg.admin.listen,
        "127.0.0.1:9180".parse::<SocketAddr>().unwrap()
    );
    assert!(cfg.admin.read_only());
    let s = &cfg.services[0];
    assert_eq!(s.scheduler, Scheduler::Wlc);
    assert_eq!(s.method, ForwardMethod::Route);
    assert_eq!(s.persistence, None);
    assert!(!s.one_packet);
    assert_eq!(
        s.real_servers[0],
        RealServer {
            address: ip("198.19.0.11"),
            port: 80,
            weight: 1,
            method: ForwardMethod::Route,
            upper_threshold: 0,
            lower_threshold: 0
        }
    );
    // `persistence: true` is ipvsadm's -p without a value: 360 s, whole client address.
    let p = cfg.services[1].persistence.unwrap();
    assert_eq!(
        p,
        Persistence {
            timeout: 360,
            netmask: None
        }
    );
    assert_eq!(p.prefix_len(false), 32);
    assert_eq!(cfg.services[1].real_servers[0].port, 0);
    assert_eq!(
        cfg.services[2].persistence,
        Some(Persistence {
            timeout: 60,
            netmask: None
        })
    );
    assert_eq!(
        cfg.services[2].health_check,
        Some(HealthCheck {
            kind: HealthCheckKind::Http {
                path: "/".into(),
                expect_status: 200,
                host: None,
                expect_body: None
            },
            port: None,
            interval: Duration::from_secs(1),
            timeout: Duration::from_secs(3),
            rise: 1,
            fall: 1,
            quiescent: true
        })
    );
}

#[test]
fn methods_and_tunnels_resolve() {
    let cfg = load(&with_ifaces(
        "\
snat_pools: [ { name: p1, addresses: [198.19.0.250] } ]
services:
  - proto: tcp
    vip: 198.18.0.100
    port: 80
    method: tunnel
    tunnel_type: gue
    tunnel_port: 6080
    tunnel_csum: remcsum
    snat_pool: p1
    real_servers:
      - { address: 198.19.0.11 }
      - { address: 198.19.0.12, tunnel_type: gre }
      - { address: 198.19.0.13, method: masq, port: 8080 }
      - { address: 198.19.0.14, method: fullnat, port: 8080 }
      - { address: 198.19.0.15, tunnel_port: 7000, tunnel_csum: nocsum }
      - { address: 198.19.0.16, tunnel_type: gre, tunnel_csum: csum }
",
    ));
    let m: Vec<_> = cfg.services[0]
        .real_servers
        .iter()
        .map(|r| r.method)
        .collect();
    assert_eq!(
        m,
        [
            ForwardMethod::Tunnel(TunnelType::Gue {
                port: 6080,
                csum: TunnelCsum::RemCsum
            }),
            // Another type does not inherit the service's checksum option.
            ForwardMethod::Tunnel(TunnelType::Gre {
                csum: TunnelCsum::NoCsum
            }),
            ForwardMethod::Masq,
            ForwardMethod::FullNat,
            ForwardMethod::Tunnel(TunnelType::Gue {
                port: 7000,
                csum: TunnelCsum::NoCsum
            }),
            ForwardMethod::Tunnel(TunnelType::Gre {
                csum: TunnelCsum::Csum
            }),
        ]
    );
    assert_eq!(
        cfg.snat_pools[0].ports,
        PortRange {
            first: 1024,
            last: 65535
        }
    );
}

#[test]
fn routes_and_connected_subnets() {
    let cfg = load(&with_ifaces("routes:\n  - { prefix: 0.0.0.0/0, via: 198.18.0.1, interface: wan0 }\n  - { prefix: 198.19.0.128/25, interface: lan0 }\n"));
    let nets: Vec<String> = cfg
        .connected_subnets()
        .map(|(n, i)| format!("{n} {i}"))
        .collect();
    assert_eq!(
        nets,
        [
            "198.18.0.0/24 wan0",
            "198.19.0.0/24 lan0",
            "2001:2::/64 lan0"
        ]
    );
    assert_eq!(
        cfg.lookup_route(ip("198.18.0.7")),
        Some(NextHop {
            interface: "wan0",
            gateway: None,
            connected: true
        })
    );
    assert_eq!(
        cfg.lookup_route(ip("198.19.200.1")),
        Some(NextHop {
            interface: "wan0",
            gateway: Some(ip("198.18.0.1")),
            connected: false
        })
    );
    // A longer static prefix wins over the connected /24.
    assert_eq!(
        cfg.lookup_route(ip("198.19.0.200")),
        Some(NextHop {
            interface: "lan0",
            gateway: None,
            connected: false
        })
    );
    assert_eq!(cfg.lookup_route(ip("2001:2:1::1")), None);
}

// ---- one test per error, each with its exact position and message ----

#[test]
fn exception_path_names_and_rate() {
    let cfg = load(
        "interfaces:
  - { name: wan0, device: net_null0, addresses: [198.18.0.254/24] }
  - { name: a-very-long-interface, device: net_null1, kernel_name: lan-k }
  - { name: other, device: net_null2, exception_path: false }
",
    );
    assert_eq!(cfg.interfaces[0].kernel_name(), "rvs-wan0");
    assert!(cfg.interfaces[0].exception_path);
    assert_eq!(cfg.interfaces[1].kernel_name(), "lan-k");
    assert!(!cfg.interfaces[2].exception_path);
    assert_eq!(cfg.dataplane.exception_rate, DEFAULT_EXCEPTION_RATE);
    let long = Interface {
        name: "a-very-long-interface".into(),
        device: "x".into(),
        addresses: vec![],
        exception_path: true,
        kernel_name: None,
        mtu: DEFAULT_MTU,
    };
    assert_eq!(long.kernel_name(), "rvs-a-very-long");
    let e = errs(
        "dataplane: { exception_rate: 0 }
interfaces:
  - { name: wan0, device: net_null0, kernel_name: \"bad name\" }
  - { name: lan0, device: net_null1, kernel_name: rvs-wan0x }
  - { name: x, device: net_null2, kernel_name: rvs-wan0x }
  - { name: y, device: net_null3, kernel_name: a-name-of-16-byt }
",
    );
    let all = e.join("\n");
    assert!(all.contains("exception_rate 0"), "{all}");
    assert!(all.contains("kernel_name `bad name` holds"), "{all}");
    assert!(
        all.contains("`rvs-wan0x` is also interface `lan0`'s"),
        "{all}"
    );
    assert!(all.contains("`a-name-of-16-byt` is too long"), "{all}");
    assert_eq!(e.len(), 4, "{all}");
}

#[test]
fn weight_out_of_range() {
    let t = with_ifaces("services:\n  - proto: tcp\n    vip: 198.18.0.100\n    port: 80\n    real_servers:\n      - { address: 198.19.0.11, weight: 70000 }\n");
    assert_eq!(
        errs(&t),
        ["t.yaml:13:41: weight 70000 is out of range; expected 0..=65535"]
    );
}

#[test]
fn vip_unreachable() {
    let t = with_ifaces("services:\n  - { proto: tcp, vip: 198.20.0.1, port: 80 }\n");
    assert_eq!(
        errs(&t),
        ["t.yaml:9:24: VIP 198.20.0.1 is outside every interface subnet and no route covers it; expected an address inside 198.18.0.0/24 198.19.0.0/24 2001:2::/64 or a route to it"]
    );
    // A route covering it makes it valid.
    load(&with_ifaces("routes: [ { prefix: 198.20.0.0/16, via: 198.18.0.1, interface: wan0 } ]\nservices:\n  - { proto: tcp, vip: 198.20.0.1, port: 80 }\n"));
}

#[test]
fn fullnat_without_pool_and_unknown_pool() {
    let t = with_ifaces(
        "\
snat_pools: [ { name: p1, addresses: [198.19.0.250] } ]
services:
  - proto: tcp
    vip: 198.18.0.100
    port: 80
    real_servers: [ { address: 198.19.0.11, method: fullnat } ]
  - { proto: tcp, vip: 198.18.0.100, port: 81, method: fullnat, snat_pool: p2 }
",
    );
    assert_eq!(
        errs(&t),
        [
            "t.yaml:10:5: fullnat without `snat_pool`; expected `snat_pool:` naming one of p1",
            "t.yaml:14:76: unknown snat pool `p2`; expected one of p1",
        ]
    );
}

#[test]
fn toa_switch_on_fullnat_services_only() {
    let cfg = load(&with_ifaces(
        "\
snat_pools: [ { name: p1, addresses: [198.19.0.250] } ]
services:
  - { proto: tcp, vip: 198.18.0.100, port: 80, method: fullnat, snat_pool: p1, toa: false }
  - { proto: tcp, vip: 198.18.0.100, port: 81, method: fullnat, snat_pool: p1 }
",
    ));
    assert!(!cfg.services[0].toa);
    assert!(cfg.services[1].toa, "TOA is on by default");
    let t = with_ifaces(
        "\
services:
  - { proto: tcp, vip: 198.18.0.100, port: 80, method: masq, toa: true }
",
    );
    assert_eq!(
        errs(&t),
        ["t.yaml:9:67: `toa` on a service without fullnat real servers; expected it only with `method: fullnat`"]
    );
}

#[test]
fn duplicate_real_servers_and_services() {
    let t = with_ifaces(
        "\
services:
  - proto: udp
    vip: 198.18.0.100
    port: 53
    method: masq
    real_servers:
      - { address: 198.19.0.11 }
      - { address: 198.19.0.11, port: 53 }
      - { address: 198.19.0.11, port: 54 }
  - { proto: udp, vip: 198.18.0.100, port: 53 }
",
    );
    assert_eq!(
        errs(&t),
        [
            "t.yaml:15:9: duplicate real server 198.19.0.11:53; expected each address and port once (already defined at line 14)",
            "t.yaml:17:5: duplicate virtual service udp 198.18.0.100:53; expected each service once (already defined at line 9)",
        ]
    );
}

#[test]
fn unknown_scheduler_lists_the_known_ones() {
    let t = with_ifaces(
        "services:\n  - { proto: tcp, vip: 198.18.0.100, port: 80, scheduler: fair }\n",
    );
    assert_eq!(errs(&t), ["t.yaml:9:59: unknown scheduler `fair`; expected one of rr wrr lc wlc lblc lblcr dh sh sed nq fo ovf mh twos"]);
}

#[test]
fn port_zero_needs_persistence() {
    let t = with_ifaces("services:\n  - proto: tcp\n    vip: 198.18.0.100\n    port: 0\n");
    assert_eq!(
        errs(&t),
        ["t.yaml:11:11: port 0 (all ports) on a non-persistent service; expected `persistence` for an all-ports service, as ipvsadm requires"]
    );
}

#[test]
fn bad_cidr() {
    let t = "interfaces:\n  - { name: wan0, device: d, addresses: [198.18.0.254/33] }\n";
    assert_eq!(
        errs(t),
        ["t.yaml:2:42: bad CIDR `198.18.0.254/33`; expected ADDRESS/PREFIX-LENGTH such as 198.18.0.254/24 or 2001:2::1/64"]
    );
}

#[test]
fn route_errors() {
    let t = with_ifaces(
        "\
routes:
  - { prefix: 0.0.0.0/0, via: 198.18.0.1, interface: wan9 }
  - { prefix: 198.20.0.0/16, via: 198.19.5.1, interface: lan0 }
  - { prefix: 198.21.0.0/16, via: \"2001:2::1\", interface: lan0 }
  - { prefix: 0.0.0.0/0, interface: wan0 }
",
    );
    assert_eq!(
        errs(&t),
        [
            "t.yaml:9:54: unknown interface `wan9`; expected one of wan0 lan0",
            "t.yaml:10:35: gateway 198.19.5.1 is not on a connected subnet of `lan0`; expected an address inside 198.19.0.0/24 2001:2::/64",
            "t.yaml:11:35: gateway 2001:2::1 is IPv6 but the prefix 198.21.0.0/16 is IPv4; expected a gateway of the prefix's family",
            "t.yaml:12:15: duplicate route 0.0.0.0/0; expected each prefix once (already defined at line 9)",
        ]
    );
}

#[test]
fn unknown_keys_everywhere_at_once() {
    let t = "\
dataplane: { workers: [1] }
interfaces:
  - { name: wan0, device: d, addresses: [198.18.0.254/24], mtus: 1500 }
services:
  - proto: tcp
    vip: 198.18.0.100
    port: 80
    sceduler: rr
    real_servers:
      - { address: 198.18.0.11, wieght: 2 }
      - { address: 198.18.0.12, weight: -1 }
bogus: 1
";
    assert_eq!(
        errs(t),
        [
            "t.yaml:1:14: unknown key `workers`; expected one of `main_lcore`, `worker_lcores`, `polling`, `eal_args`, `mbufs`, `connections_per_worker`, `exception_rate`",
            "t.yaml:3:60: unknown key `mtus`; expected one of `name`, `device`, `addresses`, `exception_path`, `kernel_name`, `mtu`",
            "t.yaml:8:5: unknown key `sceduler`; expected one of `proto`, `vip`, `port`, `fwmark`, `members`, `scheduler`, `scheduler_flags`, `mh_table_size`, `persistence`, `one_packet`, `method`, `tunnel_type`, `tunnel_port`, `tunnel_csum`, `snat_pool`, `toa`, `health_check`, `sorry_server`, `real_servers`",
            "t.yaml:10:33: unknown key `wieght`; expected one of `address`, `port`, `weight`, `method`, `tunnel_type`, `tunnel_port`, `tunnel_csum`, `upper_threshold`, `lower_threshold`",
            "t.yaml:11:41: invalid type: integer `-1`; expected an integer 0..=4294967295",
            "t.yaml:12:1: unknown key `bogus`; expected one of dataplane interfaces routes snat_pools timeouts ipvs services health admin",
        ]
    );
}

#[test]
fn broken_sections_do_not_cause_follow_up_errors() {
    // The interface and the pool are broken: routes to `lan0`, LIPs, VIPs and pools that
    // depend on them are not checked, but everything else is.
    let t = "\
interfaces:
  - { name: wan0, device: d0, addresses: [198.18.0.254/24] }
  - { name: lan0, device: d1, addresses: [198.19.0.254/240] }
routes: [ { prefix: 198.20.0.0/16, via: 198.19.0.1, interface: lan0 } ]
snat_pools: [ { name: p1, addresses: [198.19.0.250], ports: x } ]
services:
  - { proto: tcp, vip: 198.20.0.1, port: 80, method: fullnat, snat_pool: p1 }
  - { proto: tcp, vip: 198.20.0.1, port: 80, real_servers: [ { address: 198.19.0.11, weight: 70000 } ] }
";
    assert_eq!(
        errs(t),
        [
            "t.yaml:3:43: bad CIDR `198.19.0.254/240`; expected ADDRESS/PREFIX-LENGTH such as 198.18.0.254/24 or 2001:2::1/64",
            "t.yaml:5:61: bad port range `x`; expected FIRST-LAST with 1 <= FIRST <= LAST <= 65535, such as 1024-65535",
            "t.yaml:8:5: duplicate virtual service tcp 198.20.0.1:80; expected each service once (already defined at line 7)",
            "t.yaml:8:94: weight 70000 is out of range; expected 0..=65535",
        ]
    );
}

#[test]
fn aliases_are_followed_and_errors_point_at_the_anchor() {
    let t = with_ifaces(
        "\
services:
  - proto: tcp
    vip: 198.18.0.100
    port: 80
    method: masq
    real_servers: &servers
      - { address: 198.19.0.11, weight: 70000 }
      - { address: 198.19.0.12 }
  - { proto: tcp, vip: 198.18.0.100, port: 81, method: masq, real_servers: *servers }
",
    );
    // Both services share the anchored list: one place, one message.
    assert_eq!(
        errs(&t),
        ["t.yaml:14:41: weight 70000 is out of range; expected 0..=65535"]
    );
    let cfg = load(&t.replace("70000", "7"));
    assert_eq!(cfg.services[1].real_servers.len(), 2);
    assert_eq!(cfg.services[1].real_servers[0].port, 81);
}

#[test]
fn wrong_types_and_missing_keys() {
    let t = "\
interfaces:
  - { name: wan0, addresses: [198.18.0.254/24] }
services: { proto: tcp }
timeouts: { tcp: fast }
";
    assert_eq!(
        errs(t),
        [
            "t.yaml:2:5: missing key `device`; expected it in this mapping",
            "t.yaml:3:11: invalid type: map; expected a sequence",
            "t.yaml:4:18: invalid type: string \"fast\"; expected an integer 0..=4294967295",
        ]
    );
}

#[test]
fn syntax_error_has_a_position() {
    assert_eq!(
        errs("interfaces: [\n"),
        ["t.yaml:2:1: did not find expected node content, while parsing a flow node"]
    );
    assert_eq!(
        errs("a: b: c\n"),
        ["t.yaml:1:5: mapping values are not allowed in this context"]
    );
}

#[test]
fn empty_and_non_mapping_documents() {
    assert_eq!(
        errs(""),
        ["t.yaml:1:1: the document is empty; expected a mapping with the sections dataplane interfaces routes snat_pools timeouts ipvs services health admin"]
    );
    assert_eq!(
        errs("- 1\n"),
        ["t.yaml:1:1: invalid type: sequence; expected a mapping"]
    );
}

#[test]
fn dataplane_errors() {
    let t = with_ifaces("dataplane: { main_lcore: 1, worker_lcores: [1, 2, 2], mbufs: 0 }\n");
    assert_eq!(
        errs(&t),
        [
            "t.yaml:8:45: lcore 1 is the main lcore; expected worker lcores other than main_lcore 1",
            "t.yaml:8:51: lcore 2 is listed twice; expected each worker lcore once",
            "t.yaml:8:62: mbufs 0; expected an mbuf pool size of at least 1 (or no `mbufs` for rvsd's default)",
        ]
    );
    let t = with_ifaces("dataplane: { worker_lcores: [], polling: spin }\n");
    assert_eq!(
        errs(&t),
        ["t.yaml:8:42: unknown polling mode `spin`; expected one of adaptive busy"]
    );
    let t = with_ifaces("dataplane: { worker_lcores: [] }\n");
    assert_eq!(
        errs(&t),
        ["t.yaml:8:29: no worker lcores; expected at least one lcore number, such as [1]"]
    );
}

#[test]
fn interface_errors() {
    let t = "\
interfaces:
  - { name: wan0, device: d0, addresses: [198.18.0.254/24] }
  - { name: wan0, device: d0, addresses: [198.18.0.254/25] }
";
    assert_eq!(
        errs(t),
        [
            "t.yaml:3:13: duplicate interface `wan0`; expected a unique name (already defined at line 2)",
            "t.yaml:3:27: device `d0` is already used by interface `wan0`; expected one interface per device",
            "t.yaml:3:43: address 198.18.0.254 is already assigned to interface `wan0` (line 2); expected each address once",
        ]
    );
}

#[test]
fn snat_pool_errors() {
    let t = with_ifaces("snat_pools:\n  - { name: p, addresses: [198.19.0.250, 198.19.0.250, 198.20.0.1], ports: 2000-1000 }\n");
    assert_eq!(
        errs(&t),
        ["t.yaml:9:76: bad port range `2000-1000`; expected FIRST-LAST with 1 <= FIRST <= LAST <= 65535, such as 1024-65535"]
    );
    let t = with_ifaces("snat_pools:\n  - { name: p, addresses: [198.19.0.250, 198.19.0.250, 198.20.0.1] }\n  - { name: p, addresses: [] }\n");
    assert_eq!(
        errs(&t),
        [
            "t.yaml:9:42: local address 198.19.0.250 is listed twice; expected each address once",
            "t.yaml:9:56: local address 198.20.0.1 is not on a connected subnet; expected an address inside 198.18.0.0/24 198.19.0.0/24 2001:2::/64",
            "t.yaml:10:13: duplicate snat pool `p`; expected a unique name (already defined at line 9)",
            "t.yaml:10:27: no addresses; expected at least one local address (LIP)",
        ]
    );
}

#[test]
fn timeout_errors() {
    let t = with_ifaces("timeouts: { tcp: 0, udp: 3000000 }\n");
    assert_eq!(
        errs(&t),
        [
            "t.yaml:8:18: tcp timeout 0; expected 1..=2147483 seconds",
            "t.yaml:8:26: udp timeout 3000000; expected 1..=2147483 seconds"
        ]
    );
}

#[test]
fn service_key_errors() {
    let t = with_ifaces(
        "\
services:
  - { vip: 198.18.0.100 }
  - { fwmark: 0, proto: tcp }
  - { fwmark: 7, members: [\"tcp 198.18.0.100:80\", \"tcp 2001:2::1:80\"] }
  - { proto: tcp, vip: 198.18.0.101, port: 80, members: [\"tcp 198.18.0.1:1\"] }
",
    );
    // The broken member leaves its service out of the meaning stage; the others are checked.
    assert_eq!(
        errs(&t),
        [
            "t.yaml:9:5: missing `proto`; expected tcp, udp or sctp (or `fwmark` with `members` for a firewall-mark service)",
            "t.yaml:9:5: missing `port`; expected the virtual port 0..=65535 (0 = all ports, with persistence) (or `fwmark` with `members` for a firewall-mark service)",
            "t.yaml:10:5: firewall-mark service without `members`; expected the list of `PROTO VIP:PORT` tuples that carry mark 0, such as members: [\"tcp 198.18.0.100:80\"]",
            "t.yaml:10:15: fwmark 0; expected a mark 1..=4294967295",
            "t.yaml:10:18: `proto` given with `fwmark`; expected either fwmark (with members) or proto, vip and port",
            "t.yaml:11:51: bad firewall-mark member `tcp 2001:2::1:80`; expected PROTO VIP:PORT such as `tcp 198.18.0.100:80`",
            "t.yaml:12:48: `members` without `fwmark`; expected members only in a firewall-mark service",
        ]
    );
    let t = with_ifaces(
        "\
services:
  - { vip: 198.18.0.100 }
  - { fwmark: 0, proto: tcp }
  - { fwmark: 7, members: [\"tcp 198.18.0.100:80\", \"tcp [2001:2::1]:80\", \"udp 198.18.0.100:80\", \"udp 198.18.0.100:80\"] }
  - { proto: tcp, vip: 198.18.0.101, port: 80, members: [\"tcp 198.18.0.1:1\"] }
  - { fwmark: 8, members: [\"tcp 198.18.0.100:80\"] }
  - { proto: tcp, vip: 198.18.0.100, port: 80 }
",
    );
    assert_eq!(
        errs(&t),
        [
            "t.yaml:9:5: missing `proto`; expected tcp, udp or sctp (or `fwmark` with `members` for a firewall-mark service)",
            "t.yaml:9:5: missing `port`; expected the virtual port 0..=65535 (0 = all ports, with persistence) (or `fwmark` with `members` for a firewall-mark service)",
            "t.yaml:10:5: firewall-mark service without `members`; expected the list of `PROTO VIP:PORT` tuples that carry mark 0, such as members: [\"tcp 198.18.0.100:80\"]",
            "t.yaml:10:15: fwmark 0; expected a mark 1..=4294967295",
            "t.yaml:10:18: `proto` given with `fwmark`; expected either fwmark (with members) or proto, vip and port",
            "t.yaml:11:51: member `tcp [2001:2::1]:80` is IPv6 but the first member is not; expected one address family per firewall-mark service",
            "t.yaml:11:96: member `udp 198.18.0.100:80` is listed twice; expected each tuple once",
            "t.yaml:12:48: `members` without `fwmark`; expected members only in a firewall-mark service",
            "t.yaml:13:28: `tcp 198.18.0.100:80` already carries fwmark 7 (line 11); expected each tuple in one firewall-mark service",
            "t.yaml:14:5: virtual service tcp 198.18.0.100:80 is also a member of fwmark 7 (line 11); expected a tuple in one service only",
        ]
    );
}

#[test]
fn mh_table_size_is_a_kernel_size_on_mh_services() {
    let svc = |sched: &str, size: u32| {
        with_ifaces(&format!(
            "services:\n  - {{ proto: tcp, vip: 198.18.0.100, port: 80, scheduler: {sched}, mh_table_size: {size}, real_servers: [{{ address: 198.19.0.1 }}, {{ address: 198.19.0.2 }}, {{ address: 198.19.0.3 }}] }}\n"
        ))
    };
    assert_eq!(load(&svc("mh", 251)).services[0].mh_table_size, Some(251));
    assert_eq!(
        load(&svc("mh", 131071)).services[0].mh_table_size,
        Some(131071)
    );
    let t =
        with_ifaces("services:\n  - { proto: tcp, vip: 198.18.0.100, port: 80, scheduler: mh }\n");
    assert_eq!(load(&t).services[0].mh_table_size, None);
    assert_eq!(
        errs(&svc("mh", 65537)),
        ["t.yaml:9:78: mh_table_size 65537 is not a kernel Maglev table size; expected one of 251, 509, 1021, 2039, 4093, 8191, 16381, 32749, 65521, 131071 (default 4093)"]
    );
    assert_eq!(
        errs(&svc("sh", 4093)),
        ["t.yaml:9:78: mh_table_size on a sh service; expected it only with scheduler mh"]
    );
}

#[test]
fn scheduler_persistence_and_one_packet_errors() {
    let t = with_ifaces(
        "\
services:
  - proto: tcp
    vip: 198.18.0.100
    port: 80
    scheduler: mh
    scheduler_flags: [mh-port, mh-port, sh-port]
    persistence: { timeout: 0, netmask: 64 }
    one_packet: true
",
    );
    assert_eq!(
        errs(&t),
        [
            "t.yaml:13:32: scheduler flag `mh-port` is listed twice; expected each flag once",
            "t.yaml:13:41: scheduler flag `sh-port` needs scheduler sh, not mh; expected sh-* flags with sh and mh-* flags with mh only",
            "t.yaml:14:18: persistence timeout 0; expected 1..=2678400 seconds, as ipvsadm -p (or `persistence: false`)",
            "t.yaml:14:41: netmask /64 is longer than an IPv4 address; expected 0..=32 bits or a dotted mask",
            "t.yaml:15:17: one-packet scheduling on a tcp service; expected it only on udp services (or firewall-mark services)",
        ]
    );
    let t = with_ifaces("services:\n  - { proto: tcp, vip: 198.18.0.100, port: 80, persistence: { netmask: 255.0.255.0 } }\n");
    assert_eq!(
        errs(&t),
        ["t.yaml:9:72: bad netmask `255.0.255.0`; expected a contiguous IPv4 mask such as 255.255.255.0 or a prefix length 0..=128"]
    );
}

#[test]
fn real_server_errors() {
    let t = with_ifaces(
        "\
routes: [ { prefix: 198.20.0.0/16, via: 198.19.0.1, interface: lan0 } ]
services:
  - proto: tcp
    vip: 198.18.0.100
    port: 80
    real_servers:
      - { address: 198.20.0.11 }
      - { address: 198.19.0.12, port: 8080 }
      - { address: 198.19.0.13, method: masq, upper_threshold: 10, lower_threshold: 20 }
      - { address: \"2001:2::13\", method: masq }
      - { address: 198.21.0.14, method: masq }
      - { address: 198.19.0.15, method: tunnel, tunnel_type: gue }
      - { address: 198.19.0.16, method: masq, tunnel_type: gre, tunnel_port: 5 }
",
    );
    assert_eq!(
        errs(&t),
        [
            "t.yaml:14:20: real server 198.20.0.11 is not on a connected subnet, which direct routing needs; expected an address inside 198.18.0.0/24 198.19.0.0/24 2001:2::/64",
            "t.yaml:15:39: port 8080 differs from the service port 80, but route (DR) forwarding cannot change ports; expected port 80 or method masq or fullnat",
            "t.yaml:16:85: lower_threshold 20 is above upper_threshold 10; expected lower <= upper",
            "t.yaml:17:20: real server 2001:2::13 is IPv6 but the service is IPv4; expected the service's family (mixed families only with tunnel)",
            "t.yaml:18:20: real server 198.21.0.14 is outside every interface subnet and no route covers it; expected an address inside 198.18.0.0/24 198.19.0.0/24 2001:2::/64 or a route to it",
            "t.yaml:19:9: gue tunnel without `tunnel_port`; expected the real server's GUE UDP port, such as tunnel_port: 6080",
            "t.yaml:20:47: `tunnel_type` without method tunnel; expected it only with `method: tunnel`",
            "t.yaml:20:65: `tunnel_port` without tunnel_type gue; expected it only with `tunnel_type: gue`",
        ]
    );
}

#[test]
fn gue_port_errors_are_reported_once() {
    let t = with_ifaces(
        "\
services:
  - proto: tcp
    vip: 198.18.0.100
    port: 80
    method: tunnel
    tunnel_type: gue
    tunnel_port: 0
    real_servers: [ { address: 198.19.0.11 }, { address: 198.19.0.12, tunnel_port: 0 } ]
",
    );
    assert_eq!(
        errs(&t),
        [
            "t.yaml:14:18: tunnel_port 0; expected the real server's GUE UDP port 1..=65535",
            "t.yaml:15:84: tunnel_port 0; expected the real server's GUE UDP port 1..=65535",
        ]
    );
}

#[test]
fn health_check_and_sorry_server_errors() {
    let t = with_ifaces(
        "\
services:
  - proto: tcp
    vip: 198.18.0.100
    port: 80
    health_check: { type: tcp, path: /x, interval: 1s, timeout: 2s, rise: 0 }
    sorry_server: \"[2001:2::9]:80\"
  - proto: tcp
    vip: 198.18.0.100
    port: 81
    health_check: { type: http, path: x, expect_status: 700, interval: 0s, timeout: 0ms }
    sorry_server: 198.30.0.9:80
  - { proto: tcp, vip: 198.18.0.100, port: 82, health_check: { type: icmp } }
",
    );
    // Structure errors (a broken service) and meaning errors (the others) come together.
    let e = errs(&t);
    assert_eq!(
        e.last().unwrap(),
        "t.yaml:19:70: unknown health check type `icmp`; expected one of tcp http https exec dns"
    );
    assert_eq!(e.len(), 9);
    let t = t.replace("type: icmp", "type: tcp, interval: 1h");
    let e = errs(&t);
    assert_eq!(
        e.last().unwrap(),
        "t.yaml:19:85: bad duration `1h`; expected a number with a unit ms, s or m, such as 500ms or 3s"
    );
    assert_eq!(e.len(), 9);
    let t = t.replace(", interval: 1h", "");
    assert_eq!(
        errs(&t),
        [
            "t.yaml:12:32: `path` applies to http checks; expected it only with `type: http`",
            "t.yaml:12:75: rise 0; expected a count of at least 1",
            "t.yaml:13:19: sorry server [2001:2::9]:80 is IPv6 but the service is not; expected the service's family",
            "t.yaml:17:39: HTTP path `x` does not start with `/`; expected an absolute path such as /health",
            "t.yaml:17:57: HTTP status 700; expected 100..=599",
            "t.yaml:17:72: interval 0; expected a duration above zero, such as 1s",
            "t.yaml:17:85: timeout 0; expected a duration above zero, such as 500ms",
            "t.yaml:18:19: sorry server 198.30.0.9 is outside every interface subnet and no route covers it; expected an address inside 198.18.0.0/24 198.19.0.0/24 2001:2::/64 or a route to it",
        ]
    );
}

#[test]
fn exec_and_https_checks() {
    let t = with_ifaces(
        "\
services:
  - proto: tcp
    vip: 198.18.0.100
    port: 80
    health_check: { type: exec, command: /usr/local/bin/check, args: [-v], quiescent: false }
  - proto: tcp
    vip: 198.18.0.100
    port: 81
    health_check: { type: http, path: /h, expect_body: ok }
",
    );
    let cfg = crate::from_str(&t, "t.yaml").unwrap();
    let hc = cfg.services[0].health_check.as_ref().unwrap();
    assert_eq!(
        hc.kind,
        HealthCheckKind::Exec {
            command: "/usr/local/bin/check".into(),
            args: vec!["-v".into()]
        }
    );
    assert!(!hc.quiescent);
    assert_eq!(
        (hc.interval, hc.timeout),
        (Duration::from_secs(1), Duration::from_secs(3))
    );
    let hc = cfg.services[1].health_check.as_ref().unwrap();
    assert!(hc.quiescent);
    assert!(matches!(&hc.kind, HealthCheckKind::Http { expect_body: Some(b), .. } if b == "ok"));
    // Written back and read again, the model is the same.
    let back = crate::from_str(&crate::to_yaml_string(&cfg), "back.yaml").unwrap();
    assert_eq!(back.services, cfg.services);

    // https takes the http keys, and survives the write-back as https.
    let https = t.replace(
        "type: http, path: /h, expect_body: ok",
        "type: https, path: /h, expect_body: ok, host: rs.example, expect_status: 204",
    );
    let cfg = crate::from_str(&https, "t.yaml").unwrap();
    assert_eq!(
        cfg.services[1].health_check.as_ref().unwrap().kind,
        HealthCheckKind::Https {
            path: "/h".into(),
            expect_status: 204,
            host: Some("rs.example".into()),
            expect_body: Some("ok".into()),
        }
    );
    let back = crate::from_str(&crate::to_yaml_string(&cfg), "back.yaml").unwrap();
    assert_eq!(back.services, cfg.services);

    let dns = t.replace(
        "type: exec, command: /usr/local/bin/check, args: [-v],",
        "type: dns, query_name: example.org,",
    );
    let cfg = crate::from_str(&dns, "t.yaml").unwrap();
    assert_eq!(
        cfg.services[0].health_check.as_ref().unwrap().kind,
        HealthCheckKind::Dns {
            name: "example.org".into()
        }
    );
    let e = errs(&dns.replace("example.org", "a..b"));
    assert_eq!(e, ["t.yaml:12:44: DNS name `a..b` has an empty label or one longer than 63 bytes; expected a name such as example.org or ."]);
    let bad = t
        .replace("/usr/local/bin/check", "check")
        .replace("type: http,", "type: https,")
        .replace("expect_body: ok", "expect_body: ok, command: /bin/true");
    let e = errs(&bad);
    assert_eq!(
        e,
        [
            "t.yaml:12:33: exec check command `check` is not an absolute path; expected `command: /path/to/check`",
            "t.yaml:16:61: `command` applies to exec checks; expected it only with `type: exec`",
        ]
    );
}

#[test]
fn health_section_exec_user_and_exec_dir() {
    let t = with_ifaces(
        "\
services:
  - proto: tcp
    vip: 198.18.0.100
    port: 80
    health_check: { type: exec, command: /etc/rvs/checks/web }
health: { exec_user: checker, exec_dir: /etc/rvs/checks }
",
    );
    let cfg = crate::from_str(&t, "t.yaml").unwrap();
    assert_eq!(
        cfg.health,
        HealthSettings {
            exec_user: Some("checker".into()),
            exec_dir: Some("/etc/rvs/checks".into()),
        }
    );
    let back = crate::from_str(&crate::to_yaml_string(&cfg), "back.yaml").unwrap();
    assert_eq!(back.health, cfg.health);
    // Without the section: no user named, no directory (rvsd picks rvs_script or its own).
    let none = crate::from_str(
        &t.replace(
            "health: { exec_user: checker, exec_dir: /etc/rvs/checks }\n",
            "",
        ),
        "t.yaml",
    )
    .unwrap();
    assert_eq!(none.health, HealthSettings::default());
    assert!(!crate::to_yaml_string(&none).contains("health:"));
    // A program outside the directory (or leaving it with ..) is refused where it is named.
    for cmd in [
        "/usr/bin/true",
        "/etc/rvs/checks/../../../bin/sh",
        "/etc/rvs/checksx/web",
    ] {
        let e = errs(&t.replace("/etc/rvs/checks/web", cmd));
        assert_eq!(
            e,
            [format!("t.yaml:12:33: exec check command `{cmd}` is not a program under health.exec_dir `/etc/rvs/checks`; expected `command: /etc/rvs/checks/<program>`")],
        );
    }
    let e = errs(&t.replace(
        "exec_user: checker, exec_dir: /etc/rvs/checks",
        "exec_user: \"a b\", exec_dir: checks",
    ));
    assert_eq!(
        e,
        [
            "t.yaml:13:22: exec_user `a b` is not a user name; expected a name such as rvs_script",
            "t.yaml:13:39: exec_dir `checks` is not an absolute path without `..`; expected a directory such as /etc/rvs/checks",
        ]
    );
}

#[test]
fn revalidate_a_changed_model() {
    let mut cfg = load_file(format!(
        "{}/../examples/demo.yaml",
        env!("CARGO_MANIFEST_DIR")
    ))
    .unwrap();
    assert_eq!(cfg.revalidate().as_ref(), Ok(&cfg));
    cfg.services[0].real_servers[1].weight = 70000;
    cfg.services[1].scheduler = Scheduler::Sh;
    cfg.services[1].scheduler_flags = vec![SchedulerFlag::MhPort];
    let e = cfg.revalidate().unwrap_err();
    let msgs: Vec<&str> = e.0.iter().map(|e| e.message.as_str()).collect();
    assert_eq!(
        msgs,
        [
            "weight 70000 is out of range; expected 0..=65535",
            "scheduler flag `mh-port` needs scheduler mh, not sh; expected sh-* flags with sh and mh-* flags with mh only"
        ]
    );
    assert!(e.0.iter().all(|e| e.file == GENERATED));
}

#[test]
fn unreadable_file() {
    let e = load_file("/nonexistent/rvs.yaml").unwrap_err();
    assert_eq!(e.0.len(), 1);
    assert!(
        e.to_string()
            .starts_with("/nonexistent/rvs.yaml: cannot read the file: "),
        "{e}"
    );
}

#[test]
fn full_example_round_trips() {
    let cfg = load_file(format!(
        "{}/../examples/full.yaml",
        env!("CARGO_MANIFEST_DIR")
    ))
    .unwrap();
    let yaml = to_yaml_string(&cfg);
    assert_eq!(load(&yaml), cfg, "{yaml}");
}

// ---- properties ----

fn arb_rs(svc_port: u16, fwmark: bool) -> impl Strategy<Value = RealServer> {
    let method = prop_oneof![
        Just(ForwardMethod::Masq),
        Just(ForwardMethod::Route),
        Just(ForwardMethod::FullNat),
        Just(ForwardMethod::Tunnel(TunnelType::Ipip)),
        prop_oneof![Just(TunnelCsum::NoCsum), Just(TunnelCsum::Csum)]
            .prop_map(|csum| ForwardMethod::Tunnel(TunnelType::Gre { csum })),
        (
            1u16..,
            prop_oneof![
                Just(TunnelCsum::NoCsum),
                Just(TunnelCsum::Csum),
                Just(TunnelCsum::RemCsum)
            ]
        )
            .prop_map(|(port, csum)| ForwardMethod::Tunnel(TunnelType::Gue { port, csum })),
    ];
    (
        1u8..250,
        method,
        any::<u16>(),
        0u32..=MAX_WEIGHT,
        0u32..=i32::MAX as u32,
        0u32..=i32::MAX as u32,
    )
        .prop_map(move |(host, method, port, weight, a, b)| {
            let keeps_port =
                !fwmark && matches!(method, ForwardMethod::Route | ForwardMethod::Tunnel(_));
            let (lower, upper) = if a == 0 { (0, 0) } else { (a.min(b), a.max(b)) };
            RealServer {
                address: IpAddr::from([198, 19, 0, host]),
                port: if keeps_port { svc_port } else { port },
                weight,
                method,
                upper_threshold: upper,
                lower_threshold: lower,
            }
        })
}

fn arb_health_check() -> impl Strategy<Value = HealthCheck> {
    let kind = prop_oneof![
        Just(HealthCheckKind::Tcp),
        (
            "/[a-z]{0,8}",
            100u16..600,
            proptest::option::of("[a-z]{1,8}\\.example"),
            proptest::option::of("[a-z ]{1,8}")
        )
            .prop_map(|(path, expect_status, host, expect_body)| {
                HealthCheckKind::Http {
                    path,
                    expect_status,
                    host,
                    expect_body,
                }
            }),
        (
            "/[a-z]{1,8}",
            proptest::collection::vec("[a-z0-9-]{1,6}", 0..3)
        )
            .prop_map(|(command, args)| HealthCheckKind::Exec {
                command: command.into(),
                args
            }),
        "([a-z]{1,8}\\.){0,3}".prop_map(|name| HealthCheckKind::Dns {
            name: if name.is_empty() { ".".into() } else { name }
        }),
    ];
    (
        kind,
        proptest::option::of(any::<u16>()),
        1u64..100_000,
        1u64..100_000,
        1u32..10,
        1u32..10,
        any::<bool>(),
    )
        .prop_map(|(kind, port, a, b, rise, fall, quiescent)| HealthCheck {
            kind,
            port,
            interval: Duration::from_millis(a.max(b)),
            timeout: Duration::from_millis(a.min(b)),
            rise,
            fall,
            quiescent,
        })
}

fn arb_service(index: u8) -> impl Strategy<Value = VirtualService> {
    let key = prop_oneof![
        (
            prop_oneof![
                Just(Protocol::Tcp),
                Just(Protocol::Udp),
                Just(Protocol::Sctp)
            ],
            any::<u16>()
        )
            .prop_map(move |(proto, port)| {
                ServiceKey::Addr(ServiceAddr {
                    proto,
                    vip: IpAddr::from([198, 18, 0, 100 + index]),
                    port,
                })
            }),
        Just(ServiceKey::Fwmark {
            mark: u32::from(index) + 1,
            members: vec![ServiceAddr {
                proto: Protocol::Tcp,
                vip: IpAddr::from([198, 18, 1, index]),
                port: 80
            }],
        }),
    ];
    let sched = proptest::sample::select(Scheduler::ALL);
    (
        key,
        sched,
        any::<bool>(),
        proptest::option::of((1u32..=ipvsadm::MAX_TIMEOUT, proptest::option::of(0u8..=32))),
        any::<bool>(),
        proptest::option::of(arb_health_check()),
        any::<bool>(),
    )
        .prop_flat_map(
            |(key, scheduler, flags, persistence, one_packet, health_check, sorry)| {
                let (svc_port, fwmark) = match &key {
                    ServiceKey::Addr(a) => (a.port, false),
                    ServiceKey::Fwmark { .. } => (0, true),
                };
                let udp_or_mark =
                    matches!(&key, ServiceKey::Addr(a) if a.proto == Protocol::Udp) || fwmark;
                let mut persistence = persistence.map(|(timeout, m)| Persistence {
                    timeout,
                    netmask: m.and_then(Netmask::from_prefix_len),
                });
                if svc_port == 0 && !fwmark && persistence.is_none() {
                    persistence = Some(Persistence {
                        timeout: 360,
                        netmask: None,
                    });
                }
                let scheduler_flags: Vec<SchedulerFlag> = if flags {
                    SchedulerFlag::ALL
                        .iter()
                        .copied()
                        .filter(|f| f.scheduler() == scheduler)
                        .collect()
                } else {
                    vec![]
                };
                (
                    proptest::collection::vec(arb_rs(svc_port, fwmark), 0..4),
                    Just(key),
                    Just(scheduler),
                    Just(scheduler_flags),
                    Just(persistence),
                    Just(one_packet && udp_or_mark),
                    Just(health_check),
                    Just(sorry),
                )
            },
        )
        .prop_map(
            |(
                rs,
                key,
                scheduler,
                scheduler_flags,
                persistence,
                one_packet,
                health_check,
                sorry,
            )| {
                let mut real_servers: Vec<RealServer> = Vec::new();
                for r in rs {
                    if !real_servers
                        .iter()
                        .any(|o| o.address == r.address && o.port == r.port)
                    {
                        real_servers.push(r);
                    }
                }
                let fullnat = real_servers
                    .iter()
                    .any(|r| r.method == ForwardMethod::FullNat);
                VirtualService {
                    key,
                    // Set on the mh services that have flags, so both values round-trip.
                    mh_table_size: (scheduler == Scheduler::Mh && !scheduler_flags.is_empty())
                        .then_some(251),
                    scheduler,
                    scheduler_flags,
                    persistence,
                    one_packet,
                    method: ForwardMethod::Masq,
                    snat_pool: fullnat.then(|| "pool1".to_owned()),
                    // Off on some fullnat services, so both values round-trip.
                    toa: !(fullnat && real_servers.len().is_multiple_of(2)),
                    health_check,
                    sorry_server: sorry.then(|| "198.19.0.9:80".parse().unwrap()),
                    real_servers,
                }
            },
        )
}

fn arb_config() -> impl Strategy<Value = Config> {
    let services = (0u8..4).prop_flat_map(|n| (0..n).map(arb_service).collect::<Vec<_>>());
    (
        services,
        prop_oneof![Just(Polling::Adaptive), Just(Polling::Busy)],
        1u32..3,
        proptest::option::of(1u32..100_000),
        (1u32..=2_147_483, 1u32..=2_147_483, 1u32..=2_147_483),
        (
            proptest::option::of(1024u32..=1 << 26),
            any::<bool>(),
            any::<bool>(),
            any::<bool>(),
        ),
    )
        .prop_map(
            |(
                services,
                polling,
                workers,
                mbufs,
                (tcp, tcp_fin, udp),
                (connections_per_worker, expire_nodest_conn, expire_quiescent_template, reset),
            )| Config {
                dataplane: Dataplane {
                    main_lcore: 0,
                    worker_lcores: (1..=workers).collect(),
                    polling,
                    eal_args: vec!["--no-huge".into()],
                    mbufs,
                    connections_per_worker,
                    exception_rate: 500,
                },
                ipvs: Ipvs {
                    expire_nodest_conn,
                    expire_quiescent_template,
                    reset_unknown_conn: reset,
                },
                health: HealthSettings::default(),
                interfaces: vec![
                    Interface {
                        name: "wan0".into(),
                        device: "net_null0".into(),
                        addresses: vec!["198.18.0.254/23".parse().unwrap()],
                        exception_path: true,
                        kernel_name: Some("k-wan".into()),
                        mtu: DEFAULT_MTU,
                    },
                    Interface {
                        name: "lan0".into(),
                        device: "net_null1".into(),
                        addresses: vec!["198.19.0.254/24".parse().unwrap()],
                        exception_path: false,
                        kernel_name: None,
                        mtu: DEFAULT_MTU,
                    },
                ],
                routes: vec![Route {
                    prefix: "0.0.0.0/0".parse().unwrap(),
                    via: Some(ip("198.18.0.1")),
                    interface: "wan0".into(),
                }],
                snat_pools: vec![SnatPool {
                    name: "pool1".into(),
                    addresses: vec![ip("198.19.0.250")],
                    ports: PortRange {
                        first: 2000,
                        last: 3000,
                    },
                }],
                timeouts: Timeouts { tcp, tcp_fin, udp },
                services,
                admin: AdminConfig {
                    listen: "127.0.0.1:9999".parse().unwrap(),
                    token_file: Some("/etc/rvs/token".into()),
                },
            },
        )
}

proptest! {
    // Sized for a debug build on 2 cores: the whole suite stays within a few seconds.
    #![proptest_config(ProptestConfig::with_cases(256))]

    /// model -> YAML -> model is the identity.
    #[test]
    fn model_yaml_model_round_trip(cfg in arb_config()) {
        let yaml = to_yaml_string(&cfg);
        match from_str(&yaml, "gen.yaml") {
            Ok(back) => prop_assert_eq!(back, cfg),
            Err(e) => prop_assert!(false, "{}\n{}", e, yaml),
        }
    }

    /// Arbitrary text: an error list or a configuration, never a panic; every error has
    /// a position inside the text.
    #[test]
    fn arbitrary_text_never_panics(text in "[a-z0-9_:,. {}\\[\\]\\-\"'/\n#&*!|>]{0,200}") {
        check_no_panic(&text);
    }

    /// Mutations of a valid file: truncated, or with one byte replaced.
    #[test]
    fn mutated_example_never_panics(cut in 0usize..4000, at in 0usize..4000, byte in proptest::sample::select(b" :-{}[],\n#x0\"&*!".to_vec())) {
        let full = include_str!("../../examples/full.yaml");
        let mut bytes = full.as_bytes().to_vec();
        let at = at % bytes.len();
        bytes[at] = byte;
        bytes.truncate(cut % (bytes.len() + 1));
        check_no_panic(&String::from_utf8_lossy(&bytes));
    }
}

#[test]
fn fuzz_regressions() {
    // A tagged (`!`) section whose entries have errors.
    assert_eq!(
        errs("snat_pools: !\n  - name:\n    addresses:\n"),
        [
            "t.yaml:2:10: empty pool name; expected a name such as pool1",
            "t.yaml:3:15: no addresses; expected at least one local address (LIP)",
        ]
    );
}

fn check_no_panic(text: &str) {
    if let Err(e) = from_str(text, "f.yaml") {
        assert!(!e.0.is_empty());
        let lines = text.lines().count().max(1) + 1;
        for err in &e.0 {
            let l = err.location.expect("text errors have a position");
            assert!(
                l.line >= 1 && l.line <= lines,
                "{err} (text has {lines} lines)"
            );
            assert!(!err.message.is_empty() && err.file == "f.yaml", "{err}");
        }
    }
}

/// The initial schema contract (notes/schema.md) that rvsd and the demo were written
/// against; only the fwmark members differ (there they repeated the first service's
/// tuple, which rvs refuses: the marked tuple would never reach that service).
#[test]
fn initial_schema_contract_loads() {
    let cfg = load(
        r#"
dataplane:
  main_lcore: 0
  worker_lcores: [1]
  polling: adaptive
  eal_args: ["--no-huge", "-m", "512"]
  mbufs: 16383
interfaces:
  - name: wan0
    device: "net_af_packet0,iface=veth-lb0"
    addresses: [198.18.0.254/24]
  - name: lan0
    device: "net_af_packet1,iface=veth-lb1"
    addresses: [198.19.0.254/24]
routes:
  - { prefix: 0.0.0.0/0, via: 198.18.0.1, interface: wan0 }
snat_pools:
  - { name: pool1, addresses: [198.19.0.250, 198.19.0.251], ports: 1024-65535 }
timeouts: { tcp: 900, tcp_fin: 120, udp: 300 }
services:
  - proto: tcp
    vip: 198.18.0.100
    port: 80
    scheduler: rr
    persistence: { timeout: 360, netmask: 255.255.255.255 }
    one_packet: false
    method: masq
    snat_pool: pool1
    health_check: { type: http, path: /, expect_status: 200, interval: 1s, timeout: 3s, rise: 2, fall: 3 }
    sorry_server: 198.19.0.9:80
    real_servers:
      - { address: 198.19.0.11, port: 80, weight: 1 }
      - { address: 198.19.0.12, port: 80, weight: 1, method: masq, upper_threshold: 0, lower_threshold: 0 }
  - fwmark: 10
    members: ["tcp 198.18.0.101:80", "tcp 198.18.0.101:443"]
    scheduler: rr
    persistence: { timeout: 900 }
    real_servers: [ { address: 198.19.0.11 }, { address: 198.19.0.12 } ]
admin:
  listen: 127.0.0.1:9180
  token_file: /etc/rvs/token
"#,
    );
    assert_eq!(cfg.dataplane.mbufs, Some(16383));
    let s = &cfg.services[0];
    assert_eq!(
        s.persistence,
        Some(Persistence {
            timeout: 360,
            netmask: Netmask::from_prefix_len(32)
        })
    );
    assert_eq!(s.snat_pool.as_deref(), Some("pool1"));
    let hc = s.health_check.as_ref().unwrap();
    assert_eq!(
        (hc.interval, hc.timeout, hc.rise, hc.fall),
        (Duration::from_secs(1), Duration::from_secs(3), 2, 3)
    );
    // The ipvsadm default method for the fwmark service's servers, on port 0.
    let f = &cfg.services[1];
    assert_eq!(f.real_servers[0].method, ForwardMethod::Route);
    assert_eq!(f.real_servers[0].port, 0);
    assert!(!cfg.admin.read_only());
}

/// What ipvsadm can say of a service: the model with the parts ipvsadm has no form for
/// (health check, sorry server, SNAT pool, fwmark members, service-level default method)
/// taken from `base`, and a host netmask written as "none" (ipvsadm cannot tell them apart).
fn ipvsadm_part(vs: &VirtualService, base: &VirtualService) -> VirtualService {
    let mut merged = convert::service_from_config(&convert::service_config(vs), Some(base))
        .expect("known scheduler");
    merged.real_servers = vs.real_servers.clone();
    // ipvsadm -S lists real servers sorted by address, as ipvsadm does.
    merged.real_servers.sort_by_key(|r| (r.address, r.port));
    if let Some(p) = merged.persistence.as_mut() {
        let full = if vs.is_ipv6() { 128 } else { 32 };
        if p.netmask.map(|m| m.prefix_len()) == Some(full) {
            p.netmask = None;
        }
    }
    merged
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(128))]

    /// model -> ipvsadm rules (-S text) -> rule table (-R) -> model keeps everything
    /// ipvsadm can express.
    #[test]
    fn model_rules_model_round_trip(cfg in arb_config()) {
        let rules: Vec<ipvsadm::ServiceRule> = cfg.services.iter().map(convert::service_rule).collect();
        let text = ipvsadm::format_rules(&rules);
        let mut table = ipvsadm::RuleTable::new();
        if let Err(e) = table.restore(&text, "rvsadm") {
            return Err(TestCaseError::fail(format!("{e:?}\n{text}")));
        }
        let back = convert::services_from_rules(table.services()).expect("converts");
        prop_assert_eq!(back.len(), cfg.services.len(), "{}", text);
        for orig in &cfg.services {
            let id = convert::service_id(orig);
            let b = back.iter().find(|b| convert::service_id(b) == id);
            prop_assert!(b.is_some(), "{} lost:\n{}", orig.key, text);
            prop_assert_eq!(ipvsadm_part(b.unwrap(), orig), ipvsadm_part(orig, orig), "{}", text);
        }
    }
}

#[test]
fn lower_threshold_without_upper_is_refused_as_the_kernel_does() {
    let text = format!(
        "{IFACES}services:\n  - proto: tcp\n    vip: 198.18.0.100\n    port: 80\n    real_servers:\n      - {{ address: 198.19.0.13, method: masq, lower_threshold: 7 }}\n"
    );
    let e = errs(&text);
    assert_eq!(e.len(), 1, "{e:?}");
    assert!(
        e[0].contains("lower_threshold 7 is above upper_threshold 0"),
        "{e:?}"
    );
}

#[test]
fn ipvs_switches_and_connection_slots() {
    let cfg = load(&with_ifaces(
        "ipvs: { expire_nodest_conn: true }\ndataplane: { connections_per_worker: 1048576 }\n",
    ));
    assert_eq!(
        cfg.ipvs,
        Ipvs {
            expire_nodest_conn: true,
            expire_quiescent_template: false,
            reset_unknown_conn: true,
        }
    );
    assert_eq!(cfg.dataplane.connections_per_worker, Some(1 << 20));
    // The sysctls off by default, like the kernel's; RSTs for unknown segments on.
    assert_eq!(load(IFACES).ipvs, Ipvs::default());
    assert!(Ipvs::default().reset_unknown_conn);
    let off = load(&with_ifaces("ipvs: { reset_unknown_conn: false }\n"));
    assert!(!off.ipvs.reset_unknown_conn);
    assert!(!off.ipvs.expire_nodest_conn);
    assert_eq!(
        errs(&with_ifaces("dataplane: { connections_per_worker: 10 }\n")),
        ["t.yaml:8:38: connections_per_worker 10; expected 1024..=67108864 connection slots per worker"]
    );
    assert_eq!(
        errs(&with_ifaces("ipvs: { expire_nodest: true }\n")).len(),
        1,
        "unknown keys are refused"
    );
}

#[test]
fn interface_mtu_default_and_range() {
    let cfg = load(
        "interfaces:
  - { name: wan0, device: net_null0, addresses: [198.18.0.254/24] }
  - { name: lan0, device: net_null1, addresses: [198.19.0.254/24], mtu: 576 }
  - { name: v6, device: net_null2, addresses: [\"2001:2::fe/64\"], mtu: 9000 }
",
    );
    let mtus: Vec<u16> = cfg.interfaces.iter().map(|i| i.mtu).collect();
    assert_eq!(mtus, [1500, 576, 9000]);
    assert_eq!(
        errs(
            "interfaces:
  - { name: wan0, device: net_null0, addresses: [198.18.0.254/24], mtu: 575 }
  - { name: lan0, device: net_null1, addresses: [\"2001:2::fe/64\"], mtu: 1279 }
  - { name: big, device: net_null2, mtu: 9001 }
"
        ),
        [
            "t.yaml:2:73: mtu 575; expected 576..=9000, such as mtu: 1500",
            "t.yaml:3:73: mtu 1279; expected 1280..=9000 (the port has IPv6 addresses), such as mtu: 1500",
            "t.yaml:4:42: mtu 9001; expected 576..=9000, such as mtu: 1500",
        ]
    );
}

#[test]
fn tunnel_csum_errors() {
    let t = with_ifaces(
        "\
services:
  - proto: tcp
    vip: 198.18.0.100
    port: 80
    method: tunnel
    tunnel_type: gre
    tunnel_csum: remcsum
    real_servers:
      - { address: 198.19.0.11, tunnel_type: ipip, tunnel_csum: csum }
      - { address: 198.19.0.12, method: masq, tunnel_csum: csum }
",
    );
    assert_eq!(
        errs(&t),
        [
            "t.yaml:14:18: tunnel_csum remcsum with tunnel_type gre; expected nocsum or csum (remote checksum offload is GUE only)",
            "t.yaml:16:65: `tunnel_csum` with tunnel_type ipip; expected it only with `tunnel_type: gue` or `gre`",
            "t.yaml:17:47: `tunnel_csum` without method tunnel; expected it only with `tunnel_type: gue` or `gre`",
        ]
    );
}
