//! Tests of the ipvsadm grammar and output. Goldens live in `testdata/`:
//! `lab_*` come from `gen_goldens.py` (ipvsadm's printf formats transcribed
//! independently), `seed_*` are real ipvsadm output from the LVS tutorials.

use super::*;
use proptest::prelude::*;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

fn v4(s: &str) -> IpAddr {
    IpAddr::V4(s.parse::<Ipv4Addr>().unwrap())
}
fn v6(s: &str) -> IpAddr {
    IpAddr::V6(s.parse::<Ipv6Addr>().unwrap())
}
fn tcp(addr: &str, port: u16) -> VirtualService {
    VirtualService::Inet {
        protocol: Protocol::Tcp,
        addr: addr.parse().unwrap(),
        port,
    }
}
fn fwm(mark: u32) -> VirtualService {
    VirtualService::Fwmark {
        mark,
        family: AddressFamily::Inet,
    }
}
fn dest(addr: &str, port: u16, method: ForwardMethod, weight: u32) -> DestConfig {
    DestConfig {
        addr: addr.parse().unwrap(),
        port,
        method,
        weight,
        u_threshold: 0,
        l_threshold: 0,
    }
}
fn parse(line: &str) -> Result<IpvsCommand, IpvsError> {
    let mut argv = vec!["ipvsadm"];
    argv.extend(line.split_whitespace());
    parse_argv(&argv)
}
fn ok(line: &str) -> IpvsCommand {
    parse(line).unwrap_or_else(|e| panic!("{line}: {e}"))
}
fn svc(vs: VirtualService, sched: &str) -> ServiceConfig {
    ServiceConfig {
        scheduler: sched.to_string(),
        ..ServiceConfig::new(vs)
    }
}
fn persistent(mut c: ServiceConfig, timeout: u32) -> ServiceConfig {
    c.persistence = Some(Persistence {
        timeout,
        netmask: Netmask::host(c.service.family()),
    });
    c
}
fn stats(v: [u64; 5]) -> Stats {
    Stats {
        conns: v[0],
        inpkts: v[1],
        outpkts: v[2],
        inbytes: v[3],
        outbytes: v[4],
    }
}
fn rates(v: [u64; 5]) -> Rates {
    Rates {
        cps: v[0],
        inpps: v[1],
        outpps: v[2],
        inbps: v[3],
        outbps: v[4],
    }
}
#[allow(clippy::too_many_arguments)]
fn dview(
    config: DestConfig,
    u: u32,
    l: u32,
    active: u32,
    inactive: u32,
    persist: u32,
    st: [u64; 5],
    rt: [u64; 5],
) -> DestView {
    DestView {
        config: DestConfig {
            u_threshold: u,
            l_threshold: l,
            ..config
        },
        active_conns: active,
        inactive_conns: inactive,
        persistent_conns: persist,
        stats: stats(st),
        rates: rates(rt),
    }
}

/// The `lab` fixture; must match SERVICES in testdata/gen_goldens.py.
fn lab() -> Vec<ServiceView> {
    let z = [0; 5];
    let gue = ForwardMethod::Tunnel(TunnelType::Gue {
        port: 6080,
        csum: TunnelCsum::Csum,
    });
    let gre = ForwardMethod::Tunnel(TunnelType::Gre {
        csum: TunnelCsum::NoCsum,
    });
    let ipip = ForwardMethod::Tunnel(TunnelType::Ipip);
    let mut web = ServiceView::new(
        svc(tcp("198.18.0.100", 80), "wrr"),
        vec![
            dview(
                dest("198.19.0.12", 8080, ForwardMethod::Masq, 2),
                100,
                50,
                3,
                15,
                1,
                [100, 2000, 1999, 300000, 123456789],
                [1, 20, 19, 3000, 2500],
            ),
            dview(
                dest("198.19.0.11", 8080, ForwardMethod::Masq, 6),
                0,
                0,
                10,
                200,
                2,
                [5, 6, 7, 8, 9],
                [0, 0, 0, 100000000, 99999999],
            ),
        ],
    );
    web.stats = stats([123456789, 2345678901, 99, 123456789012345, 999999999999999]);
    web.rates = rates([12, 345, 0, 150000000, 7]);
    let mut dns = svc(
        VirtualService::Inet {
            protocol: Protocol::Udp,
            addr: v4("198.18.0.53"),
            port: 53,
        },
        "rr",
    );
    dns.one_packet = true;
    let mut mark10 = svc(fwm(10), "sh");
    mark10.sched_flags = SchedFlags {
        flag1: true,
        flag2: true,
        flag3: false,
    };
    mark10.persistence = Some(Persistence {
        timeout: 360,
        netmask: Netmask::V4(Ipv4Addr::new(255, 255, 255, 0)),
    });
    let mut mark10 = ServiceView::new(
        mark10,
        vec![
            dview(dest("198.19.0.33", 0, ipip, 1), 0, 0, 0, 0, 0, z, z),
            dview(dest("198.19.0.31", 0, gue, 3), 0, 0, 1, 2, 3, z, z),
            dview(dest("198.19.0.32", 0, gre, 4), 0, 0, 0, 1, 0, z, z),
        ],
    );
    mark10.stats = stats([1, 2, 3, 4, 5]);
    let mut https6 = svc(tcp("2001:2::100", 443), "wlc");
    https6.persistence = Some(Persistence {
        timeout: 300,
        netmask: Netmask::V6(64),
    });
    let mut sctp = svc(
        VirtualService::Inet {
            protocol: Protocol::Sctp,
            addr: v4("198.18.0.7"),
            port: 9999,
        },
        "rr",
    );
    sctp.sched_flags = SchedFlags {
        flag1: true,
        flag2: false,
        flag3: true,
    };
    vec![
        web,
        ServiceView::new(
            dns,
            vec![dview(
                dest("198.19.0.21", 53, ForwardMethod::FullNat, 1),
                0,
                0,
                0,
                7,
                0,
                z,
                z,
            )],
        ),
        mark10,
        ServiceView::new(
            https6,
            vec![dview(
                dest("2001:2::11", 443, ForwardMethod::Route, 0),
                0,
                0,
                4,
                5,
                6,
                z,
                z,
            )],
        ),
        ServiceView::new(
            persistent(svc(tcp("198.18.0.100", 0), "rr"), 900),
            vec![DestView::new(dest(
                "198.19.0.41",
                0,
                ForwardMethod::Route,
                1,
            ))],
        ),
        ServiceView::new(
            svc(
                VirtualService::Fwmark {
                    mark: 11,
                    family: AddressFamily::Inet6,
                },
                "rr",
            ),
            vec![DestView::new(dest("2001:2::21", 0, ForwardMethod::Masq, 1))],
        ),
        ServiceView::new(sctp, vec![]),
    ]
}

fn fmt(f: impl FnOnce(&mut ListFormat)) -> ListFormat {
    let mut format = ListFormat {
        numeric: true,
        ..ListFormat::default()
    };
    f(&mut format);
    format
}

fn assert_text(got: &str, want: &str) {
    if got != want {
        panic!("output differs\n--- got ---\n{got}--- want ---\n{want}---");
    }
}

