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
mod text;
mod to_raw;
mod validate;

use std::path::Path as FsPath;

use serde::de::IgnoredAny;

pub use error::{ConfigError, ConfigErrors};
pub use forward::{ForwardMethod, TunnelCsum, TunnelType};
pub use locate::Location;
pub use model::*;
pub use net::{IpNet, Netmask, PortRange};

use locate::{decode_at, locate, locate_nearest, Part, Path};
use raw::{
    RawAdmin, RawConfig, RawDataplane, RawInterface, RawIpvs, RawRealServer, RawRoute, RawService,
    RawSnatPool, RawTimeouts, TOP_LEVEL_KEYS,
};

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
            let s = structure(text, &value, &first);
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

/// A serde_yaml error as (position, message in our `wrong; expected` form).
fn serde_error(e: &serde_yaml::Error) -> (Location, String) {
    let loc = e
        .location()
        .map(|l| Location {
            line: l.line(),
            column: l.column(),
        })
        .unwrap_or(Location { line: 1, column: 1 });
    let mut msg = e.to_string();
    // serde_yaml appends " at line L column C"; we print the position in front instead.
    // (libyaml's syntax errors carry it in the middle: "... at line L column C, while ...").
    msg = msg.replacen(
        &format!(" at line {} column {}", loc.line, loc.column),
        "",
        1,
    );
    // ...and puts the node's path in front ("services[0].port: ..."); a path has no
    // spaces, while every message starts with words.
    if let Some((head, rest)) = msg.split_once(": ") {
        if !head.is_empty() && !head.contains(' ') {
            msg = rest.to_owned();
        }
    }
    (loc, reword(&msg))
}

/// serde's stock messages, in our `what is wrong; what is expected` form.
fn reword(msg: &str) -> String {
    if msg.contains("; expected") {
        return msg.to_owned();
    }
    let msg = msg.replacen("unknown field", "unknown key", 1).replacen(
        "duplicate field",
        "duplicate key",
        1,
    );
    let msg = match msg.strip_prefix("missing field ") {
        Some(k) => format!("missing key {k}; expected it in this mapping"),
        None => msg,
    };
    if let Some(k) = msg
        .strip_prefix("duplicate key ")
        .filter(|k| !k.contains(','))
    {
        return format!("duplicate key {k}; expected each key once");
    }
    let msg = msg.replace("there are no fields", "expected no keys here");
    let msg = match msg.split_once(", expected ") {
        Some((wrong, exp)) => format!("{wrong}; expected {exp}"),
        None => msg,
    };
    let msg = match msg.find("expected struct Raw") {
        Some(i) => format!("{}expected a mapping", &msg[..i]),
        None => msg,
    };
    msg.replace("expected u32", "expected an integer 0..=4294967295")
        .replace("expected u16", "expected an integer 0..=65535")
        .replace("expected u8", "expected an integer 0..=255")
}

/// What the structure stage found: every error, and what did decode.
struct Structure {
    errors: Vec<(Location, String)>,
    /// The sections and services that decoded; broken ones are left out.
    raw: RawConfig,
    /// File position of each service in `raw.services`.
    service_index: Vec<usize>,
    /// Which sections decoded completely.
    scope: validate::Scope,
}

/// Decodes each section, and each element of a list section, on its own: every broken
/// element gives its own error, and the rest still reaches the meaning stage.
fn structure(text: &str, value: &serde_yaml::Value, first: &serde_yaml::Error) -> Structure {
    use serde_yaml::Value;
    let mut st = Structure {
        errors: Vec::new(),
        raw: RawConfig::default(),
        service_index: Vec::new(),
        scope: validate::Scope::COMPLETE,
    };
    let root = Path::root();
    /// Decodes one node; on error records it and returns `None`.
    fn take<T: for<'a> serde::Deserialize<'a>>(
        errors: &mut Vec<(Location, String)>,
        text: &str,
        path: &Path,
    ) -> Option<T> {
        match decode_at::<T>(text, path) {
            Ok(v) => v,
            Err(e) => {
                errors.push(serde_error(&e));
                None
            }
        }
    }
    /// Decodes a list section element by element; `None` when any element is broken.
    fn list<T: for<'a> serde::Deserialize<'a>>(
        errors: &mut Vec<(Location, String)>,
        text: &str,
        path: &Path,
        v: &Value,
    ) -> Option<Vec<T>> {
        let Value::Sequence(items) = v else {
            return take::<Vec<T>>(errors, text, path);
        };
        let mut out = Vec::with_capacity(items.len());
        let mut complete = true;
        for i in 0..items.len() {
            match take::<T>(errors, text, &path.index(i)) {
                Some(t) => out.push(t),
                None => complete = false,
            }
        }
        complete.then_some(out)
    }
    let Value::Mapping(m) = value else {
        // Not a mapping at the top: serde's own error says so.
        st.errors.push(serde_error(first));
        return st;
    };
    for (k, v) in m {
        let Some(key) = k.as_str() else {
            continue;
        };
        let p = root.key(key);
        let e = &mut st.errors;
        match key {
            "dataplane" => st.raw.dataplane = take::<Option<RawDataplane>>(e, text, &p).flatten(),
            "timeouts" => st.raw.timeouts = take::<Option<RawTimeouts>>(e, text, &p).flatten(),
            "ipvs" => st.raw.ipvs = take::<Option<RawIpvs>>(e, text, &p).flatten(),
            "admin" => st.raw.admin = take::<Option<RawAdmin>>(e, text, &p).flatten(),
            "interfaces" => match list::<RawInterface>(e, text, &p, v) {
                Some(l) => st.raw.interfaces = l,
                None => st.scope.interfaces = false,
            },
            "routes" => match list::<RawRoute>(e, text, &p, v) {
                Some(l) => st.raw.routes = l,
                None => st.scope.routes = false,
            },
            "snat_pools" => match list::<RawSnatPool>(e, text, &p, v) {
                Some(l) => st.raw.snat_pools = l,
                None => st.scope.snat_pools = false,
            },
            "services" => {
                let Value::Sequence(items) = v else {
                    take::<Vec<IgnoredAny>>(e, text, &p);
                    continue;
                };
                for (i, item) in items.iter().enumerate() {
                    let ip = p.index(i);
                    // The service's own keys, then each real server: one error each.
                    let head = take::<RawService<IgnoredAny>>(e, text, &ip);
                    let mut servers_ok = true;
                    if let Some(Value::Sequence(rs)) = item.get("real_servers") {
                        for j in 0..rs.len() {
                            let rp = ip.key("real_servers").index(j);
                            servers_ok &= take::<RawRealServer>(e, text, &rp).is_some();
                        }
                    }
                    if head.is_some() && servers_ok {
                        if let Some(svc) = take::<RawService<RawRealServer>>(e, text, &ip) {
                            st.raw.services.push(svc);
                            st.service_index.push(i);
                        }
                    }
                }
            }
            _ => {
                let loc = locate(text, &p, Part::Key).unwrap_or(Location { line: 1, column: 1 });
                e.push((
                    loc,
                    format!(
                        "unknown key `{key}`; expected one of {}",
                        TOP_LEVEL_KEYS.join(" ")
                    ),
                ));
            }
        }
    }
    if st.errors.is_empty() {
        // A problem the per-section decoding cannot see (say a key that is not a
        // string): serde's own error says it.
        st.errors.push(serde_error(first));
    }
    st
}

#[cfg(test)]
mod tests;
