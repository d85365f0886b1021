//! Settings sections: each context owns a table of the configuration (TOML
//! `[scheduling]`, variables `CAREBASE_SCHEDULING__<KEY>`), declared through
//! [`Settings`] and handed to the kernel as a [`Section`] by
//! `Context::settings`. The kernel loads, checks, masks and prints them
//! without knowing which contexts there are.

use std::any::Any;
use std::borrow::Cow;
use std::fmt::Debug;
use std::path::PathBuf;

use serde::Serialize;
use serde::de::DeserializeOwned;

use super::{ConfigError, mask_url, read_secret_file};

/// A context's typed settings: one TOML table, every key optional.
///
/// Give the struct `#[serde(default)]` so that a key left out keeps its
/// default.
pub trait Settings:
    Clone + Debug + Default + Serialize + DeserializeOwned + Send + Sync + 'static
{
    /// The table's name: `[<SECTION>]` in TOML, `CAREBASE_<SECTION>__<KEY>`
    /// in the environment. By convention the context's name.
    const SECTION: &'static str;
    /// Keys holding secrets: masked when the configuration is printed, and
    /// readable from a file named by `<key>_file`.
    const SECRETS: &'static [Secret] = &[];
    /// Keys that were top-level settings before sections existed, under the
    /// same name; still accepted there, with a warning, for one release.
    const FLAT_ALIASES: &'static [&'static str] = &[];

    /// Checks values that parse but cannot work.
    fn validate(&self) -> Result<(), Invalid> {
        Ok(())
    }
}

/// A secret key of a section and how it is shown.
#[derive(Clone, Copy, Debug)]
pub struct Secret {
    pub key: &'static str,
    pub mask: Mask,
}

/// How a secret is shown when the configuration is printed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Mask {
    /// A URL: its password hidden, the rest shown (`smtp://user:****@host`).
    Url,
    /// Nothing of it: `****`.
    Whole,
}

/// A value that parses but cannot work; the loader prefixes the section, so
/// the message reads `scheduling.reminder_poll_secs: must be at least 1`.
#[derive(Debug)]
pub struct Invalid {
    pub key: &'static str,
    pub reason: String,
}

impl Invalid {
    pub fn new(key: &'static str, reason: impl Into<String>) -> Self {
        Self {
            key,
            reason: reason.into(),
        }
    }

    /// From a checker whose message already starts with the key (`smtp_url
    /// … is not valid`), so that the key is not said twice.
    pub fn from_message(key: &'static str, message: &str) -> Self {
        let reason = message
            .strip_prefix(key)
            .map(|rest| rest.trim_start_matches(':').trim_start())
            .unwrap_or(message);
        Self::new(key, reason)
    }
}

/// What `Context::settings` gives the kernel: a section's name, keys and
/// aliases, and how to load it, made by [`Section::of`].
#[derive(Clone, Copy)]
pub struct Section {
    name: &'static str,
    secrets: &'static [Secret],
    flat_aliases: &'static [&'static str],
    default: fn() -> Box<dyn SectionValue>,
    template: fn() -> serde_json::Map<String, serde_json::Value>,
    load: fn(config::Value) -> Result<Box<dyn SectionValue>, config::ConfigError>,
}

impl Section {
    pub fn of<T: Settings>() -> Self {
        Self {
            name: T::SECTION,
            secrets: T::SECRETS,
            flat_aliases: T::FLAT_ALIASES,
            default: || Box::new(T::default()),
            template: || match serde_json::to_value(T::default()) {
                Ok(serde_json::Value::Object(map)) => map,
                _ => serde_json::Map::new(),
            },
            load: |value| Ok(Box::new(value.try_deserialize::<T>()?)),
        }
    }

