//! ipvsadm commands as admin API calls, and the answers as ipvsadm output.

use super::client::{ApiRequest, ApiResponse, Body, Client, Method};
use super::error::CliError;
use config::ipvsadm::{
    format_connections, format_list, format_rules, format_service, format_timeouts, parse_rules,
    ConnView, IpvsCommand, ListTarget, OpError, RuleLine, ServiceRule, ServiceView, TimeoutsView,
    VirtualService,
};
use serde::de::DeserializeOwned;
use serde::Deserialize;
use std::fmt::Write as _;
use std::net::IpAddr;

/// Path segment naming a virtual service: `tcp:198.18.0.100:80`,
/// `tcp:[2001:2::1]:80`, `fwm:10`, `fwm6:10`, percent-encoded.
pub fn service_id(vs: &VirtualService) -> String {
    let raw = match vs {
        VirtualService::Inet {
            protocol,
            addr,
            port,
        } => {
            // Protocol::rule_option is the -S option; the id uses the
            // lowercase names of the JSON encoding.
            let proto = match protocol {
                config::ipvsadm::Protocol::Tcp => "tcp",
                config::ipvsadm::Protocol::Udp => "udp",
                config::ipvsadm::Protocol::Sctp => "sctp",
            };
            format!("{proto}:{}", addr_port(*addr, *port))
        }
        VirtualService::Fwmark { mark, family } => match family {
            config::ipvsadm::AddressFamily::Inet => format!("fwm:{mark}"),
            config::ipvsadm::AddressFamily::Inet6 => format!("fwm6:{mark}"),
        },
    };
    percent_encode(&raw)
}

/// Path segment naming a real server: `198.19.0.11:80` or
/// `[2001:2::11]:80`, percent-encoded.
pub fn server_id(addr: IpAddr, port: u16) -> String {
    percent_encode(&addr_port(addr, port))
}

fn addr_port(addr: IpAddr, port: u16) -> String {
    match addr {
        IpAddr::V4(a) => format!("{a}:{port}"),
        IpAddr::V6(a) => format!("[{a}]:{port}"),
    }
}

/// Encodes everything but RFC 3986 unreserved characters and `:` (which a
/// path segment may hold and which keeps ids readable in logs).
fn percent_encode(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~' | b':') {
            out.push(char::from(b));
        } else {
            let _ = write!(out, "%{b:02X}");
        }
    }
    out
}

fn json<T: serde::Serialize>(value: &T) -> serde_json::Value {
    // The ipvsadm types are plain data with string keys: serializing them
    // to a JSON value cannot fail.
    serde_json::to_value(value).unwrap_or(serde_json::Value::Null)
}

/// The one admin API call that carries out `cmd`, or `None` for commands
/// that need no call (`-h`, `-v`, the sync-daemon commands, `-L --daemon`)
/// or more than the command line (`-R` reads stdin: see [`execute`]).
pub fn request_for(cmd: &IpvsCommand) -> Option<ApiRequest> {
    use IpvsCommand as C;
    let svc_path = |vs: &VirtualService| format!("/v1/services/{}", service_id(vs));
    Some(match cmd {
        C::AddService { service } => ApiRequest::json(Method::Post, "/v1/services", json(service)),
        C::EditService { service } => {
            ApiRequest::json(Method::Put, svc_path(&service.service), json(service))
        }
        C::DeleteService { service } => ApiRequest::new(Method::Delete, svc_path(service)),
        C::Clear => ApiRequest::new(Method::Delete, "/v1/services"),
        C::AddServer { service, server } => ApiRequest::json(
            Method::Post,
            format!("{}/real-servers", svc_path(service)),
            json(server),
        ),
        C::EditServer { service, server } => ApiRequest::json(
            Method::Put,
            format!(
                "{}/real-servers/{}",
                svc_path(service),
                server_id(server.addr, server.port)
            ),
            json(server),
        ),
        C::DeleteServer {
            service,
            addr,
            port,
        } => ApiRequest::new(
            Method::Delete,
            format!(
                "{}/real-servers/{}",
                svc_path(service),
                server_id(*addr, *port)
            ),
        ),
        C::Zero { service: None } => ApiRequest::new(Method::Post, "/v1/zero"),
        C::Zero {
            service: Some(service),
        } => ApiRequest::new(Method::Post, format!("{}/zero", svc_path(service))),
        C::SetTimeouts(t) => ApiRequest::json(Method::Put, "/v1/timeouts", json(t)),
        // -S is formatted here from the services rather than fetched from
        // GET /v1/rules: one request shape for -L and -S, and the text comes
        // from the same config::ipvsadm::format_rules that rvsadm's own
        // tests pin byte for byte, whatever version the daemon runs.
        C::Save { .. } => ApiRequest::new(Method::Get, "/v1/services"),
        C::List(list) => match list.target {
            ListTarget::All => ApiRequest::new(Method::Get, "/v1/services"),
            ListTarget::Service { service } => ApiRequest::new(Method::Get, svc_path(&service)),
            ListTarget::Connections => ApiRequest::new(Method::Get, "/v1/connections"),
            ListTarget::Timeouts => ApiRequest::new(Method::Get, "/v1/timeouts"),
            ListTarget::Daemons => return None,
        },
        C::Restore | C::StartDaemon(_) | C::StopDaemon { .. } | C::Help | C::Version => {
            return None
        }
    })
}

