//! Loopback tests of the QUIC and WebTransport glue: real UDP and TCP sockets on 127.0.0.1
//! and [::1], every wait bounded.

use std::net::SocketAddr;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use moql_wire::Version;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::time::timeout;
use web_transport_trait::{Error as _, RecvStream as _, SendStream as _, Session as _};

use super::*;

mod flow;
mod mtls;
mod reload;

/// Bound on every wait in these tests; loopback handshakes take milliseconds.
pub(super) const WAIT: Duration = Duration::from_secs(10);

pub(super) fn init_tracing() {
    let _ = tracing_subscriber::fmt()
        .with_env_filter(tracing_subscriber::EnvFilter::from_default_env())
        .with_test_writer()
        .try_init();
}

fn certificate() -> Certificate {
    let names = ["localhost", "127.0.0.1", "::1"].map(String::from);
    Certificate::generate(&names).expect("generate certificate")
}

pub(super) fn server(bind: &str, versions: &[Version]) -> Server {
    let mut config = ServerConfig::new(bind.parse().expect("bind address"), certificate());
    config.versions = versions.to_vec();
    Server::bind(config).expect("bind server")
}

fn client(tls: ClientTls, versions: &[Version]) -> Client {
    let mut config = ClientConfig::new(tls);
    config.versions = versions.to_vec();
    Client::new(config).expect("client")
}

/// A client that pins `server`'s certificate.
pub(super) fn pinned_client(server: &Server, versions: &[Version]) -> Client {
    client(
        ClientTls::Fingerprints(vec![server.fingerprint()]),
        versions,
    )
}

/// `scheme://host:port/rest` for `server`.
pub(super) fn url(scheme: &str, host: &str, server: &Server, rest: &str) -> String {
    let port = server.local_addr().expect("local addr").port();
    format!("{scheme}://{host}:{port}{rest}")
}

/// What the server saw of an accepted connection.
#[derive(Debug)]
pub(super) struct Seen {
    pub(super) kind: TransportKind,
    pub(super) version: Version,
    pub(super) request_path: Option<String>,
    pub(super) remote: SocketAddr,
}

/// Dial `scheme://host:port/rest` while the server accepts the next connection; both sides'
/// sessions.
pub(super) async fn establish(
    server: &mut Server,
    client: &Client,
    scheme: &str,
    host: &str,
    rest: &str,
) -> (Connected, Connection, Seen) {
    let url = url(scheme, host, server, rest);
    let accept = async {
        let incoming = server.accept().await.expect("server closed");
        let seen = Seen {
            kind: incoming.kind(),
            version: incoming.version(),
            request_path: incoming.request_path(),
            remote: incoming.remote_addr(),
        };
        (incoming.accept().await.expect("accept"), seen)
    };
    let (connected, (session, seen)) = timeout(WAIT, async {
        tokio::join!(
            async { client.connect(&url).await.expect("connect") },
            accept
        )
    })
    .await
    .expect("establish timed out");
    (connected, session, seen)
}

/// Prove a session pair works through the `web_transport_trait` API: a bidirectional
/// request/response, then a datagram each way.
pub(super) async fn exchange<S: web_transport_trait::Session>(client: &S, server: &S) {
    let work = async {
        let (mut send, mut recv) = client.open_bi().await.expect("open_bi");
        send.write_all(b"ping").await.expect("write");
        send.finish().expect("finish");

        let (mut server_send, mut server_recv) = server.accept_bi().await.expect("accept_bi");
        assert_eq!(&server_recv.read_all().await.expect("read")[..], b"ping");
        server_send.write_all(b"pong").await.expect("write back");
        server_send.finish().expect("finish back");
        assert_eq!(&recv.read_all().await.expect("read back")[..], b"pong");

        assert!(client.max_datagram_size() > 0, "datagrams enabled");
        assert!(server.max_datagram_size() > 0, "datagrams enabled");
        client
            .send_datagram(bytes::Bytes::from_static(b"dgram"))
            .expect("send datagram");
        assert_eq!(
            &server.recv_datagram().await.expect("datagram")[..],
            b"dgram"
        );
    };
    timeout(WAIT, work).await.expect("exchange timed out");
}

