//! Certificates and rustls configurations: self-signed generation (rcgen), PEM loading,
//! SHA-256 fingerprints, the server config with its ALPN list, the four client trust modes of
//! [`ClientTls`], and client certificates (mTLS) on both sides.
//!
//! Every config uses the ring provider ([`provider`]) and TLS 1.3 only: QUIC v1 requires
//! TLS 1.3 (RFC 9001 section 4.2), so offering 1.2 would only waste a round of negotiation.

use std::fmt;
use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use rustls::client::WebPkiServerVerifier;
use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::crypto::CryptoProvider;
use rustls::pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer, ServerName, UnixTime};
use rustls::{DigitallySignedStruct, RootCertStore};

use super::{ClientTls, TransportError};

/// Total validity of a generated certificate. Spec 1.6: "valid from one day in the past for
/// 14 days in total (the WebTransport limit for hash pinning)"; browsers refuse to pin a
/// certificate whose validity period is longer than two weeks.
pub const GENERATED_VALIDITY: Duration = Duration::from_secs(14 * 24 * 60 * 60);

/// How far in the past a generated certificate's validity starts, so that a peer whose clock
/// runs behind ours still accepts it.
pub const GENERATED_BACKDATE: Duration = Duration::from_secs(24 * 60 * 60);

/// Number of lowercase hex digits in a SHA-256 fingerprint.
const FINGERPRINT_HEX_LEN: usize = 64;

/// The crypto provider every config in this module uses: rustls's ring provider.
///
/// ring rather than aws-lc-rs: the latter needs cmake and a C toolchain and takes minutes to
/// build; both provide the same TLS 1.3 suites and ECDSA / Ed25519 / RSA verification.
pub fn provider() -> Arc<CryptoProvider> {
    Arc::new(rustls::crypto::ring::default_provider())
}

/// A certificate chain (leaf first) and the leaf's private key.
///
/// `Clone` copies the key bytes. `Debug` prints the leaf fingerprint, never the key.
pub struct Certificate {
    /// DER certificates, leaf first. Must not be empty to serve.
    pub chain: Vec<CertificateDer<'static>>,
    /// The leaf's private key (PKCS#8, PKCS#1 or SEC1).
    pub key: PrivateKeyDer<'static>,
}

