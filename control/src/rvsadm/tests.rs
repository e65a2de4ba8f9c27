//! The command -> request and answer -> output mappings, with a client that
//! records requests and gives canned answers.

use super::*;
use config::ipvsadm::{
    format_list, format_rules, format_service, parse_argv, DestConfig, DestView, ForwardMethod,
    IpvsCommand, ListFormat, Protocol, ServiceConfig, ServiceRule, ServiceView, TimeoutsView,
    VirtualService,
};
use serde_json::json;
use std::cell::RefCell;
use std::collections::VecDeque;
use std::net::IpAddr;

/// Records requests; answers from a queue (a transport error when empty).
struct Recorder {
    token: bool,
    sent: RefCell<Vec<ApiRequest>>,
    answers: RefCell<VecDeque<ApiResponse>>,
}

impl Recorder {
    fn new(answers: Vec<(u16, String)>) -> Self {
        Recorder {
            token: true,
            sent: RefCell::new(Vec::new()),
            answers: RefCell::new(
                answers
                    .into_iter()
                    .map(|(status, body)| ApiResponse { status, body })
                    .collect(),
            ),
        }
    }
}

impl Client for Recorder {
    fn base_url(&self) -> &str {
        "http://198.18.0.254:9180"
    }
    fn sends_token(&self) -> bool {
        self.token
    }
    fn send(&self, request: &ApiRequest) -> Result<ApiResponse, TransportError> {
        self.sent.borrow_mut().push(request.clone());
        self.answers
            .borrow_mut()
            .pop_front()
            .ok_or_else(|| TransportError("Connection refused (os error 111)".into()))
    }
}

fn argv(line: &str) -> Vec<String> {
    std::iter::once("rvsadm")
        .chain(line.split_whitespace())
        .map(String::from)
        .collect()
}

fn cmd(line: &str) -> IpvsCommand {
    parse_argv(&argv(line)).unwrap()
}

/// Runs a command line through [`run`] against `client`, with `stdin`.
fn run_with(client: &Recorder, line: &str, stdin: &str) -> Outcome {
    let connect = |url: &str, _: Option<&str>| -> Result<Box<dyn Client + '_>, CliError> {
        assert_eq!(url, "http://127.0.0.1:9180");
        Ok(Box::new(client))
    };
    let env = |_: &str| None;
    run(&argv(line), &env, &mut stdin.as_bytes(), &connect)
}

fn recorder(answers: Vec<(u16, String)>) -> Recorder {
    Recorder::new(answers)
}

fn vs_tcp(addr: &str, port: u16) -> VirtualService {
    VirtualService::Inet {
        protocol: Protocol::Tcp,
        addr: addr.parse().unwrap(),
        port,
    }
}

fn dest(addr: &str, port: u16, weight: u32) -> DestView {
    DestView::new(DestConfig {
        addr: addr.parse().unwrap(),
        port,
        method: ForwardMethod::Masq,
        weight,
        u_threshold: 0,
        l_threshold: 0,
    })
}

/// Two services given in the wrong order, with counters.
fn services() -> Vec<ServiceView> {
    let mut web = ServiceConfig::new(vs_tcp("198.18.0.100", 80));
    web.scheduler = "wrr".into();
    let mut a = ServiceView::new(
        web,
        vec![dest("198.19.0.12", 80, 1), dest("198.19.0.11", 80, 5)],
    );
    a.real_servers[0].active_conns = 12345;
    a.stats.conns = 1_234_567;
    let b = ServiceView::new(
        ServiceConfig::new(vs_tcp("198.18.0.10", 443)),
        vec![dest("198.19.0.21", 443, 1)],
    );
    vec![a, b]
}

#[test]
fn ids_are_percent_encoded() {
    assert_eq!(
        service_id(&vs_tcp("198.18.0.100", 80)),
        "tcp:198.18.0.100:80"
    );
    assert_eq!(
        service_id(&vs_tcp("2001:2::1", 80)),
        "tcp:%5B2001:2::1%5D:80"
    );
    assert_eq!(
        service_id(&cmd_service("-D -u 198.18.0.1:53")),
        "udp:198.18.0.1:53"
    );
    assert_eq!(
        service_id(&cmd_service("-D --sctp-service 198.18.0.1:9")),
        "sctp:198.18.0.1:9"
    );
    assert_eq!(service_id(&cmd_service("-D -f 10")), "fwm:10");
    assert_eq!(service_id(&cmd_service("-D -f 10 -6")), "fwm6:10");
    let v6: IpAddr = "2001:2::11".parse().unwrap();
    assert_eq!(server_id(v6, 8080), "%5B2001:2::11%5D:8080");
}

