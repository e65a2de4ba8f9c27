//! What can go wrong in rvsadm, with the exit code for each.

use config::ipvsadm::IpvsError;
use thiserror::Error;

/// Exit code of every failure that is rvsadm's own (not ipvsadm's): the
/// daemon could not be reached, refused the token, or answered nonsense.
/// ipvsadm uses 2 for usage errors; a script that checks for ipvsadm's
/// 1/255 refusals will not take these for a refused change.
pub const EXIT_RVSADM: i32 = 2;

/// An rvsadm failure.
#[derive(Debug, Error)]
pub enum CliError {
    /// An error ipvsadm itself would report (usage error or refusal), with
    /// its exact message and exit code.
    #[error(transparent)]
    Ipvs(#[from] IpvsError),
    /// One of rvsadm's own options (`--admin`, `--token-file`) lacks its value.
    #[error("rvsadm: option {0} needs a value")]
    MissingValue(&'static str),
    /// `--admin`/`RVS_ADMIN` is not an `http://` URL.
    #[error("rvsadm: admin URL {0} is not supported: rvsd's admin API speaks plain HTTP, give http://HOST:PORT")]
    BadUrl(String),
    /// The token file could not be read.
    #[error("rvsadm: cannot read the admin token file {path}: {reason}")]
    TokenFile {
        /// The file.
        path: String,
        /// Why.
        reason: String,
    },
    /// stdin could not be read (`-R`, `--to-yaml`).
    #[error("rvsadm: cannot read the rules from stdin: {0}")]
    Stdin(String),
    /// No HTTP answer at all.
    #[error("rvsadm: cannot reach rvsd's admin API at {url}: {reason}. Is rvsd running with admin.listen at that address? (choose the address with --admin URL or RVS_ADMIN)")]
    Unreachable {
        /// Base URL.
        url: String,
        /// The transport error.
        reason: String,
    },
    /// 401: the token is missing or wrong.
    #[error("rvsadm: rvsd at {url} refused the admin token ({detail}): give the token of rvsd's admin.token_file with --token-file PATH, RVS_TOKEN_FILE or RVS_TOKEN")]
    Unauthorized {
        /// Base URL.
        url: String,
        /// Whether a token was sent.
        detail: &'static str,
    },
    /// 403: the daemon has no token file, so it refuses all changes.
    #[error("rvsadm: rvsd at {url} refuses changes because it has no admin token: set admin.token_file in rvsd's configuration and give the same token to rvsadm")]
    Forbidden {
        /// Base URL.
        url: String,
    },
    /// 404 without an ipvsadm refusal: the server does not serve the route.
    #[error("rvsadm: {url} does not serve {method} {path} (404: {message}); is it rvsd with admin API v1?")]
    RouteMissing {
        /// Base URL.
        url: String,
        /// Method.
        method: &'static str,
        /// Path.
        path: String,
        /// The server's error text.
        message: String,
    },
    /// The daemon refused a change or listing for a reason of its own (its
    /// configuration checks: no IPVS refusal fits), 400/409/422 without
    /// `op_error`. Exit code as ipvsadm's for a failed command: 255 for a
    /// change, 1 for a listing.
    #[error("rvsadm: rvsd refused {method} {path} (HTTP {status}): {message}")]
    Refused {
        /// Method.
        method: &'static str,
        /// Path.
        path: String,
        /// Status code.
        status: u16,
        /// The server's error text.
        message: String,
        /// Exit code.
        code: i32,
    },
    /// A rule sent with `-R` was refused for a reason that is not an IPVS
    /// refusal (the daemon's own validation). Exit code 255.
    #[error("rvsadm: rvsd refused the rules at line {line}: {message}")]
    RuleRefused {
        /// 1-based line of the rule text.
        line: u64,
        /// The server's error text.
        message: String,
    },
    /// Any other unexpected status.
    #[error("rvsadm: {method} {url}{path} failed with HTTP {status}: {message}")]
    Status {
        /// Base URL.
        url: String,
        /// Method.
        method: &'static str,
        /// Path.
        path: String,
        /// Status code.
        status: u16,
        /// The server's error text (or body).
        message: String,
    },
    /// A 2xx answer whose body is not what the contract says.
    #[error("rvsadm: unexpected answer from {method} {url}{path}: {reason}")]
    BadAnswer {
        /// Base URL.
        url: String,
        /// Method.
        method: &'static str,
        /// Path.
        path: String,
        /// What is wrong.
        reason: String,
    },
    /// `--to-yaml` could not express the rules as rvs YAML.
    #[error("rvsadm: cannot convert the rules to YAML: {0}")]
    ToYaml(String),
}

impl CliError {
    /// Process exit status: ipvsadm's for its own errors, [`EXIT_RVSADM`]
    /// otherwise.
    pub fn exit_code(&self) -> i32 {
        match self {
            CliError::Ipvs(e) => e.exit_code(),
            CliError::Refused { code, .. } => *code,
            // ipvsadm -R exits 255 when a line fails.
            CliError::RuleRefused { .. } => 255,
            _ => EXIT_RVSADM,
        }
    }
}