impl Certificate {
    /// Generate a self-signed ECDSA P-256 certificate for `names` (DNS names or IP literals,
    /// which become IP SANs), valid from [`GENERATED_BACKDATE`] ago for
    /// [`GENERATED_VALIDITY`] in total, as spec 1.6 prescribes for hash pinning.
    ///
    /// An empty `names` gives a certificate without subject alternative names, which still
    /// works for fingerprint pinning but not for name verification.
    ///
    /// # Errors
    ///
    /// [`TransportError::Certificate`] if a name is not a valid SAN or rcgen fails.
    pub fn generate(names: &[String]) -> Result<Self, TransportError> {
        let cert_err = |e: rcgen::Error| TransportError::Certificate(e.to_string());

        let key = rcgen::KeyPair::generate_for(&rcgen::PKCS_ECDSA_P256_SHA256).map_err(cert_err)?;
        let mut params = rcgen::CertificateParams::new(names.to_vec()).map_err(cert_err)?;
        let common_name = names.first().map_or("moql", String::as_str);
        params
            .distinguished_name
            .push(rcgen::DnType::CommonName, common_name);

        // rcgen takes `time::OffsetDateTime`; build it from the epoch and std durations so
        // this crate needs no direct dependency on `time`.
        let since_epoch = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_err(|_| TransportError::Certificate("system clock is before 1970".into()))?;
        let since_epoch = Duration::from_secs(since_epoch.as_secs());
        let not_before = since_epoch.saturating_sub(GENERATED_BACKDATE);
        params.not_before = rcgen::date_time_ymd(1970, 1, 1) + not_before;
        params.not_after = rcgen::date_time_ymd(1970, 1, 1) + not_before + GENERATED_VALIDITY;

        let cert = params.self_signed(&key).map_err(cert_err)?;
        let key = PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(key.serialize_der()));
        Ok(Self {
            chain: vec![cert.der().clone()],
            key,
        })
    }

    /// Load a PEM certificate chain (leaf first) and a PEM private key from two files.
    ///
    /// Blocks on file I/O: call it at startup or from `spawn_blocking`.
    ///
    /// # Errors
    ///
    /// [`TransportError::Io`] if a file cannot be read; [`TransportError::Certificate`] if the
    /// chain is empty, the PEM is malformed or the key file holds no private key.
    pub fn load_pem(
        cert_path: impl AsRef<Path>,
        key_path: impl AsRef<Path>,
    ) -> Result<Self, TransportError> {
        let key_path = key_path.as_ref();
        let chain = read_certificates(cert_path.as_ref())?;
        let keys = read_file(key_path)?;
        let key = rustls_pemfile::private_key(&mut keys.as_slice())
            .map_err(|e| TransportError::Certificate(format!("{}: {e}", key_path.display())))?
            .ok_or_else(|| {
                TransportError::Certificate(format!("{}: no PEM private key", key_path.display()))
            })?;
        Ok(Self { chain, key })
    }

    /// Load every PEM certificate of each file of `paths` as a trust anchor: CA bundles for
    /// [`ClientTls::Roots`] or for verifying client certificates (mTLS, see
    /// `ServerConfig::client_roots`).
    ///
    /// Blocks on file I/O: call it at startup or from `spawn_blocking`.
    ///
    /// # Errors
    ///
    /// [`TransportError::Io`] if a file cannot be read; [`TransportError::Certificate`] if one
    /// is malformed or holds no certificate. Either names the file.
    pub fn load_roots<P: AsRef<Path>>(
        paths: &[P],
    ) -> Result<Vec<CertificateDer<'static>>, TransportError> {
        let mut roots = Vec::new();
        for path in paths {
            roots.extend(read_certificates(path.as_ref())?);
        }
        Ok(roots)
    }

    /// A 32-byte seed for QUIC's stateless-reset key ([`ServerConfig::reset_seed`](
    /// super::ServerConfig::reset_seed)), derived from the private key (HKDF-SHA256 with a
    /// fixed label): the same key file gives the same seed in every process, and the seed
    /// reveals nothing of the key.
    pub fn reset_seed(&self) -> [u8; 32] {
        struct Len;
        impl ring::hkdf::KeyType for Len {
            fn len(&self) -> usize {
                32
            }
        }
        let salt = ring::hkdf::Salt::new(ring::hkdf::HKDF_SHA256, b"moql stateless reset key v1");
        let prk = salt.extract(self.key.secret_der());
        let mut seed = [0u8; 32];
        // `expand` and `fill` only fail for an output longer than 255 hash lengths.
        if let Ok(okm) = prk.expand(&[b"quic"], Len) {
            let _ = okm.fill(&mut seed);
        }
        seed
    }

    /// The lowercase hex SHA-256 of the leaf certificate's DER (64 characters): the value
    /// served at `/certificate.sha256` and pinned by [`ClientTls::Fingerprints`].
    ///
    /// Empty if the chain is empty.
    pub fn fingerprint(&self) -> String {
        self.chain
            .first()
            .map(|leaf| fingerprint_of(leaf))
            .unwrap_or_default()
    }
}

impl Clone for Certificate {
    fn clone(&self) -> Self {
        Self {
            chain: self.chain.clone(),
            key: self.key.clone_key(),
        }
    }
}

impl fmt::Debug for Certificate {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Certificate")
            .field("chain_len", &self.chain.len())
            .field("fingerprint", &self.fingerprint())
            .finish_non_exhaustive()
    }
}

/// The file at `path`, an error naming it if it cannot be read.
fn read_file(path: &Path) -> Result<Vec<u8>, TransportError> {
    std::fs::read(path).map_err(|e| {
        TransportError::Io(std::io::Error::new(
            e.kind(),
            format!("{}: {e}", path.display()),
        ))
    })
}

/// Every PEM certificate of the file at `path`, in order; at least one.
fn read_certificates(path: &Path) -> Result<Vec<CertificateDer<'static>>, TransportError> {
    let pem = read_file(path)?;
    let certificates = rustls_pemfile::certs(&mut pem.as_slice())
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| TransportError::Certificate(format!("{}: {e}", path.display())))?;
    if certificates.is_empty() {
        return Err(TransportError::Certificate(format!(
            "{}: no PEM certificate",
            path.display()
        )));
    }
    Ok(certificates)
}

