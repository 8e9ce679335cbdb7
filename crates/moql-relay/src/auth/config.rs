//! The `[auth]` section of the relay config: keys ([`KeyConfig`], JWK files) and anonymous
//! access ([`PublicAccess`]).

use std::fmt;
use std::path::PathBuf;

use moql_wire::Path;
use serde::{Deserialize, Serialize};

use super::AuthError;

/// The `[auth]` section of the relay config.
///
/// The default has no keys and no public prefix, so it refuses every connection: a relay
/// that wants open access says so with `public = ""`.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AuthConfig {
    /// The keys tokens are verified with; any one of them may accept a token.
    #[serde(default)]
    pub keys: Vec<KeyConfig>,
    /// Files holding a JWK or a JWK set (JSON, or base64url of it), e.g. the public key
    /// `moql-relay token key --out` or the reference's `moq auth generate` wrote. Checked for
    /// changes at most once a second, as are the other key files, and reloaded.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub jwk_files: Vec<PathBuf>,
    /// Anonymous access: `public = "anon"` (publish and subscribe under `anon`), or
    /// `[auth.public] subscribe = [...] publish = [...]`. `None`: no anonymous access.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub public: Option<PublicAccess>,
}

impl AuthConfig {
    /// True if anyone may publish and subscribe anywhere without a token.
    pub fn is_wide_open(&self) -> bool {
        self.public.as_ref().is_some_and(|public| {
            let rules = public.rules();
            let everything = |list: &[String]| list.iter().any(|p| p.trim_matches('/').is_empty());
            everything(&rules.subscribe) && everything(&rules.publish)
        })
    }
}

/// Anonymous access: the prefixes a session **without** a token may subscribe to and
/// publish under, as absolute paths (`""` = everything).
///
/// A string is the shorthand for both lists holding it, as older configs wrote it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum PublicAccess {
    /// `public = "anon"`: publish and subscribe under one prefix.
    Prefix(String),
    /// `[auth.public]` with separate lists.
    Rules(PublicRules),
}

impl From<&str> for PublicAccess {
    fn from(prefix: &str) -> Self {
        Self::Prefix(prefix.into())
    }
}

impl PublicAccess {
    /// The two lists this access names.
    pub fn rules(&self) -> PublicRules {
        match self {
            Self::Prefix(prefix) => PublicRules {
                subscribe: vec![prefix.clone()],
                publish: vec![prefix.clone()],
            },
            Self::Rules(rules) => rules.clone(),
        }
    }
}

/// The `[auth.public]` table.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PublicRules {
    /// Prefixes anonymous sessions may subscribe to (and see announced).
    #[serde(default)]
    pub subscribe: Vec<String>,
    /// Prefixes anonymous sessions may publish under.
    #[serde(default)]
    pub publish: Vec<String>,
}

/// The public rules as validated paths.
#[derive(Clone, Debug, Default)]
pub(crate) struct PublicPaths {
    pub(crate) subscribe: Vec<Path>,
    pub(crate) publish: Vec<Path>,
}

impl PublicPaths {
    pub(crate) fn new(public: Option<&PublicAccess>) -> Result<Self, AuthError> {
        let Some(public) = public else {
            return Ok(Self::default());
        };
        let rules = public.rules();
        let paths = |list: &[String]| {
            list.iter()
                .map(|prefix| {
                    Path::new(prefix)
                        .map_err(|err| AuthError::Key(format!("public prefix {prefix:?}: {err}")))
                })
                .collect::<Result<Vec<_>, _>>()
        };
        Ok(Self {
            subscribe: paths(&rules.subscribe)?,
            publish: paths(&rules.publish)?,
        })
    }
}

/// One verification key, tagged by its JWT algorithm (`alg = "HS256"`, `"ES256"` or
/// `"EdDSA"`).
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "alg", deny_unknown_fields)]
pub enum KeyConfig {
    /// HMAC-SHA256 with a shared secret, from exactly one of `secret_file`, `secret_env` or
    /// `secret` (inline: for tests; a config file is often more widely readable than a key).
    #[serde(rename = "HS256")]
    Hs256 {
        /// The secret inline, base64 (standard or URL-safe alphabet, padding optional); at
        /// least 32 bytes once decoded.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        secret: Option<String>,
        /// A file holding the secret in the same base64 form (reloaded when it changes).
        #[serde(default, skip_serializing_if = "Option::is_none")]
        secret_file: Option<PathBuf>,
        /// An environment variable holding the secret in the same base64 form, read at start.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        secret_env: Option<String>,
        /// The key id tokens name in their header to pick this key.
        #[serde(default)]
        kid: Option<String>,
    },
    /// ECDSA P-256 with SHA-256; the relay holds only the public key.
    #[serde(rename = "ES256")]
    Es256 {
        /// The public key as SubjectPublicKeyInfo PEM (`-----BEGIN PUBLIC KEY-----`), inline,
        /// or the path of a file holding it (any value not starting with `-----BEGIN`).
        public_pem: String,
        /// The key id tokens name in their header to pick this key.
        #[serde(default)]
        kid: Option<String>,
    },
    /// Ed25519 (RFC 8037); the relay holds only the public key.
    #[serde(rename = "EdDSA")]
    EdDsa {
        /// The public key as SubjectPublicKeyInfo PEM, inline or a file path, as for ES256.
        public_pem: String,
        /// The key id tokens name in their header to pick this key.
        #[serde(default)]
        kid: Option<String>,
    },
}

impl KeyConfig {
    /// An HS256 key with an inline secret and no `kid` (tests, embedding).
    pub fn hs256(secret: impl Into<String>) -> Self {
        Self::Hs256 {
            secret: Some(secret.into()),
            secret_file: None,
            secret_env: None,
            kid: None,
        }
    }

    /// The key id, if any.
    pub fn kid(&self) -> Option<&str> {
        match self {
            Self::Hs256 { kid, .. } | Self::Es256 { kid, .. } | Self::EdDsa { kid, .. } => {
                kid.as_deref()
            }
        }
    }

    /// The files this key is read from (watched for changes).
    pub(crate) fn files(&self) -> Vec<PathBuf> {
        match self {
            Self::Hs256 { secret_file, .. } => secret_file.iter().cloned().collect(),
            Self::Es256 { public_pem, .. } | Self::EdDsa { public_pem, .. } => {
                if is_pem_text(public_pem) {
                    Vec::new()
                } else {
                    vec![PathBuf::from(public_pem)]
                }
            }
        }
    }
}

/// True for PEM text given inline, false for a path.
pub(crate) fn is_pem_text(value: &str) -> bool {
    value.trim_start().starts_with("-----BEGIN")
}

impl fmt::Debug for KeyConfig {
    // The secret stays out of logs.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Hs256 {
                secret,
                secret_file,
                secret_env,
                kid,
            } => f
                .debug_struct("Hs256")
                .field("secret", &secret.as_ref().map(|_| "<redacted>"))
                .field("secret_file", secret_file)
                .field("secret_env", secret_env)
                .field("kid", kid)
                .finish(),
            Self::Es256 { public_pem, kid } => f
                .debug_struct("Es256")
                .field("public_pem", public_pem)
                .field("kid", kid)
                .finish(),
            Self::EdDsa { public_pem, kid } => f
                .debug_struct("EdDsa")
                .field("public_pem", public_pem)
                .field("kid", kid)
                .finish(),
        }
    }
}
