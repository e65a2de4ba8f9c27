//! One health check of one real server, with ordinary kernel sockets (on a director the
//! kernel reaches the real servers through the exception path, so a check tests the same
//! network the traffic uses). The caller bounds each check with the configured timeout;
//! dropping a check's future closes its socket or kills its program.

use std::net::SocketAddr;
use std::process::Stdio;

use config::HealthCheckKind;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

/// Most of an HTTP answer read: enough for a status line, headers and a small health page.
pub const MAX_HTTP_RESPONSE: usize = 64 * 1024;

/// What a check needs to know besides its kind.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Target {
    /// Where the check connects: the real server's address and the check port.
    pub addr: SocketAddr,
    /// The virtual service's address (or firewall mark) and port, for exec checks.
    pub vip: String,
    /// The virtual port (0 for firewall-mark services).
    pub vport: u16,
    /// The real server's own port (exec checks get it even when the check port differs).
    pub rport: u16,
}

/// Run one check; `Err` says why the server failed it, in one line.
pub async fn run(kind: &HealthCheckKind, t: &Target) -> Result<(), String> {
    match kind {
        HealthCheckKind::Tcp => {
            // keepalived's TCP_CHECK: the connect is the whole check.
            TcpStream::connect(t.addr)
                .await
                .map(drop)
                .map_err(|e| format!("connect to {}: {e}", t.addr))
        }
        HealthCheckKind::Http {
            path,
            expect_status,
            host,
            expect_body,
        } => {
            http(
                t.addr,
                path,
                host.as_deref(),
                *expect_status,
                expect_body.as_deref(),
            )
            .await
        }
        HealthCheckKind::Dns { name } => dns(t.addr, name).await,
        HealthCheckKind::Https {
            path,
            expect_status,
            host,
            expect_body,
        } => {
            super::tls::https(
                t.addr,
                path,
                host.as_deref(),
                *expect_status,
                expect_body.as_deref(),
            )
            .await
        }
        HealthCheckKind::Exec { command, args } => {
            let status = tokio::process::Command::new(command)
                .args(args)
                .args([
                    t.vip.clone(),
                    t.vport.to_string(),
                    t.addr.ip().to_string(),
                    t.rport.to_string(),
                ])
                .env("RVS_VIP", &t.vip)
                .env("RVS_VPORT", t.vport.to_string())
                .env("RVS_RIP", t.addr.ip().to_string())
                .env("RVS_RPORT", t.rport.to_string())
                .env("RVS_CHECK_PORT", t.addr.port().to_string())
                .stdin(Stdio::null())
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                // A check that times out is dropped: the program is killed with it.
                .kill_on_drop(true)
                .status()
                .await
                .map_err(|e| format!("cannot run {}: {e}", command.display()))?;
            if status.success() {
                Ok(())
            } else {
                Err(format!("{} exited with {status}", command.display()))
            }
        }
    }
}

/// The Host header value for a server: its address, with the port unless it is the
/// scheme's default (80 for http, 443 for https).
fn host_header(addr: SocketAddr, default_port: u16) -> String {
    match addr.ip() {
        _ if addr.port() != default_port => addr.to_string(),
        std::net::IpAddr::V4(a) => a.to_string(),
        std::net::IpAddr::V6(a) => format!("[{a}]"),
    }
}

/// The GET request of the http and https checks: HTTP/1.0 with Connection: close, so the
/// server ends the answer by closing. `default_port` is the scheme's (80 or 443), left out
/// of a Host header made from the address.
pub(super) fn http_request(
    addr: SocketAddr,
    path: &str,
    host: Option<&str>,
    default_port: u16,
) -> String {
    format!(
        "GET {path} HTTP/1.0\r\nHost: {}\r\nUser-Agent: rvs-health-check\r\nConnection: close\r\n\r\n",
        host.map_or_else(|| host_header(addr, default_port), str::to_owned)
    )
}

async fn http(
    addr: SocketAddr,
    path: &str,
    host: Option<&str>,
    expect_status: u16,
    expect_body: Option<&str>,
) -> Result<(), String> {
    let mut s = TcpStream::connect(addr)
        .await
        .map_err(|e| format!("connect to {addr}: {e}"))?;
    s.write_all(http_request(addr, path, host, 80).as_bytes())
        .await
        .map_err(|e| format!("send to {addr}: {e}"))?;
    let mut buf = Vec::with_capacity(4096);
    // Read to the end of the answer or the cap; a server that keeps sending past it has
    // said enough to be judged.
    let mut limited = (&mut s).take(MAX_HTTP_RESPONSE as u64);
    limited
        .read_to_end(&mut buf)
        .await
        .map_err(|e| format!("read from {addr}: {e}"))?;
    judge(&buf, expect_status, expect_body)
}