#[test]
fn golden_lab_listings() {
    let lab = lab();
    let cases: [(&str, ListFormat); 9] = [
        (include_str!("testdata/lab_Ln.txt"), fmt(|_| {})),
        (
            include_str!("testdata/lab_Ln_stats.txt"),
            fmt(|f| f.stats = true),
        ),
        (
            include_str!("testdata/lab_Ln_stats_exact.txt"),
            fmt(|f| {
                f.stats = true;
                f.exact = true
            }),
        ),
        (
            include_str!("testdata/lab_Ln_rate.txt"),
            fmt(|f| f.rate = true),
        ),
        (
            include_str!("testdata/lab_Ln_rate_exact.txt"),
            fmt(|f| {
                f.rate = true;
                f.exact = true
            }),
        ),
        (
            include_str!("testdata/lab_Ln_thresholds.txt"),
            fmt(|f| f.thresholds = true),
        ),
        (
            include_str!("testdata/lab_Ln_persistent_conn.txt"),
            fmt(|f| f.persistent_conn = true),
        ),
        (
            include_str!("testdata/lab_Ln_tun_info.txt"),
            fmt(|f| f.tun_info = true),
        ),
        (
            include_str!("testdata/lab_Ln_nosort.txt"),
            fmt(|f| f.nosort = true),
        ),
    ];
    for (want, format) in cases {
        assert_text(&format_list(&lab, &format), want);
    }
    assert_text(
        &format_service(&lab[0], &fmt(|_| {})),
        include_str!("testdata/lab_Ln_service.txt"),
    );
}

#[test]
fn golden_lab_rules_and_restore() {
    let rules: Vec<ServiceRule> = lab().iter().map(ServiceRule::from).collect();
    let want = include_str!("testdata/lab_Sn.txt");
    assert_text(&format_rules(&rules), want);
    // -S | -R rebuilds the same table.
    let mut table = RuleTable::new();
    table.restore(want, "rvsadm").unwrap();
    assert_text(&format_rules(table.services()), want);
}

fn conns() -> Vec<ConnView> {
    let c = |protocol,
             expires,
             state: &str,
             src: (IpAddr, u16),
             vip: (IpAddr, u16),
             dst: (IpAddr, u16)| {
        ConnView {
            protocol,
            state: state.to_string(),
            expires,
            client_addr: src.0,
            client_port: src.1,
            virtual_addr: vip.0,
            virtual_port: vip.1,
            dest_addr: dst.0,
            dest_port: dst.1,
            pe: None,
        }
    };
    let mut sip = c(
        ConnProtocol::Udp,
        100,
        "UDP",
        (v4("198.18.0.9"), 5060),
        (v4("198.18.0.60"), 5060),
        (v4("198.19.0.60"), 5060),
    );
    sip.pe = Some(PeData {
        name: "sip".into(),
        data: "call-1@198.18.0.9".into(),
    });
    vec![
        c(
            ConnProtocol::Tcp,
            899,
            "ESTABLISHED",
            (v4("198.18.0.1"), 40000),
            (v4("198.18.0.100"), 80),
            (v4("198.19.0.11"), 8080),
        ),
        c(
            ConnProtocol::Tcp,
            65,
            "FIN_WAIT",
            (v4("198.18.0.2"), 40001),
            (v4("198.18.0.100"), 80),
            (v4("198.19.0.12"), 8080),
        ),
        c(
            ConnProtocol::Udp,
            299,
            "UDP",
            (v4("198.18.0.3"), 5353),
            (v4("198.18.0.53"), 53),
            (v4("198.19.0.21"), 53),
        ),
        c(
            ConnProtocol::Ip,
            6000,
            "NONE",
            (v4("198.18.0.0"), 0),
            (v4("0.0.0.10"), 0),
            (v4("198.19.0.31"), 0),
        ),
        c(
            ConnProtocol::Tcp,
            7,
            "SYN_RECV",
            (v6("2001:2::1"), 50000),
            (v6("2001:2::100"), 443),
            (v6("2001:2::11"), 443),
        ),
        sip,
    ]
}

#[test]
fn golden_connections() {
    assert_text(
        &format_connections(&conns(), &fmt(|_| {})),
        include_str!("testdata/lab_Lnc.txt"),
    );
    assert_text(
        &format_connections(&conns(), &fmt(|f| f.persistent_conn = true)),
        include_str!("testdata/lab_Lnc_persistent_conn.txt"),
    );
}

#[test]
fn golden_seed_outputs() {
    let route = ForwardMethod::Route;
    let masq = ForwardMethod::Masq;
    let f = fmt(|_| {});
    let with = |config: DestConfig, active: u32, inactive: u32| DestView {
        active_conns: active,
        inactive_conns: inactive,
        ..DestView::new(config)
    };
    // 000: DR lab, `ipvsadm -ln`.
    let dr = ServiceView::new(
        svc(tcp("198.18.0.160", 80), "rr"),
        vec![
            DestView::new(dest("198.19.0.162", 80, route, 1)),
            DestView::new(dest("198.19.0.161", 80, route, 1)),
        ],
    );
    assert_text(
        &format_list(&[dr], &f),
        include_str!("testdata/seed_000_dr_Ln.txt"),
    );
    // 000: NAT lab.
    let nat = ServiceView::new(
        svc(tcp("198.18.50.128", 80), "rr"),
        vec![
            with(dest("198.19.246.161", 80, masq, 1), 1, 3),
            with(dest("198.19.246.162", 80, masq, 1), 1, 3),
        ],
    );
    assert_text(
        &format_list(&[nat], &f),
        include_str!("testdata/seed_000_nat_Ln.txt"),
    );
    // 003: NAT with WordPress, then sh with one 8080 server.
    let masq_lab = ServiceView::new(
        svc(tcp("198.18.0.111", 80), "rr"),
        vec![
            with(dest("198.19.137.131", 80, masq, 1), 0, 5),
            with(dest("198.19.137.130", 80, masq, 1), 1, 4),
        ],
    );
    assert_text(
        &format_list(std::slice::from_ref(&masq_lab), &f),
        include_str!("testdata/seed_003_masq_Ln.txt"),
    );
    assert_text(
        &format_rules(&[ServiceRule::from(&masq_lab)]),
        include_str!("testdata/seed_003_Sn.txt"),
    );
    let sh = ServiceView::new(
        svc(tcp("198.18.0.111", 80), "sh"),
        vec![DestView::new(dest("198.19.137.131", 8080, masq, 6))],
    );
    assert_text(
        &format_list(&[sh], &f),
        include_str!("testdata/seed_003_sh_Ln.txt"),
    );
    // 003: 443 added next to 80 (sorted by port), DR.
    let two = vec![
        ServiceView::new(
            svc(tcp("198.18.0.100", 443), "rr"),
            vec![
                DestView::new(dest("198.19.137.130", 443, route, 1)),
                DestView::new(dest("198.19.137.131", 443, route, 1)),
            ],
        ),
        ServiceView::new(
            svc(tcp("198.18.0.100", 80), "wrr"),
            vec![
                with(dest("198.19.137.131", 80, route, 1), 0, 2),
                with(dest("198.19.137.130", 80, route, 1), 0, 1),
            ],
        ),
    ];
    assert_text(
        &format_list(&two, &f),
        include_str!("testdata/seed_003_two_services_Ln.txt"),
    );
    // 003: firewall mark 10 for 80+443, after `-E -f 10 -s rr -p`.
    let cmd = ok("-E -f 10 -s rr -p");
    let IpvsCommand::EditService { service } = cmd else {
        panic!("{cmd:?}")
    };
    let fwm_lab = ServiceView::new(
        service,
        vec![
            with(dest("198.19.137.131", 0, route, 1), 0, 0),
            with(dest("198.19.137.130", 0, route, 1), 2, 0),
        ],
    );
    assert_text(
        &format_list(&[fwm_lab], &f),
        include_str!("testdata/seed_003_fwm_persistent_Ln.txt"),
    );
    // 004: `ipvsadm -Ln --timeout` with the defaults.
    assert_text(
        &format_timeouts(&TimeoutsView::default()),
        include_str!("testdata/seed_004_timeout.txt"),
    );
}

