//! The forwarding method of a service or real server from its YAML keys `method`,
//! `tunnel_type`, `tunnel_port` and `tunnel_csum`; a real server inherits what it does
//! not say from its service's method.

use super::problems::Problems;
use crate::forward::{CsumName, ForwardMethod, MethodName, TunnelCsum, TunnelName, TunnelType};
use crate::locate::Path;

/// The method given by `method` (`m`), `tunnel_type` (`tt`), `tunnel_port` (`tp`) and
/// `tunnel_csum` (`tc`), with what they leave open taken from `default` (the service's
/// method for a real server, route for a service).
pub fn resolve_method(
    m: Option<MethodName>,
    tt: Option<TunnelName>,
    tp: Option<u16>,
    tc: Option<CsumName>,
    default: ForwardMethod,
    at: &Path,
    p: &mut Problems<'_>,
) -> ForwardMethod {
    let resolved = method(m, tt, tp, default, at, p);
    tunnel_csum(resolved, tc, default, at, p)
}

/// Resolves `method` + `tunnel_type` + `tunnel_port` of a service or real server.
fn method(
    m: Option<MethodName>,
    tt: Option<TunnelName>,
    tp: Option<u16>,
    default: ForwardMethod,
    at: &Path,
    p: &mut Problems<'_>,
) -> ForwardMethod {
    let is_tunnel = m == Some(MethodName::Tunnel)
        || (m.is_none() && matches!(default, ForwardMethod::Tunnel(_)));
    if tt.is_some() && !is_tunnel {
        p.at_key(
            &at.key("tunnel_type"),
            "`tunnel_type` without method tunnel; expected it only with `method: tunnel`",
        );
    }
    if let Some(plain) = m.and_then(MethodName::plain) {
        if tp.is_some() {
            port_without_gue(at, p);
        }
        return plain;
    }
    match m {
        None if tt.is_none() && tp.is_none() => default,
        None if !is_tunnel => {
            if tp.is_some() {
                port_without_gue(at, p);
            }
            default
        }
        _ => ForwardMethod::Tunnel(tunnel(tt, tp, default, at, p)),
    }
}

fn port_without_gue(at: &Path, p: &mut Problems<'_>) {
    p.at_key(
        &at.key("tunnel_port"),
        "`tunnel_port` without tunnel_type gue; expected it only with `tunnel_type: gue`",
    );
}

/// A tunnel: given here, or inherited from `default` with a type/port override.
fn tunnel(
    tt: Option<TunnelName>,
    tp: Option<u16>,
    default: ForwardMethod,
    at: &Path,
    p: &mut Problems<'_>,
) -> TunnelType {
    let inherited = match default {
        ForwardMethod::Tunnel(t) => t,
        _ => TunnelType::Ipip,
    };
    let kind = tt.unwrap_or(inherited.yaml_name());
    match kind {
        TunnelName::Ipip | TunnelName::Gre => {
            if tp.is_some() {
                port_without_gue(at, p);
            }
            kind.tunnel(0, TunnelCsum::NoCsum)
        }
        TunnelName::Gue => {
            let inherited_port = match inherited {
                TunnelType::Gue { port, .. } => Some(port),
                _ => None,
            };
            let port = match (tp, inherited_port) {
                (Some(0), _) => {
                    p.at(
                        &at.key("tunnel_port"),
                        "tunnel_port 0; expected the real server's GUE UDP port 1..=65535",
                    );
                    0
                }
                // An inherited port 0 was reported at the service already.
                (Some(port), _) | (None, Some(port)) => port,
                (None, None) => {
                    p.at(at, "gue tunnel without `tunnel_port`; expected the real server's GUE UDP port, such as tunnel_port: 6080");
                    0
                }
            };
            kind.tunnel(port, TunnelCsum::NoCsum)
        }
    }
}

/// Applies `tunnel_csum` to the resolved method `m` of a service or real server: given,
/// or else inherited from `default` (the service's method) when that is a tunnel of the
/// same type.
fn tunnel_csum(
    m: ForwardMethod,
    tc: Option<CsumName>,
    default: ForwardMethod,
    at: &Path,
    p: &mut Problems<'_>,
) -> ForwardMethod {
    let ForwardMethod::Tunnel(t) = m else {
        if tc.is_some() {
            p.at_key(&at.key("tunnel_csum"), "`tunnel_csum` without method tunnel; expected it only with `tunnel_type: gue` or `gre`");
        }
        return m;
    };
    let csum = match tc {
        Some(c) => TunnelCsum::from(c),
        None => match default {
            ForwardMethod::Tunnel(d)
                if std::mem::discriminant(&d) == std::mem::discriminant(&t) =>
            {
                d.csum().unwrap_or_default()
            }
            _ => TunnelCsum::NoCsum,
        },
    };
    ForwardMethod::Tunnel(match t {
        TunnelType::Ipip => {
            if tc.is_some() {
                p.at(&at.key("tunnel_csum"), "`tunnel_csum` with tunnel_type ipip; expected it only with `tunnel_type: gue` or `gre`");
            }
            TunnelType::Ipip
        }
        TunnelType::Gue { port, .. } => TunnelType::Gue { port, csum },
        TunnelType::Gre { .. } => {
            // An inherited one was reported at the service already.
            if csum == TunnelCsum::RemCsum && tc.is_some() {
                p.at(&at.key("tunnel_csum"), "tunnel_csum remcsum with tunnel_type gre; expected nocsum or csum (remote checksum offload is GUE only)");
            }
            TunnelType::Gre { csum }
        }
    })
}
