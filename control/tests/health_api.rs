//! Health checks in a running rvsd: real servers are HTTP servers on 127.0.0.1 (the
//! checks use the rvsd process's kernel sockets, as on a director). Stopping and starting
//! them must show in /v1/health, in the running table (/v1/services, what rvsadm -Ln
//! prints) and in /metrics, within the rise/fall bounds; the sorry server takes over when
//! both are down; a reload keeps the state of servers that remain.

mod common;
use std::io::{Read, Write};
use std::net::TcpListener;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use common::{spawn_rvsd, TempDir};
use serde_json::Value;

const TOKEN: &str = "health-token";
/// Check interval (ms), rise and fall of the test service.
const INTERVAL_MS: u64 = 200;
const RISE: u32 = 2;
const FALL: u32 = 3;

/// An HTTP server on 127.0.0.1:`port` answering "ok" until stopped (its socket closes,
/// so checks are refused).
struct Server {
    stop: Arc<AtomicBool>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl Server {
    fn start(port: u16) -> Server {
        let l = TcpListener::bind(("127.0.0.1", port)).expect("bind test server");
        l.set_nonblocking(true).unwrap();
        let stop = Arc::new(AtomicBool::new(false));
        let s2 = stop.clone();
        let thread = std::thread::spawn(move || {
            while !s2.load(Ordering::Relaxed) {
                match l.accept() {
                    Ok((mut c, _)) => {
                        c.set_nonblocking(false).unwrap();
                        c.set_read_timeout(Some(Duration::from_secs(1))).unwrap();
                        let mut buf = [0u8; 1024];
                        let _ = c.read(&mut buf);
                        let _ = c.write_all(b"HTTP/1.0 200 OK\r\nContent-Length: 3\r\n\r\nok\n");
                    }
                    Err(_) => std::thread::sleep(Duration::from_millis(5)),
                }
            }
        });
        Server {
            stop,
            thread: Some(thread),
        }
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

fn get(base: &str, path: &str) -> Value {
    let r = ureq::get(&format!("{base}{path}"))
        .set("Authorization", &format!("Bearer {TOKEN}"))
        .call()
        .unwrap_or_else(|e| panic!("GET {path}: {e}"));
    let text = r.into_string().unwrap();
    serde_json::from_str(&text).unwrap_or(Value::String(text))
}

fn get_text(base: &str, path: &str) -> String {
    ureq::get(&format!("{base}{path}"))
        .set("Authorization", &format!("Bearer {TOKEN}"))
        .call()
        .unwrap()
        .into_string()
        .unwrap()
}

/// The health entry of the real server on `port`.
fn rs_health(base: &str, port: u16) -> Value {
    let v = get(base, "/v1/health/tcp:198.18.0.100:80");
    v["real_servers"]
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["port"] == port)
        .cloned()
        .unwrap_or_else(|| panic!("no real server on port {port}: {v}"))
}

/// (port, weight) of the running table, as rvsadm -Ln shows it.
fn running(base: &str) -> Vec<(u64, u64)> {
    let v = get(base, "/v1/services/tcp:198.18.0.100:80");
    v["real_servers"]
        .as_array()
        .unwrap()
        .iter()
        .map(|d| (d["port"].as_u64().unwrap(), d["weight"].as_u64().unwrap()))
        .collect()
}

/// Wait until `f` holds; returns how long that took.
fn wait_for(what: &str, limit: Duration, mut f: impl FnMut() -> bool) -> Duration {
    let t0 = Instant::now();
    while !f() {
        assert!(t0.elapsed() < limit, "{what}: not within {limit:?}");
        std::thread::sleep(Duration::from_millis(20));
    }
    t0.elapsed()
}

#[test]
fn servers_go_down_and_up_and_the_sorry_server_covers_for_them() {
    let dir = TempDir::new("health-api");
    std::fs::write(dir.path("token"), TOKEN).unwrap();
    let (p1, p2, p3, sorry) = (
        common::free_port(),
        common::free_port(),
        common::free_port(),
        common::free_port(),
    );
    let d = spawn_rvsd(
        &dir,
        &format!(
            "routes:\n  - {{ prefix: 127.0.0.0/8, via: 198.19.0.1, interface: lan0 }}\nservices:\n  - proto: tcp\n    vip: 198.18.0.100\n    port: 80\n    scheduler: rr\n    method: masq\n    health_check: {{ type: http, path: /health, expect_body: ok, interval: {INTERVAL_MS}ms, timeout: {INTERVAL_MS}ms, rise: {RISE}, fall: {FALL} }}\n    sorry_server: 127.0.0.1:{sorry}\n    real_servers:\n      - {{ address: 127.0.0.1, port: {p1}, weight: 2 }}\n      - {{ address: 127.0.0.1, port: {p2}, weight: 3 }}\nadmin:\n  listen: 127.0.0.1:{{port}}\n  token_file: {}\n",
            dir.path("token").display()
        ),
    );
    let base = d.base.as_str();
    let s1 = Server::start(p1);
    let s2 = Server::start(p2);
    let interval = Duration::from_millis(INTERVAL_MS);
    let down_bound = interval * FALL + Duration::from_secs(1);
    let up_bound = interval * RISE + Duration::from_secs(1);

    wait_for("both servers checked ok", Duration::from_secs(5), || {
        [p1, p2]
            .iter()
            .all(|&p| rs_health(base, p)["health"]["checks_ok"].as_u64() >= Some(2))
    });
    assert_eq!(running(base), [(p1 as u64, 2), (p2 as u64, 3)]);
    let h = get(base, "/v1/health");
    assert_eq!(h[0]["check"], "http", "{h}");
    assert_eq!(h[0]["sorry_server_active"], false);
    assert_eq!(rs_health(base, p1)["state"], "up");

    // rs1 stops: down (quiescent, weight 0) within fall x interval (+1 s).
    drop(s1);
    let t = wait_for("rs1 down", down_bound, || {
        rs_health(base, p1)["state"] == "down"
    });
    println!("rs1 marked down {t:?} after its server stopped (bound {down_bound:?})");
    // The control thread applies the state to the table on its next round (20 ms).
    wait_for(
        "rs1 at weight 0 in the table",
        Duration::from_secs(1),
        || rs_health(base, p1)["effective_weight"] == 0,
    );
    let r1 = rs_health(base, p1);
    assert!(
        r1["health"]["last_error"]
            .as_str()
            .unwrap()
            .contains("refused"),
        "{r1}"
    );
    wait_for(
        "table shows rs1 at weight 0",
        Duration::from_secs(1),
        || running(base) == [(p1 as u64, 0), (p2 as u64, 3)],
    );
    // The configuration itself is unchanged.
    let cfg = get_text(base, "/v1/config");
    assert!(!cfg.contains("weight: 0"), "{cfg}");
    let m = get_text(base, "/metrics");
    assert!(
        m.contains(&format!(r#"rvs_ipvs_backend_up{{local_address="198.18.0.100",local_mark="",local_port="80",proto="TCP",remote_address="127.0.0.1",remote_port="{p1}"}} 0"#)),
        "{m}"
    );
    assert!(m.contains(&format!(r#"remote_port="{p2}"}} 1"#)));

    // rs2 stops too: the sorry server is the only destination with a weight.
    drop(s2);
    wait_for("sorry server in use", down_bound, || {
        get(base, "/v1/health/tcp:198.18.0.100:80")["sorry_server_active"] == true
    });
    assert_eq!(
        running(base),
        [(p1 as u64, 0), (p2 as u64, 0), (sorry as u64, 1)]
    );

    // rs1 comes back: up within rise x interval (+1 s), and the sorry server leaves.
    let s1 = Server::start(p1);
    let t = wait_for("rs1 up", up_bound, || rs_health(base, p1)["state"] == "up");
    println!("rs1 marked up {t:?} after its server started (bound {up_bound:?})");
    wait_for("sorry server gone", Duration::from_secs(1), || {
        running(base) == [(p1 as u64, 2), (p2 as u64, 0)]
    });

    // A reload that adds a server keeps the others' state and checks the new one.
    let before = rs_health(base, p2);
    let r = ureq::post(&format!(
        "{base}/v1/services/tcp:198.18.0.100:80/real-servers"
    ))
    .set("Authorization", &format!("Bearer {TOKEN}"))
    .send_json(
        serde_json::json!({ "addr": "127.0.0.1", "port": p3, "method": "masq", "weight": 1 }),
    )
    .unwrap();
    assert_eq!(r.status(), 201);
    let after = rs_health(base, p2);
    assert_eq!(after["state"], "down", "{after}");
    assert_eq!(
        after["health"]["last_transition"], before["health"]["last_transition"],
        "reload kept rs2's state"
    );
    wait_for(
        "new server checked (refused: nothing listens)",
        down_bound,
        || rs_health(base, p3)["health"]["checks_failed"].as_u64() >= Some(1),
    );
    drop(s1);
}

#[test]
fn not_quiescent_removes_the_server_from_the_table() {
    let dir = TempDir::new("health-remove");
    std::fs::write(dir.path("token"), TOKEN).unwrap();
    let (p1, p2) = (common::free_port(), common::free_port());
    let d = spawn_rvsd(
        &dir,
        &format!(
            "routes:\n  - {{ prefix: 127.0.0.0/8, via: 198.19.0.1, interface: lan0 }}\nservices:\n  - proto: tcp\n    vip: 198.18.0.100\n    port: 80\n    method: masq\n    health_check: {{ type: tcp, interval: 100ms, timeout: 100ms, quiescent: false }}\n    real_servers:\n      - {{ address: 127.0.0.1, port: {p1} }}\n      - {{ address: 127.0.0.1, port: {p2} }}\nadmin:\n  listen: 127.0.0.1:{{port}}\n  token_file: {}\n",
            dir.path("token").display()
        ),
    );
    let base = d.base.as_str();
    let _s2 = Server::start(p2);
    // Nothing listens on p1: it fails its first check (fall 1) and leaves the table.
    wait_for("rs1 out of the table", Duration::from_secs(3), || {
        running(base) == [(p2 as u64, 1)]
    });
    let r1 = rs_health(base, p1);
    assert_eq!(r1["state"], "down");
    assert_eq!(r1["effective_weight"], Value::Null, "{r1}");
    let _s1 = Server::start(p1);
    wait_for("rs1 back", Duration::from_secs(3), || {
        running(base) == [(p1 as u64, 1), (p2 as u64, 1)]
    });
}
