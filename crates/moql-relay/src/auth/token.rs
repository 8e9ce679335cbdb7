//! Tokens: verification against the configured keys, signing ([`SigningKey`], [`sign`]) and
//! the PEM key generation of the `moql-relay token` tools.

use std::fmt;
use std::time::{SystemTime, UNIX_EPOCH};

use base64::Engine as _;
use base64::engine::general_purpose;
use jsonwebtoken::errors::ErrorKind;
use jsonwebtoken::{Algorithm, EncodingKey, Header};
use ring::rand::{SecureRandom as _, SystemRandom};
use ring::signature::{ECDSA_P256_SHA256_FIXED_SIGNING, EcdsaKeyPair, KeyPair as _};
use serde::Deserialize;

use super::jwk::{Jwk, MIN_HS256_SECRET};
use super::keyring::decode_secret;
use super::{AuthError, Claims, VerifyKey};

/// The DER prefix of a P-256 SubjectPublicKeyInfo (RFC 5480): SEQUENCE { SEQUENCE { OID
/// id-ecPublicKey, OID prime256v1 }, BIT STRING (0 unused bits) }, followed by the 65-byte
/// uncompressed point.
const P256_SPKI_PREFIX: [u8; 26] = [
    0x30, 0x59, 0x30, 0x13, 0x06, 0x07, 0x2a, 0x86, 0x48, 0xce, 0x3d, 0x02, 0x01, 0x06, 0x08, 0x2a,
    0x86, 0x48, 0xce, 0x3d, 0x03, 0x01, 0x07, 0x03, 0x42, 0x00,
];

/// A private key tokens are signed with, as the `moql-relay token sign` tool reads it.
///
/// The key material is parsed when [`sign`] is called, so a bad key is reported there.
#[derive(Clone, PartialEq, Eq)]
pub enum SigningKey {
    /// HS256 with a base64 secret (as [`generate_hs256_secret`] makes and
    /// [`KeyConfig::Hs256`] holds).
    Hs256 {
        /// The secret, base64 (standard or URL-safe, padding optional), at least 32 bytes.
        secret: String,
    },
    /// ES256 with a PKCS#8 PEM private key (the first half of [`generate_es256`]).
    Es256 {
        /// `-----BEGIN PRIVATE KEY-----` PEM text.
        private_pem: String,
    },
    /// A private JWK (HS256, ES256 or EdDSA), as `moql-relay token key` or the reference's
    /// `moq auth generate` write it; its `kid` goes in the header unless [`sign`] is given
    /// another.
    Jwk(Box<Jwk>),
}

impl SigningKey {
    /// Reads a signing key from text: a private JWK (JSON or base64url), a PKCS#8 ES256 or
    /// Ed25519 PEM, or an HS256 secret in base64.
    ///
    /// # Errors
    ///
    /// [`AuthError::Key`] if the text is none of these.
    pub fn from_text(text: &str) -> Result<Self, AuthError> {
        let trimmed = text.trim();
        if trimmed.starts_with("-----BEGIN") {
            if EncodingKey::from_ed_pem(trimmed.as_bytes()).is_ok()
                && EncodingKey::from_ec_pem(trimmed.as_bytes()).is_err()
            {
                return Err(AuthError::Key(
                    "an Ed25519 PEM: use a JWK for EdDSA (moql-relay token key --alg eddsa)".into(),
                ));
            }
            return Ok(Self::Es256 {
                private_pem: trimmed.to_string(),
            });
        }
        if let Ok(mut keys) = super::jwk::parse(trimmed) {
            return match (keys.pop(), keys.is_empty()) {
                (Some(key), true) => Ok(Self::Jwk(Box::new(key))),
                _ => Err(AuthError::Key("a JWK set: sign with one key".into())),
            };
        }
        decode_secret(trimmed)?;
        Ok(Self::Hs256 {
            secret: trimmed.to_string(),
        })
    }

    fn kid(&self) -> Option<&str> {
        match self {
            Self::Jwk(jwk) => jwk.kid.as_deref(),
            _ => None,
        }
    }

    fn load(&self) -> Result<(Algorithm, EncodingKey), AuthError> {
        match self {
            Self::Hs256 { secret } => Ok((
                Algorithm::HS256,
                EncodingKey::from_secret(&decode_secret(secret)?),
            )),
            Self::Es256 { private_pem } => {
                let key = EncodingKey::from_ec_pem(private_pem.as_bytes())
                    .map_err(|err| AuthError::Key(format!("ES256 private key: {err}")))?;
                Ok((Algorithm::ES256, key))
            }
            Self::Jwk(jwk) => jwk.encoding_key(),
        }
    }
}

