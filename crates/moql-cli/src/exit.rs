//! Exit codes and error reports: what a script sees when `moql` fails.
//!
//! The code is decided by the first cause in the error's chain that says why ([`classify`]),
//! matching on the libraries' typed errors ([`moql_model::Error`],
//! [`moql_session::SessionError`], [`moql_native::TransportError`]) and the binary's own
//! [`Failure`], never on message text. The report ([`report`]) is the chain's messages in
//! words, outermost first, joined by `": "`.

use std::fmt;

use moql_native::TransportError;
use moql_session::SessionError;
use moql_wire::ErrorCode;

/// How `moql` ended, as its process exit code. The numbers are part of the command-line
/// contract (listed in `moql --help` and the README) and pinned by a test.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Exit {
    /// 0: done.
    Ok = 0,
    /// 1: any other failure (a local I/O error, a protocol error, a refused publish …).
    Other = 1,
    /// 2: the command line is wrong (clap's own errors, a bad URL, path or fingerprint, no
    /// relay URL given).
    Usage = 2,
    /// 3: the network: cannot connect, the TLS or QUIC handshake failed, the connection was
    /// lost or timed out.
    Network = 3,
    /// 4: the broadcast, track or group does not exist, or expired.
    NotFound = 4,
    /// 5: the relay refused the token (missing, invalid, expired, or not granting the path).
    Auth = 5,
}

/// The `after_help` of `moql --help`: the exit codes and environment variables.
pub(crate) const HELP: &str = "\
Exit codes:
  0  success
  1  other error
  2  usage: bad command line, URL, broadcast path or fingerprint; no relay URL
  3  network: cannot connect, TLS/QUIC handshake failed, connection lost or timed out
  4  not found: the broadcast, track or group does not exist or expired
  5  auth refused: the relay refused the token (missing, invalid, expired, or not for this path)

Environment (a flag or argument on the command line takes precedence):
  MOQL_URL              relay URL when the command line gives none
  MOQL_JWT              token sent as the `jwt` query parameter (keeps it out of `ps`)
  MOQL_TLS_FINGERPRINT  SHA-256 certificate fingerprint(s) to trust, comma-separated";

/// A failure of the binary's own with its exit code; library errors keep their types.
#[derive(Debug)]
pub(crate) enum Failure {
    /// The command line is wrong in a way clap cannot see (exit code 2).
    Usage(String),
    /// The broadcast, track or group does not exist (exit code 4).
    NotFound(String),
    /// The connection failed, closed or timed out (exit code 3).
    Network(String),
}

impl fmt::Display for Failure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Usage(what) | Self::NotFound(what) | Self::Network(what) => f.write_str(what),
        }
    }
}

impl std::error::Error for Failure {}

/// The exit code for `err`: the first cause in its chain that says why decides.
pub(crate) fn classify(err: &anyhow::Error) -> Exit {
    err.chain().find_map(cause_exit).unwrap_or(Exit::Other)
}

