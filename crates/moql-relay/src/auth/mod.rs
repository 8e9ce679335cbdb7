//! JWT authorization: what a connection may publish and subscribe to, decided from its
//! request target (spec 1.4: "The path names the connection's **root** … and the query may
//! carry a credential, `?jwt=<token>`").
//!
//! - [`AuthConfig`] / [`KeyConfig`] / [`PublicAccess`]: the keys, key files and anonymous
//!   rules, as they appear in the relay's TOML config.
//! - [`Auth`]: built once from the config; [`Auth::authorize`] turns `"/room/a?jwt=…"` into a
//!   [`Grant`] or an [`AuthError`] (close the session with [`AuthError::code`]). Key files
//!   are re-read when they change (`keyring`).
//! - [`Claims`], [`Jwk`], [`SigningKey`], [`sign`], [`generate_jwk`]: the tools behind
//!   `moql-relay token …`.
//!
//! # Claims
//!
//! Written as `{"root", "put", "get", "exp", "iat"}`: the names the reference relay's
//! verifier (`moq-auth`, which refuses unknown claims) reads with the same meaning. Read in
//! three forms (one per token): ours (`pub`/`sub`), the reference's prefixes (`put`/`get`),
//! and its patterns (`publish`/`subscribe`, subtrees only). See `claims` and docs/relay.md.
//!
//! | claim | type | meaning |
//! |---|---|---|
//! | `root` | string, default `""` | The broadcast path the token is scoped to (normalized like a [`Path`]). |
//! | `put` (or `pub`) | string or array of strings, default none | Prefixes, relative to `root`, the holder may publish under. `""` = all of `root`. |
//! | `get` (or `sub`) | string or array of strings, default none | Prefixes, relative to `root`, the holder may subscribe to (and see announced). |
//! | `exp` | integer, **required** | Expiry, seconds since the Unix epoch. Refused at or after it. |
//! | `nbf` | integer, optional | Not before: refused earlier than it. |
//! | `iat` | integer, optional | Issued at; informational. |
//!
//! # Root and connection path
//!
//! The connection's path (the URL path) must be the token's `root` or lie under it (whole
//! segments); otherwise the token is refused with [`AuthError::OutsideRoot`]. The session's
//! root is the **connection path**, and the token's grants are narrowed to it: connecting at
//! `/room/alice` with `root = "room"`, `put = ["alice/cam"]`, `get = [""]` gives
//! `publish = ["cam"]`, `subscribe = [""]` relative to `room/alice`. A grant that does not
//! reach the connection path is dropped, and a token left with nothing is refused
//! ([`AuthError::NoGrant`]). So one token can open narrower sessions, never wider ones.
//!
//! # Anonymous access
//!
//! A request **without** `jwt` gets, per role, all of its path when the path is at or under
//! one of that role's public prefixes ([`PublicRules`]), nothing otherwise; nothing in both
//! roles is [`AuthError::Missing`]. A request that carries a token is always judged by the
//! token, even under a public prefix (a bad token is refused, not downgraded).
//!
//! # Keys
//!
//! A token whose header names a `kid` is checked only against the key with that `kid`
//! (unknown kid: refused); a token without one is tried against every key of its algorithm.
//! The header's `alg` must be the key's algorithm: `none`, and a token offered to a key of
//! another algorithm, are refused with [`AuthError::WrongAlgorithm`].

mod claims;
mod config;
mod jwk;
mod keyring;
mod peer;
mod scope;
mod token;

#[cfg(test)]
mod tests;
#[cfg(test)]
mod tests_keys;

use std::fmt;
use std::sync::Arc;
use std::time::{Instant, SystemTime};

use jsonwebtoken::{Algorithm, DecodingKey};
use moql_wire::{ErrorCode, Path};

pub use claims::Claims;
pub use config::{AuthConfig, KeyConfig, PublicAccess, PublicRules};
pub use jwk::{Jwk, generate as generate_jwk, parse as parse_jwks, parse_algorithm};
pub use peer::{PeerCertificate, PeerRules};
pub use scope::Grant;
pub use token::{SigningKey, generate_es256, generate_hs256_secret, sign};

use config::PublicPaths;
use keyring::KeyRing;

/// Why a connection (or an HTTP request) is refused, or why a key could not be loaded.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum AuthError {
    /// No `jwt` in the query and the path is not under the public prefix (HTTP 401).
    #[error("a token is required: the path is not public and the request has no `jwt`")]
    Missing,
    /// The token is malformed, has a bad signature, names an unknown key or carries invalid
    /// claims (HTTP 401).
    #[error("invalid token: {0}")]
    Invalid(String),
    /// The token's `exp` has passed (HTTP 401).
    #[error("the token has expired")]
    Expired,
    /// The token's `nbf` is still in the future (HTTP 401).
    #[error("the token is not valid yet")]
    NotYetValid,
    /// The token's `alg` is `none`, unsupported, or not the algorithm of its key (HTTP 401).
    #[error("the token's algorithm is refused or does not match the key")]
    WrongAlgorithm,
    /// The connection path is not the token's root or under it (HTTP 403).
    #[error("the connection path is outside the token's root")]
    OutsideRoot,
    /// The token grants neither publishing nor subscribing under the connection path
    /// (HTTP 403).
    #[error("the token grants nothing under the connection path")]
    NoGrant,
    /// A configured key could not be loaded ([`Auth::new`]); never returned by
    /// [`Auth::authorize`].
    #[error("auth key configuration: {0}")]
    Key(String),
}