/// Lowercase hex SHA-256 of `der` (computed with `ring::digest`).
pub fn fingerprint_of(der: &[u8]) -> String {
    to_hex(ring::digest::digest(&ring::digest::SHA256, der).as_ref())
}

/// Lowercase hex of `bytes`.
pub(crate) fn to_hex(bytes: &[u8]) -> String {
    const DIGITS: &[u8; 16] = b"0123456789abcdef";
    let mut hex = String::with_capacity(bytes.len() * 2);
    for byte in bytes {
        hex.push(char::from(DIGITS[usize::from(byte >> 4)]));
        hex.push(char::from(DIGITS[usize::from(byte & 0x0f)]));
    }
    hex
}

/// Parse a hex SHA-256 fingerprint: 64 hex digits, either case, optionally separated by `:`
/// (the `openssl x509 -fingerprint` form), surrounding whitespace ignored.
pub(crate) fn parse_fingerprint(text: &str) -> Result<[u8; 32], TransportError> {
    let bad = || TransportError::Certificate(format!("invalid SHA-256 fingerprint {text:?}"));
    let digits: Vec<u8> = text.trim().bytes().filter(|&b| b != b':').collect();
    if digits.len() != FINGERPRINT_HEX_LEN {
        return Err(bad());
    }
    let mut out = [0u8; 32];
    for (byte, pair) in out.iter_mut().zip(digits.chunks_exact(2)) {
        let hi = hex_value(pair[0]).ok_or_else(bad)?;
        let lo = hex_value(pair[1]).ok_or_else(bad)?;
        *byte = (hi << 4) | lo;
    }
    Ok(out)
}

fn hex_value(digit: u8) -> Option<u8> {
    match digit {
        b'0'..=b'9' => Some(digit - b'0'),
        b'a'..=b'f' => Some(digit - b'a' + 10),
        b'A'..=b'F' => Some(digit - b'A' + 10),
        _ => None,
    }
}

/// A rustls server config for `certificate`, TLS 1.3 only, no client authentication, with
/// `alpn` as the ALPN list in preference order (rustls picks the first of ours the client also
/// offered, spec 1.2).
///
/// # Errors
///
/// [`TransportError::Certificate`] if the chain is empty; [`TransportError::Tls`] if the key
/// does not match the certificate or is of an unsupported type.
pub fn server_crypto(
    certificate: &Certificate,
    alpn: Vec<Vec<u8>>,
) -> Result<rustls::ServerConfig, TransportError> {
    if certificate.chain.is_empty() {
        return Err(TransportError::Certificate(
            "empty certificate chain".into(),
        ));
    }
    let mut config = rustls::ServerConfig::builder_with_provider(provider())
        .with_protocol_versions(&[&rustls::version::TLS13])
        .map_err(TransportError::tls)?
        .with_no_client_auth()
        .with_single_cert(certificate.chain.clone(), certificate.key.clone_key())
        .map_err(TransportError::tls)?;
    config.alpn_protocols = alpn;
    Ok(config)
}

