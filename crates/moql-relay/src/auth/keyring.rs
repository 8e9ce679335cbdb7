//! The verification keys of a running relay, loaded from the config and from files, and
//! reloaded when a file changes.
//!
//! Changes are found by polling: on a request, at most once per [`RELOAD_CHECK`], each key
//! file's modification time and length are read and compared with the last seen. This is
//! cheaper to get right than a file watcher (`notify`): it needs no thread, and it sees every
//! way a key is replaced (written in place, renamed over, a Kubernetes secret's symlink
//! swap), where a watcher must be taught each. A key change reaches the next session; live
//! sessions keep the grant they were given.

use std::collections::HashSet;
use std::path::{Path as FsPath, PathBuf};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant, SystemTime};

use base64::Engine as _;
use base64::engine::DecodePaddingMode;
use base64::engine::general_purpose::{GeneralPurpose, GeneralPurposeConfig};
use jsonwebtoken::{Algorithm, DecodingKey};

use super::config::is_pem_text;
use super::{AuthConfig, AuthError, KeyConfig, VerifyKey, jwk};

/// How often key files are checked for changes, at most (once per request otherwise).
pub(crate) const RELOAD_CHECK: Duration = Duration::from_secs(1);

/// A file's identity for change detection: modification time and length.
type Stamp = Option<(SystemTime, u64)>;

/// The loaded keys, shared by every clone of [`super::Auth`].
pub(crate) struct KeyRing {
    keys: Vec<KeyConfig>,
    jwk_files: Vec<PathBuf>,
    files: Vec<PathBuf>,
    interval: Duration,
    state: Mutex<State>,
}

struct State {
    keys: Arc<Vec<VerifyKey>>,
    stamps: Vec<Stamp>,
    checked: Instant,
}

impl KeyRing {
    /// Loads every key of `config`.
    pub(crate) fn new(config: &AuthConfig) -> Result<Self, AuthError> {
        let files: Vec<PathBuf> = config
            .keys
            .iter()
            .flat_map(KeyConfig::files)
            .chain(config.jwk_files.iter().cloned())
            .collect();
        let stamps = stamps(&files);
        let keys = load(&config.keys, &config.jwk_files)?;
        Ok(Self {
            keys: config.keys.clone(),
            jwk_files: config.jwk_files.clone(),
            files,
            interval: RELOAD_CHECK,
            state: Mutex::new(State {
                keys: Arc::new(keys),
                stamps,
                checked: Instant::now(),
            }),
        })
    }

    /// Sets how often files are checked (tests use zero).
    #[cfg(test)]
    pub(crate) fn with_interval(mut self, interval: Duration) -> Self {
        self.interval = interval;
        self
    }

    /// The current keys, reloading them first if a key file changed since the last check
    /// (done at most once per interval). A reload that fails keeps the previous keys and
    /// logs why; the file is tried again when it changes again.
    pub(crate) fn current(&self, now: Instant) -> Arc<Vec<VerifyKey>> {
        let mut state = self.state.lock().unwrap_or_else(PoisonError::into_inner);
        if self.files.is_empty() || now.saturating_duration_since(state.checked) < self.interval {
            return state.keys.clone();
        }
        state.checked = now;
        let stamps = stamps(&self.files);
        if stamps == state.stamps {
            return state.keys.clone();
        }
        state.stamps = stamps;
        match load(&self.keys, &self.jwk_files) {
            Ok(keys) => {
                tracing::info!(keys = keys.len(), "auth keys reloaded");
                state.keys = Arc::new(keys);
            }
            Err(err) => tracing::warn!(%err, "auth keys not reloaded; keeping the previous ones"),
        }
        state.keys.clone()
    }
}

fn stamps(files: &[PathBuf]) -> Vec<Stamp> {
    files
        .iter()
        .map(|file| {
            let meta = std::fs::metadata(file).ok()?;
            Some((meta.modified().ok()?, meta.len()))
        })
        .collect()
}

fn read(path: &FsPath) -> Result<String, AuthError> {
    std::fs::read_to_string(path)
        .map_err(|err| AuthError::Key(format!("reading {}: {err}", path.display())))
}

/// Loads every configured key and every key of the JWK files; `kid`s must be unique.
fn load(configs: &[KeyConfig], jwk_files: &[PathBuf]) -> Result<Vec<VerifyKey>, AuthError> {
    let mut keys = Vec::with_capacity(configs.len());
    for config in configs {
        keys.push(load_key(config)?);
    }
    for file in jwk_files {
        for key in jwk::parse(&read(file)?)
            .map_err(|err| AuthError::Key(format!("{}: {err}", file.display())))?
        {
            if let Some(key) = key.verify_key()? {
                keys.push(key);
            }
        }
    }
    let mut kids = HashSet::new();
    for kid in keys.iter().filter_map(|key| key.kid.as_deref()) {
        if !kids.insert(kid) {
            return Err(AuthError::Key(format!("duplicate kid {kid:?}")));
        }
    }
    Ok(keys)
}

/// Loads one configured key.
pub(crate) fn load_key(config: &KeyConfig) -> Result<VerifyKey, AuthError> {
    let kid = config.kid().map(str::to_string);
    let (algorithm, key) = match config {
        KeyConfig::Hs256 {
            secret,
            secret_file,
            secret_env,
            ..
        } => {
            let text = match (secret, secret_file, secret_env) {
                (Some(secret), None, None) => secret.clone(),
                (None, Some(file), None) => read(file)?,
                (None, None, Some(name)) => std::env::var(name)
                    .map_err(|err| AuthError::Key(format!("HS256 secret_env {name:?}: {err}")))?,
                _ => {
                    return Err(AuthError::Key(
                        "an HS256 key needs exactly one of secret_file, secret_env or secret"
                            .into(),
                    ));
                }
            };
            (
                Algorithm::HS256,
                DecodingKey::from_secret(&decode_secret(&text)?),
            )
        }
        KeyConfig::Es256 { public_pem, .. } => {
            let text = pem_text(public_pem)?;
            let key = DecodingKey::from_ec_pem(text.as_bytes())
                .map_err(|err| AuthError::Key(format!("ES256 public key: {err}")))?;
            (Algorithm::ES256, key)
        }
        KeyConfig::EdDsa { public_pem, .. } => {
            let text = pem_text(public_pem)?;
            let key = DecodingKey::from_ed_pem(text.as_bytes())
                .map_err(|err| AuthError::Key(format!("EdDSA public key: {err}")))?;
            (Algorithm::EdDSA, key)
        }
    };
    Ok(VerifyKey {
        kid,
        algorithm,
        key,
    })
}

fn pem_text(value: &str) -> Result<String, AuthError> {
    if is_pem_text(value) {
        Ok(value.to_string())
    } else {
        read(FsPath::new(value))
    }
}

/// Decodes a base64 secret in either alphabet, padded or not, and checks its length.
pub(crate) fn decode_secret(secret: &str) -> Result<Vec<u8>, AuthError> {
    let config =
        GeneralPurposeConfig::new().with_decode_padding_mode(DecodePaddingMode::Indifferent);
    let standard = GeneralPurpose::new(&base64::alphabet::STANDARD, config);
    let url_safe = GeneralPurpose::new(&base64::alphabet::URL_SAFE, config);
    let secret = secret.trim();
    let bytes = standard
        .decode(secret)
        .or_else(|_| url_safe.decode(secret))
        .map_err(|err| AuthError::Key(format!("HS256 secret is not base64: {err}")))?;
    jwk::check_secret_len(&bytes)?;
    Ok(bytes)
}
