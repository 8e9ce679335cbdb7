//! Test support: a real server and client on loopback, one moq-lite session between them, and
//! bounded waits. Every network test goes through here.

#![allow(dead_code, unreachable_pub)]

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::time::Duration;

use moql_model::{OriginProducer, Path};
use moql_native::{
    Certificate, Client, ClientConfig, ClientTls, Server, ServerConfig, TransportError,
    TransportKind,
};
use moql_session::{Accepting, Session, SessionConfig};
use moql_wire::Version;
use tokio::sync::mpsc;

pub mod proxy;
pub mod raw;
pub mod relay;
pub mod usage;

/// How long any single wait in a test may take before the test fails.
pub const WAIT: Duration = Duration::from_secs(10);

/// Awaits `future`, failing the test after [`WAIT`].
pub async fn within<F: std::future::Future>(what: &str, future: F) -> F::Output {
    match tokio::time::timeout(WAIT, future).await {
        Ok(output) => output,
        Err(_) => panic!("timed out after {WAIT:?} waiting for {what}"),
    }
}

/// Logs to the test output when `RUST_LOG` is set.
pub fn init_tracing() {
    let _ = tracing_subscriber::fmt()
        .with_env_filter(tracing_subscriber::EnvFilter::from_default_env())
        .with_test_writer()
        .try_init();
}

/// The loopback address of one family.
pub fn loopback(v6: bool) -> IpAddr {
    if v6 {
        IpAddr::V6(Ipv6Addr::LOCALHOST)
    } else {
        IpAddr::V4(Ipv4Addr::LOCALHOST)
    }
}

/// A server listening on loopback with a generated certificate.
pub struct TestServer {
    pub server: Server,
    pub addr: SocketAddr,
    pub fingerprint: String,
}

impl TestServer {
    pub fn start(ip: IpAddr, versions: Vec<Version>) -> Self {
        let certificate =
            Certificate::generate(&["localhost".to_string(), ip.to_string()]).expect("certificate");
        let mut config = ServerConfig::new(SocketAddr::new(ip, 0), certificate);
        config.versions = versions;
        let server = Server::bind(config).expect("bind");
        let addr = server.local_addr().expect("local addr");
        let fingerprint = server.fingerprint();
        Self {
            server,
            addr,
            fingerprint,
        }
    }

    pub fn url(&self, kind: TransportKind, path: &str) -> String {
        let scheme = match kind {
            TransportKind::Quic => "moql",
            _ => "https",
        };
        let host = match self.addr.ip() {
            IpAddr::V6(ip) => format!("[{ip}]"),
            IpAddr::V4(ip) => ip.to_string(),
        };
        format!("{scheme}://{host}:{}{path}", self.addr.port())
    }
}

/// Both ends of one session, with the origins each side publishes and receives.
pub struct Pair {
    /// Broadcasts the server offers to the client.
    pub server_publish: OriginProducer,
    /// Where the client's broadcasts land on the server.
    pub server_received: OriginProducer,
    /// Broadcasts the client offers to the server.
    pub client_publish: OriginProducer,
    /// Where the server's broadcasts land on the client.
    pub client_received: OriginProducer,
    pub client: Session,
    pub server: Session,
    pub version: Version,
    pub kind: TransportKind,
    /// Keeps the listener alive.
    pub listener: TestServer,
    /// The client's SETUP path as the server saw it (raw QUIC) or the request path (WT).
    pub seen_path: Option<String>,
}

pub struct PairOptions {
    pub kind: TransportKind,
    pub version: Version,
    pub v6: bool,
    pub path: String,
    /// Applied to both configs before the session starts.
    pub datagrams: Option<usize>,
    /// The prefix the client asks the server to announce.
    pub announce_prefix: Option<String>,
    /// The client opens a probe stream.
    pub probe: bool,
}

impl PairOptions {
    pub fn new(kind: TransportKind, version: Version) -> Self {
        Self {
            kind,
            version,
            v6: false,
            path: "/".into(),
            datagrams: None,
            announce_prefix: None,
            probe: false,
        }
    }
}

/// Starts a server, connects a client, and runs a session both ways.
pub async fn pair(options: PairOptions) -> Pair {
    init_tracing();
    let mut listener = TestServer::start(loopback(options.v6), vec![options.version]);
    let server_publish = OriginProducer::new();
    let server_received = OriginProducer::new();
    let client_publish = OriginProducer::new();
    let client_received = OriginProducer::new();

    let (tx, mut rx) = mpsc::channel(1);
    let serve_publish = server_publish.consume();
    let serve_received = server_received.clone();
    let datagrams = options.datagrams;
    let placeholder = placeholder_server(&listener);
    let mut server = std::mem::replace(&mut listener.server, placeholder);
    let expected = options.version;
    tokio::spawn(async move {
        let incoming = server.accept().await.expect("incoming");
        assert_eq!(incoming.version(), expected);
        let request_path = incoming.request_path();
        let version = incoming.version();
        let transport = incoming.accept().await.expect("server accept");
        let accepting = Accepting::new(transport, version, WAIT)
            .await
            .expect("client SETUP");
        let path = accepting.setup().path.clone();
        let mut config = SessionConfig::new()
            .with_publish(serve_publish)
            .with_subscribe(serve_received);
        config.datagram_max = datagrams;
        let session = accepting.accept(config).await.expect("server session");
        let _ = tx.send((session, request_path.or(path), server)).await;
    });

    let client = Client::new(ClientConfig {
        tls: ClientTls::Fingerprints(vec![listener.fingerprint.clone()]),
        versions: vec![options.version],
        ..ClientConfig::default()
    })
    .expect("client");
    let url = listener.url(options.kind, &options.path);
    let connected = within("the connection", client.connect(&url))
        .await
        .expect("connect");
    assert_eq!(connected.version, options.version);

    let mut config = SessionConfig::new()
        .with_publish(client_publish.consume())
        .with_subscribe(client_received.clone());
    config.datagram_max = options.datagrams;
    config.probe = options.probe;
    if let Some(prefix) = &options.announce_prefix {
        config.announce_prefix = Path::new(prefix).unwrap();
    }
    if let Some(path) = connected.setup_path.clone() {
        config.setup_path = Some(path);
    }
    let client = Session::connect(connected.session, options.version, config)
        .await
        .expect("client session");
    let (server, seen_path, endpoint) = within("the server session", rx.recv())
        .await
        .expect("server session");
    listener.server = endpoint;
    Pair {
        server_publish,
        server_received,
        client_publish,
        client_received,
        client,
        server,
        version: options.version,
        kind: options.kind,
        listener,
        seen_path,
    }
}

