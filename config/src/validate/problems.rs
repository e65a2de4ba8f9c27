//! What the meaning stage collects: every problem with the node it is about, and which
//! sections decoded completely (so checks that depend on a broken section are skipped).

use std::net::IpAddr;

use crate::locate::{locate_nearest, Part, Path};

/// Which sections decoded completely. When the structure stage found errors, the
/// meaning stage still checks what did decode, but skips every check that depends on a
/// section with broken entries (a route to a broken interface is not "unknown").
#[derive(Clone, Copy, Debug)]
pub struct Scope {
    pub interfaces: bool,
    pub routes: bool,
    pub snat_pools: bool,
}

impl Scope {
    pub const COMPLETE: Scope = Scope {
        interfaces: true,
        routes: true,
        snat_pools: true,
    };
}

/// Errors found so far, each with the node it is about.
pub struct Problems<'t> {
    text: &'t str,
    list: Vec<(Path, Part, String)>,
    /// Which sections the checks may rely on.
    pub scope: Scope,
}

impl<'t> Problems<'t> {
    pub fn new(text: &'t str, scope: Scope) -> Problems<'t> {
        Problems {
            text,
            list: Vec::new(),
            scope,
        }
    }

    /// An error about the node at `path`.
    pub fn at(&mut self, path: &Path, msg: impl Into<String>) {
        self.list.push((path.clone(), Part::Value, msg.into()));
    }

    /// An error about the key of the last segment of `path`.
    pub fn at_key(&mut self, path: &Path, msg: impl Into<String>) {
        self.list.push((path.clone(), Part::Key, msg.into()));
    }

    /// "line N" of an earlier node, for "already defined at line N" messages.
    pub fn line_of(&self, path: &Path) -> usize {
        locate_nearest(self.text, path, Part::Value).line
    }

    pub fn into_list(self) -> Vec<(Path, Part, String)> {
        self.list
    }
}

/// Items for an "expected one of ..." message.
pub fn list_or_none<T: ToString>(items: impl IntoIterator<Item = T>) -> String {
    let v: Vec<String> = items.into_iter().map(|i| i.to_string()).collect();
    if v.is_empty() {
        "(none defined)".to_owned()
    } else {
        v.join(" ")
    }
}

/// "IPv4" or "IPv6", for messages.
pub fn family(ip: IpAddr) -> &'static str {
    if ip.is_ipv4() {
        "IPv4"
    } else {
        "IPv6"
    }
}