fn cmd_service(line: &str) -> VirtualService {
    match cmd(line) {
        IpvsCommand::DeleteService { service } => service,
        other => panic!("not -D: {other:?}"),
    }
}

#[test]
fn every_change_maps_to_its_route() {
    let svc = "/v1/services/tcp:198.18.0.100:80";
    let rs = format!("{svc}/real-servers/198.19.0.11:80");
    let cases: Vec<(&str, Method, String)> = vec![
        (
            "-A -t 198.18.0.100:80 -s wrr",
            Method::Post,
            "/v1/services".into(),
        ),
        ("-E -t 198.18.0.100:80 -s rr", Method::Put, svc.into()),
        ("-D -t 198.18.0.100:80", Method::Delete, svc.into()),
        ("-C", Method::Delete, "/v1/services".into()),
        (
            "-a -t 198.18.0.100:80 -r 198.19.0.11:80 -m -w 5",
            Method::Post,
            format!("{svc}/real-servers"),
        ),
        (
            "-e -t 198.18.0.100:80 -r 198.19.0.11:80 -m -w 2",
            Method::Put,
            rs.clone(),
        ),
        (
            "-d -t 198.18.0.100:80 -r 198.19.0.11:80",
            Method::Delete,
            rs,
        ),
        ("-Z", Method::Post, "/v1/zero".into()),
        ("-Z -t 198.18.0.100:80", Method::Post, format!("{svc}/zero")),
        ("--set 30 5 60", Method::Put, "/v1/timeouts".into()),
        ("-Ln", Method::Get, "/v1/services".into()),
        ("-S -n", Method::Get, "/v1/services".into()),
        ("-Ln -t 198.18.0.100:80", Method::Get, svc.into()),
        ("-Lnc", Method::Get, "/v1/connections".into()),
        ("-Ln --timeout", Method::Get, "/v1/timeouts".into()),
    ];
    for (line, method, path) in cases {
        let req = request_for(&cmd(line)).unwrap_or_else(|| panic!("{line}: no request"));
        assert_eq!(
            (req.method, req.path.as_str()),
            (method, path.as_str()),
            "{line}"
        );
    }
    for local in [
        "-h",
        "-v",
        "--start-daemon master",
        "--stop-daemon backup",
        "-L --daemon",
        "-R",
    ] {
        assert_eq!(request_for(&cmd(local)), None, "{local}");
    }
}

#[test]
fn bodies_are_the_ipvsadm_types() {
    let req = request_for(&cmd("-A -t 198.18.0.100:80 -s wrr -p 60")).unwrap();
    let Body::Json(body) = req.body else {
        panic!("json body")
    };
    let sc: ServiceConfig = serde_json::from_value(body).unwrap();
    assert_eq!(sc.scheduler, "wrr");
    assert_eq!(sc.persistence.map(|p| p.timeout), Some(60));

    let req = request_for(&cmd(
        "-e -t 198.18.0.100:80 -r 198.19.0.11:80 -m -w 2 -x 9 -y 3",
    ))
    .unwrap();
    let Body::Json(body) = req.body else {
        panic!("json body")
    };
    let d: DestConfig = serde_json::from_value(body).unwrap();
    assert_eq!((d.weight, d.u_threshold, d.l_threshold), (2, 9, 3));
    assert_eq!(d.method, ForwardMethod::Masq);

    let req = request_for(&cmd("--set 30 0 60")).unwrap();
    assert_eq!(
        req.body,
        Body::Json(json!({"tcp": 30, "tcp_fin": 0, "udp": 60}))
    );
    assert_eq!(
        request_for(&cmd("-D -t 198.18.0.100:80")).unwrap().body,
        Body::Empty
    );
}