#[test]
fn design_facts() {
    // Port 0 with -p 900, and -p alone = 360.
    let port0 = ServiceView::new(
        persistent(svc(tcp("198.18.2.254", 0), "rr"), 900),
        vec![DestView::new(dest(
            "198.19.0.1",
            0,
            ForwardMethod::Route,
            1,
        ))],
    );
    let out = format_list(&[port0], &fmt(|_| {}));
    assert!(out.contains("\nTCP  198.18.2.254:0 rr persistent 900\n"));
    assert!(
        out.contains("\n  -> 198.19.0.1:0                 Route   1      0          0         \n")
    );
    let mut t = TimeoutsView::default();
    t.apply_set(&TimeoutsView {
        tcp: 30,
        tcp_fin: 0,
        udp: 60,
    });
    assert_eq!(format_timeouts(&t), "Timeout (tcp tcpfin udp): 30 120 60\n");
}

#[test]
fn largenum_scaling_boundaries() {
    let row = |n: u64, exact: bool| {
        let mut v = ServiceView::new(svc(tcp("198.18.0.1", 80), "rr"), vec![]);
        v.stats.conns = n;
        let out = format_list(
            &[v],
            &fmt(|f| {
                f.stats = true;
                f.exact = exact
            }),
        );
        let line = out.lines().nth(3).unwrap().to_string();
        // The other four counters are 0, nine columns each.
        line[33..line.len() - 4 * 9].to_string()
    };
    assert_eq!(row(99_999_999, false), " 99999999");
    assert_eq!(row(100_000_000, false), "  100000K");
    assert_eq!(row(999_999_999, false), "  999999K");
    assert_eq!(row(1_000_000_000, false), "    1000M");
    assert_eq!(row(99_999_999_999, false), "   99999M");
    assert_eq!(row(100_000_000_000, false), "     100G");
    assert_eq!(row(99_999_999_999_999, false), "   99999G");
    assert_eq!(row(100_000_000_000_000, false), "     100T");
    assert_eq!(row(u64::MAX, false), "18446744T");
    assert_eq!(row(u64::MAX, true), " 18446744073709551615");
    assert_eq!(row(12_345_678, true), " 12345678");
    assert_eq!(row(123_456_789, true), " 123456789");
}

