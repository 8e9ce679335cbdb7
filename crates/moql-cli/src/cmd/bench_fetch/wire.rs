//! FETCH by hand (spec 4.5): one connection, one bidirectional stream per fetch.

use anyhow::{Context as _, bail, ensure};
use bytes::{Buf, BytesMut};
use moql_model::Path;
use moql_native::Connection;
use moql_wire::{BidiStream, DecodeError, Encode, Fetch, FrameDecoder, Setup, UniStream, Version};
use web_transport_trait::{RecvStream as _, SendStream as _, Session as _};

use crate::connect::Connector;
use crate::exit::Failure;

/// A connection that sends FETCHes and reads the replies, without a session's model (no local
/// cache between the bench and the relay).
pub(super) struct Fetcher {
    session: Connection,
    version: Version,
    /// Kept open for the connection's life: the relay reads our SETUP from it.
    _setup: moql_native::SendStream,
}

impl Fetcher {
    /// Dials the relay and sends SETUP (lite-05 and later need one before any request).
    ///
    /// # Errors
    ///
    /// The dial, a version without FETCH (lite-04 and older), or the SETUP write.
    pub(super) async fn connect(connector: &Connector) -> anyhow::Result<Self> {
        let connected = connector.raw().await?;
        let version = connected.version;
        ensure!(
            version.has_fetch(),
            "the relay negotiated {version}, which has no FETCH"
        );
        let mut setup = connected
            .session
            .open_uni()
            .await
            .context("opening the SETUP stream")?;
        let mut bytes = UniStream::Setup.encode_to_vec(version)?;
        let message = Setup {
            path: connected.setup_path.clone(),
            ..Setup::default()
        };
        bytes.extend(message.encode_to_vec(version)?);
        setup.write_all(&bytes).await.context("sending SETUP")?;
        Ok(Self {
            session: connected.session,
            version,
            _setup: setup,
        })
    }

    /// Fetches `track`'s group `sequence` of `broadcast`; returns its payload bytes.
    ///
    /// # Errors
    ///
    /// [`Failure::NotFound`] if the relay resets the stream with 13 (NotFound) or 30
    /// (Unroutable); the stream or decode error otherwise.
    pub(super) async fn fetch(
        &mut self,
        broadcast: &Path,
        track: &str,
        sequence: u64,
    ) -> anyhow::Result<usize> {
        let version = self.version;
        let (mut send, mut recv) = self.session.open_bi().await.context("opening a stream")?;
        let mut request = BidiStream::Fetch.encode_to_vec(version)?;
        let fetch = Fetch {
            broadcast: broadcast.clone(),
            track: track.to_string(),
            priority: 0,
            group: sequence,
            frame_start: 0,
            frame_end: None,
        };
        request.extend(fetch.encode_to_vec(version)?);
        send.write_all(&request).await.context("sending FETCH")?;

        let mut buf = BytesMut::new();
        let mut decoder = FrameDecoder::new();
        let mut payload = 0usize;
        loop {
            match recv.read_buf(&mut buf).await {
                Ok(Some(_)) => {}
                Ok(None) => break,
                Err(err) => {
                    let code = web_transport_trait::Error::stream_error(&err);
                    if matches!(code, Some(13 | 30)) {
                        bail!(Failure::NotFound(format!(
                            "group {sequence} refused with {code:?}"
                        )));
                    }
                    return Err(anyhow::Error::new(err).context("reading the FETCH reply"));
                }
            }
            loop {
                match decoder.decode(&mut buf, version) {
                    Ok(frame) => payload += frame.payload.len(),
                    Err(DecodeError::Short) => break,
                    Err(err) => return Err(err).context("decoding the FETCH reply"),
                }
            }
        }
        decoder
            .end_of_stream(buf.chunk(), version)
            .context("the FETCH reply ended inside a frame")?;
        // Spec 4.5: the released subscriber resets its request side (code 0) once the reply
        // is complete, rather than finishing it.
        send.reset(0);
        Ok(payload)
    }
}
