//! ipvsadm's parsers of option values: `parse_service` (addresses and ports),
//! `parse_timeout`, `parse_fwmark` and `parse_sched_flags`, with its messages;
//! names are recognised only to be refused (rvs resolves none).

use std::net::{IpAddr, Ipv6Addr};

use super::c_compat::{inet_aton, string_to_number};
use super::error::UsageError;
use super::types::{SchedFlags, DEFAULT_PERSISTENCE_TIMEOUT, DEFAULT_SCHEDULER};

/// Looks like a DNS name: letters, digits, dots and dashes, with a letter,
/// and not a mistyped address (first label all digits, as in `198.18.0.x`).
pub(super) fn looks_like_hostname(s: &str) -> bool {
    let first_label = s.split('.').next().unwrap_or("");
    !s.is_empty()
        && s.bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'.' || b == b'-')
        && s.bytes().any(|b| b.is_ascii_alphabetic())
        && !first_label.bytes().all(|b| b.is_ascii_digit())
}

/// Looks like an /etc/services name (`http`, `http-alt`).
pub(super) fn looks_like_port_name(s: &str) -> bool {
    !s.is_empty()
        && s.bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
        && s.bytes().any(|b| b.is_ascii_alphabetic())
}

/// Result of ipvsadm's `parse_service`.
pub(super) struct ParsedAddr {
    pub addr: IpAddr,
    pub port: Option<u16>,
}

/// ipvsadm's `parse_service`: `v4[:port]`, `v6`, `[v6]:port`. Names are
/// refused with a clear error instead of being resolved.
pub(super) fn parse_service(buf: &str, illegal: UsageError) -> Result<ParsedAddr, UsageError> {
    if buf.bytes().all(|b| b.is_ascii_digit()) {
        return Err(illegal);
    }
    let mut host = buf;
    let mut port_str: Option<&str> = None;
    if let Some(inner) = buf.strip_prefix('[') {
        let Some((h, after)) = inner.split_once(']') else {
            return Err(illegal);
        };
        let Some(p) = after.strip_prefix(':') else {
            return Err(illegal);
        };
        host = h;
        port_str = Some(p);
    }
    let addr = if let Ok(v6) = host.parse::<Ipv6Addr>() {
        IpAddr::V6(v6)
    } else {
        // As ipvsadm, a bracketed non-IPv6 host loses the port after the
        // bracket and takes the one after its own last colon, if any.
        port_str = None;
        if let Some((h, p)) = host.rsplit_once(':') {
            host = h;
            port_str = Some(p);
        }
        match inet_aton(host) {
            Some(v4) => IpAddr::V4(v4),
            None if looks_like_hostname(host) => {
                return Err(UsageError::NotNumeric {
                    what: "address",
                    name: host.to_string(),
                })
            }
            None => return Err(illegal),
        }
    };
    let port = match port_str {
        None => None,
        Some(p) => match string_to_number(p, 0, 65535) {
            Some(n) => Some(n as u16),
            None if looks_like_port_name(p) => {
                return Err(UsageError::NotNumeric {
                    what: "port",
                    name: p.to_string(),
                })
            }
            None => return Err(illegal),
        },
    };
    Ok(ParsedAddr { addr, port })
}

pub(super) fn parse_timeout(s: Option<&str>, min: i64, max: i64) -> Result<u32, UsageError> {
    let Some(s) = s else {
        return Ok(DEFAULT_PERSISTENCE_TIMEOUT);
    };
    string_to_number(s, min, max)
        .map(|n| n as u32)
        .ok_or_else(|| UsageError::InvalidTimeout(s.to_string()))
}

pub(super) fn parse_fwmark(s: &str) -> Result<u32, UsageError> {
    string_to_number(s, 1, i64::from(u32::MAX))
        .map(|n| n as u32)
        .ok_or_else(|| UsageError::InvalidFwmark(s.to_string()))
}

pub(super) fn parse_sched_flags(sched: &str, arg: &str) -> Result<SchedFlags, UsageError> {
    let sched = if sched.is_empty() {
        DEFAULT_SCHEDULER
    } else {
        sched
    };
    let mut flags = SchedFlags::default();
    let mut any = false;
    for flag in arg.split(',').filter(|f| !f.is_empty()) {
        any = true;
        let needs = match flag {
            "flag-1" => {
                flags.flag1 = true;
                None
            }
            "flag-2" => {
                flags.flag2 = true;
                None
            }
            "flag-3" => {
                flags.flag3 = true;
                None
            }
            "sh-fallback" | "mh-fallback" => {
                flags.flag1 = true;
                Some(&flag[..2])
            }
            "sh-port" | "mh-port" => {
                flags.flag2 = true;
                Some(&flag[..2])
            }
            _ => return Err(UsageError::InvalidSchedFlag(flag.to_string())),
        };
        if needs.is_some_and(|s| s != sched) {
            return Err(UsageError::IncompatibleSchedFlag(flag.to_string()));
        }
    }
    if !any {
        // ipvsadm dereferences a null token here; refuse the empty list.
        return Err(UsageError::InvalidSchedFlag(arg.to_string()));
    }
    Ok(flags)
}
