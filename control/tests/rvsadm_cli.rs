//! The real `rvsadm` binary against a real rvsd (net_null ports, no traffic):
//! ipvsadm command lines, their output and exit codes.

mod common;
use std::io::Write;
use std::process::{Command, Stdio};

use common::{free_port, spawn_rvsd, RunningRvsd, TempDir};
use config::ipvsadm::{format_list, format_service, ListFormat, ServiceView};

/// rvsd plus where its token file is.
struct Rvsd {
    /// Kept for its Drop, which stops rvsd.
    _daemon: RunningRvsd,
    base: String,
    token_file: String,
}

const TOKEN: &str = "rvsadm-test-token";

/// rvsd with one service (tcp 198.18.0.10:443, two real servers) and a token.
fn start(dir: &TempDir) -> Rvsd {
    std::fs::write(dir.path("token"), format!("{TOKEN}\n")).unwrap();
    let token_file = dir.path("token").display().to_string();
    let daemon = spawn_rvsd(
        dir,
        &format!(
            "services:\n  - proto: tcp\n    vip: 198.18.0.10\n    port: 443\n    scheduler: rr\n    method: masq\n    real_servers: [ {{ address: 198.19.0.21, weight: 3 }}, {{ address: 198.19.0.22 }} ]\nadmin:\n  listen: 127.0.0.1:{{port}}\n  token_file: {token_file}\n"
        ),
    );
    Rvsd {
        base: daemon.base.clone(),
        _daemon: daemon,
        token_file,
    }
}

struct Ran {
    stdout: String,
    stderr: String,
    code: i32,
}

impl std::fmt::Debug for Ran {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "exit {}\n--- stdout\n{}--- stderr\n{}",
            self.code, self.stdout, self.stderr
        )
    }
}

/// Runs rvsadm with `args` (split on blanks) and `stdin`, in a clean
/// environment apart from `env`.
fn rvsadm_env(args: &str, stdin: &str, env: &[(&str, &str)]) -> Ran {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_rvsadm"));
    cmd.args(args.split_whitespace())
        .env_remove("RVS_ADMIN")
        .env_remove("RVS_TOKEN")
        .env_remove("RVS_TOKEN_FILE")
        .envs(env.iter().copied())
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    let mut child = cmd.spawn().unwrap();
    child
        .stdin
        .take()
        .unwrap()
        .write_all(stdin.as_bytes())
        .unwrap();
    let out = child.wait_with_output().unwrap();
    Ran {
        stdout: String::from_utf8(out.stdout).unwrap(),
        stderr: String::from_utf8(out.stderr).unwrap(),
        code: out.status.code().unwrap_or(-1),
    }
}

impl Rvsd {
    /// rvsadm pointed at this daemon with its token file.
    fn adm(&self, args: &str) -> Ran {
        self.adm_in(args, "")
    }

    fn adm_in(&self, args: &str, stdin: &str) -> Ran {
        let own = format!("--admin {} --token-file {} ", self.base, self.token_file);
        rvsadm_env(&(own + args), stdin, &[])
    }

    /// A change that must succeed silently.
    fn ok(&self, args: &str) {
        let r = self.adm(args);
        assert_eq!(
            (r.code, r.stdout.as_str(), r.stderr.as_str()),
            (0, "", ""),
            "{args}: {r:?}"
        );
    }

    fn get_json<T: serde::de::DeserializeOwned>(&self, path: &str) -> T {
        let body = ureq::get(&format!("{}{path}", self.base))
            .set("Authorization", &format!("Bearer {TOKEN}"))
            .call()
            .unwrap()
            .into_string()
            .unwrap();
        serde_json::from_str(&body).unwrap_or_else(|e| panic!("{path}: {e}: {body}"))
    }
}

const HEADER: &str = "IP Virtual Server version 1.2.1 (size=4096)\n\
Prot LocalAddress:Port Scheduler Flags\n  -> RemoteAddress:Port           Forward Weight ActiveConn InActConn\n";

