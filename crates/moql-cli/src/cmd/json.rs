//! `--json`: one JSON object per line for each frame (`subscribe`, `fetch`) or announcement
//! event (`announced`), for scripts and `jq`.
//!
//! A frame:
//!
//! ```json
//! {"broadcast":"demo/clock","track":"clock","group":7,"frame":0,"pts":7000,
//!  "timestamp":"2026-01-31T12:34:56.700Z","timestamp_ms":1769862896700,"size":5,
//!  "encoding":"text","payload":"hello"}
//! ```
//!
//! `frame` is the frame's index in its group (from 0); `pts` the publisher's presentation
//! timestamp in the track's timescale (milliseconds for `moql publish`); `timestamp` and
//! `timestamp_ms` when `moql` received the frame (RFC 3339 UTC with milliseconds, and Unix
//! milliseconds); `size` the payload's length in bytes. `encoding` says how `payload` holds
//! the bytes: `"text"` when they are valid UTF-8 (the string is the payload), else
//! `"base64"` (standard alphabet, padded).
//!
//! An announcement event: `{"event":"announce"|"unannounce","broadcast":"demo/clock",
//! "timestamp":"…","timestamp_ms":…}`.

use base64::Engine as _;
use moql_model::Frame;
use serde::Serialize;

use crate::stats::{format_utc, now_micros};

/// One frame as a JSON object.
#[derive(Debug, Serialize)]
struct FrameRecord<'a> {
    broadcast: &'a str,
    track: &'a str,
    group: u64,
    frame: u64,
    pts: u64,
    timestamp: String,
    timestamp_ms: u64,
    size: usize,
    encoding: &'static str,
    payload: String,
}

/// One announcement event as a JSON object.
#[derive(Debug, Serialize)]
struct EventRecord<'a> {
    event: &'static str,
    broadcast: &'a str,
    timestamp: String,
    timestamp_ms: u64,
}

/// The line (with its `\n`) for frame `index` of group `group` of `broadcast`/`track`,
/// received at `received_ms` (Unix milliseconds).
pub(crate) fn frame_line(
    broadcast: &str,
    track: &str,
    group: u64,
    index: u64,
    frame: &Frame,
    received_ms: u64,
) -> String {
    let (encoding, payload) = match std::str::from_utf8(&frame.payload) {
        Ok(text) => ("text", text.to_string()),
        Err(_) => (
            "base64",
            base64::engine::general_purpose::STANDARD.encode(&frame.payload),
        ),
    };
    line(&FrameRecord {
        broadcast,
        track,
        group,
        frame: index,
        pts: frame.timestamp,
        timestamp: format_utc(received_ms),
        timestamp_ms: received_ms,
        size: frame.payload.len(),
        encoding,
        payload,
    })
}

/// The line for an announcement (`active`) or its end, received at `received_ms`.
pub(crate) fn event_line(active: bool, broadcast: &str, received_ms: u64) -> String {
    line(&EventRecord {
        event: if active { "announce" } else { "unannounce" },
        broadcast,
        timestamp: format_utc(received_ms),
        timestamp_ms: received_ms,
    })
}

/// Milliseconds since the Unix epoch, now.
pub(crate) fn now_ms() -> u64 {
    now_micros() / 1000
}

/// `record` as compact JSON and a newline.
fn line(record: &impl Serialize) -> String {
    // Serializing plain strings and integers cannot fail.
    let mut text = serde_json::to_string(record).unwrap_or_default();
    text.push('\n');
    text
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn text_payloads_stay_text_and_others_are_base64() {
        let text = frame_line("a/b", "t", 3, 1, &Frame::new(42, "héllo\n"), 0);
        let value: serde_json::Value = serde_json::from_str(&text).unwrap();
        assert_eq!(value["encoding"], "text");
        assert_eq!(value["payload"], "héllo\n");
        assert_eq!(value["size"], 7);
        assert_eq!(
            (value["group"].as_u64(), value["frame"].as_u64()),
            (Some(3), Some(1))
        );
        assert_eq!(value["pts"], 42);
        assert_eq!(value["timestamp"], "1970-01-01T00:00:00.000Z");
        assert!(text.ends_with("}\n") && text.matches('\n').count() == 1);

        let binary = frame_line("a/b", "t", 0, 0, &Frame::new(0, &b"\xff\x00"[..]), 1_500);
        let value: serde_json::Value = serde_json::from_str(&binary).unwrap();
        assert_eq!(
            (value["encoding"].as_str(), value["payload"].as_str()),
            (Some("base64"), Some("/wA="))
        );
        assert_eq!(value["timestamp_ms"], 1_500);
    }

    #[test]
    fn events_name_their_kind() {
        let value: serde_json::Value = serde_json::from_str(&event_line(false, "x", 0)).unwrap();
        assert_eq!(
            (value["event"].as_str(), value["broadcast"].as_str()),
            (Some("unannounce"), Some("x"))
        );
    }
}