/// Every command line of ipvsadm(8) and of the tutorials, addresses moved
/// to 198.18.0.0/15 and 2001:2::/48.
#[test]
fn parses_man_page_and_tutorial_commands() {
    let masq = ForwardMethod::Masq;
    let route = ForwardMethod::Route;
    let vip = tcp("198.18.2.254", 80);
    let add = |c: ServiceConfig| IpvsCommand::AddService { service: c };
    let add_rs = |service, server| IpvsCommand::AddServer { service, server };
    let cases: Vec<(&str, IpvsCommand)> = vec![
        ("-A -t 198.18.2.254:80 -s rr", add(svc(vip, "rr"))),
        ("-A -t 198.18.2.254:80", add(svc(vip, "wlc"))),
        ("-A -t 198.18.2.254:80 -s wrr", add(svc(vip, "wrr"))),
        (
            "-a -t 198.18.2.254:80 -r 198.19.2.10 -g",
            add_rs(vip, dest("198.19.2.10", 80, route, 1)),
        ),
        (
            "-a -t 198.18.2.254:80 -r 198.19.2.10",
            add_rs(vip, dest("198.19.2.10", 80, route, 1)),
        ),
        (
            "-a -t 198.18.2.254:80 -r 198.19.3.10 -m",
            add_rs(vip, dest("198.19.3.10", 80, masq, 1)),
        ),
        (
            "-a -t 198.18.2.254:80 -r 198.19.2.10 -i",
            add_rs(
                vip,
                dest("198.19.2.10", 80, ForwardMethod::Tunnel(TunnelType::Ipip), 1),
            ),
        ),
        (
            "-a -t 198.18.2.254:80 -r 198.19.2.10:80 -m -w 5",
            add_rs(vip, dest("198.19.2.10", 80, masq, 5)),
        ),
        (
            "-a -t 198.18.2.254:80 -r 198.19.2.10:80 -g -w 2",
            add_rs(vip, dest("198.19.2.10", 80, route, 2)),
        ),
        // DR cannot remap ports: the server gets the virtual port.
        (
            "-a -t 198.18.2.254:80 -r 198.19.2.10:8080 -g",
            add_rs(vip, dest("198.19.2.10", 80, route, 1)),
        ),
        (
            "-a -t 198.18.0.111:80 -r 198.19.137.131:8080 -m -w 6",
            add_rs(
                tcp("198.18.0.111", 80),
                dest("198.19.137.131", 8080, masq, 6),
            ),
        ),
        (
            "-E -t 198.18.2.254:80 -s wrr",
            IpvsCommand::EditService {
                service: svc(vip, "wrr"),
            },
        ),
        (
            "-e -t 198.18.2.254:80 -r 198.19.3.10 -m -w 5",
            IpvsCommand::EditServer {
                service: vip,
                server: dest("198.19.3.10", 80, masq, 5),
            },
        ),
        (
            "-d -t 198.18.0.111:80 -r 198.19.137.130:8080",
            IpvsCommand::DeleteServer {
                service: tcp("198.18.0.111", 80),
                addr: v4("198.19.137.130"),
                port: 8080,
            },
        ),
        (
            "-d -t 198.18.0.111:80 -r 198.19.137.130",
            IpvsCommand::DeleteServer {
                service: tcp("198.18.0.111", 80),
                addr: v4("198.19.137.130"),
                port: 80,
            },
        ),
        (
            "-D -t 198.18.2.254:80",
            IpvsCommand::DeleteService { service: vip },
        ),
        (
            "-A -t 198.18.199.199 -s rr -p 900",
            add(persistent(svc(tcp("198.18.199.199", 0), "rr"), 900)),
        ),
        (
            "-A -t 198.18.199.199 -s rr -p",
            add(persistent(svc(tcp("198.18.199.199", 0), "rr"), 360)),
        ),
        (
            "-a -t 198.18.199.199 -r 198.19.1.1",
            add_rs(tcp("198.18.199.199", 0), dest("198.19.1.1", 0, route, 1)),
        ),
        ("-A -f 10 -s rr -p", add(persistent(svc(fwm(10), "rr"), 360))),
        ("-A -f 1  -s rr", add(svc(fwm(1), "rr"))),
        (
            "-E -f 10 -s rr -p",
            IpvsCommand::EditService {
                service: persistent(svc(fwm(10), "rr"), 360),
            },
        ),
        (
            "-a -f 10 -r 198.19.137.131 -g",
            add_rs(fwm(10), dest("198.19.137.131", 0, route, 1)),
        ),
        (
            "-a -f 1 -r 198.19.10.1:0 -m",
            add_rs(fwm(1), dest("198.19.10.1", 0, masq, 1)),
        ),
        (
            "-a -t 198.18.44.110:80 -r 198.19.10.1:80 -i --tun-type gue --tun-port 6080 --tun-nocsum",
            add_rs(
                tcp("198.18.44.110", 80),
                dest(
                    "198.19.10.1",
                    80,
                    ForwardMethod::Tunnel(TunnelType::Gue {
                        port: 6080,
                        csum: TunnelCsum::NoCsum,
                    }),
                    1,
                ),
            ),
        ),
        (
            "-a -t 198.18.44.110:80 -r 198.19.10.3:80 -i --tun-type gue --tun-port 6080 --tun-remcsum",
            add_rs(
                tcp("198.18.44.110", 80),
                dest(
                    "198.19.10.3",
                    80,
                    ForwardMethod::Tunnel(TunnelType::Gue {
                        port: 6080,
                        csum: TunnelCsum::RemCsum,
                    }),
                    1,
                ),
            ),
        ),
        (
            "-a -t 198.18.0.1:80 -r 198.19.11.1:80 -i --tun-type gre --tun-csum",
            add_rs(
                tcp("198.18.0.1", 80),
                dest(
                    "198.19.11.1",
                    80,
                    ForwardMethod::Tunnel(TunnelType::Gre {
                        csum: TunnelCsum::Csum,
                    }),
                    1,
                ),
            ),
        ),
        (
            "-A -t [2001:2::80]:80 -s rr",
            add(svc(tcp("2001:2::80", 80), "rr")),
        ),
        (
            "-a -t [2001:2::80]:80 -r [2001:2::a0a0]:80 -m",
            add_rs(tcp("2001:2::80", 80), dest("2001:2::a0a0", 80, masq, 1)),
        ),
        (
            "-a -t 198.18.0.100:80 -r 198.19.0.11:8080 --fullnat -w 3",
            add_rs(
                tcp("198.18.0.100", 80),
                dest("198.19.0.11", 8080, ForwardMethod::FullNat, 3),
            ),
        ),
        (
            "--set 900 120 300",
            IpvsCommand::SetTimeouts(TimeoutsView::default()),
        ),
        (
            "--set 30 5 60",
            IpvsCommand::SetTimeouts(TimeoutsView {
                tcp: 30,
                tcp_fin: 5,
                udp: 60,
            }),
        ),
        ("-Z", IpvsCommand::Zero { service: None }),
        (
            "-Z -t 198.18.2.254:80",
            IpvsCommand::Zero { service: Some(vip) },
        ),
        ("-C", IpvsCommand::Clear),
        ("--clear", IpvsCommand::Clear),
        ("-S", IpvsCommand::Save { numeric: false }),
        ("-S -n", IpvsCommand::Save { numeric: true }),
        ("--save", IpvsCommand::Save { numeric: false }),
        ("-R", IpvsCommand::Restore),
        ("-h", IpvsCommand::Help),
        ("-v", IpvsCommand::Version),
    ];
    for (line, want) in cases {
        assert_eq!(ok(line), want, "{line}");
    }
}

#[test]
fn parses_list_variants() {
    let list = |target, f: fn(&mut ListFormat)| {
        let mut format = ListFormat::default();
        f(&mut format);
        IpvsCommand::List(ListRequest { target, format })
    };
    let cases: Vec<(&str, IpvsCommand)> = vec![
        ("", list(ListTarget::All, |_| {})),
        ("-L", list(ListTarget::All, |_| {})),
        ("-l", list(ListTarget::All, |_| {})),
        ("-Ln", list(ListTarget::All, |f| f.numeric = true)),
        ("-ln", list(ListTarget::All, |f| f.numeric = true)),
        ("-L -n", list(ListTarget::All, |f| f.numeric = true)),
        (
            "--list --numeric",
            list(ListTarget::All, |f| f.numeric = true),
        ),
        (
            "-L -n --stats",
            list(ListTarget::All, |f| {
                f.numeric = true;
                f.stats = true
            }),
        ),
        (
            "-Ln --rate --exact",
            list(ListTarget::All, |f| {
                f.numeric = true;
                f.rate = true;
                f.exact = true
            }),
        ),
        (
            "-Ln --thresholds --sort",
            list(ListTarget::All, |f| {
                f.numeric = true;
                f.thresholds = true
            }),
        ),
        (
            "-Ln --persistent-conn --nosort",
            list(ListTarget::All, |f| {
                f.numeric = true;
                f.persistent_conn = true;
                f.nosort = true
            }),
        ),
        ("-Lnc", list(ListTarget::Connections, |f| f.numeric = true)),
        ("-Lcn", list(ListTarget::Connections, |f| f.numeric = true)),
        (
            "-Lnc --persistent-conn",
            list(ListTarget::Connections, |f| {
                f.numeric = true;
                f.persistent_conn = true
            }),
        ),
        (
            "-Ln --timeout",
            list(ListTarget::Timeouts, |f| f.numeric = true),
        ),
        ("-L --daemon", list(ListTarget::Daemons, |_| {})),
        (
            "-Ln -t 198.18.0.1:80",
            IpvsCommand::List(ListRequest {
                target: ListTarget::Service {
                    service: tcp("198.18.0.1", 80),
                },
                format: fmt(|_| {}),
            }),
        ),
        (
            "-Ln --tun-info",
            list(ListTarget::All, |f| {
                f.numeric = true;
                f.tun_info = true
            }),
        ),
    ];
    for (line, want) in cases {
        assert_eq!(ok(line), want, "{line}");
    }
}

