//! What a `/fetch` request asks for: the path and query parsed into a [`FetchRequest`], with
//! no IO (unit-tested below), and the canonical URL of a concrete group
//! ([`FetchRequest::location`]).

use std::fmt;

use axum::http::StatusCode;
use moql_model::Path;
use serde::Deserialize;

use crate::http::HttpError;

/// The query parameters `/fetch` understands, as sent.
#[derive(Debug, Default, Deserialize)]
pub(in crate::http) struct FetchQuery {
    pub(super) group: Option<String>,
    pub(super) frame: Option<String>,
    pub(super) format: Option<String>,
    pub(super) jwt: Option<String>,
}

/// Which group to serve.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum Which {
    /// Group `N` (`?group=N`).
    Sequence(u64),
    /// The newest group (`?group=latest`, or no `group`).
    Latest,
}

impl fmt::Display for Which {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Sequence(sequence) => write!(f, "group {sequence}"),
            Self::Latest => f.write_str("the latest group"),
        }
    }
}

/// How to lay out the frames in the body.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum Format {
    /// Payloads back to back (`format=payloads`, the default).
    Payloads,
    /// Each payload after its length as a big-endian `u32` (`format=frames`).
    Frames,
}

/// A parsed `/fetch/<broadcast>/<track>?…` request.
#[derive(Debug, PartialEq, Eq)]
pub(super) struct FetchRequest {
    pub(super) broadcast: Path,
    pub(super) track: String,
    pub(super) which: Which,
    /// The first frame to send (`?frame=K`, default 0): a partial group from frame `K`.
    pub(super) frame: usize,
    pub(super) format: Format,
}

impl FetchRequest {
    /// Parses `rest` (everything after `/fetch/`, percent-decoded) and `query`.
    ///
    /// # Errors
    ///
    /// `400` for a malformed path, `group`, `frame` or `format`; `414` for a track name over
    /// [`moql_model::MAX_TRACK_NAME`] (refused before any table is touched, and not echoed).
    pub(super) fn parse(rest: &str, query: &FetchQuery) -> Result<Self, HttpError> {
        let which = match query.group.as_deref() {
            None | Some("latest") => Which::Latest,
            Some(group) => Which::Sequence(group.parse().map_err(|_| {
                HttpError::bad_request(format!(
                    "bad group {group:?}: expected a sequence number or `latest`"
                ))
            })?),
        };
        let frame = match query.frame.as_deref() {
            None => 0,
            Some(frame) => frame.parse().map_err(|_| {
                HttpError::bad_request(format!("bad frame {frame:?}: expected a frame index"))
            })?,
        };
        let format = match query.format.as_deref() {
            None | Some("payloads") => Format::Payloads,
            Some("frames") => Format::Frames,
            Some(other) => {
                return Err(HttpError::bad_request(format!(
                    "bad format {other:?}: expected `frames` or `payloads`"
                )));
            }
        };
        let (broadcast, track) = rest
            .rsplit_once('/')
            .filter(|(_, track)| !track.is_empty())
            .ok_or_else(|| HttpError::bad_request("expected /fetch/<broadcast>/<track>"))?;
        if track.len() > moql_model::MAX_TRACK_NAME {
            return Err(HttpError::new(
                StatusCode::URI_TOO_LONG,
                format!(
                    "track name of {} bytes is over the {}-byte limit",
                    track.len(),
                    moql_model::MAX_TRACK_NAME
                ),
            ));
        }
        let broadcast = Path::new(broadcast)
            .map_err(|err| HttpError::bad_request(format!("bad broadcast {broadcast:?}: {err}")))?;
        Ok(Self {
            broadcast,
            track: track.to_string(),
            which,
            frame,
            format,
        })
    }

    /// `track `T` of broadcast `B``, for messages.
    pub(super) fn track_name(&self) -> String {
        format!("track `{}` of broadcast `{}`", self.track, self.broadcast)
    }

