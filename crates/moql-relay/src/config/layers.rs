//! The layered configuration: built-in defaults, then the TOML file, then environment
//! variables, then command-line flags; each layer overrides the keys it sets and leaves the
//! rest. A typed flag is the most specific thing an operator writes, so it wins; the
//! environment suits containers and units, so it overrides the file it ships with.
//!
//! Every key has the same three forms, with no table to keep in step with the fields:
//!
//! | file (`relay.toml`) | environment | flag |
//! |---|---|---|
//! | `drain_seconds = 2` | `MOQL_RELAY_DRAIN_SECONDS=2` | `--set drain_seconds=2` |
//! | `[cache]` `max_latency_seconds = "10s"` | `MOQL_RELAY_CACHE__MAX_LATENCY_SECONDS=10s` | `--set cache.max_latency_seconds=10s` |
//! | `[cluster]` `peers = ["moql://b:4443/"]` | `MOQL_RELAY_CLUSTER__PEERS='["moql://b:4443/"]'` | `--set 'cluster.peers=["moql://b:4443/"]'` |
//!
//! A variable's name is `MOQL_RELAY_` and the key's path, upper case, with `__` (two
//! underscores) between a section and its key, since keys contain single underscores. A value
//! (of a variable or `--set`) is read as a TOML value (`10`, `true`, `"7"`, `["a", "b"]`,
//! `[{ alg = "HS256", secret = "…" }]`), and as a plain string when it is not one (`10s`,
//! `[::]:4443`): quote a string that would read as a number or a boolean. Lists replace the
//! lower layer's list. A variable under the prefix that names no key is an error, as an
//! unknown key in the file is, so a typo cannot pass silently; only `MOQL_RELAY_CONFIG` (the
//! file's path) is not a key.
//!
//! Merging and source tracking are [`figment`]'s: each value keeps the layer it came from,
//! so an error names the key and its source (the file, the variable, or the flag).

use std::path::{Path, PathBuf};

use figment::value::{Dict, Map, Value};
use figment::{Figment, Metadata, Profile, Provider};

use super::RelayConfig;
use crate::error::RelayError;

/// Environment variables under this prefix are settings ([`ConfigSources::env`]).
pub const ENV_PREFIX: &str = "MOQL_RELAY_";

/// The variable naming the config file; under [`ENV_PREFIX`] but not a setting.
pub const ENV_CONFIG_FILE: &str = "MOQL_RELAY_CONFIG";

/// Where the relay's settings come from, lowest precedence first. Build it, then call
/// [`RelayConfig::from_sources`].
#[derive(Clone, Debug, Default)]
pub struct ConfigSources {
    /// A TOML file (`--config`): a missing or unreadable file is an error.
    pub file: Option<PathBuf>,
    /// Environment variables, `(name, value)`; only those under [`ENV_PREFIX`] are read, so
    /// the whole process environment may be passed ([`with_process_env`](Self::with_process_env)).
    pub env: Vec<(String, String)>,
    /// Flags as `(key path, value)`, in command-line order (a later one wins): typed flags
    /// (`--bind`) and `--set key=value` ([`parse_setting`]).
    pub flags: Vec<(String, toml::Value)>,
}

impl ConfigSources {
    /// Adds this process's environment variables under [`ENV_PREFIX`]. A variable whose name
    /// or value is not UTF-8 is kept with its bytes replaced, so it is reported, not skipped.
    #[must_use]
    pub fn with_process_env(mut self) -> Self {
        self.env
            .extend(std::env::vars_os().filter_map(|(name, value)| {
                let name = name.to_string_lossy().into_owned();
                name.starts_with(ENV_PREFIX)
                    .then(|| (name, value.to_string_lossy().into_owned()))
            }));
        self
    }
}

/// Parses `--set key.path=value`: the key's path and the value as [`parse_value`] reads it.
///
/// # Errors
///
/// [`RelayError::Config`] if there is no `=` or the key is empty.
pub fn parse_setting(text: &str) -> Result<(String, toml::Value), RelayError> {
    let (key, value) = text
        .split_once('=')
        .ok_or_else(|| RelayError::Config(format!("--set {text}: expected key.path=value")))?;
    let key = key.trim();
    if key.is_empty() || key.split('.').any(str::is_empty) {
        return Err(RelayError::Config(format!("--set {text}: bad key {key:?}")));
    }
    Ok((key.to_string(), parse_value(value)))
}

/// A value from a variable or a flag: a TOML value if it parses as one, else the text as a
/// string (so `10s` and `[::]:4443` need no quotes).
pub fn parse_value(text: &str) -> toml::Value {
    text.parse::<toml::Value>()
        .unwrap_or_else(|_| toml::Value::String(text.to_string()))
}