#[test]
fn listings_match_the_formatters_and_ipvsadm() {
    let dir = TempDir::new("rvsadm-list");
    let d = start(&dir);
    let services: Vec<ServiceView> = d.get_json("/v1/services");

    for (args, format) in [
        ("-Ln", ListFormat::default()),
        (
            "-L -n --stats",
            ListFormat {
                stats: true,
                ..Default::default()
            },
        ),
        (
            "-Ln --rate",
            ListFormat {
                rate: true,
                ..Default::default()
            },
        ),
        (
            "-Ln --thresholds",
            ListFormat {
                thresholds: true,
                ..Default::default()
            },
        ),
        (
            "-Ln --persistent-conn",
            ListFormat {
                persistent_conn: true,
                ..Default::default()
            },
        ),
        (
            "-Ln --stats --exact",
            ListFormat {
                stats: true,
                exact: true,
                ..Default::default()
            },
        ),
    ] {
        let r = d.adm(args);
        assert_eq!(r.code, 0, "{args}: {r:?}");
        assert_eq!(r.stdout, format_list(&services, &format), "{args}");
        assert!(r.stderr.is_empty(), "{args}: {r:?}");
    }
    // And the literal ipvsadm 1.31 text for the daemon's table.
    assert_eq!(
        d.adm("-Ln").stdout,
        format!(
            "{HEADER}TCP  198.18.0.10:443 rr\n  -> 198.19.0.21:443              Masq    3      0          0         \n  -> 198.19.0.22:443              Masq    1      0          0         \n"
        )
    );
    let one = d.adm("-Ln -t 198.18.0.10:443");
    assert_eq!(
        one.stdout,
        format_service(&services[0], &ListFormat::default())
    );
    // No argument at all lists the table, as ipvsadm does.
    assert_eq!(d.adm("").stdout, d.adm("-Ln").stdout);

    // rvsadm formats -S itself from the services; the daemon's own
    // GET /v1/rules must say the same.
    let rules = ureq::get(&format!("{}/v1/rules", d.base))
        .set("Authorization", &format!("Bearer {TOKEN}"))
        .call()
        .unwrap()
        .into_string()
        .unwrap();
    let saved = d.adm("-S -n");
    assert_eq!(saved.code, 0, "{saved:?}");
    assert_eq!(saved.stdout, rules);
    assert_eq!(
        saved.stdout,
        "-A -t 198.18.0.10:443 -s rr\n-a -t 198.18.0.10:443 -r 198.19.0.21:443 -m -w 3\n-a -t 198.18.0.10:443 -r 198.19.0.22:443 -m -w 1\n"
    );

    // An IPv6 id travels percent-encoded and is understood.
    let v6 = d.adm("-Ln -t [2001:2::1]:80");
    assert_eq!(
        (v6.stderr.as_str(), v6.code),
        ("No such service\n", 1),
        "{v6:?}"
    );
    let missing = d.adm("-Ln -t 198.18.0.99:80");
    assert_eq!(
        (missing.stderr.as_str(), missing.code),
        ("No such service\n", 1),
        "{missing:?}"
    );
}

#[test]
fn connection_listing() {
    let dir = TempDir::new("rvsadm-conns");
    let d = start(&dir);
    let r = d.adm("-Lnc");
    assert_eq!(r.code, 0, "{r:?}");
    assert_eq!(
        r.stdout,
        "IPVS connection entries\npro expire state       source             virtual            destination\n"
    );
}

#[test]
fn changes_and_refusals() {
    lifecycle("rr");
}

#[test]
fn changes_and_refusals_wrr() {
    lifecycle("wrr");
}

