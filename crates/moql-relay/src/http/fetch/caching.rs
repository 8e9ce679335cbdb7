//! How a `/fetch` answer may be cached, decided without IO (unit-tested below): the
//! `Cache-Control` of each kind of answer, the `ETag` of a finished group's body, and the
//! `If-None-Match` comparison that turns a repeat into `304 Not Modified`.
//!
//! A finished group never changes (a sequence names one group: a second group with the same
//! sequence is refused as a duplicate, spec 4.8), so its answer is immutable and its validator
//! is the body itself. A group still being written is different on every read, and "latest" names a
//! different group as the track goes on: neither may be reused without asking.

use moql_model::Frame;

use super::request::{Format, Which};

/// `Cache-Control` of a finished group named by sequence: a CDN may keep it for a year and
/// never revalidate.
pub(super) const IMMUTABLE: &str = "public, max-age=31536000, immutable";
/// `Cache-Control` of "latest": storable, but revalidated on every use (the ETag makes the
/// revalidation cheap while the latest group stays the same).
pub(super) const REVALIDATE: &str = "no-cache";
/// `Cache-Control` of a group still being written, and of every error: never stored.
pub(super) const NO_STORE: &str = "no-store";

/// Up to this many body bytes are hashed on the async runtime; larger bodies on the blocking
/// pool (SHA-256 runs at roughly 1 GB/s here, so 64 KiB is ~60 µs: below a scheduler tick).
pub(super) const INLINE_HASH_BYTES: usize = 64 * 1024;

/// What the caching headers of a `200` (or `304`) are.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(super) struct Caching {
    /// The `Cache-Control` value.
    pub(super) cache_control: &'static str,
    /// The `ETag` value (quoted), for a finished group only.
    pub(super) etag: Option<String>,
}

/// The caching headers of an answer for `which` whose group is `finished` (complete) or
/// not, with `etag` the finished body's validator.
pub(super) fn caching(which: Which, finished: bool, etag: Option<String>) -> Caching {
    if !finished {
        // The body is whatever arrives until the group ends: no validator can describe it.
        return Caching {
            cache_control: NO_STORE,
            etag: None,
        };
    }
    let cache_control = match which {
        Which::Sequence(_) => IMMUTABLE,
        Which::Latest => REVALIDATE,
    };
    Caching {
        cache_control,
        etag,
    }
}

/// True when `if_none_match` (the request header) matches `etag`, so the answer is `304`:
/// `*`, or any listed tag equal under the weak comparison (RFC 9110 13.1.2: "A recipient MUST
/// use the weak comparison function when comparing entity tags for If-None-Match").
pub(super) fn not_modified(if_none_match: &str, etag: &str) -> bool {
    let etag = etag.strip_prefix("W/").unwrap_or(etag);
    if_none_match
        .split(',')
        .map(str::trim)
        .any(|tag| tag == "*" || tag.strip_prefix("W/").unwrap_or(tag) == etag)
}

/// The number of body bytes `frames` make in `format`.
pub(super) fn body_len(frames: &[Frame], format: Format) -> u64 {
    let prefix = match format {
        Format::Payloads => 0,
        Format::Frames => 4,
    };
    frames.iter().map(|f| f.len() as u64 + prefix).sum()
}

/// The strong `ETag` of the body `frames` make in `format`: the first 128 bits of its
/// SHA-256 in hex, quoted. 128 bits keep collisions out of reach for any cache's lifetime
/// while keeping the header short.
pub(super) fn etag(frames: &[Frame], format: Format) -> String {
    let mut hash = ring::digest::Context::new(&ring::digest::SHA256);
    for frame in frames {
        if format == Format::Frames {
            // A frame over u32 never reaches a body (the stream refuses it).
            let len = u32::try_from(frame.len()).unwrap_or(u32::MAX);
            hash.update(&len.to_be_bytes());
        }
        hash.update(&frame.payload);
    }
    let digest = hash.finish();
    format!("\"{}\"", hex::encode(&digest.as_ref()[..16]))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn frames(payloads: &[&[u8]]) -> Vec<Frame> {
        payloads.iter().map(|p| Frame::new(0, p.to_vec())).collect()
    }

    #[test]
    fn a_finished_group_is_immutable_latest_revalidates_and_live_is_never_stored() {
        let tag = Some("\"ab\"".to_string());
        let finished = caching(Which::Sequence(3), true, tag.clone());
        assert_eq!(finished.cache_control, IMMUTABLE);
        assert_eq!(finished.etag, tag);
        let latest = caching(Which::Latest, true, tag.clone());
        assert_eq!(
            (latest.cache_control, latest.etag),
            (REVALIDATE, tag.clone())
        );
        for which in [Which::Sequence(3), Which::Latest] {
            let live = caching(which, false, tag.clone());
            assert_eq!((live.cache_control, live.etag), (NO_STORE, None));
        }
    }

    #[test]
    fn if_none_match_uses_the_weak_comparison_over_a_list_or_star() {
        let tag = "\"0123\"";
        assert!(not_modified("\"0123\"", tag));
        assert!(not_modified("W/\"0123\"", tag));
        assert!(not_modified("\"x\", \"0123\"", tag));
        assert!(not_modified("*", tag));
        assert!(!not_modified("\"0124\"", tag));
        assert!(
            !not_modified("0123", tag),
            "an unquoted tag is not the same tag"
        );
        assert!(!not_modified("", tag));
    }

    #[test]
    fn the_etag_is_128_bits_of_the_bodys_sha256_and_depends_on_the_layout() {
        let group = frames(&[b"hello", b" ", b"world"]);
        // SHA-256("hello world") = b94d27b9934d3e08a52e52d7da7dabfa…
        assert_eq!(
            etag(&group, Format::Payloads),
            "\"b94d27b9934d3e08a52e52d7da7dabfa\""
        );
        assert_eq!(etag(&group[1..], Format::Payloads).len(), 34);
        assert_ne!(etag(&group, Format::Frames), etag(&group, Format::Payloads));
        assert_ne!(
            etag(&group[1..], Format::Payloads),
            etag(&group, Format::Payloads)
        );
        // The same body from different frames is the same representation.
        assert_eq!(
            etag(&frames(&[b"hello world"]), Format::Payloads),
            etag(&group, Format::Payloads)
        );
    }

    #[test]
    fn body_len_counts_length_prefixes_only_in_the_frames_layout() {
        let group = frames(&[b"ab", b"", b"c"]);
        assert_eq!(body_len(&group, Format::Payloads), 3);
        assert_eq!(body_len(&group, Format::Frames), 15);
        assert_eq!(body_len(&[], Format::Frames), 0);
    }
}