    pub fn name(&self) -> &'static str {
        self.name
    }

    /// Its keys, without the section: every field, and `<key>_file` for
    /// each secret.
    pub fn keys(&self) -> Vec<String> {
        let mut keys: Vec<String> = (self.template)().keys().cloned().collect();
        keys.extend(self.secrets.iter().map(|s| format!("{}_file", s.key)));
        keys
    }

    /// The keys whose value is a list (comma-separated in a variable).
    pub(super) fn list_keys(&self) -> Vec<String> {
        (self.template)()
            .into_iter()
            .filter(|(_, value)| value.is_array())
            .map(|(key, _)| key)
            .collect()
    }

    /// Its flat aliases, with `<key>_file` for the secrets among them.
    pub(super) fn aliases(&self) -> Vec<String> {
        let mut aliases: Vec<String> = self.flat_aliases.iter().map(|a| (*a).to_owned()).collect();
        for secret in self.secrets {
            if self.flat_aliases.contains(&secret.key) {
                aliases.push(format!("{}_file", secret.key));
            }
        }
        aliases
    }

    /// Builds the section from its merged table (absent: the defaults),
    /// refusing unknown keys and reading `<key>_file` secrets.
    pub(super) fn load(
        &self,
        table: Option<config::Map<String, config::Value>>,
    ) -> Result<Box<dyn SectionValue>, ConfigError> {
        let Some(mut table) = table else {
            return Ok((self.default)());
        };
        let known = self.keys();
        if let Some(unknown) = table.keys().find(|k| !known.contains(k)) {
            return Err(ConfigError::Invalid(format!(
                "unknown setting {}.{unknown}; known settings of [{}] are: {}",
                self.name,
                self.name,
                known.join(", ")
            )));
        }
        for secret in self.secrets {
            let Some(path) = table.remove(&format!("{}_file", secret.key)) else {
                continue;
            };
            let key = format!("{}.{}", self.name, secret.key);
            let path = PathBuf::from(path.into_string().map_err(|e| self.error(e))?);
            let value = read_secret_file(&key, table.contains_key(secret.key), &path)?;
            table.insert(secret.key.to_owned(), value.expose().into());
        }
        let value = config::Value::new(None, config::ValueKind::Table(table));
        (self.load)(value).map_err(|e| self.error(e))
    }

    /// Names the full key (`scheduling.reminder_poll_secs`) in a parse error.
    fn error(&self, e: config::ConfigError) -> ConfigError {
        use config::ConfigError::{At, Type};
        let full = |key: Option<String>| {
            Some(match key {
                Some(key) => format!("{}.{key}", self.name),
                None => self.name.to_owned(),
            })
        };
        let e = match e {
            Type {
                origin,
                unexpected,
                expected,
                key,
            } => Type {
                origin,
                unexpected,
                expected,
                key: full(key),
            },
            At { error, origin, key } => At {
                error,
                origin,
                key: full(key),
            },
            other => At {
                error: Box::new(other),
                origin: None,
                key: full(None),
            },
        };
        ConfigError::Invalid(e.to_string())
    }
}

/// A loaded section, whatever its type.
pub trait SectionValue: Any + Debug + Send + Sync {
    fn name(&self) -> &'static str;
    fn clone_box(&self) -> Box<dyn SectionValue>;
    fn as_any(&self) -> &dyn Any;
    fn validate(&self) -> Result<(), ConfigError>;
    /// The section as a TOML table, secrets masked.
    fn to_masked_toml(&self) -> toml::Table;
}

impl<T: Settings> SectionValue for T {
    fn name(&self) -> &'static str {
        T::SECTION
    }

    fn clone_box(&self) -> Box<dyn SectionValue> {
        Box::new(self.clone())
    }

    fn as_any(&self) -> &dyn Any {
        self
    }

    fn validate(&self) -> Result<(), ConfigError> {
        Settings::validate(self).map_err(|invalid| {
            ConfigError::Invalid(format!(
                "{}.{}: {}",
                T::SECTION,
                invalid.key,
                invalid.reason
            ))
        })
    }

    fn to_masked_toml(&self) -> toml::Table {
        let mut table = toml::Table::try_from(self).unwrap_or_default();
        for secret in T::SECRETS {
            if let Some(toml::Value::String(value)) = table.get_mut(secret.key) {
                *value = match secret.mask {
                    Mask::Url => mask_url(value),
                    Mask::Whole => "****".to_owned(),
                };
            }
        }
        table
    }
}

/// Every context's section, loaded and checked.
#[derive(Debug)]
pub struct Sections(Vec<Box<dyn SectionValue>>);

impl Clone for Sections {
    fn clone(&self) -> Self {
        Self(self.0.iter().map(|s| s.clone_box()).collect())
    }
}

impl Default for Sections {
    /// Every context's section with its defaults.
    fn default() -> Self {
        Self(all().iter().map(|s| (s.default)()).collect())
    }
}

impl Sections {
    pub(super) fn new(values: Vec<Box<dyn SectionValue>>) -> Self {
        Self(values)
    }

    /// The section of type `T`; its defaults if no context declared it.
    pub fn get<T: Settings>(&self) -> Cow<'_, T> {
        self.0
            .iter()
            .find_map(|s| s.as_any().downcast_ref::<T>())
            .map_or_else(|| Cow::Owned(T::default()), Cow::Borrowed)
    }

    /// Changes the section of type `T` (tests adjust settings this way).
    pub fn edit<T: Settings>(&mut self, change: impl FnOnce(&mut T)) {
        let mut value = self.get::<T>().into_owned();
        change(&mut value);
        match self.0.iter_mut().find(|s| s.name() == T::SECTION) {
            Some(slot) => *slot = Box::new(value),
            None => self.0.push(Box::new(value)),
        }
    }

    pub(super) fn validate(&self) -> Result<(), ConfigError> {
        self.0.iter().try_for_each(|s| s.validate())
    }

    pub(super) fn iter(&self) -> impl Iterator<Item = &dyn SectionValue> {
        self.0.iter().map(|s| s.as_ref())
    }
}

/// Every section the contexts declare, in the order of `crate::contexts`.
pub fn all() -> Vec<Section> {
    crate::contexts::all()
        .iter()
        .filter_map(|c| c.settings())
        .collect()
}