#[test]
fn parses_popt_forms() {
    let base = ok("-A -t 198.18.0.1:80 -s rr -p 600");
    for line in [
        "-A -t198.18.0.1:80 -srr -p600",
        "-A --tcp-service=198.18.0.1:80 --scheduler=rr --persistent=600",
        "-A --tcp-service 198.18.0.1:80 --scheduler rr --persistent 600",
        "-A -t=198.18.0.1:80 -s=rr -p=600",
        "-A -p 600 -s rr -t 198.18.0.1:80",
    ] {
        assert_eq!(ok(line), base, "{line}");
    }
    // -p takes no value when the next word is an option.
    assert_eq!(
        ok("-A -t 198.18.0.1:80 -p -s rr"),
        ok("-A -t 198.18.0.1:80 -s rr -p")
    );
    // Netmask as a dotted mask, an inet_aton short form, or a v6 prefix.
    let IpvsCommand::AddService { service } = ok("-A -t 198.18.0.1:80 -p 60 -M 255.255.255.0")
    else {
        panic!()
    };
    assert_eq!(
        service.persistence.unwrap().netmask,
        Netmask::V4(Ipv4Addr::new(255, 255, 255, 0))
    );
    let IpvsCommand::AddService { service } = ok("-A -t [2001:2::1]:80 -p -M 64") else {
        panic!()
    };
    assert_eq!(service.persistence.unwrap().netmask, Netmask::V6(64));
    // An IPv6 service resets a mask given before it (as ipvsadm).
    let IpvsCommand::AddService { service } = ok("-A -M 255.0.0.0 -t [2001:2::1]:80 -p") else {
        panic!()
    };
    assert_eq!(service.persistence.unwrap().netmask, Netmask::V6(128));
    let IpvsCommand::AddService { service } = ok("-A -f 7 -6 -s mh -b mh-port,mh-fallback -p")
    else {
        panic!()
    };
    assert_eq!(
        service.service,
        VirtualService::Fwmark {
            mark: 7,
            family: AddressFamily::Inet6
        }
    );
    assert!(service.sched_flags.flag1 && service.sched_flags.flag2);
    // inet_aton forms and IPv6 without brackets (no port).
    assert_eq!(ok("-A -t 198.18.1:80"), ok("-A -t 198.18.0.1:80"));
    assert_eq!(ok("-A -t 0xc6120001:80"), ok("-A -t 198.18.0.1:80"));
    assert_eq!(
        ok("-A -t 2001:2::1 -p"),
        IpvsCommand::AddService {
            service: persistent(svc(tcp("2001:2::1", 0), "wlc"), 360)
        }
    );
    // -- ends the options; ipvsadm words after it are leftovers.
    assert_eq!(ok("--set -- 1 2 3"), ok("--set 1 2 3"));
    assert_eq!(ok("1 --set 2 3"), ok("--set 1 2 3"));
    // Daemons parse (rvs refuses them later).
    assert_eq!(
        ok("--start-daemon master --mcast-interface eth1 --syncid 3"),
        IpvsCommand::StartDaemon(SyncDaemonConfig {
            state: SyncState::Master,
            mcast_interface: "eth1".into(),
            syncid: Some(3),
            mcast_group: None,
            mcast_port: None,
            mcast_ttl: None,
            sync_maxlen: None,
        })
    );
    assert_eq!(
        ok("--stop-daemon backup"),
        IpvsCommand::StopDaemon {
            state: SyncState::Backup,
            syncid: None
        }
    );
    // One-packet scheduling on UDP and threshold options.
    let IpvsCommand::AddService { service } = ok("-A -u 198.18.0.53:53 -o") else {
        panic!()
    };
    assert!(service.one_packet);
    let IpvsCommand::AddServer { server, .. } =
        ok("-a -t 198.18.0.1:80 -r 198.19.0.1 -m -x 100 -y 10 -w 0")
    else {
        panic!()
    };
    assert_eq!(
        (server.u_threshold, server.l_threshold, server.weight),
        (100, 10, 0)
    );
}

/// (command line, message, exit code), each checked against ipvsadm.c.
#[test]
fn errors_match_ipvsadm() {
    let try_help = "Try `ipvsadm -h' or 'ipvsadm --help' for more information.";
    let cases: Vec<(&str, &str, i32)> = vec![
        ("-n -L", try_help, 255),
        ("--bogus", try_help, 255),
        ("198.18.0.1", try_help, 255),
        ("-L --bogus", "--bogus: unknown option", 255),
        ("-Lq", "-Lq: unknown option", 255),
        ("-A -t", "-t: missing argument", 255),
        ("-L --stats=1", "--stats=1: option does not take an argument", 255),
        ("-L -A", "invalid option `-A'", 2),
        ("-LA", "invalid option `-LA'", 2),
        ("-L --start-daemon master", "invalid option `master'", 2),
        ("-A -t 198.18.0.1 -s rr", "Zero port specified for non-persistent service", 2),
        ("-A -t 198.18.0.1:80 -o", "One-Packet Scheduling is only for UDP virtual services", 2),
        ("-A -t 198.18.0.1:80 -t 198.18.0.2:80", "multiple 'service-address' options specified", 2),
        ("-Ln -n", "multiple 'numeric' options specified", 2),
        ("-A -t 198.18.0.1:80 -m", "Illegal 'forwarding-method' option with the 'add-service' command", 2),
        ("-A -t 198.18.0.1:80 -r 198.19.0.1", "Illegal 'real-server' option with the 'add-service' command", 2),
        ("-A -s rr", "You need to supply the 'service-address' option for the 'add-service' command", 2),
        ("-a -t 198.18.0.1:80", "You need to supply the 'real-server' option for the 'add-server' command", 2),
        ("-d -t 198.18.0.1:80 -r 198.19.0.1 -w 2", "Illegal 'weight' option with the 'delete-server' command", 2),
        ("-C -n", "Illegal 'numeric' option with the 'flush' command", 2),
        ("-Lc -t 198.18.0.1:80", "The option 'service-address' conflicts with the 'connection' option in the 'list' command", 2),
        ("-L --timeout --daemon", "The option 'daemon' conflicts with the 'timeout' option in the 'list' command", 2),
        ("-Lc --stats", "options conflicts in the list command", 2),
        ("-L --timeout --persistent-conn", "options conflicts in the list command", 2),
        ("-A -t 198.18.0.300:80", "illegal virtual server address[:port] specified", 2),
        ("-A -t 80", "illegal virtual server address[:port] specified", 2),
        ("-A -t 198.18.0.1:70000", "illegal virtual server address[:port] specified", 2),
        ("-A -t [2001:2::1]80", "illegal virtual server address[:port] specified", 2),
        ("-a -t 198.18.0.1:80 -r 198.19.0.x", "illegal real server address[:port] specified", 2),
        ("-A -t www.example.com:80", "`www.example.com' is not a numeric address: rvsadm resolves no names, give an IP address and a port number", 2),
        ("-A -t 198.18.0.1:http", "`http' is not a numeric port: rvsadm resolves no names, give an IP address and a port number", 2),
        ("-a -t 198.18.0.1:80 -r 198.19.0.1 -w 65536", "illegal weight specified", 2),
        ("-a -t 198.18.0.1:80 -r 198.19.0.1 -w -1", "illegal weight specified", 2),
        ("-a -t 198.18.0.1:80 -r 198.19.0.1 -x abc", "illegal u_threshold specified", 2),
        ("-a -t 198.18.0.1:80 -r 198.19.0.1 -y 2147483648", "illegal l_threshold specified", 2),
        ("-A -t 198.18.0.1:80 -p 0", "invalid timeout value `0' specified", 2),
        ("-A -t 198.18.0.1:80 -p 2678401", "invalid timeout value `2678401' specified", 2),
        ("-A -t 198.18.0.1:80 -p x", "invalid timeout value `x' specified", 2),
        ("-A -f 0", "invalid fwmark value `0' specified", 2),
        ("-A -f 4294967296", "invalid fwmark value `4294967296' specified", 2),
        ("-A -6 -f 1", "-6 used before -f\n", 2),
        ("-A -t 198.18.0.1:80 -p -M 255.255.255.256", "illegal virtual server persistent mask specified", 2),
        ("-A -t [2001:2::1]:80 -p -M 129", "illegal ipv6 netmask specified", 2),
        ("-A -t 198.18.0.1:80 -s rr -b sh-port", "incompatible scheduler flag `sh-port'", 2),
        ("-A -t 198.18.0.1:80 -s sh -b sh-port,bogus", "invalid scheduler flag `bogus'", 2),
        ("--set 1 2", "--set option requires 3 timeout values", 2),
        ("--set 1 2 x", "invalid timeout value `x' specified", 2),
        ("--set 1 2 3 4", "unexpected argument 4", 2),
        ("-C extra", "unexpected argument extra", 2),
        ("-a -t 198.18.0.1:80 -r [2001:2::1]:80 -m", "Different address family is allowed only for tunneling servers", 2),
        ("-a -t 198.18.0.1:80 -r 198.19.0.1 -m --tun-type gue", "Tunnel options conflict with forward method", 2),
        ("-a -t 198.18.0.1:80 -r 198.19.0.1 -i --tun-type gue", "You need to supply the 'tun-port' option for the 'gue' tunnel type", 2),
        ("-a -t 198.18.0.1:80 -r 198.19.0.1 -i --tun-port 5", "Illegal 'tun-port' option with the 'ipip' tunnel type", 2),
        ("-a -t 198.18.0.1:80 -r 198.19.0.1 -i --tun-type gre --tun-remcsum", "Illegal 'tun-remcsum' option with the 'gre' tunnel type", 2),
        ("-a -t 198.18.0.1:80 -r 198.19.0.1 -i --tun-type gue --tun-port 1 --tun-csum --tun-remcsum", "The option 'tun-remcsum' conflicts with the 'tun-csum' option in the 'gue' tunnel type", 2),
        ("-a -t 198.18.0.1:80 -r 198.19.0.1 -i --tun-type vxlan", "illegal tunnel type specified", 2),
        ("-a -t 198.18.0.1:80 -r 198.19.0.1 -i --tun-type gue --tun-port 0", "illegal tunnel port specified", 2),
        ("-a -t 198.18.0.1:80 -r 198.19.0.1 -m --fullnat", "multiple 'forwarding-method' options specified", 2),
        ("--start-daemon primary", "illegal start-daemon parameter specified", 2),
        ("--stop-daemon primary", "illegal start_daemon specified", 2),
        ("--start-daemon master --mcast-group 198.18.0.1", "invalid IPv4 mcast-group `198.18.0.1'", 2),
        ("--start-daemon master --mcast-group 2001:2::1", "invalid IPv6 mcast-group `2001:2::1'", 2),
        ("--start-daemon master --mcast-port 0", "illegal mcast-port specified", 2),
        ("--start-daemon master --mcast-ttl 256", "illegal mcast-ttl specified", 2),
        ("--start-daemon master --sync-maxlen 65508", "illegal sync-maxlen specified", 2),
        ("--start-daemon master --syncid 256", "illegal syncid specified", 2),
    ];
    for (line, message, code) in cases {
        match parse(line) {
            Ok(cmd) => panic!("{line}: parsed as {cmd:?}"),
            Err(e) => {
                assert_eq!(e.to_string(), message, "{line}");
                assert_eq!(e.exit_code(), code, "{line}");
            }
        }
    }
}