/// The key path a variable under [`ENV_PREFIX`] names: `MOQL_RELAY_CACHE__MAX_LATENCY_SECONDS`
/// is `cache.max_latency_seconds`; `None` if the name has an empty part.
fn env_key(name: &str) -> Option<String> {
    let rest = name.strip_prefix(ENV_PREFIX)?;
    let parts: Vec<String> = rest.split("__").map(str::to_ascii_lowercase).collect();
    (!parts.iter().any(String::is_empty)).then(|| parts.join("."))
}

/// One layer's values with the name of their source, for figment.
struct Layer {
    source: String,
    dict: Dict,
}

impl Layer {
    /// A layer setting one key (a dotted path) to `value`, from `source`.
    fn one(source: String, key: &str, value: &toml::Value) -> Result<Self, RelayError> {
        let value = Value::serialize(value)
            .map_err(|err| RelayError::Config(format!("{key} ({source}): {err}")))?;
        let Value::Dict(_, dict) = figment::util::nest(key, value) else {
            return Err(RelayError::Config(format!("{source}: bad key {key:?}")));
        };
        Ok(Self { source, dict })
    }
}

impl Provider for Layer {
    fn metadata(&self) -> Metadata {
        Metadata::named(self.source.clone())
    }

    fn data(&self) -> Result<Map<Profile, Dict>, figment::Error> {
        Ok(Profile::Default.collect(self.dict.clone()))
    }
}

impl RelayConfig {
    /// The configuration from `sources` over the defaults, checked as
    /// [`validate`](Self::validate) does.
    ///
    /// # Errors
    ///
    /// [`RelayError::Config`] with one line naming the bad key and its source (`file
    /// relay.toml`, `environment variable MOQL_RELAY_…`, `command line`): an unreadable or
    /// malformed file, an unknown key, a value of the wrong type or out of range.
    pub fn from_sources(sources: &ConfigSources) -> Result<Self, RelayError> {
        let mut figment = Figment::new();
        if let Some(path) = &sources.file {
            figment = figment.merge(file_layer(path)?);
        }
        let mut env: Vec<&(String, String)> = sources
            .env
            .iter()
            .filter(|(name, _)| name.starts_with(ENV_PREFIX) && name != ENV_CONFIG_FILE)
            .collect();
        // Sorted, so the outcome does not hang on the environment's order.
        env.sort();
        for (name, value) in env {
            let source = format!("environment variable {name}");
            let key = env_key(name).ok_or_else(|| {
                RelayError::Config(format!(
                    "{source}: names no key (MOQL_RELAY_SECTION__KEY, e.g. MOQL_RELAY_CACHE__MAX_LATENCY_SECONDS)"
                ))
            })?;
            figment = figment.merge(Layer::one(source, &key, &parse_value(value))?);
        }
        for (key, value) in &sources.flags {
            figment = figment.merge(Layer::one("command line".to_string(), key, value)?);
        }
        let config: Self = figment.extract().map_err(|err| describe(&figment, err))?;
        config.check().map_err(|(key, message)| {
            let source = figment
                .find_metadata(&key)
                .map_or_else(|| "default".to_string(), |m| m.name.to_string());
            RelayError::Config(format!("{message} ({source})"))
        })?;
        Ok(config)
    }
}

/// The file's layer: its TOML, with a syntax error as one line with the line number.
fn file_layer(path: &Path) -> Result<Layer, RelayError> {
    let source = format!("file {}", path.display());
    let text = std::fs::read_to_string(path)
        .map_err(|err| RelayError::Config(format!("reading {}: {err}", path.display())))?;
    let table: toml::Table = toml::from_str(&text).map_err(|err| {
        let line = err
            .span()
            .map(|span| text[..span.start.min(text.len())].lines().count().max(1));
        let at = line.map(|n| format!(" line {n}")).unwrap_or_default();
        RelayError::Config(format!("{source}{at}: {}", err.message().trim()))
    })?;
    let dict = match Value::serialize(&table) {
        Ok(Value::Dict(_, dict)) => dict,
        Ok(_) => Dict::new(),
        Err(err) => return Err(RelayError::Config(format!("{source}: {err}"))),
    };
    Ok(Layer { source, dict })
}

/// A figment error as one line: `key: what is wrong (source)`.
fn describe(figment: &Figment, err: figment::Error) -> RelayError {
    let Some(first) = err.into_iter().next() else {
        return RelayError::Config("invalid configuration".into());
    };
    let mut path = first.path.clone();
    let what = match &first.kind {
        figment::error::Kind::UnknownField(field, known) => {
            if path.last() != Some(field) {
                path.push(field.clone());
            }
            format!("unknown key; the keys here are: {}", known.join(", "))
        }
        kind => kind.to_string(),
    };
    let key = path.join(".");
    // The value's own layer, not its parent table's (an unknown key's table may come from
    // the file while the key came from a variable).
    let source = figment
        .find_metadata(&key)
        .or(first.metadata.as_ref())
        .map_or_else(|| "default".to_string(), |m| m.name.to_string());
    if key.is_empty() {
        RelayError::Config(format!("{what} ({source})"))
    } else {
        RelayError::Config(format!("{key}: {what} ({source})"))
    }
}
