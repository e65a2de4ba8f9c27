//! `rvsadm --to-yaml`: `-S` rules to the `services:` section of rvs YAML.

use super::error::CliError;
use config::ipvsadm::RuleTable;

/// Replays `-S` rule text (as `-R` would, with ipvsadm's refusals) and
/// writes the resulting services as the `services:` section of an rvs
/// configuration file.
pub fn rules_to_yaml(text: &str, program: &str) -> Result<String, CliError> {
    let mut table = RuleTable::new();
    table
        .restore(text, program)
        .map_err(|e| CliError::Ipvs(e.error))?;
    let services = config::convert::services_from_rules(table.services())
        .map_err(|e| CliError::ToYaml(e.to_string()))?;
    // JSON is YAML: serde_json is what this crate has to serialize the
    // model with (see the report: a YAML emitter in config is wanted).
    let section = serde_json::json!({ "services": services });
    serde_json::to_string_pretty(&section)
        .map(|s| s + "\n")
        .map_err(|e| CliError::ToYaml(e.to_string()))
}
