//! Keys as JSON Web Keys (RFC 7517): one key, or a set `{"keys": […]}`, for HS256 (`oct`),
//! ES256 (`EC`, `P-256`) and EdDSA (`OKP`, `Ed25519`, RFC 8037).
//!
//! The text may be the JSON itself or base64url of it: the reference's `moq auth generate`
//! writes the latter, and its relay side reads both, so a key file moves between the two
//! relays unchanged. [`generate`] writes plain JSON.

use base64::Engine as _;
use base64::engine::general_purpose::{URL_SAFE, URL_SAFE_NO_PAD};
// One trait (the `pkcs8` crate's) for both p256 and ed25519-dalek keys.
use ed25519_dalek::pkcs8::EncodePrivateKey as _;
use jsonwebtoken::{Algorithm, DecodingKey, EncodingKey};
use p256::elliptic_curve::sec1::ToEncodedPoint as _;
use ring::rand::{SecureRandom as _, SystemRandom};
use serde::{Deserialize, Serialize};

use super::{AuthError, VerifyKey};

/// RFC 7518 3.2: "A key of the same size as the hash output (for instance, 256 bits for
/// "HS256") or larger MUST be used with this algorithm."
pub(crate) const MIN_HS256_SECRET: usize = 32;

/// One JSON Web Key: the members this relay reads and writes.
///
/// `alg` may be left out (RFC 7517 4.4 makes it optional): it is then taken from `kty` and
/// `crv`, which name exactly one of the supported algorithms. Other members are ignored,
/// except `scope` (the reference's cap on what a key may grant): a key carrying one is
/// refused, since ignoring it would accept tokens the reference refuses.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Jwk {
    /// Key type: `oct`, `EC` or `OKP`.
    pub kty: String,
    /// `HS256`, `ES256` or `EdDSA`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub alg: Option<String>,
    /// The curve: `P-256` (EC) or `Ed25519` (OKP).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub crv: Option<String>,
    /// The public point's x coordinate (EC) or the public key (OKP), base64url.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub x: Option<String>,
    /// The public point's y coordinate (EC), base64url.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub y: Option<String>,
    /// The private scalar (EC) or seed (OKP), base64url: present only in a private key.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub d: Option<String>,
    /// The shared secret (`oct`), base64url.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub k: Option<String>,
    /// The key id a token names in its header.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub kid: Option<String>,
    /// Permitted operations (`sign`, `verify`); absent = any.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub key_ops: Option<Vec<String>>,
    /// The reference's grant cap; see the type docs.
    #[serde(default, skip_serializing)]
    scope: Option<serde_json::Value>,
}

impl std::fmt::Debug for Jwk {
    // Private members stay out of logs.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Jwk")
            .field("kty", &self.kty)
            .field("alg", &self.alg)
            .field("kid", &self.kid)
            .field("private", &self.is_private())
            .finish()
    }
}

#[derive(Deserialize)]
#[serde(untagged)]
enum Document {
    Set { keys: Vec<Jwk> },
    One(Box<Jwk>),
}

/// Parses a JWK or a JWK set, as JSON or base64url of JSON.
///
/// # Errors
///
/// [`AuthError::Key`] if it is neither.
pub fn parse(text: &str) -> Result<Vec<Jwk>, AuthError> {
    let text = text.trim();
    let json = if text.starts_with('{') {
        text.as_bytes().to_vec()
    } else {
        decode_b64url(text)
            .map_err(|_| AuthError::Key("not a JWK: neither JSON nor base64url".into()))?
    };
    match serde_json::from_slice::<Document>(&json) {
        Ok(Document::Set { keys }) => Ok(keys),
        Ok(Document::One(key)) => Ok(vec![*key]),
        Err(err) => Err(AuthError::Key(format!("not a JWK or JWK set: {err}"))),
    }
}

fn decode_b64url(text: &str) -> Result<Vec<u8>, base64::DecodeError> {
    URL_SAFE_NO_PAD
        .decode(text)
        .or_else(|_| URL_SAFE.decode(text))
}

impl Jwk {
    /// True if the key holds private material (`d`, or an `oct` secret).
    pub fn is_private(&self) -> bool {
        self.d.is_some() || self.k.is_some()
    }

