//! The tcp check (keepalived's TCP_CHECK): the connect is the whole check.

use std::net::SocketAddr;

use tokio::net::TcpStream;

/// Connect to `addr` and close again.
pub(super) async fn connect(addr: SocketAddr) -> Result<(), String> {
    TcpStream::connect(addr)
        .await
        .map(drop)
        .map_err(|e| format!("connect to {addr}: {e}"))
}

#[cfg(test)]
mod tests {
    use crate::health::check::run;
    use crate::health::check::test_support::{rt, target};
    use config::HealthCheckKind;

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
}
