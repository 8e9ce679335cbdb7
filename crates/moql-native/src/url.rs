//! Dial URLs (spec 1.6) and the `http://` development certificate fetch.
//!
//! | scheme | transport | default port | path and query travel in |
//! |---|---|---|---|
//! | `https://` | WebTransport (ALPN `h3`) | 443 | the CONNECT `:path` |
//! | `http://` | development: fetch `/certificate.sha256` over TCP, then WebTransport pinning it | 80 | the CONNECT `:path` |
//! | `moql://`, `moqt://` | raw QUIC (moq-lite ALPNs) | 443 | the SETUP Path parameter |
//! | `ws://`, `wss://` | QMux over WebSocket (spec 1.5; `websocket` feature) | 80, 443 | the upgrade URI |
//! | `tcp://` | QMux over plain TCP (spec 1.5; `websocket` feature) | 443 | the SETUP Path parameter |
//!
//! `https://` and `http://` targets also carry the WebSocket URL a client falls back to
//! (`wss://` / `ws://`, same host, port, path and query).

use std::fmt;
use std::net::{IpAddr, SocketAddr};
use std::time::Duration;

use url::Url;

use super::TransportError;
use super::tls::{parse_fingerprint, to_hex};

/// Largest `/certificate.sha256` response we read: the body is 64 hex digits, so anything
/// near this is not the endpoint we expect.
const MAX_CERT_RESPONSE: usize = 8 * 1024;

/// Bound on the whole `/certificate.sha256` exchange (connect, request, response).
pub(crate) const CERT_FETCH_TIMEOUT: Duration = Duration::from_secs(5);

/// How a dial URL is reached.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Scheme {
    /// `https://`: WebTransport over HTTP/3.
    WebTransport,
    /// `http://`: fetch the certificate hash over plain HTTP, then WebTransport pinning it.
    DevHttp,
    /// `moql://` or `moqt://`: raw QUIC.
    Quic,
    /// `ws://` or `wss://`: QMux over WebSocket.
    WebSocket,
    /// `tcp://`: QMux over plain TCP.
    Tcp,
}

/// The host part of a dial URL.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum HostName {
    /// A DNS name, resolved at dial time.
    Domain(String),
    /// An IP literal.
    Ip(IpAddr),
}

impl fmt::Display for HostName {
    /// The form used for TLS SNI: the bare name or address (no IPv6 brackets).
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Domain(d) => f.write_str(d),
            Self::Ip(ip) => write!(f, "{ip}"),
        }
    }
}

/// A parsed dial URL.
#[derive(Clone, Debug)]
pub(crate) struct Target {
    pub(crate) scheme: Scheme,
    pub(crate) host: HostName,
    pub(crate) port: u16,
    /// WebTransport only: the `https://` URL to send in the CONNECT (no fragment).
    pub(crate) connect_url: Option<Url>,
    /// Raw QUIC only: the SETUP Path parameter (spec 5.1.2), `None` to omit it.
    pub(crate) setup_path: Option<String>,
    /// The `ws://` / `wss://` URL to upgrade at (no fragment): the URL itself for WebSocket
    /// schemes, the fallback for `https://` (`wss://`) and `http://` (`ws://`).
    #[cfg_attr(not(feature = "websocket"), allow(dead_code))]
    pub(crate) ws_url: Option<Url>,
}

