//! The HTTP endpoints over a real TCP listener on 127.0.0.1, driven by a minimal HTTP/1.1
//! client, in front of an origin with real broadcasts and tracks.

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Duration;

use moql_model::{BroadcastProducer, Error, OriginProducer, Path, TrackInfo, TrackProducer};
use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
use tokio::net::{TcpListener, TcpStream};

use super::*;
use crate::auth::{AuthConfig, Claims, KeyConfig, SigningKey, generate_hs256_secret, sign};

/// A response as the test client saw it.
#[derive(Debug)]
struct Reply {
    status: u16,
    headers: Vec<(String, String)>,
    body: Vec<u8>,
}

impl Reply {
    fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }
}

/// `GET target` with `Connection: close`, read to the end.
async fn get(addr: SocketAddr, target: &str) -> Reply {
    let mut stream = TcpStream::connect(addr).await.unwrap();
    let request = format!("GET {target} HTTP/1.1\r\nHost: test\r\nConnection: close\r\n\r\n");
    stream.write_all(request.as_bytes()).await.unwrap();
    let mut raw = Vec::new();
    stream.read_to_end(&mut raw).await.unwrap();
    let split = raw.windows(4).position(|w| w == b"\r\n\r\n").unwrap();
    let head = String::from_utf8(raw[..split].to_vec()).unwrap();
    let mut lines = head.split("\r\n");
    let status = lines.next().unwrap().split(' ').nth(1).unwrap();
    let headers: Vec<(String, String)> = lines
        .map(|line| {
            let (name, value) = line.split_once(':').unwrap();
            (name.trim().to_string(), value.trim().to_string())
        })
        .collect();
    let mut reply = Reply {
        status: status.parse().unwrap(),
        headers,
        body: raw[split + 4..].to_vec(),
    };
    // `/fetch` streams its body; the rest have a length.
    if reply.header("transfer-encoding") == Some("chunked") {
        reply.body = dechunk(&reply.body);
    }
    reply
}

/// The payload of a complete chunked body (RFC 9112 7.1); panics on a cut one.
fn dechunk(mut rest: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    loop {
        let line = rest
            .windows(2)
            .position(|w| w == b"\r\n")
            .expect("a chunk size line");
        let size = std::str::from_utf8(&rest[..line]).unwrap();
        let size = usize::from_str_radix(size.trim(), 16).expect("a hex chunk size");
        rest = &rest[line + 2..];
        if size == 0 {
            return out;
        }
        out.extend_from_slice(&rest[..size]);
        rest = &rest[size + 2..];
    }
}

/// An origin with `room/a` (tracks `video`, `slow`, `broken`) and `room/b`, `lobby`.
struct Fixture {
    origin: OriginProducer,
    video: TrackProducer,
    /// A track whose cache keeps only its latest group: group 0 has expired.
    short: TrackProducer,
    _slow: TrackProducer,
    _broadcasts: Vec<BroadcastProducer>,
}

fn fixture() -> Fixture {
    let origin = OriginProducer::new();
    let room_a = BroadcastProducer::new();
    let video = room_a.create_track("video", TrackInfo::DEFAULT).unwrap();
    let slow = room_a.create_track("slow", TrackInfo::DEFAULT).unwrap();
    let broken = room_a.create_track("broken", TrackInfo::DEFAULT).unwrap();
    let short_info = TrackInfo {
        max_latency: Duration::ZERO,
        ..TrackInfo::DEFAULT
    };
    let short = room_a.create_track("short", short_info).unwrap();
    for timestamp in [0, 10, 20] {
        let group = short.append_group().unwrap();
        group.write(timestamp, b"x".to_vec()).unwrap();
        group.finish().unwrap();
    }
    write_group(&video, &[b"hello", b" ", b"world"]);
    write_group(&video, &[&[0x00, 0x01], b"", &[0xff]]);
    write_group(&video, &[b"latest"]);
    slow.append_group().unwrap().finish().unwrap();
    // `slow` says it answers fetches, then never does.
    slow.accept_fetches();

    // The broadcast's producer, as a session would: unknown tracks do not exist, missing
    // groups of `video` are not found upstream, `broken`'s upstream fails, `slow` never
    // answers.
    let producer = room_a.clone();
    tokio::spawn(async move {
        while let Some(request) = producer.requested_track().await {
            drop(request);
        }
    });
    let answer = video.clone();
    tokio::spawn(async move {
        while let Some(request) = answer.requested_fetch().await {
            request.reject(Error::NotFound);
        }
    });
    tokio::spawn(async move {
        while let Some(request) = broken.requested_fetch().await {
            request.reject(Error::Transport);
        }
    });

    let room_b = BroadcastProducer::new();
    let lobby = BroadcastProducer::new();
    let roomy = BroadcastProducer::new();
    for (path, broadcast) in [
        ("room/a", &room_a),
        ("room/b", &room_b),
        ("lobby", &lobby),
        ("roomy", &roomy),
    ] {
        origin
            .publish(&Path::new(path).unwrap(), broadcast.consume())
            .unwrap();
    }
    Fixture {
        origin,
        video,
        short,
        _slow: slow,
        _broadcasts: vec![room_a, room_b, lobby, roomy],
    }
}

