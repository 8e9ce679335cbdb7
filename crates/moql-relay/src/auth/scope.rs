//! What a session may do ([`Grant`]), how a token's claims are narrowed to the connection
//! path, and the parsing of a request target (`/path?jwt=…`).

use std::time::{Instant, SystemTime};

use moql_wire::Path;

use super::{AuthError, Claims};

/// What one session may do, relative to its root.
///
/// Every path a session exchanges is relative to [`root`](Self::root) (spec 1.4), and so are
/// the prefixes here: `[Path::root()]` means everything under the root, an empty list means
/// nothing. Prefixes match whole segments.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Grant {
    /// The session's root: the connection path.
    pub root: Path,
    /// Prefixes, relative to `root`, the session may publish (announce) under.
    pub publish: Vec<Path>,
    /// Prefixes, relative to `root`, the session may subscribe to, fetch from and see
    /// announced.
    pub subscribe: Vec<Path>,
    /// When the credential expires (the token's `exp`); `None` for anonymous access. The
    /// session should be closed with code 6 (Unauthorized) at that time.
    pub expires: Option<SystemTime>,
}

impl Grant {
    /// Everything under `root`, without expiry (anonymous access to a public prefix).
    pub fn full(root: Path) -> Self {
        Self {
            root,
            publish: vec![Path::root()],
            subscribe: vec![Path::root()],
            expires: None,
        }
    }

    /// True if the session may publish the broadcast at `path` (relative to the root).
    pub fn can_publish(&self, path: &Path) -> bool {
        self.publish.iter().any(|prefix| path.has_prefix(prefix))
    }

    /// True if the session may subscribe to (or fetch from) the broadcast at `path` (relative
    /// to the root).
    pub fn can_subscribe(&self, path: &Path) -> bool {
        self.subscribe.iter().any(|prefix| path.has_prefix(prefix))
    }

    /// The parts of `prefix` (relative to the root) the session may subscribe to, relative to
    /// `prefix`: `[Path::root()]` = all of it, empty = none. An announce request for `prefix`
    /// should report only broadcasts under these.
    pub fn subscribe_within(&self, prefix: &Path) -> Vec<Path> {
        narrow(&self.subscribe, prefix)
    }

    /// The parts of `prefix` (relative to the root) the session may publish under, relative
    /// to `prefix`, as for [`subscribe_within`](Self::subscribe_within).
    pub fn publish_within(&self, prefix: &Path) -> Vec<Path> {
        narrow(&self.publish, prefix)
    }

    /// True once the credential has expired at `now`.
    pub fn is_expired(&self, now: SystemTime) -> bool {
        self.expires.is_some_and(|expires| now >= expires)
    }

    /// When a session on this grant must end, on the monotonic clock: `clock` (the instant
    /// read with `now`) plus what is left of the credential at `now`, zero if it has passed.
    ///
    /// Compute it once, when the grant is made: a deadline derived later (after a handshake a
    /// client can stall) would find `expires` already past and could not be expressed as a
    /// wait. `None` for a grant without expiry, or one too far away for an `Instant` to hold
    /// (it never comes).
    pub fn deadline(&self, now: SystemTime, clock: Instant) -> Option<Instant> {
        let left = self.expires?.duration_since(now).unwrap_or_default();
        clock.checked_add(left)
    }

    /// The grant of verified `claims` for a connection at `path`.
    pub(crate) fn from_claims(claims: &Claims, path: Path) -> Result<Self, AuthError> {
        let token_root = claim_path(&claims.root)?;
        let suffix = path
            .strip_prefix(&token_root)
            .ok_or(AuthError::OutsideRoot)?;
        let publish = narrow(&claim_paths(&claims.publish)?, &suffix);
        let subscribe = narrow(&claim_paths(&claims.subscribe)?, &suffix);
        if publish.is_empty() && subscribe.is_empty() {
            return Err(AuthError::NoGrant);
        }
        Ok(Self {
            root: path,
            publish,
            subscribe,
            expires: Some(claims.expires()?),
        })
    }
}