/// What an error body says (`{"error", "op_error"?, "field"?, "line"?}`).
#[derive(Debug, Default, Deserialize)]
struct ErrorBody {
    #[serde(default)]
    error: Option<String>,
    #[serde(default)]
    op_error: Option<OpError>,
    #[serde(default)]
    line: Option<u64>,
}

/// Turns a non-2xx answer into the error rvsadm reports. An `op_error`
/// becomes ipvsadm's refusal for `cmd` (message and exit code); the rest
/// are rvsadm's own transport-level errors. `line_command` maps a rule
/// line of `-R` to its command, so a refused rule is reported as that
/// command's failure.
fn refusal(
    client: &dyn Client,
    cmd: &IpvsCommand,
    req: &ApiRequest,
    resp: &ApiResponse,
    line_command: &dyn Fn(u64) -> Option<IpvsCommand>,
) -> CliError {
    let body: ErrorBody = serde_json::from_str(&resp.body).unwrap_or_default();
    if let Some(op) = body.op_error {
        let failing = body.line.and_then(line_command);
        return CliError::Ipvs(failing.as_ref().unwrap_or(cmd).failure(op));
    }
    let url = client.base_url().to_string();
    let message = body
        .error
        .unwrap_or_else(|| resp.body.trim().chars().take(200).collect());
    match resp.status {
        401 => CliError::Unauthorized {
            url,
            detail: if client.sends_token() {
                "the token sent is wrong"
            } else {
                "no token was found to send"
            },
        },
        403 => CliError::Forbidden { url },
        404 => CliError::RouteMissing {
            url,
            method: req.method.as_str(),
            path: req.path.clone(),
            message,
        },
        400 if body.line.is_some() => CliError::RuleRefused {
            line: body.line.unwrap_or(0),
            message,
        },
        400 | 409 | 422 => CliError::Refused {
            method: req.method.as_str(),
            path: req.path.clone(),
            status: resp.status,
            message,
            code: cmd.failure(OpError::InvalidOperation).exit_code(),
        },
        status => CliError::Status {
            url,
            method: req.method.as_str(),
            path: req.path.clone(),
            status,
            message,
        },
    }
}

/// Sends `req` and returns the 2xx answer, or the error for any other.
fn call(
    client: &dyn Client,
    cmd: &IpvsCommand,
    req: &ApiRequest,
    line_command: &dyn Fn(u64) -> Option<IpvsCommand>,
) -> Result<ApiResponse, CliError> {
    let resp = client.send(req).map_err(|e| CliError::Unreachable {
        url: client.base_url().to_string(),
        reason: e.0,
    })?;
    if resp.is_success() {
        Ok(resp)
    } else {
        Err(refusal(client, cmd, req, &resp, line_command))
    }
}

fn decode<T: DeserializeOwned>(
    client: &dyn Client,
    req: &ApiRequest,
    resp: &ApiResponse,
) -> Result<T, CliError> {
    serde_json::from_str(&resp.body).map_err(|e| CliError::BadAnswer {
        url: client.base_url().to_string(),
        method: req.method.as_str(),
        path: req.path.clone(),
        reason: e.to_string(),
    })
}