#[test]
fn kernel_refusals_and_exit_codes() {
    let mut table = RuleTable::new();
    let add = ok("-A -t 198.18.0.1:80 -s rr");
    table.apply(&add).unwrap();
    assert_eq!(table.apply(&add), Err(OpError::ServiceExists));
    let add_rs = ok("-a -t 198.18.0.1:80 -r 198.19.0.1 -m");
    table.apply(&add_rs).unwrap();
    let e = table.apply(&add_rs).unwrap_err();
    assert_eq!(add_rs.failure(e).to_string(), "Destination already exists");
    assert_eq!(add_rs.failure(e).exit_code(), 255);
    let missing = ok("-a -t 198.18.0.2:80 -r 198.19.0.1 -m");
    let e = table.apply(&missing).unwrap_err();
    assert_eq!(e, missing.missing_service());
    assert_eq!(e.to_string(), "Service not defined");
    assert_eq!(
        table.apply(&ok("-e -t 198.18.0.1:80 -r 198.19.0.9 -m")),
        Err(OpError::NoSuchDestination)
    );
    assert_eq!(
        table.apply(&ok("-E -t 198.18.0.1:80 -s bogus")),
        Err(OpError::SchedulerNotFound)
    );
    assert_eq!(
        table.apply(&ok("-a -t 198.18.0.1:80 -r 198.19.0.2 -m -x 1 -y 2")),
        Err(OpError::OutOfRange)
    );
    let del = ok("-D -t 198.18.0.3:80");
    assert_eq!(table.apply(&del), Err(OpError::NoSuchService));
    let list = ok("-Ln -t 198.18.0.3:80");
    assert_eq!(list.failure(list.missing_service()).exit_code(), 1);
    assert_eq!(
        table.apply(&ok("--start-daemon master")),
        Err(OpError::SyncDaemonUnsupported)
    );
    assert_eq!(
        OpError::OutOfMemory.to_string(),
        "Memory allocation problem"
    );
    table.apply(&ok("-C")).unwrap();
    assert!(table.services().is_empty());
}

#[test]
fn rule_text_forms() {
    // ipvsadm(8) example 1 and 3, as `-R` reads them.
    let text = "\n-A -t 198.18.44.110:80 -s rr\n\
        -a -t 198.18.44.110:80 -r 198.19.10.1:80 -m\n\
        ipvsadm -a -t 198.18.44.110:80 -r 198.19.10.2:80 -i --tun-type gue --tun-port 6080 \\\n\
        --tun-nocsum\n\
        # a comment\n\
        -a -t 198.18.44.110:80 -r 198.19.10.3:80 -m # trailing comment\r\n\
        \t\n";
    let rules = parse_rules(text, "rvsadm").unwrap();
    let lines: Vec<usize> = rules.iter().map(|r| r.line).collect();
    assert_eq!(lines, vec![2, 3, 4, 7]);
    let mut table = RuleTable::new();
    table.restore(text, "rvsadm").unwrap();
    assert_eq!(table.services()[0].real_servers.len(), 3);
    // Errors carry the line and ipvsadm's message.
    let err = parse_rules(
        "-A -t 198.18.0.1:80\n-a -t 198.18.0.1:80 -r x.example -m\n",
        "rvsadm",
    )
    .unwrap_err();
    assert_eq!(err.line, 2);
    assert_eq!(err.error.exit_code(), 2);
    let err = parse_rules("-R\n", "rvsadm").unwrap_err();
    assert_eq!(
        err.error.to_string(),
        "Try `rvsadm -h' or 'rvsadm --help' for more information."
    );
    let err = RuleTable::new()
        .restore("-A -t 198.18.0.1:80\n-A -t 198.18.0.1:80\n", "rvsadm")
        .unwrap_err();
    assert_eq!(err.to_string(), "line 2: Service already exists");
}

