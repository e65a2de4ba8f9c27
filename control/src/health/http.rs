//! The http check (keepalived's HTTP_GET, ldirectord's `service=http`): an HTTP/1.0 GET
//! judged by its status and, if asked, a substring of its body. The https check sends
//! the same request over TLS and judges the answer the same way.

use std::net::SocketAddr;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

/// Most of an HTTP answer read: enough for a status line, headers and a small health page.
pub const MAX_HTTP_RESPONSE: usize = 64 * 1024;

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
pub(crate) fn http_request(
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

pub(super) async fn get(
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
    use crate::health::check::run;
    use crate::health::check::test_support::{rt, target};
    use config::HealthCheckKind;
    use std::io::{Read, Write};
    use std::time::Duration;

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
}