/// -A, -a, -e, -d, -E, -Z, -D, -C and ipvsadm's refusals, with `sched` as
/// the new service's scheduler.
fn lifecycle(sched: &str) {
    let dir = TempDir::new(&format!("rvsadm-change-{sched}"));
    let d = start(&dir);
    d.ok(&format!("-A -t 198.18.0.100:80 -s {sched}"));
    d.ok("-a -t 198.18.0.100:80 -r 198.19.0.11:80 -m -w 5");
    d.ok("-a -t 198.18.0.100:80 -r 198.19.0.12:80 -m");
    let web = |rows: &str| {
        format!(
            "{HEADER}TCP  198.18.0.10:443 rr\n  -> 198.19.0.21:443              Masq    3      0          0         \n  -> 198.19.0.22:443              Masq    1      0          0         \nTCP  198.18.0.100:80 {sched}\n{rows}"
        )
    };
    assert_eq!(
        d.adm("-Ln").stdout,
        web("  -> 198.19.0.11:80               Masq    5      0          0         \n  -> 198.19.0.12:80               Masq    1      0          0         \n")
    );

    d.ok("-e -t 198.18.0.100:80 -r 198.19.0.11:80 -m -w 2");
    d.ok("-d -t 198.18.0.100:80 -r 198.19.0.12:80");
    assert_eq!(
        d.adm("-Ln").stdout,
        web("  -> 198.19.0.11:80               Masq    2      0          0         \n")
    );
    d.ok(&format!("-E -t 198.18.0.100:80 -s {sched}"));
    d.ok("-Z");
    d.ok("-Z -t 198.18.0.100:80");

    // ipvsadm's refusals, messages and exit codes.
    let twice = d.adm(&format!("-A -t 198.18.0.100:80 -s {sched}"));
    assert_eq!(
        (twice.stderr.as_str(), twice.code),
        ("Service already exists\n", 255),
        "{twice:?}"
    );
    assert!(twice.stdout.is_empty());
    let r = d.adm("-a -t 198.18.0.200:80 -r 198.19.0.11:80");
    assert_eq!(
        (r.stderr.as_str(), r.code),
        ("Service not defined\n", 255),
        "{r:?}"
    );
    let r = d.adm("-a -t 198.18.0.100:80 -r 198.19.0.11:80 -m");
    assert_eq!(
        (r.stderr.as_str(), r.code),
        ("Destination already exists\n", 255),
        "{r:?}"
    );
    let r = d.adm("-d -t 198.18.0.100:80 -r 198.19.0.99:80");
    assert_eq!(
        (r.stderr.as_str(), r.code),
        ("No such destination\n", 255),
        "{r:?}"
    );
    let r = d.adm("-D -t 198.18.0.200:80");
    assert_eq!(
        (r.stderr.as_str(), r.code),
        ("No such service\n", 255),
        "{r:?}"
    );
    let r = d.adm("-A -t 198.18.0.101:80 -s nosuch");
    assert_eq!(
        (r.stderr.as_str(), r.code),
        ("Scheduler or persistence engine not found\n", 255),
        "{r:?}"
    );
    // A usage error never reaches the daemon.
    let r = d.adm("-A -t 198.18.0.101:80 -w 3");
    assert_eq!(
        (r.stderr.as_str(), r.code),
        (
            "Illegal 'weight' option with the 'add-service' command\n",
            2
        ),
        "{r:?}"
    );
    let r = d.adm("--start-daemon master");
    assert_eq!(
        (r.stderr.as_str(), r.code),
        ("unsupported: use rvsd's connection sync (planned)\n", 255)
    );

    d.ok("-D -t 198.18.0.100:80");
    assert_eq!(
        d.adm("-Ln").stdout,
        web("").replace(&format!("TCP  198.18.0.100:80 {sched}\n"), "")
    );
    d.ok("-C");
    assert_eq!(d.adm("-Ln").stdout, HEADER);
    assert_eq!(d.adm("-S -n").stdout, "");
}

