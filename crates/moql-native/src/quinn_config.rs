//! What the server and the client share about quinn: the transport parameters, reading the
//! negotiated ALPN and SNI back from the handshake, and recognising a failed ALPN negotiation.

use std::sync::Arc;
use std::time::Duration;

use moql_wire::Version;

use super::TransportError;

/// The ALPN of HTTP/3, under which WebTransport runs (spec 1.3).
pub(crate) const H3_ALPN: &[u8] = b"h3";

/// Bytes of received datagrams quinn buffers before dropping the oldest (and of datagrams
/// queued for sending). Setting the receive side is what advertises the QUIC
/// `max_datagram_frame_size` transport parameter, which spec 4.9 needs on both sides.
/// 1 MiB holds about 800 full-size datagrams: a few video frames' worth at high bitrates.
const DATAGRAM_BUFFER: usize = 1024 * 1024;

/// Bytes of stream data the peer may send on one connection beyond what the application has
/// read (the QUIC connection receive window). quinn's default is unlimited, so a peer could
/// fill every stream's own window (1.25 MB each, up to `max_streams` of each direction) in
/// streams the application has not reached. 16 MiB sustains 1.3 Gbit/s at 100 ms RTT on one
/// connection; every stream we accept is read at once, so honest traffic never waits on it.
pub(crate) const RECEIVE_WINDOW: u32 = 16 * 1024 * 1024;

/// The TLS alert `no_application_protocol` (RFC 8446 section 6), carried as QUIC crypto error
/// `0x100 + 120 = 0x178` when ALPN negotiation fails (spec 1.2).
const NO_APPLICATION_PROTOCOL: u8 = 120;

/// The quinn transport parameters both sides use.
///
/// A zero `idle_timeout` disables the idle timeout and a zero `keep_alive` disables
/// keep-alives. `max_streams` bounds the concurrent bidirectional and (separately)
/// unidirectional streams the peer may open.
///
/// # Errors
///
/// [`TransportError::Config`] if `idle_timeout` exceeds what QUIC can encode (2^62 ms).
pub(crate) fn transport_config(
    idle_timeout: Duration,
    keep_alive: Duration,
    max_streams: u32,
) -> Result<Arc<quinn::TransportConfig>, TransportError> {
    let mut config = quinn::TransportConfig::default();
    let idle = if idle_timeout.is_zero() {
        None
    } else {
        Some(quinn::IdleTimeout::try_from(idle_timeout).map_err(|_| {
            TransportError::Config(format!("idle timeout {idle_timeout:?} is too large"))
        })?)
    };
    config
        .max_idle_timeout(idle)
        .keep_alive_interval((!keep_alive.is_zero()).then_some(keep_alive))
        .max_concurrent_bidi_streams(quinn::VarInt::from_u32(max_streams))
        .max_concurrent_uni_streams(quinn::VarInt::from_u32(max_streams))
        .receive_window(quinn::VarInt::from_u32(RECEIVE_WINDOW))
        .datagram_receive_buffer_size(Some(DATAGRAM_BUFFER))
        .datagram_send_buffer_size(DATAGRAM_BUFFER);
    Ok(Arc::new(config))
}

/// The ALPN tokens of `versions`, in order.
pub(crate) fn version_tokens(versions: &[Version]) -> Vec<String> {
    versions.iter().map(|v| v.alpn().to_owned()).collect()
}

/// Reject an empty version list: it could never negotiate anything.
pub(crate) fn check_versions(versions: &[Version]) -> Result<(), TransportError> {
    if versions.is_empty() {
        return Err(TransportError::Config("the version list is empty".into()));
    }
    Ok(())
}

/// The ALPN the TLS handshake negotiated, `None` before the handshake is done or if none.
pub(crate) fn negotiated_alpn(conn: &quinn::Connection) -> Option<Vec<u8>> {
    conn.handshake_data()?
        .downcast::<quinn::crypto::rustls::HandshakeData>()
        .ok()?
        .protocol
}

/// The SNI the client sent, server side only.
pub(crate) fn server_name(conn: &quinn::Connection) -> Option<String> {
    conn.handshake_data()?
        .downcast::<quinn::crypto::rustls::HandshakeData>()
        .ok()?
        .server_name
}

/// Whether a failed handshake ended with the `no_application_protocol` alert, from either
/// side: the two ALPN lists had nothing in common.
pub(crate) fn is_alpn_mismatch(err: &quinn::ConnectionError) -> bool {
    let code = quinn::TransportErrorCode::crypto(NO_APPLICATION_PROTOCOL);
    match err {
        quinn::ConnectionError::ConnectionClosed(close) => close.error_code == code,
        quinn::ConnectionError::TransportError(err) => err.code == code,
        _ => false,
    }
}