/// A rustls client config, TLS 1.3 only, trusting servers as `tls` says, presenting
/// `identity` when a server asks for a client certificate (mTLS), offering `alpn`.
///
/// # Errors
///
/// [`TransportError::Certificate`] for a malformed fingerprint, an empty fingerprint or root
/// list, a root that is not a usable trust anchor, or an empty identity chain;
/// [`TransportError::Tls`] if [`ClientTls::System`] finds no usable root certificates or the
/// identity's key does not fit its certificate.
pub fn client_crypto(
    tls: &ClientTls,
    identity: Option<&Certificate>,
    alpn: Vec<Vec<u8>>,
) -> Result<rustls::ClientConfig, TransportError> {
    let provider = provider();
    let builder = rustls::ClientConfig::builder_with_provider(provider.clone())
        .with_protocol_versions(&[&rustls::version::TLS13])
        .map_err(TransportError::tls)?;
    let verifier: Arc<dyn ServerCertVerifier> = match tls {
        ClientTls::System => Arc::new(
            rustls_platform_verifier::Verifier::new(provider).map_err(TransportError::tls)?,
        ),
        ClientTls::Fingerprints(hex) => {
            let fingerprints = hex
                .iter()
                .map(|h| parse_fingerprint(h))
                .collect::<Result<Vec<_>, _>>()?;
            if fingerprints.is_empty() {
                return Err(TransportError::Certificate(
                    "no fingerprint to trust (ClientTls::Fingerprints is empty)".into(),
                ));
            }
            Arc::new(PinnedVerifier {
                provider,
                fingerprints: Some(fingerprints),
            })
        }
        ClientTls::Roots(roots) => {
            WebPkiServerVerifier::builder_with_provider(root_store(roots)?, provider)
                .build()
                .map_err(|e| TransportError::Certificate(format!("trust roots: {e}")))?
        }
        ClientTls::DisableVerify => Arc::new(PinnedVerifier {
            provider,
            fingerprints: None,
        }),
    };
    let builder = builder
        .dangerous()
        .with_custom_certificate_verifier(verifier);
    let mut config = match identity {
        None => builder.with_no_client_auth(),
        Some(identity) => {
            if identity.chain.is_empty() {
                return Err(TransportError::Certificate(
                    "empty client certificate chain".into(),
                ));
            }
            builder
                .with_client_auth_cert(identity.chain.clone(), identity.key.clone_key())
                .map_err(TransportError::tls)?
        }
    };
    config.alpn_protocols = alpn;
    Ok(config)
}

/// A root store of `roots`, refusing an empty list (which would trust nothing, failing every
/// handshake later with a less telling error) and any certificate webpki cannot use as a
/// trust anchor.
pub(crate) fn root_store(
    roots: &[CertificateDer<'static>],
) -> Result<Arc<RootCertStore>, TransportError> {
    if roots.is_empty() {
        return Err(TransportError::Certificate(
            "no root certificate to trust".into(),
        ));
    }
    let mut store = RootCertStore::empty();
    for root in roots {
        store.add(root.clone()).map_err(|e| {
            TransportError::Certificate(format!(
                "root {} is not a usable trust anchor: {e}",
                fingerprint_of(root)
            ))
        })?;
    }
    Ok(Arc::new(store))
}

/// Checks the server's leaf certificate against pinned SHA-256 fingerprints, or not at all.
///
/// `Some(fingerprints)`: accepts a leaf whose SHA-256 is one of them, whatever its issuer,
/// names or validity dates: pinning trusts one exact key, so the name and chain say nothing
/// more (this is also what the reference client and browsers' `serverCertificateHashes` do,
/// minus the browsers' 14-day validity check).
///
/// `None`: accepts any certificate — no authentication at all, local development only.
///
/// Either way the handshake signature is verified, so the server must hold the private key of
/// the certificate it presents.
#[derive(Debug)]
struct PinnedVerifier {
    provider: Arc<CryptoProvider>,
    fingerprints: Option<Vec<[u8; 32]>>,
}

impl ServerCertVerifier for PinnedVerifier {
    fn verify_server_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        _intermediates: &[CertificateDer<'_>],
        _server_name: &ServerName<'_>,
        _ocsp_response: &[u8],
        _now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        let Some(fingerprints) = &self.fingerprints else {
            return Ok(ServerCertVerified::assertion());
        };
        let digest = ring::digest::digest(&ring::digest::SHA256, end_entity);
        if fingerprints.iter().any(|f| f == digest.as_ref()) {
            Ok(ServerCertVerified::assertion())
        } else {
            tracing::debug!(
                fingerprint = %fingerprint_of(end_entity),
                "server certificate matches no pinned fingerprint"
            );
            Err(rustls::Error::InvalidCertificate(
                rustls::CertificateError::UnknownIssuer,
            ))
        }
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls12_signature(
            message,
            cert,
            dss,
            &self.provider.signature_verification_algorithms,
        )
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls13_signature(
            message,
            cert,
            dss,
            &self.provider.signature_verification_algorithms,
        )
    }

    fn supported_verify_schemes(&self) -> Vec<rustls::SignatureScheme> {
        self.provider
            .signature_verification_algorithms
            .supported_schemes()
    }
}