#[test]
fn listings_are_formatted_locally() {
    let body = serde_json::to_string(&services()).unwrap();
    for (line, fmt) in [
        ("-Ln", ListFormat::default()),
        (
            "-Ln --stats",
            ListFormat {
                stats: true,
                numeric: true,
                ..Default::default()
            },
        ),
        (
            "-Ln --rate --exact",
            ListFormat {
                rate: true,
                exact: true,
                numeric: true,
                ..Default::default()
            },
        ),
    ] {
        let r = recorder(vec![(200, body.clone())]);
        let out = run_with(&r, line, "");
        assert_eq!(out.code, 0, "{out:?}");
        assert_eq!(out.stdout, format_list(&services(), &fmt), "{line}");
        assert!(out.stderr.is_empty());
    }
    // The daemon's order does not matter: rvsadm sorts (198.18.0.10 first).
    let r = recorder(vec![(200, body.clone())]);
    let out = run_with(&r, "-Ln", "");
    let first = out.stdout.find("198.18.0.10:443").unwrap();
    let second = out.stdout.find("198.18.0.100:80").unwrap();
    assert!(first < second, "{}", out.stdout);
    assert!(out.stdout.starts_with("IP Virtual Server version 1.2.1"));

    let one = serde_json::to_string(&services()[0]).unwrap();
    let out = run_with(&recorder(vec![(200, one)]), "-Ln -t 198.18.0.100:80", "");
    assert_eq!(
        out.stdout,
        format_service(&services()[0], &ListFormat::default())
    );

    let out = run_with(&recorder(vec![(200, body)]), "-S -n", "");
    let rules: Vec<ServiceRule> = services().iter().map(ServiceRule::from).collect();
    assert_eq!(out.stdout, format_rules(&rules));
    assert_eq!(
        out.stdout,
        "-A -t 198.18.0.10:443 -s wlc\n-a -t 198.18.0.10:443 -r 198.19.0.21:443 -m -w 1\n\
         -A -t 198.18.0.100:80 -s wrr\n-a -t 198.18.0.100:80 -r 198.19.0.11:80 -m -w 5\n\
         -a -t 198.18.0.100:80 -r 198.19.0.12:80 -m -w 1\n"
    );

    let t = serde_json::to_string(&TimeoutsView {
        tcp: 30,
        tcp_fin: 5,
        udp: 60,
    })
    .unwrap();
    let out = run_with(&recorder(vec![(200, t)]), "-Ln --timeout", "");
    assert_eq!(out.stdout, "Timeout (tcp tcpfin udp): 30 5 60\n");

    let out = run_with(&recorder(vec![(200, "[]".into())]), "-Lnc", "");
    assert_eq!(
        out.stdout,
        "IPVS connection entries\npro expire state       source             virtual            destination\n"
    );
}

#[test]
fn refusals_print_ipvsadm_messages_and_codes() {
    let answer =
        |status: u16, op: &str| (status, json!({"error": "x", "op_error": op}).to_string());
    let cases = [
        (
            "-A -t 198.18.0.100:80",
            answer(409, "service_exists"),
            "Service already exists\n",
            255,
        ),
        (
            "-A -t 198.18.0.100:80 -s nope",
            answer(404, "scheduler_not_found"),
            "Scheduler or persistence engine not found\n",
            255,
        ),
        (
            "-a -t 198.18.0.1:80 -r 198.19.0.11",
            answer(404, "service_not_defined"),
            "Service not defined\n",
            255,
        ),
        (
            "-a -t 198.18.0.100:80 -r 198.19.0.11",
            answer(409, "destination_exists"),
            "Destination already exists\n",
            255,
        ),
        (
            "-d -t 198.18.0.100:80 -r 198.19.0.99",
            answer(404, "no_such_destination"),
            "No such destination\n",
            255,
        ),
        (
            "-D -t 198.18.0.1:80",
            answer(404, "no_such_service"),
            "No such service\n",
            255,
        ),
        // Listings fail with 1, as ipvsadm's list functions exit(1).
        (
            "-Ln -t 198.18.0.1:80",
            answer(404, "no_such_service"),
            "No such service\n",
            1,
        ),
    ];
    for (line, resp, msg, code) in cases {
        let out = run_with(&recorder(vec![resp]), line, "");
        assert_eq!((out.stderr.as_str(), out.code), (msg, code), "{line}");
        assert!(out.stdout.is_empty());
    }
}

