//! The structure stage: each section, and each element of a list section, decoded on
//! its own, so that every broken element gives its own error and the rest still reaches
//! the meaning stage.

use serde::de::IgnoredAny;
use serde_yaml::Value;

use crate::error::serde_error;
use crate::locate::{decode_at, locate, Location, Part, Path};
use crate::raw::{
    RawAdmin, RawConfig, RawDataplane, RawHealth, RawInterface, RawIpvs, RawRealServer, RawRoute,
    RawService, RawSnatPool, RawTimeouts, TOP_LEVEL_KEYS,
};
use crate::validate::Scope;

/// What the structure stage found: every error, and what did decode.
pub struct Structure {
    /// Every error, with its position.
    pub errors: Vec<(Location, String)>,
    /// The sections and services that decoded; broken ones are left out.
    pub raw: RawConfig,
    /// File position of each service in `raw.services`.
    pub service_index: Vec<usize>,
    /// Which sections decoded completely.
    pub scope: Scope,
}

/// Decodes each section, and each element of a list section, on its own: every broken
/// element gives its own error, and the rest still reaches the meaning stage.
pub fn structure(text: &str, value: &serde_yaml::Value, first: &serde_yaml::Error) -> Structure {
    let mut st = Structure {
        errors: Vec::new(),
        raw: RawConfig::default(),
        service_index: Vec::new(),
        scope: Scope::COMPLETE,
    };
    let root = Path::root();
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
            "health" => st.raw.health = take::<Option<RawHealth>>(e, text, &p).flatten(),
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
            "services" => services(&mut st, text, &p, v),
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

/// The services one by one: a service's own keys, then each real server, one error each;
/// a service decodes when all of them do.
fn services(st: &mut Structure, text: &str, p: &Path, v: &Value) {
    let Value::Sequence(items) = v else {
        take::<Vec<IgnoredAny>>(&mut st.errors, text, p);
        return;
    };
    for (i, item) in items.iter().enumerate() {
        let ip = p.index(i);
        // The service's own keys, then each real server: one error each.
        let head = take::<RawService<IgnoredAny>>(&mut st.errors, text, &ip);
        let mut servers_ok = true;
        if let Some(Value::Sequence(rs)) = item.get("real_servers") {
            for j in 0..rs.len() {
                let rp = ip.key("real_servers").index(j);
                servers_ok &= take::<RawRealServer>(&mut st.errors, text, &rp).is_some();
            }
        }
        if head.is_some() && servers_ok {
            if let Some(svc) = take::<RawService<RawRealServer>>(&mut st.errors, text, &ip) {
                st.raw.services.push(svc);
                st.service_index.push(i);
            }
        }
    }
}
