//! [`CertStore`]: the serving certificate behind every server-side TLS config, replaceable
//! while the server runs.
//!
//! rustls asks a [`ResolvesServerCert`] for the certificate at each handshake, so swapping the
//! value it hands out changes what *new* handshakes see and nothing else: connections already
//! established keep the keys they negotiated and are never touched. The QUIC endpoint and the
//! relay's HTTPS port hold clones of one store, so one replacement covers both.

use std::fmt;
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use arc_swap::ArcSwap;
use rustls::pki_types::CertificateDer;
use rustls::server::{ClientHello, ResolvesServerCert, WebPkiClientVerifier};
use rustls::sign::CertifiedKey;

use super::TransportError;
use super::tls::{Certificate, GENERATED_VALIDITY, fingerprint_of, provider};

/// What the store serves: the rustls key and its leaf fingerprint, swapped together.
struct Served {
    key: Arc<CertifiedKey>,
    fingerprint: String,
}

/// The certificate a server presents, shared by every config built from it and replaceable
/// at any time with [`replace`](Self::replace).
///
/// Cloning is cheap and every clone sees the same (current) certificate.
#[derive(Clone)]
pub struct CertStore {
    served: Arc<ArcSwap<Served>>,
}

impl CertStore {
    /// A store serving `certificate`.
    ///
    /// # Errors
    ///
    /// As [`replace`](Self::replace).
    pub fn new(certificate: &Certificate) -> Result<Self, TransportError> {
        Ok(Self {
            served: Arc::new(ArcSwap::from_pointee(served(certificate)?)),
        })
    }

    /// Serve `certificate` to every handshake from now on and return its fingerprint.
    /// Established connections keep theirs.
    ///
    /// The pair is checked first; on error the current certificate stays in service.
    ///
    /// # Errors
    ///
    /// [`TransportError::Certificate`] if the chain is empty; [`TransportError::Tls`] if the
    /// key is of an unsupported type or does not match the leaf certificate.
    pub fn replace(&self, certificate: &Certificate) -> Result<String, TransportError> {
        let next = served(certificate)?;
        let fingerprint = next.fingerprint.clone();
        self.served.store(Arc::new(next));
        Ok(fingerprint)
    }

    /// The lowercase hex SHA-256 of the leaf now being served.
    pub fn fingerprint(&self) -> String {
        self.served.load().fingerprint.clone()
    }
}

/// Checks the pair (parsable key, key matching the leaf) and computes the fingerprint.
fn served(certificate: &Certificate) -> Result<Served, TransportError> {
    let Some(leaf) = certificate.chain.first() else {
        return Err(TransportError::Certificate(
            "empty certificate chain".into(),
        ));
    };
    let fingerprint = fingerprint_of(leaf);
    let key = CertifiedKey::from_der(
        certificate.chain.clone(),
        certificate.key.clone_key(),
        &provider(),
    )
    .map_err(TransportError::tls)?;
    // `from_der` lets a key whose public half it cannot extract through; we want a definite
    // answer, so a pair that cannot be proven to match is refused too.
    key.keys_match().map_err(TransportError::tls)?;
    Ok(Served {
        key: Arc::new(key),
        fingerprint,
    })
}

impl ResolvesServerCert for CertStore {
    fn resolve(&self, _client_hello: ClientHello<'_>) -> Option<Arc<CertifiedKey>> {
        Some(self.served.load().key.clone())
    }
}

impl fmt::Debug for CertStore {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("CertStore")
            .field("fingerprint", &self.fingerprint())
            .finish()
    }
}

/// Whether a generated certificate expiring at `not_after` should be replaced at `now`: once
/// less than a third of [`GENERATED_VALIDITY`] remains (about 4.7 days of 14), which leaves
/// days of margin for a renewal that fails and is retried, and for browsers that fetched the
/// old fingerprint to reload. Pure, so tests drive it with any clock.
pub fn needs_renewal(not_after: SystemTime, now: SystemTime) -> bool {
    renewal_time(not_after) <= now
}

/// When a generated certificate expiring at `not_after` is due for renewal (see
/// [`needs_renewal`]).
pub fn renewal_time(not_after: SystemTime) -> SystemTime {
    let margin: Duration = GENERATED_VALIDITY / 3;
    not_after
        .checked_sub(margin)
        .unwrap_or(SystemTime::UNIX_EPOCH)
}

/// When a certificate [`Certificate::generate`] made at `generated_at` expires: validity
/// starts [`GENERATED_BACKDATE`](super::GENERATED_BACKDATE) before and lasts
/// [`GENERATED_VALIDITY`].
pub fn generated_not_after(generated_at: SystemTime) -> SystemTime {
    generated_at - super::GENERATED_BACKDATE + GENERATED_VALIDITY
}

/// A rustls server config that takes its certificate from `store` at each handshake, TLS 1.3
/// only, with `alpn` as the ALPN list in preference order.
///
/// `client_roots` empty: no client certificate is asked for. Otherwise every client is asked
/// for one, verified against these roots (chain, validity, client-auth usage) when presented,
/// and clients without one are still accepted (they authenticate at the moq-lite layer).
///
/// # Errors
///
/// [`TransportError::Certificate`] if a root is not a usable trust anchor;
/// [`TransportError::Tls`] if the provider refuses TLS 1.3 (it does not).
pub fn server_crypto_from(
    store: &CertStore,
    client_roots: &[CertificateDer<'static>],
    alpn: Vec<Vec<u8>>,
) -> Result<rustls::ServerConfig, TransportError> {
    let builder = rustls::ServerConfig::builder_with_provider(provider())
        .with_protocol_versions(&[&rustls::version::TLS13])
        .map_err(TransportError::tls)?;
    let builder = if client_roots.is_empty() {
        builder.with_no_client_auth()
    } else {
        let verifier = WebPkiClientVerifier::builder_with_provider(
            super::tls::root_store(client_roots)?,
            provider(),
        )
        .allow_unauthenticated()
        .build()
        .map_err(|e| TransportError::Certificate(format!("client roots: {e}")))?;
        builder.with_client_cert_verifier(verifier)
    };
    let mut config = builder.with_cert_resolver(Arc::new(store.clone()));
    config.alpn_protocols = alpn;
    Ok(config)
}