#[test]
fn views_round_trip_through_json() {
    let lab = lab();
    let json = serde_json::to_string(&lab).unwrap();
    let back: Vec<ServiceView> = serde_json::from_str(&json).unwrap();
    assert_eq!(back, lab);
    let cmd = ok("-a -f 10 -r 198.19.0.1 -i --tun-type gue --tun-port 6080 --tun-csum -w 3");
    let json = serde_json::to_string(&cmd).unwrap();
    assert_eq!(serde_json::from_str::<IpvsCommand>(&json).unwrap(), cmd);
    let conns = conns();
    let json = serde_json::to_string(&conns).unwrap();
    assert_eq!(serde_json::from_str::<Vec<ConnView>>(&json).unwrap(), conns);
}

#[test]
fn usage_and_version_texts() {
    let text = usage("rvsadm", "0.1.0");
    assert!(text.starts_with("rvsadm 0.1.0 (ipvsadm v1.31 compatible, IPVS v1.2.1)\nUsage:\n"));
    assert!(text.contains("\n  rvsadm -A|E virtual-service [-s scheduler]"));
    assert!(text.contains("\n  --fullnat "));
    assert!(text.ends_with("Multicast TTL (default=1)\n"));
}

// ---- property tests ----

fn arb_ip(v6: bool) -> impl Strategy<Value = IpAddr> {
    if v6 {
        any::<u16>()
            .prop_map(|n| IpAddr::V6(Ipv6Addr::new(0x2001, 2, 0, 0, 0, 0, 0, n)))
            .boxed()
    } else {
        (18u8..=19, any::<u8>(), any::<u8>())
            .prop_map(|(b, c, d)| IpAddr::V4(Ipv4Addr::new(198, b, c, d)))
            .boxed()
    }
}

fn arb_method() -> impl Strategy<Value = ForwardMethod> {
    let csum = prop_oneof![
        Just(TunnelCsum::NoCsum),
        Just(TunnelCsum::Csum),
        Just(TunnelCsum::RemCsum)
    ];
    prop_oneof![
        Just(ForwardMethod::Masq),
        Just(ForwardMethod::Route),
        Just(ForwardMethod::FullNat),
        Just(ForwardMethod::Tunnel(TunnelType::Ipip)),
        (1u16.., csum.clone())
            .prop_map(|(port, csum)| ForwardMethod::Tunnel(TunnelType::Gue { port, csum })),
        csum.prop_filter_map("gre has no remcsum", |csum| (csum != TunnelCsum::RemCsum)
            .then_some(ForwardMethod::Tunnel(TunnelType::Gre { csum }))),
    ]
}

/// A valid service with real servers, normalised as IPVS stores it.
fn arb_rule() -> impl Strategy<Value = ServiceRule> {
    (
        any::<bool>(),
        any::<bool>(),
        0u8..3,
        0u16..4,
        1u32..=u32::MAX,
    )
        .prop_flat_map(|(is_v6, is_fwmark, proto, port, mark)| {
            let vs = if is_fwmark {
                VirtualService::Fwmark {
                    mark,
                    family: if is_v6 {
                        AddressFamily::Inet6
                    } else {
                        AddressFamily::Inet
                    },
                }
            } else {
                VirtualService::Inet {
                    protocol: [Protocol::Tcp, Protocol::Udp, Protocol::Sctp][proto as usize],
                    addr: IpAddr::V4(Ipv4Addr::UNSPECIFIED),
                    port: port * 80,
                }
            };
            let sched = prop::sample::select(KNOWN_SCHEDULERS.to_vec());
            let persistence = prop::option::of((1u32..=MAX_TIMEOUT, any::<u32>(), 1u8..=128));
            let dests = prop::collection::vec(
                (
                    arb_ip(is_v6),
                    any::<u16>(),
                    arb_method(),
                    0u32..=65535,
                    any::<(u16, u16)>(),
                ),
                0..4,
            );
            (
                arb_ip(is_v6),
                Just(vs),
                sched,
                any::<(bool, bool, bool)>(),
                persistence,
                any::<bool>(),
                dests,
            )
        })
        .prop_map(|(vip, vs, sched, (f1, f2, f3), persistence, ops, dests)| {
            let service = match vs {
                VirtualService::Inet { protocol, port, .. } => VirtualService::Inet {
                    protocol,
                    addr: vip,
                    port,
                },
                other => other,
            };
            let family = service.family();
            let is_fwmark = matches!(service, VirtualService::Fwmark { .. });
            let mut persistence = persistence.map(|(timeout, mask, prefix)| Persistence {
                timeout,
                netmask: match family {
                    AddressFamily::Inet => Netmask::V4(Ipv4Addr::from(mask)),
                    AddressFamily::Inet6 => Netmask::V6(prefix),
                },
            });
            if service.port() == 0 && !is_fwmark && persistence.is_none() {
                persistence = Some(Persistence {
                    timeout: 360,
                    netmask: Netmask::host(family),
                });
            }
            let sched_flags = SchedFlags {
                flag1: f1,
                flag2: f2,
                // sh and mh print only their two named flags.
                flag3: f3 && sched != "sh" && sched != "mh",
            };
            let config = ServiceConfig {
                service,
                scheduler: sched.to_string(),
                sched_flags,
                persistence,
                persistence_engine: None,
                one_packet: ops && (is_fwmark || service.protocol() == Protocol::Udp),
                toa: None,
            };
            let mut real_servers: Vec<DestConfig> = Vec::new();
            for (addr, port, method, weight, (a, b)) in dests {
                let port = match method {
                    ForwardMethod::Route | ForwardMethod::Tunnel(_) if !is_fwmark => service.port(),
                    _ if is_fwmark => 0,
                    _ => port,
                };
                if real_servers
                    .iter()
                    .any(|d| d.addr == addr && d.port == port)
                {
                    continue;
                }
                real_servers.push(DestConfig {
                    addr,
                    port,
                    method,
                    weight,
                    u_threshold: u32::from(a.max(b)),
                    l_threshold: u32::from(a.min(b)),
                });
            }
            ServiceRule {
                service: config,
                real_servers,
            }
        })
}

