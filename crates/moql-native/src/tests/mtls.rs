//! Private CAs on both sides: a client trusting custom roots ([`ClientTls::Roots`]) and a
//! server verifying client certificates ([`ServerConfig::client_roots`], mTLS), over real
//! QUIC and WebTransport on loopback.

use moql_wire::Version;
use rcgen::{
    BasicConstraints, CertificateParams, DnType, ExtendedKeyUsagePurpose, IsCa, Issuer, KeyPair,
    KeyUsagePurpose,
};
use rustls::pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer};

use super::*;

const V: &[Version] = &[Version::Lite03];

/// A throwaway certificate authority.
struct Ca {
    der: CertificateDer<'static>,
    pem: String,
    issuer: Issuer<'static, KeyPair>,
}

impl Ca {
    fn new(name: &str) -> Self {
        let key = KeyPair::generate().expect("CA key");
        let mut params = CertificateParams::new(Vec::<String>::new()).expect("CA params");
        params.distinguished_name.push(DnType::CommonName, name);
        params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        params.key_usages = vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::CrlSign];
        let cert = params.self_signed(&key).expect("self-sign CA");
        Self {
            der: cert.der().clone(),
            pem: cert.pem(),
            issuer: Issuer::new(params, key),
        }
    }

    /// A leaf for `names`, usable as a server (`client` false) or client certificate.
    fn issue(&self, names: &[&str], client: bool) -> Certificate {
        let key = KeyPair::generate().expect("leaf key");
        let names: Vec<String> = names.iter().map(|n| n.to_string()).collect();
        let mut params = CertificateParams::new(names).expect("leaf params");
        params.extended_key_usages = vec![if client {
            ExtendedKeyUsagePurpose::ClientAuth
        } else {
            ExtendedKeyUsagePurpose::ServerAuth
        }];
        let leaf = params.signed_by(&key, &self.issuer).expect("sign leaf");
        Certificate {
            chain: vec![leaf.der().clone()],
            key: PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(key.serialize_der())),
        }
    }
}

fn server_with(certificate: Certificate, client_roots: Vec<CertificateDer<'static>>) -> Server {
    let mut config = ServerConfig::new("127.0.0.1:0".parse().expect("addr"), certificate);
    config.versions = V.to_vec();
    config.client_roots = client_roots;
    Server::bind(config).expect("bind server")
}

fn client_with(tls: ClientTls, identity: Option<Certificate>) -> Client {
    let mut config = ClientConfig::new(tls);
    config.versions = V.to_vec();
    config.identity = identity;
    Client::new(config).expect("client")
}

/// Dials `url` while the server accepts; the client's result and what the server saw of the
/// client's certificates (`None` on the server side when nothing was accepted in time).
async fn dial(
    server: &mut Server,
    client: &Client,
    url: &str,
) -> (
    Result<Connected, TransportError>,
    Option<Option<Vec<CertificateDer<'static>>>>,
) {
    let accept = async {
        let incoming = server.accept().await.expect("server closed");
        let chain = incoming.peer_certificates();
        let _session = incoming.accept().await;
        chain
    };
    tokio::pin!(accept);
    let connect = client.connect(url);
    tokio::pin!(connect);
    tokio::select! {
        result = &mut connect => {
            // Failed (or done before the accept finished): give the server a short moment to
            // report what it saw; a refused handshake never reaches `accept`.
            let seen = tokio::time::timeout(Duration::from_millis(500), accept).await.ok();
            (result, seen)
        }
        seen = &mut accept => {
            let result = timeout(WAIT, connect).await.expect("connect timed out");
            (result, Some(seen))
        }
    }
}

#[tokio::test]
async fn a_client_trusting_a_private_ca_verifies_the_chain_and_the_name() {
    init_tracing();
    let ca = Ca::new("test CA");
    let mut server = server_with(ca.issue(&["localhost", "127.0.0.1"], false), Vec::new());

    let trusting = client_with(ClientTls::Roots(vec![ca.der.clone()]), None);
    for scheme in ["moql", "https"] {
        let url = url(scheme, "127.0.0.1", &server, "/");
        let (result, _) = dial(&mut server, &trusting, &url).await;
        assert!(result.is_ok(), "{scheme}: {result:?}");
    }

    // Another CA's roots: refused.
    let other = client_with(ClientTls::Roots(vec![Ca::new("other").der]), None);
    let url = url("moql", "127.0.0.1", &server, "/");
    let (result, _) = dial(&mut server, &other, &url).await;
    assert!(result.is_err(), "another CA's roots accepted the server");

    // The right CA, but a certificate that does not name the host dialed: refused.
    let mut misnamed = server_with(ca.issue(&["elsewhere.example"], false), Vec::new());
    let url = super::url("moql", "127.0.0.1", &misnamed, "/");
    let (result, _) = dial(&mut misnamed, &trusting, &url).await;
    assert!(
        result.is_err(),
        "a certificate for another name was accepted"
    );
}

