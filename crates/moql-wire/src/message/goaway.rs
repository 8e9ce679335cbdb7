//! GOAWAY (spec 5.12): graceful shutdown with an optional redirect. lite-04+.
//!
//! ```text
//! GOAWAY {
//!   Message Length (i)
//!   New Session URI (s)        // empty = no redirect
//! }
//! ```
//!
//! The URI is at most [`MAX_GOAWAY_URI_LEN`] (8192) bytes: the release refuses a longer one
//! on every version (moq-lite-06.md section 2 row 12), so encoding one is an error and decoding
//! one is [`DecodeError::TooLarge`], checked on the URI's length prefix before its bytes are
//! read.

use bytes::{Buf, BufMut};

use super::Message;
use crate::Version;
use crate::coding::{DecodeError, EncodeError, decode_string, encode_string, string_len};
use crate::limits::MAX_GOAWAY_URI_LEN;

/// GOAWAY: the sender is going away; reconnect to `uri` if it is not empty.
#[derive(Clone, Debug, Default, PartialEq, Eq, Hash)]
pub struct Goaway {
    /// Where to reconnect; empty = no redirect. Validate it before acting on it (spec 4.7).
    pub uri: String,
}

impl Message for Goaway {
    const NAME: &'static str = "GOAWAY";

    fn exists_in(version: Version) -> bool {
        version.has_goaway()
    }

    fn check(&self, _: Version) -> Result<(), EncodeError> {
        if self.uri.len() > MAX_GOAWAY_URI_LEN {
            return Err(EncodeError::InvalidValue(
                "GOAWAY URI longer than 8192 bytes",
            ));
        }
        Ok(())
    }

    fn body_len(&self, _: Version) -> usize {
        string_len(&self.uri)
    }

    fn encode_body<B: BufMut>(&self, buf: &mut B, _: Version) -> Result<(), EncodeError> {
        encode_string(buf, &self.uri)
    }

    fn decode_body<B: Buf>(buf: &mut B, _: Version) -> Result<Self, DecodeError> {
        Ok(Self {
            uri: decode_string(buf, MAX_GOAWAY_URI_LEN)?,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{Decode, Encode};

    #[test]
    fn spec_examples_round_trip() {
        // spec 7.8: "05 01 00" (the 05 is the stream type) and the redirect example.
        let empty = Goaway::default();
        assert_eq!(empty.encode_to_vec(Version::Lite05).unwrap(), [0x01, 0x00]);
        let redirect = Goaway {
            uri: "moqt://b.example/anon".into(),
        };
        let bytes = redirect.encode_to_vec(Version::Lite04).unwrap();
        assert_eq!(bytes[..2], [0x16, 0x15]);
        assert_eq!(
            Goaway::decode_exact(&bytes, Version::Lite04).unwrap(),
            redirect
        );
    }

    #[test]
    fn uri_capped_at_8192_bytes() {
        // moq-lite-06.md section 2 row 12.
        let at_cap = Goaway {
            uri: "a".repeat(8192),
        };
        let bytes = at_cap.encode_to_vec(Version::Lite05).unwrap();
        assert_eq!(Goaway::decode_exact(&bytes, Version::Lite05), Ok(at_cap));
        let over = Goaway {
            uri: "a".repeat(8193),
        };
        assert!(matches!(
            over.encode_to_vec(Version::Lite06),
            Err(EncodeError::InvalidValue(_))
        ));
        // Message Length 8195, URI length 8193, then the URI.
        let mut wire = vec![0x60, 0x03, 0x60, 0x01];
        wire.extend(std::iter::repeat_n(b'a', 8193));
        assert_eq!(
            Goaway::decode_exact(&wire, Version::Lite06),
            Err(DecodeError::TooLarge)
        );
    }

    #[test]
    fn not_on_lite03() {
        assert_eq!(
            Goaway::default().encode_to_vec(Version::Lite03),
            Err(EncodeError::Version)
        );
        assert_eq!(
            Goaway::decode_exact(&[0x01, 0x00], Version::Lite03),
            Err(DecodeError::Version)
        );
    }
}