#[test]
fn generated_certificate_is_p256_valid_14_days_with_sha256_fingerprint() {
    use x509_parser::oid_registry::{OID_EC_P256, OID_KEY_TYPE_EC_PUBLIC_KEY};

    let cert = certificate();
    assert_eq!(cert.chain.len(), 1);
    let der = cert.chain[0].as_ref();
    let (_, parsed) = x509_parser::parse_x509_certificate(der).expect("parse back");

    let spki = parsed.public_key();
    assert_eq!(spki.algorithm.algorithm, OID_KEY_TYPE_EC_PUBLIC_KEY);
    let curve = spki.algorithm.parameters.as_ref().map(|p| p.as_oid());
    assert_eq!(curve, Some(Ok(OID_EC_P256)));

    let not_before = parsed.validity().not_before.timestamp();
    let not_after = parsed.validity().not_after.timestamp();
    let now = i64::try_from(
        SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .unwrap()
            .as_secs(),
    )
    .unwrap();
    let day = 24 * 60 * 60;
    assert!(
        not_after - not_before <= 14 * day,
        "at most 14 days in total"
    );
    assert_eq!(not_after - not_before, 14 * day);
    assert!(
        (now - day - 60..=now - day + 60).contains(&not_before),
        "starts a day ago"
    );

    let fingerprint = cert.fingerprint();
    assert_eq!(fingerprint.len(), 64);
    assert!(
        fingerprint
            .bytes()
            .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
    );
    let digest = ring::digest::digest(&ring::digest::SHA256, der);
    let expected: String = digest.as_ref().iter().map(|b| format!("{b:02x}")).collect();
    assert_eq!(fingerprint, expected);
    assert_eq!(fingerprint_of(der), expected);
}

