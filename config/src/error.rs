//! Configuration errors: each names the file, line and column, what is wrong and what
//! is expected, like a compiler diagnostic.

use std::fmt;

use crate::locate::Location;

/// One problem in a configuration file.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ConfigError {
    /// File name as given to the loader.
    pub file: String,
    /// Where in the file; `None` when the problem is the file as a whole (unreadable).
    pub location: Option<Location>,
    /// `what is wrong; what is expected`.
    pub message: String,
}

impl fmt::Display for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.location {
            Some(l) => write!(f, "{}:{}:{}: {}", self.file, l.line, l.column, self.message),
            None => write!(f, "{}: {}", self.file, self.message),
        }
    }
}

impl std::error::Error for ConfigError {}

/// Every problem found in one configuration, in file order; never empty.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub struct ConfigErrors(pub Vec<ConfigError>);

impl ConfigErrors {
    /// The problems, in file order.
    pub fn errors(&self) -> &[ConfigError] {
        &self.0
    }
}

impl fmt::Display for ConfigErrors {
    /// One problem per line, no trailing newline.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, e) in self.0.iter().enumerate() {
            if i > 0 {
                f.write_str("\n")?;
            }
            e.fmt(f)?;
        }
        Ok(())
    }
}

/// A serde_yaml error as (position, message in our `wrong; expected` form).
pub(crate) fn serde_error(e: &serde_yaml::Error) -> (Location, String) {
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