fn write_group(track: &TrackProducer, frames: &[&[u8]]) {
    let group = track.append_group().unwrap();
    for (i, frame) in frames.iter().enumerate() {
        group.write(i as u64, frame.to_vec()).unwrap();
    }
    group.finish().unwrap();
}

fn state(origin: &OriginProducer, certificate: Option<&moql_native::CertStore>) -> HttpState {
    HttpState {
        origin: origin.clone(),
        certificate: certificate.cloned(),
        metrics: Arc::new(Metrics::default()),
        serve_metrics: true,
        auth: None,
        websocket: None,
        web_root: None,
        fetch_timeout: Duration::from_millis(300),
        archive: None,
    }
}

/// Serves `state` (with its short fetch timeout) on 127.0.0.1.
async fn start(state: HttpState) -> SocketAddr {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let router = router(state);
    tokio::spawn(serve(listener, router, std::future::pending()));
    addr
}

#[tokio::test]
async fn the_certificate_fingerprint_is_bare_lowercase_hex_and_404_without_one() {
    let origin = OriginProducer::new();
    let generate = || moql_native::Certificate::generate(&["localhost".into()]).unwrap();
    let store = moql_native::CertStore::new(&generate()).unwrap();
    let addr = start(state(&origin, Some(&store))).await;
    let reply = get(addr, "/certificate.sha256").await;
    assert_eq!(reply.status, 200);
    let served = store.fingerprint();
    assert_eq!(served.len(), 64);
    assert!(
        served
            .bytes()
            .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
    );
    assert_eq!(reply.body, served.as_bytes());
    // A renewal shows at once.
    let renewed = store.replace(&generate()).unwrap();
    assert_ne!(renewed, served);
    assert_eq!(
        get(addr, "/certificate.sha256").await.body,
        renewed.as_bytes()
    );
    let reply = get(addr, "/certificate.sha256").await;
    assert_eq!(
        reply.header("content-type"),
        Some("text/plain; charset=utf-8")
    );
    assert_eq!(reply.header("access-control-allow-origin"), Some("*"));

    let addr = start(state(&origin, None)).await;
    let reply = get(addr, "/certificate.sha256").await;
    assert_eq!(reply.status, 404);
    assert!(
        reply.text().contains("no generated certificate"),
        "{reply:?}"
    );
}

#[tokio::test]
async fn announced_lists_the_broadcasts_under_a_prefix_one_per_line() {
    let fixture = fixture();
    let addr = start(state(&fixture.origin, None)).await;
    for target in ["/announced", "/announced/"] {
        let reply = get(addr, target).await;
        assert_eq!(reply.status, 200);
        assert_eq!(reply.text(), "lobby\nroom/a\nroom/b\nroomy\n");
    }
    assert_eq!(
        get(addr, "/announced/room").await.text(),
        "room/a\nroom/b\n"
    );
    assert_eq!(get(addr, "/announced/room/a/").await.text(), "room/a\n");
    let empty = get(addr, "/announced/nothing").await;
    assert_eq!((empty.status, empty.text()), (200, String::new()));

    fixture.origin.unpublish(&Path::new("room/b").unwrap());
    assert_eq!(get(addr, "/announced/room").await.text(), "room/a\n");
}