#[test]
fn transport_failures_name_the_url_and_exit_2() {
    let body = json!({"error": "missing or wrong bearer token"}).to_string();
    let out = run_with(&recorder(vec![(401, body.clone())]), "-Ln", "");
    assert_eq!(out.code, 2);
    assert!(
        out.stderr.contains("http://198.18.0.254:9180"),
        "{}",
        out.stderr
    );
    assert!(
        out.stderr.contains("the token sent is wrong"),
        "{}",
        out.stderr
    );
    assert!(out.stderr.contains("--token-file"), "{}", out.stderr);
    assert_eq!(out.stderr.lines().count(), 1);

    let no_token = Recorder {
        token: false,
        ..Recorder::new(vec![])
    };
    let e = execute(&no_token, &cmd("-Ln"), "rvsadm", &mut || Ok(String::new()));
    let e = e.unwrap_err();
    assert!(e.to_string().contains("http://198.18.0.254:9180"), "{e}");
    assert!(e.to_string().contains("cannot reach"), "{e}");

    let r = Recorder {
        token: false,
        ..Recorder::new(vec![(401, "{}".into())])
    };
    let e = execute(&r, &cmd("-Ln"), "rvsadm", &mut || Ok(String::new())).unwrap_err();
    assert!(e.to_string().contains("no token was found"), "{e}");

    let out = run_with(
        &recorder(vec![(403, "{\"error\":\"no\"}".into())]),
        "-C",
        "",
    );
    assert_eq!(out.code, 2);
    assert!(out.stderr.contains("admin.token_file"), "{}", out.stderr);

    let out = run_with(
        &recorder(vec![(404, "{\"error\":\"no route\"}".into())]),
        "-Lnc",
        "",
    );
    assert_eq!(out.code, 2);
    assert!(out.stderr.contains("GET /v1/connections"), "{}", out.stderr);

    let invalid = json!({"error": "vip 198.18.7.1 is on no interface", "errors": []}).to_string();
    let out = run_with(&recorder(vec![(422, invalid)]), "-A -t 198.18.0.7:80", "");
    assert_eq!(out.code, 255);
    assert_eq!(
        out.stderr,
        "rvsadm: rvsd refused POST /v1/services (HTTP 422): vip 198.18.7.1 is on no interface\n"
    );

    let out = run_with(&recorder(vec![(500, "boom".into())]), "-C", "");
    assert_eq!(out.code, 2);
    assert!(out.stderr.contains("HTTP 500: boom"), "{}", out.stderr);

    let out = run_with(&recorder(vec![(200, "not json".into())]), "-Ln", "");
    assert_eq!(out.code, 2);
    assert!(
        out.stderr.contains("unexpected answer from GET"),
        "{}",
        out.stderr
    );

    let out = run_with(&recorder(vec![]), "-Ln", "");
    assert_eq!(out.code, 2);
    assert!(out.stderr.contains("Is rvsd running"), "{}", out.stderr);
}

#[test]
fn restore_checks_locally_then_posts_the_text() {
    let rules = "-A -t 198.18.0.100:80 -s wrr\n-a -t 198.18.0.100:80 -r 198.19.0.11:80 -m -w 5\n";
    let r = recorder(vec![(200, "{}".into())]);
    let out = run_with(&r, "-R", rules);
    assert_eq!(
        out,
        Outcome {
            stdout: String::new(),
            stderr: String::new(),
            code: 0
        }
    );
    let sent = r.sent.borrow();
    assert_eq!(sent.len(), 1);
    assert_eq!(sent[0].method, Method::Post);
    assert_eq!(sent[0].path, "/v1/rules");
    assert_eq!(sent[0].body, Body::Text(rules.to_string()));
    drop(sent);

    // A bad line: ipvsadm's usage error, nothing sent.
    let r = recorder(vec![]);
    let out = run_with(&r, "-R", "-A -t 198.18.0.100:80 -w 5\n");
    assert_eq!(out.code, 2, "{out:?}");
    assert_eq!(
        out.stderr,
        "Illegal 'weight' option with the 'add-service' command\n"
    );
    assert!(r.sent.borrow().is_empty());

    // Empty input changes nothing and needs no daemon.
    let r = recorder(vec![]);
    assert_eq!(run_with(&r, "-R", "\n\n").code, 0);
    assert!(r.sent.borrow().is_empty());

    // A refused line is reported as that line's command would be.
    let refused = json!({"error": "x", "op_error": "service_not_defined", "line": 2}).to_string();
    let out = run_with(&recorder(vec![(400, refused)]), "-R", rules);
    assert_eq!(
        (out.stderr.as_str(), out.code),
        ("Service not defined\n", 255)
    );

    let other = json!({"error": "vip not on any interface", "line": 1}).to_string();
    let out = run_with(&recorder(vec![(400, other)]), "-R", rules);
    assert_eq!(out.code, 255);
    assert!(
        out.stderr.contains("line 1: vip not on any interface"),
        "{}",
        out.stderr
    );
}

