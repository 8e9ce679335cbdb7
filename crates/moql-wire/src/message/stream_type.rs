//! The stream type header (spec 2.9, 3.1): a bare varint at the start of every stream.
//!
//! Unidirectional and bidirectional numbering are independent: type 1 is Setup on a
//! unidirectional stream and Announce on a bidirectional one. The draft calls it one byte; the
//! reference reads a varint (identical for every defined value, and `40 02` decodes as 2).
//!
//! The header decodes the same way in every version. Whether a stream type is *allowed* in a
//! version is a separate question answered by [`BidiStream::allowed_in`] /
//! [`UniStream::allowed_in`].

use bytes::{Buf, BufMut};

use crate::Version;
use crate::coding::{Decode, DecodeError, Encode, EncodeError, VarInt, decode_varint};

macro_rules! stream_enum {
    ($(#[$meta:meta])* $name:ident, $what:literal { $($(#[doc = $doc:literal])* $variant:ident = $value:literal,)* }) => {
        $(#[$meta])*
        #[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
        pub enum $name {
            $($(#[doc = $doc])* $variant = $value,)*
        }

        impl $name {
            /// The type for a wire value.
            ///
            /// # Errors
            ///
            /// [`DecodeError::InvalidValue`] for an unknown value.
            pub fn from_u64(value: u64) -> Result<Self, DecodeError> {
                match value {
                    $($value => Ok(Self::$variant),)*
                    _ => Err(DecodeError::InvalidValue($what)),
                }
            }

            /// The wire value.
            pub const fn into_u64(self) -> u64 {
                self as u64
            }
        }

        impl Encode for $name {
            fn encode<B: BufMut>(&self, buf: &mut B, _: Version) -> Result<(), EncodeError> {
                VarInt::from_u32(*self as u32).encode(buf);
                Ok(())
            }

            fn encoded_len(&self, _: Version) -> usize {
                VarInt::size_of(self.into_u64())
            }
        }

        impl Decode for $name {
            fn decode<B: Buf>(buf: &mut B, _: Version) -> Result<Self, DecodeError> {
                Self::from_u64(decode_varint(buf)?)
            }
        }
    };
}

stream_enum! {
    /// The type of a bidirectional stream, written by its opener.
    BidiStream, "unknown bidirectional stream type" {
        /// 0x0: lite-01/02 session setup; refused in lite-03+ (never allowed here).
        Session = 0,
        /// 0x1: announcements (ANNOUNCE_REQUEST → ANNOUNCE_OK?, ANNOUNCE*).
        Announce = 1,
        /// 0x2: a subscription (SUBSCRIBE, SUBSCRIBE_UPDATE* → responses).
        Subscribe = 2,
        /// 0x3: fetch one group (FETCH → FRAME*).
        Fetch = 3,
        /// 0x4: bandwidth probe (nothing → PROBE*).
        Probe = 4,
        /// 0x5: graceful shutdown (GOAWAY).
        Goaway = 5,
        /// 0x6: track properties (TRACK → TRACK_INFO).
        Track = 6,
    }
}

stream_enum! {
    /// The type of a unidirectional stream, written by its sender.
    UniStream, "unknown unidirectional stream type" {
        /// 0x0: one group (GROUP, FRAME*).
        Group = 0,
        /// 0x1: the endpoint's SETUP (lite-05 and later).
        Setup = 1,
    }
}

impl BidiStream {
    /// Whether a peer may open this stream type in `version` (older-versions.md, "Streams").
    /// Fetch and Track streams are served only where [`Version::has_fetch`] /
    /// [`Version::has_track`]; Goaway streams exist where [`Version::has_goaway`].
    pub const fn allowed_in(self, version: Version) -> bool {
        match self {
            Self::Session => false,
            Self::Announce | Self::Subscribe | Self::Probe => true,
            Self::Fetch => version.has_fetch(),
            Self::Goaway => version.has_goaway(),
            Self::Track => version.has_track(),
        }
    }
}

impl UniStream {
    /// Whether a peer may open this stream type in `version`: Setup streams only where
    /// [`Version::has_setup`] (before lite-05 they are stopped with UnexpectedStream).
    pub const fn allowed_in(self, version: Version) -> bool {
        match self {
            Self::Group => true,
            Self::Setup => version.has_setup(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn values_round_trip() {
        for v in 0..=6u64 {
            let t = BidiStream::from_u64(v).unwrap();
            assert_eq!(t.into_u64(), v);
            assert_eq!(t.encode_to_vec(Version::Lite05).unwrap(), [v as u8]);
        }
        assert_eq!(
            UniStream::decode_exact(&[0x01], Version::Lite03).unwrap(),
            UniStream::Setup
        );
        assert_eq!(
            BidiStream::decode_exact(&[0x40, 0x02], Version::Lite05).unwrap(),
            BidiStream::Subscribe
        );
    }

    #[test]
    fn unknown_types_are_invalid() {
        assert!(matches!(
            BidiStream::from_u64(7),
            Err(DecodeError::InvalidValue(_))
        ));
        assert!(matches!(
            UniStream::from_u64(2),
            Err(DecodeError::InvalidValue(_))
        ));
        assert_eq!(
            BidiStream::decode_exact(&[0x40], Version::Lite05),
            Err(DecodeError::Short)
        );
    }

    #[test]
    fn permissions_follow_the_version() {
        assert!(BidiStream::Track.allowed_in(Version::Lite05));
        assert!(!BidiStream::Track.allowed_in(Version::Lite04));
        assert!(!BidiStream::Fetch.allowed_in(Version::Lite03));
        assert!(BidiStream::Goaway.allowed_in(Version::Lite04));
        assert!(!BidiStream::Session.allowed_in(Version::Lite05));
        assert!(!UniStream::Setup.allowed_in(Version::Lite04));
    }
}
