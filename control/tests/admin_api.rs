//! The admin REST API against a running rvsd (net_null ports, no traffic).

mod common;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use common::TempDir;

struct Rvsd {
    child: Child,
    base: String,
}

impl Drop for Rvsd {
    fn drop(&mut self) {
        let _ = Command::new("kill")
            .arg("-TERM")
            .arg(self.child.id().to_string())
            .status();
        let deadline = Instant::now() + Duration::from_secs(10);
        while Instant::now() < deadline {
            if let Ok(Some(_)) = self.child.try_wait() {
                return;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

fn start(dir: &TempDir, token: Option<&str>) -> Rvsd {
    let port = free_port();
    let token_line = match token {
        Some(t) => {
            std::fs::write(dir.path("token"), format!("{t}\n")).unwrap();
            format!("  token_file: {}\n", dir.path("token").display())
        }
        None => String::new(),
    };
    let yaml = format!(
        r#"dataplane:
  worker_lcores: [1]
  eal_args: ["--no-huge", "-m", "256"]
  mbufs: 2047
interfaces:
  - {{ name: wan0, device: "net_null0,no-rx=1", addresses: [198.18.0.254/24] }}
  - {{ name: lan0, device: "net_null1,no-rx=1", addresses: [198.19.0.254/24] }}
services:
  - proto: tcp
    vip: 198.18.0.100
    port: 80
    method: masq
    real_servers: [ {{ address: 198.19.0.11 }} ]
admin:
  listen: 127.0.0.1:{port}
{token_line}"#
    );
    std::fs::write(dir.path("rvsd.yaml"), yaml).unwrap();
    let child = Command::new(env!("CARGO_BIN_EXE_rvsd"))
        .arg("--config")
        .arg(dir.path("rvsd.yaml"))
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let r = Rvsd {
        child,
        base: format!("http://127.0.0.1:{port}"),
    };
    let deadline = Instant::now() + Duration::from_secs(20);
    while ureq::get(&format!("{}/openapi.json", r.base))
        .call()
        .is_err()
    {
        assert!(Instant::now() < deadline, "rvsd admin API did not come up");
        std::thread::sleep(Duration::from_millis(100));
    }
    r
}

fn status(r: Result<ureq::Response, ureq::Error>) -> (u16, String) {
    match r {
        Ok(resp) => (resp.status(), resp.into_string().unwrap()),
        Err(ureq::Error::Status(code, resp)) => (code, resp.into_string().unwrap()),
        Err(e) => panic!("transport error: {e}"),
    }
}

#[test]
fn token_is_required_and_routes_answer() {
    let dir = TempDir::new("admin-token");
    let d = start(&dir, Some("s3cret"));
    let url = |p: &str| format!("{}{p}", d.base);

    let (code, body) = status(ureq::get(&url("/v1/version")).call());
    assert_eq!(code, 401, "{body}");
    assert!(body.contains("\"error\""));
    let (code, _) = status(
        ureq::get(&url("/v1/version"))
            .set("Authorization", "Bearer wrong")
            .call(),
    );
    assert_eq!(code, 401);

    let (code, body) = status(
        ureq::get(&url("/v1/version"))
            .set("Authorization", "Bearer s3cret")
            .call(),
    );
    assert_eq!(code, 200, "{body}");
    let v: serde_json::Value = serde_json::from_str(&body).unwrap();
    assert_eq!(v["ipvs_compat"], "1.2.1");

    let (code, body) = status(
        ureq::get(&url("/v1/stats"))
            .set("Authorization", "Bearer s3cret")
            .call(),
    );
    assert_eq!(code, 200);
    let v: serde_json::Value = serde_json::from_str(&body).unwrap();
    assert_eq!(v["ports"][0]["name"], "wan0");
    assert_eq!(v["generation"], 1);

    let (code, body) = status(ureq::get(&url("/metrics")).call());
    assert_eq!(code, 200);
    assert!(
        body.contains("rvs_port_rx_packets_total{interface=\"wan0\",worker=\"0\"} 0"),
        "{body}"
    );
    assert!(body.contains("rvs_config_generation 1"));
    assert!(body.contains("rvs_mempool_mbufs{state=\"available\"}"));

    let (code, body) = status(ureq::get(&url("/openapi.json")).call());
    assert_eq!(code, 200);
    assert!(body.contains("\"openapi\""));

    let (code, body) = status(
        ureq::get(&url("/v1/nope"))
            .set("Authorization", "Bearer s3cret")
            .call(),
    );
    assert_eq!(code, 404);
    assert!(body.contains("openapi.json"));
}

#[test]
fn without_a_token_file_reads_work_and_changes_are_forbidden() {
    let dir = TempDir::new("admin-notoken");
    let d = start(&dir, None);
    let (code, _) = status(ureq::get(&format!("{}/v1/version", d.base)).call());
    assert_eq!(code, 200);
    let (code, body) = status(ureq::post(&format!("{}/v1/version", d.base)).call());
    assert_eq!(code, 403, "{body}");
}