#[test]
fn load_pem_reads_back_a_chain_and_key() {
    let key = rcgen::KeyPair::generate_for(&rcgen::PKCS_ECDSA_P256_SHA256).unwrap();
    let cert = rcgen::CertificateParams::new(vec!["localhost".into()])
        .unwrap()
        .self_signed(&key)
        .unwrap();
    let dir = std::env::temp_dir().join(format!(
        "moql-quic-pem-{}-{}",
        std::process::id(),
        SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .unwrap()
            .as_nanos()
    ));
    std::fs::create_dir_all(&dir).unwrap();
    let (cert_path, key_path) = (dir.join("cert.pem"), dir.join("key.pem"));
    std::fs::write(&cert_path, cert.pem()).unwrap();
    std::fs::write(&key_path, key.serialize_pem()).unwrap();

    let loaded = Certificate::load_pem(&cert_path, &key_path).expect("load");
    assert_eq!(loaded.fingerprint(), fingerprint_of(cert.der()));
    assert!(
        server_crypto(&loaded, vec![b"h3".to_vec()]).is_ok(),
        "key matches"
    );

    // The key file is not a certificate.
    assert!(matches!(
        Certificate::load_pem(&key_path, &key_path),
        Err(TransportError::Certificate(_))
    ));
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn malformed_fingerprints_are_refused_up_front() {
    for bad in ["", "abc", &"g".repeat(64), &"a".repeat(66)] {
        let err = client_crypto(
            &ClientTls::Fingerprints(vec![bad.to_owned()]),
            None,
            Vec::new(),
        );
        assert!(
            matches!(err, Err(TransportError::Certificate(_))),
            "{bad:?}"
        );
    }
    let colons = ["ab"; 32].join(":").to_uppercase();
    assert!(client_crypto(&ClientTls::Fingerprints(vec![colons]), None, Vec::new()).is_ok());
    assert!(matches!(
        client_crypto(&ClientTls::Fingerprints(Vec::new()), None, Vec::new()),
        Err(TransportError::Certificate(_))
    ));
}

async fn raw_quic_session_works(bind: &str, host: &str) {
    init_tracing();
    let mut server = server(bind, &Version::ALL);
    let client = pinned_client(&server, &Version::ALL);
    let (connected, session, seen) =
        establish(&mut server, &client, "moql", host, "/anon?jwt=x").await;
    assert_eq!(connected.version, Version::LATEST);
    assert_eq!(connected.kind, TransportKind::Quic);
    assert_eq!(connected.setup_path.as_deref(), Some("/anon?jwt=x"));
    assert_eq!(connected.session.protocol(), Some(Version::LATEST.alpn()));
    assert_eq!(session.protocol(), Some(Version::LATEST.alpn()));
    assert_eq!(connected.session.kind(), TransportKind::Quic);
    assert_eq!(session.kind(), TransportKind::Quic);
    assert_eq!(session.remote_address(), seen.remote);
    assert_eq!(seen.kind, TransportKind::Quic);
    assert_eq!(seen.version, Version::LATEST);
    assert_eq!(seen.request_path, None);
    assert_eq!(
        seen.remote.ip(),
        host.trim_matches(['[', ']'])
            .parse::<std::net::IpAddr>()
            .unwrap()
    );

    exchange(&connected.session, &session).await;
}

#[tokio::test]
async fn raw_quic_over_ipv4() {
    raw_quic_session_works("127.0.0.1:0", "127.0.0.1").await;
}

#[tokio::test]
async fn raw_quic_over_ipv6() {
    raw_quic_session_works("[::1]:0", "[::1]").await;
}

async fn webtransport_session_works(bind: &str, host: &str) {
    init_tracing();
    let mut server = server(bind, &Version::ALL);
    let client = pinned_client(&server, &Version::ALL);
    let (connected, session, seen) =
        establish(&mut server, &client, "https", host, "/room?x=1").await;
    assert_eq!(connected.version, Version::LATEST);
    assert_eq!(connected.kind, TransportKind::WebTransport);
    assert_eq!(connected.setup_path, None);
    assert_eq!(connected.session.kind(), TransportKind::WebTransport);
    assert_eq!(session.kind(), TransportKind::WebTransport);
    assert_eq!(session.remote_address(), seen.remote);
    assert_eq!(seen.kind, TransportKind::WebTransport);
    assert_eq!(seen.version, Version::LATEST);
    assert_eq!(seen.request_path.as_deref(), Some("/room?x=1"));

    exchange(&connected.session, &session).await;
}

#[tokio::test]
async fn webtransport_over_ipv4() {
    webtransport_session_works("127.0.0.1:0", "127.0.0.1").await;
}

#[tokio::test]
async fn webtransport_over_ipv6() {
    webtransport_session_works("[::1]:0", "[::1]").await;
}

#[tokio::test]
async fn one_wildcard_port_serves_both_families_and_both_transports() {
    init_tracing();
    let mut server = server("[::]:0", &Version::ALL);
    let client = pinned_client(&server, &Version::ALL);

    let (c, s, seen) = establish(&mut server, &client, "moqt", "127.0.0.1", "/a").await;
    assert_eq!(
        (c.kind, seen.kind),
        (TransportKind::Quic, TransportKind::Quic)
    );
    exchange(&c.session, &s).await;

    let (c, s, seen) = establish(&mut server, &client, "https", "[::1]", "/b").await;
    assert_eq!(seen.kind, TransportKind::WebTransport);
    assert_eq!(seen.request_path.as_deref(), Some("/b"));
    exchange(&c.session, &s).await;
}

#[tokio::test]
async fn a_lite04_only_client_negotiates_lite04_on_both_transports() {
    init_tracing();
    let mut server = server("127.0.0.1:0", &Version::ALL);
    let client = pinned_client(&server, &[Version::Lite04]);

    let (c, _s, seen) = establish(&mut server, &client, "moql", "127.0.0.1", "").await;
    assert_eq!(
        (c.version, seen.version),
        (Version::Lite04, Version::Lite04)
    );
    assert_eq!(
        c.setup_path, None,
        "no path and no query: omit the parameter"
    );

    let (c, _s, seen) = establish(&mut server, &client, "https", "127.0.0.1", "/").await;
    assert_eq!(
        (c.version, seen.version),
        (Version::Lite04, Version::Lite04)
    );
    assert_eq!(c.session.protocol(), Some("moq-lite-04"));
}

#[tokio::test]
async fn no_common_version_fails_on_both_transports() {
    init_tracing();
    let mut server = server("127.0.0.1:0", &[Version::Lite05]);
    let client = pinned_client(&server, &[Version::Lite03]);

    let raw = timeout(
        WAIT,
        client.connect(&url("moql", "127.0.0.1", &server, "/")),
    )
    .await
    .expect("raw dial timed out");
    match raw {
        Err(TransportError::NoCommonVersion { offered }) => assert_eq!(offered, ["moq-lite-03"]),
        other => panic!("expected NoCommonVersion, got {other:?}"),
    }

    let wt = timeout(
        WAIT,
        client.connect(&url("https", "127.0.0.1", &server, "/")),
    )
    .await
    .expect("WebTransport dial timed out");
    match wt {
        Err(TransportError::Rejected(status)) => assert_eq!(status, NO_COMMON_VERSION_STATUS),
        other => panic!("expected Rejected(406), got {other:?}"),
    }

    // Neither attempt reaches the application.
    assert!(
        timeout(Duration::from_millis(200), server.accept())
            .await
            .is_err()
    );
}

#[tokio::test]
async fn a_wrong_fingerprint_fails_and_does_not_block_the_next_client() {
    init_tracing();
    let mut server = server("127.0.0.1:0", &Version::ALL);
    let wrong = client(
        ClientTls::Fingerprints(vec![fingerprint_of(b"another")]),
        &Version::ALL,
    );
    for scheme in ["moql", "https"] {
        let result = timeout(WAIT, wrong.connect(&url(scheme, "127.0.0.1", &server, "/")))
            .await
            .expect("dial timed out");
        assert!(
            matches!(result, Err(TransportError::Handshake(_))),
            "{scheme}: {result:?}"
        );
    }

    let good = pinned_client(&server, &Version::ALL);
    let (c, s, _) = establish(&mut server, &good, "moql", "127.0.0.1", "/").await;
    exchange(&c.session, &s).await;
}

#[tokio::test]
async fn a_stalled_webtransport_handshake_does_not_block_other_clients() {
    init_tracing();
    let mut server = server("127.0.0.1:0", &Version::ALL);
    let addr = server.local_addr().unwrap();

    // QUIC handshake with ALPN h3, then silence: no SETTINGS, no CONNECT.
    let crypto = client_crypto(&ClientTls::DisableVerify, None, vec![b"h3".to_vec()]).unwrap();
    let crypto = quinn::crypto::rustls::QuicClientConfig::try_from(crypto).unwrap();
    let endpoint = quinn::Endpoint::client("127.0.0.1:0".parse().unwrap()).unwrap();
    let stalled = endpoint
        .connect_with(
            quinn::ClientConfig::new(std::sync::Arc::new(crypto)),
            addr,
            "localhost",
        )
        .unwrap();
    let _stalled = timeout(WAIT, stalled)
        .await
        .unwrap()
        .expect("QUIC handshake");

    let good = pinned_client(&server, &Version::ALL);
    let (c, s, seen) = establish(&mut server, &good, "https", "127.0.0.1", "/ok").await;
    assert_eq!(seen.request_path.as_deref(), Some("/ok"));
    exchange(&c.session, &s).await;
}

#[tokio::test]
async fn disable_verify_accepts_any_certificate() {
    init_tracing();
    let mut server = server("127.0.0.1:0", &Version::ALL);
    let client = client(ClientTls::DisableVerify, &Version::ALL);
    for scheme in ["moql", "https"] {
        let (c, s, _) = establish(&mut server, &client, scheme, "127.0.0.1", "/").await;
        exchange(&c.session, &s).await;
    }
}

/// Serve one `/certificate.sha256` request on TCP `addr` with `status` and `body`.
async fn serve_certificate_once(addr: SocketAddr, status: &'static str, body: String) {
    let listener = tokio::net::TcpListener::bind(addr)
        .await
        .expect("bind TCP on the same port");
    tokio::spawn(async move {
        let Ok(Ok((mut stream, _))) = timeout(WAIT, listener.accept()).await else {
            return;
        };
        let mut request = Vec::new();
        let mut buf = [0u8; 512];
        while !request.windows(4).any(|w| w == b"\r\n\r\n") {
            match timeout(WAIT, stream.read(&mut buf)).await {
                Ok(Ok(n)) if n > 0 => request.extend_from_slice(&buf[..n]),
                _ => return,
            }
        }
        assert!(request.starts_with(b"GET /certificate.sha256 HTTP/1.1\r\n"));
        let response = format!(
            "HTTP/1.1 {status}\r\nContent-Type: text/plain\r\nContent-Length: {}\r\n\r\n{body}",
            body.len()
        );
        let _ = stream.write_all(response.as_bytes()).await;
    });
}

#[tokio::test]
async fn http_dev_url_pins_the_fingerprint_served_over_tcp() {
    init_tracing();
    let mut server = server("127.0.0.1:0", &Version::ALL);
    let addr = server.local_addr().unwrap();
    serve_certificate_once(addr, "200 OK", format!("{}\n", server.fingerprint())).await;

    // The configured pin is wrong on purpose: only the fetched one can make this succeed.
    let client = client(
        ClientTls::Fingerprints(vec![fingerprint_of(b"x")]),
        &Version::ALL,
    );
    let (c, s, seen) = establish(&mut server, &client, "http", "127.0.0.1", "/dev?y=2").await;
    assert_eq!(c.kind, TransportKind::WebTransport);
    assert_eq!(c.version, Version::LATEST);
    assert_eq!(seen.request_path.as_deref(), Some("/dev?y=2"));
    exchange(&c.session, &s).await;
}

#[tokio::test]
async fn http_dev_url_without_a_generated_certificate_fails() {
    init_tracing();
    let server = server("127.0.0.1:0", &Version::ALL);
    serve_certificate_once(server.local_addr().unwrap(), "404 Not Found", String::new()).await;
    let client = client(ClientTls::DisableVerify, &Version::ALL);
    let result = timeout(
        WAIT,
        client.connect(&url("http", "127.0.0.1", &server, "/")),
    )
    .await
    .expect("dial timed out");
    assert!(
        matches!(result, Err(TransportError::Certificate(_))),
        "{result:?}"
    );
}

#[tokio::test]
async fn webtransport_reject_reaches_the_client_as_its_status() {
    init_tracing();
    let mut server = server("127.0.0.1:0", &Version::ALL);
    let client = pinned_client(&server, &Version::ALL);
    let url = url("https", "127.0.0.1", &server, "/private");
    let reject = async {
        let incoming = server.accept().await.expect("incoming");
        assert_eq!(incoming.request_path().as_deref(), Some("/private"));
        incoming.reject(403).await;
    };
    let (result, ()) = timeout(WAIT, async { tokio::join!(client.connect(&url), reject) })
        .await
        .expect("timed out");
    assert!(
        matches!(result, Err(TransportError::Rejected(403))),
        "{result:?}"
    );
}

#[tokio::test]
async fn raw_quic_reject_closes_with_the_spec_codes() {
    init_tracing();
    let mut server = server("127.0.0.1:0", &Version::ALL);
    let client = pinned_client(&server, &Version::ALL);
    // Spec 1.4: 6 (Unauthorized) for 401/403, 64 + status otherwise.
    for (status, code) in [(403, 6), (401, 6), (502, 566)] {
        let url = url("moql", "127.0.0.1", &server, "/private");
        let reject = async {
            server
                .accept()
                .await
                .expect("incoming")
                .reject(status)
                .await
        };
        let (connected, ()) = timeout(WAIT, async { tokio::join!(client.connect(&url), reject) })
            .await
            .expect("timed out");
        let session = connected
            .expect("raw QUIC connects before the server decides")
            .session;
        let err = timeout(WAIT, web_transport_trait::Session::closed(&session))
            .await
            .expect("close timed out");
        assert_eq!(
            err.session_error().map(|(c, _)| c),
            Some(code),
            "status {status}: {err:?}"
        );
    }
}

#[tokio::test]
async fn close_ends_accept_and_the_sessions() {
    init_tracing();
    let mut server = server("127.0.0.1:0", &Version::ALL);
    let client = pinned_client(&server, &Version::ALL);
    let (c, _s, _) = establish(&mut server, &client, "moql", "127.0.0.1", "/").await;

    server.close(moql_wire::ErrorCode(7), "shutting down");
    assert!(
        timeout(WAIT, server.accept())
            .await
            .expect("accept timed out")
            .is_none()
    );
    let err = timeout(WAIT, web_transport_trait::Session::closed(&c.session))
        .await
        .expect("close timed out");
    assert_eq!(err.session_error().map(|(c, _)| c), Some(7));
}

#[tokio::test]
async fn close_gracefully_lets_closed_webtransport_sessions_send_their_capsule_first() {
    init_tracing();
    let mut server = server("127.0.0.1:0", &Version::ALL);
    let client = pinned_client(&server, &Version::ALL);
    let (wt, wt_server, _) = establish(&mut server, &client, "https", "127.0.0.1", "/").await;
    let (quic, _quic_server, _) = establish(&mut server, &client, "moql", "127.0.0.1", "/").await;

    // The session's close (CLOSE_WEBTRANSPORT_SESSION) is written by a spawned task; closing
    // the endpoint at once would cut it off and the peer would see the endpoint's code.
    web_transport_trait::Session::close(&wt_server, 5, "going");
    timeout(WAIT, async {
        server
            .close_gracefully(
                moql_wire::ErrorCode(9),
                "shutting down",
                Duration::from_secs(1),
            )
            .await;
        server.wait_idle().await;
    })
    .await
    .expect("shutdown timed out");
    drop(server);
    let err = timeout(WAIT, web_transport_trait::Session::closed(&wt.session))
        .await
        .expect("close timed out");
    assert_eq!(err.session_error(), Some((5, "going".to_string())));
    // A session nobody closed gets the endpoint's close.
    let err = timeout(WAIT, web_transport_trait::Session::closed(&quic.session))
        .await
        .expect("close timed out");
    assert_eq!(err.session_error().map(|(c, _)| c), Some(9));
}

#[tokio::test]
async fn bad_urls_fail_before_dialing() {
    let client = client(ClientTls::DisableVerify, &Version::ALL);
    assert!(matches!(
        client.connect("ftp://relay.example/anon").await,
        Err(TransportError::UnsupportedScheme(_))
    ));
    assert!(matches!(
        client.connect("moql://").await,
        Err(TransportError::InvalidUrl(_))
    ));
}

#[tokio::test]
async fn dropping_the_server_keeps_accepted_sessions() {
    init_tracing();
    let mut server = server("127.0.0.1:0", &Version::ALL);
    let client = pinned_client(&server, &Version::ALL);
    let (quic, quic_server, _) = establish(&mut server, &client, "moql", "127.0.0.1", "/").await;
    let (wt, wt_server, _) = establish(&mut server, &client, "https", "127.0.0.1", "/").await;
    drop(server);
    tokio::time::sleep(Duration::from_millis(50)).await;
    exchange(&quic.session, &quic_server).await;
    exchange(&wt.session, &wt_server).await;
}

#[tokio::test]
async fn system_roots_reject_a_self_signed_server() {
    init_tracing();
    let mut server = server("127.0.0.1:0", &Version::ALL);
    let client = match Client::new(ClientConfig::default()) {
        Ok(client) => client,
        // No system roots in this environment: nothing to check.
        Err(TransportError::Tls(why)) => return eprintln!("skipped: {why}"),
        Err(err) => panic!("{err}"),
    };
    for scheme in ["moql", "https"] {
        let result = timeout(
            WAIT,
            client.connect(&url(scheme, "127.0.0.1", &server, "/")),
        )
        .await
        .expect("dial timed out");
        assert!(
            matches!(result, Err(TransportError::Handshake(_))),
            "{scheme}: {result:?}"
        );
    }
    assert!(
        timeout(Duration::from_millis(100), server.accept())
            .await
            .is_err()
    );
}

/// Public handles cross tasks and threads.
#[test]
fn public_types_are_send_sync_unpin() {
    fn check<T: Send + Sync + Unpin>() {}
    check::<Server>();
    check::<Incoming>();
    check::<Client>();
    check::<Connected>();
    check::<Certificate>();
    check::<ServerConfig>();
    check::<ClientConfig>();
    check::<TransportError>();
    check::<Connection>();
    check::<SendStream>();
    check::<RecvStream>();
    check::<ConnectionError>();
    check::<RawSession>();
    check::<RawSendStream>();
    check::<RawRecvStream>();
    check::<RawError>();
}

/// The session handle is what the engine clones into its tasks.
#[test]
fn transport_is_clone_and_static() {
    fn check<T: Clone + Send + Sync + 'static>() {}
    check::<Connection>();
    check::<RawSession>();
}
