//! Errors: [`SessionError`] for a whole session, and the per-stream error that decides which
//! code a stream is reset with.

use moql_wire::{DecodeError, EncodeError, ErrorCode};

/// Why a session failed or ended.
///
/// Split by fault: the peer broke the protocol ([`Protocol`](Self::Protocol)), the peer or the
/// network ended the connection ([`Closed`](Self::Closed), [`Transport`](Self::Transport)), or
/// the local side asked for something impossible ([`Config`](Self::Config)).
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum SessionError {
    /// The peer violated the protocol; the session was closed with `code`.
    #[error("protocol violation ({code}): {reason}")]
    Protocol {
        /// The code the session was closed with.
        code: ErrorCode,
        /// What went wrong.
        reason: String,
    },
    /// The session was closed (by either side) with this application code and reason.
    #[error("session closed with code {}: {reason}", .code.0)]
    Closed {
        /// The close code ([`ErrorCode::CANCEL`] = normal close).
        code: ErrorCode,
        /// The close reason text.
        reason: String,
    },
    /// The transport failed (connection lost, timed out, reset).
    #[error("transport error: {0}")]
    Transport(String),
    /// The local configuration cannot work (e.g. an origin ID of 2^62 or more).
    #[error("invalid configuration: {0}")]
    Config(String),
}

impl SessionError {
    /// The code to close a session with for this error.
    pub fn code(&self) -> ErrorCode {
        match self {
            Self::Protocol { code, .. } | Self::Closed { code, .. } => *code,
            Self::Transport(_) => ErrorCode::REQUIRED_EXTENSION,
            Self::Config(_) => ErrorCode::CANCEL,
        }
    }

    pub(crate) fn transport(err: impl std::fmt::Display) -> Self {
        Self::Transport(err.to_string())
    }
}

/// Why one stream failed: decides the reset/stop code and whether the session survives.
#[derive(Clone, Debug, thiserror::Error)]
pub(crate) enum StreamError {
    /// The peer's bytes did not decode.
    #[error("decode: {0}")]
    Decode(#[from] DecodeError),
    /// A later message on an understood stream did not decode: reset with its code (spec 4.4:
    /// "A SUBSCRIBE_UPDATE that fails to decode makes the reference publisher RESET with
    /// code 5").
    #[error("malformed message: {0}")]
    Malformed(DecodeError),
    /// We could not encode (a value out of range from the model).
    #[error("encode: {0}")]
    Encode(#[from] EncodeError),
    /// The model refused or failed (not found, dropped, …) — carried to the peer as its code.
    #[error("{0}")]
    Model(#[from] moql_model::Error),
    /// The peer reset or stopped the stream with this code.
    #[error("reset by the peer with code {}", .0.0)]
    Reset(ErrorCode),
    /// The stream ended before a complete message.
    #[error("stream ended early")]
    UnexpectedEnd,
    /// Bytes arrived where the protocol allows none.
    #[error("unexpected data")]
    UnexpectedData,
    /// The session or connection is gone.
    #[error("transport: {0}")]
    Transport(String),
    /// The peer broke a rule of the stream that ends the session (lite-06's announce IDs):
    /// closed with ProtocolViolation.
    #[error("protocol violation: {0}")]
    Violation(&'static str),
    /// A configured limit was hit (see [`SessionConfig`](crate::SessionConfig)): reset (or,
    /// on the announce stream, close the session) with this code.
    #[error("{1} limit exceeded (code {0})")]
    Limit(ErrorCode, &'static str),
}

impl StreamError {
    /// The code to reset this stream with.
    pub(crate) fn code(&self) -> ErrorCode {
        match self {
            Self::Decode(err) | Self::Malformed(err) => err.code(),
            Self::Encode(_) => ErrorCode::ENCODE,
            Self::Model(err) => err.code(),
            Self::Reset(code) => *code,
            Self::UnexpectedEnd => ErrorCode::DECODE,
            Self::UnexpectedData => ErrorCode::DECODE,
            Self::Transport(_) => ErrorCode::TRANSPORT,
            Self::Limit(code, _) => *code,
            Self::Violation(_) => ErrorCode::PROTOCOL_VIOLATION,
        }
    }

    /// The model error a consumer sees for this stream failure.
    pub(crate) fn to_model(&self) -> moql_model::Error {
        match self {
            Self::Model(err) => err.clone(),
            Self::Reset(code) => moql_model::Error::from_code(*code),
            Self::Transport(_) => moql_model::Error::Transport,
            other => moql_model::Error::from_code(other.code()),
        }
    }

    pub(crate) fn transport(err: impl std::fmt::Display) -> Self {
        Self::Transport(err.to_string())
    }

    /// Marks a decode failure as happening after the request was understood: a later message
    /// that does not decode, or that a FIN cuts short, resets the stream with its code (5),
    /// where a request that never decoded is dropped with 0 (spec 3.3, 4.4).
    pub(crate) fn after_request(self) -> Self {
        match self {
            Self::Decode(err) => Self::Malformed(err),
            Self::UnexpectedEnd => Self::Malformed(DecodeError::Short),
            other => other,
        }
    }
}

/// Turns a transport error into a stream error, keeping the peer's stream code if it has one.
pub(crate) fn from_transport<E: web_transport_trait::Error>(err: E) -> StreamError {
    match err.stream_error() {
        Some(code) => StreamError::Reset(ErrorCode(code)),
        None => StreamError::transport(err),
    }
}
