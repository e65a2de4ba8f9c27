//! The dns check (keepalived's DNS_CHECK): a query for the SOA of a name, answered
//! NOERROR.

use std::net::SocketAddr;

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

pub(super) async fn query(addr: SocketAddr, name: &str) -> Result<(), String> {
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::health::check::run;
    use crate::health::check::test_support::{rt, target};
    use config::HealthCheckKind;

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
}
