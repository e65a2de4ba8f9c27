//! The admin REST API against a running rvsd (net_null ports, no traffic).

mod common;
use std::process::Command;
use std::time::{Duration, Instant};

use common::{spawn_rvsd, RunningRvsd, TempDir};

fn start(dir: &TempDir, token: Option<&str>) -> RunningRvsd {
    let token_line = match token {
        Some(t) => {
            std::fs::write(dir.path("token"), format!("{t}\n")).unwrap();
            format!("  token_file: {}\n", dir.path("token").display())
        }
        None => String::new(),
    };
    spawn_rvsd(
        dir,
        &format!(
            "services:\n  - proto: tcp\n    vip: 198.18.0.100\n    port: 80\n    scheduler: rr\n    method: masq\n    real_servers: [ {{ address: 198.19.0.11 }} ]\nadmin:\n  listen: 127.0.0.1:{{port}}\n{token_line}"
        ),
    )
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

fn post_yaml(url: &str, token: &str, body: &str) -> (u16, serde_json::Value) {
    let (code, text) = status(
        ureq::post(url)
            .set("Authorization", &format!("Bearer {token}"))
            .set("Content-Type", "application/yaml")
            .send_string(body),
    );
    (
        code,
        serde_json::from_str(&text).unwrap_or_else(|e| panic!("{e}: {text}")),
    )
}

#[test]
fn config_apply_dry_run_and_rejections_leave_the_running_config_alone() {
    let dir = TempDir::new("admin-config");
    let d = start(&dir, Some("tok"));
    let url = |p: &str| format!("{}{p}", d.base);
    let running = std::fs::read_to_string(dir.path("rvsd.yaml")).unwrap();
    let with_rs2 = running.replace(
        "real_servers: [ { address: 198.19.0.11 } ]",
        "real_servers: [ { address: 198.19.0.11 }, { address: 198.19.0.12, weight: 2 } ]",
    );
    assert_ne!(running, with_rs2);

    // Malformed YAML and an invalid configuration: 400 with positions, nothing changes.
    let (code, v) = post_yaml(&url("/v1/config"), "tok", "services: [ {");
    assert_eq!(code, 400, "{v}");
    assert!(v["error"].as_str().unwrap().starts_with("request:"), "{v}");
    let (code, v) = post_yaml(
        &url("/v1/config"),
        "tok",
        &running.replace("scheduler: rr", "scheduler: nope"),
    );
    assert_eq!(code, 400, "{v}");
    assert!(v["errors"].to_string().contains("unknown scheduler"), "{v}");
    // Valid, but ports cannot change at run time: 422.
    let (code, v) = post_yaml(
        &url("/v1/config"),
        "tok",
        &running.replace("net_null1,no-rx=1", "net_null2,no-rx=1"),
    );
    assert_eq!(code, 422, "{v}");
    assert!(v["error"].as_str().unwrap().contains("restart"), "{v}");

    // Dry run: the diff, generation unchanged.
    let (code, v) = post_yaml(&url("/v1/config?dry_run=true"), "tok", &with_rs2);
    assert_eq!(code, 200, "{v}");
    assert_eq!(v["applied"], false);
    assert_eq!(v["generation"], 1);
    assert_eq!(
        v["diff"]["services_changed"][0]["real_servers_added"][0],
        "198.19.0.12:80"
    );
    let (_, text) = status(
        ureq::get(&url("/v1/config"))
            .set("Authorization", "Bearer tok")
            .call(),
    );
    assert!(
        !text.contains("198.19.0.12"),
        "dry run must not change the running config:\n{text}"
    );

    // Apply.
    let (code, v) = post_yaml(&url("/v1/config"), "tok", &with_rs2);
    assert_eq!(code, 200, "{v}");
    assert_eq!(v["generation"], 2);
    let (_, text) = status(
        ureq::get(&url("/v1/config"))
            .set("Authorization", "Bearer tok")
            .call(),
    );
    assert!(text.contains("198.19.0.12"), "{text}");
    let (_, m) = status(ureq::get(&url("/metrics")).call());
    assert!(
        m.contains("rvs_config_generation 2") && m.contains("rvs_config_last_reload_successful 1"),
        "{m}"
    );

    // SIGHUP with a broken file: rejected, generation stays, metric says so.
    std::fs::write(dir.path("rvsd.yaml"), "interfaces: [").unwrap();
    let _ = Command::new("kill")
        .arg("-HUP")
        .arg(d.child.id().to_string())
        .status();
    let deadline = Instant::now() + Duration::from_secs(5);
    loop {
        let (_, m) = status(ureq::get(&url("/metrics")).call());
        if m.contains("rvs_config_last_reload_successful 0") {
            assert!(m.contains("rvs_config_generation 2"), "{m}");
            break;
        }
        assert!(Instant::now() < deadline, "reload result not reported: {m}");
        std::thread::sleep(Duration::from_millis(100));
    }
    // SIGHUP with a good file: applied.
    std::fs::write(dir.path("rvsd.yaml"), &running).unwrap();
    let _ = Command::new("kill")
        .arg("-HUP")
        .arg(d.child.id().to_string())
        .status();
    let deadline = Instant::now() + Duration::from_secs(5);
    loop {
        let (_, m) = status(ureq::get(&url("/metrics")).call());
        if m.contains("rvs_config_generation 3")
            && m.contains("rvs_config_last_reload_successful 1")
        {
            break;
        }
        assert!(Instant::now() < deadline, "SIGHUP reload not applied: {m}");
        std::thread::sleep(Duration::from_millis(100));
    }
}

fn call(method: &str, url: &str, body: Option<serde_json::Value>) -> (u16, String) {
    let req = ureq::request(method, url).set("Authorization", "Bearer tok");
    status(match body {
        Some(b) => req.send_json(b),
        None => req.call(),
    })
}

#[test]
fn services_and_real_servers_crud_with_ipvsadm_refusals() {
    let dir = TempDir::new("admin-crud");
    let d = start(&dir, Some("tok"));
    let url = |p: &str| format!("{}{p}", d.base);
    let svc = serde_json::json!({
        "service": { "kind": "inet", "protocol": "tcp", "addr": "198.18.0.100", "port": 8080 },
        "scheduler": "rr"
    });
    let (code, body) = call("POST", &url("/v1/services"), Some(svc.clone()));
    assert_eq!(code, 201, "{body}");
    let (code, body) = call("POST", &url("/v1/services"), Some(svc.clone()));
    assert_eq!(code, 409, "{body}");
    assert!(
        body.contains("Service already exists") && body.contains("service_exists"),
        "{body}"
    );

    let id = "tcp:198.18.0.100:8080";
    let rs =
        serde_json::json!({ "addr": "198.19.0.11", "port": 8080, "method": "masq", "weight": 5 });
    let (code, body) = call(
        "POST",
        &url(&format!("/v1/services/{id}/real-servers")),
        Some(rs.clone()),
    );
    assert_eq!(code, 201, "{body}");
    let (code, body) = call(
        "POST",
        &url(&format!("/v1/services/{id}/real-servers")),
        Some(rs.clone()),
    );
    assert_eq!(code, 409, "{body}");
    assert!(body.contains("Destination already exists"));
    let (code, body) = call(
        "POST",
        &url("/v1/services/tcp:198.18.0.100:9/real-servers"),
        Some(rs.clone()),
    );
    assert_eq!(code, 404, "{body}");
    assert!(body.contains("Service not defined"), "{body}");

    // Tunnel real servers (IPIP here) are accepted and shown as -i; remove it again.
    let tun = serde_json::json!({ "addr": "198.19.0.12", "port": 8080, "method": { "tunnel": { "type": "ipip" } }, "weight": 1 });
    let (code, body) = call(
        "POST",
        &url(&format!("/v1/services/{id}/real-servers")),
        Some(tun),
    );
    assert_eq!(code, 201, "{body}");
    let (_, rules) = call("GET", &url("/v1/rules"), None);
    assert!(
        rules.contains("-a -t 198.18.0.100:8080 -r 198.19.0.12:8080 -i -w 1 --tun-type ipip\n"),
        "{rules}"
    );
    let (code, body) = call(
        "DELETE",
        &url(&format!("/v1/services/{id}/real-servers/198.19.0.12:8080")),
        None,
    );
    assert_eq!(code, 204, "{body}");
    // The checksum options (ipvsadm --tun-csum / --tun-remcsum) are kept and listed.
    for (addr, method) in [
        (
            "198.19.0.13",
            serde_json::json!({ "tunnel": { "type": "gre", "csum": "csum" } }),
        ),
        (
            "198.19.0.14",
            serde_json::json!({ "tunnel": { "type": "gue", "port": 6080, "csum": "remcsum" } }),
        ),
    ] {
        let tun = serde_json::json!({ "addr": addr, "port": 8080, "method": method, "weight": 1 });
        let (code, body) = call(
            "POST",
            &url(&format!("/v1/services/{id}/real-servers")),
            Some(tun),
        );
        assert_eq!(code, 201, "{body}");
    }
    let (_, rules) = call("GET", &url("/v1/rules"), None);
    for want in [
        "-a -t 198.18.0.100:8080 -r 198.19.0.13:8080 -i -w 1 --tun-type gre --tun-csum\n",
        "-a -t 198.18.0.100:8080 -r 198.19.0.14:8080 -i -w 1 --tun-type gue --tun-port 6080 --tun-remcsum\n",
    ] {
        assert!(rules.contains(want), "{want} in {rules}");
    }
    for addr in ["198.19.0.13", "198.19.0.14"] {
        let (code, body) = call(
            "DELETE",
            &url(&format!("/v1/services/{id}/real-servers/{addr}:8080")),
            None,
        );
        assert_eq!(code, 204, "{body}");
    }

    let mut edited = rs.clone();
    edited["weight"] = 2.into();
    let (code, body) = call(
        "PUT",
        &url(&format!("/v1/services/{id}/real-servers/198.19.0.11:8080")),
        Some(edited),
    );
    assert_eq!(code, 200, "{body}");
    let (code, body) = call("GET", &url(&format!("/v1/services/{id}")), None);
    assert_eq!(code, 200, "{body}");
    let v: serde_json::Value = serde_json::from_str(&body).unwrap();
    assert_eq!(v["real_servers"][0]["weight"], 2, "{v}");
    assert_eq!(v["scheduler"], "rr");

    let (code, rules) = call("GET", &url("/v1/rules"), None);
    assert_eq!(code, 200);
    assert!(
        rules.contains(
            "-A -t 198.18.0.100:8080 -s rr\n-a -t 198.18.0.100:8080 -r 198.19.0.11:8080 -m -w 2\n"
        ),
        "{rules}"
    );

    let (code, body) = call(
        "PUT",
        &url("/v1/timeouts"),
        Some(serde_json::json!({ "tcp": 30, "tcp_fin": 0, "udp": 60 })),
    );
    assert_eq!(code, 200, "{body}");
    let (_, body) = call("GET", &url("/v1/timeouts"), None);
    assert_eq!(
        serde_json::from_str::<serde_json::Value>(&body).unwrap(),
        serde_json::json!({ "tcp": 30, "tcp_fin": 120, "udp": 60 })
    );

    let (code, _) = call(
        "DELETE",
        &url(&format!("/v1/services/{id}/real-servers/198.19.0.11:8080")),
        None,
    );
    assert_eq!(code, 204);
    let (code, body) = call(
        "DELETE",
        &url(&format!("/v1/services/{id}/real-servers/198.19.0.11:8080")),
        None,
    );
    assert_eq!(code, 404, "{body}");
    assert!(body.contains("No such destination"));
    let (code, _) = call("DELETE", &url(&format!("/v1/services/{id}")), None);
    assert_eq!(code, 204);
    let (code, body) = call("DELETE", &url(&format!("/v1/services/{id}")), None);
    assert_eq!(code, 404);
    assert!(body.contains("No such service"));

    // -R: all or nothing, with the line at fault.
    let (code, body) = status(
        ureq::post(&url("/v1/rules"))
            .set("Authorization", "Bearer tok")
            .send_string("-A -u 198.18.0.100:5353 -s rr\n-a -u 198.18.0.100:5353 -r 198.19.0.11:5353 -m\n-a -u 198.18.0.100:5353 -r 198.19.0.11:5353 -m\n"),
    );
    assert_eq!(code, 400, "{body}");
    assert!(
        body.contains("Destination already exists") && body.contains("\"line\":3"),
        "{body}"
    );
    let (_, rules) = call("GET", &url("/v1/rules"), None);
    assert!(
        !rules.contains("5353"),
        "a refused restore changes nothing: {rules}"
    );

    let (code, _) = call("DELETE", &url("/v1/services"), None);
    assert_eq!(code, 204);
    let (_, body) = call("GET", &url("/v1/services"), None);
    assert_eq!(body, "[]");
    let (code, body) = call("GET", &url("/v1/services/tcp:nonsense"), None);
    assert_eq!(code, 400, "{body}");
    assert!(body.contains("\"field\":\"service\""), "{body}");
}

/// Status, content type and JSON body of an answer that must be an error in the API's
/// format (`{"error": "..."}`).
fn json_error(r: Result<ureq::Response, ureq::Error>) -> (u16, serde_json::Value) {
    let resp = match r {
        Ok(resp) => resp,
        Err(ureq::Error::Status(_, resp)) => resp,
        Err(e) => panic!("transport error: {e}"),
    };
    let code = resp.status();
    let content_type = resp.header("Content-Type").unwrap_or("").to_string();
    let text = resp.into_string().unwrap();
    assert!(
        content_type.starts_with("application/json"),
        "{code} answered {content_type:?}: {text}"
    );
    let v: serde_json::Value =
        serde_json::from_str(&text).unwrap_or_else(|e| panic!("{e}: {text}"));
    assert!(v["error"].is_string(), "{code}: {text}");
    (code, v)
}

/// Send `body` on a connection of its own and read the answer, which rvsd sends before it
/// has read the whole of an oversized body: the writer runs in a thread and its broken
/// pipe is expected. Returns the status, the Content-Type and the body.
fn send_raw(
    base: &str,
    method: &str,
    path: &str,
    content_type: &str,
    body: &[u8],
) -> (u16, String, String) {
    use std::io::{Read, Write};
    let addr = base.strip_prefix("http://").unwrap();
    let mut stream = std::net::TcpStream::connect(addr).unwrap();
    stream
        .set_read_timeout(Some(Duration::from_secs(20)))
        .unwrap();
    let head = format!(
        "{method} {path} HTTP/1.1\r\nHost: {addr}\r\nAuthorization: Bearer tok\r\nContent-Type: {content_type}\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
        body.len()
    );
    let mut writer = stream.try_clone().unwrap();
    let body = body.to_vec();
    let sender = std::thread::spawn(move || {
        let _ = writer
            .write_all(head.as_bytes())
            .and_then(|()| writer.write_all(&body));
    });
    let mut answer = vec![];
    let mut chunk = [0u8; 4096];
    // Read until the end of the answer; a reset after it (the unread rest of the body) is
    // not an error of the answer.
    loop {
        match stream.read(&mut chunk) {
            Ok(0) | Err(_) => break,
            Ok(n) => answer.extend_from_slice(&chunk[..n]),
        }
        if complete(&answer) {
            break;
        }
    }
    let _ = stream.shutdown(std::net::Shutdown::Both);
    sender.join().unwrap();
    let text = String::from_utf8_lossy(&answer).to_string();
    let (head, body) = text
        .split_once("\r\n\r\n")
        .unwrap_or_else(|| panic!("no answer: {text:?}"));
    let code = head[9..12].parse().unwrap();
    let content_type = head
        .lines()
        .find_map(|l| {
            let (k, v) = l.split_once(':')?;
            k.eq_ignore_ascii_case("content-type")
                .then(|| v.trim().to_string())
        })
        .unwrap_or_default();
    (code, content_type, body.to_string())
}

/// Whether `answer` holds a whole HTTP response with a Content-Length body.
fn complete(answer: &[u8]) -> bool {
    let text = String::from_utf8_lossy(answer);
    let Some((head, body)) = text.split_once("\r\n\r\n") else {
        return false;
    };
    head.lines()
        .find_map(|l| {
            let (k, v) = l.split_once(':')?;
            k.eq_ignore_ascii_case("content-length")
                .then(|| v.trim().parse::<usize>().ok())?
        })
        .is_some_and(|n| body.len() >= n)
}

#[test]
fn oversized_bodies_and_wrong_methods_answer_json_errors() {
    let dir = TempDir::new("admin-errors");
    let d = start(&dir, Some("tok"));
    let url = |p: &str| format!("{}{p}", d.base);
    // 10 MB, ten times the limit, on the JSON routes and on the YAML one.
    let big = format!("{{\"scheduler\": \"{}\"}}", "x".repeat(10 << 20));
    for (method, path, content_type) in [
        ("POST", "/v1/services", "application/json"),
        ("PUT", "/v1/timeouts", "application/json"),
        ("POST", "/v1/config", "application/yaml"),
    ] {
        let (code, answer_type, text) =
            send_raw(&d.base, method, path, content_type, big.as_bytes());
        assert_eq!(code, 413, "{method} {path}: {text}");
        assert!(
            answer_type.starts_with("application/json"),
            "{method} {path}: {answer_type}: {text}"
        );
        let v: serde_json::Value =
            serde_json::from_str(&text).unwrap_or_else(|e| panic!("{e}: {text}"));
        assert!(
            v["error"].as_str().unwrap().contains("1048576"),
            "{method} {path}: {v}"
        );
    }

    let r = ureq::request("PATCH", &url("/v1/services"))
        .set("Authorization", "Bearer tok")
        .call();
    let allow = match &r {
        Err(ureq::Error::Status(_, resp)) => resp.header("Allow").map(str::to_string),
        _ => None,
    };
    let (code, v) = json_error(r);
    assert_eq!(code, 405, "{v}");
    let allow = allow.expect("405 names the methods in Allow");
    assert!(allow.contains("POST"), "{allow}");
    let (code, v) = json_error(ureq::post(&url("/openapi.json")).call());
    assert_eq!(code, 405, "{v}");
    // axum's own refusal of a malformed query, in the same format.
    let (code, v) = json_error(
        ureq::post(&url("/v1/config?dry_run=maybe"))
            .set("Authorization", "Bearer tok")
            .send_string("services: []\n"),
    );
    assert_eq!(code, 400, "{v}");
}

#[test]
fn the_bearer_scheme_name_is_case_insensitive() {
    let dir = TempDir::new("admin-bearer");
    let d = start(&dir, Some("tok"));
    for scheme in ["Bearer", "bearer", "BEARER"] {
        let (code, body) = status(
            ureq::get(&format!("{}/v1/version", d.base))
                .set("Authorization", &format!("{scheme} tok"))
                .call(),
        );
        assert_eq!(code, 200, "{scheme}: {body}");
    }
    let (code, v) = json_error(
        ureq::get(&format!("{}/v1/version", d.base))
            .set("Authorization", "Basic tok")
            .call(),
    );
    assert_eq!(code, 401, "{v}");
}

#[test]
fn config_changes_through_the_api_cannot_change_the_admin_section() {
    let dir = TempDir::new("admin-keep");
    let d = start(&dir, Some("tok"));
    let url = |p: &str| format!("{}{p}", d.base);
    let running = std::fs::read_to_string(dir.path("rvsd.yaml")).unwrap();
    let token_line = running
        .lines()
        .find(|l| l.trim_start().starts_with("token_file:"))
        .unwrap()
        .to_string();
    // The same admin.listen without a token file would make the API read-only for everyone.
    let without_token = running.replace(&format!("{token_line}\n"), "");
    assert_ne!(running, without_token);
    let without_admin = &running[..running.find("admin:").unwrap()];
    for doc in [without_token.as_str(), without_admin] {
        for path in ["/v1/config?dry_run=true", "/v1/config"] {
            let (code, v) = post_yaml(&url(path), "tok", doc);
            assert_eq!(code, 422, "{path}: {v}");
            assert_eq!(
                v["error"],
                "admin: cannot be changed through the API; edit the configuration file and send SIGHUP",
                "{path}: {v}"
            );
        }
    }
    // Still writable with the token.
    let (code, body) = call(
        "PUT",
        &url("/v1/timeouts"),
        Some(serde_json::json!({ "tcp": 30, "tcp_fin": 0, "udp": 60 })),
    );
    assert_eq!(code, 200, "{body}");
    // The same document with the running admin section is accepted.
    let with_rs2 = running.replace(
        "real_servers: [ { address: 198.19.0.11 } ]",
        "real_servers: [ { address: 198.19.0.11 }, { address: 198.19.0.12 } ]",
    );
    let (code, v) = post_yaml(&url("/v1/config"), "tok", &with_rs2);
    assert_eq!(code, 200, "{v}");
    let (code, body) = call(
        "PUT",
        &url("/v1/timeouts"),
        Some(serde_json::json!({ "tcp": 40, "tcp_fin": 0, "udp": 60 })),
    );
    assert_eq!(code, 200, "{body}");
}

#[test]
fn exec_health_checks_come_only_from_the_configuration_file() {
    let dir = TempDir::new("admin-exec");
    let d = start(&dir, Some("tok"));
    let url = |p: &str| format!("{}{p}", d.base);
    let running = std::fs::read_to_string(dir.path("rvsd.yaml")).unwrap();
    let check = |cmd: &str| {
        running.replace(
            "    real_servers:",
            &format!("    health_check: {{ type: exec, command: {cmd} }}\n    real_servers:"),
        )
    };
    let with_exec = check("/bin/true");
    assert_ne!(running, with_exec);
    for path in ["/v1/config?dry_run=true", "/v1/config"] {
        let (code, v) = post_yaml(&url(path), "tok", &with_exec);
        assert_eq!(code, 422, "{path}: {v}");
        let e = v["error"].as_str().unwrap();
        assert!(
            e.contains("exec health checks cannot be added or changed through the API")
                && e.contains("edit the configuration file and send SIGHUP"),
            "{path}: {v}"
        );
    }
    // From the file (SIGHUP) it is taken; the API may then keep it but not change it.
    std::fs::write(dir.path("rvsd.yaml"), &with_exec).unwrap();
    let _ = Command::new("kill")
        .arg("-HUP")
        .arg(d.child.id().to_string())
        .status();
    let deadline = Instant::now() + Duration::from_secs(5);
    while !status(ureq::get(&url("/metrics")).call())
        .1
        .contains("rvs_config_generation 2")
    {
        assert!(Instant::now() < deadline, "SIGHUP reload not applied");
        std::thread::sleep(Duration::from_millis(100));
    }
    let (code, v) = post_yaml(
        &url("/v1/config"),
        "tok",
        &with_exec.replace("scheduler: rr", "scheduler: wrr"),
    );
    assert_eq!(code, 200, "{v}");
    let (code, v) = post_yaml(&url("/v1/config"), "tok", &check("/bin/false"));
    assert_eq!(code, 422, "{v}");
    // Nor may the API choose who exec checks run as.
    let as_root = format!("{with_exec}health: {{ exec_user: root }}\n");
    let (code, v) = post_yaml(&url("/v1/config"), "tok", &as_root);
    assert_eq!(code, 422, "{v}");
    assert!(
        v["error"]
            .as_str()
            .unwrap()
            .starts_with("health: (who exec checks run as"),
        "{v}"
    );
}