    /// The URL of this request with `group` made concrete (what `Content-Location` names for
    /// "latest"): percent-encoded, the default `frame` and `format` left out, and never the
    /// `jwt` (a cache must not key on, or leak, a credential).
    pub(super) fn location(&self, group: u64) -> String {
        let mut url = format!(
            "/fetch/{}/{}?group={group}",
            encode(self.broadcast.as_str()),
            encode(&self.track)
        );
        if self.frame != 0 {
            url.push_str(&format!("&frame={}", self.frame));
        }
        if self.format == Format::Frames {
            url.push_str("&format=frames");
        }
        url
    }
}

/// Percent-encodes every byte outside RFC 3986's unreserved set, keeping `/` (a path
/// separator here).
fn encode(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for byte in text.bytes() {
        if byte.is_ascii_alphanumeric() || b"-._~/".contains(&byte) {
            out.push(char::from(byte));
        } else {
            out.push_str(&format!("%{byte:02X}"));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn query(group: Option<&str>, frame: Option<&str>, format: Option<&str>) -> FetchQuery {
        FetchQuery {
            group: group.map(str::to_string),
            frame: frame.map(str::to_string),
            format: format.map(str::to_string),
            jwt: None,
        }
    }

    #[test]
    fn no_group_means_the_latest_and_defaults_are_frame_zero_payloads() {
        let request = FetchRequest::parse("room/a/video", &query(None, None, None)).unwrap();
        assert_eq!(request.broadcast.as_str(), "room/a");
        assert_eq!(request.track, "video");
        assert_eq!(request.which, Which::Latest);
        assert_eq!((request.frame, request.format), (0, Format::Payloads));
        let latest = FetchRequest::parse("room/a/video", &query(Some("latest"), None, None));
        assert_eq!(latest.unwrap(), request);
    }

    #[test]
    fn group_frame_and_format_are_parsed() {
        let request =
            FetchRequest::parse("b/t", &query(Some("7"), Some("3"), Some("frames"))).unwrap();
        assert_eq!(request.which, Which::Sequence(7));
        assert_eq!((request.frame, request.format), (3, Format::Frames));
    }

    #[test]
    fn malformed_values_and_paths_are_400() {
        for (rest, q) in [
            ("b/t", query(Some(""), None, None)),
            ("b/t", query(Some("-1"), None, None)),
            ("b/t", query(Some("18446744073709551616"), None, None)),
            ("b/t", query(Some("0"), Some("x"), None)),
            ("b/t", query(Some("0"), Some("-2"), None)),
            ("b/t", query(Some("0"), None, Some("json"))),
            ("t", query(Some("0"), None, None)),
            ("b/", query(Some("0"), None, None)),
        ] {
            let err = FetchRequest::parse(rest, &q).unwrap_err();
            assert_eq!(err.status, StatusCode::BAD_REQUEST, "{rest} {q:?}");
        }
    }

    #[test]
    fn an_over_long_track_name_is_414_without_echoing_it() {
        let rest = format!("b/{}", "x".repeat(moql_model::MAX_TRACK_NAME + 1));
        let err = FetchRequest::parse(&rest, &query(None, None, None)).unwrap_err();
        assert_eq!(err.status, StatusCode::URI_TOO_LONG);
        assert!(!err.message.contains("xxxx"));
    }

    #[test]
    fn location_names_the_concrete_group_without_the_token() {
        let mut q = query(None, Some("2"), Some("frames"));
        q.jwt = Some("secret".into());
        let request = FetchRequest::parse("live/my cam/vid?eo", &q).unwrap();
        assert_eq!(
            request.location(41),
            "/fetch/live/my%20cam/vid%3Feo?group=41&frame=2&format=frames"
        );
        let plain = FetchRequest::parse("a/b", &query(None, None, None)).unwrap();
        assert_eq!(plain.location(0), "/fetch/a/b?group=0");
    }
}