impl fmt::Debug for SigningKey {
    // Key material stays out of logs.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Hs256 { .. } => f.write_str("SigningKey::Hs256"),
            Self::Es256 { .. } => f.write_str("SigningKey::Es256"),
            Self::Jwk(jwk) => write!(f, "SigningKey::Jwk({jwk:?})"),
        }
    }
}

/// Signs `claims` with `key`; the header carries the key's algorithm and `kid` (or, when
/// `None`, the JWK's own `kid`), which must then match the `kid` of the relay's key.
///
/// # Errors
///
/// [`AuthError::Key`] if the key is not valid (bad base64, a secret shorter than 32 bytes,
/// a PEM that is not an EC P-256 private key) or signing fails.
pub fn sign(claims: &Claims, key: &SigningKey, kid: Option<&str>) -> Result<String, AuthError> {
    let (algorithm, encoding) = key.load()?;
    let mut header = Header::new(algorithm);
    header.kid = kid.or(key.kid()).map(str::to_string);
    jsonwebtoken::encode(&header, claims, &encoding)
        .map_err(|err| AuthError::Key(format!("signing: {err}")))
}

/// A new HS256 secret: 32 random bytes, standard base64 with padding.
///
/// # Panics
///
/// If the operating system's random number generator fails.
pub fn generate_hs256_secret() -> String {
    let mut secret = [0u8; MIN_HS256_SECRET];
    SystemRandom::new()
        .fill(&mut secret)
        .expect("the operating system's random number generator failed");
    general_purpose::STANDARD.encode(secret)
}

/// A new ES256 key pair: `(private PKCS#8 PEM, public SubjectPublicKeyInfo PEM)`.
///
/// The private half is what [`SigningKey::Es256`] holds; the public half is what
/// [`KeyConfig::Es256`] takes.
///
/// # Errors
///
/// [`AuthError::Key`] if key generation fails (the operating system's random number
/// generator failed).
pub fn generate_es256() -> Result<(String, String), AuthError> {
    let failed = |_| AuthError::Key("generating an ES256 key pair failed".into());
    let rng = SystemRandom::new();
    let pkcs8 =
        EcdsaKeyPair::generate_pkcs8(&ECDSA_P256_SHA256_FIXED_SIGNING, &rng).map_err(failed)?;
    let pair = EcdsaKeyPair::from_pkcs8(&ECDSA_P256_SHA256_FIXED_SIGNING, pkcs8.as_ref(), &rng)
        .map_err(|_| AuthError::Key("ring refused the PKCS#8 document it generated".into()))?;
    let mut spki = P256_SPKI_PREFIX.to_vec();
    spki.extend_from_slice(pair.public_key().as_ref());
    Ok((pem("PRIVATE KEY", pkcs8.as_ref()), pem("PUBLIC KEY", &spki)))
}

/// RFC 7468 textual encoding: base64 in lines of 64 characters.
fn pem(label: &str, der: &[u8]) -> String {
    let body = general_purpose::STANDARD.encode(der);
    let mut out = format!("-----BEGIN {label}-----\n");
    for line in body.as_bytes().chunks(64) {
        // base64 output is ASCII, so every chunk is valid UTF-8.
        out.push_str(&String::from_utf8_lossy(line));
        out.push('\n');
    }
    out.push_str(&format!("-----END {label}-----\n"));
    out
}

/// The fields of a token header this module looks at.
#[derive(Deserialize)]
struct RawHeader {
    alg: String,
    #[serde(default)]
    kid: Option<String>,
    #[serde(default)]
    crit: Option<serde_json::Value>,
}

/// The three base64url parts of a compact JWS.
struct Parts<'a> {
    header: &'a str,
    payload: &'a str,
    signature: &'a str,
    /// `header.payload`: what the signature covers.
    signing_input: &'a str,
}

impl<'a> Parts<'a> {
    fn split(token: &'a str) -> Result<Self, AuthError> {
        let malformed =
            || AuthError::Invalid("malformed token: expected three dot-separated parts".into());
        let (signing_input, signature) = token.rsplit_once('.').ok_or_else(malformed)?;
        let (header, payload) = signing_input.split_once('.').ok_or_else(malformed)?;
        if payload.contains('.') {
            return Err(malformed());
        }
        Ok(Self {
            header,
            payload,
            signature,
            signing_input,
        })
    }
}

