//! The real server a check is about.

use std::net::SocketAddr;

use super::exec_user::RunAs;

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
    /// Who exec checks run as (`None`: rvsd's own user).
    pub exec_as: Option<RunAs>,
}