impl Target {
    /// Parse a dial URL.
    ///
    /// # Errors
    ///
    /// [`TransportError::InvalidUrl`] if it does not parse, has no host or carries
    /// `user:password@` (which would leak into the `:authority`; put credentials in the
    /// query instead); [`TransportError::UnsupportedScheme`] for any other scheme.
    pub(crate) fn parse(text: &str) -> Result<Self, TransportError> {
        let invalid = |why: &str| TransportError::InvalidUrl(format!("{text:?}: {why}"));
        let url = Url::parse(text).map_err(|e| invalid(&e.to_string()))?;
        if !url.username().is_empty() || url.password().is_some() {
            return Err(invalid(
                "user information is not supported (put credentials in the query)",
            ));
        }
        let scheme = match url.scheme() {
            "https" => Scheme::WebTransport,
            "http" => Scheme::DevHttp,
            "moql" | "moqt" => Scheme::Quic,
            "ws" | "wss" if cfg!(feature = "websocket") => Scheme::WebSocket,
            "tcp" if cfg!(feature = "websocket") => Scheme::Tcp,
            other => return Err(TransportError::UnsupportedScheme(other.to_owned())),
        };
        // `port_or_known_default` knows 443 for https and 80 for http; spec 1.2 gives 443 for
        // the raw QUIC schemes, which the url crate does not know.
        let port = match scheme {
            Scheme::Quic | Scheme::Tcp => url.port().unwrap_or(443),
            Scheme::WebTransport | Scheme::DevHttp | Scheme::WebSocket => {
                url.port_or_known_default().unwrap_or(443)
            }
        };
        let host = match url.host() {
            Some(url::Host::Ipv4(ip)) => HostName::Ip(ip.into()),
            Some(url::Host::Ipv6(ip)) => HostName::Ip(ip.into()),
            // Non-special schemes (moql, moqt) keep IPv4 literals as opaque domains.
            Some(url::Host::Domain(d)) if !d.is_empty() => match d.parse::<IpAddr>() {
                Ok(ip) => HostName::Ip(ip),
                Err(_) => HostName::Domain(d.to_owned()),
            },
            _ => return Err(invalid("no host")),
        };

        let ws_url = match scheme {
            Scheme::Quic | Scheme::Tcp => None,
            Scheme::WebTransport | Scheme::DevHttp | Scheme::WebSocket => {
                let mut ws = url.clone();
                ws.set_fragment(None);
                let secure = matches!(url.scheme(), "https" | "wss");
                ws.set_scheme(if secure { "wss" } else { "ws" })
                    .map_err(|()| invalid("cannot switch to a WebSocket scheme"))?;
                ws.set_port(Some(port))
                    .map_err(|()| invalid("cannot set the port"))?;
                Some(ws)
            }
        };
        let (connect_url, setup_path) = match scheme {
            Scheme::Quic | Scheme::Tcp => (None, setup_path(&url)),
            Scheme::WebSocket => (None, None),
            Scheme::WebTransport | Scheme::DevHttp => {
                let mut connect = url.clone();
                connect.set_fragment(None);
                connect
                    .set_scheme("https")
                    .map_err(|()| invalid("cannot switch to https"))?;
                connect
                    .set_port(Some(port))
                    .map_err(|()| invalid("cannot set the port"))?;
                (Some(connect), None)
            }
        };
        Ok(Self {
            scheme,
            host,
            port,
            connect_url,
            setup_path,
            ws_url,
        })
    }

    /// `host:port` as written in an HTTP `Host` header (IPv6 in brackets).
    pub(crate) fn authority(&self) -> String {
        match &self.host {
            HostName::Ip(IpAddr::V6(ip)) => format!("[{ip}]:{}", self.port),
            host => format!("{host}:{}", self.port),
        }
    }

    /// Resolve the host to one socket address: IP literals directly, names with the system
    /// resolver (first answer).
    ///
    /// # Errors
    ///
    /// [`TransportError::Connect`] if the name does not resolve.
    pub(crate) async fn resolve(&self) -> Result<SocketAddr, TransportError> {
        let domain = match &self.host {
            HostName::Ip(ip) => return Ok(SocketAddr::new(*ip, self.port)),
            HostName::Domain(domain) => domain,
        };
        let mut addrs = tokio::net::lookup_host((domain.as_str(), self.port))
            .await
            .map_err(|e| TransportError::Connect(format!("cannot resolve {domain}: {e}")))?;
        addrs
            .next()
            .ok_or_else(|| TransportError::Connect(format!("{domain} has no address")))
    }
}

/// The SETUP Path parameter for a raw QUIC URL (spec 5.1.2): the path with its leading `/`,
/// then `?query` if the query is non-empty, fragment dropped; `None` when the URL has no path
/// and no query. A bare `/` counts as no path: the receiver reads `/` and absent alike as the
/// default root, and omitting it avoids sending a value that carries nothing.
pub(crate) fn setup_path(url: &Url) -> Option<String> {
    let path = url.path();
    let query = url.query().filter(|q| !q.is_empty());
    let path = if path.is_empty() { "/" } else { path };
    match query {
        Some(query) => Some(format!("{path}?{query}")),
        None if path == "/" => None,
        None => Some(path.to_owned()),
    }
}

