//! The two layers above the defaults, read and split: the TOML file and the
//! `CAREBASE_*` variables, each into its kernel keys and its sections, with
//! the flat names of section keys moved into their sections (and a warning
//! naming the new name).

use std::collections::HashMap;
use std::collections::hash_map::Entry;
use std::path::Path;

use super::section::Section;
use super::{ConfigError, ENV_PREFIX};

/// The environment variables that are ours but are not settings.
const NOT_SETTINGS: &[&str] = &["CAREBASE_CONFIG"];
/// Prefixes of variables used by the test suite and tools, never by the server.
const NOT_SETTING_PREFIXES: &[&str] = &["CAREBASE_TEST_", "CAREBASE_BENCH_"];

/// One layer: its kernel keys and its sections' keys.
#[derive(Default)]
pub(super) struct Layer<T> {
    pub kernel: T,
    pub sections: T,
}

/// Reads the TOML file; a top-level key that is a section's flat alias
/// moves into that section unless the section sets it too.
pub(super) fn from_file(
    path: &Path,
    sections: &[Section],
    warnings: &mut Vec<String>,
) -> Result<Layer<toml::Table>, ConfigError> {
    let failed = |reason: String| ConfigError::File {
        path: path.to_owned(),
        reason,
    };
    if !path.is_file() {
        return Err(failed("not found or not a file".to_owned()));
    }
    let text = std::fs::read_to_string(path).map_err(|e| failed(e.to_string()))?;
    let mut kernel: toml::Table = toml::from_str(&text).map_err(|e| failed(e.to_string()))?;
    let mut tables = toml::Table::new();
    for section in sections {
        if let Some(table) = kernel.remove(section.name()) {
            tables.insert(section.name().to_owned(), table);
        }
    }
    for section in sections {
        for alias in section.aliases() {
            let Some(value) = kernel.remove(&alias) else {
                continue;
            };
            let new = format!("{}.{alias}", section.name());
            let at = path.display();
            let table = tables
                .entry(section.name())
                .or_insert_with(|| toml::Value::Table(toml::Table::new()));
            // A section that is not a table is refused when it is loaded.
            let Some(table) = table.as_table_mut() else {
                continue;
            };
            if table.contains_key(&alias) {
                warnings.push(format!(
                    "{at}: `{alias}` at the top level is deprecated and ignored: \
                     `{new}` (`{alias}` in the [{}] table) is set too, and wins",
                    section.name()
                ));
            } else {
                warnings.push(format!(
                    "{at}: `{alias}` at the top level is deprecated: \
                     rename it `{new}` (`{alias}` in the [{}] table)",
                    section.name()
                ));
                table.insert(alias, value);
            }
        }
    }
    Ok(Layer {
        kernel,
        sections: tables,
    })
}

/// Picks our settings out of the environment: `CAREBASE_<KEY>`,
/// `CAREBASE_<SECTION>__<KEY>` and `DATABASE_URL`, refusing `CAREBASE_*`
/// names that are not settings. A flat name of a section key counts as its
/// new name unless that is set too.
pub(super) fn from_env(
    env: impl IntoIterator<Item = (String, String)>,
    kernel_keys: &[String],
    sections: &[Section],
    warnings: &mut Vec<String>,
) -> Result<Layer<HashMap<String, String>>, ConfigError> {
    let section_keys: Vec<String> = sections
        .iter()
        .flat_map(|s| s.keys().into_iter().map(|k| format!("{}__{k}", s.name())))
        .collect();
    let aliases: HashMap<String, String> = sections
        .iter()
        .flat_map(|s| {
            s.aliases()
                .into_iter()
                .map(|a| (a.clone(), format!("{}__{a}", s.name())))
        })
        .collect();
    let mut layer = Layer::<HashMap<String, String>>::default();
    let mut flat = Vec::new();
    let mut plain_database_url = None;
    for (name, value) in env {
        if name == "DATABASE_URL" {
            plain_database_url = Some(value);
            continue;
        }
        let Some(key) = name.strip_prefix(ENV_PREFIX) else {
            continue;
        };
        if NOT_SETTINGS.contains(&name.as_str())
            || NOT_SETTING_PREFIXES.iter().any(|p| name.starts_with(p))
        {
            continue;
        }
        let key = key.to_ascii_lowercase();
        if kernel_keys.contains(&key) {
            layer.kernel.insert(key, value);
        } else if section_keys.contains(&key) {
            layer.sections.insert(key, value);
        } else if let Some(target) = aliases.get(&key) {
            flat.push((name, target.clone(), value));
        } else {
            let known: Vec<String> = kernel_keys
                .iter()
                .chain(&section_keys)
                .map(|k| format!("{ENV_PREFIX}{}", k.to_ascii_uppercase()))
                .collect();
            return Err(ConfigError::UnknownVariable(name, known.join(", ")));
        }
    }
    flat.sort();
    for (name, target, value) in flat {
        let new = format!("{ENV_PREFIX}{}", target.to_ascii_uppercase());
        match layer.sections.entry(target) {
            Entry::Occupied(_) => warnings.push(format!(
                "{name} is deprecated and ignored: {new} is set too, and wins"
            )),
            Entry::Vacant(slot) => {
                warnings.push(format!("{name} is deprecated: rename it {new}"));
                slot.insert(value);
            }
        }
    }
    // CAREBASE_DATABASE_URL wins over the conventional DATABASE_URL.
    if let Some(url) = plain_database_url {
        layer.kernel.entry("database_url".to_owned()).or_insert(url);
    }
    Ok(layer)
}

/// Merges a file layer and an environment layer (which wins) into one
/// `config` tree; `list_keys` take comma-separated lists from variables.
pub(super) fn merge(
    file: &toml::Table,
    env: HashMap<String, String>,
    list_keys: &[String],
) -> Result<config::Config, config::ConfigError> {
    let text = toml::to_string(file).map_err(|e| config::ConfigError::Message(e.to_string()))?;
    let mut variables = config::Environment::default()
        .try_parsing(true)
        .separator("__")
        .list_separator(",");
    for key in list_keys {
        variables = variables.with_list_parse_key(key);
    }
    config::Config::builder()
        .add_source(config::File::from_str(&text, config::FileFormat::Toml))
        .add_source(variables.source(Some(env)))
        .build()
}