#[test]
fn save_restore_round_trip_and_timeouts() {
    let dir = TempDir::new("rvsadm-restore");
    let d = start(&dir);
    d.ok("-A -t 198.18.0.100:80 -s rr");
    d.ok("-a -t 198.18.0.100:80 -r 198.19.0.11:80 -m -w 5");
    d.ok("-a -t 198.18.0.100:80 -r 198.19.0.12:80 -m -w 1 -x 100 -y 10");
    d.ok("-A -u 198.18.0.100:53 -s rr");
    d.ok("-a -u 198.18.0.100:53 -r 198.19.0.11:53 -m");
    let saved = d.adm("-S -n");
    assert_eq!(saved.code, 0, "{saved:?}");
    let listed = d.adm("-Ln --thresholds").stdout;

    // Restoring over the same table is refused as ipvsadm refuses it.
    let again = d.adm_in("-R", &saved.stdout);
    assert_eq!(
        (again.stderr.as_str(), again.code),
        ("Service already exists\n", 255),
        "{again:?}"
    );

    d.ok("-C");
    let restored = d.adm_in("-R", &saved.stdout);
    assert_eq!(
        (restored.code, restored.stderr.as_str()),
        (0, ""),
        "{restored:?}"
    );
    assert_eq!(d.adm("-S -n").stdout, saved.stdout);
    assert_eq!(d.adm("-Ln --thresholds").stdout, listed);

    // A bad rule is reported with ipvsadm's message before anything changes.
    let bad = d.adm_in("-R", "-C\n-A -t 198.18.0.1:80 -r 198.19.0.1\n");
    assert_eq!(bad.code, 2, "{bad:?}");
    assert_eq!(
        bad.stderr,
        "Illegal 'real-server' option with the 'add-service' command\n"
    );
    assert_eq!(d.adm("-S -n").stdout, saved.stdout);

    // --set, then -L --timeout.
    assert_eq!(
        d.adm("-Ln --timeout").stdout,
        "Timeout (tcp tcpfin udp): 900 120 300\n"
    );
    d.ok("--set 30 5 60");
    let t = d.adm("-Ln --timeout");
    assert_eq!(
        (t.code, t.stdout.as_str()),
        (0, "Timeout (tcp tcpfin udp): 30 5 60\n"),
        "{t:?}"
    );
    d.ok("--set 0 7 0");
    assert_eq!(
        d.adm("-L --timeout").stdout,
        "Timeout (tcp tcpfin udp): 30 7 60\n"
    );

    // --to-yaml needs no daemon and speaks of the same services.
    let y = rvsadm_env("--to-yaml", &saved.stdout, &[]);
    assert_eq!(y.code, 0, "{y:?}");
    assert!(
        y.stdout.starts_with("services:\n")
            && y.stdout
                .contains("  - proto: \"tcp\"\n    vip: \"198.18.0.100\"\n    port: 80\n")
            && y.stdout
                .contains("  - proto: \"udp\"\n    vip: \"198.18.0.100\"\n    port: 53\n"),
        "{y:?}"
    );
}

