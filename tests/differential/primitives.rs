//! The primitives under every message, against the reference's: varints (its `fuzz::varint`
//! target) and broadcast path normalization (its `Path::new`), since a receiver that
//! normalizes a path differently routes the same bytes to a different broadcast.

use moql_wire::{Decode, Path, Version, decode_varint, testing};
use proptest::prelude::*;

use crate::{hex, selector};

proptest! {
    /// 0 to 9 bytes: both QUIC varint decoders accept exactly the same inputs (the reference's
    /// varint target picks a lite version with an even selector, `selector / 2`).
    #[test]
    fn varints_agree(
        version in prop::sample::select(Version::ALL.to_vec()),
        bytes in prop::collection::vec(any::<u8>(), 0..=9),
    ) {
        let mut input = vec![selector(version) * 2];
        input.extend_from_slice(&bytes);
        let theirs = moq_net::fuzz::varint(&input);
        let ours = decode_varint(&mut bytes.as_slice()).is_ok();
        prop_assert_eq!(ours, theirs, "{} at {}", hex(&bytes), version);
    }

    /// Any path-ish text we accept normalizes to what the reference's `Path::new` gives, and
    /// the encoded path decodes on both sides.
    #[test]
    fn path_normalization_agrees(raw in prop_oneof![testing::raw_path(), "[/a.]{0,12}", "(a/){28,36}"]) {
        let theirs = moq_net::Path::new(&raw);
        match Path::new(&raw) {
            Ok(ours) => prop_assert_eq!(ours.as_str(), theirs.as_str(), "{:?}", raw),
            // We refuse more than 32 segments; the reference refuses them on the wire.
            Err(_) => prop_assert!(theirs.parts().count() > 32, "{:?}", raw),
        }
    }

    /// A path string as it arrives on the wire (not normalized by the sender) decodes to the
    /// same normalized path with both codecs, or is refused by both: via TRACK's first field.
    #[test]
    fn wire_paths_agree(raw in prop_oneof![testing::raw_path(), "[/a.]{0,12}", "(a/){28,36}"]) {
        let v = Version::Lite06;
        let mut body = Vec::new();
        moql_wire::encode_string(&mut body, &raw).map_err(|e| TestCaseError::fail(e.to_string()))?;
        moql_wire::encode_string(&mut body, "t").map_err(|e| TestCaseError::fail(e.to_string()))?;
        let mut wire = Vec::new();
        moql_wire::encode_varint(&mut wire, body.len() as u64).map_err(|e| TestCaseError::fail(e.to_string()))?;
        wire.extend_from_slice(&body);
        let ours = moql_wire::Track::decode_exact(&wire, v);
        let theirs = crate::theirs_accepts(v, crate::Kind::Track, &wire).map_err(TestCaseError::fail)?;
        prop_assert_eq!(ours.is_ok(), theirs, "{:?}", raw);
        if let Ok(track) = ours {
            let theirs = moq_net::Path::new(&raw);
            prop_assert_eq!(track.broadcast.as_str(), theirs.as_str());
        }
    }
}
