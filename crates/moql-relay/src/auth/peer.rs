//! Cluster peers authenticated by a client certificate (mTLS) instead of a token.
//!
//! The TLS layer has already verified the chain against `[cluster] peer_roots` (signature,
//! validity dates, client-auth usage) before anything here runs; [`PeerRules::grant`] only
//! decides what a verified certificate is worth: everything under the connection path, as a
//! cluster token would, until the certificate's `notAfter` (the session is closed with 6
//! Unauthorized then, as at a token's `exp`), and only for the names `[cluster] peer_names`
//! lists when it lists any.
//!
//! A certificate that is not one of the listed names is not a refusal: the request is judged
//! as if it had presented none (token, then the public rules), so a CA that also issues other
//! certificates grants nothing through this path.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use x509_parser::prelude::{FromDer, GeneralName, X509Certificate};

use super::{AuthError, Grant, scope};

/// The names a peer certificate may carry to be a cluster peer; empty = any certificate the
/// peer roots verify.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct PeerRules {
    names: Vec<String>,
}

/// What a verified peer certificate says about its holder.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PeerCertificate {
    /// DNS names of the subject alternative names, then the subject's common name(s),
    /// lowercased.
    pub names: Vec<String>,
    /// The certificate's `notAfter`.
    pub not_after: SystemTime,
}

impl PeerCertificate {
    /// Reads the names and expiry of a DER certificate.
    ///
    /// # Errors
    ///
    /// [`AuthError::Invalid`] if it does not parse (the TLS layer verified it, so this means a
    /// certificate webpki accepts and x509-parser does not: refused rather than guessed at).
    pub fn parse(der: &[u8]) -> Result<Self, AuthError> {
        let (_, cert) = X509Certificate::from_der(der)
            .map_err(|e| AuthError::Invalid(format!("peer certificate: {e}")))?;
        let mut names = Vec::new();
        if let Ok(Some(san)) = cert.subject_alternative_name() {
            for name in &san.value.general_names {
                if let GeneralName::DNSName(dns) = name {
                    names.push(dns.to_ascii_lowercase());
                }
            }
        }
        for cn in cert.subject().iter_common_name() {
            if let Ok(cn) = cn.as_str() {
                names.push(cn.to_ascii_lowercase());
            }
        }
        let seconds = cert.validity().not_after.timestamp();
        let not_after = u64::try_from(seconds)
            .map(|s| UNIX_EPOCH + Duration::from_secs(s))
            .unwrap_or(UNIX_EPOCH);
        Ok(Self { names, not_after })
    }

    /// The first name, for logs; `"?"` when the certificate names nothing.
    pub fn name(&self) -> &str {
        self.names.first().map_or("?", String::as_str)
    }
}

impl PeerRules {
    /// Rules admitting certificates that name one of `names` (DNS SAN or common name, ASCII
    /// case-insensitive); empty admits every verified certificate.
    pub fn new(names: &[String]) -> Self {
        Self {
            names: names.iter().map(|n| n.to_ascii_lowercase()).collect(),
        }
    }

    /// Whether `certificate` is a cluster peer under these rules.
    pub fn admits(&self, certificate: &PeerCertificate) -> bool {
        self.names.is_empty()
            || certificate
                .names
                .iter()
                .any(|name| self.names.contains(name))
    }

    /// The grant of a connection to `path_and_query` that presented the verified leaf
    /// `certificate`: everything under the connection path until the certificate expires;
    /// `None` when these rules do not admit it (judge the request by its token instead).
    ///
    /// # Errors
    ///
    /// [`AuthError::Invalid`] for a malformed path, [`AuthError::Expired`] for a certificate
    /// past its `notAfter` at `now` (the handshake checked it; a session can outlive it).
    pub fn grant(
        &self,
        path_and_query: &str,
        certificate: &PeerCertificate,
        now: SystemTime,
    ) -> Result<Option<Grant>, AuthError> {
        if !self.admits(certificate) {
            return Ok(None);
        }
        if now >= certificate.not_after {
            return Err(AuthError::Expired);
        }
        let target = scope::Target::parse(path_and_query)?;
        Ok(Some(Grant {
            expires: Some(certificate.not_after),
            ..Grant::full(target.path)
        }))
    }
}

#[cfg(test)]
mod tests {
    use moql_wire::Path;
    use rcgen::{CertificateParams, DnType, KeyPair};

    use super::*;

    fn certificate(sans: &[&str], cn: &str, not_after_days: i64) -> Vec<u8> {
        let key = KeyPair::generate().expect("key");
        let sans: Vec<String> = sans.iter().map(|s| s.to_string()).collect();
        let mut params = CertificateParams::new(sans).expect("params");
        params.distinguished_name.push(DnType::CommonName, cn);
        params.not_before = rcgen::date_time_ymd(2026, 1, 1);
        params.not_after = rcgen::date_time_ymd(2026, 1, 1) + time_days(not_after_days);
        params.self_signed(&key).expect("sign").der().to_vec()
    }

    fn time_days(days: i64) -> std::time::Duration {
        std::time::Duration::from_secs(u64::try_from(days).expect("days") * 86_400)
    }

    fn jan_1_2026() -> SystemTime {
        UNIX_EPOCH + Duration::from_secs(1_767_225_600)
    }

    #[test]
    fn names_and_expiry_are_read_from_the_certificate() {
        let der = certificate(&["Node-B.cluster.example", "10.0.0.2"], "node-b", 30);
        let cert = PeerCertificate::parse(&der).expect("parse");
        assert_eq!(cert.names, ["node-b.cluster.example", "node-b"]);
        assert_eq!(cert.not_after, jan_1_2026() + time_days(30));
        assert_eq!(cert.name(), "node-b.cluster.example");
        assert!(matches!(
            PeerCertificate::parse(b"not a certificate"),
            Err(AuthError::Invalid(_))
        ));
    }

    #[test]
    fn an_admitted_certificate_grants_everything_under_the_path_until_it_expires() {
        let cert = PeerCertificate::parse(&certificate(&["node-b"], "node-b", 30)).unwrap();
        let now = jan_1_2026() + time_days(1);
        let grant = PeerRules::new(&[])
            .grant("/cluster?jwt=ignored", &cert, now)
            .expect("grant")
            .expect("admitted");
        assert_eq!(grant.root, Path::new("cluster").unwrap());
        assert_eq!(grant.publish, vec![Path::root()]);
        assert_eq!(grant.subscribe, vec![Path::root()]);
        assert_eq!(grant.expires, Some(cert.not_after));

        let later = cert.not_after + Duration::from_secs(1);
        assert_eq!(
            PeerRules::new(&[]).grant("/", &cert, later),
            Err(AuthError::Expired)
        );
    }

    #[test]
    fn peer_names_admit_only_listed_certificates_and_fall_back_otherwise() {
        let rules = PeerRules::new(&["NODE-B.cluster".into(), "node-c.cluster".into()]);
        let now = jan_1_2026();
        let listed = PeerCertificate::parse(&certificate(&["node-b.cluster"], "x", 9)).unwrap();
        let by_cn = PeerCertificate::parse(&certificate(&[], "node-c.cluster", 9)).unwrap();
        let other = PeerCertificate::parse(&certificate(&["viewer.example"], "v", 9)).unwrap();
        assert!(rules.grant("/", &listed, now).unwrap().is_some());
        assert!(rules.grant("/", &by_cn, now).unwrap().is_some());
        // Not a refusal: the request is judged by its token or the public rules instead.
        assert_eq!(rules.grant("/", &other, now), Ok(None));
    }
}