/// DNS record type SOA: every zone has one, so a working server answers NOERROR.
const DNS_TYPE_SOA: u16 = 6;

/// A DNS query for `name` (type SOA, class IN, recursion desired) with id `id`.
pub fn dns_query(id: u16, name: &str) -> Vec<u8> {
    let mut q = Vec::with_capacity(32 + name.len());
    q.extend_from_slice(&id.to_be_bytes());
    q.extend_from_slice(&[0x01, 0x00]); // RD
    q.extend_from_slice(&[0, 1, 0, 0, 0, 0, 0, 0]); // QDCOUNT 1
    for label in name.split('.').filter(|l| !l.is_empty()) {
        q.push(label.len() as u8);
        q.extend_from_slice(label.as_bytes());
    }
    q.push(0);
    q.extend_from_slice(&DNS_TYPE_SOA.to_be_bytes());
    q.extend_from_slice(&1u16.to_be_bytes()); // IN
    q
}

/// Judge a DNS answer to query `id`: a response (QR) with the id and RCODE NOERROR.
pub fn judge_dns(resp: &[u8], id: u16) -> Result<(), String> {
    if resp.len() < 12 {
        return Err(format!(
            "DNS answer of {} bytes, shorter than a header",
            resp.len()
        ));
    }
    if u16::from_be_bytes([resp[0], resp[1]]) != id {
        return Err("DNS answer with another query's id".into());
    }
    if resp[2] & 0x80 == 0 {
        return Err("DNS packet is a query, not an answer".into());
    }
    match resp[3] & 0x0f {
        0 => Ok(()),
        rcode => Err(format!("DNS RCODE {rcode}, expected 0 (NOERROR)")),
    }
}

async fn dns(addr: SocketAddr, name: &str) -> Result<(), String> {
    let local: SocketAddr = if addr.is_ipv4() {
        (std::net::Ipv4Addr::UNSPECIFIED, 0).into()
    } else {
        (std::net::Ipv6Addr::UNSPECIFIED, 0).into()
    };
    let sock = tokio::net::UdpSocket::bind(local)
        .await
        .map_err(|e| format!("UDP socket: {e}"))?;
    // A connected socket gets only the server's datagrams, and an ICMP port unreachable
    // comes back as an error (the server is down) instead of a silent timeout.
    sock.connect(addr)
        .await
        .map_err(|e| format!("connect to {addr}: {e}"))?;
    // The id need not be secret here; it only pairs the answer with the query.
    let id = (std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.subsec_nanos())
        .unwrap_or(0)
        & 0xffff) as u16;
    sock.send(&dns_query(id, name))
        .await
        .map_err(|e| format!("send to {addr}: {e}"))?;
    let mut buf = [0u8; 1500];
    loop {
        let n = sock
            .recv(&mut buf)
            .await
            .map_err(|e| format!("DNS query to {addr}: {e}"))?;
        // A late answer to an earlier check's query is not this one's; keep waiting.
        match judge_dns(&buf[..n], id) {
            Err(e) if e.contains("another query's id") => continue,
            r => return r,
        }
    }
}

/// Judge an HTTP answer: its status and, if asked, a substring of its body.
pub fn judge(resp: &[u8], expect_status: u16, expect_body: Option<&str>) -> Result<(), String> {
    let line_end = resp.iter().position(|&b| b == b'\n').unwrap_or(resp.len());
    let line = String::from_utf8_lossy(&resp[..line_end]);
    let line = line.trim_end();
    let mut parts = line.splitn(3, ' ');
    let version = parts.next().unwrap_or("");
    let status: Option<u16> = parts.next().and_then(|c| c.parse().ok());
    let Some(status) = status.filter(|_| version.starts_with("HTTP/")) else {
        if resp.is_empty() {
            return Err("empty HTTP answer".into());
        }
        return Err(format!("not an HTTP status line: {:?}", truncate(line, 60)));
    };
    if status != expect_status {
        return Err(format!("HTTP status {status}, expected {expect_status}"));
    }
    if let Some(want) = expect_body {
        let body_start = find(resp, b"\r\n\r\n")
            .map(|i| i + 4)
            .or_else(|| find(resp, b"\n\n").map(|i| i + 2))
            .unwrap_or(resp.len());
        if find(&resp[body_start..], want.as_bytes()).is_none() {
            return Err(format!("HTTP body does not contain {want:?}"));
        }
    }
    Ok(())
}

