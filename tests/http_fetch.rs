//! `GET|HEAD /fetch` against a real relay on loopback, through a real HTTP client (hyper-util's
//! pooled legacy client), with the groups published by a real moq-lite client session: a live
//! group streamed before it ends, `?frame=K`, latest, a broadcast announced after the request,
//! the deadline, and the caching headers (`ETag`, `304`, `Cache-Control`, `HEAD`, `416`).

mod support;

use std::time::{Duration, Instant};

use bytes::Bytes;
use http_body_util::{BodyExt as _, Empty};
use hyper::body::Incoming;
use hyper::{Method, Request, Response, StatusCode};
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::TokioExecutor;
use support::relay::{TestRelay, produce, publish};
use support::within;

type HttpClient = Client<HttpConnector, Empty<Bytes>>;

fn http() -> HttpClient {
    Client::builder(TokioExecutor::new()).build_http()
}

/// Sends `method target` with `headers` to the relay's HTTP port; the response head.
async fn send(
    client: &HttpClient,
    relay: &TestRelay,
    method: Method,
    target: &str,
    headers: &[(&str, &str)],
) -> Response<Incoming> {
    let mut request = Request::builder()
        .method(method)
        .uri(format!("http://{}{target}", relay.addr));
    for (name, value) in headers {
        request = request.header(*name, *value);
    }
    let request = request.body(Empty::new()).unwrap();
    within("the response head", client.request(request))
        .await
        .unwrap()
}

/// `GET target`: the response head and its whole body.
async fn get(client: &HttpClient, relay: &TestRelay, target: &str) -> (Response<()>, Vec<u8>) {
    let response = send(client, relay, Method::GET, target, &[]).await;
    collect(response).await
}

async fn collect(response: Response<Incoming>) -> (Response<()>, Vec<u8>) {
    let (head, body) = response.into_parts();
    let body = within("the body", body.collect()).await.unwrap().to_bytes();
    (Response::from_parts(head, ()), body.to_vec())
}

fn header<'a, T>(response: &'a Response<T>, name: &str) -> Option<&'a str> {
    response.headers().get(name).map(|v| v.to_str().unwrap())
}

/// A relay whose `/fetch` deadline is `seconds`.
async fn relay(seconds: f64) -> TestRelay {
    TestRelay::start(|config| config.limits.http_fetch_timeout_seconds = seconds).await
}

#[tokio::test]
async fn a_live_group_is_streamed_before_it_ends_and_ends_with_it() {
    let relay = relay(5.0).await;
    let publisher = relay.client("moql", "/").await;
    let (_broadcast, track) = publish(&publisher, "live/cam");
    let group = track.create_group(0).unwrap();
    group.write(0, "first").unwrap();

    // By sequence (an upstream FETCH) and as the latest (a subscription).
    let client = http();
    let mut bodies = Vec::new();
    for target in ["/fetch/live/cam/clock", "/fetch/live/cam/clock?group=0"] {
        let response = send(&client, &relay, Method::GET, target, &[]).await;
        assert_eq!(response.status(), StatusCode::OK, "{target}");
        assert_eq!(header(&response, "cache-control"), Some("no-store"));
        assert_eq!(
            header(&response, "etag"),
            None,
            "a live group has no validator"
        );
        assert_eq!(header(&response, "content-length"), None);
        assert_eq!(header(&response, "x-moq-group"), Some("0"));
        let mut body = response.into_body();
        let first = within("the first frame", body.frame())
            .await
            .unwrap()
            .unwrap();
        assert_eq!(first.into_data().unwrap(), "first", "{target}");
        bodies.push(body);
    }
    group.write(1, "second").unwrap();
    group.finish().unwrap();
    for body in bodies {
        let rest = within("the rest", body.collect()).await.unwrap().to_bytes();
        assert_eq!(rest, "second", "both bodies end with the group");
    }
    relay.shutdown().await;
}

#[tokio::test]
async fn frame_k_serves_the_group_from_frame_k_and_416_past_the_end() {
    let relay = relay(5.0).await;
    let publisher = relay.client("moql", "/").await;
    let (_broadcast, track) = publish(&publisher, "room/cam");
    produce(&track, 0, 3);
    let client = http();

    let (response, body) = get(&client, &relay, "/fetch/room/cam/clock?group=0&frame=1").await;
    assert_eq!(
        response.status(),
        StatusCode::OK,
        "{}",
        String::from_utf8_lossy(&body)
    );
    assert_eq!(body, b"0:10:2");
    let (_, framed) = get(
        &client,
        &relay,
        "/fetch/room/cam/clock?group=0&frame=2&format=frames",
    )
    .await;
    assert_eq!(framed, b"\x00\x00\x00\x030:2");
    for past in [3, 99] {
        let target = format!("/fetch/room/cam/clock?group=0&frame={past}");
        let (response, body) = get(&client, &relay, &target).await;
        assert_eq!(response.status(), StatusCode::RANGE_NOT_SATISFIABLE);
        assert!(String::from_utf8_lossy(&body).contains("past the end of group 0"));
        assert_eq!(header(&response, "cache-control"), Some("no-store"));
    }

    // A live group: frame 1 is waited for, then streamed.
    let live = track.create_group(1).unwrap();
    live.write(1000, "a").unwrap();
    let pending = tokio::spawn({
        let client = client.clone();
        let uri = format!("http://{}/fetch/room/cam/clock?group=1&frame=1", relay.addr);
        async move { collect(client.get(uri.parse().unwrap()).await.unwrap()).await }
    });
    tokio::time::sleep(Duration::from_millis(100)).await;
    live.write(1001, "b").unwrap();
    live.finish().unwrap();
    let (response, body) = within("the partial group", pending).await.unwrap();
    assert_eq!(
        (response.status(), body.as_slice()),
        (StatusCode::OK, &b"b"[..])
    );
    relay.shutdown().await;
}

