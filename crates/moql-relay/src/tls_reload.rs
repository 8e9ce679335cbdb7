//! [`TlsReloader`]: keeps the relay's certificate current without a restart.
//!
//! - Configured files (`[tls] cert`/`key`): reloaded when either file's modification time or
//!   size changes (polled every `[tls] watch_seconds`) and on [`TlsReloader::reload`] (SIGHUP
//!   in the binary).
//! - Generated certificate: replaced by a fresh one once [`moql_native::needs_renewal`] says
//!   so (the last third of its 14 days), and on [`TlsReloader::reload`]; the new fingerprint is
//!   what `/certificate.sha256` serves from then on.
//!
//! Either way only new handshakes see the new certificate: sessions already established keep
//! running (see [`moql_native::CertStore`]). A pair that fails to load (unreadable, not PEM,
//! key not matching the certificate) is refused with an ERROR log and the previous one stays
//! in service.
//!
//! Polling rather than filesystem events (`notify`): certificate renewers (certbot, cert-manager
//! through a Kubernetes secret volume) replace files by renaming or by swapping a symlinked
//! directory, which inotify reports on the parent, not on the watched file; a stat of two
//! files every few seconds catches every such scheme and costs nothing.

use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime};

use moql_native::{CertStore, Certificate};

use crate::error::RelayError;

/// How often a generated certificate's expiry is looked at when renewal is not yet due (the
/// wait is the time to renewal, capped by this, so a suspended machine catches up soon).
const RENEWAL_CHECK: Duration = Duration::from_secs(60 * 60);

/// Where the serving certificate comes from.
#[derive(Debug)]
enum Source {
    /// PEM files, reloaded on change.
    Files { cert: PathBuf, key: PathBuf },
    /// Generated for these names; `made` is when the serving one was generated.
    Generated {
        names: Vec<String>,
        made: Mutex<SystemTime>,
    },
}

/// Reloads (or renews) the certificate the relay serves; cheap to clone.
#[derive(Clone, Debug)]
pub struct TlsReloader {
    store: CertStore,
    source: Arc<Source>,
}

impl TlsReloader {
    /// The reloader for `store`, which serves the files `cert`/`key`, or a certificate generated
    /// for `names` just now when there are no files.
    pub(crate) fn new(
        store: CertStore,
        files: Option<(PathBuf, PathBuf)>,
        names: &[String],
    ) -> Self {
        let source = match files {
            Some((cert, key)) => Source::Files { cert, key },
            None => Source::Generated {
                names: names.to_vec(),
                made: Mutex::new(SystemTime::now()),
            },
        };
        Self {
            store,
            source: Arc::new(source),
        }
    }

    /// Whether the certificate is generated (and so served at `/certificate.sha256`).
    pub fn generated(&self) -> bool {
        matches!(*self.source, Source::Generated { .. })
    }

    /// The fingerprint of the certificate now served to new handshakes.
    pub fn fingerprint(&self) -> String {
        self.store.fingerprint()
    }

    /// The store the QUIC endpoint and the HTTPS port take their certificate from.
    pub(crate) fn store(&self) -> &CertStore {
        &self.store
    }

    /// Load the files again (or generate a new certificate) and serve the result to new
    /// handshakes; returns the new fingerprint. Logs the outcome: INFO with the fingerprint,
    /// or ERROR with the cause (the previous certificate then stays in service).
    ///
    /// # Errors
    ///
    /// [`RelayError::Transport`] if the files cannot be read or parsed, or the key does not
    /// match the certificate.
    pub async fn reload(&self) -> Result<String, RelayError> {
        let source = self.source.clone();
        let loaded = tokio::task::spawn_blocking(move || match &*source {
            Source::Files { cert, key } => Certificate::load_pem(cert, key),
            Source::Generated { names, .. } => Certificate::generate(names),
        })
        .await
        .map_err(|err| RelayError::Config(format!("certificate loading task: {err}")))?;
        let replaced = loaded.and_then(|certificate| self.store.replace(&certificate));
        match replaced {
            Ok(fingerprint) => {
                if let Source::Generated { made, .. } = &*self.source {
                    *made
                        .lock()
                        .unwrap_or_else(std::sync::PoisonError::into_inner) = SystemTime::now();
                }
                tracing::info!(%fingerprint, generated = self.generated(), "tls certificate reloaded");
                Ok(fingerprint)
            }
            Err(err) => {
                tracing::error!(
                    %err,
                    serving = %self.store.fingerprint(),
                    "tls certificate not reloaded; the previous one stays in service"
                );
                Err(err.into())
            }
        }
    }

    /// Until `stop` turns true: reload the files when they change (checked every `interval`;
    /// zero disables), or renew a generated certificate when it is due.
    pub(crate) async fn watch(
        self,
        interval: Duration,
        mut stop: tokio::sync::watch::Receiver<bool>,
    ) {
        match &*self.source {
            Source::Files { cert, key } => {
                if interval.is_zero() {
                    return;
                }
                let (cert, key) = (cert.clone(), key.clone());
                let mut seen = stamp(&cert, &key);
                loop {
                    tokio::select! {
                        () = tokio::time::sleep(interval) => {}
                        _ = stop.wait_for(|s| *s) => return,
                    }
                    let now = stamp(&cert, &key);
                    if now != seen {
                        seen = now;
                        // Logged inside; a failure is retried at the next change.
                        let _ = self.reload().await;
                    }
                }
            }
            Source::Generated { made, .. } => loop {
                let made_at = *made
                    .lock()
                    .unwrap_or_else(std::sync::PoisonError::into_inner);
                let not_after = moql_native::generated_not_after(made_at);
                let now = SystemTime::now();
                if moql_native::needs_renewal(not_after, now) {
                    // Logged inside; on failure, retried after the next check interval.
                    let _ = self.reload().await;
                }
                let until = moql_native::renewal_time(not_after)
                    .duration_since(now)
                    .unwrap_or(RENEWAL_CHECK);
                tokio::select! {
                    () = tokio::time::sleep(until.clamp(Duration::from_secs(1), RENEWAL_CHECK)) => {}
                    _ = stop.wait_for(|s| *s) => return,
                }
            },
        }
    }
}

/// Modification time and size of both files (`None` for one that cannot be read): what
/// changes when a file is rewritten or replaced by a rename.
type Stamp = [Option<(SystemTime, u64)>; 2];

/// Two `stat` calls on local files, every few seconds: done inline rather than through a
/// blocking-pool hop.
fn stamp(cert: &Path, key: &Path) -> Stamp {
    fn one(path: &Path) -> Option<(SystemTime, u64)> {
        let meta = std::fs::metadata(path).ok()?;
        Some((meta.modified().ok()?, meta.len()))
    }
    [one(cert), one(key)]
}
