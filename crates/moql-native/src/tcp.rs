//! QMux over plain TCP (spec 1.5): `tcp://host:port/path` URLs. No TLS and no ALPN: the
//! moq-lite version is negotiated in-band through QMux's `application_protocols` transport
//! parameter (the server's preference wins), the QMux draft is fixed at draft-02 on both
//! sides, and the request path travels in the SETUP Path parameter, as on raw QUIC. No
//! datagrams; stream codes unmapped. For trusted networks (inside a data centre, behind a
//! TLS-terminating proxy).

use std::net::SocketAddr;

use moql_wire::Version;
use tokio::net::TcpStream;
use web_transport_trait as wt;

use super::quinn_config::version_tokens;
use super::ws::{QmuxConfig, QmuxSession};
use super::{Connected, Connection, TransportError, TransportKind};

/// The QMux draft both sides speak on TCP (there is no ALPN to negotiate it).
const DRAFT: qmux::Version = qmux::Version::QMux02;

fn builder(versions: &[Version], config: &QmuxConfig) -> qmux::tcp::Config {
    qmux::tcp::Config::new(DRAFT)
        .session_config(config.qmux())
        .protocols(version_tokens(versions))
        .handshake_timeout(std::time::Duration::from_secs(10))
}

/// The version the in-band negotiation settled on, if it is one of `versions`.
fn negotiated(session: &qmux::Session, versions: &[Version]) -> Option<Version> {
    wt::Session::protocol(session)
        .and_then(|token| Version::from_alpn(token.as_bytes()))
        .filter(|v| versions.contains(v))
}

/// Starts the server side of a session on an accepted TCP connection, offering `versions`
/// (most preferred first). Returns the transport and the negotiated version; the request path
/// comes in the client's SETUP.
///
/// # Errors
///
/// [`TransportError::Handshake`] if the QMux handshake fails or times out (10 s);
/// [`TransportError::NoCommonVersion`] if the client offered none of `versions` (the
/// connection is closed).
pub async fn accept_tcp(
    stream: TcpStream,
    versions: &[Version],
    config: &QmuxConfig,
) -> Result<(Connection, Version), TransportError> {
    let remote = stream.peer_addr()?;
    let _ = stream.set_nodelay(true);
    let session = builder(versions, config)
        .accept(stream)
        .await
        .map_err(TransportError::handshake)?;
    let Some(version) = negotiated(&session, versions) else {
        wt::Session::close(&session, 0, "no common moq-lite version");
        return Err(TransportError::NoCommonVersion {
            offered: version_tokens(versions),
        });
    };
    let session = QmuxSession::new(session, remote, TransportKind::Tcp);
    Ok((Connection::Qmux(Box::new(session)), version))
}

/// Dials `remote` and negotiates one of `versions`; `setup_path` is the URL's path and query
/// for the SETUP Path parameter.
///
/// # Errors
///
/// [`TransportError::Connect`] if TCP fails; [`TransportError::Handshake`] if the QMux
/// handshake fails; [`TransportError::NoCommonVersion`] if the server picked nothing we offered.
pub(crate) async fn connect(
    remote: SocketAddr,
    versions: &[Version],
    config: &QmuxConfig,
    setup_path: Option<String>,
) -> Result<Connected, TransportError> {
    let session = builder(versions, config)
        .connect(remote)
        .await
        .map_err(|e| match e {
            qmux::Error::Io(e) => TransportError::Connect(format!("TCP to {remote}: {e}")),
            e => TransportError::handshake(e),
        })?;
    let Some(version) = negotiated(&session, versions) else {
        wt::Session::close(&session, 0, "no common moq-lite version");
        return Err(TransportError::NoCommonVersion {
            offered: version_tokens(versions),
        });
    };
    Ok(Connected {
        session: Connection::Qmux(Box::new(QmuxSession::new(
            session,
            remote,
            TransportKind::Tcp,
        ))),
        version,
        kind: TransportKind::Tcp,
        setup_path,
    })
}
