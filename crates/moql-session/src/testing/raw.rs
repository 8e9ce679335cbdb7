//! Speaking the wire by hand, for tests that play a peer the engine must cope with: open a
//! Subscribe stream as a subscriber would, read a stream to its end or its reset code.

use moql_wire::{BidiStream, Encode, Path, Setup, Subscribe, UniStream, Version};
use web_transport_trait::{RecvStream, SendStream, Session};

/// `message` encoded at `version`.
///
/// # Panics
///
/// If `message` cannot be encoded at `version` (a test bug).
pub fn encode<M: Encode>(message: &M, version: Version) -> Vec<u8> {
    message
        .encode_to_vec(version)
        .expect("the message encodes at this version")
}

/// Reads until FIN or error; returns the bytes or the stream error code.
///
/// # Cancel safety
///
/// Not cancel safe: bytes read before the cancellation are lost.
pub async fn read_to_end<R: RecvStream>(recv: &mut R) -> Result<Vec<u8>, Option<u32>> {
    let mut out = Vec::new();
    let mut buf = [0u8; 4096];
    loop {
        match recv.read(&mut buf).await {
            Ok(Some(n)) => out.extend_from_slice(&buf[..n]),
            Ok(None) => return Ok(out),
            Err(err) => return Err(web_transport_trait::Error::stream_error(&err)),
        }
    }
}

/// Sends a default SETUP on its own unidirectional stream, as a client of `version` does
/// first (lite-05 and later).
///
/// # Panics
///
/// If the stream cannot be opened or written (the test's session failed).
pub async fn send_setup<T: Session>(session: &T, version: Version) {
    let mut setup = session.open_uni().await.expect("open the SETUP stream");
    let mut bytes = encode(&UniStream::Setup, version);
    bytes.extend(encode(&Setup::default(), version));
    setup.write_all(&bytes).await.expect("write SETUP");
    setup.finish().expect("finish the SETUP stream");
}

/// Opens a Subscribe stream on `session` for `broadcast`/`track` with `max_latency` (ms),
/// starting at the next group, and writes the stream type and SUBSCRIBE at `version`. The
/// subscription lives while the caller holds the streams.
///
/// # Panics
///
/// If the stream cannot be opened or written (the test's session failed).
pub async fn subscribe<T: Session>(
    session: &T,
    version: Version,
    id: u64,
    broadcast: &str,
    track: &str,
    max_latency: u64,
) -> (T::SendStream, T::RecvStream) {
    let (mut send, recv) = session.open_bi().await.expect("open a Subscribe stream");
    let mut bytes = encode(&BidiStream::Subscribe, version);
    bytes.extend(encode(
        &Subscribe {
            id,
            broadcast: Path::new(broadcast).expect("a valid broadcast path"),
            track: track.into(),
            priority: 0,
            ordered: false,
            max_latency,
            start: None,
            end: None,
            frame_start: 0,
            frame_end: None,
        },
        version,
    ));
    send.write_all(&bytes).await.expect("write SUBSCRIBE");
    (send, recv)
}
