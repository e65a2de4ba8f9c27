//! The rvs configuration: the YAML schema, its validation with `file:line:column`
//! errors, the validated model shared by rvsd and rvsadm, and (in [`ipvsadm`]) the
//! ipvsadm rule syntax.
//!
//! Pure Rust: no DPDK, no network I/O. The schema is documented in the crate's
//! README.md; [`from_str`] and [`load_file`] are the only ways to build a [`Config`],
//! so a `Config` is always valid and has every IPVS default applied.
//!
//! # Errors at once, with positions
//! Loading reports every error it can in one go, in file order:
//! 1. YAML syntax (libyaml's error and position; parsing cannot go on after it);
//! 2. structure: unknown keys, wrong types, bad addresses or names. Each top-level
//!    section, interface, route, pool, service and real server is decoded on its own,
//!    so every broken element is reported (its first problem);
//! 3. meaning: ranges, defaults, references between sections, duplicates, reachability;
//!    it checks whatever decoded in stage 2, skipping checks that depend on a section
//!    with broken entries (no follow-up errors).
//!
//! Positions come from the YAML parser itself (see `locate`): serde_yaml attaches the
//! position of the node being decoded to an error raised inside it, so the loader asks
//! it where a node is by walking to that node and raising an error there.

#![deny(missing_docs)]
#![forbid(unsafe_code)]

pub mod convert;
mod error;
mod forward;
pub mod ipvsadm;
mod locate;
mod model;
pub mod net;
mod raw;
mod structure;
mod text;
mod to_raw;
mod validate;

use std::path::Path as FsPath;

pub use error::{ConfigError, ConfigErrors};
pub use forward::{ForwardMethod, TunnelCsum, TunnelType};
pub use locate::Location;
pub use model::*;
pub use net::{IpNet, Netmask, PortRange};

use error::serde_error;
use locate::locate_nearest;
use raw::{RawConfig, TOP_LEVEL_KEYS};

/// Reads and validates a configuration file.
pub fn load_file(path: impl AsRef<FsPath>) -> Result<Config, ConfigErrors> {
    let path = path.as_ref();
    let name = path.display().to_string();
    match std::fs::read_to_string(path) {
        Ok(text) => from_str(&text, &name),
        Err(e) => Err(ConfigErrors(vec![ConfigError {
            file: name,
            location: None,
            message: format!("cannot read the file: {e}"),
        }])),
    }
}

/// Parses and validates configuration text; `file_name` is used in error messages.
pub fn from_str(text: &str, file_name: &str) -> Result<Config, ConfigErrors> {
    let err = |list: Vec<(Location, String)>| {
        let mut list = list;
        // File order; stable, so errors at one place keep the order they were found in.
        list.sort_by_key(|(l, _)| *l);
        list.dedup();
        ConfigErrors(
            list.into_iter()
                .map(|(l, message)| ConfigError {
                    file: file_name.to_owned(),
                    location: Some(l),
                    message,
                })
                .collect(),
        )
    };
    // 1. Syntax. A `Value` accepts every well-formed document.
    let value: serde_yaml::Value = match serde_yaml::from_str(text) {
        Ok(v) => v,
        Err(e) => return Err(err(vec![serde_error(&e)])),
    };
    if value.is_null() {
        return Err(err(vec![(
            Location { line: 1, column: 1 },
            format!(
                "the document is empty; expected a mapping with the sections {}",
                TOP_LEVEL_KEYS.join(" ")
            ),
        )]));
    }
    // 2. Structure.
    let (raw, service_index, scope, mut found) = match serde_yaml::from_str::<RawConfig>(text) {
        Ok(r) => {
            let n = r.services.len();
            (r, (0..n).collect(), validate::Scope::COMPLETE, Vec::new())
        }
        Err(first) => {
            let s = structure::structure(text, &value, &first);
            (s.raw, s.service_index, s.scope, s.errors)
        }
    };
    // 3. Meaning (of what decoded, when the structure had errors).
    let mut problems = validate::Problems::new(text, scope);
    let cfg = validate::validate(raw, &service_index, &mut problems);
    let list = problems.into_list();
    if list.is_empty() && found.is_empty() {
        return Ok(cfg);
    }
    found.extend(
        list.into_iter()
            .map(|(path, part, msg)| (locate_nearest(text, &path, part), msg)),
    );
    Err(err(found))
}

/// Writes a configuration as YAML, every value explicit; [`from_str`] reads it back
/// to an equal `Config`.
pub fn to_yaml_string(cfg: &Config) -> String {
    // Serializing plain data into a String cannot fail: no I/O, no maps with non-string
    // keys, no bytes.
    serde_yaml::to_string(cfg).unwrap_or_default()
}

/// The file name in errors of [`Config::revalidate`].
pub const GENERATED: &str = "<generated>";

impl Config {
    /// Checks a model built or changed in code (REST API, ipvsadm rules) by the same rules
    /// as a file, and returns it with defaults applied. Error positions refer to the
    /// model's YAML form ([`to_yaml_string`]), named [`GENERATED`]; the messages name
    /// the values at fault.
    pub fn revalidate(&self) -> Result<Config, ConfigErrors> {
        from_str(&to_yaml_string(self), GENERATED)
    }
}

#[cfg(test)]
mod tests;
