//! `-R` input: splitting rule text into command lines, and an in-memory
//! IPVS table that replays commands with the kernel's refusals (used to
//! rebuild a configuration from `-S` text and to convert rules to YAML).

use super::command::IpvsCommand;
use super::error::{IpvsError, OpError};
use super::parse::parse_argv;
use super::types::{ServiceConfig, VirtualService, KNOWN_SCHEDULERS};
use super::view::{ServiceRule, TimeoutsView};
use serde::{Deserialize, Serialize};
use std::fmt;
use thiserror::Error;

/// One parsed rule with its 1-based line number.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RuleLine {
    /// Line the rule starts on.
    pub line: usize,
    /// The command.
    pub command: IpvsCommand,
}

/// An error in rule text, with the line it is on.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub struct RuleError {
    /// 1-based line number.
    pub line: usize,
    /// What is wrong, with ipvsadm's message and exit code.
    pub error: IpvsError,
}

impl fmt::Display for RuleError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "line {}: {}", self.line, self.error)
    }
}

/// Splits rule text the way ipvsadm's `config_stream_read` does: one
/// command per line, words separated by blanks, the word `ipvsadm` dropped
/// anywhere, blank lines skipped. Two additions ipvsadm lacks: a word that
/// starts with `#` comments out the rest of the line, and a line ending in
/// `\` continues on the next (as in the man page's examples).
fn split_lines(text: &str) -> Vec<(usize, Vec<&str>)> {
    let mut out: Vec<(usize, Vec<&str>)> = Vec::new();
    let mut pending: Option<(usize, Vec<&str>)> = None;
    for (i, raw) in text.split('\n').enumerate() {
        let mut words: Vec<&str> = Vec::new();
        let mut continued = false;
        for w in raw.split([' ', '\t', '\r']).filter(|w| !w.is_empty()) {
            if w.starts_with('#') {
                break;
            }
            words.push(w);
        }
        if words.last() == Some(&"\\") {
            words.pop();
            continued = true;
        } else if let Some(last) = words.last_mut() {
            if let Some(stripped) = last.strip_suffix('\\') {
                *last = stripped;
                continued = true;
            }
        }
        let (start, mut acc) = pending.take().unwrap_or((i + 1, Vec::new()));
        acc.extend(words.into_iter().filter(|w| *w != "ipvsadm"));
        if continued {
            pending = Some((start, acc));
        } else if !acc.is_empty() {
            out.push((start, acc));
        }
    }
    if let Some((start, acc)) = pending {
        if !acc.is_empty() {
            out.push((start, acc));
        }
    }
    out
}

/// Parses rule text (`-S` output, or the input of `-R`) into commands.
/// `program` is `argv[0]` for messages. A `-R` inside the text is refused as
/// ipvsadm refuses it (it would read stdin again).
pub fn parse_rules(text: &str, program: &str) -> Result<Vec<RuleLine>, RuleError> {
    let mut rules = Vec::new();
    for (line, words) in split_lines(text) {
        let mut argv = Vec::with_capacity(words.len() + 1);
        argv.push(program);
        argv.extend(words);
        let command = parse_argv(&argv).map_err(|error| RuleError { line, error })?;
        if command == IpvsCommand::Restore {
            return Err(RuleError {
                line,
                error: IpvsError::TryHelp {
                    program: program.to_string(),
                },
            });
        }
        rules.push(RuleLine { line, command });
    }
    Ok(rules)
}

/// An in-memory IPVS table: services with their real servers, and the
/// timeouts. Commands change it with the kernel's checks and refusals.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct RuleTable {
    services: Vec<ServiceRule>,
    timeouts: TimeoutsView,
}

impl RuleTable {
    /// An empty table with IPVS's default timeouts.
    pub fn new() -> Self {
        Self::default()
    }

    /// A table that already holds `services` (taken as valid: they come from a validated
    /// configuration) and `timeouts`.
    pub fn from_parts(services: Vec<ServiceRule>, timeouts: TimeoutsView) -> Self {
        RuleTable { services, timeouts }
    }

    /// The services, in the order they were added.
    pub fn services(&self) -> &[ServiceRule] {
        &self.services
    }