#[tokio::test]
async fn latest_is_the_newest_group_and_names_it_in_content_location() {
    let relay = relay(5.0).await;
    let publisher = relay.client("moql", "/").await;
    let (_broadcast, track) = publish(&publisher, "room/cam");
    // All cached at the publisher before the relay subscribes: a lite-06 subscription with an
    // unlimited Max Age would replay them oldest first.
    for seq in 0..4 {
        produce(&track, seq, 2);
    }
    let client = http();
    for target in [
        "/fetch/room/cam/clock",
        "/fetch/room/cam/clock?group=latest&format=frames",
    ] {
        let (response, body) = get(&client, &relay, target).await;
        assert_eq!(
            response.status(),
            StatusCode::OK,
            "{}",
            String::from_utf8_lossy(&body)
        );
        assert_eq!(header(&response, "x-moq-group"), Some("3"), "{target}");
        assert_eq!(header(&response, "cache-control"), Some("no-cache"));
        assert!(
            header(&response, "etag").is_some(),
            "finished: revalidatable"
        );
        let location = header(&response, "content-location").unwrap();
        assert!(
            location.starts_with("/fetch/room/cam/clock?group=3"),
            "{location}"
        );
        let (concrete, same) = get(&client, &relay, location).await;
        assert_eq!(same, body, "Content-Location serves the same bytes");
        assert_eq!(header(&concrete, "etag"), header(&response, "etag"));
    }
    relay.shutdown().await;
}

#[tokio::test]
async fn a_broadcast_announced_after_the_request_is_served() {
    let relay = relay(5.0).await;
    let client = http();
    let pending = tokio::spawn({
        let client = client.clone();
        let uri = format!("http://{}/fetch/late/cam/clock?group=0", relay.addr);
        async move { collect(client.get(uri.parse().unwrap()).await.unwrap()).await }
    });
    tokio::time::sleep(Duration::from_millis(200)).await;
    let publisher = relay.client("moql", "/").await;
    let (_broadcast, track) = publish(&publisher, "late/cam");
    produce(&track, 0, 2);
    let (response, body) = within("the waiting fetch", pending).await.unwrap();
    assert_eq!(
        response.status(),
        StatusCode::OK,
        "{}",
        String::from_utf8_lossy(&body)
    );
    assert_eq!(body, b"0:00:1");
    relay.shutdown().await;
}

#[tokio::test]
async fn the_deadline_answers_504_naming_what_it_waited_for() {
    let relay = relay(0.3).await;
    let publisher = relay.client("moql", "/").await;
    let (_broadcast, track) = publish(&publisher, "room/cam");
    let client = http();

    let started = Instant::now();
    let (response, body) = get(&client, &relay, "/fetch/never/cam/clock?group=0").await;
    let text = String::from_utf8_lossy(&body);
    assert_eq!(response.status(), StatusCode::GATEWAY_TIMEOUT, "{text}");
    assert!(
        text.contains("waiting for broadcast `never/cam` to be announced"),
        "{text}"
    );
    assert_eq!(header(&response, "cache-control"), Some("no-store"));
    let took = started.elapsed();
    assert!(
        took >= Duration::from_millis(300) && took < Duration::from_secs(3),
        "{took:?}"
    );

    // Frame 5 of a live group that stops at frame 0.
    let group = track.create_group(0).unwrap();
    group.write(0, "x").unwrap();
    let (response, body) = get(&client, &relay, "/fetch/room/cam/clock?group=0&frame=5").await;
    let text = String::from_utf8_lossy(&body);
    assert_eq!(response.status(), StatusCode::GATEWAY_TIMEOUT, "{text}");
    assert!(text.contains("waiting for frame 5 of group 0"), "{text}");
    relay.shutdown().await;
}

#[tokio::test]
async fn a_finished_group_is_immutable_with_an_etag_304_and_head() {
    let relay = relay(5.0).await;
    let publisher = relay.client("moql", "/").await;
    let (_broadcast, track) = publish(&publisher, "room/cam");
    produce(&track, 0, 3);
    let client = http();
    let target = "/fetch/room/cam/clock?group=0";

    let (response, body) = get(&client, &relay, target).await;
    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(body, b"0:00:10:2");
    assert_eq!(
        header(&response, "cache-control"),
        Some("public, max-age=31536000, immutable")
    );
    assert_eq!(header(&response, "content-length"), Some("9"));
    let etag = header(&response, "etag").unwrap().to_string();
    assert_eq!(etag.len(), 34, "128 bits in hex, quoted: {etag}");

    let again = send(
        &client,
        &relay,
        Method::GET,
        target,
        &[("if-none-match", &etag)],
    )
    .await;
    assert_eq!(again.status(), StatusCode::NOT_MODIFIED);
    assert_eq!(header(&again, "etag"), Some(etag.as_str()));
    let (_, empty) = collect(again).await;
    assert!(empty.is_empty());
    let other = send(
        &client,
        &relay,
        Method::GET,
        target,
        &[("if-none-match", "\"other\"")],
    )
    .await;
    assert_eq!(other.status(), StatusCode::OK);
    collect(other).await;

    let head = send(&client, &relay, Method::HEAD, target, &[]).await;
    assert_eq!(head.status(), StatusCode::OK);
    for name in [
        "etag",
        "cache-control",
        "content-length",
        "x-moq-group",
        "content-type",
    ] {
        assert_eq!(header(&head, name), header(&response, name), "{name}");
    }
    let (_, empty) = collect(head).await;
    assert!(empty.is_empty(), "HEAD has no body");
    relay.shutdown().await;
}
