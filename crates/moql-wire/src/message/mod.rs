//! Every moq-lite message, one file each, plus the [`Message`] trait that frames most of them.
//!
//! Spec 2.8: "Almost every message is **length-prefixed**": `Message Length (i)` then exactly
//! that many body bytes. A [`Message`] implementation only describes its body; the blanket
//! [`Encode`] / [`Decode`] impls add the framing, the version check and the length rules:
//!
//! * the declared length is checked against [`MAX_MESSAGE_LEN`] before anything is read
//!   ([`DecodeError::TooLarge`]);
//! * fewer bytes available than declared is [`DecodeError::Short`] (wait for more);
//! * a field running past the declared length is [`DecodeError::Underflow`];
//! * bytes left inside the length are [`DecodeError::Trailing`] (spec 2.8: "Leftover bytes
//!   inside the length are an error").
//!
//! The exceptions are the stream type header ([`BidiStream`], [`UniStream`]), the typed
//! Subscribe-stream responses ([`SubscribeResponse`]), the typed lite-06 announcements
//! ([`AnnounceMessage`]), FRAME ([`FrameHeader`],
//! [`FrameEncoder`], [`FrameDecoder`]) and the datagram body ([`Datagram`]).

mod announce;
mod announce_ok;
mod announce_request;
mod announce_typed;
mod datagram;
mod delivery;
mod fetch;
mod frame;
mod goaway;
mod group;
mod probe;
mod setup;
mod stream_type;
mod subscribe;
mod subscribe_response;
mod subscribe_update;
mod track;
mod track_info;

use bytes::{Buf, BufMut};

use crate::Version;
use crate::coding::{
    Decode, DecodeError, Encode, EncodeError, VarInt, decode_varint, encode_varint,
};
use crate::limits::MAX_MESSAGE_LEN;

pub use announce::{Announce, AnnounceStatus};
pub use announce_ok::AnnounceOk;
pub use announce_request::AnnounceRequest;
pub use announce_typed::{AnnounceEnd, AnnounceMessage, AnnounceStart, AnnounceUpdate, RouteCost};
pub use datagram::Datagram;
pub use fetch::Fetch;
pub use frame::{Frame, FrameDecoder, FrameEncoder, FrameHeader, FrameInfo};
pub use goaway::Goaway;
pub use group::Group;
pub use probe::Probe;
pub use setup::{ProbeLevel, Role, Setup};
pub use stream_type::{BidiStream, UniStream};
pub use subscribe::Subscribe;
pub use subscribe_response::{
    SubscribeDrop, SubscribeEnd, SubscribeOk, SubscribeOkLegacy, SubscribeResponse,
};
pub use subscribe_update::SubscribeUpdate;
pub use track::Track;
pub use track_info::TrackInfo;

/// A length-prefixed message: implement the body, get [`Encode`] and [`Decode`] for free.
pub trait Message: Sized {
    /// The spec's name for the message, e.g. `"SUBSCRIBE"`.
    const NAME: &'static str;

    /// Whether the message exists in `version`. Encoding or decoding it in another version
    /// fails with [`EncodeError::Version`] / [`DecodeError::Version`] before touching a byte.
    fn exists_in(version: Version) -> bool;

    /// Checks every field fits its wire form in `version`, so that
    /// [`encode_body`](Self::encode_body) cannot fail half way.
    ///
    /// # Errors
    ///
    /// [`EncodeError::BoundsExceeded`] or [`EncodeError::InvalidValue`] naming the problem.
    fn check(&self, version: Version) -> Result<(), EncodeError>;

    /// Exact size of the body in `version`, without the length prefix.
    fn body_len(&self, version: Version) -> usize;

    /// Writes the body (called only after [`check`](Self::check) passed).
    ///
    /// # Errors
    ///
    /// Only if `check` missed something; the output is then incomplete.
    fn encode_body<B: BufMut>(&self, buf: &mut B, version: Version) -> Result<(), EncodeError>;

    /// Reads the body from `buf`, which holds exactly the declared Message Length. Running out
    /// of bytes is reported as [`DecodeError::Short`] and turned into
    /// [`DecodeError::Underflow`] by the framing.
    ///
    /// # Errors
    ///
    /// See [`DecodeError`].
    fn decode_body<B: Buf>(buf: &mut B, version: Version) -> Result<Self, DecodeError>;
}

