//! Decode and encode errors, and the wire error code each one is reported with.

use crate::code::ErrorCode;

/// Why bytes could not be decoded.
///
/// Only [`DecodeError::Short`] means "try again with more bytes"; every other variant is final
/// for the stream (or datagram) it came from. [`DecodeError::code`] gives the code to report it
/// with (spec section 10.1).
#[non_exhaustive]
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
pub enum DecodeError {
    /// The input ended before the message did: read more bytes from the stream and decode again
    /// from the start of the message. At the end of a stream this is final.
    #[error("short buffer: more bytes needed")]
    Short,

    /// A field runs past the declared Message Length (or past the end of a datagram).
    ///
    /// The length prefix was complete, so more bytes cannot help. The reference reports this as
    /// `Short` and waits for the stream to end; the vectors' README recommends rejecting it at
    /// once as a protocol violation, which we do.
    #[error("a field runs past the end of its message")]
    Underflow,

    /// Bytes were left over inside the declared Message Length (the reference's `Long`).
    ///
    /// Spec 2.8: "Leftover bytes inside the length are an error (decode error, code 5)."
    #[error("bytes left over inside the message length")]
    Trailing,

    /// A string is not valid UTF-8.
    #[error("string is not valid UTF-8")]
    InvalidString,

    /// A field has a value the protocol does not allow (names the field).
    #[error("invalid value: {0}")]
    InvalidValue(&'static str),

    /// Unknown message type on the subscribe stream.
    #[error("unknown subscribe response type {0}")]
    InvalidMessage(u64),

    /// A bound was exceeded: more than 32 path segments, more than 32 hops, or a frame
    /// timestamp outside `0 ..= 2^62 − 1`.
    #[error("bounds exceeded")]
    BoundsExceeded,

    /// The message (or one of its forms) does not exist in the negotiated version.
    #[error("message does not exist in this version")]
    Version,

    /// A SETUP parameter id appears twice.
    #[error("duplicate SETUP parameter")]
    Duplicate,

    /// More than [`MAX_SETUP_PARAMETERS`](crate::limits::MAX_SETUP_PARAMETERS) SETUP parameters.
    #[error("too many SETUP parameters")]
    TooMany,

    /// A declared message or string length is above our cap (see [`crate::limits`]); refused
    /// before reading or allocating anything.
    #[error("declared length above the cap")]
    TooLarge,

    /// A frame payload is larger than the receiver accepts (32 MiB by default); refused from
    /// the header, before reading the payload.
    #[error("frame payload too large")]
    FrameTooLarge,

    /// The stream ended inside a frame payload.
    #[error("stream ended inside a frame payload")]
    WrongSize,
}

impl DecodeError {
    /// The error code to report this error with (spec section 10.1).
    ///
    /// Nearly everything is 5 (Decode): spec 10.1, code 11 row, "Bound violations found while
    /// *decoding* (> 32 path segments, > 32 hops) are reported as 5 instead." The exceptions
    /// are [`Version`](Self::Version) (9), [`WrongSize`](Self::WrongSize) (14) and
    /// [`FrameTooLarge`](Self::FrameTooLarge) (27).
    pub fn code(&self) -> ErrorCode {
        match self {
            Self::Version => ErrorCode::VERSION,
            Self::WrongSize => ErrorCode::WRONG_SIZE,
            Self::FrameTooLarge => ErrorCode::FRAME_TOO_LARGE,
            Self::Short
            | Self::Underflow
            | Self::Trailing
            | Self::InvalidString
            | Self::InvalidValue(_)
            | Self::InvalidMessage(_)
            | Self::BoundsExceeded
            | Self::Duplicate
            | Self::TooMany
            | Self::TooLarge => ErrorCode::DECODE,
        }
    }

    /// `true` for [`DecodeError::Short`]: the only error that more bytes can fix.
    pub fn is_short(&self) -> bool {
        matches!(self, Self::Short)
    }
}

/// Why a value could not be encoded. Nothing has been written when this is returned.
#[non_exhaustive]
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
pub enum EncodeError {
    /// The message (or a field's value) does not exist in this version.
    #[error("message does not exist in this version")]
    Version,

    /// An integer does not fit its wire field (≥ 2^62 for a varint, ≥ 2^62 − 1 for a
    /// plus-one group, more than 32 hops, a timestamp delta outside ±2^61).
    #[error("value out of range")]
    BoundsExceeded,

    /// The encoded message would be longer than our decoder accepts
    /// ([`MAX_MESSAGE_LEN`](crate::limits::MAX_MESSAGE_LEN)).
    #[error("message too large")]
    TooLarge,

    /// A field value the protocol does not allow (names the field).
    #[error("invalid value: {0}")]
    InvalidValue(&'static str),
}

impl EncodeError {
    /// The error code to report this error with (spec section 10.1).
    pub fn code(&self) -> ErrorCode {
        match self {
            Self::Version => ErrorCode::VERSION,
            Self::BoundsExceeded => ErrorCode::BOUNDS_EXCEEDED,
            Self::TooLarge | Self::InvalidValue(_) => ErrorCode::ENCODE,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn decode_errors_map_to_spec_codes() {
        assert_eq!(DecodeError::Short.code(), ErrorCode(5));
        assert_eq!(DecodeError::BoundsExceeded.code(), ErrorCode(5));
        assert_eq!(DecodeError::TooLarge.code(), ErrorCode(5));
        assert_eq!(DecodeError::Version.code(), ErrorCode(9));
        assert_eq!(DecodeError::WrongSize.code(), ErrorCode(14));
        assert_eq!(DecodeError::FrameTooLarge.code(), ErrorCode(27));
        assert!(DecodeError::Short.is_short());
        assert!(!DecodeError::Underflow.is_short());
    }

    #[test]
    fn encode_errors_map_to_spec_codes() {
        assert_eq!(EncodeError::Version.code(), ErrorCode(9));
        assert_eq!(EncodeError::BoundsExceeded.code(), ErrorCode(11));
        assert_eq!(EncodeError::TooLarge.code(), ErrorCode(18));
    }
}