#[tokio::test]
async fn fetch_returns_a_past_group_byte_exact() {
    let fixture = fixture();
    let addr = start(state(&fixture.origin, None)).await;
    let reply = get(addr, "/fetch/room/a/video?group=0").await;
    assert_eq!(reply.status, 200, "{}", reply.text());
    assert_eq!(reply.body, b"hello world");
    assert_eq!(
        reply.header("content-type"),
        Some("application/octet-stream")
    );
    assert_eq!(reply.header("x-moq-group"), Some("0"));

    let reply = get(addr, "/fetch/room/a/video?group=1&format=payloads").await;
    assert_eq!(reply.body, [0x00, 0x01, 0xff]);
}

#[tokio::test]
async fn format_frames_prefixes_each_payload_with_a_big_endian_u32_length() {
    let fixture = fixture();
    let addr = start(state(&fixture.origin, None)).await;
    let reply = get(addr, "/fetch/room/a/video?group=1&format=frames").await;
    assert_eq!(reply.status, 200, "{}", reply.text());
    #[rustfmt::skip]
    let expected = [
        0x00, 0x00, 0x00, 0x02,  0x00, 0x01,
        0x00, 0x00, 0x00, 0x00,
        0x00, 0x00, 0x00, 0x01,  0xff,
    ];
    assert_eq!(reply.body, expected);
}

#[tokio::test]
async fn group_latest_returns_the_newest_group() {
    let fixture = fixture();
    let addr = start(state(&fixture.origin, None)).await;
    let reply = get(addr, "/fetch/room/a/video?group=latest").await;
    assert_eq!(reply.status, 200, "{}", reply.text());
    assert_eq!(reply.body, b"latest");
    assert_eq!(reply.header("x-moq-group"), Some("2"));

    write_group(&fixture.video, &[b"newer"]);
    let reply = get(addr, "/fetch/room/a/video?group=latest&format=frames").await;
    assert_eq!(reply.body, b"\x00\x00\x00\x05newer");
    assert_eq!(reply.header("x-moq-group"), Some("3"));
}

#[tokio::test]
async fn unknown_broadcasts_tracks_and_groups_are_404_with_a_reason() {
    let fixture = fixture();
    let addr = start(state(&fixture.origin, None)).await;
    let cases = [
        (
            "/fetch/room/a/audio?group=0",
            "track `audio` of broadcast `room/a` not found",
        ),
        (
            "/fetch/room/a/video?group=99",
            "group 99 of track `video` of broadcast `room/a` not found: it does not exist (yet)",
        ),
        ("/nowhere", "no such endpoint"),
    ];
    for (target, reason) in cases {
        let reply = get(addr, target).await;
        assert_eq!(reply.status, 404, "{target}: {}", reply.text());
        assert!(reply.text().contains(reason), "{target}: {}", reply.text());
        assert!(reply.text().ends_with('\n'));
    }
    let reply = get(addr, "/fetch/room/a/video?group=99").await;
    assert_eq!(
        reply.header("cache-control"),
        Some("no-store"),
        "errors are never cached"
    );
}

#[tokio::test]
async fn a_404_tells_a_group_that_expired_from_one_that_does_not_exist_yet() {
    let fixture = fixture();
    let short = &fixture.short;
    assert!(
        short.consume().cached_group(0).is_none(),
        "group 0 was evicted"
    );
    let addr = start(state(&fixture.origin, None)).await;
    let expired = get(addr, "/fetch/room/a/short?group=0").await;
    assert_eq!(expired.status, 404, "{}", expired.text());
    assert!(
        expired.text().contains("has expired from the cache"),
        "{}",
        expired.text()
    );
    let future = get(addr, "/fetch/room/a/short?group=9").await;
    assert_eq!(future.status, 404, "{}", future.text());
    assert!(
        future.text().contains("does not exist (yet)"),
        "{}",
        future.text()
    );
}