#[tokio::test]
async fn a_server_with_client_roots_reports_a_verified_client_certificate() {
    init_tracing();
    let server_ca = Ca::new("server CA");
    let peer_ca = Ca::new("peer CA");
    let mut server = server_with(
        server_ca.issue(&["127.0.0.1"], false),
        vec![peer_ca.der.clone()],
    );
    let roots = ClientTls::Roots(vec![server_ca.der.clone()]);

    let identity = peer_ca.issue(&["node-b.cluster"], true);
    let leaf = identity.chain[0].clone();
    let peer = client_with(roots.clone(), Some(identity));
    // The same client again: the later handshakes resume the TLS session from a ticket, and
    // the certificate must still be reported (a reconnecting client keeps its grant).
    for scheme in ["moql", "https", "moql"] {
        let url = url(scheme, "127.0.0.1", &server, "/");
        let (result, seen) = dial(&mut server, &peer, &url).await;
        assert!(result.is_ok(), "{scheme}: {result:?}");
        let chain = seen
            .flatten()
            .expect("the server saw the client certificate");
        assert_eq!(chain[0], leaf, "{scheme}: the presented leaf");
        // Keep the connection while its session ticket arrives.
        tokio::time::sleep(Duration::from_millis(100)).await;
        drop(result);
    }

    // No certificate: still accepted (it may authenticate with a token), and reported as such.
    let anonymous = client_with(roots.clone(), None);
    let url = url("moql", "127.0.0.1", &server, "/");
    let (result, seen) = dial(&mut server, &anonymous, &url).await;
    assert!(result.is_ok(), "{result:?}");
    assert_eq!(seen, Some(None), "no client certificate reported");

    // A certificate from a CA the server does not trust: the handshake fails, and nothing
    // reaches the application.
    let stranger = client_with(roots, Some(Ca::new("rogue").issue(&["node-x"], true)));
    let (result, seen) = dial(&mut server, &stranger, &url).await;
    let accepted = matches!(seen, Some(Some(_)));
    assert!(
        !accepted,
        "an unverified client certificate was reported as verified"
    );
    if let Ok(connected) = result {
        // TLS 1.3: the client finishes before the server has checked its certificate; the
        // server's refusal then closes the connection.
        let closed = timeout(WAIT, connected.session.closed()).await;
        assert!(closed.is_ok(), "a refused client stayed connected");
    }
}

#[tokio::test]
async fn a_server_without_client_roots_asks_for_no_certificate() {
    init_tracing();
    let ca = Ca::new("CA");
    let mut server = server_with(ca.issue(&["127.0.0.1"], false), Vec::new());
    let client = client_with(
        ClientTls::Roots(vec![ca.der.clone()]),
        Some(ca.issue(&["node"], true)),
    );
    let url = url("moql", "127.0.0.1", &server, "/");
    let (result, seen) = dial(&mut server, &client, &url).await;
    assert!(result.is_ok(), "{result:?}");
    assert_eq!(
        seen,
        Some(None),
        "a certificate nobody asked for was reported"
    );
}

#[test]
fn roots_are_loaded_from_pem_and_unusable_ones_are_refused() {
    let dir = std::env::temp_dir().join(format!("moql-roots-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("dir");
    let (a, b) = (Ca::new("a"), Ca::new("b"));
    let bundle = dir.join("bundle.pem");
    std::fs::write(&bundle, format!("{}{}", a.pem, b.pem)).expect("write");
    let roots = Certificate::load_roots(&[&bundle]).expect("load bundle");
    assert_eq!(roots, vec![a.der.clone(), b.der.clone()]);

    let empty = dir.join("empty.pem");
    std::fs::write(&empty, "no certificates here\n").expect("write");
    assert!(matches!(
        Certificate::load_roots(&[&empty]),
        Err(TransportError::Certificate(_))
    ));
    assert!(matches!(
        Certificate::load_roots(&[dir.join("missing.pem")]),
        Err(TransportError::Io(_))
    ));
    std::fs::remove_dir_all(&dir).ok();

    // An empty list trusts nothing: refused up front, on both sides.
    assert!(matches!(
        client_crypto(&ClientTls::Roots(Vec::new()), None, Vec::new()),
        Err(TransportError::Certificate(_))
    ));
    // Garbage is not a trust anchor.
    let garbage = vec![CertificateDer::from(vec![0x30, 0x03, 0x01, 0x02, 0x03])];
    assert!(client_crypto(&ClientTls::Roots(garbage.clone()), None, Vec::new()).is_err());
    let store = CertStore::new(&a.issue(&["x"], false)).expect("store");
    assert!(server_crypto_from(&store, &garbage, Vec::new()).is_err());
}

#[test]
fn the_reset_seed_follows_the_private_key() {
    let ca = Ca::new("CA");
    let one = ca.issue(&["a"], false);
    let reloaded = Certificate {
        chain: Vec::new(),
        key: one.key.clone_key(),
    };
    assert_eq!(
        one.reset_seed(),
        reloaded.reset_seed(),
        "same key, same seed"
    );
    assert_ne!(one.reset_seed(), ca.issue(&["a"], false).reset_seed());
    assert_ne!(one.reset_seed(), [0; 32]);
}