/// The exit code one cause stands for, if it is a type we know.
fn cause_exit(cause: &(dyn std::error::Error + 'static)) -> Option<Exit> {
    if let Some(failure) = cause.downcast_ref::<Failure>() {
        return Some(match failure {
            Failure::Usage(_) => Exit::Usage,
            Failure::NotFound(_) => Exit::NotFound,
            Failure::Network(_) => Exit::Network,
        });
    }
    if let Some(model) = cause.downcast_ref::<moql_model::Error>() {
        return Some(model_exit(model));
    }
    if let Some(session) = cause.downcast_ref::<SessionError>() {
        return Some(match session {
            SessionError::Config(_) => Exit::Other,
            // The relay closes a session whose token it refuses with 6 (spec 1.4), and one
            // whose token expires with the same code.
            SessionError::Closed { code, .. } if *code == ErrorCode::UNAUTHORIZED => Exit::Auth,
            _ => Exit::Network,
        });
    }
    if let Some(transport) = cause.downcast_ref::<TransportError>() {
        return Some(match transport {
            TransportError::InvalidUrl(_)
            | TransportError::UnsupportedScheme(_)
            | TransportError::Certificate(_) => Exit::Usage,
            // WebTransport refusals are HTTP statuses: 401/403 are the token's, 404 the path's.
            TransportError::Rejected(401 | 403) => Exit::Auth,
            TransportError::Rejected(404) => Exit::NotFound,
            TransportError::Config(_) | TransportError::Tls(_) => Exit::Other,
            _ => Exit::Network,
        });
    }
    None
}

/// The exit code for a model error (a refused subscribe or fetch, a closed track).
fn model_exit(err: &moql_model::Error) -> Exit {
    use moql_model::Error;
    match err {
        // Old and Evicted: the group existed but is no longer kept (it expired).
        Error::NotFound | Error::Unroutable | Error::Old | Error::Evicted => Exit::NotFound,
        Error::Unauthorized => Exit::Auth,
        Error::Transport => Exit::Network,
        _ => Exit::Other,
    }
}

/// `err` in words, outermost context first: `connecting to moql://h/: handshake: …`.
///
/// Causes whose message the previous one already ends with are left out (an error that
/// prints its source, like `cannot bind the UDP socket: <io error>`, would repeat it).
pub(crate) fn report(err: &anyhow::Error) -> String {
    let mut out = String::new();
    for cause in err.chain() {
        let text = cause.to_string();
        if text.is_empty() || out.ends_with(&text) {
            continue;
        }
        if !out.is_empty() {
            out.push_str(": ");
        }
        out.push_str(&text);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn exit_code_numbers_are_the_documented_ones() {
        let codes = [
            (Exit::Ok, 0),
            (Exit::Other, 1),
            (Exit::Usage, 2),
            (Exit::Network, 3),
            (Exit::NotFound, 4),
            (Exit::Auth, 5),
        ];
        for (exit, number) in codes {
            assert_eq!(exit as u8, number);
            if exit != Exit::Ok {
                assert!(
                    HELP.contains(&format!("\n  {number}  ")),
                    "{exit:?} in HELP"
                );
            }
        }
    }

    #[test]
    fn the_first_recognised_cause_decides() {
        let not_found = anyhow::Error::new(moql_model::Error::NotFound).context("fetching");
        assert_eq!(classify(&not_found), Exit::NotFound);
        let expired = anyhow::Error::new(moql_model::Error::Old);
        assert_eq!(classify(&expired), Exit::NotFound);
        let refused = anyhow::Error::new(SessionError::Closed {
            code: ErrorCode::UNAUTHORIZED,
            reason: "bad token".into(),
        })
        .context("waiting for demo");
        assert_eq!(classify(&refused), Exit::Auth);
        let closed = anyhow::Error::new(SessionError::Transport("gone".into()));
        assert_eq!(classify(&closed), Exit::Network);
        let forbidden = anyhow::Error::new(TransportError::Rejected(403));
        assert_eq!(classify(&forbidden), Exit::Auth);
        let scheme = anyhow::Error::new(TransportError::UnsupportedScheme("ftp".into()));
        assert_eq!(classify(&scheme), Exit::Usage);
        let timeout = anyhow::Error::new(Failure::Network("timed out".into()));
        assert_eq!(classify(&timeout), Exit::Network);
        assert_eq!(classify(&anyhow::anyhow!("bad input")), Exit::Other);
        let dropped = anyhow::Error::new(moql_model::Error::Dropped);
        assert_eq!(classify(&dropped), Exit::Other);
    }

    #[test]
    fn a_report_names_each_cause_once() {
        let io = std::io::Error::new(std::io::ErrorKind::AddrInUse, "address in use");
        let err = anyhow::Error::new(TransportError::Bind(io)).context("creating the client");
        assert_eq!(
            report(&err),
            "creating the client: cannot bind the UDP socket: address in use"
        );
    }
}
