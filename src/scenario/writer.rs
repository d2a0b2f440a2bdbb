//! Writes a scenario back as RON (the app's "Save as scenario").

use super::Scenario;
use serde::Serialize;

pub fn scenario_to_ron<C: Serialize>(s: &Scenario<C>) -> Result<String, ron::Error> {
    let pretty = ron::ser::PrettyConfig::new()
        .struct_names(false)
        .separate_tuple_members(false)
        .depth_limit(4)
        .indentor("    ".to_string());
    let body = super::ron_options().to_string_pretty(s, pretty)?;
    // The extension line lets `Some(..)` be omitted when the file is read back.
    Ok(format!("#![enable(implicit_some)]\n{body}\n"))
}
