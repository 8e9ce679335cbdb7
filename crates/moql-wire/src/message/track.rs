//! TRACK (spec 5.8): the subscriber's request on a Track stream. lite-05 and later.
//!
//! ```text
//! TRACK {
//!   Message Length (i)
//!   Broadcast Path (p)
//!   Track Name (s)
//! }
//! ```
//!
//! The publisher answers with one [`TrackInfo`](crate::TrackInfo).

use bytes::{Buf, BufMut};

use super::Message;
use crate::Version;
use crate::coding::{DecodeError, EncodeError, encode_string, read_path, read_string, string_len};
use crate::path::Path;

/// TRACK: ask for a track's immutable properties.
#[derive(Clone, Debug, Default, PartialEq, Eq, Hash)]
pub struct Track {
    /// The broadcast, relative to the session root.
    pub broadcast: Path,
    /// The track name (not normalized).
    pub track: String,
}

impl Message for Track {
    const NAME: &'static str = "TRACK";

    fn exists_in(version: Version) -> bool {
        version.has_track()
    }

    fn check(&self, _: Version) -> Result<(), EncodeError> {
        Ok(())
    }

    fn body_len(&self, _: Version) -> usize {
        string_len(self.broadcast.as_str()) + string_len(&self.track)
    }

    fn encode_body<B: BufMut>(&self, buf: &mut B, _: Version) -> Result<(), EncodeError> {
        encode_string(buf, self.broadcast.as_str())?;
        encode_string(buf, &self.track)
    }

    fn decode_body<B: Buf>(buf: &mut B, _: Version) -> Result<Self, DecodeError> {
        Ok(Self {
            broadcast: read_path(buf)?,
            track: read_string(buf)?,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{Decode, Encode};

    #[test]
    fn spec_example_round_trips() {
        // spec 7.3: "0b 04 64 65 6d 6f 05 63 6c 6f 63 6b"
        let track = Track {
            broadcast: Path::new("demo").unwrap(),
            track: "clock".into(),
        };
        let bytes = track.encode_to_vec(Version::Lite05).unwrap();
        assert_eq!(bytes, b"\x0b\x04demo\x05clock");
        assert_eq!(Track::decode_exact(&bytes, Version::Lite05).unwrap(), track);
    }

    #[test]
    fn only_on_lite05() {
        let bytes = b"\x0b\x04demo\x05clock";
        for v in [Version::Lite03, Version::Lite04] {
            assert_eq!(Track::decode_exact(bytes, v), Err(DecodeError::Version));
            assert_eq!(Track::default().encode_to_vec(v), Err(EncodeError::Version));
        }
    }
}