impl AuthError {
    /// The session close code for this refusal (spec 1.4): 6 (`Unauthorized`) for every
    /// 401/403-like decision, and `64 + 500` for [`AuthError::Key`], a server fault.
    pub fn code(&self) -> ErrorCode {
        match self {
            // spec 1.4: "or with `64 + status` for other refusals (… 564 for 500)".
            Self::Key(_) => ErrorCode::app(500),
            // spec 1.4: "closing it with code 6 (`Unauthorized`) for its HTTP-style 401/403
            // decisions".
            _ => ErrorCode::UNAUTHORIZED,
        }
    }

    /// True for the refusals HTTP answers with 403 (authenticated, but not for this path);
    /// false for 401-like ones.
    pub fn is_forbidden(&self) -> bool {
        matches!(self, Self::OutsideRoot | Self::NoGrant)
    }
}

/// The relay's authorizer: verification keys plus the anonymous rules.
///
/// Every method takes `&self`. Clones share the keys, and a reload of a changed key file
/// (see [`AuthConfig::jwk_files`]) reaches every clone, so clone it freely between the QUIC
/// and HTTP sides.
#[derive(Clone)]
pub struct Auth {
    keys: Arc<KeyRing>,
    public: PublicPaths,
}

/// One loaded verification key.
#[derive(Clone)]
pub(crate) struct VerifyKey {
    pub(crate) kid: Option<String>,
    pub(crate) algorithm: Algorithm,
    pub(crate) key: DecodingKey,
}

impl Auth {
    /// Loads the keys of `config` (reading the key files it names).
    ///
    /// # Errors
    ///
    /// [`AuthError::Key`] for a secret that is not base64 or shorter than 32 bytes, an HS256
    /// key without exactly one secret source, a missing environment variable, a PEM or JWK
    /// that is not a supported public key, an unreadable file, a duplicate `kid`, or a public
    /// prefix that is not a valid path.
    pub fn new(config: &AuthConfig) -> Result<Self, AuthError> {
        Ok(Self {
            keys: Arc::new(KeyRing::new(config)?),
            public: PublicPaths::new(config.public.as_ref())?,
        })
    }

    /// [`new`](Self::new) with key files checked for changes every `interval`.
    #[cfg(test)]
    pub(crate) fn with_reload_interval(
        config: &AuthConfig,
        interval: std::time::Duration,
    ) -> Result<Self, AuthError> {
        Ok(Self {
            keys: Arc::new(KeyRing::new(config)?.with_interval(interval)),
            public: PublicPaths::new(config.public.as_ref())?,
        })
    }

    /// Verifies `token` with the keys at time `now` and returns its claims, without judging
    /// any path (`moql-relay token verify`).
    ///
    /// # Errors
    ///
    /// As [`authorize`](Self::authorize), except the path refusals.
    pub fn verify_at(&self, token: &str, now: SystemTime) -> Result<Claims, AuthError> {
        token::verify(&self.keys.current(Instant::now()), token, now)
    }

    /// Decides what a connection may do from its request target: the URL path (its root) and
    /// query (`jwt=…`), e.g. `"/room/a?jwt=eyJ…"`, judged at the current time.
    ///
    /// The path and the `jwt` value are percent-decoded; other query parameters are ignored.
    /// The returned [`Grant`]'s root is the connection path; see the module docs for how the
    /// token's claims are narrowed to it. The caller should end the session at
    /// [`Grant::expires`].
    ///
    /// # Errors
    ///
    /// Every refusal; close the session with [`AuthError::code`].
    pub fn authorize(&self, path_and_query: &str) -> Result<Grant, AuthError> {
        self.authorize_at(path_and_query, SystemTime::now())
    }

    /// [`authorize`](Self::authorize) at time `now`.
    ///
    /// # Errors
    ///
    /// As [`authorize`](Self::authorize).
    pub fn authorize_at(&self, path_and_query: &str, now: SystemTime) -> Result<Grant, AuthError> {
        let target = scope::Target::parse(path_and_query)?;
        self.grant_at(target.path, target.jwt.as_deref(), now)
    }

    /// Decides what a request for `path` with token `jwt` (already extracted and decoded, as
    /// an HTTP handler has them) may do, at the current time.
    ///
    /// # Errors
    ///
    /// As [`authorize`](Self::authorize).
    pub fn grant(&self, path: Path, jwt: Option<&str>) -> Result<Grant, AuthError> {
        self.grant_at(path, jwt, SystemTime::now())
    }

    /// [`grant`](Self::grant) at time `now`.
    ///
    /// # Errors
    ///
    /// As [`authorize`](Self::authorize).
    pub fn grant_at(
        &self,
        path: Path,
        jwt: Option<&str>,
        now: SystemTime,
    ) -> Result<Grant, AuthError> {
        let Some(jwt) = jwt else {
            return self.anonymous(path);
        };
        let claims = self.verify_at(jwt, now)?;
        Grant::from_claims(&claims, path)
    }
}

impl Auth {
    /// The grant of a session without a token at `path`: all of `path` for each role whose
    /// public prefixes include one `path` is at or under; refused if neither role has one.
    fn anonymous(&self, path: Path) -> Result<Grant, AuthError> {
        let within = |prefixes: &[Path]| {
            if prefixes.iter().any(|prefix| path.has_prefix(prefix)) {
                vec![Path::root()]
            } else {
                Vec::new()
            }
        };
        let publish = within(&self.public.publish);
        let subscribe = within(&self.public.subscribe);
        if publish.is_empty() && subscribe.is_empty() {
            return Err(AuthError::Missing);
        }
        Ok(Grant {
            root: path,
            publish,
            subscribe,
            expires: None,
        })
    }
}

impl fmt::Debug for Auth {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let current = self.keys.current(Instant::now());
        let keys: Vec<_> = current
            .iter()
            .map(|k| (k.algorithm, k.kid.as_deref()))
            .collect();
        f.debug_struct("Auth")
            .field("keys", &keys)
            .field("public", &self.public)
            .finish()
    }
}