#[test]
fn local_commands_need_no_daemon() {
    let r = recorder(vec![]);
    let out = run_with(&r, "--start-daemon master", "");
    assert_eq!(
        (out.stderr.as_str(), out.code),
        ("unsupported: use rvsd's connection sync (planned)\n", 255)
    );
    let out = run_with(&r, "--stop-daemon backup", "");
    assert_eq!(out.code, 255);
    let out = run_with(&r, "-h", "");
    assert_eq!(out.code, 0);
    assert!(out.stdout.starts_with("rvsadm "), "{}", out.stdout);
    assert!(out.stdout.contains("--token-file PATH"));
    let out = run_with(&r, "-v", "");
    assert!(out.stdout.contains("ipvsadm v1.31 compatible"));
    let out = run_with(&r, "-L --daemon", "");
    assert_eq!((out.stdout.as_str(), out.code), ("", 0));
    // ipvsadm's parser errors come before any call.
    let out = run_with(&r, "-A -t 198.18.0.100:80 -r 198.19.0.1", "");
    assert_eq!(out.code, 2);
    assert_eq!(
        out.stderr,
        "Illegal 'real-server' option with the 'add-service' command\n"
    );
    assert!(r.sent.borrow().is_empty());
}

#[test]
fn changes_print_nothing() {
    for line in [
        "-A -t 198.18.0.100:80 -s wrr",
        "-a -t 198.18.0.100:80 -r 198.19.0.11:80 -m -w 5",
        "-C",
    ] {
        let r = recorder(vec![(201, String::new())]);
        let out = run_with(&r, line, "");
        assert_eq!(
            (out.stdout.as_str(), out.stderr.as_str(), out.code),
            ("", "", 0),
            "{line}"
        );
        assert_eq!(r.sent.borrow().len(), 1);
    }
}

#[test]
fn to_yaml_converts_rules() {
    let out = run_with(
        &recorder(vec![]),
        "--to-yaml",
        "-A -t 198.18.0.100:80 -s wrr\n-a -t 198.18.0.100:80 -r 198.19.0.11:80 -m -w 5\n",
    );
    assert_eq!(out.code, 0, "{out:?}");
    assert_eq!(
        out.stdout,
        "services:\n  - proto: \"tcp\"\n    vip: \"198.18.0.100\"\n    port: 80\n    scheduler: \"wrr\"\n    \
         method: \"masq\"\n    real_servers:\n      - address: \"198.19.0.11\"\n        port: 80\n        \
         method: \"masq\"\n        weight: 5\n"
    );

    let out = run_with(
        &recorder(vec![]),
        "--to-yaml",
        "-A -t 198.18.0.100:80\n-A -t 198.18.0.100:80\n",
    );
    assert_eq!(
        (out.stderr.as_str(), out.code),
        ("Service already exists\n", 255)
    );
}

/// Undoes `%XX` escapes, as the server's router does before parsing ids.
fn percent_decode(s: &str) -> String {
    let b = s.as_bytes();
    let mut out = Vec::new();
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'%' && i + 2 < b.len() {
            let hex = std::str::from_utf8(&b[i + 1..i + 3]).unwrap();
            out.push(u8::from_str_radix(hex, 16).unwrap());
            i += 3;
        } else {
            out.push(b[i]);
            i += 1;
        }
    }
    String::from_utf8(out).unwrap()
}

#[test]
fn ids_are_what_the_server_parses() {
    use config::ipvsadm::AddressFamily;
    let addrs = [
        "198.18.0.1",
        "198.19.255.255",
        "2001:2::1",
        "2001:2:0:ffff::",
        "::ffff:198.18.0.1",
    ];
    let mut services = Vec::new();
    for proto in [Protocol::Tcp, Protocol::Udp, Protocol::Sctp] {
        for addr in addrs {
            for port in [0, 1, 80, 65535] {
                services.push(VirtualService::Inet {
                    protocol: proto,
                    addr: addr.parse().unwrap(),
                    port,
                });
            }
        }
    }
    for mark in [1, 10, u32::MAX] {
        for family in [AddressFamily::Inet, AddressFamily::Inet6] {
            services.push(VirtualService::Fwmark { mark, family });
        }
    }
    for vs in services {
        let id = service_id(&vs);
        assert!(!id.contains(['[', ']', '/']), "{id}");
        let parsed = crate::http::parse_service_id(&percent_decode(&id)).ok();
        assert_eq!(parsed, Some(vs), "{id}");
    }
    for addr in addrs {
        for port in [0u16, 80, 65535] {
            let ip: IpAddr = addr.parse().unwrap();
            let id = server_id(ip, port);
            let parsed = crate::http::parse_rs_id(&percent_decode(&id)).ok();
            assert_eq!(parsed, Some((ip, port)), "{id}");
        }
    }
}