#[test]
fn transport_errors_exit_2_with_a_clear_message() {
    let dir = TempDir::new("rvsadm-auth");
    let d = start(&dir);
    std::fs::write(dir.path("wrong"), "not-the-token\n").unwrap();
    let wrong = format!(
        "--admin {} --token-file {} -Ln",
        d.base,
        dir.path("wrong").display()
    );
    let r = rvsadm_env(&wrong, "", &[]);
    assert_eq!(r.code, 2, "{r:?}");
    assert!(r.stdout.is_empty());
    assert_eq!(r.stderr.lines().count(), 1, "{r:?}");
    assert!(r.stderr.contains(&d.base), "{r:?}");
    assert!(r.stderr.contains("the token sent is wrong"), "{r:?}");
    assert!(r.stderr.contains("--token-file"), "{r:?}");

    // No token at all (and none in RVS_*): a different hint.
    let r = rvsadm_env(
        &format!("--admin {} -A -t 198.18.0.100:80", d.base),
        "",
        &[],
    );
    assert_eq!(r.code, 2, "{r:?}");
    assert!(
        r.stderr.contains("no token was found") || r.stderr.contains("token sent is wrong"),
        "{r:?}"
    );

    // Address and token from the environment.
    let r = rvsadm_env("-Ln", "", &[("RVS_ADMIN", &d.base), ("RVS_TOKEN", TOKEN)]);
    assert_eq!(r.code, 0, "{r:?}");
    assert!(r.stdout.starts_with("IP Virtual Server"), "{r:?}");
    let r = rvsadm_env(
        "-S",
        "",
        &[("RVS_ADMIN", &d.base), ("RVS_TOKEN_FILE", &d.token_file)],
    );
    assert_eq!(r.code, 0, "{r:?}");

    // Nobody listening.
    let closed = format!("http://127.0.0.1:{}", free_port());
    let r = rvsadm_env(
        &format!("--admin {closed} -Ln"),
        "",
        &[("RVS_TOKEN", TOKEN)],
    );
    assert_eq!(r.code, 2, "{r:?}");
    assert!(
        r.stderr.contains(&closed) && r.stderr.contains("Is rvsd running"),
        "{r:?}"
    );

    let r = rvsadm_env("-Ln --token-file /nonexistent/rvs-token", "", &[]);
    assert_eq!(r.code, 2, "{r:?}");
    assert!(r.stderr.contains("/nonexistent/rvs-token"), "{r:?}");
}

/// IPv6 tunnel real servers with ipvsadm's checksum options: accepted by rvsd, listed by
/// `-Ln --tun-info` as ipvsadm's `fwd_tun_info` (`gue:PORT:+c`, `gre:-c`) and saved by
/// `-S` with the option that sets them.
#[test]
fn ipv6_tunnel_checksum_options() {
    let dir = TempDir::new("rvsadm-tun6");
    std::fs::write(dir.path("token"), format!("{TOKEN}\n")).unwrap();
    let token_file = dir.path("token").display().to_string();
    let daemon = common::spawn_rvsd6(
        &dir,
        &format!("admin:\n  listen: 127.0.0.1:{{port}}\n  token_file: {token_file}\n"),
    );
    let d = Rvsd {
        base: daemon.base.clone(),
        _daemon: daemon,
        token_file,
    };
    d.ok("-A -t [2001:2::100]:80 -s rr");
    d.ok("-a -t [2001:2::100]:80 -r [2001:2:0:1::11]:80 -i --tun-type gue --tun-port 6080 --tun-csum");
    d.ok("-a -t [2001:2::100]:80 -r [2001:2:0:1::12]:80 -i --tun-type gre");
    d.ok("-a -t [2001:2::100]:80 -r [2001:2:0:1::13]:80 -i --tun-type gue --tun-port 6080 --tun-remcsum -w 2");
    let r = d.adm("-Ln --tun-info");
    assert_eq!(r.code, 0, "{r:?}");
    let rows: Vec<&str> = r.stdout.lines().skip(3).collect();
    assert_eq!(
        rows,
        [
            "TCP  [2001:2::100]:80 rr",
            "  -> [2001:2:0:1::11]:80          Tunnel  gue:6080:+c   1      0          0         ",
            "  -> [2001:2:0:1::12]:80          Tunnel  gre:-c        1      0          0         ",
            "  -> [2001:2:0:1::13]:80          Tunnel  gue:6080:r+c  2      0          0         ",
        ],
        "{r:?}"
    );
    let saved = d.adm("-S -n").stdout;
    for want in [
        "-a -t [2001:2::100]:80 -r [2001:2:0:1::11]:80 -i -w 1 --tun-type gue --tun-port 6080 --tun-csum",
        "-a -t [2001:2::100]:80 -r [2001:2:0:1::12]:80 -i -w 1 --tun-type gre --tun-nocsum",
        "-a -t [2001:2::100]:80 -r [2001:2:0:1::13]:80 -i -w 2 --tun-type gue --tun-port 6080 --tun-remcsum",
    ] {
        assert!(saved.lines().any(|l| l == want), "{want} in\n{saved}");
    }
}