impl<M: Message> Encode for M {
    fn encode<B: BufMut>(&self, buf: &mut B, version: Version) -> Result<(), EncodeError> {
        if !M::exists_in(version) {
            return Err(EncodeError::Version);
        }
        self.check(version)?;
        let len = self.body_len(version);
        if len > MAX_MESSAGE_LEN {
            return Err(EncodeError::TooLarge);
        }
        encode_varint(buf, len as u64)?;
        self.encode_body(buf, version)
    }

    fn encoded_len(&self, version: Version) -> usize {
        let len = self.body_len(version);
        VarInt::size_of(len as u64) + len
    }
}

impl<M: Message> Decode for M {
    fn decode<B: Buf>(buf: &mut B, version: Version) -> Result<Self, DecodeError> {
        if !M::exists_in(version) {
            return Err(DecodeError::Version);
        }
        decode_framed(buf, |body| M::decode_body(body, version))
    }
}

/// Reads a Message Length and runs `body` on exactly that many bytes (spec 2.8).
pub(crate) fn decode_framed<B: Buf, T>(
    buf: &mut B,
    body: impl FnOnce(&mut bytes::buf::Take<&mut B>) -> Result<T, DecodeError>,
) -> Result<T, DecodeError> {
    let len = decode_varint(buf)?;
    if len > MAX_MESSAGE_LEN as u64 {
        return Err(DecodeError::TooLarge);
    }
    // Lossless: len <= MAX_MESSAGE_LEN.
    let len = len as usize;
    if buf.remaining() < len {
        return Err(DecodeError::Short);
    }
    let mut limited = buf.take(len);
    // The whole body is present, so running out inside it can never be fixed by waiting.
    let value = body(&mut limited).map_err(|e| match e {
        DecodeError::Short => DecodeError::Underflow,
        other => other,
    })?;
    // spec 2.8: "The body decoder must consume **exactly** `Message Length` bytes."
    if limited.has_remaining() {
        return Err(DecodeError::Trailing);
    }
    Ok(value)
}

/// Writes a Message Length for a body of `len` bytes after checking the cap.
pub(crate) fn encode_len<B: BufMut>(buf: &mut B, len: usize) -> Result<(), EncodeError> {
    if len > MAX_MESSAGE_LEN {
        return Err(EncodeError::TooLarge);
    }
    encode_varint(buf, len as u64)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn wire_types_are_send_sync_unpin() {
        fn assert_auto<T: Send + Sync + Unpin + 'static>() {}
        assert_auto::<Setup>();
        assert_auto::<AnnounceRequest>();
        assert_auto::<AnnounceOk>();
        assert_auto::<Announce>();
        assert_auto::<AnnounceMessage>();
        assert_auto::<Subscribe>();
        assert_auto::<SubscribeUpdate>();
        assert_auto::<SubscribeResponse>();
        assert_auto::<Track>();
        assert_auto::<TrackInfo>();
        assert_auto::<Fetch>();
        assert_auto::<Probe>();
        assert_auto::<Goaway>();
        assert_auto::<Group>();
        assert_auto::<Frame>();
        assert_auto::<FrameEncoder>();
        assert_auto::<FrameDecoder>();
        assert_auto::<Datagram>();
        assert_auto::<crate::Path>();
        assert_auto::<DecodeError>();
        assert_auto::<EncodeError>();
    }

    #[test]
    fn framing_errors_are_classified() {
        let v = Version::Lite05;
        assert_eq!(Group::decode_exact(&[], v), Err(DecodeError::Short));
        assert_eq!(
            Group::decode_exact(&[0x05, 0x01, 0x02], v),
            Err(DecodeError::Short)
        );
        assert_eq!(
            Group::decode_exact(&[0x01, 0x05], v),
            Err(DecodeError::Underflow)
        );
        assert_eq!(
            Group::decode_exact(&[0x03, 0x01, 0x02, 0x00], v),
            Err(DecodeError::Trailing)
        );
        // A declared length above the cap is refused before waiting for the body.
        assert_eq!(
            Group::decode_exact(&[0x80, 0x01, 0x00, 0x01], v),
            Err(DecodeError::TooLarge)
        );
    }
}