#[tokio::test]
async fn a_broadcast_not_announced_yet_is_waited_for_then_504_naming_it() {
    let fixture = fixture();
    let addr = start(state(&fixture.origin, None)).await;
    let reply = get(addr, "/fetch/room/zzz/video?group=0").await;
    assert_eq!(reply.status, 504, "{}", reply.text());
    assert!(
        reply
            .text()
            .contains("waiting for broadcast `room/zzz` to be announced"),
        "{}",
        reply.text()
    );
    assert_eq!(reply.header("cache-control"), Some("no-store"));

    // Announced 100 ms into a 300 ms deadline: served.
    let late = BroadcastProducer::new();
    let track = late.create_track("video", TrackInfo::DEFAULT).unwrap();
    write_group(&track, &[b"late"]);
    let origin = fixture.origin.clone();
    let publish = late.consume();
    tokio::spawn(async move {
        tokio::time::sleep(Duration::from_millis(100)).await;
        origin
            .publish(&Path::new("room/late").unwrap(), publish)
            .unwrap();
    });
    let reply = get(addr, "/fetch/room/late/video?group=0").await;
    assert_eq!((reply.status, reply.text().as_str()), (200, "late"));
}

#[tokio::test]
async fn bad_groups_formats_and_paths_are_400() {
    let fixture = fixture();
    let addr = start(state(&fixture.origin, None)).await;
    for target in [
        "/fetch/room/a/video?group=",
        "/fetch/room/a/video?group=0&frame=x",
        "/fetch/room/a/video?group=-1",
        "/fetch/room/a/video?group=abc",
        "/fetch/room/a/video?group=18446744073709551616",
        "/fetch/room/a/video?group=0&format=json",
        "/fetch/video?group=0",
        "/fetch/room/a/?group=0",
    ] {
        let reply = get(addr, target).await;
        assert_eq!(reply.status, 400, "{target}: {}", reply.text());
        assert!(!reply.body.is_empty());
    }
}

#[tokio::test]
async fn a_fetch_nobody_answers_times_out_with_504() {
    let fixture = fixture();
    let addr = start(state(&fixture.origin, None)).await;
    let reply = get(addr, "/fetch/room/a/slow?group=7").await;
    assert_eq!(reply.status, 504, "{}", reply.text());
    assert!(reply.text().contains("timed out"), "{}", reply.text());
}

#[tokio::test]
async fn other_upstream_errors_are_502() {
    let fixture = fixture();
    let addr = start(state(&fixture.origin, None)).await;
    let reply = get(addr, "/fetch/room/a/broken?group=3").await;
    assert_eq!(reply.status, 502, "{}", reply.text());
    assert!(reply.text().contains("upstream error"), "{}", reply.text());
}

#[tokio::test]
async fn metrics_are_served_in_the_openmetrics_text_format() {
    let origin = OriginProducer::new();
    let state = state(&origin, None);
    let metrics = state.metrics.clone();
    metrics.subscriptions.set(2);
    let addr = start(state).await;
    get(addr, "/certificate.sha256").await;
    let reply = get(addr, "/metrics").await;
    assert_eq!(reply.status, 200);
    assert_eq!(
        reply.header("content-type"),
        Some("application/openmetrics-text; version=1.0.0; charset=utf-8")
    );
    assert!(reply.text().contains("\nmoql_relay_subscriptions 2\n"));
    // The first request is counted by the time the second is rendered.
    assert!(
        reply
            .text()
            .contains("\nmoql_relay_http_requests_total{route=\"certificate\",status=\"404\"} 1\n")
    );
}

