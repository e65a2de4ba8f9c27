//! rvsadm: ipvsadm's command line, carried out through rvsd's admin REST API.
//!
//! A command line goes through four steps:
//! 1. rvsadm's own options come out ([`options`]): `--admin URL` (else
//!    `RVS_ADMIN`, else `http://127.0.0.1:9180`), `--token-file PATH` (else
//!    `RVS_TOKEN`, `RVS_TOKEN_FILE`, `/etc/rvs/token`), `--to-yaml`.
//! 2. The rest is ipvsadm's: [`config::ipvsadm::parse_argv`] gives the
//!    command, or ipvsadm's usage error with its message and exit code.
//! 3. The command becomes one admin API call ([`exec::request_for`]);
//!    `-h`, `-v`, `-L --daemon` and the refused sync-daemon commands need
//!    none ([`exec::local_output`]).
//! 4. The answer becomes ipvsadm's output: listings are formatted here with
//!    `config::ipvsadm`'s formatters (byte-identical to ipvsadm 1.31), a
//!    refusal's `op_error` becomes ipvsadm's message and exit code (255 for
//!    changes, 1 for listings).
//!
//! Failures that are rvsadm's own — daemon unreachable, token refused,
//! a route the daemon does not serve — print one line naming the URL and
//! what to do, and exit with [`EXIT_RVSADM`] (2). A change the daemon
//! refuses for a reason of its own (its configuration checks, where no
//! IPVS refusal fits) prints rvsd's reason and exits 255, as a failed
//! ipvsadm change does.
//!
//! The HTTP exchange is the [`Client`] trait, so steps 3 and 4 are tested
//! with canned answers; `tests/rvsadm_cli.rs` runs the binary against rvsd.

pub mod client;
pub mod error;
pub mod exec;
pub mod options;
mod yaml;

#[cfg(test)]
mod tests;

pub use client::{ApiRequest, ApiResponse, Body, Client, HttpClient, Method, TransportError};
pub use error::{CliError, EXIT_RVSADM};
pub use exec::{execute, local_output, render, request_for, server_id, service_id};
pub use options::{parse_invocation, resolve_token, Invocation, Mode};
pub use yaml::rules_to_yaml;

use config::ipvsadm::parse_argv;
use std::io::Read;

/// What rvsadm prints and its exit status.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Outcome {
    /// Text for stdout.
    pub stdout: String,
    /// Text for stderr (one message line, or empty).
    pub stderr: String,
    /// Exit status.
    pub code: i32,
}

impl Outcome {
    fn from_result(r: Result<String, CliError>) -> Self {
        match r {
            Ok(stdout) => Outcome {
                stdout,
                stderr: String::new(),
                code: 0,
            },
            // ipvsadm prints each message followed by a newline.
            Err(e) => Outcome {
                stdout: String::new(),
                stderr: format!("{e}\n"),
                code: e.exit_code(),
            },
        }
    }
}

/// Makes the client for an admin URL and an optional `--token-file`.
pub type Connect<'a> = dyn Fn(&str, Option<&str>) -> Result<Box<dyn Client + 'a>, CliError> + 'a;

/// Runs one rvsadm command line. `env` reads environment variables,
/// `stdin` is read by `-R` and `--to-yaml` only, `connect` makes the client
/// (called only for commands that need the daemon).
pub fn run(
    argv: &[String],
    env: &dyn Fn(&str) -> Option<String>,
    stdin: &mut dyn Read,
    connect: &Connect<'_>,
) -> Outcome {
    Outcome::from_result(run_inner(argv, env, stdin, connect))
}

fn run_inner(
    argv: &[String],
    env: &dyn Fn(&str) -> Option<String>,
    stdin: &mut dyn Read,
    connect: &Connect<'_>,
) -> Result<String, CliError> {
    let program = argv.first().map(String::as_str).unwrap_or("rvsadm");
    let invocation = parse_invocation(argv, env)?;
    let mut read_stdin = || {
        let mut text = String::new();
        stdin
            .read_to_string(&mut text)
            .map_err(|e| CliError::Stdin(e.to_string()))?;
        Ok(text)
    };
    let ipvs_argv = match invocation.mode {
        Mode::ToYaml => return rules_to_yaml(&read_stdin()?, program),
        Mode::Ipvsadm(a) => a,
    };
    let cmd = parse_argv(&ipvs_argv)?;
    if let Some(out) = local_output(&cmd, program) {
        return out;
    }
    let client = connect(&invocation.admin_url, invocation.token_file.as_deref())?;
    execute(client.as_ref(), &cmd, program, &mut read_stdin)
}

/// [`run`] in the real process: the process environment, stdin, and an
/// [`HttpClient`] with the token found by [`resolve_token`].
pub fn run_process(argv: &[String]) -> Outcome {
    let env = |k: &str| std::env::var(k).ok();
    let connect = |url: &str, token_file: Option<&str>| -> Result<Box<dyn Client>, CliError> {
        let token = resolve_token(token_file, &env, &|p| std::fs::read_to_string(p))?;
        Ok(Box::new(HttpClient::new(url, token)))
    };
    run(argv, &env, &mut std::io::stdin().lock(), &connect)
}
