//! `rvsadm --to-yaml`: `-S` rules to the `services:` section of rvs YAML.

use super::error::CliError;
use config::ipvsadm::RuleTable;
use serde_json::Value;
use std::fmt::Write as _;

/// Replays `-S` rule text (as `-R` would, with ipvsadm's refusals and exit
/// codes) and writes the resulting services as the `services:` section of
/// an rvs configuration file, ready to paste into one.
pub fn rules_to_yaml(text: &str, program: &str) -> Result<String, CliError> {
    let mut table = RuleTable::new();
    table
        .restore(text, program)
        .map_err(|e| CliError::Ipvs(e.error))?;
    let services = config::convert::services_from_rules(table.services())
        .map_err(|e| CliError::ToYaml(e.to_string()))?;
    // The model serializes (config's Serialize impls); this crate has no
    // YAML serializer, so the JSON value is written out as block YAML.
    let value = serde_json::to_value(&services).map_err(|e| CliError::ToYaml(e.to_string()))?;
    let mut out = String::from("services:");
    match &value {
        Value::Array(items) if !items.is_empty() => {
            out.push('\n');
            sequence(&mut out, items, 2);
        }
        _ => out.push_str(" []\n"),
    }
    Ok(out)
}

/// Keys written first in a mapping, in this order (how people write a
/// service or real server by hand); the others follow alphabetically.
const LEADING_KEYS: [&str; 6] = ["proto", "vip", "address", "port", "fwmark", "scheduler"];

fn ordered_keys(map: &serde_json::Map<String, Value>) -> Vec<&String> {
    let mut keys: Vec<&String> = map.keys().collect();
    let rank = |k: &str| {
        LEADING_KEYS
            .iter()
            .position(|l| *l == k)
            .unwrap_or(LEADING_KEYS.len())
    };
    keys.sort_by(|a, b| rank(a).cmp(&rank(b)).then_with(|| a.cmp(b)));
    keys
}

/// A scalar, or `[]`/`{}` for empty collections; `None` for a non-empty
/// collection (written as a block).
fn inline(v: &Value) -> Option<String> {
    match v {
        Value::Null => Some("null".into()),
        Value::Bool(b) => Some(b.to_string()),
        Value::Number(n) => Some(n.to_string()),
        // A JSON string literal is a valid YAML double-quoted scalar (same
        // escapes), so no string can be misread as a number, bool or key.
        Value::String(s) => Some(Value::String(s.clone()).to_string()),
        Value::Array(a) if a.is_empty() => Some("[]".into()),
        Value::Object(m) if m.is_empty() => Some("{}".into()),
        Value::Array(_) | Value::Object(_) => None,
    }
}

/// Keys of the model are identifiers; quote anything else to stay safe.
fn key(k: &str) -> String {
    if !k.is_empty()
        && k.bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_')
    {
        k.to_string()
    } else {
        Value::String(k.to_string()).to_string()
    }
}

fn mapping(
    out: &mut String,
    map: &serde_json::Map<String, Value>,
    indent: usize,
    first_inline: bool,
) {
    for (i, k) in ordered_keys(map).into_iter().enumerate() {
        if !(i == 0 && first_inline) {
            out.push_str(&" ".repeat(indent));
        }
        let v = &map[k.as_str()];
        match inline(v) {
            Some(s) => {
                let _ = writeln!(out, "{}: {s}", key(k));
            }
            None => {
                let _ = writeln!(out, "{}:", key(k));
                match v {
                    Value::Array(items) => sequence(out, items, indent + 2),
                    Value::Object(m) => mapping(out, m, indent + 2, false),
                    _ => {}
                }
            }
        }
    }
}

fn sequence(out: &mut String, items: &[Value], indent: usize) {
    for item in items {
        out.push_str(&" ".repeat(indent));
        out.push_str("- ");
        match (inline(item), item) {
            (Some(s), _) => {
                out.push_str(&s);
                out.push('\n');
            }
            (None, Value::Object(m)) => mapping(out, m, indent + 2, true),
            (None, Value::Array(a)) => {
                out.push('\n');
                sequence(out, a, indent + 2);
            }
            (None, _) => out.push('\n'),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use config::ipvsadm::{format_rules, ServiceRule};

    /// Interfaces for the services below, so the YAML is a whole valid file.
    const FILE_HEAD: &str = "\
dataplane:
  worker_lcores: [1]
interfaces:
  - { name: wan0, device: net_null0, addresses: [198.18.0.254/24, 2001:2::fe/64] }
  - { name: lan0, device: net_null1, addresses: [198.19.0.254/24, 2001:2:0:1::fe/64] }
";

    const RULES: &str = "\
-A -t 198.18.0.100:80 -s wrr -p 60 -M 255.255.255.0
-a -t 198.18.0.100:80 -r 198.19.0.11:80 -m -w 5 -x 10 -y 2
-a -t 198.18.0.100:80 -r 198.19.0.12:80 -m -w 0
-A -t 198.18.0.101:443 -s sh -b sh-port
-a -t 198.18.0.101:443 -r 198.19.0.21:443 -g -w 1
-A -u [2001:2::1]:53 -s rr
-a -u [2001:2::1]:53 -r [2001:2:0:1::11]:53 -m -w 1
";

    fn rules_of(text: &str) -> Vec<ServiceRule> {
        let mut t = RuleTable::new();
        t.restore(text, "rvsadm").unwrap();
        t.into_services()
    }

    #[test]
    fn yaml_reads_back_as_the_same_rules() {
        let yaml = rules_to_yaml(RULES, "rvsadm").unwrap();
        assert!(
            yaml.starts_with(
                "services:\n  - proto: \"tcp\"\n    vip: \"198.18.0.100\"\n    port: 80\n"
            ),
            "{yaml}"
        );
        let file = format!("{FILE_HEAD}{yaml}");
        let cfg = config::from_str(&file, "to-yaml.yaml").unwrap_or_else(|e| panic!("{e}\n{file}"));
        let back: Vec<ServiceRule> = cfg
            .services
            .iter()
            .map(config::convert::service_rule)
            .collect();
        assert_eq!(
            format_rules(&back),
            format_rules(&rules_of(RULES)),
            "{yaml}"
        );
    }

    #[test]
    fn empty_and_refused_input() {
        assert_eq!(rules_to_yaml("", "rvsadm").unwrap(), "services: []\n");
        let e = rules_to_yaml("-a -t 198.18.0.1:80 -r 198.19.0.1\n", "rvsadm").unwrap_err();
        assert_eq!(
            (e.to_string().as_str(), e.exit_code()),
            ("Service not defined", 255)
        );
        let e = rules_to_yaml("-A -t 198.18.0.1:80 --pe sip\n", "rvsadm").unwrap_err();
        assert_eq!(e.exit_code(), 255, "{e}");
    }

    #[test]
    fn scalars_are_quoted_and_collections_nest() {
        let mut out = String::new();
        let v = serde_json::json!({"b": [1, {"x": "a\"b", "y": []}], "a": {"k": null}, "Odd key": true});
        let Value::Object(m) = v else { unreachable!() };
        mapping(&mut out, &m, 0, false);
        assert_eq!(
            out,
            "\"Odd key\": true\na:\n  k: null\nb:\n  - 1\n  - x: \"a\\\"b\"\n    y: []\n"
        );
    }
}
