//! The https check (keepalived's `SSL_GET`, ldirectord's `service=https`): the http check's
//! GET over TLS, with tokio-rustls. Like keepalived and ldirectord, the real server's
//! certificate is not verified: real servers commonly have self-signed certificates, and the
//! check asks whether the service answers, not whether to trust it. The handshake's
//! signatures are still checked, so a server must hold the key of the certificate it shows.
//!
//! The TLS stream is a tokio one (no blocking thread), so the caller's timeout ends a check
//! by dropping its future, like every other check.

use std::io::ErrorKind;
use std::net::SocketAddr;
use std::sync::{Arc, OnceLock};

use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::crypto::{verify_tls12_signature, verify_tls13_signature, CryptoProvider};
use rustls::pki_types::{CertificateDer, ServerName, UnixTime};
use rustls::{ClientConfig, DigitallySignedStruct, SignatureScheme};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio_rustls::TlsConnector;

use super::http::{http_request, judge, MAX_HTTP_RESPONSE};

/// Accepts any certificate chain and name, but checks the handshake signatures with the
/// provider's algorithms (so the server does own the certificate's key).
#[derive(Debug)]
struct AnyCertificate(Arc<CryptoProvider>);

impl ServerCertVerifier for AnyCertificate {
    fn verify_server_cert(
        &self,
        _end_entity: &CertificateDer<'_>,
        _intermediates: &[CertificateDer<'_>],
        _server_name: &ServerName<'_>,
        _ocsp_response: &[u8],
        _now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        Ok(ServerCertVerified::assertion())
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        verify_tls12_signature(
            message,
            cert,
            dss,
            &self.0.signature_verification_algorithms,
        )
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        verify_tls13_signature(
            message,
            cert,
            dss,
            &self.0.signature_verification_algorithms,
        )
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.0.signature_verification_algorithms.supported_schemes()
    }
}

/// The one client configuration every https check shares (built on first use).
fn client_config() -> Result<Arc<ClientConfig>, String> {
    static CONFIG: OnceLock<Result<Arc<ClientConfig>, String>> = OnceLock::new();
    CONFIG
        .get_or_init(|| {
            let provider = Arc::new(rustls::crypto::ring::default_provider());
            let cfg = ClientConfig::builder_with_provider(provider.clone())
                .with_safe_default_protocol_versions()
                .map_err(|e| format!("TLS configuration: {e}"))?
                .dangerous()
                .with_custom_certificate_verifier(Arc::new(AnyCertificate(provider)))
                .with_no_client_auth();
            Ok(Arc::new(cfg))
        })
        .clone()
}

/// The TLS server name: the configured host (without a `:port`) when it is a DNS name or
/// an address, else the real server's address. An address name sends no SNI (SNI names
/// hosts only).
fn server_name(addr: SocketAddr, host: Option<&str>) -> ServerName<'static> {
    let parse = |h: &str| ServerName::try_from(h.trim_matches(['[', ']']).to_owned()).ok();
    host.and_then(|h| {
        parse(h).or_else(|| {
            h.rsplit_once(':')
                .filter(|(_, port)| port.parse::<u16>().is_ok())
                .and_then(|(name, _)| parse(name))
        })
    })
    .unwrap_or_else(|| ServerName::IpAddress(addr.ip().into()))
}