    /// The table's services, consuming it.
    pub fn into_services(self) -> Vec<ServiceRule> {
        self.services
    }

    /// Current timeouts.
    pub fn timeouts(&self) -> TimeoutsView {
        self.timeouts
    }

    fn find(&self, vs: &VirtualService) -> Option<usize> {
        self.services.iter().position(|s| s.service.service == *vs)
    }

    fn check_scheduler(c: &ServiceConfig) -> Result<(), OpError> {
        // rvs has no persistence engines; IPVS answers ENOENT for unknown ones.
        if !KNOWN_SCHEDULERS.contains(&c.scheduler.as_str()) || c.persistence_engine.is_some() {
            return Err(OpError::SchedulerNotFound);
        }
        Ok(())
    }

    /// Applies one command. Listings, `-S`, `-h`, `-v` and `-R` change
    /// nothing; sync-daemon commands are refused.
    pub fn apply(&mut self, cmd: &IpvsCommand) -> Result<(), OpError> {
        match cmd {
            IpvsCommand::AddService { service } => {
                if self.find(&service.service).is_some() {
                    return Err(OpError::ServiceExists);
                }
                Self::check_scheduler(service)?;
                self.services.push(ServiceRule {
                    service: service.clone(),
                    real_servers: Vec::new(),
                });
            }
            IpvsCommand::EditService { service } => {
                let i = self.find(&service.service).ok_or(OpError::NoSuchService)?;
                Self::check_scheduler(service)?;
                self.services[i].service = service.clone();
            }
            IpvsCommand::DeleteService { service } => {
                let i = self.find(service).ok_or(OpError::NoSuchService)?;
                self.services.remove(i);
            }
            IpvsCommand::Clear => self.services.clear(),
            IpvsCommand::AddServer { service, server } => {
                let i = self.find(service).ok_or(OpError::ServiceNotDefined)?;
                let dests = &mut self.services[i].real_servers;
                if dests
                    .iter()
                    .any(|d| d.addr == server.addr && d.port == server.port)
                {
                    return Err(OpError::DestinationExists);
                }
                if server.l_threshold > server.u_threshold {
                    return Err(OpError::OutOfRange);
                }
                dests.push(*server);
            }
            IpvsCommand::EditServer { service, server } => {
                let i = self.find(service).ok_or(OpError::ServiceNotDefined)?;
                let dest = self.services[i]
                    .real_servers
                    .iter_mut()
                    .find(|d| d.addr == server.addr && d.port == server.port)
                    .ok_or(OpError::NoSuchDestination)?;
                if server.l_threshold > server.u_threshold {
                    return Err(OpError::OutOfRange);
                }
                *dest = *server;
            }
            IpvsCommand::DeleteServer {
                service,
                addr,
                port,
            } => {
                let i = self.find(service).ok_or(OpError::ServiceNotDefined)?;
                let dests = &mut self.services[i].real_servers;
                let j = dests
                    .iter()
                    .position(|d| d.addr == *addr && d.port == *port)
                    .ok_or(OpError::NoSuchDestination)?;
                dests.remove(j);
            }
            IpvsCommand::Zero { service } => {
                if let Some(vs) = service {
                    self.find(vs).ok_or(OpError::NoSuchService)?;
                }
            }
            IpvsCommand::SetTimeouts(t) => self.timeouts.apply_set(t),
            IpvsCommand::StartDaemon(_) | IpvsCommand::StopDaemon { .. } => {
                return Err(OpError::SyncDaemonUnsupported)
            }
            IpvsCommand::Restore
            | IpvsCommand::Save { .. }
            | IpvsCommand::List(_)
            | IpvsCommand::Help
            | IpvsCommand::Version => {}
        }
        Ok(())
    }

    /// Parses rule text and replays it onto this table, stopping at the
    /// first bad or refused line (the table then holds the lines before it).
    pub fn restore(&mut self, text: &str, program: &str) -> Result<(), RuleError> {
        for rule in parse_rules(text, program)? {
            self.apply(&rule.command).map_err(|e| RuleError {
                line: rule.line,
                error: rule.command.failure(e),
            })?;
        }
        Ok(())
    }
}