/// A throwaway server bound to an ephemeral port, standing in while the real one is moved into
/// the accept task.
fn placeholder_server(listener: &TestServer) -> Server {
    TestServer::start(listener.addr.ip(), vec![Version::Lite05]).server
}

/// Every combination the session must work on.
pub fn matrix() -> Vec<(TransportKind, Version)> {
    let mut all = Vec::new();
    for kind in [TransportKind::Quic, TransportKind::WebTransport] {
        for version in Version::ALL {
            all.push((kind, version));
        }
    }
    all
}

/// Waits until `origin` has a broadcast at `path`.
pub async fn announced(origin: &OriginProducer, path: &str) -> moql_model::BroadcastConsumer {
    let path = Path::new(path).unwrap();
    let mut watcher = origin.consume();
    within(&format!("announcement of {path}"), async {
        loop {
            if let Some(b) = origin.broadcast(&path) {
                return b;
            }
            if watcher.announced().await.is_none() {
                panic!("origin closed before {path} was announced");
            }
        }
    })
    .await
}

/// A client session to `url`, publishing `publish` and receiving into a new origin.
pub struct TestClient {
    pub session: Session,
    /// The transport the dial ended on (a `https://` dial may fall back to WebSocket).
    pub kind: TransportKind,
    pub publish: OriginProducer,
    pub received: OriginProducer,
}

/// Connects a client session to a relay (or any server) at `url`, trusting `fingerprint`.
/// A dial that fails is an `Err`; a session that fails to start panics.
pub async fn client(url: &str, fingerprint: &str) -> Result<TestClient, TransportError> {
    client_with(url, fingerprint, None).await
}

/// [`client`], with `datagrams` configuring datagram delivery for what it publishes.
pub async fn client_with(
    url: &str,
    fingerprint: &str,
    datagrams: Option<usize>,
) -> Result<TestClient, TransportError> {
    client_at(url, fingerprint, datagrams, &Version::ALL).await
}

/// [`client_with`], offering only `versions`.
pub async fn client_at(
    url: &str,
    fingerprint: &str,
    datagrams: Option<usize>,
    versions: &[Version],
) -> Result<TestClient, TransportError> {
    init_tracing();
    let client = Client::new(ClientConfig {
        tls: ClientTls::Fingerprints(vec![fingerprint.to_string()]),
        versions: versions.to_vec(),
        ..ClientConfig::default()
    })?;
    let connected = within("the connection", client.connect(url)).await?;
    assert_eq!(connected.session.kind(), connected.kind);
    let publish = OriginProducer::new();
    let received = OriginProducer::new();
    let mut config = SessionConfig::new()
        .with_publish(publish.consume())
        .with_subscribe(received.clone());
    config.setup_path = connected.setup_path.clone();
    config.datagram_max = datagrams;
    let session = Session::connect(connected.session, connected.version, config)
        .await
        .expect("the session starts");
    Ok(TestClient {
        session,
        kind: connected.kind,
        publish,
        received,
    })
}

/// A plain HTTP/1.1 GET over TCP: (status, body).
pub async fn http_get(addr: SocketAddr, target: &str) -> (u16, Vec<u8>) {
    use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
    let mut stream = tokio::net::TcpStream::connect(addr).await.unwrap();
    let request = format!("GET {target} HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n");
    stream.write_all(request.as_bytes()).await.unwrap();
    let mut response = Vec::new();
    within("the HTTP response", stream.read_to_end(&mut response))
        .await
        .unwrap();
    let split = response
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .expect("headers end");
    let head = String::from_utf8_lossy(&response[..split]).to_string();
    let status = head.split_whitespace().nth(1).unwrap().parse().unwrap();
    let mut body = response[split + 4..].to_vec();
    if head
        .to_ascii_lowercase()
        .contains("transfer-encoding: chunked")
    {
        body = dechunk(&body);
    }
    (status, body)
}

/// Undoes HTTP/1.1 chunked transfer coding.
pub fn dechunk(mut body: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    loop {
        let line_end = body.windows(2).position(|w| w == b"\r\n").unwrap();
        let size =
            usize::from_str_radix(std::str::from_utf8(&body[..line_end]).unwrap().trim(), 16)
                .unwrap();
        if size == 0 {
            return out;
        }
        out.extend_from_slice(&body[line_end + 2..line_end + 2 + size]);
        body = &body[line_end + 2 + size + 2..];
    }
}