/// The stdout of `cmd` given the 2xx answer to [`request_for`]'s call.
pub fn render(
    client: &dyn Client,
    cmd: &IpvsCommand,
    req: &ApiRequest,
    resp: &ApiResponse,
) -> Result<String, CliError> {
    Ok(match cmd {
        IpvsCommand::List(list) => match list.target {
            ListTarget::All => {
                let services: Vec<ServiceView> = decode(client, req, resp)?;
                format_list(&services, &list.format)
            }
            ListTarget::Service { .. } => {
                let service: ServiceView = decode(client, req, resp)?;
                format_service(&service, &list.format)
            }
            ListTarget::Connections => {
                let conns: Vec<ConnView> = decode(client, req, resp)?;
                format_connections(&conns, &list.format)
            }
            ListTarget::Timeouts => {
                let t: TimeoutsView = decode(client, req, resp)?;
                format_timeouts(&t)
            }
            ListTarget::Daemons => String::new(),
        },
        IpvsCommand::Save { .. } => {
            let services: Vec<ServiceView> = decode(client, req, resp)?;
            let rules: Vec<ServiceRule> = services.iter().map(ServiceRule::from).collect();
            format_rules(&rules)
        }
        // Changes print nothing, as ipvsadm.
        _ => String::new(),
    })
}

/// Carries out one command against the admin API and returns its stdout.
/// `program` is `argv[0]` (for messages of rule lines); `stdin` is read
/// only by `-R`. Commands without a call are answered by [`local_output`]
/// (callers may do that first to avoid making a client for them).
pub fn execute(
    client: &dyn Client,
    cmd: &IpvsCommand,
    program: &str,
    stdin: &mut dyn FnMut() -> Result<String, CliError>,
) -> Result<String, CliError> {
    if let Some(out) = local_output(cmd, program) {
        return out;
    }
    if *cmd == IpvsCommand::Restore {
        return restore(client, program, &stdin()?);
    }
    let Some(req) = request_for(cmd) else {
        return Ok(String::new());
    };
    let resp = call(client, cmd, &req, &|_| None)?;
    render(client, cmd, &req, &resp)
}

/// `-R`: the rules are checked here first, so a bad line gets ipvsadm's
/// message and exit code before anything changes; the daemon then applies
/// the whole text (rvsd applies it as one change, where ipvsadm would
/// have applied the lines before a failing one).
fn restore(client: &dyn Client, program: &str, text: &str) -> Result<String, CliError> {
    let rules: Vec<RuleLine> = parse_rules(text, program).map_err(|e| CliError::Ipvs(e.error))?;
    if rules.is_empty() {
        // ipvsadm -R on empty input changes nothing.
        return Ok(String::new());
    }
    let req = ApiRequest {
        method: Method::Post,
        path: "/v1/rules".to_string(),
        body: Body::Text(text.to_string()),
    };
    let line_command = |line: u64| {
        rules
            .iter()
            .find(|r| r.line as u64 == line)
            .map(|r| r.command.clone())
    };
    call(client, &IpvsCommand::Restore, &req, &line_command)?;
    Ok(String::new())
}

/// Output of the commands rvsadm answers without the daemon: `-h`, `-v`,
/// `-L --daemon` (rvs runs no IPVS sync daemon, so there is nothing to
/// list) and the refused `--start-daemon`/`--stop-daemon`. `None` for
/// every other command.
pub fn local_output(cmd: &IpvsCommand, program: &str) -> Option<Result<String, CliError>> {
    let name = std::path::Path::new(program)
        .file_name()
        .and_then(|n| n.to_str())
        .unwrap_or("rvsadm");
    match cmd {
        IpvsCommand::Help => {
            let mut text = config::ipvsadm::usage(name, env!("CARGO_PKG_VERSION"));
            text.push_str(OWN_OPTIONS_HELP);
            Some(Ok(text))
        }
        IpvsCommand::Version => Some(Ok(config::ipvsadm::version_line(
            name,
            env!("CARGO_PKG_VERSION"),
        ))),
        IpvsCommand::StartDaemon(_) | IpvsCommand::StopDaemon { .. } => Some(Err(CliError::Ipvs(
            cmd.failure(OpError::SyncDaemonUnsupported),
        ))),
        IpvsCommand::List(list) if list.target == ListTarget::Daemons => Some(Ok(String::new())),
        _ => None,
    }
}

/// rvsadm's own options, appended to ipvsadm's usage text.
const OWN_OPTIONS_HELP: &str = "\
rvsadm options (taken out before the ipvsadm command line is read):
  --admin URL                         rvsd's admin API (default: $RVS_ADMIN, else http://127.0.0.1:9180)
  --token-file PATH                   admin token file (default: $RVS_TOKEN, $RVS_TOKEN_FILE, /etc/rvs/token)
  --to-yaml                           read -S rules on stdin, print them as rvs YAML
";