#[tokio::test]
async fn with_auth_fetch_and_announced_follow_the_grant() {
    let fixture = fixture();
    let secret = generate_hs256_secret();
    let auth = Auth::new(&AuthConfig {
        keys: vec![KeyConfig::hs256(secret.clone())],
        public: Some("lobby".into()),
        ..AuthConfig::default()
    })
    .unwrap();
    let mut state = state(&fixture.origin, None);
    state.auth = Some(auth);
    let addr = start(state).await;
    let exp = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs()
        + 600;
    let token = |subscribe: &[&str]| {
        let claims = Claims {
            root: "room".into(),
            subscribe: subscribe.iter().map(|s| s.to_string()).collect(),
            publish: vec!["b".into()],
            exp,
            ..Claims::default()
        };
        sign(
            &claims,
            &SigningKey::Hs256 {
                secret: secret.clone(),
            },
            None,
        )
        .unwrap()
    };
    let reader = token(&["a"]);

    let ok = get(addr, &format!("/fetch/room/a/video?group=0&jwt={reader}")).await;
    assert_eq!((ok.status, ok.body.as_slice()), (200, &b"hello world"[..]));
    assert_eq!(get(addr, "/fetch/room/a/video?group=0").await.status, 401);
    assert_eq!(
        get(addr, "/fetch/room/a/video?group=0&jwt=not.a.token")
            .await
            .status,
        401
    );
    let forbidden = get(addr, &format!("/fetch/lobby/x?group=0&jwt={reader}")).await;
    assert_eq!(forbidden.status, 403, "outside the token's root");
    let publish_only = get(addr, &format!("/fetch/room/b/x?group=0&jwt={}", token(&[]))).await;
    assert_eq!(publish_only.status, 403, "{}", publish_only.text());

    let listed = get(addr, &format!("/announced/room?jwt={reader}")).await;
    assert_eq!(listed.text(), "room/a\n", "room/b is not subscribable");
    assert_eq!(get(addr, "/announced/room").await.status, 401);
    let public = get(addr, "/announced/lobby").await;
    assert_eq!((public.status, public.text()), (200, "lobby\n".to_string()));
    // The public prefix admits the request; nobody answers for lobby's tracks, so it waits.
    assert_eq!(get(addr, "/fetch/lobby/x?group=0").await.status, 504);
}

#[tokio::test]
async fn serve_returns_once_shutdown_resolves() {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let router = router(state(&OriginProducer::new(), None));
    let server = tokio::spawn(serve(listener, router, async move {
        let _ = stopped.await;
    }));
    stop.send(()).unwrap();
    let result = tokio::time::timeout(Duration::from_secs(5), server)
        .await
        .unwrap()
        .unwrap();
    assert!(result.is_ok());
}

/// A fresh directory under the system temp dir holding `files` (relative path, contents).
fn web_dir(files: &[(&str, &str)]) -> std::path::PathBuf {
    static NEXT: std::sync::atomic::AtomicU32 = std::sync::atomic::AtomicU32::new(0);
    let n = NEXT.fetch_add(1, Ordering::Relaxed);
    let dir = std::env::temp_dir().join(format!("moql-web-root-{}-{n}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    for (path, contents) in files {
        let path = dir.join(path);
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(path, contents).unwrap();
    }
    dir
}

#[tokio::test]
async fn a_web_root_serves_the_page_and_its_assets_and_nothing_outside_it() {
    let dir = web_dir(&[
        ("site/index.html", "<!doctype html>page"),
        ("site/assets/app.js", "console.log(1)"),
        ("site/.secret", "hidden"),
        ("outside.txt", "not served"),
    ]);
    let origin = OriginProducer::new();
    let store =
        moql_native::CertStore::new(&moql_native::Certificate::generate(&[]).unwrap()).unwrap();
    let mut with_root = state(&origin, Some(&store));
    with_root.web_root = Some(dir.join("site"));
    let addr = start(with_root).await;

    let page = get(addr, "/").await;
    assert_eq!(page.status, 200);
    assert_eq!(page.text(), "<!doctype html>page");
    assert_eq!(
        page.header("content-type"),
        Some("text/html; charset=utf-8")
    );
    let script = get(addr, "/assets/app.js").await;
    assert_eq!(
        (script.status, script.text().as_str()),
        (200, "console.log(1)")
    );
    assert_eq!(
        script.header("content-type"),
        Some("text/javascript; charset=utf-8")
    );
    assert_eq!(
        get(addr, "/assets/").await.status,
        404,
        "no index.html there"
    );
    // The endpoints still win over files.
    assert_eq!(
        get(addr, "/certificate.sha256").await.text(),
        store.fingerprint()
    );
    for target in [
        "/../outside.txt",
        "/assets/../../outside.txt",
        "/.secret",
        "/missing.js",
        "/%2e%2e/outside.txt",
    ] {
        let reply = get(addr, target).await;
        assert_eq!(reply.status, 404, "{target}: {reply:?}");
        assert!(!reply.text().contains("not served"), "{target}");
    }

    // Without a web root the page is not there.
    let addr = start(state(&origin, None)).await;
    let reply = get(addr, "/").await;
    assert_eq!(reply.status, 404);
    assert!(reply.text().contains("no such endpoint"), "{reply:?}");
    let _ = std::fs::remove_dir_all(dir);
}
