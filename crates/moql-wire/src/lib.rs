#![doc = include_str!("../README.md")]

mod code;
mod coding;
mod message;
mod path;
mod version;

pub mod limits;

#[cfg(feature = "fuzzing")]
pub mod fuzz;
#[cfg(any(test, feature = "testing"))]
pub mod testing;

#[cfg(test)]
mod proptests;

pub use code::{CodeScope, ErrorCode};
pub use coding::{
    BoundsExceeded, Decode, DecodeError, Encode, EncodeError, VarInt, ZIGZAG_MAX, ZIGZAG_MIN,
    decode_bytes, decode_string, decode_varint, decode_vec, encode_bytes, encode_string,
    encode_varint, prefixed_len, zigzag_decode, zigzag_encode,
};
pub use message::{
    Announce, AnnounceEnd, AnnounceMessage, AnnounceOk, AnnounceRequest, AnnounceStart,
    AnnounceStatus, AnnounceUpdate, BidiStream, Datagram, Fetch, Frame, FrameDecoder, FrameEncoder,
    FrameHeader, FrameInfo, Goaway, Group, Message, Probe, ProbeLevel, Role, RouteCost, Setup,
    Subscribe, SubscribeDrop, SubscribeEnd, SubscribeOk, SubscribeOkLegacy, SubscribeResponse,
    SubscribeUpdate, Track, TrackInfo, UniStream,
};
pub use path::{Path, PathError};
pub use version::Version;