    /// The algorithm: `alg` if given (it must fit `kty`/`crv`), otherwise the one they name.
    ///
    /// # Errors
    ///
    /// [`AuthError::Key`] for an unsupported key type, curve or algorithm.
    pub fn algorithm(&self) -> Result<Algorithm, AuthError> {
        let implied = match (self.kty.as_str(), self.crv.as_deref()) {
            ("oct", _) => Algorithm::HS256,
            ("EC", Some("P-256")) => Algorithm::ES256,
            ("OKP", Some("Ed25519")) => Algorithm::EdDSA,
            (kty, crv) => {
                return Err(AuthError::Key(format!(
                    "unsupported JWK kty {kty:?} crv {crv:?}: use oct, EC P-256 or OKP Ed25519"
                )));
            }
        };
        match self.alg.as_deref() {
            None => Ok(implied),
            Some(alg) if alg == algorithm_name(implied) => Ok(implied),
            Some(alg) => Err(AuthError::Key(format!(
                "JWK alg {alg:?} does not fit kty {:?} (want {})",
                self.kty,
                algorithm_name(implied)
            ))),
        }
    }

    fn allows(&self, operation: &str) -> bool {
        self.key_ops
            .as_ref()
            .is_none_or(|ops| ops.iter().any(|op| op == operation))
    }

    fn member(
        &self,
        name: &str,
        value: Option<&String>,
        len: Option<usize>,
    ) -> Result<Vec<u8>, AuthError> {
        let kid = self.kid.as_deref().unwrap_or("");
        let value = value.ok_or_else(|| AuthError::Key(format!("JWK {kid:?} lacks `{name}`")))?;
        let bytes = decode_b64url(value).map_err(|err| {
            AuthError::Key(format!("JWK {kid:?} `{name}` is not base64url: {err}"))
        })?;
        if let Some(len) = len
            && bytes.len() != len
        {
            return Err(AuthError::Key(format!(
                "JWK {kid:?} `{name}` has {} bytes, want {len}",
                bytes.len()
            )));
        }
        Ok(bytes)
    }

    /// The verification key, or `None` if `key_ops` does not allow `verify`.
    ///
    /// # Errors
    ///
    /// [`AuthError::Key`] for a malformed or unsupported key, or one with a `scope`.
    pub(crate) fn verify_key(&self) -> Result<Option<VerifyKey>, AuthError> {
        if self.scope.is_some() {
            return Err(AuthError::Key(format!(
                "JWK {:?} carries a `scope`, which this relay does not enforce",
                self.kid.as_deref().unwrap_or("")
            )));
        }
        let algorithm = self.algorithm()?;
        if !self.allows("verify") {
            return Ok(None);
        }
        let key = match algorithm {
            Algorithm::HS256 => {
                let secret = self.member("k", self.k.as_ref(), None)?;
                check_secret_len(&secret)?;
                DecodingKey::from_secret(&secret)
            }
            Algorithm::ES256 => {
                let x = self.member("x", self.x.as_ref(), Some(32))?;
                let y = self.member("y", self.y.as_ref(), Some(32))?;
                let mut point = vec![0x04];
                point.extend_from_slice(&x);
                point.extend_from_slice(&y);
                // Refuse a point off the curve here, not at the first token.
                p256::PublicKey::from_sec1_bytes(&point)
                    .map_err(|_| AuthError::Key("JWK EC point is not on P-256".into()))?;
                // The uncompressed SEC1 point, as `from_ec_pem` yields it too.
                DecodingKey::from_ec_der(&point)
            }
            _ => {
                let x = self.member("x", self.x.as_ref(), Some(32))?;
                // The raw 32-byte public key, as `from_ed_pem` yields it too.
                DecodingKey::from_ed_der(&x)
            }
        };
        Ok(Some(VerifyKey {
            kid: self.kid.clone(),
            algorithm,
            key,
        }))
    }

    /// The signing key.
    ///
    /// # Errors
    ///
    /// [`AuthError::Key`] for a public key, a key whose `key_ops` forbid `sign`, or bad material.
    pub(crate) fn encoding_key(&self) -> Result<(Algorithm, EncodingKey), AuthError> {
        let algorithm = self.algorithm()?;
        if !self.allows("sign") || !self.is_private() {
            return Err(AuthError::Key(
                "this JWK cannot sign: it is a public (verify-only) key".into(),
            ));
        }
        let key = match algorithm {
            Algorithm::HS256 => {
                let secret = self.member("k", self.k.as_ref(), None)?;
                check_secret_len(&secret)?;
                EncodingKey::from_secret(&secret)
            }
            Algorithm::ES256 => {
                let d = self.member("d", self.d.as_ref(), Some(32))?;
                let secret = p256::SecretKey::from_slice(&d)
                    .map_err(|_| AuthError::Key("JWK `d` is not a P-256 scalar".into()))?;
                let der = secret
                    .to_pkcs8_der()
                    .map_err(|err| AuthError::Key(format!("encoding the EC key: {err}")))?;
                EncodingKey::from_ec_der(der.as_bytes())
            }
            _ => {
                let d = self.member("d", self.d.as_ref(), Some(32))?;
                let seed: [u8; 32] = d
                    .as_slice()
                    .try_into()
                    .map_err(|_| AuthError::Key("JWK `d` is not a 32-byte Ed25519 seed".into()))?;
                let der = ed25519_dalek::SigningKey::from_bytes(&seed)
                    .to_pkcs8_der()
                    .map_err(|err| AuthError::Key(format!("encoding the Ed25519 key: {err}")))?;
                EncodingKey::from_ed_der(der.as_bytes())
            }
        };
        Ok((algorithm, key))
    }