/// `GET http://<addr>/certificate.sha256` over plain TCP (spec 1.6) and return the
/// fingerprint it serves, normalized to lowercase hex.
///
/// One HTTP/1.1 request through hyper's connection-level client (no pool: the exchange
/// happens once per dial), a body of at most [`MAX_CERT_RESPONSE`] bytes, the whole exchange
/// bounded by [`CERT_FETCH_TIMEOUT`].
///
/// # Errors
///
/// [`TransportError::Timeout`] if the exchange takes too long; [`TransportError::Io`] on a
/// socket error; [`TransportError::Certificate`] on a `404` (the server has no generated
/// certificate) or a body that is not a fingerprint; [`TransportError::Connect`] on any other
/// status or a malformed or oversized response.
pub(crate) async fn fetch_fingerprint(
    addr: SocketAddr,
    authority: &str,
) -> Result<String, TransportError> {
    let what = format!("http://{authority}/certificate.sha256");
    let http = |err: &dyn fmt::Display| TransportError::Connect(format!("{what}: {err}"));
    let exchange = async {
        let stream = tokio::net::TcpStream::connect(addr).await?;
        let (mut sender, connection) =
            hyper::client::conn::http1::handshake(hyper_util::rt::TokioIo::new(stream))
                .await
                .map_err(|err| http(&err))?;
        // Drives the connection until the response is read; dropped (and the socket closed)
        // with this future.
        let connection = async move {
            let _ = connection.await;
            std::future::pending::<()>().await
        };
        let request = hyper::Request::get("/certificate.sha256")
            .header(hyper::header::HOST, authority)
            .header(hyper::header::ACCEPT, "text/plain")
            .body(http_body_util::Empty::<bytes::Bytes>::new())
            .map_err(|err| http(&err))?;
        let response = async {
            let response = sender
                .send_request(request)
                .await
                .map_err(|err| http(&err))?;
            let status = response.status().as_u16();
            let body = http_body_util::Limited::new(response.into_body(), MAX_CERT_RESPONSE);
            let body = http_body_util::BodyExt::collect(body)
                .await
                .map_err(|err| http(&*err))?
                .to_bytes();
            Ok::<_, TransportError>((status, body))
        };
        tokio::select! {
            done = response => done,
            () = connection => unreachable!("pending"),
        }
    };
    let (status, body) = tokio::time::timeout(CERT_FETCH_TIMEOUT, exchange)
        .await
        .map_err(|_| TransportError::Timeout(format!("GET {what}")))??;

    match status {
        200 => {}
        404 => {
            return Err(TransportError::Certificate(format!(
                "{what}: 404, the server has no generated certificate to pin"
            )));
        }
        status => {
            return Err(TransportError::Connect(format!(
                "{what}: HTTP status {status}"
            )));
        }
    }
    let text = std::str::from_utf8(&body).map_err(|_| {
        TransportError::Certificate("certificate.sha256 is not UTF-8 text".to_owned())
    })?;
    let bytes = parse_fingerprint(text)?;
    // Normalize (case, separators) by re-encoding the parsed bytes.
    Ok(to_hex(&bytes))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::tls::fingerprint_of;

    #[test]
    fn raw_quic_setup_path_follows_spec_5_1_2() {
        let path = |s: &str| Target::parse(s).unwrap().setup_path;
        assert_eq!(
            path("moql://127.0.0.1:4443/anon?jwt=x"),
            Some("/anon?jwt=x".into())
        );
        assert_eq!(path("moqt://relay/anon"), Some("/anon".into()));
        assert_eq!(path("moqt://relay?jwt=x"), Some("/?jwt=x".into()));
        assert_eq!(path("moqt://relay/anon?#frag"), Some("/anon".into()));
        assert_eq!(path("moqt://relay"), None);
        assert_eq!(path("moqt://relay/"), None);
    }

    #[cfg(feature = "websocket")]
    #[test]
    fn websocket_schemes() {
        let t = Target::parse("wss://relay/x?jwt=t").unwrap();
        assert_eq!(t.scheme, Scheme::WebSocket);
        assert_eq!(t.port, 443);
        assert_eq!(t.ws_url.unwrap().as_str(), "wss://relay/x?jwt=t");
        assert!(t.setup_path.is_none() && t.connect_url.is_none());
        let t = Target::parse("tcp://127.0.0.1:4443/room?jwt=t").unwrap();
        assert_eq!(t.scheme, Scheme::Tcp);
        assert_eq!(t.setup_path.as_deref(), Some("/room?jwt=t"));
        assert!(t.ws_url.is_none() && t.connect_url.is_none());
        let t = Target::parse("ws://127.0.0.1:4443/").unwrap();
        assert_eq!(t.port, 4443);
        assert_eq!(t.ws_url.unwrap().as_str(), "ws://127.0.0.1:4443/");
    }

    #[cfg(not(feature = "websocket"))]
    #[test]
    fn websocket_schemes_need_the_feature() {
        assert!(matches!(
            Target::parse("wss://relay/x"),
            Err(TransportError::UnsupportedScheme(s)) if s == "wss"
        ));
    }

    #[test]
    fn schemes_ports_and_hosts() {
        let t = Target::parse("moql://127.0.0.1/x").unwrap();
        assert_eq!(t.scheme, Scheme::Quic);
        assert_eq!(t.port, 443);
        assert_eq!(t.host, HostName::Ip("127.0.0.1".parse().unwrap()));
        assert!(t.connect_url.is_none());

        let t = Target::parse("https://[::1]:4443/room?x=1#f").unwrap();
        assert_eq!(t.scheme, Scheme::WebTransport);
        assert_eq!(t.host, HostName::Ip("::1".parse().unwrap()));
        assert_eq!(t.authority(), "[::1]:4443");
        assert_eq!(
            t.connect_url.unwrap().as_str(),
            "https://[::1]:4443/room?x=1"
        );
        assert!(t.setup_path.is_none());

        let t = Target::parse("http://localhost/path").unwrap();
        assert_eq!(t.scheme, Scheme::DevHttp);
        assert_eq!(t.port, 80);
        assert_eq!(t.connect_url.unwrap().as_str(), "https://localhost:80/path");

        assert!(matches!(
            Target::parse("ftp://relay/x"),
            Err(TransportError::UnsupportedScheme(s)) if s == "ftp"
        ));
        // The WebSocket fallback of each WebTransport URL: same host, port, path and query.
        let t = Target::parse("https://relay:4443/room?jwt=x#frag").unwrap();
        assert_eq!(t.ws_url.unwrap().as_str(), "wss://relay:4443/room?jwt=x");
        let t = Target::parse("http://localhost/path").unwrap();
        assert_eq!(t.ws_url.unwrap().as_str(), "ws://localhost/path");
        assert!(Target::parse("moql://relay/x").unwrap().ws_url.is_none());
        assert!(matches!(
            Target::parse("https://user:pw@relay/x"),
            Err(TransportError::InvalidUrl(_))
        ));
        assert!(matches!(
            Target::parse("not a url"),
            Err(TransportError::InvalidUrl(_))
        ));
    }

    /// Serves `response` to one connection on loopback and returns what `fetch_fingerprint`
    /// made of it.
    async fn fetch_from(response: Vec<u8>) -> Result<String, TransportError> {
        use tokio::io::{AsyncReadExt, AsyncWriteExt};
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        tokio::spawn(async move {
            let (mut socket, _) = listener.accept().await.unwrap();
            let mut request = vec![0u8; 1024];
            let _ = socket.read(&mut request).await;
            let _ = socket.write_all(&response).await;
        });
        fetch_fingerprint(addr, "localhost").await
    }

    #[tokio::test]
    async fn certificate_fingerprint_responses() {
        let fp = fingerprint_of(b"x");
        let ok = format!(
            "HTTP/1.1 200 OK\r\nContent-Length: 65\r\n\r\n{}\n",
            fp.to_uppercase()
        );
        assert_eq!(fetch_from(ok.into_bytes()).await.unwrap(), fp);

        let chunked = format!(
            "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n20\r\n{}\r\n20\r\n{}\r\n0\r\n\r\n",
            &fp[..32],
            &fp[32..]
        );
        assert_eq!(fetch_from(chunked.into_bytes()).await.unwrap(), fp);

        let missing = b"HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\n\r\n".to_vec();
        assert!(matches!(
            fetch_from(missing).await,
            Err(TransportError::Certificate(_))
        ));

        let huge = format!(
            "HTTP/1.1 200 OK\r\nContent-Length: {}\r\n\r\n{}",
            MAX_CERT_RESPONSE + 1,
            "a".repeat(MAX_CERT_RESPONSE + 1)
        );
        assert!(matches!(
            fetch_from(huge.into_bytes()).await,
            Err(TransportError::Connect(_))
        ));

        let truncated = b"HTTP/1.1 200 OK\r\nContent-Length: 65\r\n\r\nab".to_vec();
        assert!(fetch_from(truncated).await.is_err());
        assert!(fetch_from(b"SSH-2.0-OpenSSH\r\n".to_vec()).await.is_err());
    }
}
