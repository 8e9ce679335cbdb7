//! The token payload ([`Claims`]) and its JSON forms: ours (`pub`/`sub`), and the reference
//! relay's (`put`/`get` prefixes, or `publish`/`subscribe` patterns, from `moq-auth`).
//!
//! Tokens are **written** with `root`, `put`, `get`, `exp` and `iat` only: the one set of
//! names both this relay and the reference's verifier (which refuses unknown claims) accept
//! with the same meaning. A prefix `p` in `put`/`get` is what the reference calls the
//! pattern `p/**` (and `""` is `**`), so both relays grant exactly the same paths.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use serde::{Deserialize, Deserializer, Serialize};

use super::AuthError;

/// The payload of a relay token. See the [module docs](super) for each claim's meaning.
///
/// Serialized as `{"root", "put", "get", "exp", "iat", "nbf"}` (empty lists and `None`s
/// left out); read from any of the accepted forms (see [`super`]'s claims table).
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(into = "Wire", try_from = "Wire")]
pub struct Claims {
    /// The broadcast path the token is scoped to; `""` = the relay's root.
    pub root: String,
    /// Prefixes relative to `root` the holder may publish under.
    pub publish: Vec<String>,
    /// Prefixes relative to `root` the holder may subscribe to.
    pub subscribe: Vec<String>,
    /// Expiry, seconds since the Unix epoch (required).
    pub exp: u64,
    /// Issued at, seconds since the Unix epoch.
    pub iat: Option<u64>,
    /// Not before, seconds since the Unix epoch.
    pub nbf: Option<u64>,
}

impl Claims {
    /// `exp` as a time.
    ///
    /// # Errors
    ///
    /// [`AuthError::Invalid`] if it is beyond what [`SystemTime`] can hold.
    pub fn expires(&self) -> Result<SystemTime, AuthError> {
        UNIX_EPOCH
            .checked_add(Duration::from_secs(self.exp))
            .ok_or_else(|| AuthError::Invalid("exp is out of range".into()))
    }
}

/// Every claim name any accepted form uses. Unknown claims are ignored (as they always were
/// here); the reference refuses them, which is why [`Claims`] writes none.
#[derive(Default, Serialize, Deserialize)]
#[serde(default)]
struct Wire {
    #[serde(skip_serializing_if = "String::is_empty")]
    root: String,
    // Ours.
    #[serde(rename = "pub", skip_serializing, deserialize_with = "present")]
    ours_publish: Option<OneOrMany>,
    /// Ours: subscribe prefixes. In the reference's forms this is the registered JWT
    /// "subject" (RFC 7519 4.1.2), which it reads and ignores, and so do we there.
    #[serde(rename = "sub", skip_serializing, deserialize_with = "present")]
    sub: Option<serde_json::Value>,
    // The reference's prefixes (the older `moq-token` names, still read by `moq-auth`).
    #[serde(skip_serializing_if = "Option::is_none", deserialize_with = "present")]
    put: Option<OneOrMany>,
    #[serde(skip_serializing_if = "Option::is_none", deserialize_with = "present")]
    get: Option<OneOrMany>,
    // The reference's patterns (`moq-auth` 0.2).
    #[serde(skip_serializing, deserialize_with = "present")]
    publish: Option<Vec<String>>,
    #[serde(skip_serializing, deserialize_with = "present")]
    subscribe: Option<Vec<String>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    exp: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    iat: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    nbf: Option<u64>,
}

/// Prefix lists may be written as one bare string.
#[derive(Serialize, Deserialize)]
#[serde(untagged)]
enum OneOrMany {
    One(String),
    Many(Vec<String>),
}

impl OneOrMany {
    fn into_vec(self) -> Vec<String> {
        match self {
            Self::One(one) => vec![one],
            Self::Many(many) => many,
        }
    }
}

/// A field that is present must hold a value: an explicit `null` is refused rather than
/// read as absent, so it cannot hide one form from the mixed-form check.
fn present<'de, D: Deserializer<'de>, T: Deserialize<'de>>(
    deserializer: D,
) -> Result<Option<T>, D::Error> {
    T::deserialize(deserializer).map(Some)
}

impl From<Claims> for Wire {
    fn from(claims: Claims) -> Self {
        let list = |list: Vec<String>| (!list.is_empty()).then_some(OneOrMany::Many(list));
        Self {
            root: claims.root,
            put: list(claims.publish),
            get: list(claims.subscribe),
            exp: Some(claims.exp),
            iat: claims.iat,
            nbf: claims.nbf,
            ..Self::default()
        }
    }
}

impl TryFrom<Wire> for Claims {
    type Error = String;

    fn try_from(wire: Wire) -> Result<Self, String> {
        let legacy = wire.put.is_some() || wire.get.is_some();
        let patterns = wire.publish.is_some() || wire.subscribe.is_some();
        let ours = wire.ours_publish.is_some();
        if usize::from(legacy) + usize::from(patterns) + usize::from(ours) > 1 {
            // One document, one form: a mix is ambiguous about what it grants.
            return Err("mixes claim forms (pub/sub, put/get, publish/subscribe)".into());
        }
        let (publish, subscribe) = if legacy {
            (
                wire.put.map(OneOrMany::into_vec).unwrap_or_default(),
                wire.get.map(OneOrMany::into_vec).unwrap_or_default(),
            )
        } else if patterns {
            (
                subtrees(wire.publish.unwrap_or_default())?,
                subtrees(wire.subscribe.unwrap_or_default())?,
            )
        } else {
            // Ours: `sub` holds subscribe prefixes (a string or a list of them).
            let subscribe = match wire.sub {
                None => Vec::new(),
                Some(value) => serde_json::from_value::<OneOrMany>(value)
                    .map_err(|_| "`sub` must be a prefix or a list of prefixes".to_string())?
                    .into_vec(),
            };
            let publish = wire
                .ours_publish
                .map(OneOrMany::into_vec)
                .unwrap_or_default();
            (publish, subscribe)
        };
        Ok(Self {
            root: wire.root,
            publish,
            subscribe,
            exp: wire.exp.ok_or("`exp` is required")?,
            iat: wire.iat,
            nbf: wire.nbf,
        })
    }
}

/// The reference's patterns as prefixes: `**` is `""` and `p/**` is `p`. Any other pattern
/// (one exact broadcast, a `*` wildcard) names a set a prefix cannot, and is refused: reading
/// it as a prefix would grant more than the token says.
fn subtrees(patterns: Vec<String>) -> Result<Vec<String>, String> {
    patterns
        .into_iter()
        .map(|pattern| {
            let prefix = if pattern == "**" {
                Some("")
            } else {
                pattern.strip_suffix("/**")
            };
            match prefix {
                Some(prefix) if !prefix.contains('*') => Ok(prefix.to_string()),
                _ => Err(format!(
                    "pattern {pattern:?} is not a subtree (`p/**` or `**`); this relay grants prefixes only"
                )),
            }
        })
        .collect()
}