fn claim_path(path: &str) -> Result<Path, AuthError> {
    Path::new(path).map_err(|err| AuthError::Invalid(format!("claim path {path:?}: {err}")))
}

fn claim_paths(paths: &[String]) -> Result<Vec<Path>, AuthError> {
    paths.iter().map(|p| claim_path(p)).collect()
}

/// Re-expresses `prefixes` relative to `within` (a path relative to the same base): a prefix
/// under `within` keeps its remainder, one that covers `within` becomes the root, others are
/// dropped. The result is minimal: sorted, without entries another entry covers.
pub(crate) fn narrow(prefixes: &[Path], within: &Path) -> Vec<Path> {
    let mut narrowed: Vec<Path> = prefixes
        .iter()
        .filter_map(|prefix| {
            prefix
                .strip_prefix(within)
                .or_else(|| within.has_prefix(prefix).then(Path::root))
        })
        .collect();
    narrowed.sort();
    narrowed.dedup();
    let mut minimal: Vec<Path> = Vec::with_capacity(narrowed.len());
    for prefix in narrowed {
        // Sorting does not put every covered path right after its cover ("a" < "a-b" <
        // "a/b"), so check against all kept ones.
        if !minimal.iter().any(|kept| prefix.has_prefix(kept)) {
            minimal.push(prefix);
        }
    }
    minimal
}

/// A parsed request target: the connection path and the `jwt` query value.
#[derive(Debug, PartialEq, Eq)]
pub(crate) struct Target {
    pub(crate) path: Path,
    pub(crate) jwt: Option<String>,
}

impl Target {
    /// Parses `"/room/a?jwt=…&x=y"`: the path and the `jwt` value are percent-decoded; other
    /// parameters are ignored; a fragment is not expected (request targets carry none).
    pub(crate) fn parse(path_and_query: &str) -> Result<Self, AuthError> {
        let (path, query) = match path_and_query.split_once('?') {
            Some((path, query)) => (path, Some(query)),
            None => (path_and_query, None),
        };
        let path = percent_decode(path)?;
        let path = Path::new(&path)
            .map_err(|err| AuthError::Invalid(format!("connection path: {err}")))?;
        let mut jwt = None;
        for pair in query.into_iter().flat_map(|q| q.split('&')) {
            let (key, value) = pair.split_once('=').unwrap_or((pair, ""));
            if key != "jwt" {
                continue;
            }
            if jwt.is_some() {
                return Err(AuthError::Invalid("more than one `jwt` parameter".into()));
            }
            let value = percent_decode(value)?;
            if value.is_empty() {
                return Err(AuthError::Invalid("empty `jwt` parameter".into()));
            }
            jwt = Some(value);
        }
        Ok(Self { path, jwt })
    }
}

/// Decodes `%XX` escapes (RFC 3986 2.1) and checks the result is UTF-8. `+` is kept as is.
fn percent_decode(text: &str) -> Result<String, AuthError> {
    let bad = || AuthError::Invalid(format!("bad percent-encoding in {text:?}"));
    let bytes = text.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%' {
            let (Some(&high), Some(&low)) = (bytes.get(i + 1), bytes.get(i + 2)) else {
                return Err(bad());
            };
            out.push(hex_value(high).ok_or_else(bad)? << 4 | hex_value(low).ok_or_else(bad)?);
            i += 3;
        } else {
            out.push(bytes[i]);
            i += 1;
        }
    }
    String::from_utf8(out).map_err(|_| bad())
}

fn hex_value(digit: u8) -> Option<u8> {
    match digit {
        b'0'..=b'9' => Some(digit - b'0'),
        b'a'..=b'f' => Some(digit - b'a' + 10),
        b'A'..=b'F' => Some(digit - b'A' + 10),
        _ => None,
    }
}