    /// The public half: the same key without `d`, `key_ops = ["verify"]`.
    ///
    /// # Errors
    ///
    /// [`AuthError::Key`] for an `oct` key, which has no public half.
    pub fn to_public(&self) -> Result<Self, AuthError> {
        if self.kty == "oct" {
            return Err(AuthError::Key("an HS256 secret has no public half".into()));
        }
        Ok(Self {
            d: None,
            key_ops: Some(vec!["verify".into()]),
            ..self.clone()
        })
    }
}

pub(crate) fn check_secret_len(secret: &[u8]) -> Result<(), AuthError> {
    if secret.len() < MIN_HS256_SECRET {
        return Err(AuthError::Key(format!(
            "HS256 secret has {} bytes; at least {MIN_HS256_SECRET} are required",
            secret.len()
        )));
    }
    Ok(())
}

/// The JOSE name of a supported algorithm.
pub(crate) fn algorithm_name(algorithm: Algorithm) -> &'static str {
    match algorithm {
        Algorithm::HS256 => "HS256",
        Algorithm::ES256 => "ES256",
        _ => "EdDSA",
    }
}

/// Reads a supported algorithm's JOSE name (case-insensitive).
///
/// # Errors
///
/// [`AuthError::Key`] for any other name.
pub fn parse_algorithm(name: &str) -> Result<Algorithm, AuthError> {
    match name.to_ascii_lowercase().as_str() {
        "hs256" => Ok(Algorithm::HS256),
        "es256" => Ok(Algorithm::ES256),
        "eddsa" | "ed25519" => Ok(Algorithm::EdDSA),
        _ => Err(AuthError::Key(format!(
            "unknown algorithm {name:?}: use HS256, ES256 or EdDSA"
        ))),
    }
}

fn random<const N: usize>() -> Result<[u8; N], AuthError> {
    let mut bytes = [0u8; N];
    SystemRandom::new().fill(&mut bytes).map_err(|_| {
        AuthError::Key("the operating system's random number generator failed".into())
    })?;
    Ok(bytes)
}

/// A new private key for `algorithm` (HS256, ES256 or EdDSA) as a JWK with `alg`, `kid` and
/// `key_ops = ["sign", "verify"]`; [`Jwk::to_public`] gives the half a relay holds.
///
/// # Errors
///
/// [`AuthError::Key`] if `algorithm` is unsupported or the random number generator fails.
pub fn generate(algorithm: Algorithm, kid: Option<String>) -> Result<Jwk, AuthError> {
    let b64 = |bytes: &[u8]| Some(URL_SAFE_NO_PAD.encode(bytes));
    let mut jwk = Jwk {
        kty: String::new(),
        alg: Some(algorithm_name(algorithm).into()),
        crv: None,
        x: None,
        y: None,
        d: None,
        k: None,
        kid,
        key_ops: Some(vec!["sign".into(), "verify".into()]),
        scope: None,
    };
    match algorithm {
        Algorithm::HS256 => {
            jwk.kty = "oct".into();
            jwk.k = b64(&random::<MIN_HS256_SECRET>()?);
        }
        Algorithm::ES256 => {
            // A random 32-byte string is a valid scalar except with probability ~2^-32;
            // retry a few times rather than loop unbounded.
            let secret = (0..8)
                .find_map(|_| {
                    random::<32>()
                        .ok()
                        .and_then(|d| p256::SecretKey::from_slice(&d).ok())
                })
                .ok_or_else(|| AuthError::Key("generating a P-256 key failed".into()))?;
            let point = secret.public_key().to_encoded_point(false);
            let (Some(x), Some(y)) = (point.x(), point.y()) else {
                return Err(AuthError::Key("P-256 public point is the identity".into()));
            };
            jwk.kty = "EC".into();
            jwk.crv = Some("P-256".into());
            jwk.x = b64(x);
            jwk.y = b64(y);
            jwk.d = b64(&secret.to_bytes());
        }
        Algorithm::EdDSA => {
            let seed = random::<32>()?;
            let public = ed25519_dalek::SigningKey::from_bytes(&seed).verifying_key();
            jwk.kty = "OKP".into();
            jwk.crv = Some("Ed25519".into());
            jwk.x = b64(public.as_bytes());
            jwk.d = b64(&seed);
        }
        other => {
            return Err(AuthError::Key(format!(
                "unsupported algorithm {other:?}: use HS256, ES256 or EdDSA"
            )));
        }
    }
    Ok(jwk)
}