/// Reads the header ourselves so `alg: none` and unsupported algorithms are refused as such
/// (jsonwebtoken has no `none` variant).
fn read_header(header: &str) -> Result<(Algorithm, Option<String>), AuthError> {
    let json = general_purpose::URL_SAFE_NO_PAD
        .decode(header)
        .map_err(|err| AuthError::Invalid(format!("malformed header: {err}")))?;
    let raw: RawHeader = serde_json::from_slice(&json)
        .map_err(|err| AuthError::Invalid(format!("malformed header: {err}")))?;
    let algorithm = match raw.alg.as_str() {
        "HS256" => Algorithm::HS256,
        "ES256" => Algorithm::ES256,
        "EdDSA" => Algorithm::EdDSA,
        // RFC 8725 3.1: "libraries MUST enable the caller to specify a supported set of
        // algorithms and MUST NOT use any other algorithms" — `none` included.
        _ => return Err(AuthError::WrongAlgorithm),
    };
    // RFC 7515 4.1.11: "If any of the listed extension Header Parameters are not understood
    // and supported by the recipient, then the JWS is invalid." We support none.
    if raw.crit.is_some() {
        return Err(AuthError::Invalid(
            "unsupported critical header parameters".into(),
        ));
    }
    Ok((algorithm, raw.kid))
}

/// Verifies `token` against `keys` and checks `exp`/`nbf` at `now`.
///
/// The signature is checked with jsonwebtoken's primitives, and the claims are parsed here:
/// jsonwebtoken's own `decode` reads `sub` as the registered string claim, and an array
/// there (our `sub`) derails its parser.
pub(crate) fn verify(
    keys: &[VerifyKey],
    token: &str,
    now: SystemTime,
) -> Result<Claims, AuthError> {
    let parts = Parts::split(token)?;
    let (algorithm, kid) = read_header(parts.header)?;
    let named: Vec<&VerifyKey> = match &kid {
        Some(kid) => {
            let named: Vec<_> = keys
                .iter()
                .filter(|k| k.kid.as_deref() == Some(kid))
                .collect();
            if named.is_empty() {
                return Err(AuthError::Invalid(format!("unknown key id {kid:?}")));
            }
            named
        }
        None => keys.iter().collect(),
    };
    // Algorithm confusion: a token is only ever checked with a key of its own algorithm.
    let candidates: Vec<&VerifyKey> = named
        .into_iter()
        .filter(|k| k.algorithm == algorithm)
        .collect();
    if candidates.is_empty() {
        return Err(AuthError::WrongAlgorithm);
    }
    let mut verified = false;
    for key in candidates {
        let valid = jsonwebtoken::crypto::verify(
            parts.signature,
            parts.signing_input.as_bytes(),
            &key.key,
            algorithm,
        )
        .map_err(|err| map_error(&err))?;
        if valid {
            verified = true;
            break;
        }
    }
    if !verified {
        return Err(AuthError::Invalid("bad signature".into()));
    }

    let payload = general_purpose::URL_SAFE_NO_PAD
        .decode(parts.payload)
        .map_err(|err| AuthError::Invalid(format!("malformed payload: {err}")))?;
    let claims: Claims = serde_json::from_slice(&payload)
        .map_err(|err| AuthError::Invalid(format!("malformed claims: {err}")))?;

    let now = now
        .duration_since(UNIX_EPOCH)
        .map_or(0, |since| since.as_secs());
    // RFC 7519 4.1.4: "the current date/time MUST be before the expiration date/time".
    if now >= claims.exp {
        return Err(AuthError::Expired);
    }
    // RFC 7519 4.1.5: "the current date/time MUST be after or equal to the not-before
    // date/time".
    if claims.nbf.is_some_and(|nbf| now < nbf) {
        return Err(AuthError::NotYetValid);
    }
    Ok(claims)
}

fn map_error(err: &jsonwebtoken::errors::Error) -> AuthError {
    match err.kind() {
        ErrorKind::InvalidAlgorithm | ErrorKind::InvalidAlgorithmName => AuthError::WrongAlgorithm,
        _ => AuthError::Invalid(format!("malformed token: {err}")),
    }
}