/// An https check: GET `path` over TLS, then judge the answer like the http check.
pub async fn https(
    addr: SocketAddr,
    path: &str,
    host: Option<&str>,
    expect_status: u16,
    expect_body: Option<&str>,
) -> Result<(), String> {
    let connector = TlsConnector::from(client_config()?);
    let s = TcpStream::connect(addr)
        .await
        .map_err(|e| format!("connect to {addr}: {e}"))?;
    let mut tls = connector
        .connect(server_name(addr, host), s)
        .await
        .map_err(|e| match e.kind() {
            ErrorKind::UnexpectedEof => {
                format!("{addr} closed the connection during the TLS handshake")
            }
            _ => format!("TLS with {addr}: {e}"),
        })?;
    tls.write_all(http_request(addr, path, host, 443).as_bytes())
        .await
        .map_err(|e| format!("send to {addr}: {e}"))?;
    let mut resp = Vec::with_capacity(4096);
    // Read to the end of the answer (close_notify) or the cap, as the http check does.
    match (&mut tls)
        .take(MAX_HTTP_RESPONSE as u64)
        .read_to_end(&mut resp)
        .await
    {
        Ok(_) => {}
        // A close without close_notify still ends an HTTP/1.0 answer (servers often skip
        // it); the status line and body read so far are judged as they are.
        Err(e) if e.kind() == ErrorKind::UnexpectedEof => {}
        // tokio-rustls reports a TLS error (a bad record, an alert) as InvalidData.
        Err(e) if e.kind() == ErrorKind::InvalidData => {
            return Err(format!("TLS with {addr}: {e}"))
        }
        Err(e) => return Err(format!("read from {addr}: {e}")),
    }
    judge(&resp, expect_status, expect_body)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::health::check::{run, Target};
    use config::HealthCheckKind;
    use rustls::pki_types::pem::PemObject;
    use rustls::pki_types::PrivateKeyDer;
    use rustls::{ServerConfig, ServerConnection, StreamOwned};
    use std::io::{Read, Write};
    use std::time::Duration;

    /// The test-only self-signed certificate and key in tests/data.
    fn server_config() -> Arc<ServerConfig> {
        let dir = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/data");
        let certs = CertificateDer::pem_file_iter(format!("{dir}/rvs-test.cert.pem"))
            .unwrap()
            .collect::<Result<Vec<_>, _>>()
            .unwrap();
        let key = PrivateKeyDer::from_pem_file(format!("{dir}/rvs-test.key.pem")).unwrap();
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let cfg = ServerConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .unwrap()
            .with_no_client_auth()
            .with_single_cert(certs, key)
            .unwrap();
        Arc::new(cfg)
    }

    /// A TLS server on 127.0.0.1 answering `answer` to `conns` connections; returns its
    /// address and, per connection, the SNI and the request it saw.
    /// Per connection: the SNI the server got, and the request.
    type Seen = Vec<(Option<String>, String)>;

    fn tls_server(
        answer: &'static str,
        conns: usize,
    ) -> (SocketAddr, std::thread::JoinHandle<Seen>) {
        let cfg = server_config();
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = l.local_addr().unwrap();
        let h = std::thread::spawn(move || {
            let mut seen = Vec::new();
            for _ in 0..conns {
                let (c, _) = l.accept().unwrap();
                let conn = ServerConnection::new(cfg.clone()).unwrap();
                let mut tls = StreamOwned::new(conn, c);
                let mut req = Vec::new();
                let mut b = [0u8; 1024];
                while find(&req, b"\r\n\r\n").is_none() {
                    let n = tls.read(&mut b).unwrap();
                    assert!(n > 0, "client closed before its request ended");
                    req.extend_from_slice(&b[..n]);
                }
                let sni = tls.conn.server_name().map(str::to_owned);
                seen.push((sni, String::from_utf8_lossy(&req).into_owned()));
                tls.write_all(answer.as_bytes()).unwrap();
                tls.conn.send_close_notify();
                tls.flush().unwrap();
            }
            seen
        });
        (addr, h)
    }

    fn find(hay: &[u8], needle: &[u8]) -> Option<usize> {
        hay.windows(needle.len()).position(|w| w == needle)
    }

    fn target(addr: SocketAddr) -> Target {
        Target {
            addr,
            vip: "198.18.0.100".into(),
            vport: 443,
            rport: addr.port(),
            exec_as: None,
        }
    }

    fn https_kind(status: u16, host: Option<&str>, body: Option<&str>) -> HealthCheckKind {
        HealthCheckKind::Https {
            path: "/health".into(),
            expect_status: status,
            host: host.map(str::to_owned),
            expect_body: body.map(str::to_owned),
        }
    }

    fn rt() -> tokio::runtime::Runtime {
        tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap()
    }

    #[test]
    fn https_status_body_and_sni() {
        let rt = rt();
        let (addr, h) = tls_server("HTTP/1.1 200 OK\r\nContent-Length: 7\r\n\r\nall ok\n", 3);
        let t = target(addr);
        assert_eq!(rt.block_on(run(&https_kind(200, None, None), &t)), Ok(()));
        assert_eq!(
            rt.block_on(run(
                &https_kind(200, Some("rs.example"), Some("all ok")),
                &t
            )),
            Ok(())
        );
        let e = rt
            .block_on(run(&https_kind(200, None, Some("down")), &t))
            .unwrap_err();
        assert_eq!(e, "HTTP body does not contain \"down\"");
        let seen = h.join().unwrap();
        // No host: the address is the Host header and no SNI is sent.
        assert_eq!(seen[0].0, None);
        assert!(
            seen[0].1.starts_with("GET /health HTTP/1.0\r\n"),
            "{}",
            seen[0].1
        );
        assert!(seen[0].1.contains(&format!("\r\nHost: {addr}\r\n")));
        assert_eq!(seen[1].0.as_deref(), Some("rs.example"));
        assert!(seen[1].1.contains("\r\nHost: rs.example\r\n"));

        let (addr, h) = tls_server("HTTP/1.0 503 Service Unavailable\r\n\r\n", 1);
        let e = rt
            .block_on(run(&https_kind(200, None, None), &target(addr)))
            .unwrap_err();
        assert_eq!(e, "HTTP status 503, expected 200");
        h.join().unwrap();
    }

    #[test]
    fn https_to_a_plain_http_server_fails() {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = l.local_addr().unwrap();
        let h = std::thread::spawn(move || {
            let (mut c, _) = l.accept().unwrap();
            let mut b = [0u8; 1024];
            let _ = c.read(&mut b);
            let _ = c.write_all(b"HTTP/1.1 400 Bad Request\r\nConnection: close\r\n\r\n");
        });
        let e = rt()
            .block_on(run(&https_kind(400, None, None), &target(addr)))
            .unwrap_err();
        assert!(e.starts_with(&format!("TLS with {addr}: ")), "{e}");
        h.join().unwrap();
    }

    #[test]
    fn https_to_a_server_closing_in_the_handshake_fails() {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = l.local_addr().unwrap();
        let h = std::thread::spawn(move || {
            let (mut c, _) = l.accept().unwrap();
            let mut b = [0u8; 4096];
            let _ = c.read(&mut b);
        });
        let e = rt()
            .block_on(run(&https_kind(200, None, None), &target(addr)))
            .unwrap_err();
        assert_eq!(
            e,
            format!("{addr} closed the connection during the TLS handshake")
        );
        h.join().unwrap();
    }

    #[test]
    fn https_to_a_silent_server_times_out() {
        // Accepts but never answers the ClientHello: the caller's timeout ends the check.
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let t = target(l.local_addr().unwrap());
        let r = rt().block_on(async {
            tokio::time::timeout(
                Duration::from_millis(200),
                run(&https_kind(200, None, None), &t),
            )
            .await
        });
        assert!(r.is_err(), "the check must still be waiting");
        drop(l);
    }

    #[test]
    fn server_names() {
        let a: SocketAddr = "198.18.0.10:443".parse().unwrap();
        let ip = ServerName::IpAddress(a.ip().into());
        assert_eq!(server_name(a, None), ip);
        assert_eq!(
            server_name(a, Some("rs.example")),
            ServerName::try_from("rs.example").unwrap()
        );
        assert_eq!(
            server_name(a, Some("rs.example:8443")),
            ServerName::try_from("rs.example").unwrap()
        );
        assert_eq!(
            server_name(a, Some("[2001:2::1]:8443")),
            ServerName::try_from("2001:2::1").unwrap()
        );
        // Not a name rustls takes: fall back to the address (no SNI).
        assert_eq!(server_name(a, Some("bad name!")), ip);
    }
}
