//! One health check of one real server, with ordinary kernel sockets (on a director the
//! kernel reaches the real servers through the exception path, so a check tests the same
//! network the traffic uses). The caller bounds each check with the configured timeout;
//! dropping a check's future closes its socket or kills its program.

use config::HealthCheckKind;

pub use super::target::Target;
use super::{dns, exec, http, tcp, tls};

/// Run one check; `Err` says why the server failed it, in one line.
pub async fn run(kind: &HealthCheckKind, t: &Target) -> Result<(), String> {
    match kind {
        HealthCheckKind::Tcp => tcp::connect(t.addr).await,
        HealthCheckKind::Http {
            path,
            expect_status,
            host,
            expect_body,
        } => {
            http::get(
                t.addr,
                path,
                host.as_deref(),
                *expect_status,
                expect_body.as_deref(),
            )
            .await
        }
        HealthCheckKind::Dns { name } => dns::query(t.addr, name).await,
        HealthCheckKind::Https {
            path,
            expect_status,
            host,
            expect_body,
        } => {
            tls::https(
                t.addr,
                path,
                host.as_deref(),
                *expect_status,
                expect_body.as_deref(),
            )
            .await
        }
        HealthCheckKind::Exec { command, args } => exec::run(command, args, t).await,
    }
}

#[cfg(test)]
pub(crate) mod test_support {
    use super::Target;
    use std::net::SocketAddr;

    /// A target at `addr` for a service 198.18.0.100:80.
    pub(crate) fn target(addr: SocketAddr) -> Target {
        Target {
            addr,
            vip: "198.18.0.100".into(),
            vport: 80,
            rport: addr.port(),
            exec_as: None,
        }
    }

    /// A current-thread runtime like the control thread's.
    pub(crate) fn rt() -> tokio::runtime::Runtime {
        tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap()
    }
}
