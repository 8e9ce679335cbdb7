//! Anonymous access with separate subscribe and publish prefixes (`--public-subscribe`,
//! `--public-publish`), over real QUIC sessions to the real binary.

use std::process::Stdio;
use std::time::Duration;

use moql_model::{BroadcastProducer, OriginProducer, Path, TrackInfo};
use moql_native::{Client, ClientConfig, ClientTls};
use moql_session::{Session, SessionConfig, SessionError};
use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::process::Command;

const WAIT: Duration = Duration::from_secs(20);

async fn within<F: std::future::Future>(what: &str, future: F) -> F::Output {
    tokio::time::timeout(WAIT, future)
        .await
        .unwrap_or_else(|_| panic!("timed out waiting for {what}"))
}

/// A session at `path`, publishing `publish` and receiving into `received`; `Err` if the
/// relay refused it before its SETUP.
async fn connect(
    port: u16,
    fingerprint: &str,
    path: &str,
    publish: &OriginProducer,
    received: &OriginProducer,
) -> Result<Session, SessionError> {
    let client = Client::new(ClientConfig::new(ClientTls::Fingerprints(vec![
        fingerprint.to_string(),
    ])))
    .unwrap();
    let url = format!("moql://127.0.0.1:{port}{path}");
    let connected = within("the connection", client.connect(&url))
        .await
        .unwrap();
    let mut config = SessionConfig::new()
        .with_publish(publish.consume())
        .with_subscribe(received.clone());
    config.setup_path = connected.setup_path.clone();
    Session::connect(connected.session, connected.version, config).await
}

async fn announced(origin: &OriginProducer, path: &str) {
    let path = Path::new(path).unwrap();
    let mut watcher = origin.consume();
    within(&format!("announcement of {path}"), async {
        while origin.broadcast(&path).is_none() {
            assert!(watcher.announced().await.is_some(), "origin closed");
        }
    })
    .await;
}

fn publish(origin: &OriginProducer, path: &str) -> BroadcastProducer {
    let broadcast = BroadcastProducer::new();
    broadcast.create_track("clock", TrackInfo::DEFAULT).unwrap();
    origin
        .publish(&Path::new(path).unwrap(), broadcast.consume())
        .unwrap();
    broadcast
}

/// Anyone may watch `live/` and publish under `live/cams/`: a watcher sees a camera; what
/// the watcher announces outside its publish prefixes is ignored (never reaches another
/// watcher); a session outside every public prefix is closed with 6 (Unauthorized).
#[tokio::test]
async fn anonymous_sessions_get_exactly_the_public_subscribe_and_publish_prefixes() {
    let mut relay = Command::new(env!("CARGO_BIN_EXE_moql-relay"))
        .args(["--bind", "127.0.0.1:0", "--log", "warn", "--no-http"])
        .args([
            "--public-subscribe",
            "live",
            "--public-publish",
            "live/cams",
        ])
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .kill_on_drop(true)
        .spawn()
        .expect("the relay starts");
    let mut lines = BufReader::new(relay.stdout.take().unwrap()).lines();
    let line = within("the listening line", lines.next_line())
        .await
        .unwrap()
        .expect("a line");
    let words: Vec<&str> = line.split_whitespace().collect();
    let port = words[1].parse::<std::net::SocketAddr>().unwrap().port();
    let fingerprint = words[3].to_string();

    let camera_out = OriginProducer::new();
    let _camera = connect(
        port,
        &fingerprint,
        "/live/cams",
        &camera_out,
        &OriginProducer::new(),
    )
    .await
    .expect("a camera may connect");
    let watcher_out = OriginProducer::new();
    let watcher_in = OriginProducer::new();
    let watcher = connect(port, &fingerprint, "/live", &watcher_out, &watcher_in)
        .await
        .expect("a watcher may connect");
    let other_in = OriginProducer::new();
    let _other = connect(
        port,
        &fingerprint,
        "/live",
        &OriginProducer::new(),
        &other_in,
    )
    .await
    .expect("a second watcher");

    // The watcher tries to publish first, then the camera: once the camera's broadcast has
    // reached the other watcher, the watcher's would have too.
    let _pirate = publish(&watcher_out, "pirate");
    let _first = publish(&camera_out, "one");
    announced(&watcher_in, "cams/one").await;
    announced(&other_in, "cams/one").await;
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert!(
        other_in.broadcast(&Path::new("pirate").unwrap()).is_none(),
        "an anonymous publish outside the publish prefixes must be ignored"
    );
    assert!(
        watcher.close_reason().is_none(),
        "the watcher stays connected"
    );

    for path in ["/", "/cams", "/lively"] {
        let result = connect(
            port,
            &fingerprint,
            path,
            &OriginProducer::new(),
            &OriginProducer::new(),
        )
        .await;
        let err = match result {
            Ok(session) => within("the refusal", session.closed()).await,
            Err(err) => err,
        };
        assert_eq!(
            err.code(),
            moql_wire::ErrorCode::UNAUTHORIZED,
            "{path}: {err}"
        );
    }
}