fn find(hay: &[u8], needle: &[u8]) -> Option<usize> {
    if needle.is_empty() {
        return Some(0);
    }
    hay.windows(needle.len()).position(|w| w == needle)
}

fn truncate(s: &str, n: usize) -> &str {
    match s.char_indices().nth(n) {
        Some((i, _)) => &s[..i],
        None => s,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::{Read, Write};
    use std::time::Duration;

    fn target(addr: SocketAddr) -> Target {
        Target {
            addr,
            vip: "198.18.0.100".into(),
            vport: 80,
            rport: addr.port(),
        }
    }

    fn rt() -> tokio::runtime::Runtime {
        tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap()
    }

    /// A one-shot-per-connection HTTP server on 127.0.0.1 answering `answer`; returns its
    /// address and the requests it saw.
    fn http_server(
        answer: &'static str,
        conns: usize,
    ) -> (SocketAddr, std::thread::JoinHandle<Vec<String>>) {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = l.local_addr().unwrap();
        let h = std::thread::spawn(move || {
            let mut seen = Vec::new();
            for _ in 0..conns {
                let (mut c, _) = l.accept().unwrap();
                let mut buf = [0u8; 1024];
                let n = c.read(&mut buf).unwrap();
                seen.push(String::from_utf8_lossy(&buf[..n]).into_owned());
                c.write_all(answer.as_bytes()).unwrap();
            }
            seen
        });
        (addr, h)
    }

    fn http_kind(status: u16, body: Option<&str>) -> HealthCheckKind {
        HealthCheckKind::Http {
            path: "/health".into(),
            expect_status: status,
            host: None,
            expect_body: body.map(str::to_owned),
        }
    }

    #[test]
    fn tcp_connect_up_and_refused() {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = l.local_addr().unwrap();
        let rt = rt();
        assert_eq!(
            rt.block_on(run(&HealthCheckKind::Tcp, &target(addr))),
            Ok(())
        );
        drop(l);
        let e = rt
            .block_on(run(&HealthCheckKind::Tcp, &target(addr)))
            .unwrap_err();
        assert!(e.contains("refused"), "{e}");
    }

    #[test]
    fn http_status_and_body() {
        let rt = rt();
        let (addr, h) = http_server("HTTP/1.1 200 OK\r\nContent-Length: 7\r\n\r\nall ok\n", 3);
        let t = target(addr);
        assert_eq!(rt.block_on(run(&http_kind(200, None), &t)), Ok(()));
        assert_eq!(
            rt.block_on(run(&http_kind(200, Some("all ok")), &t)),
            Ok(())
        );
        let e = rt
            .block_on(run(&http_kind(200, Some("down")), &t))
            .unwrap_err();
        assert_eq!(e, "HTTP body does not contain \"down\"");
        let seen = h.join().unwrap();
        assert!(
            seen[0].starts_with("GET /health HTTP/1.0\r\n"),
            "{}",
            seen[0]
        );
        assert!(
            seen[0].contains(&format!("\r\nHost: {addr}\r\n")),
            "{}",
            seen[0]
        );

        let (addr, h) = http_server("HTTP/1.0 503 Service Unavailable\r\n\r\n", 1);
        let e = rt
            .block_on(run(&http_kind(200, None), &target(addr)))
            .unwrap_err();
        assert_eq!(e, "HTTP status 503, expected 200");
        h.join().unwrap();

        let (addr, h) = http_server("SSH-2.0-OpenSSH\r\n", 1);
        let e = rt
            .block_on(run(&http_kind(200, None), &target(addr)))
            .unwrap_err();
        assert!(e.starts_with("not an HTTP status line"), "{e}");
        h.join().unwrap();
    }

    #[test]
    fn judge_answers() {
        assert!(judge(b"HTTP/1.1 204 No Content\r\n\r\n", 204, None).is_ok());
        assert!(judge(b"HTTP/1.1 200 OK\n\nbody", 200, Some("body")).is_ok());
        // The body substring must be in the body, not in a header.
        assert!(judge(
            b"HTTP/1.1 200 OK\r\nX: needle\r\n\r\nhay",
            200,
            Some("needle")
        )
        .is_err());
        assert_eq!(judge(b"", 200, None).unwrap_err(), "empty HTTP answer");
        assert!(judge(b"HTTP/1.1 abc\r\n", 200, None).is_err());
    }

    #[test]
    fn dns_query_and_answers() {
        let q = dns_query(0x1234, "example.org.");
        assert_eq!(
            q,
            [
                0x12, 0x34, 1, 0, 0, 1, 0, 0, 0, 0, 0, 0, 7, b'e', b'x', b'a', b'm', b'p', b'l',
                b'e', 3, b'o', b'r', b'g', 0, 0, 6, 0, 1
            ]
        );
        assert_eq!(dns_query(1, ".").len(), 12 + 1 + 4);
        let rt = rt();
        // A server answering NOERROR, then REFUSED, then nothing (port closed).
        let srv = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
        let addr = srv.local_addr().unwrap();
        let h = std::thread::spawn(move || {
            for rcode in [0u8, 5] {
                let mut b = [0u8; 512];
                let (n, peer) = srv.recv_from(&mut b).unwrap();
                b[2] |= 0x80;
                b[3] = (b[3] & 0xf0) | rcode;
                srv.send_to(&b[..n], peer).unwrap();
            }
        });
        let kind = HealthCheckKind::Dns {
            name: "example.org".into(),
        };
        assert_eq!(rt.block_on(run(&kind, &target(addr))), Ok(()));
        let e = rt.block_on(run(&kind, &target(addr))).unwrap_err();
        assert_eq!(e, "DNS RCODE 5, expected 0 (NOERROR)");
        h.join().unwrap();
        let e = rt.block_on(run(&kind, &target(addr))).unwrap_err();
        assert!(e.contains("refused"), "{e}");
        assert!(judge_dns(&[0; 5], 0).is_err());
    }

    #[test]
    fn a_silent_server_times_out() {
        // Accepts but never answers: the caller's timeout ends the check.
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let t = target(l.local_addr().unwrap());
        let rt = rt();
        let r = rt.block_on(async {
            tokio::time::timeout(Duration::from_millis(200), run(&http_kind(200, None), &t)).await
        });
        assert!(r.is_err(), "the check must still be waiting");
        drop(l);
    }

    #[test]
    fn exec_exit_status_arguments_and_kill() {
        let dir = std::env::temp_dir().join(format!("rvs-health-exec-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let out = dir.join("args");
        let t = target("127.0.0.1:8080".parse().unwrap());
        let rt = rt();
        let sh = |script: &str| HealthCheckKind::Exec {
            command: "/bin/sh".into(),
            args: vec!["-c".into(), script.into(), "check".into()],
        };
        let ok = sh(&format!(
            "echo \"$@ $RVS_RIP $RVS_RPORT\" > {}; exit 0",
            out.display()
        ));
        assert_eq!(rt.block_on(run(&ok, &t)), Ok(()));
        assert_eq!(
            std::fs::read_to_string(&out).unwrap().trim(),
            "198.18.0.100 80 127.0.0.1 8080 127.0.0.1 8080"
        );
        let e = rt.block_on(run(&sh("exit 3"), &t)).unwrap_err();
        assert!(e.ends_with("exited with exit status: 3"), "{e}");
        let e = rt
            .block_on(run(
                &HealthCheckKind::Exec {
                    command: "/nonexistent/check".into(),
                    args: vec![],
                },
                &t,
            ))
            .unwrap_err();
        assert!(e.starts_with("cannot run /nonexistent/check"), "{e}");
        // A program still running at the timeout is killed: its marker file never appears.
        let marker = dir.join("late");
        let slow = sh(&format!("sleep 1; touch {}", marker.display()));
        let r = rt.block_on(async {
            tokio::time::timeout(Duration::from_millis(100), run(&slow, &t)).await
        });
        assert!(r.is_err());
        std::thread::sleep(Duration::from_millis(1500));
        assert!(!marker.exists(), "the timed-out program was not killed");
        let _ = std::fs::remove_dir_all(&dir);
    }
}