fn normalised(mut rules: Vec<ServiceRule>) -> Vec<ServiceRule> {
    for r in &mut rules {
        r.real_servers
            .sort_by_key(|d| (AddressFamily::of(&d.addr), d.addr, d.port));
    }
    rules.sort_by_key(|r| r.service.service.sort_key());
    rules
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    /// services -> `-S` text -> `-R` -> services is the identity.
    #[test]
    fn save_restore_round_trip(rules in prop::collection::vec(arb_rule(), 0..6)) {
        let mut unique: Vec<ServiceRule> = Vec::new();
        for r in rules {
            if !unique.iter().any(|u| u.service.service == r.service.service) {
                unique.push(r);
            }
        }
        let text = format_rules(&unique);
        let mut table = RuleTable::new();
        table.restore(&text, "rvsadm").map_err(|e| TestCaseError::fail(format!("{e}\n{text}")))?;
        prop_assert_eq!(normalised(table.into_services()), normalised(unique));
    }

    /// No panic on any argv.
    #[test]
    fn argv_never_panics(words in prop::collection::vec(
        prop_oneof![
            prop::sample::select(vec![
                "-A", "-E", "-D", "-C", "-R", "-S", "-a", "-e", "-d", "-L", "-l", "-Z", "--set",
                "-t", "-u", "-f", "-s", "-p", "-M", "-r", "-g", "-i", "-m", "-w", "-x", "-y", "-b",
                "-n", "-c", "-6", "-o", "--fullnat", "--tun-type", "--tun-port", "--tun-csum",
                "--stats", "--rate", "--exact", "--timeout", "--daemon", "-Lnc", "--", "-",
                "198.18.0.1:80", "[2001:2::1]:80", "2001:2::1", "gue", "sh-port", "0", "65535",
                "--start-daemon", "master", "--mcast-group", "--pe", "=", "-p=", "--weight=",
            ]).prop_map(str::to_string),
            ".{0,12}",
        ],
        0..10,
    )) {
        let mut argv = vec!["ipvsadm".to_string()];
        argv.extend(words);
        if let Err(e) = parse_argv(&argv) {
            let _ = (e.to_string(), e.exit_code());
        }
    }

    /// No panic on any rule text.
    #[test]
    fn rule_text_never_panics(text in "(-[AaEedDLSZ]|-[tursfMwxyb]|[0-9.:\\[\\]a-f]{0,16}|--[a-z-]{0,12}|[ \t\r\n\\\\#]|.){0,40}") {
        if let Ok(rules) = parse_rules(&text, "rvsadm") {
            let mut table = RuleTable::new();
            for r in &rules {
                let _ = table.apply(&r.command);
            }
            let _ = format_rules(table.services());
        }
    }
}

/// ipvsadm(8)'s EXAMPLE blocks (addresses moved to the test ranges), each
/// restored onto its own table and saved again.
#[test]
fn man_page_examples_restore_and_save() {
    let examples: [(&str, &str); 5] = [
        (
            // EXAMPLE 1 - Simple Virtual Service (the `ipvsadm -R` form).
            "-A -t 198.18.44.110:80 -s rr\n\
             -a -t 198.18.44.110:80 -r 198.19.10.1:80 -m\n\
             -a -t 198.18.44.110:80 -r 198.19.10.2:80 -m\n\
             -a -t 198.18.44.110:80 -r 198.19.10.3:80 -m\n\
             -a -t 198.18.44.110:80 -r 198.19.10.4:80 -m\n\
             -a -t 198.18.44.110:80 -r 198.19.10.5:80 -m\n",
            "-A -t 198.18.44.110:80 -s rr\n\
             -a -t 198.18.44.110:80 -r 198.19.10.1:80 -m -w 1\n\
             -a -t 198.18.44.110:80 -r 198.19.10.2:80 -m -w 1\n\
             -a -t 198.18.44.110:80 -r 198.19.10.3:80 -m -w 1\n\
             -a -t 198.18.44.110:80 -r 198.19.10.4:80 -m -w 1\n\
             -a -t 198.18.44.110:80 -r 198.19.10.5:80 -m -w 1\n",
        ),
        (
            // EXAMPLE 2 - Firewall-Mark Virtual Service.
            "ipvsadm -A -f 1  -s rr\n\
             ipvsadm -a -f 1 -r 198.19.10.1:0 -m\n\
             ipvsadm -a -f 1 -r 198.19.10.2:0 -m\n\
             ipvsadm -a -f 1 -r 198.19.10.3:0 -m\n\
             ipvsadm -a -f 1 -r 198.19.10.4:0 -m\n\
             ipvsadm -a -f 1 -r 198.19.10.5:0 -m\n",
            "-A -f 1 -s rr\n\
             -a -f 1 -r 198.19.10.1:0 -m -w 1\n\
             -a -f 1 -r 198.19.10.2:0 -m -w 1\n\
             -a -f 1 -r 198.19.10.3:0 -m -w 1\n\
             -a -f 1 -r 198.19.10.4:0 -m -w 1\n\
             -a -f 1 -r 198.19.10.5:0 -m -w 1\n",
        ),
        (
            // EXAMPLE 3 - Virtual Service with GUE Tunneling.
            "-A -t 198.18.44.110:80 -s rr\n\
             -a -t 198.18.44.110:80 -r 198.19.10.1:80 -i --tun-type gue --tun-port 6080 \\\n\
             --tun-nocsum\n\
             -a -t 198.18.44.110:80 -r 198.19.10.2:80 -i --tun-type gue --tun-port 6080 \\\n\
             --tun-csum\n\
             -a -t 198.18.44.110:80 -r 198.19.10.3:80 -i --tun-type gue --tun-port 6080 \\\n\
             --tun-remcsum\n\
             -a -t 198.18.44.110:80 -r 198.19.10.4:80 -i --tun-type gue --tun-port 6078\n\
             -a -t 198.18.44.110:80 -r 198.19.10.5:80 -i --tun-type gue --tun-port 6079\n",
            "-A -t 198.18.44.110:80 -s rr\n\
             -a -t 198.18.44.110:80 -r 198.19.10.1:80 -i -w 1 --tun-type gue --tun-port 6080 --tun-nocsum\n\
             -a -t 198.18.44.110:80 -r 198.19.10.2:80 -i -w 1 --tun-type gue --tun-port 6080 --tun-csum\n\
             -a -t 198.18.44.110:80 -r 198.19.10.3:80 -i -w 1 --tun-type gue --tun-port 6080 --tun-remcsum\n\
             -a -t 198.18.44.110:80 -r 198.19.10.4:80 -i -w 1 --tun-type gue --tun-port 6078 --tun-nocsum\n\
             -a -t 198.18.44.110:80 -r 198.19.10.5:80 -i -w 1 --tun-type gue --tun-port 6079 --tun-nocsum\n",
        ),
        (
            // EXAMPLE 4 - Virtual Service with GRE Tunneling.
            "ipvsadm -A -t 198.18.0.1:80 -s rr\n\
             ipvsadm -a -t 198.18.0.1:80 -r 198.19.11.1:80 -i --tun-type gre \\\n\
             --tun-csum\n",
            "-A -t 198.18.0.1:80 -s rr\n\
             -a -t 198.18.0.1:80 -r 198.19.11.1:80 -i -w 1 --tun-type gre --tun-csum\n",
        ),
        (
            // IPv6.
            "ipvsadm -A -t [2001:2::80]:80 -s rr\n\
             ipvsadm -a -t [2001:2::80]:80 -r [2001:2::a0a0]:80 -m\n",
            "-A -t [2001:2::80]:80 -s rr\n\
             -a -t [2001:2::80]:80 -r [2001:2::a0a0]:80 -m -w 1\n",
        ),
    ];
    for (input, saved) in examples {
        let mut table = RuleTable::new();
        table.restore(input, "ipvsadm").unwrap();
        assert_text(&format_rules(table.services()), saved);
    }
}
