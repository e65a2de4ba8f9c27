//! A service's `health_check`: the keys of its type, their defaults and ranges.

use std::time::Duration;

use super::global::has_parent_component;
use super::problems::Problems;
use crate::locate::Path;
use crate::model::{HealthCheck, HealthCheckKind};
use crate::raw::{CheckName, RawHealthCheck};

/// `exec_dir`: the `health.exec_dir` every exec check's program must be under, if any.
pub fn health_check(
    h: RawHealthCheck,
    exec_dir: Option<&std::path::Path>,
    at: &Path,
    p: &mut Problems<'_>,
) -> HealthCheck {
    keys_of_other_types(&h, at, p);
    let kind = kind(&h, at, p);
    if let (HealthCheckKind::Exec { command, .. }, Some(dir)) = (&kind, exec_dir) {
        if command.is_absolute()
            && (!command.starts_with(dir) || command == dir || has_parent_component(command))
        {
            p.at_key(
                &at.key("command"),
                format!(
                    "exec check command `{}` is not a program under health.exec_dir `{}`; expected `command: {}/<program>`",
                    command.display(),
                    dir.display(),
                    dir.display()
                ),
            );
        }
    }
    // Defaults: a check every second, 3 s to answer.
    let interval = h.interval.map(|d| d.0).unwrap_or(Duration::from_secs(1));
    let timeout = h.timeout.map(|d| d.0).unwrap_or(Duration::from_secs(3));
    if interval.is_zero() {
        p.at(
            &at.key("interval"),
            "interval 0; expected a duration above zero, such as 1s",
        );
    }
    // A timeout longer than the interval is allowed (the defaults are 1s/3s): the
    // health checker must not start a check of a server while one is still running.
    if timeout.is_zero() && h.timeout.is_some() {
        p.at(
            &at.key("timeout"),
            "timeout 0; expected a duration above zero, such as 500ms",
        );
    }
    let rise = h.rise.unwrap_or(1);
    let fall = h.fall.unwrap_or(1);
    for (k, v) in [("rise", rise), ("fall", fall)] {
        if v == 0 {
            p.at(&at.key(k), format!("{k} 0; expected a count of at least 1"));
        }
    }
    HealthCheck {
        kind,
        port: h.port.map(|x| x.0),
        interval,
        timeout,
        rise,
        fall,
        quiescent: h.quiescent.unwrap_or(true),
    }
}

/// Keys that belong to another check type than `type`.
fn keys_of_other_types(h: &RawHealthCheck, at: &Path, p: &mut Problems<'_>) {
    // Keys that belong to one check type only.
    let http_only = [
        ("path", h.path.is_some()),
        ("expect_status", h.expect_status.is_some()),
        ("host", h.host.is_some()),
        ("expect_body", h.expect_body.is_some()),
    ];
    let exec_only = [
        ("command", h.command.is_some()),
        ("args", !h.args.is_empty()),
    ];
    let dns_only = [("query_name", h.query_name.is_some())];
    let mut not_for = |keys: &[(&str, bool)], ty: &str| {
        for &(k, given) in keys {
            if given {
                p.at_key(
                    &at.key(k),
                    format!("`{k}` applies to {ty} checks; expected it only with `type: {ty}`"),
                );
            }
        }
    };
    if !matches!(h.kind, CheckName::Http | CheckName::Https) {
        not_for(&http_only, "http");
    }
    if h.kind != CheckName::Exec {
        not_for(&exec_only, "exec");
    }
    if h.kind != CheckName::Dns {
        not_for(&dns_only, "dns");
    }
}

/// What the check sends, by `type`, with its defaults.
fn kind(h: &RawHealthCheck, at: &Path, p: &mut Problems<'_>) -> HealthCheckKind {
    match h.kind {
        CheckName::Tcp => HealthCheckKind::Tcp,
        CheckName::Http | CheckName::Https => {
            let path = h.path.clone().unwrap_or_else(|| "/".to_owned());
            if !path.starts_with('/') {
                p.at(&at.key("path"), format!("HTTP path `{path}` does not start with `/`; expected an absolute path such as /health"));
            }
            let expect_status = h.expect_status.unwrap_or(200);
            if !(100..=599).contains(&expect_status) {
                p.at(
                    &at.key("expect_status"),
                    format!("HTTP status {expect_status}; expected 100..=599"),
                );
            }
            if h.kind == CheckName::Https {
                HealthCheckKind::Https {
                    path,
                    expect_status,
                    host: h.host.clone(),
                    expect_body: h.expect_body.clone(),
                }
            } else {
                HealthCheckKind::Http {
                    path,
                    expect_status,
                    host: h.host.clone(),
                    expect_body: h.expect_body.clone(),
                }
            }
        }
        CheckName::Exec => {
            let given = h.command.is_some();
            let command = h.command.clone().unwrap_or_default();
            if !command.is_absolute() {
                p.at_key(
                    &at.key(if given { "command" } else { "type" }),
                    format!(
                        "exec check command `{}` is not an absolute path; expected `command: /path/to/check`",
                        command.display()
                    ),
                );
            }
            HealthCheckKind::Exec {
                command,
                args: h.args.clone(),
            }
        }
        CheckName::Dns => {
            let name = h.query_name.clone().unwrap_or_else(|| ".".to_owned());
            if let Err(why) = dns_name_ok(&name) {
                p.at(
                    &at.key("query_name"),
                    format!("DNS name `{name}` {why}; expected a name such as example.org or ."),
                );
            }
            HealthCheckKind::Dns { name }
        }
    }
}

/// Whether a DNS query name can be sent: ASCII labels of 1..=63 bytes, at most 253 in all.
fn dns_name_ok(name: &str) -> Result<(), &'static str> {
    let trimmed = name.strip_suffix('.').unwrap_or(name);
    if trimmed.is_empty() {
        return Ok(());
    }
    if trimmed.len() > 253 {
        return Err("is longer than 253 bytes");
    }
    for label in trimmed.split('.') {
        if label.is_empty() || label.len() > 63 {
            return Err("has an empty label or one longer than 63 bytes");
        }
        if !label.bytes().all(|b| b.is_ascii_graphic()) {
            return Err("has a character that is not printable ASCII");
        }
    }
    Ok(())
}
